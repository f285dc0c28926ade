/*
 * What a request's head can be refused for before its body is read, and
 * the bounds on the bodies the relay does read (docs/architecture.md,
 * "Limits and caps"). Without these anyone could make the relay buffer
 * 10 MiB per connection with no credentials at all.
 *  - /apps/ (Pusher HTTP API): the app exists, auth_key is its key,
 *    auth_timestamp within the window, auth_signature 64 hex digits and,
 *    for a body, body_md5 32 hex digits. The signature itself covers
 *    body_md5, so it is checked after the body (http_api.c, auth.c).
 *  - /agent/v1/: the host exists, X-Sno-Timestamp within the window,
 *    X-Sno-Signature 64 hex digits (it signs the body: checked after it,
 *    with the replay guard, agent_api.c).
 *  - /api/v1/ (dashboard): the Origin check, and a login for every POST but
 *    /login.
 * (Bodies over 64 KiB; smaller ones are read, then refused as before.)
 * Every body counts against max_body_bytes_in_flight, the bytes held for
 * all requests and for websocket messages over 64 KiB being assembled
 * (relay_bytes_hold): past it 503 and Retry-After, refused, never waited
 * for. A body must arrive within body_timeout_s (408).
 * A refusal here closes the connection: the body is never read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "dash_login.h"
#include "host.h"
#include "http.h"
#include "http_api.h"
#include "log.h"
#include "metrics.h"
#include "sign.h"

/*
 * A body up to this size is read before its request is refused, as any
 * other: the answer then comes on a connection that stays open (keep-alive,
 * pipelining) with the same words. Bigger ones are refused at the head and
 * the connection closed (their bytes would be read as the next request).
 */
#define HEAD_CHECK_MIN (64 * 1024)
/* agent_api.c's AGENT_SKEW_MS: no stricter here than there. */
#define HEAD_AGENT_SKEW_MS 300000

static size_t held;	/* body bytes allocated, every request */

static int
hex_len(const char *s, size_t n)
{
	return s && strlen(s) == n && strspn(s, "0123456789abcdefABCDEF") ==
	    n;
}

/* The Pusher API's head; the messages are auth_http_ok's. */
static const char *
apps_head(struct http_req *q, uint64_t body_len, int *status, char *why,
    size_t whylen)
{
	const char *idp = q->path + 6, *rest;
	const struct auth_param *p = q->params;
	struct app *a;
	int64_t now = (int64_t)time(NULL);

	*status = 401;
	if ((rest = strchr(idp, '/')) == NULL || (a = relay_app_by_id(
	    http_relay(), idp, (size_t)(rest - idp))) == NULL) {
		*status = 404;
		return "Unknown app id";
	}
	if (q->np < 0) {
		*status = 400;
		return "Query string: too many or too long parameters";
	}
	if (auth_http_head_ok(a->conf, p, q->np, now, why, whylen) < 0)
		return why;
	if (!hex_len(auth_param_get(p, q->np, "auth_signature"),
	    SIGN_HEX_LEN))
		return "Invalid signature: auth_signature is not 64 hex digits";
	if (body_len > 0 && !hex_len(auth_param_get(p, q->np, "body_md5"),
	    32))
		return "body_md5 does not match the body";
	return NULL;
}

/* The agent API's head; the messages are agent_api.c's verify(). */
static const char *
agent_head(struct http_req *q)
{
	char id[80], ts[32], sig[80], *end;
	int64_t now = clock_wall_ms();
	long long t;

	http_header_get(q, "x-sno-host:", id, sizeof(id));
	http_header_get(q, "x-sno-timestamp:", ts, sizeof(ts));
	http_header_get(q, "x-sno-signature:", sig, sizeof(sig));
	t = strtoll(ts, &end, 10);
	if (!id[0] || !ts[0] || !sig[0])
		return "missing X-Sno-Host, X-Sno-Timestamp or X-Sno-Signature";
	if (host_find(http_relay(), id) == NULL)
		return AGENT_BAD_SIG;
	if (*end || t < now - HEAD_AGENT_SKEW_MS ||
	    t > now + HEAD_AGENT_SKEW_MS)
		return "timestamp is not within 300 s of the relay's clock";
	/* The replay guard stays with verify(), after the body. */
	return hex_len(sig, SIGN_HEX_LEN) ? NULL : AGENT_BAD_SIG;
}

/* The dashboard API's head; the messages are dash_api.c's. */
static const char *
dash_head(struct http_req *q, int *status)
{
	if (!relay_conf_public_origin_ok(http_relay()->conf, q->origin)) {
		*status = 403;
		return "cross-origin request refused";
	}
	*status = 401;
	if (strcmp(q->path, "/api/v1/login") != 0 && login_of(q) == NULL)
		return "log in first";
	return NULL;
}

static int
refuse(struct http_req *q, int status, const char *why, const char *what)
{
	if (status == 401)
		metrics.auth_failures++;
	log_info("http refused=%s peer=%s path=\"%.200s\" status=%d "
	    "why=\"%s\"", what, q->peer, q->path, status, why);
	http_error(q, status, "%s", why);
	return status;
}

int
http_head_check(struct http_req *q, uint64_t body_len)
{
	const struct relay_conf *c = http_relay()->conf;
	const char *why = NULL;
	char msg[512];
	int status = 0;

	if (body_len <= HEAD_CHECK_MIN)
		goto budget;
	if (strncmp(q->path, "/apps/", 6) == 0)
		why = apps_head(q, body_len, &status, msg, sizeof(msg));
	else if (strncmp(q->path, "/agent/v1/", 10) == 0) {
		status = 401;
		why = agent_head(q);
	} else if (strncmp(q->path, "/api/v1/", 8) == 0)
		why = dash_head(q, &status);
	if (why)
		return refuse(q, status, why, "head");
	if (body_len > q->body.max) {
		snprintf(msg, sizeof(msg), "Request body is over %zu bytes",
		    q->body.max);
		return refuse(q, 413, msg, "too_big");
	}
budget:
	if (held + body_len > (uint64_t)c->max_body_bytes_in_flight) {
		http_header_add(q, "retry-after:", "1");
		return refuse(q, 503, "The relay holds too many request bodies "
		    "at the moment: retry", "bodies_in_flight");
	}
	return 0;
}

int
relay_bytes_hold(size_t *counted, size_t cap)
{
	const struct relay *r = http_relay();

	held += cap - *counted;
	*counted = cap;
	if (r == NULL)	/* no server (unit tests): no budget */
		return 0;
	return held > (size_t)r->conf->max_body_bytes_in_flight ? -1 : 0;
}

int
http_body_add(struct http_req *q, const void *in, size_t len)
{
	const struct relay_conf *c = http_relay()->conf;

	if (clock_mono_ms() > q->body_start_ms + c->body_timeout_s * 1000)
		return refuse(q, 408, "The request body did not arrive in "
		    "time", "body_timeout");
	if (!q->too_big && buf_add(&q->body, in, len) < 0)
		q->too_big = 1;
	if (relay_bytes_hold(&q->body_held, q->body.cap) < 0) {
		http_header_add(q, "retry-after:", "1");
		return refuse(q, 503, "The relay holds too many request bodies "
		    "at the moment: retry", "bodies_in_flight");
	}
	return 0;
}

void
http_body_release(struct http_req *q)
{
	relay_bytes_hold(&q->body_held, 0);
}

size_t
http_bodies_held(void)
{
	return held;
}
