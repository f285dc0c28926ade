/*
 * What the agent reads from a relay (agent/uplink.c, agent/session.c): an
 * HTTP/1.x answer, parsed whole and from prefixes as it arrives, and its
 * JSON body as the check-in and samples code reads it. Input: the bytes
 * the relay sent.
 *
 * Checked: a prefix that is refused stays refused; a prefix that is
 * complete gives the same status and body as the whole; the body lies in
 * the bytes received; the error text for a log line has no quote or
 * line break.
 */
#include <errno.h>

#include "fuzz.h"
#include "sample.h"
#include "session.h"
#include "uplink.h"

struct parsed {
	int r;
	struct uplink_resp resp;
	char *copy;	/* decoded in place */
};

static void
parse(const uint8_t *data, size_t n, int eof, struct parsed *p)
{
	p->copy = malloc(n + 1);
	if (p->copy == NULL)
		abort();
	if (n)
		memcpy(p->copy, data, n);
	p->copy[n] = '\0';
	p->r = uplink_parse(p->copy, n, eof, &p->resp);
	fz_check(p->r == 1 || p->r == 0 || p->r == -EPROTO, "1, 0 or -EPROTO");
	if (p->r == 1)
		fz_check(p->resp.body_off <= n &&
		    p->resp.body_len <= n - p->resp.body_off, "body inside");
}

static void
answer(const char *body, size_t len)
{
	char *z = malloc(len + 1), msg[160];
	long long acked;

	if (z == NULL)
		abort();
	memcpy(z, body, len);
	z[len] = '\0';
	(void)session_answer(z, len, 1, &acked);
	fz_check(acked == -1 || (acked >= 0 && acked <= SAMPLE_SEQ_MAX),
	    "acked_seq in range");
	session_relay_error(z, len, msg, sizeof(msg));
	fz_check(strpbrk(msg, "\"\r\n") == NULL, "log text without quotes");
	free(z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parsed whole, part;
	size_t cut;

	parse(data, size, 0, &whole);
	/* Prefixes at a few points picked by the input's own bytes. */
	for (int k = 0; k < 4 && size > 1; k++) {
		cut = (size_t)data[(size_t)k * 7919 % size] * 131u % size;
		parse(data, cut, 0, &part);
		if (part.r == -EPROTO)
			fz_check(whole.r == -EPROTO, "refused prefix, accepted whole");
		if (part.r == 1) {
			fz_check(whole.r == 1 &&
			    whole.resp.status == part.resp.status &&
			    whole.resp.body_off == part.resp.body_off &&
			    whole.resp.body_len == part.resp.body_len &&
			    memcmp(whole.copy + whole.resp.body_off,
			    part.copy + part.resp.body_off,
			    part.resp.body_len) == 0, "prefix and whole agree");
		}
		free(part.copy);
	}
	if (whole.r == 1)
		answer(whole.copy + whole.resp.body_off, whole.resp.body_len);
	free(whole.copy);
	/* At EOF an answer without a length ends where the bytes do. */
	parse(data, size, 1, &whole);
	if (whole.r == 1)
		answer(whole.copy + whole.resp.body_off, whole.resp.body_len);
	free(whole.copy);
	return 0;
}
