/*
 * Scale-out over Redis: agent samples and the dashboard's history
 * (docs/scaleout.md "Samples and history"). One script per sample keeps
 * "seq > last" per host atomic (P:{h:<host>}:seq), appends the sample to
 * the host's capped stream P:{h:<host>}:s (ID "<seq>-0") and PUBLISHes it
 * on the host's channel in cluster_pub.c's message format, so every node
 * delivers it once, in seq order, however many nodes it was posted to.
 * The history is XRANGE of that stream: the same from every node, and
 * kept across relay restarts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
#include "cluster_seq.h"
#include "config.h"
#include "conn.h"
#include "fleet.h"
#include "host.h"
#include "http.h"
#include "log.h"

#define CH_DEADLINE_MS 250	/* a client waits no longer on Redis */

/* KEYS seq, stream, channel meta, pub/sub channel; ARGV seq, cap, the
 * message head (cluster_pub.c's format after "<seq> <epoch> "), the
 * sample. */
static const char sample_lua[] = CSEQ_LUA
    "local last=redis.call('GET',KEYS[1]) "
    "if last and tonumber(ARGV[1])<=tonumber(last) then return {0,last} end "
    "redis.call('SET',KEYS[1],ARGV[1]) "
    "redis.call('XADD',KEYS[2],'MAXLEN',ARGV[2],ARGV[1]..'-0','s',ARGV[4]) "
    "redis.call('PUBLISH',KEYS[4],seqhead(KEYS[3])..' '..ARGV[3]..ARGV[4]) "
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
	struct sbatch *cur;	/* between cluster_host_begin and _end */
	int in_batch;
} chs;

void
cluster_host_begin(void)
{
	if (cluster_on() && chs.cur == NULL) {
		chs.cur = calloc(1, sizeof(*chs.cur));
		chs.in_batch = 1;
	}
}

/* The parked request id, or NULL (gone, or the relay is stopping: the
 * replies cluster_stop flushes are answered by nobody). */
static struct http_req *
parked(uint64_t id)
{
	struct relay *r = http_relay();

	return r && !r->shutting_down ? http_parked(id) : NULL;
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

/* h's new fleet row, for the other nodes' fleet views (P:rows). */
static void
share_row(struct host *h)
{
	redisAsyncContext *ac = cluster_cmd();
	const char *text, *prefix, *node;
	size_t len;

	if (ac == NULL || fleet_row_get(h, &text, &len) < 0)
		return;
	cluster_host_ids(h->relay->conf, &prefix, &node);
	redisAsyncCommand(ac, NULL, NULL, "HSET %s:rows %s %b", prefix,
	    h->conf->name, text, len);
}

/* Every sample of b has its reply: the host's state, then the answer. */
static void
sbatch_done(struct sbatch *b)
{
	struct relay *r = http_relay();
	struct host *h = r ? host_find(r, b->host) : NULL;
	struct http_req *q = b->req ? parked(b->req) : NULL;

	if (h && b->acked > h->last_seq)
		h->last_seq = b->acked;
	if (h && b->newest) {
		fleet_sample(h, b->newest, b->newest_len);
		share_row(h);
	}
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
	const char *id, *prefix, *node;

	if (chs.cur == NULL || a == NULL)
		return 500;
	if (ac == NULL) {
		chs.cur->failed = 1;
		return 503;
	}
	cluster_host_ids(h->relay->conf, &prefix, &node);
	id = a->conf->id;
	snprintf(k[0], sizeof(k[0]), "%s:{h:%s}:seq", prefix,
	    h->conf->name);
	snprintf(k[1], sizeof(k[1]), "%s:{h:%s}:s", prefix,
	    h->conf->name);
	snprintf(k[2], sizeof(k[2]), "%s:{%s:%s}:m", prefix, id,
	    h->channel);
	snprintf(k[3], sizeof(k[3]), "%s:c:%s:%s", prefix, id,
	    h->channel);
	snprintf(sq, sizeof(sq), "%lld", seq);
	snprintf(cap, sizeof(cap), "%ld",
	    (long)h->relay->conf->history_seconds);
	/* cluster_pub.c's message: origin, except, app, event, channel,
	 * user id (none), then the data. */
	snprintf(head, sizeof(head), "%s - %zu:%s6:sample%zu:%s0:", node,
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
	struct http_req *q = parked(*id);
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
	const char *prefix, *node;
	uint64_t *id;

	cluster_host_ids(h->relay->conf, &prefix, &node);
	if (ac == NULL || (id = malloc(sizeof(*id))) == NULL) {
		history_due(q);
		return;
	}
	*id = q->id;
	snprintf(key, sizeof(key), "%s:{h:%s}:s", prefix, h->conf->name);
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
