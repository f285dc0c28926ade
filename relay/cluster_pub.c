/*
 * Scale-out over Redis: the publish path and delivery (docs/scaleout.md,
 * "Publish and order per channel"). A publish is one EVALSHA that bumps the
 * channel's sequence and PUBLISHes the event; every node, the origin
 * included, delivers what comes back on its pub/sub connection, which
 * SUBSCRIBEs each channel while the node has local subscribers. Each
 * channel's sequence state lives here; cluster_sync.c syncs it after every
 * SUBSCRIBE ack and watches the connection ("Gaps").
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_sync.h"
#include "config.h"
#include "hmap.h"
#include "http.h"
#include "log.h"

#define LINGER_MS 5000		/* UNSUBSCRIBE this long after the last */
#define SWEEP_EVERY 1.0
#define RETRY_AFTER 0.5
#define DEADLINE_MS 250		/* a client waits no longer on Redis */

/* ARGV[2] 1: a cache channel's event, kept as published in P:{a:c}:k for
 * ARGV[3] ms (cluster_cache.c replays it). */
static const char script[] = CSEQ_LUA
    "local msg=seqhead(KEYS[1])..' '..ARGV[1] redis.call('PUBLISH',KEYS[2],"
    "msg) if ARGV[2]=='1' then redis.call('SET',string.sub(KEYS[1],1,-2).."
    "'k',msg,'PX',ARGV[3]) end return 1";

/* A channel this node wants on its pub/sub connection. */
struct topic {
	struct hnode node;
	char *key;		/* "<app id>:<channel>" */
	size_t applen;
	int subscribed;		/* SUBSCRIBE sent on the current connection */
	int acked;		/* and Redis acknowledged it */
	int64_t idle_since;	/* ms since the channel has been empty, or 0 */
	struct cseq seq;	/* what came in (cluster_seq.c) */
};

/* The publishes of one HTTP API request. */
struct pubwait {
	uint64_t req;		/* the parked http_req, 0 once answered */
	int pending;
	int failed;
};

/* One EVALSHA in flight, kept for a retry as EVAL after NOSCRIPT. */
struct pubcmd {
	struct pubwait *w;
	char *k1, *k2, *msg;
	size_t msglen;
	int eval, cache;	/* cache: keep it as the channel's last */
};

static struct {
	struct ev_loop *loop;
	redisAsyncContext *sub;
	int sub_up;
	ev_timer retry, sweep;
	struct hmap topics;
	char prefix[40];
	char node[80];
	char sha[48];		/* of script, once SCRIPT LOAD answered */
	const void *sha_ac;	/* the command connection it was loaded on */
	struct pubwait *cur;	/* the HTTP request being handled */
	int in_api;		/* between cluster_api_begin and _end */
	int on, stopping;
} cp;

static void	sub_connect(void);
static void	sub_drop(void);
static void	sweep(void);

static void
sub_send(struct topic *t, const char *cmd)
{
	char name[300];
	int n = snprintf(name, sizeof(name), "%s:c:%s", cp.prefix, t->key);

	if (cp.sub == NULL || n < 0 || (size_t)n >= sizeof(name))
		return;
	redisAsyncCommand(cp.sub, NULL, NULL, "%s %b", cmd, name, (size_t)n);
}

static void
on_message(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;

	(void)ac;
	(void)priv;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return;
	cluster_sync_rx();
	if (strcmp(r->element[0]->str, "subscribe") == 0 &&
	    r->element[1]->len > strlen(cp.prefix) + 3) {
		const char *key = r->element[1]->str + strlen(cp.prefix) + 3;
		struct hnode *n = hmap_get(&cp.topics, key, strlen(key));

		if (n) {
			struct topic *t = hmap_entry(n, struct topic, node);

			t->acked = 1;
			cluster_sync_topic(t->key, t->applen, &t->seq);
		}
		cluster_presence_acked(key);
		cluster_hold_acked(key);
		cluster_cache_acked(key);
		return;
	}
	if (strcmp(r->element[0]->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	cluster_deliver(r->element[2]->str, r->element[2]->len);
}

static void
subscribe(struct topic *t)
{
	char name[300];
	int n = snprintf(name, sizeof(name), "%s:c:%s", cp.prefix, t->key);

	if (!cp.sub_up || t->subscribed || n < 0 || (size_t)n >= sizeof(name))
		return;
	redisAsyncCommand(cp.sub, on_message, NULL, "SUBSCRIBE %b", name,
	    (size_t)n);
	t->subscribed = 1;
}

void
cluster_channel_used(struct app *a, const char *name)
{
	char key[300];
	struct channel *ch;
	struct topic *t;
	struct hnode *n;
	int len;

	if (!cp.on)
		return;
	len = snprintf(key, sizeof(key), "%s:%s", a->conf->id, name);
	if (len < 0 || (size_t)len >= sizeof(key))
		return;
	if ((n = hmap_get(&cp.topics, key, (size_t)len)) != NULL)
		t = hmap_entry(n, struct topic, node);
	else {
		if ((t = calloc(1, sizeof(*t))) == NULL ||
		    (t->key = strdup(key)) == NULL ||
		    hmap_put(&cp.topics, &t->node, t->key, (size_t)len) < 0) {
			if (t)
				free(t->key);
			free(t);
			return;
		}
		t->applen = strlen(a->conf->id);
	}
	t->idle_since = 0;
	subscribe(t);
	if ((ch = channel_find(a, name)) != NULL)
		cluster_count(a, name, ch->nsubs);
}

static void
sweep(void)
{
	struct relay *r = http_relay();
	struct hnode *n, *nx;
	int64_t now = clock_mono_ms();
	size_t i;

	HMAP_FOREACH_SAFE(&cp.topics, i, n, nx) {
		struct topic *t = hmap_entry(n, struct topic, node);
		struct app *a = r ? relay_app_by_id(r, t->key, t->applen) :
		    NULL;
		struct channel *ch = a ? channel_find(a, t->key + t->applen +
		    1) : NULL;

		if (t->acked)
			cluster_sync_topic(t->key, t->applen, &t->seq);
		if (ch && ch->nsubs > 0) {
			t->idle_since = 0;
			subscribe(t);
			continue;
		}
		if (t->idle_since == 0)
			t->idle_since = now;
		if (now - t->idle_since < LINGER_MS && a)
			continue;
		if (t->subscribed && cp.sub_up)
			sub_send(t, "UNSUBSCRIBE");
		hmap_del(&cp.topics, &t->node);
		free(t->key);
		free(t);
	}
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	if (cp.sub == NULL)
		sub_connect();
	else if (cluster_sync_tick())
		sub_drop();
	cluster_hold_expire();
	sweep();
}

static void
on_sub_connect(const redisAsyncContext *ac, int status)
{
	struct hnode *n, *nx;
	size_t i;

	if (ac != cp.sub)
		return;
	if (status != REDIS_OK) {
		cp.sub = NULL;	/* hiredis frees it */
		ev_timer_again(cp.loop, &cp.retry);
		return;
	}
	cp.sub_up = 1;
	log_info("cluster msg=\"pub/sub connected\"");
	cluster_sync_connected(cp.sub);	/* before any topic */
	cluster_ctl_subscribe(cp.sub);
	HMAP_FOREACH_SAFE(&cp.topics, i, n, nx)
		subscribe(hmap_entry(n, struct topic, node));
}

/* The pub/sub connection is gone: every topic is subscribed again, and
 * synced, on the next one. */
static void
sub_gone(void)
{
	struct hnode *n, *nx;
	size_t i;

	cp.sub = NULL;
	cp.sub_up = 0;
	cluster_sync_lost();
	HMAP_FOREACH_SAFE(&cp.topics, i, n, nx) {
		struct topic *t = hmap_entry(n, struct topic, node);

		t->subscribed = t->acked = 0;
		t->seq.synced = t->seq.out = 0;
	}
	if (!cp.stopping)
		ev_timer_again(cp.loop, &cp.retry);
}

static void
on_sub_disconnect(const redisAsyncContext *ac, int status)
{
	(void)status;
	if (ac != cp.sub)
		return;
	if (cp.sub_up)
		log_warn("cluster msg=\"pub/sub connection lost\"");
	sub_gone();
}

/* The watchdog found the connection half-open or stalled. */
static void
sub_drop(void)
{
	redisAsyncContext *ac = cp.sub;

	sub_gone();
	redisAsyncFree(ac);	/* callbacks see NULL; not ours any more */
}

static void
sub_connect(void)
{
	if (cp.stopping || cp.sub)
		return;
	if ((cp.sub = cluster_new_context()) == NULL)
		return;
	redisAsyncSetConnectCallback(cp.sub, on_sub_connect);
	redisAsyncSetDisconnectCallback(cp.sub, on_sub_disconnect);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	ev_timer_stop(loop, w);
	sub_connect();
}

static void
on_load(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;

	(void)priv;
	if (r && r->type == REDIS_REPLY_STRING && r->len < sizeof(cp.sha)) {
		memcpy(cp.sha, r->str, r->len);
		cp.sha[r->len] = '\0';
		cp.sha_ac = ac;
	}
}

static void
pubcmd_free(struct pubcmd *p)
{
	free(p->k1);
	free(p->k2);
	free(p->msg);
	free(p);
}

static void
wait_answer(struct pubwait *w, int status)
{
	struct http_req *q = w->req ? http_parked(w->req) : NULL;

	w->req = 0;
	if (q == NULL || cp.stopping)
		return;
	if (status == 200) {
		http_reply_resp(q, 200, "application/json");
		return;
	}
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "Cluster unavailable: Redis did not confirm the "
	    "publish; retry");
}

static void	on_pub(redisAsyncContext *ac, void *reply, void *priv);

static int
pub_send(redisAsyncContext *ac, struct pubcmd *p)
{
	if (!p->eval && cp.sha[0] && cp.sha_ac == ac)
		return redisAsyncCommand(ac, on_pub, p, "EVALSHA %s 2 %s %s %b "
		    "%d %d", cp.sha, p->k1, p->k2, p->msg, p->msglen, p->cache,
		    CACHE_TTL_MS);
	p->eval = 1;
	return redisAsyncCommand(ac, on_pub, p, "EVAL %s 2 %s %s %b %d %d",
	    script, p->k1, p->k2, p->msg, p->msglen, p->cache, CACHE_TTL_MS);
}

static void
on_pub(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	struct pubcmd *p = priv;
	struct pubwait *w = p->w;

	if (r && r->type == REDIS_REPLY_ERROR && !p->eval &&
	    strncmp(r->str, "NOSCRIPT", 8) == 0) {
		cp.sha[0] = '\0';
		redisAsyncCommand(ac, on_load, NULL, "SCRIPT LOAD %s", script);
		p->eval = 1;
		if (pub_send(ac, p) == REDIS_OK)
			return;
		r = NULL;
	}
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		if (r)
			log_warn("cluster msg=\"publish refused\" "
			    "reply=\"%.200s\"", r->str);
		if (w)
			w->failed = 1;
	}
	pubcmd_free(p);
	if (w && --w->pending == 0) {
		wait_answer(w, w->failed ? 503 : 200);
		free(w);
	}
}

struct cseq *
cluster_topic_seq(const char *key, size_t len)
{
	struct hnode *n = cp.on ? hmap_get(&cp.topics, key, len) : NULL;

	return n ? &hmap_entry(n, struct topic, node)->seq : NULL;
}

int
cluster_pub_up(void)
{
	return cp.sub_up;
}

int
cluster_on(void)
{
	return cp.on;
}

int
cluster_channel_acked(struct app *a, const char *name)
{
	char key[300];
	struct hnode *n;
	int len = snprintf(key, sizeof(key), "%s:%s", a->conf->id, name);

	if (!cp.on || len < 0 || (size_t)len >= sizeof(key) ||
	    (n = hmap_get(&cp.topics, key, (size_t)len)) == NULL)
		return 0;
	return hmap_entry(n, struct topic, node)->acked;
}

const char *
cluster_prefix(void)
{
	return cp.prefix;
}

const char *
cluster_node(void)
{
	return cp.node;
}

int
cluster_publish(struct app *a, const char *chname, const char *ev,
    const char *data, size_t dlen, const char *except, const char *uid)
{
	redisAsyncContext *ac = cluster_cmd();
	const char *id = a->conf->id;
	struct pubcmd *p;
	struct buf b;

	if (cp.in_api && cp.cur == NULL)
		return -ENOMEM;	/* could not track the request's replies */
	if (ac == NULL || !cp.sub_up) {
		if (cp.cur)
			cp.cur->failed = 1;
		return -EAGAIN;
	}
	if (cp.sha_ac != ac) {
		cp.sha[0] = '\0';
		cp.sha_ac = ac;
		redisAsyncCommand(ac, on_load, NULL, "SCRIPT LOAD %s", script);
	}
	uid = uid ? uid : "";
	buf_init(&b, SIZE_MAX);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    asprintf(&p->k1, "%s:{%s:%s}:m", cp.prefix, id, chname) < 0 ||
	    asprintf(&p->k2, "%s:c:%s:%s", cp.prefix, id, chname) < 0 ||
	    buf_printf(&b, "%s %s %zu:%s%zu:%s%zu:%s%zu:%s", cp.node,
	    except ? except : "-", strlen(id), id, strlen(ev), ev,
	    strlen(chname), chname, strlen(uid), uid) < 0 ||
	    buf_add(&b, data, dlen) < 0) {
		if (p)
			pubcmd_free(p);
		buf_free(&b);
		return -ENOMEM;
	}
	p->cache = cluster_cache_kept(chname, ev);
	p->msg = b.data;	/* the buffer's memory, now p's */
	p->msglen = b.len;
	p->w = cp.cur;
	if (pub_send(ac, p) != REDIS_OK) {
		if (cp.cur)
			cp.cur->failed = 1;
		pubcmd_free(p);
		return -EAGAIN;
	}
	if (cp.cur)
		cp.cur->pending++;
	return 0;
}

void
cluster_api_begin(void)
{
	if (cp.on && cp.cur == NULL) {
		cp.cur = calloc(1, sizeof(*cp.cur));
		cp.in_api = 1;
	}
}

static void
api_due(struct http_req *q)
{
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "Cluster unavailable: Redis did not answer the "
	    "publish in time; retry");
}

int
cluster_api_end(struct http_req *q, int status)
{
	struct pubwait *w = cp.cur;

	cp.cur = NULL;
	cp.in_api = 0;
	if (w == NULL)
		return 0;
	if (w->pending == 0 && !w->failed && status == 200 &&
	    cluster_api_read(q)) {	/* a read answered from Redis */
		free(w);
		return 1;
	}
	if (w->failed || (w->pending && status != 200)) {
		int failed = w->failed;

		if (w->pending == 0)
			free(w);	/* else the last reply frees it */
		if (!failed)
			return 0;
		http_header_add(q, "retry-after:", "1");
		http_error(q, 503, "Cluster unavailable: Redis is not "
		    "connected; retry");
		return 1;
	}
	if (w->pending == 0) {
		free(w);
		return 0;
	}
	w->req = q->id;
	q->status = 0;
	http_park(q, clock_mono_ms() + DEADLINE_MS, api_due);
	return 1;
}

int
cluster_pub_start(struct ev_loop *loop, const struct relay_conf *conf)
{
	char host[64];

	memset(&cp, 0, sizeof(cp));
	if (hmap_init(&cp.topics, 64) < 0)
		return -1;
	cp.loop = loop;
	cp.on = 1;
	snprintf(cp.prefix, sizeof(cp.prefix), "%s",
	    conf->redis_prefix ? conf->redis_prefix : "sno");
	cluster_sync_init();
	if (conf->node_id)
		snprintf(cp.node, sizeof(cp.node), "%s", conf->node_id);
	else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "relay");
		host[sizeof(host) - 1] = '\0';
		snprintf(cp.node, sizeof(cp.node), "%s-%ld", host,
		    (long)getpid());
	}
	ev_timer_init(&cp.retry, retry_cb, 0., RETRY_AFTER);
	ev_timer_init(&cp.sweep, sweep_cb, SWEEP_EVERY, SWEEP_EVERY);
	ev_timer_start(loop, &cp.sweep);
	sub_connect();
	cluster_presence_start(loop);
	return 0;
}

void
cluster_pub_stop(void)
{
	struct hnode *n, *nx;
	size_t i;

	if (!cp.on)
		return;
	cp.stopping = 1;
	cluster_presence_stop();
	cluster_hold_stop();
	ev_timer_stop(cp.loop, &cp.retry);
	ev_timer_stop(cp.loop, &cp.sweep);
	if (cp.sub) {
		redisAsyncContext *ac = cp.sub;

		cp.sub = NULL;
		redisAsyncFree(ac);
	}
	HMAP_FOREACH_SAFE(&cp.topics, i, n, nx) {
		struct topic *t = hmap_entry(n, struct topic, node);

		free(t->key);
		free(t);
	}
	hmap_free(&cp.topics);
	cp.on = 0;
}
