/*
 * A relay for the fuzz targets of its protocol core (fuzz_pusher,
 * fuzz_http_api, fuzz_host_samples): the real relay_conf, relay_init and
 * connections opened with pusher_open. Nothing stands in for the glue: the
 * modules record writes and closes in relay.pending and c->close_code, and
 * fz_drain takes what a target has read off the list. Each input gets a
 * fresh relay, so no state grows across inputs and LeakSanitizer sees
 * what one input leaked.
 */
#ifndef SNO_RELAY_FUZZ_H
#define SNO_RELAY_FUZZ_H

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

#endif
