/*
 * The relay's protocol core without libwebsockets (issue 9): real
 * relay_init, pusher_open and pusher_message on connections that no socket
 * backs, and http_api_handle on signed requests. What a client would see
 * is read off each connection's send queue; the glue's part (relay.pending)
 * is only checked, never drained by a socket.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "host.h"
#include "http_api.h"
#include "log.h"
#include "pusher.h"
#include "sendq.h"
#include "sign.h"

#define KEY "testkey"
#define SECRET "testsecret"

static const char ini[] =
    "[relay]\n"
    "listen = 127.0.0.1:0\n"
    "max_subscriptions_per_connection = 3\n"
    "[app t]\n"
    "id = 7\n"
    "key = " KEY "\n"
    "secret = " SECRET "\n"
    "client_events = yes\n";

static struct relay_conf conf;
static struct relay r;

static int
setup(void **state)
{
	char err[CONF_ERR_LEN];

	(void)state;
	log_set_level("error");
	if (sign_init() < 0 || relay_conf_load_text(&conf, "test", ini,
	    sizeof(ini) - 1, err) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	return relay_init(&r, &conf) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	relay_free(&r);
	relay_conf_free(&conf);
	return 0;
}

/* Every frame queued on c, joined by newlines, into out; the queue and
 * c's place on relay.pending are emptied as the glue would. */
static void
drain(struct conn *c, char *out, size_t cap)
{
	struct msg *m;
	size_t n = 0;

	out[0] = '\0';
	while ((m = sendq_pop(&c->q)) != NULL) {
		if (n + m->len + 2 < cap) {
			memcpy(out + n, msg_data(m), m->len);
			n += m->len;
			out[n++] = '\n';
			out[n] = '\0';
		}
		msg_unref(m);
	}
	conn_pending_drop(c);
}

static void
open_conn(struct conn *c)
{
	char got[4096];

	memset(c, 0, sizeof(*c));
	assert_int_equal(pusher_open(&r, c, KEY, strlen(KEY)), 0);
	assert_int_equal(c->pending, 1); /* the glue is asked to write */
	drain(c, got, sizeof(got));
	assert_non_null(strstr(got, "pusher:connection_established"));
}

static void
sign(const struct conn *c, const char *channel, const char *cdata, char *out,
    size_t cap)
{
	char msg[2048], hex[SIGN_HEX_LEN + 1];

	snprintf(msg, sizeof(msg), "%s:%s%s%s", c->socket_id, channel,
	    cdata ? ":" : "", cdata ? cdata : "");
	sign_hmac_sha256_hex(SECRET, strlen(SECRET), msg, strlen(msg), hex);
	snprintf(out, cap, "%s:%s", KEY, hex);
}

/* Sends pusher:subscribe; auth: 0 none, 1 good, 2 wrong. */
static void
subscribe(struct conn *c, const char *channel, const char *cdata, int auth,
    char *got, size_t cap)
{
	char msg[4096], sig[256] = "", esc[1024] = "", *w = esc;

	if (auth)
		sign(c, channel, cdata, sig, sizeof(sig));
	if (auth == 2)
		sig[strlen(sig) - 1] ^= 1;
	for (const char *p = cdata; p && *p && w < esc + sizeof(esc) - 3;
	    p++) {
		if (*p == '"')
			*w++ = '\\';
		*w++ = *p;
	}
	*w = '\0';
	snprintf(msg, sizeof(msg), "{\"event\":\"pusher:subscribe\",\"data\":"
	    "{\"channel\":\"%s\"%s%s%s%s%s%s}}", channel,
	    auth ? ",\"auth\":\"" : "", sig, auth ? "\"" : "",
	    cdata ? ",\"channel_data\":\"" : "", esc, cdata ? "\"" : "");
	pusher_message(c, msg, strlen(msg));
	drain(c, got, cap);
}

static const struct sub_case {
	const char *channel;
	const char *cdata;
	int auth;
	const char *want;
} sub_cases[] = {
	{"public-a", NULL, 0, "pusher_internal:subscription_succeeded"},
	{"private-a", NULL, 1, "pusher_internal:subscription_succeeded"},
	{"private-b", NULL, 0, "pusher:subscription_error"},
	{"private-c", NULL, 2, "AuthError"},
	/* channel_data is signed too on a private channel */
	{"private-d", "{\"x\":1}", 1, "pusher_internal:subscription_succeeded"},
	{"presence-a", "{\"user_id\":\"u1\"}", 1,
	    "pusher_internal:subscription_succeeded"},
	{"presence-b", NULL, 1, "pusher:subscription_error"},
	{"presence-c", "{\"user_id\":\"u1\"}", 2, "pusher:subscription_error"},
	{"presence-d", "{\"name\":\"no id\"}", 1, "InvalidChannelData"},
	/* a numeric user_id keeps its digits (not through a double) */
	{"presence-e", "{\"user_id\":9007199254740993}", 1,
	    "9007199254740993"},
	{"presence-f", "{\"user_id\":1.5}", 1, "InvalidChannelData"},
	{"presence-g", "{\"user_id\":1e400}", 1, "InvalidChannelData"},
	{"presence-h", "{\"user_id\":012}", 1, "InvalidChannelData"},
	{"presence-i", "{\"user_id\":-7}", 1, "\\\"-7\\\""},
	{"presence-j", "{\"user_id\":\"u\"} x", 1, "InvalidChannelData"},
	{"bad name", NULL, 0, "InvalidChannel"},
	{"", NULL, 0, "InvalidChannel"},
};

static void
subscribe_table(void **state)
{
	char got[8192];
	struct conn c;

	(void)state;
	for (size_t i = 0; i < sizeof(sub_cases) / sizeof(sub_cases[0]); i++) {
		const struct sub_case *k = &sub_cases[i];

		open_conn(&c);
		subscribe(&c, k->channel, k->cdata, k->auth, got, sizeof(got));
		if (strstr(got, k->want) == NULL)
			fail_msg("case %zu (%s): want %s, got %s", i,
			    k->channel, k->want, got);
		relay_conn_close(&r, &c);
	}
	assert_int_equal(r.nconns, 0);
	assert_int_equal(r.nsubs, 0);
}

static void
subscribe_limits(void **state)
{
	char got[8192], name[CHANNEL_SUBSCRIBE_MAX + 2];
	struct conn c;

	(void)state;
	open_conn(&c);
	/* 164 characters is the most pusher:subscribe takes */
	memset(name, 'n', sizeof(name));
	name[CHANNEL_SUBSCRIBE_MAX + 1] = '\0';
	subscribe(&c, name, NULL, 0, got, sizeof(got));
	assert_null(strstr(got, "subscription_succeeded"));
	name[CHANNEL_SUBSCRIBE_MAX] = '\0';
	subscribe(&c, name, NULL, 0, got, sizeof(got));
	assert_non_null(strstr(got, "subscription_succeeded"));
	/* max_subscriptions_per_connection = 3 */
	subscribe(&c, "public-1", NULL, 0, got, sizeof(got));
	subscribe(&c, "public-2", NULL, 0, got, sizeof(got));
	assert_non_null(strstr(got, "subscription_succeeded"));
	subscribe(&c, "public-3", NULL, 0, got, sizeof(got));
	assert_non_null(strstr(got, "LimitReached"));
	assert_int_equal(c.nsubs, 3);
	relay_conn_close(&r, &c);
}

static void
presence_members(void **state)
{
	char got[8192];
	struct conn a, b;

	(void)state;
	open_conn(&a);
	open_conn(&b);
	subscribe(&a, "presence-room", "{\"user_id\":\"ann\"}", 1, got,
	    sizeof(got));
	assert_non_null(strstr(got, "ann"));
	subscribe(&b, "presence-room", "{\"user_id\":\"bob\"}", 1, got,
	    sizeof(got));
	assert_non_null(strstr(got, "ann")); /* the member list */
	assert_non_null(strstr(got, "bob"));
	drain(&a, got, sizeof(got));
	assert_non_null(strstr(got, "pusher_internal:member_added"));
	assert_non_null(strstr(got, "bob"));
	relay_conn_close(&r, &b);
	drain(&a, got, sizeof(got));
	assert_non_null(strstr(got, "pusher_internal:member_removed"));
	assert_non_null(strstr(got, "bob"));
	relay_conn_close(&r, &a);
}

static const struct ce_case {
	const char *channel;	/* subscribed first unless sub is 0 */
	int sub;
	int delivered;
} ce_cases[] = {
	{"private-ce", 1, 1},
	{"presence-ce", 1, 1},
	{"public-ce", 1, 0},	/* only private and presence channels */
	{"private-other", 0, 0},	/* only where subscribed */
};

static void
client_events(void **state)
{
	char got[8192], msg[512];
	struct conn a, b;

	(void)state;
	for (size_t i = 0; i < sizeof(ce_cases) / sizeof(ce_cases[0]); i++) {
		const struct ce_case *k = &ce_cases[i];
		const char *cd = strncmp(k->channel, "presence-", 9) == 0
		    ? "{\"user_id\":\"x\"}" : NULL;

		open_conn(&a);
		open_conn(&b);
		subscribe(&b, k->channel, cd, strncmp(k->channel, "public", 6)
		    != 0, got, sizeof(got));
		if (k->sub)
			subscribe(&a, k->channel, cd, strncmp(k->channel,
			    "public", 6) != 0, got, sizeof(got));
		snprintf(msg, sizeof(msg), "{\"event\":\"client-hi\","
		    "\"channel\":\"%s\",\"data\":{\"n\":1}}", k->channel);
		pusher_message(&a, msg, strlen(msg));
		drain(&a, got, sizeof(got));
		if (k->delivered != (strstr(got, "pusher:error") == NULL))
			fail_msg("case %zu (%s): sender got %s", i, k->channel,
			    got);
		drain(&b, got, sizeof(got));
		if (k->delivered != (strstr(got, "client-hi") != NULL))
			fail_msg("case %zu (%s): other got %s", i, k->channel,
			    got);
		relay_conn_close(&r, &a);
		relay_conn_close(&r, &b);
	}
}

/* One websocket message -> what the client gets back. */
static const struct msg_case {
	const char *text;
	const char *want;
} msg_cases[] = {
	{"{\"event\":\"pusher:ping\",\"data\":{}}", "pusher:pong"},
	{" {\"event\":\"pusher:ping\",\"data\":{}}\r\n\t ", "pusher:pong"},
	{"{\"event\":\"pusher:ping\",\"data\":{}} garbage",
	    "bytes after the JSON value"},
	{"{\"event\":\"pusher:ping\",\"data\":{}}{\"event\":\"pusher:ping\"}",
	    "bytes after the JSON value"},
	{"\x01{\"event\":\"pusher:ping\",\"data\":{}}", "control character"},
	{"{\"event\":\"pusher:ping\",\x0b\"data\":{}}", "control character"},
	{"{\"event\":\"pusher:subscribe\",\"data\":"
	    "\"{\\\"channel\\\":\\\"public-s\\\"}\"}",
	    "subscription_succeeded"},
	{"{\"event\":\"pusher:subscribe\",\"data\":"
	    "\"{\\\"channel\\\":\\\"public-s\\\"} x\"}",
	    "bytes after the JSON value"},
	{"", "no JSON value"},
	{"{\"event\":", "not valid JSON"},
};

static void
message_table(void **state)
{
	char got[8192];
	struct conn c;

	(void)state;
	for (size_t i = 0; i < sizeof(msg_cases) / sizeof(msg_cases[0]); i++) {
		const struct msg_case *k = &msg_cases[i];

		open_conn(&c);
		pusher_message(&c, k->text, strlen(k->text));
		drain(&c, got, sizeof(got));
		if (strstr(got, k->want) == NULL)
			fail_msg("case %zu (%s): want %s, got %s", i, k->text,
			    k->want, got);
		relay_conn_close(&r, &c);
	}
	assert_int_equal(r.nconns, 0);
}

/* HTTP API: path, query, signature, body -> status. */
static const struct api_case {
	const char *method;
	const char *path;
	const char *body;
	int sign;		/* 0 unsigned, 1 good, 2 wrong */
	int status;
} api_cases[] = {
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}", 1, 200},
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}", 2, 401},
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}", 0, 401},
	{"POST", "/apps/8/events", "{}", 1, 404},
	{"POST", "/apps/7/events", "[1]", 1, 400},
	{"POST", "/apps/7/events", "{\"a\":1,\"a\":2}", 1, 400},
	/* one JSON object, only whitespace after it */
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}\r\n", 1,
	    200},
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}xx", 1,
	    400},
	{"POST", "/apps/7/events",
	    "{\"name\":\"e\",\"channel\":\"public-x\",\"data\":\"1\"}{}", 1,
	    400},
	{"GET", "/apps/7/channels", "", 1, 200},
	{"GET", "/apps/7/channels/public-x", "", 1, 200},
	{"GET", "/apps/7/nothing", "", 1, 404},
	{"POST", "/apps/7/users/u1/terminate_connections", "{}", 1, 200},
};

static void
api_table(void **state)
{
	char ts[32], md5[33], tosign[4096], sig[SIGN_HEX_LEN + 1];
	char kv[5][128];
	struct auth_param p[5];
	struct buf out;

	(void)state;
	buf_init(&out, 1 << 20);
	for (size_t i = 0; i < sizeof(api_cases) / sizeof(api_cases[0]); i++) {
		const struct api_case *k = &api_cases[i];
		size_t blen = strlen(k->body);
		int np = 0, st;

		snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
		auth_md5_hex(k->body, blen, md5);
		snprintf(tosign, sizeof(tosign), "%s\n%s\nauth_key=%s&"
		    "auth_timestamp=%s&auth_version=1.0%s%s", k->method,
		    k->path, KEY, ts, blen ? "&body_md5=" : "",
		    blen ? md5 : "");
		sign_hmac_sha256_hex(SECRET, strlen(SECRET), tosign,
		    strlen(tosign), sig);
		if (k->sign == 2)
			sig[0] = sig[0] == '0' ? '1' : '0';
		if (k->sign) {
			snprintf(kv[np++], sizeof(kv[0]), "auth_key=%s", KEY);
			snprintf(kv[np++], sizeof(kv[0]), "auth_timestamp=%s",
			    ts);
			snprintf(kv[np++], sizeof(kv[0]), "auth_version=1.0");
			if (blen)
				snprintf(kv[np++], sizeof(kv[0]),
				    "body_md5=%s", md5);
			snprintf(kv[np++], sizeof(kv[0]), "auth_signature=%s",
			    sig);
		}
		for (int j = 0; j < np; j++)
			auth_param_split(kv[j], &p[j]);
		buf_reset(&out);
		st = http_api_handle(&r, k->method, k->path, p, np, k->body,
		    blen, &out);
		if (st != k->status)
			fail_msg("case %zu (%s %s): want %d, got %d %.*s", i,
			    k->method, k->path, k->status, st, (int)out.len,
			    out.data ? out.data : "");
	}
	buf_free(&out);
}

/* A query value with a control byte is refused before anything reads it
 * (attack finding F8). */
static void
api_query_control_bytes(void **state)
{
	char kv[2][64] = {"auth_key=" KEY, "info=user_count\x01"};
	struct auth_param p[2];
	struct buf out;
	int st;

	(void)state;
	buf_init(&out, 1 << 16);
	auth_param_split(kv[0], &p[0]);
	auth_param_split(kv[1], &p[1]);
	st = http_api_handle(&r, "GET", "/apps/7/channels", p, 2, "", 0,
	    &out);
	if (st != 400 || strstr(out.data, "control character") == NULL)
		fail_msg("want 400, got %d %s", st, out.data ? out.data : "");
	buf_free(&out);
}

/* host_app names the app that signs host channels; metrics_app is its old
 * name and still read. */
static void
host_app_and_its_old_name(void **state)
{
	static const char *const texts[] = {
	    "[relay]\nlisten = 127.0.0.1:0\nhost_app = t\n"
	    "[app t]\nid = 1\nkey = k\nsecret = s\n",
	    "[relay]\nlisten = 127.0.0.1:0\nmetrics_app = t\n"
	    "[app t]\nid = 1\nkey = k\nsecret = s\n",
	};
	static const char bad[] = "[relay]\nlisten = 127.0.0.1:0\n"
	    "host_app = nope\n[app t]\nid = 1\nkey = k\nsecret = s\n";
	char err[CONF_ERR_LEN];
	struct relay_conf c;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		assert_int_equal(relay_conf_load_text(&c, "t", texts[i],
		    strlen(texts[i]), err), 0);
		assert_non_null(c.metrics);
		assert_string_equal(c.metrics->name, "t");
		relay_conf_free(&c);
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_conf_load_text(&c, "t", bad, strlen(bad), err),
	    -1);
	if (strstr(err, "host_app: there is no [app nope]") == NULL)
		fail_msg("error: %s", err);
	relay_conf_free(&c);
}

/* The agent API's replay guard (attack finding F6): each signed request
 * once, in any order; one stamped ahead moves no bar. */
static void
replay_guard_takes_each_request_once(void **state)
{
	static const char s1[] = "00000000000000a1ff";
	static const char s2[] = "00000000000000a2";
	struct host h;
	int64_t now = 1000000;

	(void)state;
	memset(&h, 0, sizeof(h));
	h.replay_floor_ms = now - 60000; /* the relay's start */
	assert_int_equal(host_request_fresh(&h, now + 299000, s1, now -
	    300000), 0);
	assert_int_equal(host_request_fresh(&h, now, s1, now - 300000), 0);
	assert_int_equal(host_request_fresh(&h, now - 1000, s2, now - 300000),
	    0);
	assert_int_equal(host_request_fresh(&h, now, s2, now - 300000), 0);
	assert_int_equal(host_request_fresh(&h, now + 299000, s1, now -
	    300000), -EALREADY);
	assert_int_equal(host_request_fresh(&h, now, s1, now - 300000),
	    -EALREADY);
	assert_int_equal(host_request_fresh(&h, now - 60000, s2, now -
	    300000), -EALREADY); /* signed before the start */
	/* Forgotten once out of the window; the set stays bounded. */
	assert_int_equal(host_request_fresh(&h, now + 400000, s2, now +
	    100000), 0);
	assert_int_equal(h.nseen, 2);
	for (int64_t t = 1; t <= HOST_SEEN_MAX + 10; t++)
		assert_int_equal(host_request_fresh(&h, now + 400000 + t, s1,
		    now + 100000), 0);
	assert_true(h.nseen <= HOST_SEEN_MAX);
	assert_int_equal(host_request_fresh(&h, now + 400000 + 5, s2, now +
	    100000), -EALREADY); /* at or below the evicted: refused */
	free(h.seen);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subscribe_table),
		cmocka_unit_test(subscribe_limits),
		cmocka_unit_test(presence_members),
		cmocka_unit_test(client_events),
		cmocka_unit_test(message_table),
		cmocka_unit_test(api_table),
		cmocka_unit_test(api_query_control_bytes),
		cmocka_unit_test(host_app_and_its_old_name),
		cmocka_unit_test(replay_guard_takes_each_request_once),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
