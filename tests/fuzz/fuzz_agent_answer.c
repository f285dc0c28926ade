/*
 * What the agent reads from a relay and from its own config that libcurl
 * does not parse for it (agent/stream.c, agent/uplink.c): the JSON body
 * of a check-in or samples answer, and the relay URL, proxy value and
 * no_proxy list checks. libcurl reads the HTTP itself. Input: up to four
 * texts split at NUL bytes: answer body, URL, proxy, "no_proxy\nhost".
 *
 * Checked: acked_seq is absent (-1) or in range; the error text for a log
 * line has no quote or line break and is valid UTF-8; a URL that parses
 * has a port and a host that fit, and its redacted form holds no '@'.
 */
#include <errno.h>

#include "fuzz.h"
#include "sample.h"
#include "stream.h"
#include "uplink.h"

static void
answer(const char *body, size_t len)
{
	char msg[160];
	long long acked;
	int r;

	r = stream_answer(body, len, 1, &acked);
	fz_check(r == 0 || r == 1, "stream is a boolean");
	fz_check(acked == -1 || (acked >= 0 && acked <= SAMPLE_SEQ_MAX),
	    "acked_seq in range");
	stream_relay_error(body, len, msg, sizeof(msg));
	fz_check(strpbrk(msg, "\"\r\n") == NULL, "log text without quotes");
}

static void
url(const char *u)
{
	struct uplink_target t;
	char red[512];

	if (uplink_parse_url(u, &t) == 0) {
		fz_check(t.port[0] != '\0', "a parsed URL has a port");
		fz_check(strlen(t.host) < sizeof(t.host), "host fits");
	}
	uplink_redact(u, red, sizeof(red));
	fz_check(strlen(red) < sizeof(red), "redacted URL fits");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_parts f;
	char *nl;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	answer(f.p[0], f.len[0]);
	url(f.p[1]);
	if (uplink_proxy_ok(f.p[2]) == 0)
		url(f.p[2]);
	if ((nl = strchr(f.p[3], '\n')) != NULL) {
		*nl = '\0';
		(void)uplink_noproxy_match(f.p[3], nl + 1);
	}
	fz_free(&f);
	return 0;
}
