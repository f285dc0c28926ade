/*
 * Scale-out over Redis for hosts (docs/scaleout.md "Realtime sessions"):
 *
 * - Who watches: every CH_POLL_MS each node runs one script that writes,
 *   in the hash P:views, one field "<channel>\n<node>" per host or fleet
 *   channel it has local subscribers on (a lease of CH_LEASE_MS and the
 *   Redis time of its newest subscriber), drops its own fields it no
 *   longer holds and any expired one, and returns the other nodes'
 *   fields. A host is then occupied while any node watches it; a remote
 *   subscriber newer than the last one seen asks for a session, as a
 *   local one does (host_session_want), which answers a check-in parked
 *   on this node. The grace and cap rules stay host.c's.
 * - Samples: one script per sample keeps "seq > last" per host atomic
 *   (P:{h:<host>}:seq), appends the sample to the host's capped stream
 *   P:{h:<host>}:s (ID "<seq>-0") and PUBLISHes it on the channel in
 *   cluster_pub.c's message format, so every node delivers it once, in
 *   seq order, however many nodes it was posted to.
 * - History: XRANGE of that stream, the same from every node and kept
 *   across relay restarts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
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

/* KEYS[1] P:views; ARGV node, lease, then channel/fresh pairs. */
static const char views_lua[] =
    "local t=redis.call('TIME') local now=t[1]*1000+math.floor(t[2]/1000) "
    "local me=ARGV[1] local mine={} "
    "for i=3,#ARGV,2 do local f=ARGV[i]..'\\n'..me mine[f]=1 local ls "
    "if ARGV[i+1]=='0' then local o=redis.call('HGET',KEYS[1],f) "
    "if o then ls=string.match(o,' (%d+)$') end end "
    "redis.call('HSET',KEYS[1],f,string.format('%d %s',now+ARGV[2],"
    "ls or string.format('%d',now))) end "
    "local out={now} local all=redis.call('HGETALL',KEYS[1]) "
    "for i=1,#all,2 do local f=all[i] local nl=string.find(f,'\\n',1,true) "
    "local e,ls=string.match(all[i+1],'^(%d+) (%d+)$') "
    "if not nl or not e or tonumber(e)<now then "
    "redis.call('HDEL',KEYS[1],f) "
    "elseif string.sub(f,nl+1)==me then "
    "if not mine[f] then redis.call('HDEL',KEYS[1],f) end "
    "else out[#out+1]=string.sub(f,1,nl-1) out[#out+1]=ls end end "
    "return out";

/* KEYS seq, stream, channel meta, pub/sub channel; ARGV seq, cap, the
 * message head (cluster_pub.c's format after "<seq> "), the sample. */
static const char sample_lua[] =
    "local last=redis.call('GET',KEYS[1]) "
    "if last and tonumber(ARGV[1])<=tonumber(last) then return {0,last} end "
    "redis.call('SET',KEYS[1],ARGV[1]) "
    "redis.call('XADD',KEYS[2],'MAXLEN',ARGV[2],ARGV[1]..'-0','s',ARGV[4]) "
    "local s=redis.call('HINCRBY',KEYS[3],'o',1) "
    "redis.call('PUBLISH',KEYS[4],s..' '..ARGV[3]..ARGV[4]) "
    "return {1,ARGV[1]}";

/* The samples of one POST /agent/v1/samples. */
struct sbatch {
	uint64_t req;		/* the parked request, 0 once answered */
	char host[160];
	int pending, failed;
	long long acked;	/* the host's last seq in Redis */
	char *newest;		/* the newest accepted sample, for the fleet */
	size_t newest_len;
	long long newest_seq;
};

struct scmd {
	struct sbatch *b;
	long long seq;
	char *json;
	size_t len;
};

static struct {
	int init, inflight;
	char prefix[40];
	char node[80];
	int64_t next_ms;
	char *fresh[CH_FRESH_MAX];
	int nfresh;
	struct sbatch *cur;	/* between cluster_host_begin and _end */
	int in_batch;
} chs;

static void
init(const struct relay_conf *c)
{
	char host[64];

	snprintf(chs.prefix, sizeof(chs.prefix), "%s",
	    c->redis_prefix ? c->redis_prefix : "sno");
	if (c->node_id)
		snprintf(chs.node, sizeof(chs.node), "%s", c->node_id);
	else {
		if (gethostname(host, sizeof(host)) < 0)
			snprintf(host, sizeof(host), "relay");
		host[sizeof(host) - 1] = '\0';
		snprintf(chs.node, sizeof(chs.node), "%s-%ld", host,
		    (long)getpid());
	}
	chs.init = 1;
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

/* The other nodes' watches: occupancy, and sessions asked for. */
static void
on_views(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	struct relay *r = http_relay();
	int64_t *seen, mono = clock_mono_ms();
	long long now, cap;
	const char *acct;

	(void)ac;
	(void)priv;
	chs.inflight = 0;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements < 1 ||
	    rp->element[0]->type != REDIS_REPLY_INTEGER || r == NULL) {
		if (rp && rp->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"watch script refused\" "
			    "reply=\"%.200s\"", rp->str);
		return;
	}
	if ((seen = calloc((size_t)r->nhosts + 1, sizeof(*seen))) == NULL)
		return;
	now = rp->element[0]->integer;
	cap = (long long)r->conf->max_session_s * 1000;
	for (size_t k = 1; k + 1 < rp->elements; k += 2) {
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

/* Appends the channel to argv when it has local subscribers. */
static void
add_watch(struct app *a, const char *name, const char **argv, int *argc)
{
	struct channel *ch = a ? channel_find(a, name) : NULL;

	if (ch == NULL || ch->nsubs == 0 || *argc + 2 > CH_WATCH_MAX + 6)
		return;
	argv[(*argc)++] = name;
	argv[(*argc)++] = was_fresh(name) ? "1" : "0";
}

void
cluster_hosts_tick(struct relay *r, int64_t now)
{
	static const char *argv[CH_WATCH_MAX + 8];
	char key[64], lease[16];
	struct app *a = relay_host_app(r);
	redisAsyncContext *ac;
	int argc = 0;

	if (!cluster_on() || chs.inflight || now < chs.next_ms)
		return;
	if (!chs.init)
		init(r->conf);
	chs.next_ms = now + CH_POLL_MS;
	if ((ac = cluster_cmd()) == NULL)
		return;
	snprintf(key, sizeof(key), "%s:views", chs.prefix);
	snprintf(lease, sizeof(lease), "%d", CH_LEASE_MS);
	argv[argc++] = "EVAL";
	argv[argc++] = views_lua;
	argv[argc++] = "1";
	argv[argc++] = key;
	argv[argc++] = chs.node;
	argv[argc++] = lease;
	for (int i = 0; i < r->nhosts; i++)
		add_watch(a, r->hosts[i]->channel, argv, &argc);
	for (int i = 0; i < r->nfleets; i++)
		add_watch(a, fleet_channel_of(r, i), argv, &argc);
	if (redisAsyncCommandArgv(ac, on_views, NULL, argc, argv, NULL) ==
	    REDIS_OK)
		chs.inflight = 1;
	for (int i = 0; i < chs.nfresh; i++)
		free(chs.fresh[i]);
	chs.nfresh = 0;
}

/* ---- samples ---- */

void
cluster_host_begin(void)
{
	if (cluster_on() && chs.cur == NULL) {
		chs.cur = calloc(1, sizeof(*chs.cur));
		chs.in_batch = 1;
	}
}

static void
sbatch_free(struct sbatch *b)
{
	free(b->newest);
	free(b);
}

static void
samples_due(struct http_req *q)
{
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "cluster unavailable: Redis did not confirm the "
	    "samples in time; retry");
}

/* Every sample of b has its reply: the host's state, then the answer. */
static void
sbatch_done(struct sbatch *b)
{
	struct relay *r = http_relay();
	struct host *h = r ? host_find(r, b->host) : NULL;
	struct http_req *q = b->req ? http_parked(b->req) : NULL;

	if (h && b->acked > h->last_seq)
		h->last_seq = b->acked;
	if (h && b->newest)
		fleet_sample(h, b->newest, b->newest_len);
	if (q && (b->failed || h == NULL))
		samples_due(q);
	else if (q) {
		buf_reset(&q->resp);
		buf_printf(&q->resp, "{\"stream\":%s,\"acked_seq\":%lld}",
		    host_should_stream(h, clock_mono_ms()) ? "true" : "false",
		    h->last_seq);
		http_reply_resp(q, 200, "application/json");
	}
	sbatch_free(b);
}

static void
on_sample(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	struct scmd *c = priv;
	struct sbatch *b = c->b;

	(void)ac;
	if (rp && rp->type == REDIS_REPLY_ARRAY && rp->elements == 2 &&
	    rp->element[0]->type == REDIS_REPLY_INTEGER &&
	    rp->element[1]->type == REDIS_REPLY_STRING) {
		long long last = strtoll(rp->element[1]->str, NULL, 10);

		if (last > b->acked)
			b->acked = last;
		if (rp->element[0]->integer == 1 && c->seq > b->newest_seq) {
			free(b->newest);
			b->newest = c->json;
			b->newest_len = c->len;
			b->newest_seq = c->seq;
			c->json = NULL;
		}
	} else {
		if (rp && rp->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"sample refused\" "
			    "reply=\"%.200s\"", rp->str);
		b->failed = 1;
	}
	free(c->json);
	free(c);
	if (--b->pending == 0)
		sbatch_done(b);
}

int
cluster_host_sample(struct host *h, long long seq, const char *json,
    size_t len)
{
	struct app *a = relay_host_app(h->relay);
	redisAsyncContext *ac = cluster_cmd();
	char k[4][400], sq[24], cap[16], head[600];
	const char *argv[11];
	size_t argl[11];
	struct scmd *c;
	const char *id;

	if (chs.cur == NULL || a == NULL)
		return 500;
	if (ac == NULL) {
		chs.cur->failed = 1;
		return 503;
	}
	if (!chs.init)
		init(h->relay->conf);
	id = a->conf->id;
	snprintf(k[0], sizeof(k[0]), "%s:{h:%s}:seq", chs.prefix,
	    h->conf->name);
	snprintf(k[1], sizeof(k[1]), "%s:{h:%s}:s", chs.prefix,
	    h->conf->name);
	snprintf(k[2], sizeof(k[2]), "%s:{%s:%s}:m", chs.prefix, id,
	    h->channel);
	snprintf(k[3], sizeof(k[3]), "%s:c:%s:%s", chs.prefix, id,
	    h->channel);
	snprintf(sq, sizeof(sq), "%lld", seq);
	snprintf(cap, sizeof(cap), "%ld", (long)h->relay->conf->history_seconds);
	/* cluster_pub.c's message: origin, except, app, event, channel,
	 * user id (none), then the data. */
	snprintf(head, sizeof(head), "%s - %zu:%s6:sample%zu:%s0:", chs.node,
	    strlen(id), id, strlen(h->channel), h->channel);
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->json = malloc(len)) == NULL) {
		free(c);
		return 500;
	}
	memcpy(c->json, json, len);
	c->len = len;
	c->seq = seq;
	c->b = chs.cur;
	argv[0] = "EVAL";
	argv[1] = sample_lua;
	argv[2] = "4";
	for (int i = 0; i < 4; i++)
		argv[3 + i] = k[i];
	argv[7] = sq;
	argv[8] = cap;
	argv[9] = head;
	argv[10] = c->json;
	for (int i = 0; i < 10; i++)
		argl[i] = strlen(argv[i]);
	argl[10] = len;
	if (redisAsyncCommandArgv(ac, on_sample, c, 11, argv, argl) !=
	    REDIS_OK) {
		free(c->json);
		free(c);
		chs.cur->failed = 1;
		return 503;
	}
	snprintf(chs.cur->host, sizeof(chs.cur->host), "%s", h->conf->name);
	chs.cur->pending++;
	return 0;
}

int
cluster_host_end(struct http_req *q, struct host *h, int status)
{
	struct sbatch *b = chs.cur;

	(void)h;
	chs.cur = NULL;
	chs.in_batch = 0;
	if (b == NULL)
		return 0;
	if (b->pending == 0) {
		sbatch_free(b);
		if (status == 503)
			http_header_add(q, "retry-after:", "1");
		return 0;
	}
	if (status != 200) {
		/* Answered now; the replies still come and update the host. */
		if (status == 503)
			http_header_add(q, "retry-after:", "1");
		return 0;
	}
	b->req = q->id;
	q->status = 0;
	http_park(q, clock_mono_ms() + CH_DEADLINE_MS, samples_due);
	return 1;
}

/* ---- history ---- */

static void
history_due(struct http_req *q)
{
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "cluster unavailable: Redis did not answer in "
	    "time; retry");
}

static void
on_history(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	uint64_t *id = priv;
	struct http_req *q = http_parked(*id);
	struct buf *o;
	int first = 1;

	(void)ac;
	free(id);
	if (q == NULL)
		return;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY) {
		history_due(q);
		return;
	}
	o = &q->resp;
	for (size_t i = 0; i < rp->elements; i++) {
		const redisReply *e = rp->element[i], *f;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    (f = e->element[1])->type != REDIS_REPLY_ARRAY ||
		    f->elements != 2 ||
		    f->element[1]->type != REDIS_REPLY_STRING)
			continue;
		buf_adds(o, first ? "" : ",");
		buf_add(o, f->element[1]->str, f->element[1]->len);
		first = 0;
	}
	if (buf_adds(o, "]}") < 0) {
		http_error(q, 500, "out of memory");
		return;
	}
	http_reply_resp(q, 200, "application/json");
}

void
cluster_host_history(struct http_req *q, struct host *h, long long since)
{
	redisAsyncContext *ac = cluster_cmd();
	char key[300], from[32];
	uint64_t *id;

	if (!chs.init)
		init(h->relay->conf);
	if (ac == NULL || (id = malloc(sizeof(*id))) == NULL) {
		history_due(q);
		return;
	}
	*id = q->id;
	snprintf(key, sizeof(key), "%s:{h:%s}:s", chs.prefix, h->conf->name);
	if (since > 0)
		snprintf(from, sizeof(from), "(%lld-0", since);
	else
		snprintf(from, sizeof(from), "-");
	if (redisAsyncCommand(ac, on_history, id, "XRANGE %s %s +", key,
	    from) != REDIS_OK) {
		free(id);
		history_due(q);
		return;
	}
	buf_reset(&q->resp);
	buf_adds(&q->resp, "{\"host\":");
	buf_add_json_string(&q->resp, h->conf->name);
	buf_adds(&q->resp, ",\"samples\":[");
	http_park(q, clock_mono_ms() + CH_DEADLINE_MS, history_due);
}
