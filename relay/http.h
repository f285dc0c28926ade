/*
 * One HTTP request as the relay's handlers see it (lws_server.c parses,
 * httpd.c routes, the handlers answer). A handler may park a request
 * (long-poll check-ins, slowed logins, password checks): it is answered
 * later with http_reply, or when its due time passes through its on_due
 * callback.
 */
#ifndef SNO_HTTP_H
#define SNO_HTTP_H

#include <stdint.h>
#include <sys/queue.h>

#include "auth.h"
#include "buf.h"

struct host;
struct relay;

#define HTTP_MAX_EXTRA_HEADERS 4

struct http_req {
	void *wsi;		/* struct lws *, only the glue looks inside */
	uint64_t id;		/* unique for the relay's life */
	char method[8];
	char path[1024];	/* decoded by lws, without the query */
	char query[4096];	/* storage for params */
	struct auth_param params[AUTH_MAX_PARAMS];
	int np;			/* -1: too many or too long */
	char origin[256];
	char host_hdr[256];
	char peer[64];		/* client address */
	int tls;
	int gzip_ok;		/* Accept-Encoding lists gzip */
	struct buf body;
	size_t body_held;	/* of body, counted in the in-flight total */
	int64_t body_start_ms;	/* its head came; body_timeout_s from then */
	int too_big;
	int status;		/* nonzero once answered */
	const char *ctype;
	struct buf resp;
	int nhdr;
	const char *hname[HTTP_MAX_EXTRA_HEADERS];
	char hvalue[HTTP_MAX_EXTRA_HEADERS][256];
	/* parking */
	int parked;
	int64_t due_ms;
	void (*on_due)(struct http_req *q);
	struct host *host;
	int attempt;		/* handler's own state while parked */
	TAILQ_ENTRY(http_req) park_entry;
};

/* Answers q with a body (copied) and asks for the write. */
void http_reply(struct http_req *q, int status, const char *ctype,
    const char *body);
/* Answers q with what the handler wrote into q->resp. */
void http_reply_resp(struct http_req *q, int status, const char *ctype);
/* {"error":"..."} with status. */
void http_error(struct http_req *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a response header ("set-cookie:", value); 0 or -ENOSPC. */
int http_header_add(struct http_req *q, const char *name, const char *value);
/* Copies a request header ("x-sno-host:", "cookie:", "authorization:");
 * length or -1. */
int http_header_get(struct http_req *q, const char *name, char *out,
    int len);
/* Holds q until http_reply, or until due_ms when on_due runs. */
void http_park(struct http_req *q, int64_t due_ms,
    void (*on_due)(struct http_req *q));
/* The parked request with this id, or NULL (it may have gone away). */
struct http_req *http_parked(uint64_t id);
/* Calls fn on every parked request for host h. */
void http_parked_host(struct host *h, void (*fn)(struct http_req *q));
/* Serves a file from disk as the answer (GET only, at dispatch time),
 * with Content-Encoding: gzip when gzip is set (the file is the .gz);
 * 0 or -1 when the connection must close. */
int http_serve_file(struct http_req *q, const char *file, const char *mime,
    const char *cache_control, int gzip);

/*
 * What the HTTP server needs from the socket side; lws_server.c registers
 * it with httpd_start. Called once or twice per request, never per frame.
 */
struct http_glue {
	/* q has its answer (q->status): write it when the socket can. */
	void (*answer)(struct http_req *q);
	/* Keep idle q open for secs (0: the glue's own timeout again). */
	void (*hold)(struct http_req *q, int secs);
	/* Copies a request header; length or -1. */
	int (*header)(struct http_req *q, const char *name, char *out,
	    int len);
	/* As http_serve_file; on failure the connection is cut. */
	int (*serve_file)(struct http_req *q, const char *file,
	    const char *mime, const char *cache_control, int gzip);
	/* Thread-safe: wake the event loop. */
	void (*wake)(void);
};

/* httpd.c */
void httpd_start(struct relay *r, const struct http_glue *glue);
/* Every listener is up (1) or going down (0), for GET /readyz. */
void httpd_listening(int up);
/* Runs the on_due of every parked request whose time has come. */
void httpd_tick(int64_t now_ms);
/* A new request (id, method, path, body limit) for the glue to fill. */
struct http_req *http_req_new(void *wsi, const char *method,
    const char *path);
/* Unparks and frees q; NULL is fine. */
void http_req_free(struct http_req *q);
/* Hands q to its route (after the body, for a POST). */
void http_dispatch(struct http_req *q);
/* Whether an Accept-Encoding value accepts gzip (and not with q=0). */
int http_accepts_gzip(const char *v);
/* The Access-Control-Allow-Origin for q's answer, or NULL for none. */
const char *http_cors_origin(const struct http_req *q);

/* http_head.c: before a POST's body is read, the checks its head allows
 * (route, credentials, size, the relay-wide budget); 0, or the status q
 * was answered with (the glue then closes). */
int http_head_check(struct http_req *q, uint64_t body_len);
/* Adds len bytes to q's body; 0, or the status q was answered with (the
 * deadline passed: 408; the budget is spent: 503). */
int http_body_add(struct http_req *q, const void *in, size_t len);
/* q's body no longer counts (http_req_free). */
void http_body_release(struct http_req *q);
/* Body bytes held across all requests now. */
size_t http_bodies_held(void);

/* The relay being served, and a thread-safe nudge of the event loop
 * (it then calls dash_api_wakeup). */
struct relay *http_relay(void);
void http_wake_loop(void);

/* Handlers (agent_api.c, dash_api.c). */
void agent_api_handle(struct http_req *q);
void dash_api_handle(struct http_req *q);
/* Static files of web_root; 0 when handled (answered or serving). */
int dash_static(struct http_req *q);
/* Periodic work of the handlers (throttle decay, password results). */
void dash_api_tick(int64_t now_ms);
void dash_api_wakeup(void);
/* Joins the password thread and forgets every session. */
void dash_api_stop(void);

#endif
