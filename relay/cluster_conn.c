/*
 * Scale-out over Redis: the node's command connection, hiredis async on
 * the relay's libev loop (docs/scaleout.md, "Connections"). It reconnects
 * with back-off and a PING watchdog marks it down when Redis stops
 * answering; cluster_ready() feeds GET /readyz.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libev.h>

#include "cluster.h"
#include "config.h"
#include "log.h"

#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 2.0
#define PING_EVERY 1.0
#define PING_MISSES 3

static struct {
	struct ev_loop *loop;
	redisAsyncContext *ac;
	ev_timer retry;		/* reconnect after back-off */
	ev_timer ping;		/* watchdog */
	char host[256];
	int port;
	int db;
	char password[256];
	double backoff;
	int on;			/* clustering configured */
	int up;			/* connected and answering */
	int pending;		/* PINGs without a reply */
	int stopping;
} cl;

static void	connect_now(void);

static int
parse_url(const char *url)
{
	const char *h = url + 8, *at, *e;
	size_t n;

	cl.port = 6379;
	cl.db = 0;
	cl.password[0] = '\0';
	if ((at = strrchr(h, '@')) != NULL) {
		const char *pw = h;

		if (*pw == ':')
			pw++;
		n = (size_t)(at - pw);
		if (n >= sizeof(cl.password))
			return -1;
		memcpy(cl.password, pw, n);
		cl.password[n] = '\0';
		h = at + 1;
	}
	e = h + strcspn(h, ":/");
	n = (size_t)(e - h);
	if (n == 0 || n >= sizeof(cl.host))
		return -1;
	memcpy(cl.host, h, n);
	cl.host[n] = '\0';
	if (*e == ':') {
		char *end;

		cl.port = (int)strtol(e + 1, &end, 10);
		e = end;
	}
	if (*e == '/' && e[1])
		cl.db = (int)strtol(e + 1, NULL, 10);
	return 0;
}

static void
schedule_retry(void)
{
	if (cl.stopping)
		return;
	ev_timer_stop(cl.loop, &cl.retry);
	ev_timer_set(&cl.retry, cl.backoff * (0.8 + 0.4 * drand48()), 0.);
	ev_timer_start(cl.loop, &cl.retry);
	cl.backoff *= 2;
	if (cl.backoff > BACKOFF_MAX)
		cl.backoff = BACKOFF_MAX;
}

static void
went_down(const char *why)
{
	if (cl.up)
		log_warn("cluster msg=\"redis connection lost\" reason=\"%s\"",
		    why);
	cl.up = 0;
	cl.pending = 0;
}

static void
on_ping(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;

	(void)priv;
	if (ac != cl.ac || r == NULL)
		return;
	cl.pending = 0;
	if (r->type == REDIS_REPLY_ERROR) {
		/* AUTH or SELECT refused: say so, stay not-ready */
		if (cl.up)
			log_warn("cluster msg=\"redis refused\" "
			    "reply=\"%.200s\"", r->str);
		cl.up = 0;
		return;
	}
	if (!cl.up)
		log_info("cluster msg=\"redis connected\" host=%s port=%d "
		    "node=%s", cl.host, cl.port, cluster_node());
	cl.up = 1;
	cl.backoff = BACKOFF_MIN;
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
	if (ac != cl.ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		log_debug("cluster msg=\"redis connect failed\" err=\"%s\"",
		    ac->errstr);
		cl.ac = NULL;
		went_down("connect failed");
		schedule_retry();
		return;
	}
	if (cl.password[0])
		redisAsyncCommand(cl.ac, NULL, NULL, "AUTH %s", cl.password);
	if (cl.db)
		redisAsyncCommand(cl.ac, NULL, NULL, "SELECT %d", cl.db);
	cl.pending = 1;
	redisAsyncCommand(cl.ac, on_ping, NULL, "PING");
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	if (ac != cl.ac)
		return;
	cl.ac = NULL;
	went_down(ac->errstr[0] ? ac->errstr : "closed");
	schedule_retry();
}

static void
connect_now(void)
{
	redisAsyncContext *ac;

	if ((ac = redisAsyncConnect(cl.host, cl.port)) == NULL) {
		schedule_retry();
		return;
	}
	if (ac->err) {
		log_debug("cluster msg=\"redis connect failed\" err=\"%s\"",
		    ac->errstr);
		redisAsyncFree(ac);
		schedule_retry();
		return;
	}
	cl.ac = ac;
	redisLibevAttach(cl.loop, ac);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (cl.ac == NULL && !cl.stopping)
		connect_now();
}

static void
ping_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (cl.ac == NULL || !(cl.ac->c.flags & REDIS_CONNECTED))
		return;
	if (cl.pending >= PING_MISSES) {
		/* half-open or stalled: drop it, the disconnect retries */
		went_down("no reply to PING");
		redisAsyncDisconnect(cl.ac);
		return;
	}
	cl.pending++;
	redisAsyncCommand(cl.ac, on_ping, NULL, "PING");
}

int
cluster_start(struct ev_loop *loop, const struct relay_conf *conf)
{
	if (conf->redis == NULL)
		return 0;
	memset(&cl, 0, sizeof(cl));
	if (parse_url(conf->redis) < 0) {
		log_error("cluster msg=\"bad redis url\"");
		return -1;
	}
	cl.loop = loop;
	cl.on = 1;
	cl.backoff = BACKOFF_MIN;
	srand48((long)ev_time() ^ (long)getpid());
	ev_timer_init(&cl.retry, retry_cb, 0., 0.);
	ev_timer_init(&cl.ping, ping_cb, PING_EVERY, PING_EVERY);
	ev_timer_start(loop, &cl.ping);
	connect_now();
	cluster_cache_start(loop);
	return cluster_pub_start(loop, conf);
}

void
cluster_stop(void)
{
	if (!cl.on)
		return;
	cl.stopping = 1;
	cluster_pub_stop();
	cluster_cache_stop();
	ev_timer_stop(cl.loop, &cl.retry);
	ev_timer_stop(cl.loop, &cl.ping);
	if (cl.ac) {
		redisAsyncContext *ac = cl.ac;

		cl.ac = NULL;
		redisAsyncFree(ac);
	}
	cl.up = 0;
	cl.on = 0;
}

int
cluster_ready(void)
{
	return !cl.on || (cl.up && cluster_pub_up() && cluster_presence_up());
}

redisAsyncContext *
cluster_cmd(void)
{
	return cl.on && cl.up && cl.ac ? cl.ac : NULL;
}

redisContext *
cluster_sync_context(void)
{
	struct timeval tv = { 0, 250000 };
	redisContext *c = redisConnectWithTimeout(cl.host, cl.port, tv);
	redisReply *r;

	if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK)
		goto fail;
	if (cl.password[0]) {
		if ((r = redisCommand(c, "AUTH %s", cl.password)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	if (cl.db) {
		if ((r = redisCommand(c, "SELECT %d", cl.db)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	return c;
fail:
	if (c)
		redisFree(c);
	return NULL;
}

redisAsyncContext *
cluster_new_context(void)
{
	redisAsyncContext *ac;

	if ((ac = redisAsyncConnect(cl.host, cl.port)) == NULL)
		return NULL;
	if (ac->err) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisLibevAttach(cl.loop, ac);
	if (cl.password[0])
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", cl.password);
	return ac;
}
