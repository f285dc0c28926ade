/*
 * Scale-out over Redis: cache channels (docs/scaleout.md, "Cache
 * channels"). The publish script keeps a cache channel's last event in
 * P:{a:c}:k, the message as published, for CACHE_TTL_MS (Redis expires
 * it). A new subscriber is replayed that event, or told pusher:cache_miss,
 * through the channel's own pub/sub: once this node's SUBSCRIBE of the
 * channel is acknowledged, the replay script PUBLISHes
 * "r <node> <socket> <n>:<app><n>:<channel><last message>" there, so the
 * replay reaches the node in order with the channel's events. The sub gets
 * no event until it came: what Redis ordered before the replay is at most
 * as new as the replayed event, what comes after is delivered as usual.
 * While Redis is away, or after WAIT_MS without the replay, the sub gets
 * the node's own last event of the channel (or cache_miss) instead.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_lua.h"
#include "http.h"
#include "log.h"
#include "pusher.h"

#define HOLD (UINT64_MAX - 1)	/* sub->from_seq while the replay is out */
#define WAIT_MS 3000		/* for the SUBSCRIBE ack and the replay */
#define TICK 0.25

/* One sub waiting for its replay. */
struct replay {
	uint64_t id;
	char sock[32];
	char *app, *chname;
	int sent;		/* the replay script went out */
	int64_t since;
	TAILQ_ENTRY(replay) entry;
};

static struct {
	struct ev_loop *loop;
	ev_timer tick;
	TAILQ_HEAD(, replay) held;
	uint64_t next_id;
	int on;
} cc;

int
cluster_cache_kept(const char *chname, const char *ev)
{
	int kind = channel_kind(chname, strlen(chname));

	/* Member events and client events are not cached (CACHE). */
	return kind >= 0 && (kind & CH_CACHE) &&
	    strncmp(ev, "pusher_internal:", 16) != 0 &&
	    strncmp(ev, "client-", 7) != 0;
}

static struct sub *
replay_sub(const struct replay *rp)
{
	struct relay *r = http_relay();
	struct conn *c = r ? relay_conn_by_socket(r, rp->sock) : NULL;
	struct sub *s;

	if (c == NULL || c->app == NULL || strcmp(c->app->conf->id, rp->app))
		return NULL;
	s = channel_sub_of(c, rp->chname);
	return s && s->from_seq == HOLD ? s : NULL;
}

static void
replay_free(struct replay *rp)
{
	TAILQ_REMOVE(&cc.held, rp, entry);
	free(rp->app);
	free(rp->chname);
	free(rp);
}

/* Ends rp: its sub (if still held) gets m, or the local replay when
 * local is set; events flow to it from now on. */
static void
release(struct replay *rp, struct msg *m, int local)
{
	struct sub *s = replay_sub(rp);

	if (s) {
		s->from_seq = s->ch->seq + 1;
		pusher_cache_send(s->conn, s->ch->name, local ?
		    channel_cache_get(s->ch) : m);
	}
	replay_free(rp);
}

static void
on_script(struct redisReply *rep, void *priv)
{
	uint64_t id = *(uint64_t *)priv;
	struct replay *rp;

	free(priv);
	if (rep != NULL && rep->type != REDIS_REPLY_ERROR)
		return;		/* the replay comes on pub/sub */
	log_warn("cluster msg=\"cache replay refused\" reply=\"%.200s\"",
	    rep ? rep->str : "connection lost");
	TAILQ_FOREACH(rp, &cc.held, entry)
		if (rp->id == id) {
			release(rp, NULL, 1);
			return;
		}
}

static int
script_send(struct replay *rp)
{
	const char *args[5];
	uint64_t *id = malloc(sizeof(*id));

	if (id == NULL)
		return -ENOMEM;
	*id = rp->id;
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = rp->app;
	args[3] = rp->chname;
	args[4] = rp->sock;
	if (lua_run(cluster_cmd(), LUA_REPLAY, 5, args, on_script, id) < 0) {
		free(id);
		return -EAGAIN;
	}
	rp->sent = 1;
	return 0;
}

int
cluster_cache_replay(struct sub *s)
{
	struct replay *rp;

	if (!cc.on || cluster_cmd() == NULL || !cluster_ready())
		return -EAGAIN;
	if ((rp = calloc(1, sizeof(*rp))) == NULL ||
	    (rp->app = strdup(s->ch->app->conf->id)) == NULL ||
	    (rp->chname = strdup(s->ch->name)) == NULL) {
		if (rp)
			free(rp->app);
		free(rp);
		return -ENOMEM;
	}
	rp->id = ++cc.next_id;
	snprintf(rp->sock, sizeof(rp->sock), "%s", s->conn->socket_id);
	rp->since = clock_mono_ms();
	TAILQ_INSERT_TAIL(&cc.held, rp, entry);
	s->from_seq = HOLD;	/* no event before the replay */
	if (cluster_channel_acked(s->ch->app, s->ch->name) &&
	    script_send(rp) < 0) {
		s->from_seq = s->ch->seq + 1;
		replay_free(rp);
		return -EAGAIN;
	}
	return 0;
}

void
cluster_cache_acked(const char *key)
{
	struct replay *rp, *nx;
	size_t al;

	for (rp = TAILQ_FIRST(&cc.held); rp; rp = nx) {
		nx = TAILQ_NEXT(rp, entry);
		al = strlen(rp->app);
		if (rp->sent || strncmp(key, rp->app, al) != 0 ||
		    key[al] != ':' || strcmp(key + al + 1, rp->chname) != 0)
			continue;
		if (script_send(rp) < 0)
			release(rp, NULL, 1);
	}
}

/* A kept message "<seq> <epoch> <origin> <except> <n>:<app><n>:<event>
 * <n>:<channel><n>:<uid><data>" (cluster_pub.c's): its fields, and its
 * data, which runs to end; NULL when it is not one. */
struct kept {
	char app[256], ev[CHANNEL_NAME_MAX + 1];
	char chname[CHANNEL_NAME_MAX + 1], uid[PRESENCE_MAX_ID + 1];
};

static const char *
kept_parse(const char *p, const char *end, struct kept *k)
{
	const char *sp;

	for (int i = 0; i < 4; i++) {
		if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
			return NULL;
		p = sp + 1;
	}
	if ((p = cluster_field(p, end, k->app, sizeof(k->app))) == NULL ||
	    (p = cluster_field(p, end, k->ev, sizeof(k->ev))) == NULL ||
	    (p = cluster_field(p, end, k->chname, sizeof(k->chname))) ==
	    NULL || (p = cluster_field(p, end, k->uid, sizeof(k->uid))) == NULL)
		return NULL;
	return p;
}

static struct msg *
kept_frame(const char *p, const char *end)
{
	struct kept k;

	if ((p = kept_parse(p, end, &k)) == NULL)
		return NULL;
	return relay_frame(k.ev, k.chname, p, (size_t)(end - p), 0,
	    k.uid[0] ? k.uid : NULL);
}

const char *
cluster_cache_data(const char *p, size_t len, size_t *dlen)
{
	struct kept k;
	const char *d = kept_parse(p, p + len, &k);

	*dlen = d ? (size_t)(p + len - d) : 0;
	return d;
}

int
cluster_cache_replayed(const char *p, size_t len)
{
	const char *end = p + len, *node, *sock, *sp;
	char app[256], chname[CHANNEL_NAME_MAX + 1];
	struct replay *rp;
	struct msg *m = NULL;
	size_t nlen, slen;

	if (len < 2 || p[0] != 'r' || p[1] != ' ')
		return 0;
	node = p + 2;
	if ((sp = memchr(node, ' ', (size_t)(end - node))) == NULL)
		goto bad;
	nlen = (size_t)(sp - node);
	sock = sp + 1;
	if ((sp = memchr(sock, ' ', (size_t)(end - sock))) == NULL)
		goto bad;
	slen = (size_t)(sp - sock);
	if ((p = cluster_field(sp + 1, end, app, sizeof(app))) == NULL ||
	    (p = cluster_field(p, end, chname, sizeof(chname))) == NULL)
		goto bad;
	if (nlen != strlen(cluster_node()) ||
	    memcmp(node, cluster_node(), nlen) != 0)
		return 1;	/* another node's subscriber */
	TAILQ_FOREACH(rp, &cc.held, entry)
		if (strlen(rp->sock) == slen && memcmp(rp->sock, sock,
		    slen) == 0 && strcmp(rp->app, app) == 0 &&
		    strcmp(rp->chname, chname) == 0)
			break;
	if (rp == NULL)
		return 1;	/* released at the deadline */
	if (p < end && (m = kept_frame(p, end)) == NULL) {
		log_warn("cluster msg=\"bad cache entry\" channel=\"%.200s\"",
		    chname);
		release(rp, NULL, 1);
		return 1;
	}
	release(rp, m, 0);
	msg_unref(m);
	return 1;
bad:
	log_warn("cluster msg=\"bad cache replay\" len=%zu", len);
	return 1;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct replay *rp, *nx;
	int64_t now = clock_mono_ms();

	(void)loop;
	(void)w;
	(void)revents;
	for (rp = TAILQ_FIRST(&cc.held); rp; rp = nx) {
		nx = TAILQ_NEXT(rp, entry);
		if (now - rp->since < WAIT_MS)
			continue;
		log_info("cluster msg=\"cache replay late, sent from this "
		    "node\" channel=\"%.200s\"", rp->chname);
		release(rp, NULL, 1);
	}
}

void
cluster_cache_start(struct ev_loop *loop)
{
	memset(&cc, 0, sizeof(cc));
	cc.loop = loop;
	cc.on = 1;
	TAILQ_INIT(&cc.held);
	ev_timer_init(&cc.tick, tick_cb, TICK, TICK);
	ev_timer_start(loop, &cc.tick);
}

void
cluster_cache_stop(void)
{
	if (!cc.on)
		return;
	ev_timer_stop(cc.loop, &cc.tick);
	while (!TAILQ_EMPTY(&cc.held))
		replay_free(TAILQ_FIRST(&cc.held));
	cc.on = 0;
}
