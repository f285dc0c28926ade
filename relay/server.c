/*
 * libwebsockets glue. One protocol handles every connection: websockets at
 * /app/{key} go to pusher.c, HTTP requests to http_api.c and the ops
 * endpoints. Frames are written only in SERVER_WRITEABLE (lws rule), several
 * per callback while the socket takes them.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libwebsockets.h>

#include "auth.h"
#include "clock.h"
#include "http_api.h"
#include "log.h"
#include "metrics.h"
#include "pusher.h"
#include "server.h"
#include "webhook.h"

_Static_assert(LWS_PRE <= MSG_PRE, "MSG_PRE must cover LWS_PRE");

#define TICK_US (250 * LWS_US_PER_MS)
#define PONG_WAIT_MS 30000
#define WRITES_PER_CALLBACK 64

struct http_req {
	char method[8];
	char path[1024];
	char query[4096];	/* storage for params */
	struct auth_param params[AUTH_MAX_PARAMS];
	int np;			/* -1: too many or too long */
	char origin[256];
	struct buf body;
	int too_big;
	int status;
	const char *ctype;
	struct buf resp;
};

struct pss {
	struct conn conn;	/* websockets */
	struct http_req *req;	/* HTTP, while a request is in flight */
	int rx_active;
};

static struct {
	struct lws_context *ctx;
	struct relay *r;
	lws_sorted_usec_list_t tick;
	int64_t last_sweep_ms;
	volatile sig_atomic_t stop;
} srv;

void
conn_want_write(struct conn *c)
{
	lws_callback_on_writable(c->wsi);
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

static void
http_req_free(struct pss *pss)
{
	if (pss->req == NULL)
		return;
	buf_free(&pss->req->body);
	buf_free(&pss->req->resp);
	free(pss->req);
	pss->req = NULL;
}

static void
respond(struct http_req *q, int status, const char *ctype, const char *body)
{
	q->status = status;
	q->ctype = ctype;
	buf_reset(&q->resp);
	buf_adds(&q->resp, body);
}

static void
http_dispatch(struct lws *wsi, struct http_req *q)
{
	struct relay *r = srv.r;
	int st;

	metrics.http_requests++;
	q->ctype = "application/json";
	if (strcmp(q->method, "OPTIONS") == 0) {
		respond(q, 204, "text/plain", "");
	} else if (q->too_big) {
		q->status = 413;
		buf_printf(&q->resp, "{\"error\":\"Request body is over %zu "
		    "bytes\"}", http_api_max_body(r));
	} else if (strcmp(q->method, "POST") == 0 && q->origin[0] &&
	    !relay_conf_origin_ok(r->conf, q->origin)) {
		respond(q, 403, "application/json",
		    "{\"error\":\"Origin not allowed\"}");
	} else if (strcmp(q->path, "/healthz") == 0) {
		respond(q, 200, "application/json", "{\"status\":\"ok\"}");
	} else if (strcmp(q->path, "/metrics") == 0) {
		q->status = 200;
		q->ctype = "text/plain; version=0.0.4";
		metrics_render(r, &q->resp);
	} else if (strncmp(q->path, "/apps/", 6) == 0) {
		st = http_api_handle(r, q->method, q->path, q->params, q->np,
		    q->body.data, q->body.len, &q->resp);
		q->status = st;
	} else {
		respond(q, 404, "application/json",
		    "{\"error\":\"Not found\"}");
	}
	lws_callback_on_writable(wsi);
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

static int
http_write(struct lws *wsi, struct http_req *q)
{
	unsigned char hdr[LWS_PRE + 2048], *start = hdr + LWS_PRE, *p = start;
	unsigned char *end = hdr + sizeof(hdr) - 1, *body;
	const char *origin = q->origin[0] ? q->origin : "*";
	int n;

	if (lws_add_http_common_headers(wsi, (unsigned)q->status, q->ctype,
		q->resp.len, &p, end) ||
	    (relay_conf_origin_ok(srv.r->conf, q->origin[0] ? q->origin : NULL)
		&& (add_header(wsi, "access-control-allow-origin:", origin, &p,
			end) ||
		    add_header(wsi, "access-control-allow-methods:",
			"GET, POST, OPTIONS", &p, end) ||
		    add_header(wsi, "access-control-allow-headers:",
			"Content-Type, X-Requested-With, X-Socket-Id", &p,
			end) ||
		    add_header(wsi, "vary:", "Origin", &p, end))) ||
	    add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
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

static int
http_begin(struct lws *wsi, struct pss *pss, const char *path)
{
	struct http_req *q;

	http_req_free(pss);
	if ((q = pss->req = calloc(1, sizeof(*q))) == NULL)
		return -1;
	buf_init(&q->body, http_api_max_body(srv.r));
	buf_init(&q->resp, (size_t)1 << 30);
	snprintf(q->path, sizeof(q->path), "%s", path);
	q->np = query_params(wsi, q);
	if (lws_hdr_copy(wsi, q->origin, sizeof(q->origin), WSI_TOKEN_ORIGIN) <
	    0)
		q->origin[0] = '\0';
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		snprintf(q->method, sizeof(q->method), "POST");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
		snprintf(q->method, sizeof(q->method), "OPTIONS");
	else if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		snprintf(q->method, sizeof(q->method), "GET");
	else {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
		    NULL);
		return -1;
	}
	if (strcmp(q->method, "POST") != 0)
		http_dispatch(wsi, q);
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
	pss->rx_active = 0;
	c->wsi = wsi;
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0)
		uri[0] = '\0';
	key = strncmp(uri, "/app/", 5) == 0 ? uri + 5 : "";
	klen = strcspn(key, "/?");
	if (pusher_open(srv.r, c, key, klen) == -ENOMEM)
		return -1;
	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
	    !relay_conf_origin_ok(srv.r->conf, origin)) {
		relay_conn_error(c, 4009, "Origin %s is not allowed", origin);
		c->close_drain = 1;
		conn_close(c, 4009, "origin not allowed");
	}
	return 0;
}

static void
ws_receive(struct pss *pss, struct lws *wsi, const void *in, size_t len)
{
	struct conn *c = &pss->conn;

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

static int
ws_writeable(struct lws *wsi, struct conn *c)
{
	struct msg *m;
	int n = 0;

	if (c->close_code && !(c->close_drain && c->q.len)) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)(uintptr_t)c->close_reason,
		    strlen(c->close_reason));
		return -1;
	}
	while ((m = sendq_peek(&c->q)) != NULL && n++ < WRITES_PER_CALLBACK) {
		if (lws_write(wsi, msg_data(m), m->len, LWS_WRITE_TEXT) <
		    (int)m->len)
			return -1;
		metrics.bytes_sent += m->len;
		msg_unref(sendq_pop(&c->q));
		if (lws_send_pipe_choked(wsi))
			break;
	}
	if (c->q.len || c->close_code)
		lws_callback_on_writable(wsi);
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
	case LWS_CALLBACK_RECEIVE_PONG:
		pss->conn.last_rx_ms = clock_mono_ms();
		pss->conn.pinged = 0;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ws_writeable(wsi, &pss->conn);
	case LWS_CALLBACK_CLOSED:
		relay_conn_close(srv.r, &pss->conn);
		return 0;
	case LWS_CALLBACK_HTTP:
		return http_begin(wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		if (pss->req && !pss->req->too_big &&
		    buf_add(&pss->req->body, in, len) < 0)
			pss->req->too_big = 1;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->req)
			http_dispatch(wsi, pss->req);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->req || !pss->req->status)
			return 0;
		if (http_write(wsi, pss->req) < 0) {
			http_req_free(pss);
			return -1;
		}
		http_req_free(pss);
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			http_req_free(pss);
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{"pusher", callback, sizeof(struct pss), 4096, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}
};

/* Pings idle connections and cuts those that stayed silent (1.10). */
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

	webhook_tick(now);
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
	char host[256];
	int port;

	if (relay_conf_addr(addr, host, sizeof(host), &port) < 0)
		return -1;
	memset(&info, 0, sizeof(info));
	info.vhost_name = name;
	info.port = port;
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

	srv.r = r;
	raise_nofile();
	lws_set_log_level(LOG_ENABLED(LOG_LVL_DEBUG) ? LLL_ERR | LLL_WARN |
	    LLL_NOTICE : LLL_ERR, lws_logger);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
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
	log_info("relay ready listen=%s%s%s apps=%d version=%s", c->listen,
	    c->tls_listen ? " tls_listen=" : "",
	    c->tls_listen ? c->tls_listen : "", r->napps, SNO_VERSION);
	return 0;
}

void
server_run(void)
{
	while (!srv.stop)
		if (lws_service(srv.ctx, 0) < 0)
			break;
}

void
server_stop(void)
{
	srv.stop = 1;
	if (srv.ctx)
		lws_cancel_service(srv.ctx);
}

void
server_shutdown(void)
{
	struct conn *c;
	int64_t deadline = clock_mono_ms() + 2000;

	if (srv.ctx == NULL)
		return;
	srv.r->shutting_down = 1;
	log_info("relay stopping connections=%d", srv.r->nconns);
	/* 4100: pusher-js backs off before reconnecting (1.9), so a restart
	 * is not met by every client at the same instant. */
	TAILQ_FOREACH(c, &srv.r->conns, entry)
		conn_close(c, CLOSE_RECONNECT_LATER, "server shutting down");
	srv.stop = 0;
	while (srv.r->nconns > 0 && clock_mono_ms() < deadline && !srv.stop)
		lws_service(srv.ctx, 0);
	lws_sul_cancel(&srv.tick);
	lws_context_destroy(srv.ctx);
	srv.ctx = NULL;
}
