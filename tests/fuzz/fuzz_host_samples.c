/*
 * The agent API's samples body (relay/host.c host_samples, common/sample.c):
 * POST /agent/v1/samples for host "demo-1" after agent_api.c verified the
 * signature, with a dashboard subscribed to the host's channel.
 *
 * Input: the body. Checked: 200, 400, 403 (another host's sample) or 413
 * with a JSON object; frames
 * published are JSON in UTF-8; and, as issue 9 defect 7 asks, whatever the
 * body was, the host still accepts the next sample in sequence.
 */
#include <time.h>

#include "host.h"
#include "relay_fuzz.h"
#include "sample.h"

static void
subscribe(struct conn *c, const char *ch)
{
	char msg[512], auth[SIGN_HEX_LEN + 1];
	const char *parts[3] = {c->socket_id, ":", ch};
	size_t lens[3] = {strlen(parts[0]), 1, strlen(ch)};

	sign_hmac_sha256_hex_parts(FZ_APP_SECRET, strlen(FZ_APP_SECRET), parts,
	    lens, 3, auth);
	snprintf(msg, sizeof(msg), "{\"event\":\"pusher:subscribe\",\"data\":"
	    "{\"channel\":\"%s\",\"auth\":\"%s:%s\"}}", ch, FZ_APP_KEY, auth);
	pusher_message(c, msg, strlen(msg));
}

static int
post(struct host *h, const char *body, size_t len)
{
	struct buf out;
	cJSON *j;
	int st;

	buf_init(&out, (size_t)1 << 30);
	st = host_samples(h, body, len, &out);
	fz_check(st == 200 || st == 400 || st == 403 || st == 413,
	    "documented status");
	j = cJSON_ParseWithLength(out.data ? out.data : "", out.len);
	fz_check(cJSON_IsObject(j), "the answer is a JSON object");
	cJSON_Delete(j);
	buf_free(&out);
	return st;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_conf *conf = fz_relay_conf();
	static struct conn c;
	struct relay r;
	struct host *h;
	char next[512];
	int st;

	if (conf == NULL || relay_init(&r, conf) < 0 ||
	    (h = host_find(&r, FZ_HOST_ID)) == NULL)
		abort();
	memset(&c, 0, sizeof(c));
	if (pusher_open(&r, &c, FZ_APP_KEY, strlen(FZ_APP_KEY)) < 0)
		abort();
	subscribe(&c, h->channel);
	fz_drain(&c, fz_check_frame);
	post(h, (const char *)data, size);
	fz_drain(&c, fz_check_frame);
	if (h->last_seq < SAMPLE_SEQ_MAX) {
		snprintf(next, sizeof(next), "[{\"v\":1,\"host\":\"%s\","
		    "\"seq\":%lld,\"ts_ms\":%lld,\"dt_ms\":1000,"
		    "\"cpu\":{\"n\":1},"
		    "\"mem\":{\"total\":1,\"used\":1},\"tasks\":{\"total\":1},"
		    "\"procs\":[]}]", FZ_HOST_ID, h->last_seq + 1,
		    (long long)time(NULL) * 1000);
		st = post(h, next, strlen(next));
		if (st != 200)
			fprintf(stderr, "next sample refused: %s\n", next);
		fz_check(st == 200, "the host takes the next sample");
		fz_drain(&c, fz_check_frame);
	}
	relay_conn_close(&r, &c);
	relay_free(&r);
	return 0;
}
