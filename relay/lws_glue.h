/*
 * Shared by the files of the libwebsockets glue: lws_server.c (context,
 * listeners, the callback, timers), lws_http.c (HTTP requests and answers)
 * and lws_write.c (the websocket write path). Nothing outside them
 * includes this or libwebsockets.h (tests/check-layers.sh).
 */
#ifndef SNO_LWS_GLUE_H
#define SNO_LWS_GLUE_H

#include <libwebsockets.h>

#include "conn.h"
#include "http.h"

_Static_assert(LWS_PRE <= MSG_PRE, "MSG_PRE must cover LWS_PRE");

/*
 * The bytes of one request's head lws keeps (its max_http_header_data;
 * lws's default is 4096, nginx reads 8 KiB, which real cookies need). A
 * longer head is closed unanswered by lws (docs/architecture.md).
 */
#define RELAY_HEAD_MAX 8192

/* What lws keeps per connection for us. */
struct pss {
	struct conn conn;	/* websockets */
	struct http_req *req;	/* HTTP, while a request is in flight */
	int rx_active;
	int dispatched;		/* req went to its handler */
	int body_done;		/* lws said the body is complete */
	uint64_t body_turn;	/* the loop turn it said so */
	uint64_t body_len;	/* the request's Content-Length */
	uint64_t body_got;	/* body bytes lws has handed over */
	uintptr_t chunk_at;	/* where the last body chunk began, */
	size_t chunk_len;	/* and its length (lws_http_body) */
	int rx_held;		/* reading paused until req is answered */
	int close_after;	/* answer with connection: close, then close */
	int peer_closed;	/* the client sent its close frame */
	int fd;			/* websockets without TLS: the socket the
				 * write path sends on itself; else -1 */
};

/* lws_http.c: the struct http_glue calls (http.h says what each does) */
void lws_http_answer_ready(struct http_req *q);
void lws_http_hold(struct http_req *q, int secs);
int lws_http_header(struct http_req *q, const char *name, char *out,
    int len);
int lws_http_serve_file(struct http_req *q, const char *file,
    const char *mime, const char *cache_control, int gzip);
/*
 * Pauses reading wsi until its request is answered (lws_http_answer_ready
 * resumes it), if the request waits on its handler: 1 if so, else 0 (its
 * answer is due at the next HTTP_WRITEABLE, which a pause would stop).
 */
int lws_http_pause(struct lws *wsi);
/* LWS_CALLBACK_HTTP: a new request at path; 0, or -1 to close. */
int lws_http_begin(struct lws *wsi, struct pss *pss, const char *path);
/* LWS_CALLBACK_HTTP_BODY: len bytes of body at in; 0, or -1 to close. */
int lws_http_body(struct lws *wsi, struct pss *pss, const void *in,
    size_t len);
/* LWS_CALLBACK_HTTP_BODY_COMPLETION in loop turn `turn`; 0 or -1. */
int lws_http_body_done(struct lws *wsi, struct pss *pss, uint64_t turn);
/* Writes pss's answer and ends the transaction; 0, or -1 to close. */
int lws_http_answer(struct lws *wsi, struct pss *pss);
/* Frees pss's request, if any. */
void lws_http_req_free(struct pss *pss);

/*
 * lws_pipeline.c: lws reads a connection one request at a time (pipelined
 * requests with bodies). start after the loop is made, stop after the lws
 * context is destroyed; open at SERVER_NEW_CLIENT_INSTANTIATED, close at
 * WSI_DESTROY; request when a request's head is read (body_len: the body
 * bytes lws reads for it), answered when its answer is written and the
 * transaction ended, upgraded when it became a websocket.
 */
struct ev_loop;
void pipeline_start(struct ev_loop *loop);
void pipeline_stop(void);
void pipeline_open(struct lws *wsi);
void pipeline_close(struct lws *wsi);
void pipeline_request(struct lws *wsi, uint64_t body_len);
void pipeline_answered(struct lws *wsi);
void pipeline_upgraded(struct lws *wsi);

/* lws_write.c */
/* SERVER_WRITEABLE for c: its close, or what it has queued; 0 or -1. */
int ws_writeable(struct lws *wsi, struct conn *c);
/* End of a loop turn: serves the connections on r->pending, until the
 * monotonic clock reaches until_us (0: all of them). */
void ws_flush_pending(struct relay *r, int64_t until_us);

/* lws_accept.c: out of fds, the connections waiting are closed unserved
 * instead of lws spinning on its listener. */
void accept_guard_start(void);
void accept_guard_stop(void);
/* An lws error line; 1 when it was a failed accept (handled, logged). */
int accept_guard_log(const char *line);

/* lws_server.c: the monotonic time (us) at which this loop turn has worked
 * its share (TURN_WORK_US), after which what is left waits for the next
 * turn; 0 outside a turn. */
int64_t glue_turn_until(void);

#endif
