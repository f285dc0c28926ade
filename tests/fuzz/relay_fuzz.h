/*
 * A relay for the fuzz targets of its protocol core (fuzz_pusher,
 * fuzz_http_api, fuzz_host_samples): the real relay_conf, relay_init and
 * connections opened with pusher_open. Nothing stands in for the glue: the
 * modules record writes and closes in relay.pending and c->close_code, and
 * fz_drain takes what a target has read off the list. Each input gets a
 * fresh relay, so no state grows across inputs and LeakSanitizer sees
 * what one input leaked. fz_sign signs a Pusher HTTP API request as an SDK
 * would (fuzz_http_api, fuzz_http_head).
 */
#ifndef SNO_RELAY_FUZZ_H
#define SNO_RELAY_FUZZ_H

#include <time.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "sendq.h"
#include "fuzz.h"
#include "log.h"
#include "pusher.h"
#include "conn.h"
#include "sign.h"

#define FZ_APP_KEY "fuzzkey"
#define FZ_APP_SECRET "fuzzsecret"
#define FZ_HOST_ID "demo-1"
#define FZ_HOST_KEY \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char fz_relay_ini[] =
    "[relay]\n"
    "listen = 127.0.0.1:0\n"
    "max_message_bytes = 10240\n"
    "send_queue_bytes = 1048576\n"
    "host_app = fuzz\n"
    "history_seconds = 10\n"
    "[app fuzz]\n"
    "id = 1\n"
    "key = " FZ_APP_KEY "\n"
    "secret = " FZ_APP_SECRET "\n"
    "client_events = yes\n"
    "[account a]\n"
    "title = A\n"
    "[host " FZ_HOST_ID "]\n"
    "account = a\n"
    "key = " FZ_HOST_KEY "\n";

/* The configuration, loaded once per process; NULL when it cannot be. */
static inline struct relay_conf *
fz_relay_conf(void)
{
	static int loaded = -2;
	static struct relay_conf conf;
	char err[CONF_ERR_LEN];

	if (loaded == -2) {
		log_set_level("error");
		if (sign_init() < 0)
			loaded = -1;
		else if ((loaded = relay_conf_load_text(&conf, "fuzz",
		    fz_relay_ini, sizeof(fz_relay_ini) - 1, err)) < 0)
			fprintf(stderr, "fuzz relay config: %s\n", err);
	}
	return loaded == 0 ? &conf : NULL;
}

/* Pops and releases every frame queued on c, calling check on each. */
static inline void
fz_drain(struct conn *c, void (*check)(const char *, size_t))
{
	struct msg *m;

	while ((m = sendq_pop(&c->q)) != NULL) {
		if (check)
			check((const char *)msg_data(m), m->len);
		msg_unref(m);
	}
	conn_pending_drop(c);
}

/* Every frame the relay sends is one JSON object in valid UTF-8. */
static inline void
fz_check_frame(const char *s, size_t n)
{
	cJSON *j = cJSON_ParseWithLength(s, n);

	if (j == NULL || !utf8_valid((const unsigned char *)s, n))
		fprintf(stderr, "bad frame (%zu bytes): %.*s\n", n, (int)n, s);
	fz_check(cJSON_IsObject(j), "a frame is a JSON object");
#ifndef FZ_OPEN_DEFECT_4
	fz_check(utf8_valid((const unsigned char *)s, n), "a frame is UTF-8");
#endif
	cJSON_Delete(j);
}

static inline int
fz_param_cmp(const void *x, const void *y)
{
	const struct auth_param *const *a = x, *const *b = y;

	return strcmp((*a)->key, (*b)->key);
}

/* Sets key to value in p (n entries, room for AUTH_MAX_PARAMS). */
static inline int
fz_param_set(struct auth_param *p, int n, const char *key, char *value)
{
	for (int i = 0; i < n; i++)
		if (strcmp(p[i].key, key) == 0) {
			p[i].value = value;
			return n;
		}
	if (n == AUTH_MAX_PARAMS)
		return n;
	p[n].key = (char *)(uintptr_t)key;
	p[n].value = value;
	return n + 1;
}

/*
 * Signs the request the way auth_http_ok checks it: auth_key,
 * auth_timestamp (now), auth_version, body_md5 (a body of len bytes) and
 * auth_signature set in p (static storage, valid until the next call).
 * Returns the new count.
 */
static inline int
fz_sign(const char *method, const char *path, struct auth_param *p, int n,
    const char *body, size_t len)
{
	static char key[] = FZ_APP_KEY, ver[] = "1.0";
	static char ts[32], md5[33], sig[SIGN_HEX_LEN + 1];
	const struct auth_param *sorted[AUTH_MAX_PARAMS];
	struct buf s;
	int ns = 0;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	n = fz_param_set(p, n, "auth_key", key);
	n = fz_param_set(p, n, "auth_timestamp", ts);
	n = fz_param_set(p, n, "auth_version", ver);
	if (len > 0) {
		auth_md5_hex(body, len, md5);
		n = fz_param_set(p, n, "body_md5", md5);
	}
	for (int i = 0; i < n; i++)
		if (strcmp(p[i].key, "auth_signature") != 0)
			sorted[ns++] = &p[i];
	qsort(sorted, (size_t)ns, sizeof(*sorted), fz_param_cmp);
	buf_init(&s, 64 * 1024);
	buf_printf(&s, "%s\n%s\n", method, path);
	for (int i = 0; i < ns; i++)
		buf_printf(&s, "%s%s=%s", i ? "&" : "", sorted[i]->key,
		    sorted[i]->value);
	sign_hmac_sha256_hex(FZ_APP_SECRET, strlen(FZ_APP_SECRET),
	    s.data ? s.data : "", s.len, sig);
	buf_free(&s);
	return fz_param_set(p, n, "auth_signature", sig);
}

#endif
