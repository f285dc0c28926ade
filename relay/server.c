/*
 * libwebsockets glue. One protocol handles every connection: websockets at
 * /app/{key} go to pusher.c, HTTP requests to http_api.c and the ops
 * endpoints. Frames are written only in SERVER_WRITEABLE (lws rule), several
 * per callback while the socket takes them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>
#include <sodium.h>

#include "auth.h"
#include "clock.h"
#include "cluster.h"
#include "host.h"
#include "http.h"
#include "http_api.h"
#include "log.h"
#include "metrics.h"
#include "pusher.h"
#include "reload.h"
#include "server.h"
#include "utf8.h"
#include "webhook.h"

_Static_assert(LWS_PRE <= MSG_PRE, "MSG_PRE must cover LWS_PRE");

#define TICK_US (250 * LWS_US_PER_MS)
#define PONG_WAIT_MS 30000
#define WRITES_PER_CALLBACK 64
#define STOP_MAX_S 2		/* from SIGTERM to exit, at most */
#define DRAIN_MS 1000		/* of that, for closing connections */

struct pss {
	struct conn conn;	/* websockets */
	struct http_req *req;	/* HTTP, while a request is in flight */
	int rx_active;
	int dispatched;		/* req went to its handler */
	int body_done;		/* lws said the body is complete */
	uint64_t body_turn;	/* the loop turn it said so */
	int rx_held;		/* reading paused until req is answered */
	int close_after;	/* answer with connection: close, then close */
	int peer_closed;	/* the client sent its close frame */
};

static struct {
	struct lws_context *ctx;
	struct relay *r;
	TAILQ_HEAD(, http_req) parked;
	uint64_t next_req_id;
	uint64_t turn;		/* event loop turns */
	lws_sorted_usec_list_t tick;
	int64_t last_sweep_ms;
	volatile sig_atomic_t stop;
	volatile sig_atomic_t stop_asked;
	struct ev_loop *loop;	/* epoll via libev: no O(n) poll scan */
	ev_check flush;		/* runs after each loop turn */
	TAILQ_HEAD(, conn) dirty; /* connections with new frames queued */
	void *tls_ctx;		/* the TLS listener's SSL_CTX (reload.c) */
	int listening;		/* every listener is up (GET /readyz) */
} srv;

void *
server_tls_ctx(void)
{
	return srv.tls_ctx;
}

void
conn_want_write(struct conn *c)
{
	if (!c->dirty) {
		c->dirty = 1;
		TAILQ_INSERT_TAIL(&srv.dirty, c, dirty_entry);
	}
}

static void
conn_undirty(struct conn *c)
{
	if (c->dirty) {
		TAILQ_REMOVE(&srv.dirty, c, dirty_entry);
		c->dirty = 0;
	}
}

void
conn_close(struct conn *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	c->close_reason = reason;
	lws_callback_on_writable(c->wsi);
	/* A peer that never reads never makes us writable: cut it anyway. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 3);
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

struct relay *
http_relay(void)
{
	return srv.r;
}

void
http_wake_loop(void)
{
	if (srv.ctx)
		lws_cancel_service(srv.ctx);
}

static void
http_unpark(struct http_req *q)
{
	if (q->parked) {
		TAILQ_REMOVE(&srv.parked, q, park_entry);
		q->parked = 0;
		lws_set_timeout(q->wsi, NO_PENDING_TIMEOUT, 0);
	}
}

static void
http_req_free(struct pss *pss)
{
	if (pss->req == NULL)
		return;
	http_unpark(pss->req);
	buf_free(&pss->req->body);
	buf_free(&pss->req->resp);
	free(pss->req);
	pss->req = NULL;
}

void
http_reply_resp(struct http_req *q, int status, const char *ctype)
{
	struct pss *pss = lws_wsi_user(q->wsi);

	http_unpark(q);
	q->status = status;
	q->ctype = ctype;
	if (pss && pss->rx_held) { /* lws writes nothing while it is held */
		pss->rx_held = 0;
		lws_rx_flow_control(q->wsi, 1);
	}
	lws_callback_on_writable(q->wsi);
}

void
http_reply(struct http_req *q, int status, const char *ctype,
    const char *body)
{
	buf_reset(&q->resp);
	buf_adds(&q->resp, body);
	http_reply_resp(q, status, ctype);
}

void
http_error(struct http_req *q, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_reset(&q->resp);
	buf_adds(&q->resp, "{\"error\":");
	buf_add_json_string(&q->resp, msg);
	buf_adds(&q->resp, "}");
	http_reply_resp(q, status, "application/json");
}

int
http_header_add(struct http_req *q, const char *name, const char *value)
{
	if (q->nhdr == HTTP_MAX_EXTRA_HEADERS)
		return -ENOSPC;
	q->hname[q->nhdr] = name;
	snprintf(q->hvalue[q->nhdr], sizeof(q->hvalue[0]), "%s", value);
	q->nhdr++;
	return 0;
}

int
http_header_get(struct http_req *q, const char *name, char *out, int len)
{
	int n = lws_hdr_custom_copy(q->wsi, out, len, name, (int)strlen(name));

	if (n < 0)
		out[0] = '\0';
	return n;
}

void
http_park(struct http_req *q, int64_t due_ms,
    void (*on_due)(struct http_req *q))
{
	if (!q->parked)
		TAILQ_INSERT_TAIL(&srv.parked, q, park_entry);
	q->parked = 1;
	q->due_ms = due_ms;
	q->on_due = on_due;
	/* lws must not time the idle request out while we hold it. */
	lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK,
	    (int)((due_ms - clock_mono_ms()) / 1000 + 30));
}

struct http_req *
http_parked(uint64_t id)
{
	struct http_req *q;

	TAILQ_FOREACH(q, &srv.parked, park_entry)
		if (q->id == id)
			return q;
	return NULL;
}

void
http_parked_host(struct host *h, void (*fn)(struct http_req *q))
{
	struct http_req *q, *next;

	for (q = TAILQ_FIRST(&srv.parked); q; q = next) {
		next = TAILQ_NEXT(q, park_entry);
		if (q->host == h)
			fn(q);
	}
}

static void
parked_tick(int64_t now)
{
	struct http_req *q, *next;

	for (q = TAILQ_FIRST(&srv.parked); q; q = next) {
		next = TAILQ_NEXT(q, park_entry);
		if (q->due_ms <= now && q->on_due)
			q->on_due(q);
	}
}

int
http_serve_file(struct http_req *q, const char *file, const char *mime,
    const char *cache_control, int gzip)
{
	unsigned char hb[512], *p = hb, *end = hb + sizeof(hb);
	int n;

	if ((gzip && add_header(q->wsi, "content-encoding:", "gzip", &p,
		end)) ||
	    add_header(q->wsi, "vary:", "Accept-Encoding", &p, end) ||
	    add_header(q->wsi, "cache-control:", cache_control, &p, end) ||
	    add_header(q->wsi, "x-content-type-options:", "nosniff", &p,
		end) ||
	    add_header(q->wsi, "referrer-policy:", "same-origin", &p, end))
		return -1;
	q->status = 200;
	n = lws_serve_http_file(q->wsi, file, mime, (const char *)hb,
	    (int)(p - hb));
	return n < 0 || (n > 0 && lws_http_transaction_completed(q->wsi))
	    ? -1 : 0;
}

/*
 * /metrics for whom: with metrics_token set, a request bearing it
 * (compared in constant time); without, peers on loopback only.
 */
static int
metrics_allowed(struct http_req *q)
{
	const char *tok = srv.r->conf->metrics_token;
	char auth[300];
	size_t n;

	if (tok == NULL)
		return strncmp(q->peer, "127.", 4) == 0 ||
		    strcmp(q->peer, "::1") == 0 ||
		    strncmp(q->peer, "::ffff:127.", 11) == 0;
	if (lws_hdr_copy(q->wsi, auth, sizeof(auth),
		WSI_TOKEN_HTTP_AUTHORIZATION) <= 7 ||
	    strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	n = strlen(tok);
	return strlen(auth + 7) == n && sodium_memcmp(auth + 7, tok, n) == 0;
}

static void
http_dispatch(struct http_req *q)
{
	struct relay *r = srv.r;

	metrics.http_requests++;
	if (strcmp(q->method, "OPTIONS") == 0)
		http_reply(q, 204, "text/plain", "");
	else if (q->too_big)
		http_error(q, 413, "Request body is over %zu bytes",
		    q->body.max);
	else if (strncmp(q->path, "/agent/v1/", 10) == 0)
		agent_api_handle(q);
	else if (strncmp(q->path, "/api/v1/", 8) == 0)
		dash_api_handle(q);
	else if (strcmp(q->method, "POST") == 0 && q->origin[0] &&
	    !relay_conf_origin_ok(r->conf, q->origin))
		http_error(q, 403, "Origin not allowed");
	else if (strcmp(q->path, "/healthz") == 0)
		http_reply(q, 200, "application/json", "{\"status\":\"ok\"}");
	else if (strcmp(q->path, "/readyz") == 0) {
		buf_reset(&q->resp);
		http_reply_resp(q, ops_readyz(r, srv.listening, &q->resp),
		    "application/json");
	} else if (strcmp(q->path, "/metrics") == 0 && !metrics_allowed(q)) {
		http_header_add(q, "www-authenticate:", "Bearer realm=\"sno\"");
		http_error(q, 401, "/metrics needs Authorization: Bearer with "
		    "the relay's metrics_token");
	} else if (strcmp(q->path, "/metrics") == 0) {
		buf_reset(&q->resp);
		metrics_render(r, &q->resp);
		http_reply_resp(q, 200, "text/plain; version=0.0.4");
	} else if (strncmp(q->path, "/apps/", 6) == 0) {
		buf_reset(&q->resp);
		http_reply_resp(q, http_api_handle(r, q->method, q->path,
		    q->params, q->np, q->body.data, q->body.len, &q->resp),
		    "application/json");
	} else if (strcmp(q->method, "GET") != 0 || dash_static(q) != 0)
		http_error(q, 404, "Not found");
}

static int
cors_headers(struct http_req *q, unsigned char **p, unsigned char *end)
{
	const char *origin = q->origin[0] ? q->origin : "*";

	if (strncmp(q->path, "/apps/", 6) != 0 &&
	    strcmp(q->path, "/healthz") != 0)
		return 0; /* the dashboard API is same-origin only */
	if (!relay_conf_origin_ok(srv.r->conf, q->origin[0] ? q->origin : NULL))
		return 0;
	return add_header(q->wsi, "access-control-allow-origin:", origin, p,
		   end) ||
	    add_header(q->wsi, "access-control-allow-methods:",
		"GET, POST, OPTIONS", p, end) ||
	    add_header(q->wsi, "access-control-allow-headers:",
		"Content-Type, X-Requested-With, X-Socket-Id", p, end) ||
	    add_header(q->wsi, "vary:", "Origin", p, end);
}

static int
http_write(struct http_req *q, int close)
{
	unsigned char hdr[LWS_PRE + 4096], *start = hdr + LWS_PRE, *p = start;
	unsigned char *end = hdr + sizeof(hdr) - 1, *body;
	struct lws *wsi = q->wsi;
	int n;

	if (lws_add_http_common_headers(wsi, (unsigned)q->status, q->ctype,
		q->resp.len, &p, end) || cors_headers(q, &p, end) ||
	    add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    (close && add_header(wsi, "connection:", "close", &p, end)))
		return -1;
	for (int i = 0; i < q->nhdr; i++)
		if (add_header(wsi, q->hname[i], q->hvalue[i], &p, end))
			return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (q->resp.len) {
		if ((body = malloc(LWS_PRE + q->resp.len)) == NULL)
			return -1;
		memcpy(body + LWS_PRE, q->resp.data, q->resp.len);
		n = lws_write(wsi, body + LWS_PRE, q->resp.len,
		    LWS_WRITE_HTTP_FINAL);
		free(body);
		if (n < (int)q->resp.len)
			return -1;
	}
	return 0;
}

/* Writes pss's answer and ends the transaction; 0, or -1 to close. */
static int
http_answer(struct lws *wsi, struct pss *pss)
{
	int n = http_write(pss->req, pss->close_after);

	http_req_free(pss);
	if (n < 0 || pss->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* lws hands over each query argument already percent-decoded. */
static int
query_params(struct lws *wsi, struct http_req *q)
{
	char *w = q->query;
	int n, len, left = (int)sizeof(q->query);

	for (n = 0;; n++) {
		len = lws_hdr_copy_fragment(wsi, w, left, WSI_TOKEN_HTTP_URI_ARGS,
		    n);
		if (len < 0) /* no such fragment, or one too long */
			return lws_hdr_fragment_length(wsi,
			    WSI_TOKEN_HTTP_URI_ARGS, n) > 0 ? -1 : n;
		if (n == AUTH_MAX_PARAMS)
			return -1;
		auth_param_split(w, &q->params[n]);
		w += len + 1;
		left -= len + 1;
	}
}

static const char *
method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return "POST";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
		return "OPTIONS";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return "GET";
	return NULL;
}

/* Whether an Accept-Encoding value accepts gzip (and not with q=0). */
static int
accepts_gzip(const char *v)
{
	const char *e, *q;
	size_t n;

	for (; *v; v = *e ? e + 1 : e) {
		v += strspn(v, " \t");
		e = v + strcspn(v, ",");
		n = strcspn(v, " \t;,");
		if (n != 4 || strncasecmp(v, "gzip", 4) != 0)
			continue;
		q = memchr(v, '=', (size_t)(e - v));
		if (q == NULL || strtod(q + 1, NULL) > 0)
			return 1;
		return 0;
	}
	return 0;
}

/*
 * How the request says its body is framed: 0 when the relay can read it,
 * else the status to refuse it with (why says what was wrong). One
 * Content-Length of digits only (RFC 9112 6.3: a list or a repeat is how
 * requests are smuggled past a proxy that reads it otherwise); a POST needs
 * one; chunked bodies are not read (lws 4.1 cannot), so they get 411.
 */
static int
body_framing(struct lws *wsi, const char *method, const char **why)
{
	char cl[32];
	int n;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		*why = "Transfer-Encoding is not supported: send the body "
		    "with Content-Length";
		return 411;
	}
	if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
		1) > 0) {
		*why = "Content-Length is given more than once";
		return 400;
	}
	n = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (n <= 0) {
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) >
		    0 || n < 0) {
			*why = "Content-Length is not a number";
			return 400;
		}
		*why = "a POST needs Content-Length";
		return strcmp(method, "POST") == 0 ? 411 : 0;
	}
	if (n > 18 || strspn(cl, "0123456789") != (size_t)n) {
		*why = "Content-Length is not a number";
		return 400;
	}
	return 0;
}

static int
http_begin(struct lws *wsi, struct pss *pss, const char *path)
{
	char enc[256];
	const char *method = method_of(wsi), *why;
	struct http_req *q;
	char ip[64];
	int status;

	http_req_free(pss);
	pss->dispatched = pss->body_done = pss->close_after = 0;
	if (method == NULL) {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
		    NULL);
		return -1;
	}
	if ((q = pss->req = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->wsi = wsi;
	q->id = ++srv.next_req_id;
	snprintf(q->method, sizeof(q->method), "%s", method);
	buf_init(&q->body, strncmp(path, "/apps/", 6) == 0
	    ? http_api_max_body(srv.r) : 1024 * 1024 + 65536);
	buf_init(&q->resp, (size_t)1 << 30);
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->np = query_params(wsi, q);
	if (lws_hdr_copy(wsi, q->origin, sizeof(q->origin), WSI_TOKEN_ORIGIN) <
	    0)
		q->origin[0] = '\0';
	q->gzip_ok = lws_hdr_copy(wsi, enc, sizeof(enc),
	    WSI_TOKEN_HTTP_ACCEPT_ENCODING) > 0 && accepts_gzip(enc);
	if (lws_hdr_copy(wsi, q->host_hdr, sizeof(q->host_hdr),
		WSI_TOKEN_HOST) < 0)
		q->host_hdr[0] = '\0';
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	snprintf(q->peer, sizeof(q->peer), "%s", ip);
	q->tls = lws_is_ssl(wsi);
	if ((status = body_framing(wsi, q->method, &why)) != 0) {
		/* Answered now and closed: the body's bytes must never be
		 * read as the next request. */
		log_info("http refused=framing peer=%s path=\"%s\" why=\"%s\"",
		    q->peer, q->path, why);
		pss->close_after = 1;
		http_error(q, status, "%s", why);
		http_answer(wsi, pss);
		return -1;
	}
	if (strcmp(q->method, "POST") != 0)
		http_dispatch(q);
	return 0;
}

static int
ws_established(struct lws *wsi, struct pss *pss)
{
	struct conn *c = &pss->conn;
	char uri[512], origin[256];
	const char *key;
	size_t klen;

	memset(c, 0, sizeof(*c));
	pss->peer_closed = 0;
	pss->rx_active = 0;
	c->wsi = wsi;
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
		uri[0] = '\0';
	key = strncmp(uri, "/app/", 5) == 0 ? uri + 5 : "";
	klen = strcspn(key, "/?");
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
	    !relay_conf_origin_ok(srv.r->conf, origin)) {
		/* The error is the handshake: pusher-js never sees
		 * "connected". */
		if (relay_conn_open(srv.r, c, NULL) < 0)
			return -1;
		relay_conn_error(c, 4009, "Origin %s is not allowed", origin);
		c->close_drain = 1;
		conn_close(c, 4009, "origin not allowed");
		return 0;
	}
	return pusher_open(srv.r, c, key, klen) == -ENOMEM ? -1 : 0;
}

/*
 * The client's close frame (RFC 6455 5.5.1, 7.4): an empty payload or a
 * code that may be sent, with a UTF-8 reason, is echoed (lws does it);
 * a 1-byte payload, a code that must never be on the wire (1005, 1006,
 * 1015, unassigned ranges, over 4999) gets 1002, a reason that is not UTF-8
 * 1007. Whatever the client sends after its close is not read.
 */
static int
ws_peer_close(struct lws *wsi, struct pss *pss, const unsigned char *in,
    size_t len)
{
	int code = len >= 2 ? in[0] << 8 | in[1] : 0, bad = 0;

	pss->peer_closed = 1;
	conn_undirty(&pss->conn);
	if (len == 1 || (len >= 2 && !((code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))))
		bad = LWS_CLOSE_STATUS_PROTOCOL_ERR;
	else if (len > 2 && !utf8_valid(in + 2, len - 2))
		bad = LWS_CLOSE_STATUS_INVALID_PAYLOAD;
	if (!bad)
		return 0;
	log_info("ws conn=%s close=bad_close_frame code=%d len=%zu",
	    pss->conn.socket_id, code, len);
	lws_close_reason(wsi, (enum lws_close_status)bad,
	    (unsigned char *)(uintptr_t)"invalid close frame", 19);
	return 1;
}

static void
ws_receive(struct pss *pss, struct lws *wsi, const void *in, size_t len)
{
	struct conn *c = &pss->conn;

	if (pss->peer_closed)
		return; /* RFC 6455 5.5.1: nothing after the close is read */
	c->last_rx_ms = clock_mono_ms();
	c->pinged = 0;
	if (!pss->rx_active) {
		pss->rx_active = 1;
		c->rx_drop = 0;
		c->rx_binary = lws_frame_is_binary(wsi);
		buf_reset(&c->rx);
	}
	if (!c->rx_drop && !c->rx_binary && buf_add(&c->rx, in, len) < 0)
		c->rx_drop = 1;
	/* A frame that says it is far over the limit (up to 2^63) is not
	 * read to its end: 1009 now (RFC 6455 7.4.1). */
	if ((uint64_t)lws_remaining_packet_payload(wsi) + c->rx.len >
	    (uint64_t)srv.r->conf->max_message_bytes * 2 + 65536 &&
	    !c->close_code) {
		log_info("ws conn=%s close=frame_too_big", c->socket_id);
		conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    "frame too big");
		return;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return;
	pss->rx_active = 0;
	if (c->rx_binary)
		pusher_refuse(c, "Binary frames are not supported: send JSON "
		    "text frames");
	else if (c->rx_drop)
		relay_conn_error(c, 0, "Message too large: the limit is %ld "
		    "bytes of data", srv.r->conf->max_message_bytes);
	else
		pusher_message(c, c->rx.data, c->rx.len);
	if (c->rx.cap > 65536) { /* give back what a big message took */
		size_t max = c->rx.max;

		buf_free(&c->rx);
		buf_init(&c->rx, max);
	}
}

/* Appends the RFC 6455 §5.2 header of an unmasked final text frame. */
static size_t
frame_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/*
 * Several frames wait for c: frame them ourselves into one buffer and hand
 * lws a single raw write, so a backlog costs one send() instead of one per
 * frame. Returns the frames written, or -1.
 */
static int
write_batch(struct lws *wsi, struct conn *c)
{
	static unsigned char batch[LWS_PRE + 64 * 1024];
	unsigned char *p = batch + LWS_PRE;
	unsigned char *end = batch + sizeof(batch);
	uint32_t i, n = 0;
	size_t total;

	for (i = 0; i < c->q.len; i++) {
		struct msg *m = c->q.ring[(c->q.head + i) & (c->q.cap - 1)];

		if (m->len > 4096 || (size_t)(end - p) < m->len + 10)
			break;
		p += frame_header(p, m->len);
		memcpy(p, msg_data(m), m->len);
		p += m->len;
		n++;
	}
	if (n < 2)
		return 0; /* one frame (or a big one): the plain path */
	total = (size_t)(p - (batch + LWS_PRE));
	if (lws_write(wsi, batch + LWS_PRE, total, LWS_WRITE_RAW) < (int)total)
		return -1;
	metrics.ws_writes++;
	for (i = 0; i < n; i++) {
		struct msg *m = sendq_pop(&c->q);

		metrics.bytes_sent += m->len;
		msg_unref(m);
	}
	return (int)n;
}

/* Writes what c has queued while the socket takes it; 0 or -1. */
static int
conn_flush(struct lws *wsi, struct conn *c)
{
	struct msg *m;
	int n = 0, b;

	while ((m = sendq_peek(&c->q)) != NULL && n++ < WRITES_PER_CALLBACK) {
		if ((b = write_batch(wsi, c)) < 0)
			return -1;
		if (b == 0) {
			if (lws_write(wsi, msg_data(m), m->len, LWS_WRITE_TEXT) <
			    (int)m->len)
				return -1;
			metrics.ws_writes++;
			metrics.bytes_sent += m->len;
			msg_unref(sendq_pop(&c->q));
		}
		if (lws_partial_buffered(wsi))
			break;
	}
	return 0;
}

static int
ws_writeable(struct lws *wsi, struct conn *c)
{
	if (((struct pss *)lws_wsi_user(wsi))->peer_closed)
		return 0; /* lws answers the close; no data after it */
	if (c->close_code && !(c->close_drain && c->q.len)) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)(uintptr_t)c->close_reason,
		    strlen(c->close_reason));
		return -1;
	}
	if (conn_flush(wsi, c) < 0)
		return -1;
	if (c->q.len || c->close_code)
		lws_callback_on_writable(wsi);
	return 0;
}

/*
 * After every loop turn: each connection that got frames during the turn
 * writes them now, batched, without waiting for a POLLOUT round trip. What
 * the socket does not take waits for SERVER_WRITEABLE.
 */
static void
flush_dirty(struct ev_loop *loop, ev_check *w, int revents)
{
	struct conn *c;

	(void)loop;
	(void)w;
	(void)revents;
	srv.turn++;
	while ((c = TAILQ_FIRST(&srv.dirty)) != NULL) {
		conn_undirty(c);
		if (((struct pss *)lws_wsi_user(c->wsi))->peer_closed)
			continue;
		if (c->close_code || lws_partial_buffered(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			continue;
		}
		if (conn_flush(c->wsi, c) < 0)
			conn_close(c, CLOSE_RECONNECT_LATER, "write failed");
		else if (c->q.len)
			lws_callback_on_writable(c->wsi);
	}
}

/*
 * The body of a POST is complete. The handler runs from the next
 * HTTP_WRITEABLE, not here, because lws 4.1.6 gets a pipelined POST wrong:
 * when its headers come from the bytes lws buffered behind the previous
 * request, lws hands the first Content-Length bytes of the *request line*
 * over as the body and then calls this again and again without returning
 * (a busy loop that never sees a signal). That second call in the same loop
 * turn is how we know: the request is answered 400 and the connection
 * closed, so nothing is ever dispatched with a wrong body. A repeat in a
 * later turn is the next request arriving before this one is answered: it
 * is dispatched now, and while it waits (parked) reading pauses until it is
 * answered, so lws does not spin on it (lws writes nothing while reading is
 * paused: http_reply_resp resumes it).
 */
static int
http_body_done(struct lws *wsi, struct pss *pss)
{
	struct http_req *q = pss->req;

	if (q == NULL)
		return 0;
	if (!pss->body_done) {
		pss->body_done = 1;
		pss->body_turn = srv.turn;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (!pss->dispatched && pss->body_turn == srv.turn) {
		log_info("http refused=pipelined_post peer=%s path=\"%s\"",
		    q->peer, q->path);
		pss->close_after = 1;
		http_error(q, 400, "A POST pipelined behind another request "
		    "cannot be read: send it after the previous answer");
		http_answer(wsi, pss);
		return -1;
	}
	if (!pss->dispatched) { /* a later turn: the body is the real one */
		pss->dispatched = 1;
		http_dispatch(q);
	}
	if (!q->status && !pss->rx_held) {
		pss->rx_held = 1;
		lws_rx_flow_control(wsi, 0);
	}
	return 0;
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		char uri[512];

		/* Websockets only at /app/{key}; the rest is HTTP. */
		return lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <
		    5 || strncmp(uri, "/app/", 5) != 0;
	}
	case LWS_CALLBACK_ESTABLISHED:
		return ws_established(wsi, pss);
	case LWS_CALLBACK_RECEIVE:
		ws_receive(pss, wsi, in, len);
		return 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return ws_peer_close(wsi, pss, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		pss->conn.last_rx_ms = clock_mono_ms();
		pss->conn.pinged = 0;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(wsi, &pss->conn);
	case LWS_CALLBACK_CLOSED:
		conn_undirty(&pss->conn);
		relay_conn_close(srv.r, &pss->conn);
		return 0;
	case LWS_CALLBACK_HTTP:
		return http_begin(wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv.stop && srv.loop)
			ev_break(srv.loop, EVBREAK_ALL);
		dash_api_wakeup();
		reload_poll(srv.r);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		srv.tls_ctx = user; /* the vhost's SSL_CTX, for reloads */
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->req && !pss->req->too_big &&
		    buf_add(&pss->req->body, in, len) < 0)
			pss->req->too_big = 1;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return http_body_done(wsi, pss);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->req)
			return 0;
		if (pss->body_done && !pss->dispatched) {
			pss->dispatched = 1;
			http_dispatch(pss->req);
		}
		if (!pss->req->status || pss->req->parked)
			return 0;
		return http_answer(wsi, pss);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			http_req_free(pss);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/*
 * rx_buffer_size is per connection in lws: 1 KB keeps idle connections
 * small (client messages are assembled in conn.rx anyway). tx_packet_size
 * is set at start to cover the largest frame, so lws sends a frame in one
 * call instead of copying it out in rx-sized pieces.
 */
static struct lws_protocols protocols[] = {
	{"pusher", callback, sizeof(struct pss), 1024, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* Pings idle connections and cuts those that stayed silent
 * (docs/pusher-protocol.md "Ping, pong and inactivity"). */
static void
sweep(int64_t now)
{
	struct conn *c, *next;
	int64_t idle_ms = srv.r->conf->activity_timeout * 1000;

	for (c = TAILQ_FIRST(&srv.r->conns); c; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->close_code)
			continue;
		if (c->pinged && now - c->last_rx_ms > idle_ms + PONG_WAIT_MS) {
			log_info("ws conn=%s close=pong_timeout", c->socket_id);
			conn_close(c, CLOSE_PONG_TIMEOUT, "pong not received");
		} else if (!c->pinged && now - c->last_rx_ms > idle_ms) {
			struct msg *m = relay_frame("pusher:ping", NULL, "{}", 2,
			    0, NULL);

			if (m) {
				relay_conn_send(c, m, 1);
				msg_unref(m);
			}
			c->pinged = 1;
		}
	}
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = clock_mono_ms();

	log_flush_suppressed();
	webhook_tick(now);
	parked_tick(now);
	hosts_tick(srv.r, now);
	dash_api_tick(now);
	reload_poll(srv.r);
	if (now - srv.last_sweep_ms >= 5000) {
		srv.last_sweep_ms = now;
		sweep(now);
	}
	lws_sul_schedule(srv.ctx, 0, sul, tick, TICK_US);
}

static void
lws_logger(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warnx("lws msg=\"%.*s\"", (int)n, line);
	else
		log_debug("lws msg=\"%.*s\"", (int)n, line);
}

static int
vhost(const char *name, const char *addr, int tls)
{
	struct lws_context_creation_info info;
	struct in_addr a4;
	char host[256];
	int port;

	if (relay_conf_addr(addr, host, sizeof(host), &port) < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	info.vhost_name = name;
	info.port = port;
	/*
	 * lws 4.1 binds an IPv4 literal given as iface on its IPv6 socket as
	 * "any": an IPv4 address gets an IPv4-only socket bound to exactly
	 * it (0.0.0.0: every IPv4 address); "::" is every address; an IPv6
	 * literal is bound as given.
	 */
	if (inet_pton(AF_INET, host, &a4) == 1)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.iface = host[0] && strcmp(host, "0.0.0.0") && strcmp(host, "::")
	    ? host : NULL;
	info.protocols = protocols;
	info.keepalive_timeout = 60;
	info.timeout_secs = 30;
	info.alpn = "http/1.1";
	if (tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = srv.r->conf->tls_cert;
		info.ssl_private_key_filepath = srv.r->conf->tls_key;
	}
	if (lws_create_vhost(srv.ctx, &info) == NULL) {
		log_error("relay listen=%s tls=%d msg=\"cannot listen (in use, "
		    "bad address, or bad certificate)\"", addr, tls);
		return -1;
	}
	return 0;
}

/* The stop took too long (a peer, a worker): go now. Signal-safe. */
static void
on_stop_overdue(int sig)
{
	static const char msg[] = "relay msg=\"stopping took over 2 s: "
	    "exiting now\"\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nowhere to say it */
	}
	_exit(1);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("relay setrlimit=nofile");
	}
}

int
server_start(struct relay *r)
{
	struct lws_context_creation_info info;
	struct relay_conf *c = r->conf;
	static void *foreign[1];
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_overdue;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	srv.r = r;
	TAILQ_INIT(&srv.parked);
	protocols[0].tx_packet_size = (size_t)c->max_message_bytes + 64 * 1024;
	raise_nofile();
	lws_set_log_level(LOG_ENABLED(LOG_LVL_DEBUG) ? LLL_ERR | LLL_WARN |
	    LLL_NOTICE : LLL_ERR, lws_logger);
	if ((srv.loop = ev_loop_new(EVBACKEND_EPOLL)) == NULL &&
	    (srv.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
		log_error("relay msg=\"cannot create the event loop\"");
		return -1;
	}
	foreign[0] = srv.loop;
	TAILQ_INIT(&srv.dirty);
	ev_check_init(&srv.flush, flush_dirty);
	ev_check_start(srv.loop, &srv.flush);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	info.protocols = protocols;
	info.pt_serv_buf_size = 32 * 1024;
	if ((srv.ctx = lws_create_context(&info)) == NULL) {
		log_error("relay msg=\"cannot create the lws context\"");
		return -1;
	}
	if (vhost("plain", c->listen, 0) < 0 ||
	    (c->tls_listen && vhost("tls", c->tls_listen, 1) < 0))
		return -1;
	lws_sul_schedule(srv.ctx, 0, &srv.tick, tick, TICK_US);
	if (cluster_start(srv.loop, c) < 0)	/* cluster hook */
		return -1;
	srv.listening = 1;
	log_info("relay ready listen=%s%s%s apps=%d version=%s", c->listen,
	    c->tls_listen ? " tls_listen=" : "",
	    c->tls_listen ? c->tls_listen : "", r->napps, SNO_VERSION);
	return 0;
}

void
server_run(void)
{
	if (!srv.stop)
		ev_run(srv.loop, 0);
}

void
server_stop(void)
{
	/* SIGTERM and SIGINT stop the relay within 2 s whatever it does. */
	if (!srv.stop_asked) {
		srv.stop_asked = 1;
		alarm(STOP_MAX_S);
	}
	srv.stop = 1;
	if (srv.ctx)
		lws_cancel_service(srv.ctx);
}

void
server_shutdown(void)
{
	struct conn *c;
	int64_t deadline = clock_mono_ms() + DRAIN_MS;

	if (srv.ctx == NULL)
		return;
	srv.r->shutting_down = 1;
	srv.listening = 0;
	log_info("relay stopping connections=%d", srv.r->nconns);
	/* 4100: pusher-js backs off before reconnecting
	 * (docs/pusher-protocol.md), so a restart is not met by every client
	 * at the same instant. */
	TAILQ_FOREACH(c, &srv.r->conns, entry)
		conn_close(c, CLOSE_RECONNECT_LATER, "server shutting down");
	srv.stop = 0;
	while (srv.r->nconns > 0 && clock_mono_ms() < deadline && !srv.stop)
		ev_run(srv.loop, EVRUN_ONCE);
	cluster_stop();		/* cluster hook */
	lws_sul_cancel(&srv.tick);
	ev_check_stop(srv.loop, &srv.flush);
	lws_context_destroy(srv.ctx);
	srv.ctx = NULL;
	ev_loop_destroy(srv.loop);
	srv.loop = NULL;
}
