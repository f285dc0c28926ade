/*
 * The Pusher HTTP API (relay/http_api.c, PUSHER-PROTOCOL.md 2):
 * http_api_handle as httpd.c calls it, with one websocket subscribed to
 * channels "a", "private-b" and "presence-c" to receive what is published.
 *
 * Input: method NUL path NUL query NUL body. When the method starts with
 * '!', the harness drops it and signs the request as an SDK would
 * (auth_key, auth_timestamp now, auth_version, body_md5, auth_signature
 * replaced), so that the fuzzer reaches the body and the routes.
 *
 * Checked: the status is one the API documents, the answer is a JSON
 * object, every frame delivered is a JSON object in UTF-8.
 */
#include <errno.h>

#include "http_api.h"
#include "relay_fuzz.h"

static void
subscribe(struct conn *c, const char *ch, const char *cdata)
{
	char msg[512], auth[SIGN_HEX_LEN + 1];
	const char *parts[5] = {c->socket_id, ":", ch, ":", cdata};
	size_t lens[5];
	int n = cdata ? 5 : (ch[0] == 'a' ? 0 : 3);

	for (int i = 0; i < n; i++)
		lens[i] = strlen(parts[i]);
	sign_hmac_sha256_hex_parts(FZ_APP_SECRET, strlen(FZ_APP_SECRET), parts,
	    lens, n, auth);
	snprintf(msg, sizeof(msg), "{\"event\":\"pusher:subscribe\",\"data\":"
	    "{\"channel\":\"%s\",\"auth\":\"%s:%s\"%s%s%s}}", ch, FZ_APP_KEY,
	    auth, cdata ? ",\"channel_data\":\"" : "",
	    cdata ? "{\\\"user_id\\\":\\\"u1\\\"}" : "", cdata ? "\"" : "");
	pusher_message(c, msg, strlen(msg));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_conf *conf = fz_relay_conf();
	struct auth_param p[AUTH_MAX_PARAMS];
	static struct conn c;
	char query[4096];
	const char *method;
	struct fz_parts f;
	struct relay r;
	struct buf out;
	cJSON *j;
	int n, st;

	if (conf == NULL || relay_init(&r, conf) < 0)
		abort();
	if (fz_split(data, size, 4, &f) < 0)
		abort();
	memset(&c, 0, sizeof(c));
	if (pusher_open(&r, &c, FZ_APP_KEY, strlen(FZ_APP_KEY)) < 0)
		abort();
	subscribe(&c, "a", NULL);
	subscribe(&c, "private-b", NULL);
	subscribe(&c, "presence-c", "{\"user_id\":\"u1\"}");
	fz_drain(&c, fz_check_frame);
	fz_check(c.nsubs == 3, "the harness's subscriptions");
	method = f.p[0][0] == '!' ? f.p[0] + 1 : f.p[0];
	/* lws_http.c keeps at most sizeof(q->query) bytes of the query. */
	snprintf(query, sizeof(query), "%s", f.p[2]);
	n = auth_parse_query(query, p, AUTH_MAX_PARAMS);
	if (n >= 0 && f.p[0][0] == '!')
		n = fz_sign(method, f.p[1], p, n, f.p[3], f.len[3]);
	buf_init(&out, (size_t)1 << 30);
	/* What httpd.c's http_dispatch hands over: /apps/ paths, bodies
	 * within the cap. */
	if (strncmp(f.p[1], "/apps/", 6) == 0 &&
	    f.len[3] <= http_api_max_body(&r)) {
		st = http_api_handle(&r, method, f.p[1], p, n,
		    f.n > 3 ? f.p[3] : NULL, f.len[3], &out);
		fz_check(st == 200 || st == 400 || st == 401 || st == 403 ||
		    st == 404 || st == 405 || st == 413, "documented status");
		j = cJSON_ParseWithLength(out.data ? out.data : "", out.len);
		if (!cJSON_IsObject(j))
			fprintf(stderr, "answer %d: %.*s\n", st, (int)out.len,
			    out.data ? out.data : "");
		fz_check(cJSON_IsObject(j), "the answer is a JSON object");
		cJSON_Delete(j);
		fz_drain(&c, fz_check_frame);
	}
	buf_free(&out);
	relay_conn_close(&r, &c);
	relay_free(&r);
	fz_free(&f);
	return 0;
}
