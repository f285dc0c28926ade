/*
 * The HTTP server without the socket: a request's answer, its extra
 * headers, parking (long polls, slowed logins), the /metrics guard, and the
 * route table that hands a request to its API (agent_api.c, dash_api.c,
 * http_api.c, the ops endpoints, the dashboard's files). The glue
 * (lws_server.c) parses the request into struct http_req and registers the
 * struct http_glue that reads headers and writes the answer.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "http.h"
#include "http_api.h"
#include "metrics.h"
#include "reload.h"

static struct {
	struct relay *r;
	const struct http_glue *glue;
	TAILQ_HEAD(, http_req) parked;
	uint64_t next_req_id;
	int listening;		/* every listener is up (GET /readyz) */
} hs = {
	.parked = TAILQ_HEAD_INITIALIZER(hs.parked),
};

void
httpd_start(struct relay *r, const struct http_glue *glue)
{
	hs.r = r;
	hs.glue = glue;
}

void
httpd_listening(int up)
{
	hs.listening = up;
}

struct relay *
http_relay(void)
{
	return hs.r;
}

void
http_wake_loop(void)
{
	if (hs.glue)
		hs.glue->wake();
}

struct http_req *
http_req_new(void *wsi, const char *method, const char *path)
{
	struct http_req *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->wsi = wsi;
	q->id = ++hs.next_req_id;
	q->body_start_ms = clock_mono_ms();
	snprintf(q->method, sizeof(q->method), "%s", method);
	/* An agent's batch of samples is up to 1 MiB; the dashboard's
	 * bodies (a login form, a channel auth) are small. */
	buf_init(&q->body, strncmp(path, "/apps/", 6) == 0
	    ? http_api_max_body(hs.r) : strncmp(path, "/agent/", 7) == 0
	    ? 1024 * 1024 + 65536 : 64 * 1024);
	buf_init(&q->resp, (size_t)1 << 30);
	snprintf(q->path, sizeof(q->path), "%s", path);
	return q;
}

static void
http_unpark(struct http_req *q)
{
	if (q->parked) {
		TAILQ_REMOVE(&hs.parked, q, park_entry);
		q->parked = 0;
		hs.glue->hold(q, 0);
	}
}

void
http_req_free(struct http_req *q)
{
	if (q == NULL)
		return;
	http_unpark(q);
	http_body_release(q);
	buf_free(&q->body);
	buf_free(&q->resp);
	free(q);
}

void
http_reply_resp(struct http_req *q, int status, const char *ctype)
{
	http_unpark(q);
	q->status = status;
	q->ctype = ctype;
	hs.glue->answer(q);
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
	int n = hs.glue->header(q, name, out, len);

	if (n < 0)
		out[0] = '\0';
	return n;
}

int
http_serve_file(struct http_req *q, const char *file, const char *mime,
    const char *cache_control, int gzip)
{
	return hs.glue->serve_file(q, file, mime, cache_control, gzip);
}

void
http_park(struct http_req *q, int64_t due_ms,
    void (*on_due)(struct http_req *q))
{
	if (!q->parked)
		TAILQ_INSERT_TAIL(&hs.parked, q, park_entry);
	q->parked = 1;
	q->due_ms = due_ms;
	q->on_due = on_due;
	/* The glue must not time the idle request out while we hold it. */
	hs.glue->hold(q, (int)((due_ms - clock_mono_ms()) / 1000 + 30));
}

struct http_req *
http_parked(uint64_t id)
{
	struct http_req *q;

	TAILQ_FOREACH(q, &hs.parked, park_entry)
		if (q->id == id)
			return q;
	return NULL;
}

void
http_parked_host(struct host *h, void (*fn)(struct http_req *q))
{
	struct http_req *q, *next;

	for (q = TAILQ_FIRST(&hs.parked); q; q = next) {
		next = TAILQ_NEXT(q, park_entry);
		if (q->host == h)
			fn(q);
	}
}

void
httpd_tick(int64_t now)
{
	struct http_req *q, *next;

	for (q = TAILQ_FIRST(&hs.parked); q; q = next) {
		next = TAILQ_NEXT(q, park_entry);
		if (q->due_ms <= now && q->on_due)
			q->on_due(q);
	}
}

/* Whether an Accept-Encoding value accepts gzip (and not with q=0). */
int
http_accepts_gzip(const char *v)
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

const char *
http_cors_origin(const struct http_req *q)
{
	if (strncmp(q->path, "/apps/", 6) != 0 &&
	    strcmp(q->path, "/healthz") != 0)
		return NULL; /* the dashboard API is same-origin only */
	if (!relay_conf_origin_ok(hs.r->conf, q->origin[0] ? q->origin : NULL))
		return NULL;
	return q->origin[0] ? q->origin : "*";
}

/*
 * /metrics for whom: with metrics_token set, a request bearing it
 * (compared in constant time); without, peers on loopback only.
 */
static int
metrics_allowed(struct http_req *q)
{
	const char *tok = hs.r->conf->metrics_token;
	char auth[300];
	size_t n;

	if (tok == NULL)
		return strncmp(q->peer, "127.", 4) == 0 ||
		    strcmp(q->peer, "::1") == 0 ||
		    strncmp(q->peer, "::ffff:127.", 11) == 0;
	if (http_header_get(q, "authorization:", auth, sizeof(auth)) <= 7 ||
	    strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	n = strlen(tok);
	return strlen(auth + 7) == n && sodium_memcmp(auth + 7, tok, n) == 0;
}

static void
serve_healthz(struct http_req *q)
{
	http_reply(q, 200, "application/json", "{\"status\":\"ok\"}");
}

static void
serve_readyz(struct http_req *q)
{
	buf_reset(&q->resp);
	http_reply_resp(q, ops_readyz(hs.r, hs.listening, &q->resp),
	    "application/json");
}

static void
serve_metrics(struct http_req *q)
{
	if (!metrics_allowed(q)) {
		http_header_add(q, "www-authenticate:", "Bearer realm=\"sno\"");
		http_error(q, 401, "/metrics needs Authorization: Bearer with "
		    "the relay's metrics_token");
		return;
	}
	buf_reset(&q->resp);
	metrics_render(hs.r, &q->resp);
	http_reply_resp(q, 200, "text/plain; version=0.0.4");
}

static void
serve_http_api(struct http_req *q)
{
	int st;

	buf_reset(&q->resp);
	cluster_api_begin();		/* cluster hook */
	st = http_api_handle(hs.r, q->method, q->path, q->params, q->np,
	    q->body.data, q->body.len, &q->resp);
	if (cluster_api_end(q, st))	/* cluster hook: waits on Redis */
		return;
	http_reply_resp(q, st, "application/json");
}

static void
serve_files(struct http_req *q)
{
	if (strcmp(q->method, "GET") != 0 || dash_static(q) != 0)
		http_error(q, 404, "Not found");
}

/*
 * The relay's top-level paths, first match wins. A path ending in '/' is a
 * prefix. The agent and dashboard APIs check their own origins; on every
 * other path a POST from a browser origin the relay does not allow is 403.
 * What matches nothing is a dashboard file.
 */
static const struct route {
	const char *path;
	int own_origin;
	void (*serve)(struct http_req *q);
} routes[] = {
	{"/agent/v1/", 1, agent_api_handle},
	{"/api/v1/", 1, dash_api_handle},
	{"/healthz", 0, serve_healthz},
	{"/readyz", 0, serve_readyz},
	{"/metrics", 0, serve_metrics},
	{"/apps/", 0, serve_http_api},
	{NULL, 0, serve_files},
};

static const struct route *
route_of(const char *path)
{
	const struct route *rt;
	size_t n;

	for (rt = routes; rt->path; rt++) {
		n = strlen(rt->path);
		if (rt->path[n - 1] == '/' ? strncmp(path, rt->path, n) == 0
		    : strcmp(path, rt->path) == 0)
			break;
	}
	return rt;
}

void
http_dispatch(struct http_req *q)
{
	const struct route *rt;

	metrics.http_requests++;
	if (strcmp(q->method, "OPTIONS") == 0) {
		http_reply(q, 204, "text/plain", "");
		return;
	}
	if (q->too_big) {
		http_error(q, 413, "Request body is over %zu bytes",
		    q->body.max);
		return;
	}
	rt = route_of(q->path);
	if (!rt->own_origin && strcmp(q->method, "POST") == 0 &&
	    q->origin[0] && !relay_conf_origin_ok(hs.r->conf, q->origin))
		http_error(q, 403, "Origin not allowed");
	else
		rt->serve(q);
}
