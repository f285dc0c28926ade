/*
 * Scale-out over Redis: presence across nodes and the node's lease
 * (docs/scaleout.md, "Presence" and "Leases"). A presence subscribe is
 * decided by the join script: one member per user cluster-wide, the
 * 100-member limit, member_added published once through the channel's
 * pub/sub; the local sub gets no event until the script answered. Every
 * second the lease script refreshes this incarnation and reaps expired
 * ones; a lease found gone (the node was paused, or Redis lost it) means
 * a new incarnation and every local presence socket joined again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_lua.h"
#include "cluster_webhook.h"
#include "http.h"
#include "log.h"
#include "pusher.h"
#include "webhook.h"

#define LEASE_EVERY 1.0
#define LEASE_TTL "5000"	/* ms */
#define PENDING UINT64_MAX	/* sub->from_seq while the join is out */
#define ACK_WAIT_MS 3000	/* for the SUBSCRIBE ack before a join */

/* One join in flight: what finds the sub again when the reply comes. */
struct join {
	char sock[32];
	char *app;
	char *chname;
	int held;		/* the sub waits for it (on pr.held) */
	int64_t deferred;	/* ms since it waits for the SUBSCRIBE ack */
	int tries;		/* member reads again */
	long long seen;		/* the newest sequence dropped meanwhile */
	TAILQ_ENTRY(join) entry;
};

static struct {
	struct ev_loop *loop;
	ev_timer lease;
	const void *loaded;	/* the cmd connection the scripts went to */
	char inc[33];		/* this incarnation, hex */
	char prev[33];		/* the one before, to give up ("" none) */
	int registered;		/* the lease of inc is known to Redis */
	int inflight;		/* a lease script is out */
	int resync;		/* a leave could not be sent: new incarnation */
	int on;
	TAILQ_HEAD(, join) held;	/* joins a sub waits for */
} pr;

static void	lease_now(void);
static void	lease_lost(void);

static void
new_incarnation(void)
{
	unsigned char b[16];

	/* A resync leaves the old incarnation's lease running: the next
	 * lease script expires it at once, so its counts and members do not
	 * stand beside the new one's until the ttl runs out. */
	if (pr.registered)
		memcpy(pr.prev, pr.inc, sizeof(pr.prev));
	randombytes_buf(b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(pr.inc + 2 * i, 3, "%02x", b[i]);
	pr.registered = 0;
}

static void
join_free(struct join *j)
{
	if (j->held)
		TAILQ_REMOVE(&pr.held, j, entry);
	free(j->app);
	free(j->chname);
	free(j);
}

static struct sub *
join_sub(const struct join *j)
{
	struct relay *r = http_relay();
	struct conn *c = r ? relay_conn_by_socket(r, j->sock) : NULL;

	if (c == NULL || c->app == NULL || strcmp(c->app->conf->id, j->app))
		return NULL;
	return channel_sub_of(c, j->chname);
}

/* {"presence":{"ids":[..],"hash":{..},"count":n}} from {user, info, ..} */
static int
members_json(const redisReply *m, struct buf *b)
{
	size_t i;
	int e;

	e = buf_adds(b, "{\"presence\":{\"ids\":[");
	for (i = 0; i + 1 < m->elements; i += 2) {
		if (i)
			e |= buf_add(b, ",", 1);
		e |= buf_add_json_string(b, m->element[i]->str);
	}
	e |= buf_adds(b, "],\"hash\":{");
	for (i = 0; i + 1 < m->elements; i += 2) {
		const redisReply *v = m->element[i + 1];

		if (i)
			e |= buf_add(b, ",", 1);
		e |= buf_add_json_string(b, m->element[i]->str);
		e |= buf_add(b, ":", 1);
		e |= buf_adds(b, v->len ? v->str : "null");
	}
	e |= buf_printf(b, "},\"count\":%zu}}", m->elements / 2);
	return e ? -1 : 0;
}

static void
refuse(struct sub *s, const char *type, int status, const char *why)
{
	struct conn *c = s->conn;
	char name[CHANNEL_NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s", s->ch->name);
	channel_unsubscribe(s);
	pusher_subscription_error(c, name, type, status, why);
}

static void	held_answer(struct join *j, const redisReply *rep);

static void
on_members(redisReply *rep, void *priv)
{
	struct join *j = priv;
	struct sub *s = join_sub(j);

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		if (s && s->from_seq == PENDING)
			refuse(s, "ClusterUnavailable", 503, "Cluster "
			    "unavailable: Redis did not answer; retry");
		join_free(j);
		return;
	}
	held_answer(j, rep);
}

/*
 * rep ({_, members, last sequence}) answers the held sub, unless a member
 * event newer than the members it lists came (and was dropped for the
 * sub) before it: then the members are read again, a few times at most.
 */
static void
held_answer(struct join *j, const redisReply *rep)
{
	struct sub *s = join_sub(j);
	const redisReply *m;
	const char *args[5];
	long long o;
	struct buf b;

	if (s == NULL || s->from_seq != PENDING || rep->elements < 2 ||
	    (m = rep->element[1])->type != REDIS_REPLY_ARRAY) {
		join_free(j);
		return;
	}
	o = rep->elements > 2 && rep->element[2]->type ==
	    REDIS_REPLY_INTEGER ? rep->element[2]->integer : 0;
	if (j->seen > o && j->tries++ < 3) {
		log_debug("cluster msg=\"presence members read again\" "
		    "seq=%lld seen=%lld", o, j->seen);
		args[0] = cluster_prefix();
		args[1] = cluster_node();
		args[2] = j->app;
		args[3] = "members";
		args[4] = j->chname;
		if (lua_run(cluster_cmd(), LUA_READ, 5, args, on_members,
		    j) == 0)
			return;
	}
	s->from_seq = s->ch->seq + 1;
	buf_init(&b, 1 << 20);
	if (members_json(m, &b) == 0)
		pusher_subscribed(s->conn, s, b.data);
	buf_free(&b);
	join_free(j);
}

void
cluster_presence_seen(struct app *a, const char *chname, long long seq)
{
	struct join *j;

	TAILQ_FOREACH(j, &pr.held, entry)
		if (seq > j->seen && strcmp(j->chname, chname) == 0 &&
		    strcmp(j->app, a->conf->id) == 0)
			j->seen = seq;
}

static void
on_join(redisReply *rep, void *priv)
{
	struct join *j = priv;
	struct sub *s = join_sub(j);
	long long st;

	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"presence join refused\" "
			    "reply=\"%.200s\"", rep->str);
		if (rep == NULL)	/* it may or may not have run */
			pr.resync = 1;
		if (s && s->from_seq == PENDING)
			refuse(s, "ClusterUnavailable", 503, "Cluster "
			    "unavailable: Redis did not answer; retry");
		goto out;
	}
	st = rep->element[0]->integer;
	if (st == -1) {
		lease_lost();	/* re-registering joins s again */
		goto out;
	}
	if (st == -2) {
		if (s && s->from_seq == PENDING)
			refuse(s, "LimitReached", 403,
			    "Presence channel is full (100 members)");
		goto out;
	}
	if (st == 1 && s)	/* 2: its member_removed was still held */
		webhook_event_now(s->ch->app, "member_added", s->ch->name,
		    s->member->user_id);
	held_answer(j, rep);
	return;
out:
	join_free(j);
}

static int
join_send(struct sub *s)
{
	const char *args[10];
	char limit[16];
	struct join *j;
	struct conn *c = s->conn;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->app = strdup(c->app->conf->id)) == NULL ||
	    (j->chname = strdup(s->ch->name)) == NULL) {
		if (j)
			join_free(j);
		return -ENOMEM;
	}
	snprintf(j->sock, sizeof(j->sock), "%s", c->socket_id);
	if ((j->held = s->from_seq == PENDING))
		TAILQ_INSERT_TAIL(&pr.held, j, entry);
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = j->app;
	args[3] = j->chname;
	args[4] = pr.inc;
	args[5] = c->socket_id;
	args[6] = s->member->user_id;
	args[7] = s->member->user_info ? s->member->user_info : "";
	snprintf(limit, sizeof(limit), "%d", PRESENCE_MAX_MEMBERS);
	args[8] = limit;
	/* a socket joining again (new incarnation) hears itself come back
	 * after the reaper's member_removed; a new one does not */
	args[9] = s->from_seq == PENDING ? c->socket_id : "-";
	if (lua_run(cluster_cmd(), LUA_JOIN, 10, args, on_join, j) < 0) {
		join_free(j);
		return -EAGAIN;
	}
	return 0;
}

int
cluster_presence_up(void)
{
	return pr.registered;
}

void
cluster_presence_resync(void)
{
	pr.resync = 1;
}

const char *
cluster_incarnation(void)
{
	return pr.on && pr.registered ? pr.inc : NULL;
}

/*
 * The join runs only once this node's SUBSCRIBE of the channel was
 * acknowledged: then every member event after the join's sequence reaches
 * the node (docs/scaleout.md, "SUBSCRIBE per channel").
 */
int
cluster_presence_join(struct sub *s)
{
	struct join *j;

	if (cluster_cmd() == NULL || !cluster_ready())
		return -EAGAIN;
	s->from_seq = PENDING;	/* no event before subscription_succeeded */
	if (cluster_channel_acked(s->ch->app, s->ch->name))
		return join_send(s);
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->app = strdup(s->conn->app->conf->id)) == NULL ||
	    (j->chname = strdup(s->ch->name)) == NULL) {
		if (j)
			join_free(j);
		return -ENOMEM;
	}
	snprintf(j->sock, sizeof(j->sock), "%s", s->conn->socket_id);
	j->held = 1;
	j->deferred = clock_mono_ms();
	TAILQ_INSERT_TAIL(&pr.held, j, entry);
	return 0;
}

/* Sends the joins that waited for key's ack, or refuses them at the
 * deadline (key NULL: only those). */
static void
deferred_go(const char *key, int64_t now)
{
	struct join *j, *nx;
	struct sub *s;
	size_t al;

	for (j = TAILQ_FIRST(&pr.held); j; j = nx) {
		nx = TAILQ_NEXT(j, entry);
		al = strlen(j->app);
		if (!j->deferred || (key == NULL ? now - j->deferred <
		    ACK_WAIT_MS : strncmp(key, j->app, al) != 0 ||
		    key[al] != ':' || strcmp(key + al + 1, j->chname) != 0))
			continue;
		s = join_sub(j);
		join_free(j);
		if (s == NULL || s->from_seq != PENDING)
			continue;
		if (key == NULL || join_send(s) < 0)
			refuse(s, "ClusterUnavailable", 503, "Cluster "
			    "unavailable: Redis did not answer; retry");
	}
}

void
cluster_presence_acked(const char *key)
{
	if (pr.on)
		deferred_go(key, 0);
}

static void
on_leave(redisReply *rep, void *priv)
{
	(void)priv;
	if (rep == NULL)
		pr.resync = 1;	/* it may or may not have run */
	if (rep && rep->type == REDIS_REPLY_STRING)	/* removed: held */
		cluster_webhook_soon(CLUSTER_HOOK_HOLD_MS);
}

static void
on_count(redisReply *rep, void *priv)
{
	char *key = priv;	/* "<app>\n<channel>" */
	char *nl = strchr(key, '\n');
	struct relay *r = http_relay();
	struct app *a;

	if (rep == NULL)
		pr.resync = 1;	/* it may or may not have run */
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == -1)
		lease_lost();
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 &&
	    r && nl && (a = relay_app_by_id(r, key, (size_t)(nl - key))))
		webhook_event_now(a, "channel_occupied", nl + 1, NULL);
	if (rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 2)
		cluster_webhook_soon(CLUSTER_HOOK_HOLD_MS);	/* vacated */
	free(key);
}

void
cluster_count(struct app *a, const char *chname, int n)
{
	const char *args[6];
	char num[16], *key;

	if (!pr.on || !pr.registered)
		return;		/* registering sends every count */
	if (asprintf(&key, "%s\n%s", a->conf->id, chname) < 0) {
		pr.resync = 1;
		return;
	}
	snprintf(num, sizeof(num), "%d", n);
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = a->conf->id;
	args[3] = chname;
	args[4] = pr.inc;
	args[5] = num;
	if (cluster_cmd() == NULL ||
	    lua_run(cluster_cmd(), LUA_COUNT, 6, args, on_count, key) < 0) {
		free(key);
		pr.resync = 1;
	}
}

void
cluster_unsubscribed(struct app *a, const char *chname, const char *sock,
    int n)
{
	const char *args[5];

	if (!pr.on)
		return;
	cluster_count(a, chname, n);
	if (sock == NULL)
		return;
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = a->conf->id;
	args[3] = chname;
	args[4] = sock;
	if (cluster_cmd() == NULL ||
	    lua_run(cluster_cmd(), LUA_LEAVE, 5, args, on_leave, NULL) < 0) {
		/* it stays in Redis under this incarnation: a new one
		 * re-joins the sockets still here, the old one is reaped */
		pr.resync = 1;
	}
}

/* Joins every local presence sub under the current incarnation. */
static void
rejoin_all(void)
{
	struct relay *r = http_relay();
	struct hnode *n, *nx;
	struct sub *s;
	size_t i;
	int k, sent = 0;

	if (r == NULL)
		return;
	cluster_online_rejoin(pr.inc);
	for (k = 0; k < r->napps; k++) {
		HMAP_FOREACH_SAFE(&r->apps[k]->channels, i, n, nx) {
			struct channel *ch = hmap_entry(n, struct channel,
			    node);

			if (ch->nsubs > 0)
				cluster_count(r->apps[k], ch->name, ch->nsubs);
			if (!(ch->kind & CH_PRESENCE))
				continue;
			TAILQ_FOREACH(s, &ch->subs, ch_entry)
				if (join_send(s) == 0)
					sent++;
		}
	}
	if (sent)
		log_info("cluster msg=\"presence registered\" inc=%s "
		    "sockets=%d", pr.inc, sent);
}

static void
on_lease(redisReply *rep, void *priv)
{
	struct relay *r = http_relay();
	const redisReply *out;
	size_t i;

	(void)priv;
	pr.inflight = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements < 1 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"lease refused\" "
			    "reply=\"%.200s\"", rep->str);
		return;
	}
	if (rep->element[0]->integer == -1) {
		pr.registered = 1;	/* so that lease_lost acts */
		lease_lost();
		return;
	}
	pr.prev[0] = '\0';	/* given up in that script */
	if (!pr.registered) {
		pr.registered = 1;
		rejoin_all();
	}
	if (rep->elements < 2 || (out = rep->element[1])->type !=
	    REDIS_REPLY_ARRAY || r == NULL)
		return;
	for (i = 0; i + 2 < out->elements; i += 3)
		log_info("cluster msg=\"reaped member\" channel=\"%.200s\"",
		    out->element[i + 1]->str);
	if (out->elements > 0)	/* their member_removed held */
		cluster_webhook_soon(CLUSTER_HOOK_HOLD_MS);
}

static void
lease_now(void)
{
	redisAsyncContext *ac = cluster_cmd();
	const char *args[6];

	if (ac == NULL || pr.inflight)
		return;
	if (ac != pr.loaded) {
		lua_load_all(ac);
		pr.loaded = ac;
	}
	if (pr.resync) {
		pr.resync = 0;
		log_info("cluster msg=\"presence resync, new incarnation\"");
		new_incarnation();
	}
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = pr.inc;
	args[3] = pr.registered ? "r" : "g";
	args[4] = LEASE_TTL;
	args[5] = pr.prev[0] ? pr.prev : "-";
	if (lua_run(ac, LUA_LEASE, 6, args, on_lease, NULL) == 0)
		pr.inflight = 1;
}

/* Redis has no lease of this incarnation: register a new one. */
static void
lease_lost(void)
{
	if (!pr.registered)
		return;		/* already on it */
	log_warn("cluster msg=\"lease lost, new incarnation\"");
	new_incarnation();
	lease_now();
}

static void
lease_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	deferred_go(NULL, clock_mono_ms());
	lease_now();
}

void
cluster_presence_start(struct ev_loop *loop)
{
	memset(&pr, 0, sizeof(pr));
	pr.loop = loop;
	pr.on = 1;
	TAILQ_INIT(&pr.held);
	lua_init();
	new_incarnation();
	ev_timer_init(&pr.lease, lease_cb, 0.05, LEASE_EVERY);
	ev_timer_start(loop, &pr.lease);
	cluster_webhook_start(loop);
}

/*
 * Expires this incarnation's lease at once (a blocking call, 250 ms at
 * most), so the next lease script of any node reaps what it still holds
 * instead of waiting out the ttl.
 */
void
cluster_presence_stop(void)
{
	redisContext *c;
	redisReply *r;

	if (!pr.on)
		return;
	ev_timer_stop(pr.loop, &pr.lease);
	cluster_webhook_stop();
	pr.on = 0;
	if (!pr.registered || (c = cluster_sync_context()) == NULL)
		return;
	r = redisCommand(c, "ZADD %s:nodes XX 0 %s", cluster_prefix(), pr.inc);
	freeReplyObject(r);
	redisFree(c);
}
