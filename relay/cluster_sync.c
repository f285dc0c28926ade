/*
 * Scale-out over Redis: knowing what this node missed on pub/sub
 * (docs/scaleout.md, "Gaps"). Each process SUBSCRIBEs a channel of its
 * own, P:sync:<random>, first on every pub/sub connection. Two things
 * come back on it, in order with the channels' messages, since one
 * connection carries them all:
 * - a topic's sync record, PUBLISHed by a script with the channel's
 *   sequence and epoch once the topic's SUBSCRIBE was acknowledged: every
 *   later message up to that sequence came before it, so what did not
 *   come is exactly the gap (the connection was down meanwhile);
 * - a heartbeat PUBLISHed every second on the command connection. When
 *   Redis answers that nobody listens, or HB_MISSES in a row do not come
 *   back while nothing else comes either, the pub/sub connection is
 *   half-open or stalled and is dropped (hiredis 0.14 cannot PING in
 *   subscribed mode). A connection still bringing messages is only slow:
 *   dropping it would lose what it still carries.
 * Gaps go to the channel's subscribers as sno:gap events. Nothing is
 * filled from a history: none is kept per channel.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "channel.h"
#include "cluster.h"
#include "cluster_sync.h"
#include "http.h"
#include "log.h"

#define HB_MISSES 3		/* heartbeats (seconds) before a drop */

/* KEYS the channel's meta hash, the sync channel; ARGV the sync's
 * generation, "<app id length>:<app id>:<channel>". */
static const char sync_lua[] =
    "local v=redis.call('HMGET',KEYS[1],'o','e') "
    "redis.call('PUBLISH',KEYS[2],'s '..ARGV[1]..' '..(v[1] or '0')..' '.."
    " (v[2] or '-')..' '..ARGV[2]) return 1";

static struct {
	char chan[96];		/* P:sync:<hex> */
	uintptr_t hb;		/* heartbeats sent, ever */
	uintptr_t first;	/* hb when this connection started */
	uintptr_t confirmed;	/* the newest Redis sent to a listener */
	uintptr_t seen;		/* the newest that came back */
	unsigned syncs;		/* sync generations handed out */
	int acked;		/* the sync channel's SUBSCRIBE, this conn */
	int waited;		/* ticks without that ack */
	int dead;		/* Redis said nobody listens */
	unsigned long rx, rx_last;	/* messages in, at the last tick */
	int quiet;		/* ticks without any */
} sy;

struct syncreq {
	unsigned gen;
	size_t applen;
	char key[];
};

void
cluster_sync_init(void)
{
	unsigned char b[8];
	char hex[17];

	randombytes_buf(b, sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(hex + 2 * i, 3, "%02x", b[i]);
	snprintf(sy.chan, sizeof(sy.chan), "%s:sync:%s", cluster_prefix(),
	    hex);
}

void
cluster_gap_send(struct app *a, const char *chname,
    const struct cseq_gap *gap)
{
	struct channel *ch = channel_find(a, chname);
	char data[96];
	struct msg *m;
	int n;

	if (gap->kind == CSEQ_NONE)
		return;
	if (gap->kind == CSEQ_RESET)
		log_warnx("cluster msg=\"channel sequence reset, events may "
		    "be missed\" channel=\"%.200s\"", chname);
	else
		log_warnx("cluster msg=\"events missed on pub/sub\" "
		    "channel=\"%.200s\" from=%lld to=%lld", chname, gap->from,
		    gap->to);
	if (ch == NULL || ch->nsubs == 0 ||
	    (n = cseq_gap_json(gap, data, sizeof(data))) < 0 ||
	    (m = relay_frame("sno:gap", chname, data, (size_t)n, 0,
	    NULL)) == NULL)
		return;
	channel_publish(ch, m, NULL);
	msg_unref(m);
}

/* "s <gen> <last> <epoch|-> <applen>:<app>:<channel>" */
static void
sync_record(const char *p, size_t len)
{
	char epoch[CSEQ_EPOCH_MAX + 1], chname[CHANNEL_NAME_MAX + 1];
	unsigned long gen, applen;
	long long last;
	int off = 0;
	struct relay *r = http_relay();
	struct cseq_gap g;
	struct cseq *q;
	struct app *a;
	const char *key;

	if (sscanf(p, "s %lu %lld %32s %lu:%n", &gen, &last, epoch, &applen,
	    &off) != 4 || off == 0 || last < 0)
		goto bad;
	key = p + off;
	if (applen >= len - (size_t)off ||
	    key[applen] != ':' || len - (size_t)off - applen - 1 >=
	    sizeof(chname))
		goto bad;
	if ((q = cluster_topic_seq(key, len - (size_t)off)) == NULL ||
	    !q->out || q->gen != gen)
		return;		/* a sync of an earlier subscription */
	cseq_sync(q, last, strcmp(epoch, "-") ? epoch : "", &g);
	memcpy(chname, key + applen + 1, len - (size_t)off - applen - 1);
	chname[len - (size_t)off - applen - 1] = '\0';
	if (g.kind != CSEQ_NONE && r &&
	    (a = relay_app_by_id(r, key, applen)) != NULL)
		cluster_gap_send(a, chname, &g);
	return;
bad:
	log_warnx("cluster msg=\"bad sync record\" len=%zu", len);
}

static void
on_sync(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply, *m;

	(void)ac;
	(void)priv;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	sy.rx++;
	if (strcmp(r->element[0]->str, "subscribe") == 0) {
		sy.acked = 1;
		return;
	}
	m = r->element[2];
	if (strcmp(r->element[0]->str, "message") != 0 ||
	    m->type != REDIS_REPLY_STRING || m->len < 2)
		return;
	if (strncmp(m->str, "h:", 2) == 0) {
		uintptr_t n = (uintptr_t)strtoull(m->str + 2, NULL, 10);

		if (n > sy.seen)
			sy.seen = n;
	} else if (m->str[0] == 's')
		sync_record(m->str, m->len);
}

void
cluster_sync_connected(redisAsyncContext *sub)
{
	sy.acked = 0;
	sy.waited = 0;
	sy.dead = 0;
	sy.first = sy.hb;
	sy.quiet = 0;
	sy.confirmed = sy.seen = sy.hb;
	/* so that CLIENT LIST says whose connection this is */
	redisAsyncCommand(sub, NULL, NULL, "CLIENT SETNAME sno-sub-%s",
	    cluster_node());
	redisAsyncCommand(sub, on_sync, NULL, "SUBSCRIBE %s", sy.chan);
}

void
cluster_sync_lost(void)
{
	sy.acked = 0;
}

void
cluster_sync_rx(void)
{
	sy.rx++;
}

static void
on_sync_sent(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	struct syncreq *s = priv;
	struct cseq *q;

	(void)ac;
	if ((r == NULL || r->type == REDIS_REPLY_ERROR) &&
	    (q = cluster_topic_seq(s->key, strlen(s->key))) != NULL &&
	    q->out && q->gen == s->gen)
		q->out = 0;	/* the next sweep asks again */
	if (r && r->type == REDIS_REPLY_ERROR)
		log_warnx("cluster msg=\"sync refused\" reply=\"%.200s\"",
		    r->str);
	free(s);
}

void
cluster_sync_topic(const char *key, size_t applen, struct cseq *q)
{
	redisAsyncContext *ac = cluster_cmd();
	char mkey[300], arg[320], gen[16];
	struct syncreq *s;
	size_t kl = strlen(key);

	if (q->out || q->synced || ac == NULL || !sy.acked ||
	    snprintf(mkey, sizeof(mkey), "%s:{%s}:m", cluster_prefix(),
	    key) >= (int)sizeof(mkey) ||
	    snprintf(arg, sizeof(arg), "%zu:%s", applen, key) >=
	    (int)sizeof(arg) ||
	    (s = malloc(sizeof(*s) + kl + 1)) == NULL)
		return;		/* the sweep tries again */
	s->gen = ++sy.syncs;
	s->applen = applen;
	memcpy(s->key, key, kl + 1);
	snprintf(gen, sizeof(gen), "%u", s->gen);
	if (redisAsyncCommand(ac, on_sync_sent, s, "EVAL %s 2 %s %s %s %s",
	    sync_lua, mkey, sy.chan, gen, arg) != REDIS_OK) {
		free(s);
		return;
	}
	q->gen = s->gen;
	q->out = 1;
}

static void
on_hb(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	uintptr_t n = (uintptr_t)priv;

	(void)ac;
	if (r == NULL || r->type != REDIS_REPLY_INTEGER || n <= sy.first)
		return;		/* gone, or of an earlier connection */
	if (r->integer == 0)
		sy.dead = 1;	/* Redis has no listener on our channel */
	else if (n > sy.confirmed)
		sy.confirmed = n;
}

int
cluster_sync_tick(void)
{
	redisAsyncContext *ac = cluster_cmd();
	const char *why = NULL;

	if (!cluster_pub_up())
		return 0;
	if (sy.rx != sy.rx_last) {
		sy.rx_last = sy.rx;
		sy.quiet = 0;
	} else
		sy.quiet++;
	if (sy.dead)
		why = "Redis has no subscription of this connection";
	else if (!sy.acked && ++sy.waited >= HB_MISSES)
		why = "SUBSCRIBE not acknowledged";
	else if (sy.confirmed > sy.seen && sy.confirmed - sy.seen >=
	    HB_MISSES && sy.quiet >= HB_MISSES)
		why = "heartbeats not coming back";
	if (why) {
		log_warnx("cluster msg=\"pub/sub connection dropped\" "
		    "reason=\"%s\"", why);
		return 1;
	}
	if (sy.acked && ac && redisAsyncCommand(ac, on_hb,
	    (void *)(sy.hb + 1), "PUBLISH %s h:%lu", sy.chan,
	    (unsigned long)(sy.hb + 1)) == REDIS_OK)
		sy.hb++;
	return 0;
}
