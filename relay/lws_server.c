/*
 * The libwebsockets glue: the context and its listeners (plain and TLS),
 * the one protocol callback that turns lws events into calls on the layers
 * below (pusher.c for websockets at /app/{key}, httpd.c for HTTP), timers,
 * and the clean shutdown. It drains what those layers record: r->pending
 * (frames to write, closes asked) after every loop turn through
 * lws_write.c, and HTTP answers through the struct http_glue registered
 * with httpd_start (lws_http.c). Only the glue files (relay/lws_*) include
 * libwebsockets.h: tests/check-layers.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ev.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "host.h"
#include "log.h"
#include "lws_glue.h"
#include "lws_server.h"
#include "metrics.h"
#include "pusher.h"
#include "reload.h"
#include "utf8.h"
#include "webhook.h"

#define TICK_US (250 * LWS_US_PER_MS)
#define STOP_MAX_S 2		/* from SIGTERM to exit, at most */
#define DRAIN_MS 1000		/* of that, for closing connections */
/*
 * Work a loop turn does before it leaves the rest (fan-out slices, writes
 * of connections on r->pending) to the next turns, from the poll's return:
 * at 19,000 subscribers a write is 5-15 us, so this is about fifty
 * writes (the clock is looked at every 16). A publish arriving meanwhile
 * waits for the end of the turn; an HTTP request read in a turn is
 * dispatched and answered in the next one, so such a turn does only
 * TURN_HTTP_US of that work. Shorter turns cost no CPU we could measure
 * (500 and 1,000 us within the run-to-run noise of 10 %).
 */
#define TURN_WORK_US 500
#define SWEEP_SLICE 1000	/* connections per tick, 250 ms apart */
#define TURN_HTTP_US 200

static struct {
	struct lws_context *ctx;
	struct relay *r;
	uint64_t turn;		/* event loop turns */
	lws_sorted_usec_list_t tick;
	int64_t last_sweep_ms;
	volatile sig_atomic_t stop;
	volatile sig_atomic_t stop_asked;
	struct ev_loop *loop;	/* epoll via libev: no O(n) poll scan */
	ev_check flush;		/* runs after each loop turn */
	ev_check turn_begin;	/* first thing after the poll returns */
	ev_prepare turn_end;	/* last thing before the next poll */
	ev_idle fanout_idle;	/* while work is left: poll, not block */
	int64_t turn_us;	/* when the current turn began, or 0 */
	int64_t turn_cpu_us;	/* the thread's CPU time then */
	int http_turn;		/* an HTTP request came in this turn */
	int sweeping;		/* relay_sweep is not over */
} srv;

static void
glue_wake(void)
{
	if (srv.ctx)
		lws_cancel_service(srv.ctx);
}

static const struct http_glue glue = {
	lws_http_answer_ready, lws_http_hold, lws_http_header,
	lws_http_serve_file, glue_wake
};

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
	pss->fd = lws_is_ssl(wsi) ? -1 : (int)lws_get_socket_fd(wsi);
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
	conn_pending_drop(&pss->conn);
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
	/* Big messages being assembled share max_body_bytes_in_flight with
	 * request bodies (what stays under 64 KiB is per connection). */
	if (relay_bytes_hold(&c->rx_held, c->rx.cap > 65536 ? c->rx.cap : 0) <
	    0 && !c->close_code) {
		log_info("ws conn=%s close=bytes_in_flight", c->socket_id);
		c->rx_drop = 1;
		conn_close(c, 1013, "relay busy: try again later");
		return;
	}
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

		relay_bytes_hold(&c->rx_held, 0);
		buf_free(&c->rx);
		buf_init(&c->rx, max);
	}
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
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		pipeline_open(wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		pipeline_close(wsi);
		return 0;
	case LWS_CALLBACK_ESTABLISHED:
		pipeline_upgraded(wsi);
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
		relay_conn_close(srv.r, &pss->conn);
		return 0;
	case LWS_CALLBACK_HTTP:
		srv.http_turn = 1;
		return lws_http_begin(wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (srv.stop && srv.loop)
			ev_break(srv.loop, EVBREAK_ALL);
		dash_api_wakeup();
		reload_poll(srv.r);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		srv.r->tls_ctx = user; /* the vhost's SSL_CTX, for reloads */
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		return lws_http_body(wsi, pss, in, len);
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		srv.http_turn = 1;
		return lws_http_body_done(wsi, pss, srv.turn);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!pss || !pss->req)
			return 0;
		if (pss->body_done && !pss->dispatched) {
			pss->dispatched = 1;
			http_dispatch(pss->req);
		}
		if (!pss->req->status || pss->req->parked)
			return 0;
		return lws_http_answer(wsi, pss);
	case LWS_CALLBACK_HTTP_FILE_COMPLETION:
		pipeline_answered(wsi);	/* lws ends the transaction */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			lws_http_req_free(pss);
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

int64_t
glue_turn_until(void)
{
	return srv.turn_us ? srv.turn_us + TURN_WORK_US : 0;
}

/*
 * The ev_check after every loop turn's callbacks: what they queued is
 * written, then big fan-outs go on a slice (FANOUT_BUDGET subscribers) at
 * a time, each slice written at once while its connections are still in
 * the cache, until the turn has worked TURN_WORK_US. What is left (a
 * slice's writes, the next slices) waits for the next turns, in order; the
 * idle watcher keeps the poll from blocking meanwhile.
 */
static void
flush_pending(struct ev_loop *loop, ev_check *w, int revents)
{
	struct relay *r = srv.r;
	int64_t now = clock_mono_us();
	int64_t until = (srv.turn_us ? srv.turn_us : now) + TURN_WORK_US;

	(void)loop;
	(void)w;
	(void)revents;
	srv.turn++;
	if (srv.http_turn && until > now + TURN_HTTP_US)
		until = now + TURN_HTTP_US;
	srv.http_turn = 0;
	ws_flush_pending(r, until);
	while (TAILQ_EMPTY(&r->pending) && !TAILQ_EMPTY(&r->fanout) &&
	    clock_mono_us() < until) {
		channel_fanout_turn(r);	/* the next slice */
		ws_flush_pending(r, until);
	}
}

static void
fanout_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;	/* flush_pending does the work; this keeps the
			 * poll from blocking while there is some */
}

/*
 * Loop-turn durations for /metrics: from the poll's return (a check watcher
 * at the highest priority, invoked before every other callback of the turn)
 * to the next prepare (after them all), so the time spent blocked in the
 * poll is not counted; and the CPU time the thread used meanwhile, which
 * leaves out the time the kernel ran something else (a turn of 0.5 ms of
 * work lasts 8 ms when another process on the core takes its slice).
 */
static void
turn_begin(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	srv.turn_us = clock_mono_us();
	srv.turn_cpu_us = clock_thread_cpu_us();
}

static void
turn_end(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (srv.turn_us) {
		metrics_loop_turn(clock_mono_us() - srv.turn_us,
		    clock_thread_cpu_us() - srv.turn_cpu_us);
		srv.turn_us = 0;
	}
	if (!TAILQ_EMPTY(&srv.r->fanout) || !TAILQ_EMPTY(&srv.r->pending))
		ev_idle_start(srv.loop, &srv.fanout_idle);
	else
		ev_idle_stop(srv.loop, &srv.fanout_idle);
}

static void
tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = clock_mono_ms();

	log_flush_suppressed();
	webhook_tick(now);
	httpd_tick(now);
	hosts_tick(srv.r, now);
	channel_count_tick(srv.r, now);
	dash_api_tick(now);
	reload_poll(srv.r);
	/* A sweep of every connection (each one cold in the cache: about
	 * 5 ms at 19,000) goes SWEEP_SLICE connections a tick. */
	if (srv.sweeping || now - srv.last_sweep_ms >= 5000) {
		if (!srv.sweeping)
			srv.last_sweep_ms = now;
		srv.sweeping = relay_sweep(srv.r, now, SWEEP_SLICE);
	}
	lws_sul_schedule(srv.ctx, 0, sul, tick, TICK_US);
}

static void
lws_logger(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if ((level & LLL_ERR) && accept_guard_log(line))
		return;
	if (level & LLL_ERR)
		log_warnx("lws msg=\"%.*s\"", (int)n, line);
	else
		log_debug("lws msg=\"%.*s\"", (int)n, line);
}

/*
 * lws's own idle check (a "validity" timer per connection, rescheduled on
 * every message received) is off: the relay pings and cuts idle
 * connections itself (relay_sweep). lws 4.1 keeps its timers in one sorted
 * list, inserting from the head, and a timer 300 s out goes past every
 * other connection's: at 19,000 connections each connect and each message
 * received walked 19,000 cold list nodes (the connect phase had loop turns
 * of 600 ms). With secs_since_valid_hangup 0 no such timer is set.
 */
static const lws_retry_bo_t no_validity_check = {
	.secs_since_valid_ping = 0,
	.secs_since_valid_hangup = 0,
};

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
	info.retry_and_idle_policy = &no_validity_check;
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
	httpd_start(r, &glue);
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
	ev_check_init(&srv.flush, flush_pending);
	ev_check_start(srv.loop, &srv.flush);
	ev_check_init(&srv.turn_begin, turn_begin);
	ev_set_priority(&srv.turn_begin, EV_MAXPRI);
	ev_check_start(srv.loop, &srv.turn_begin);
	ev_prepare_init(&srv.turn_end, turn_end);
	ev_set_priority(&srv.turn_end, EV_MINPRI);
	ev_prepare_start(srv.loop, &srv.turn_end);
	ev_idle_init(&srv.fanout_idle, fanout_idle);
	pipeline_start(srv.loop);
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = foreign;
	info.protocols = protocols;
	info.pt_serv_buf_size = 32 * 1024;
	info.max_http_header_data = RELAY_HEAD_MAX;
	if ((srv.ctx = lws_create_context(&info)) == NULL) {
		log_error("relay msg=\"cannot create the lws context\"");
		return -1;
	}
	if (vhost("plain", c->listen, 0) < 0 ||
	    (c->tls_listen && vhost("tls", c->tls_listen, 1) < 0))
		return -1;
	accept_guard_start();
	lws_sul_schedule(srv.ctx, 0, &srv.tick, tick, TICK_US);
	if (cluster_start(srv.loop, c) < 0)	/* cluster hook */
		return -1;
	httpd_listening(1);
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
	httpd_listening(0);
	log_info("relay stopping connections=%d", srv.r->nconns);
	/* 4100: pusher-js backs off before reconnecting
	 * (docs/pusher-protocol.md), so a restart is not met by every client
	 * at the same instant. */
	TAILQ_FOREACH(c, &srv.r->conns, entry)
		conn_close(c, CLOSE_RECONNECT_LATER, "server shutting down");
	ws_flush_pending(srv.r, 0);
	srv.stop = 0;
	while (srv.r->nconns > 0 && clock_mono_ms() < deadline && !srv.stop)
		ev_run(srv.loop, EVRUN_ONCE);
	cluster_stop();		/* cluster hook */
	lws_sul_cancel(&srv.tick);
	accept_guard_stop();
	ev_check_stop(srv.loop, &srv.flush);
	ev_check_stop(srv.loop, &srv.turn_begin);
	ev_prepare_stop(srv.loop, &srv.turn_end);
	ev_idle_stop(srv.loop, &srv.fanout_idle);
	lws_context_destroy(srv.ctx);
	srv.ctx = NULL;
	pipeline_stop();
	ev_loop_destroy(srv.loop);
	srv.loop = NULL;
}
