/*
 * Scale-out over Redis: who watches which host, on any node
 * (docs/scaleout.md "Realtime sessions"). Every CH_POLL_MS each node runs
 * one script that writes, in the hash P:views, one field
 * "<channel>\n<node>" per host or fleet channel it has local subscribers
 * on (a lease of CH_LEASE_MS and the Redis time of its newest
 * subscriber), drops its own fields it no longer holds and any expired
 * one, and returns the other nodes' fields. A host is then occupied while
 * any node watches it; a remote subscriber newer than the last one seen
 * asks for a session, as a local one does (host_session_want), which
 * answers a check-in parked on this node. The grace and cap rules stay
 * host.c's. The same script keeps P:seen, host -> "<last seen ms> <last
 * seq>", so every node's host list says the same (written on news, read
 * once a second). Samples and history: cluster_sample.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
#include "cluster_lua.h"
#include "config.h"
#include "fleet.h"
#include "host.h"
#include "http.h"
#include "log.h"

#define CH_POLL_MS 250		/* who watches what: write and read */
#define CH_LEASE_MS 3000	/* a node's watch outlives it this long */
#define CH_DEADLINE_MS 250	/* a client waits no longer on Redis */
#define CH_FRESH_MAX 64
#define CH_WATCH_MAX 4096	/* channels sent per poll */
#define CH_SEEN_MS 1000		/* read P:seen this often */

/*
 * KEYS P:views, P:seen, P:rows; ARGV node, lease, n, then n
 * channel/fresh pairs, then whether to read P:seen and P:rows ("10",
 * "11"...), then host/"<seen ms> <seq>" pairs this node has news of.
 * Returns {Redis time, the other nodes' watches as channel/newest-
 * subscriber pairs, P:seen or nothing, P:rows or nothing}.
 */
static const char views_lua[] =
    "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) "
    "local me=ARGV[1] local mine={} local j=4+2*tonumber(ARGV[3]) "
    "for i=4,j-1,2 do local f=ARGV[i]..'\\n'..me mine[f]=1 local ls "
    "if ARGV[i+1]=='0' then local o=redis.call('HGET',KEYS[1],f) "
    "if o then ls=string.match(o,' (%d+)$') end end "
    "redis.call('HSET',KEYS[1],f,string.format('%d %s',now+ARGV[2],"
    "ls or string.format('%d',now))) end "
    "local out={} local all=redis.call('HGETALL',KEYS[1]) "
    "for i=1,#all,2 do local f=all[i] local nl=string.find(f,'\\n',1,true) "
    "local e,ls=string.match(all[i+1],'^(%d+) (%d+)$') "
    "if not nl or not e or tonumber(e)<now then "
    "redis.call('HDEL',KEYS[1],f) "
    "elseif string.sub(f,nl+1)==me then "
    "if not mine[f] then redis.call('HDEL',KEYS[1],f) end "
    "else out[#out+1]=string.sub(f,1,nl-1) out[#out+1]=ls end end "
    "for i=j+1,#ARGV-1,2 do "
    "local a,b=string.match(ARGV[i+1],'^(%d+) (%d+)$') "
    "local o=redis.call('HGET',KEYS[2],ARGV[i]) local c,d "
    "if o then c,d=string.match(o,'^(%d+) (%d+)$') end "
    "if a then redis.call('HSET',KEYS[2],ARGV[i],string.format('%d %d',"
    "math.max(a,c or 0),math.max(b,d or 0))) end end "
    "local seen={} local rows={} "
    "if string.sub(ARGV[j],1,1)=='1' then "
    "seen=redis.call('HGETALL',KEYS[2]) end "
    "if string.sub(ARGV[j],2,2)=='1' then "
    "rows=redis.call('HGETALL',KEYS[3]) end "
    "return {now,out,seen,rows}";
static struct lua_script views;

static struct {
	int inflight;
	int64_t next_ms, next_seen_ms;
	char *fresh[CH_FRESH_MAX];
	int nfresh;
} chs;

void
cluster_host_ids(const struct relay_conf *c, const char **prefix,
    const char **node)
{
	/* The running ones (cluster_pub.c): a reload cannot change them. */
	(void)c;
	*prefix = cluster_prefix();
	*node = cluster_node();
}

void
cluster_host_watch(const char *channel, int fresh)
{
	if (!cluster_on())
		return;
	/* The next poll runs at the next tick (at most 250 ms). */
	chs.next_ms = 0;
	if (!fresh || chs.nfresh == CH_FRESH_MAX)
		return;
	for (int i = 0; i < chs.nfresh; i++)
		if (strcmp(chs.fresh[i], channel) == 0)
			return;
	if ((chs.fresh[chs.nfresh] = strdup(channel)) != NULL)
		chs.nfresh++;
}

static int
was_fresh(const char *channel)
{
	for (int i = 0; i < chs.nfresh; i++)
		if (strcmp(chs.fresh[i], channel) == 0)
			return 1;
	return 0;
}

/* The host of a private-host- channel, or -1; for a fleet channel -2 and
 * *acct points at the account. */
static int
host_ix(struct relay *r, const char *ch, const char **acct)
{
	size_t hl = strlen(HOST_CHANNEL_PREFIX);
	size_t fl = strlen(FLEET_CHANNEL_PREFIX);

	if (strncmp(ch, FLEET_CHANNEL_PREFIX, fl) == 0) {
		*acct = ch + fl;
		return -2;
	}
	if (strncmp(ch, HOST_CHANNEL_PREFIX, hl) != 0)
		return -1;
	for (int i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i]->conf->name, ch + hl) == 0)
			return i;
	return -1;
}

static void
mark(int64_t *seen, int i, long long ls)
{
	if (ls > seen[i])
		seen[i] = ls;
}

/* The other nodes' news of when hosts were last seen and their seq. */
static void
apply_seen(struct relay *r, const redisReply *rp)
{
	for (size_t k = 0; k + 1 < rp->elements; k += 2) {
		const redisReply *n = rp->element[k], *v = rp->element[k + 1];
		long long seen, seq;
		struct host *h;

		if (n->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING ||
		    sscanf(v->str, "%lld %lld", &seen, &seq) != 2 ||
		    (h = host_find(r, n->str)) == NULL)
			continue;
		if (seen > h->last_seen_wall_ms)
			h->last_seen_wall_ms = seen;
		if (seq > h->last_seq)
			h->last_seq = seq;
		/* Nothing to tell Redis that it did not tell us. */
		h->seen_sent_ms = h->last_seen_wall_ms;
		h->seq_sent = h->last_seq;
	}
}

/* The fleet rows other nodes rendered from the samples posted to them. */
static void
apply_rows(struct relay *r, const redisReply *rp)
{
	for (size_t k = 0; k + 1 < rp->elements; k += 2) {
		const redisReply *n = rp->element[k], *v = rp->element[k + 1];
		struct host *h;

		if (n->type == REDIS_REPLY_STRING &&
		    v->type == REDIS_REPLY_STRING &&
		    (h = host_find(r, n->str)) != NULL)
			fleet_row_put(h, v->str, v->len);
	}
}

/* The other nodes' watches: occupancy, and sessions asked for. */
static void
apply_views(struct relay *r, long long now, const redisReply *rp)
{
	long long cap = (long long)r->conf->max_session_s * 1000;
	int64_t *seen, mono = clock_mono_ms();
	const char *acct;

	if ((seen = calloc((size_t)r->nhosts + 1, sizeof(*seen))) == NULL)
		return;
	for (size_t k = 0; k + 1 < rp->elements; k += 2) {
		const redisReply *c = rp->element[k], *v = rp->element[k + 1];
		long long ls;
		int i;

		if (c->type != REDIS_REPLY_STRING ||
		    v->type != REDIS_REPLY_STRING)
			continue;
		ls = strtoll(v->str, NULL, 10);
		if (ls <= 0)
			ls = 1;
		if ((i = host_ix(r, c->str, &acct)) >= 0)
			mark(seen, i, ls);
		else if (i == -2)
			for (int j = 0; j < r->nhosts; j++)
				if (strcmp(r->hosts[j]->conf->account,
				    acct) == 0)
					mark(seen, j, ls);
	}
	for (int i = 0; i < r->nhosts; i++) {
		struct host *h = r->hosts[i];

		if (!seen[i]) {
			if (h->remote_occupied)
				h->remote_vacated_ms = mono;
			h->remote_occupied = 0;
			continue;
		}
		h->remote_occupied = 1;
		/* A subscriber on another node, newer than any seen, asks
		 * for a session as a local one would. */
		if (seen[i] > h->remote_sub_ms && now - seen[i] < cap)
			host_session_want(h);
		if (seen[i] > h->remote_sub_ms)
			h->remote_sub_ms = seen[i];
	}
	free(seen);
}

static void
on_views(redisReply *rp, void *priv)
{
	struct relay *r = http_relay();

	(void)priv;
	chs.inflight = 0;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != 4 ||
	    rp->element[0]->type != REDIS_REPLY_INTEGER ||
	    rp->element[1]->type != REDIS_REPLY_ARRAY ||
	    rp->element[2]->type != REDIS_REPLY_ARRAY ||
	    rp->element[3]->type != REDIS_REPLY_ARRAY || r == NULL) {
		if (rp && rp->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"watch script refused\" "
			    "reply=\"%.200s\"", rp->str);
		return;
	}
	apply_views(r, rp->element[0]->integer, rp->element[1]);
	apply_seen(r, rp->element[2]);
	apply_rows(r, rp->element[3]);
}

/* Appends the channel to argv when it has local subscribers; 1 then. */
static int
add_watch(struct app *a, const char *name, const char **argv, int *argc)
{
	struct channel *ch = a ? channel_find(a, name) : NULL;

	if (ch == NULL || ch->nsubs == 0 || *argc + 2 > CH_WATCH_MAX + 7)
		return 0;
	argv[(*argc)++] = name;
	argv[(*argc)++] = was_fresh(name) ? "1" : "0";
	return 1;
}

static void
poll_send(struct relay *r, redisAsyncContext *ac, const char **argv,
    char (*seen)[48], int64_t now)
{
	char key[64], key2[64], key3[64], lease[16], nv[16], rd[3];
	struct app *a = relay_host_app(r);
	int argc = 6, n, fleets = 0;

	snprintf(key, sizeof(key), "%s:views", cluster_prefix());
	snprintf(key2, sizeof(key2), "%s:seen", cluster_prefix());
	snprintf(key3, sizeof(key3), "%s:rows", cluster_prefix());
	snprintf(lease, sizeof(lease), "%d", CH_LEASE_MS);
	if (views.src == NULL)
		lua_script_init(&views, views_lua);
	argv[0] = "3";
	argv[1] = key;
	argv[2] = key2;
	argv[3] = key3;
	argv[4] = cluster_node();
	argv[5] = lease;
	argv[argc++] = nv;
	for (int i = 0; i < r->nhosts; i++)
		add_watch(a, r->hosts[i]->channel, argv, &argc);
	for (int i = 0; i < r->nfleets; i++)
		fleets |= add_watch(a, fleet_channel_of(r, i), argv, &argc);
	n = (argc - 7) / 2;
	snprintf(nv, sizeof(nv), "%d", n);
	/* P:seen is read once a second, written when this node has news;
	 * P:rows too while someone here watches a fleet. */
	rd[0] = now >= chs.next_seen_ms ? '1' : '0';
	rd[1] = rd[0] == '1' && fleets ? '1' : '0';
	rd[2] = '\0';
	argv[argc++] = rd;
	if (now >= chs.next_seen_ms)
		chs.next_seen_ms = now + CH_SEEN_MS;
	for (int i = 0; i < r->nhosts; i++) {
		struct host *h = r->hosts[i];

		if (h->last_seen_wall_ms == h->seen_sent_ms &&
		    h->last_seq == h->seq_sent)
			continue;
		snprintf(seen[i], sizeof(seen[i]), "%lld %lld",
		    (long long)h->last_seen_wall_ms, h->last_seq);
		argv[argc++] = h->conf->name;
		argv[argc++] = seen[i];
		h->seen_sent_ms = h->last_seen_wall_ms;
		h->seq_sent = h->last_seq;
	}
	/* EVALSHA, and EVAL when Redis does not know the script yet. */
	if (lua_call(ac, &views, argc, argv, NULL, on_views, NULL) == 0)
		chs.inflight = 1;
}

void
cluster_hosts_tick(struct relay *r, int64_t now)
{
	redisAsyncContext *ac;
	const char **argv;
	char (*seen)[48];

	if (!cluster_on() || chs.inflight || now < chs.next_ms)
		return;
	chs.next_ms = now + CH_POLL_MS;
	if ((ac = cluster_cmd()) == NULL)
		return;
	argv = calloc((size_t)CH_WATCH_MAX + 16 + 2 * (size_t)r->nhosts,
	    sizeof(*argv));
	seen = calloc((size_t)r->nhosts + 1, sizeof(*seen));
	if (argv && seen)
		poll_send(r, ac, argv, seen, now);
	free(argv);
	free(seen);
	for (int i = 0; i < chs.nfresh; i++)
		free(chs.fresh[i]);
	chs.nfresh = 0;
}

