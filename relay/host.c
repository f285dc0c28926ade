/*
 * Hosts: a session is on while private-host-{id} has subscribers, and for
 * session_grace_s after the last leaves, capped at max_session_s. Samples
 * are checked (common/sample.c), stamped with the relay's receive time, kept
 * in a fixed ring of history_seconds entries, and published in seq order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
#include "fleet.h"
#include "host.h"
#include "json_check.h"
#include "log.h"
#include "sample.h"

#define HOST_SEQ_AHEAD_MS 300000 /* as the agent API's clock skew */

struct host *
host_new(struct relay *r, const struct host_conf *conf)
{
	struct host *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->conf = conf;
	h->relay = r;
	/* Nothing signed before this start may be replayed to us. */
	h->replay_floor_ms = clock_wall_ms();
	snprintf(h->channel, sizeof(h->channel), "%s%s", HOST_CHANNEL_PREFIX,
	    conf->name);
	h->ring_cap = (uint32_t)r->conf->history_seconds;
	if ((h->ring = calloc(h->ring_cap, sizeof(*h->ring))) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
host_free(struct host *h)
{
	if (h == NULL)
		return;
	for (uint32_t k = 0; k < h->ring_cap; k++)
		free(h->ring[k].json);
	free(h->ring);
	free(h->seen);
	free(h);
}

int
host_request_fresh(struct host *h, int64_t ts_ms, const char *sighex,
    int64_t oldest_ms)
{
	char head[17];
	uint64_t sig;
	uint32_t i, k = 0, min = 0;
	struct host_seen *s;

	snprintf(head, sizeof(head), "%s", sighex);
	sig = strtoull(head, NULL, 16);
	for (i = 0; i < h->nseen; i++) {
		if (h->seen[i].ts_ms < oldest_ms)
			continue;
		if (h->seen[i].ts_ms == ts_ms && h->seen[i].sig == sig)
			return -EALREADY;
		h->seen[k++] = h->seen[i];
	}
	h->nseen = k;
	if (h->nseen == HOST_SEEN_MAX) {
		/* Full (thousands of requests in the window: not an agent's
		 * pace): forget the oldest, and refuse anything as old. */
		for (i = 1; i < h->nseen; i++)
			if (h->seen[i].ts_ms < h->seen[min].ts_ms)
				min = i;
		if (h->seen[min].ts_ms > h->replay_floor_ms)
			h->replay_floor_ms = h->seen[min].ts_ms;
		h->seen[min] = h->seen[--h->nseen];
	}
	if (ts_ms <= h->replay_floor_ms)
		return -EALREADY;
	if (h->nseen == h->seen_cap) {
		uint32_t cap = h->seen_cap ? h->seen_cap * 2 : 16;

		if ((s = realloc(h->seen, cap * sizeof(*s))) == NULL)
			return -ENOMEM;
		h->seen = s;
		h->seen_cap = cap;
	}
	h->seen[h->nseen].ts_ms = ts_ms;
	h->seen[h->nseen++].sig = sig;
	return 0;
}

int
hosts_init(struct relay *r)
{
	const struct relay_conf *c = r->conf;

	if ((r->hosts = calloc((size_t)c->nhosts + 1, sizeof(*r->hosts))) ==
	    NULL)
		return -ENOMEM;
	for (int i = 0; i < c->nhosts; i++) {
		if ((r->hosts[i] = host_new(r, &c->hosts[i])) == NULL)
			return -ENOMEM;
		r->nhosts++;
	}
	return fleets_init(r);
}

void
hosts_free(struct relay *r)
{
	fleets_free(r);
	for (int i = 0; i < r->nhosts; i++)
		host_free(r->hosts[i]);
	free(r->hosts);
	r->hosts = NULL;
	r->nhosts = 0;
}

struct host *
host_find(struct relay *r, const char *id)
{
	for (int i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i]->conf->name, id) == 0)
			return r->hosts[i];
	return NULL;
}

static struct host *
host_of_channel(struct app *a, const char *channel)
{
	size_t pl = strlen(HOST_CHANNEL_PREFIX);

	if (a->conf != a->relay->conf->metrics ||
	    strncmp(channel, HOST_CHANNEL_PREFIX, pl) != 0)
		return NULL;
	return host_find(a->relay, channel + pl);
}

/* Publishes event with data (JSON text, sent as a string) to viewers. */
static void
publish(struct host *h, const char *event, const char *json, size_t len)
{
	struct app *a = relay_host_app(h->relay);
	struct channel *ch = a ? channel_find(a, h->channel) : NULL;
	struct msg *m;

	if (ch == NULL || (m = relay_frame(event, h->channel, json, len, 0,
		NULL)) == NULL)
		return;
	channel_publish(ch, m, NULL);
	msg_unref(m);
}

static void
session_event(struct host *h, const char *state, const char *reason)
{
	char data[256];
	int n;

	n = snprintf(data, sizeof(data), "{\"state\":\"%s\",\"reason\":%s%s%s,"
	    "\"ends_ms\":%lld}", state, reason ? "\"" : "",
	    reason ? reason : "null", reason ? "\"" : "",
	    (long long)h->session_end_wall_ms);
	publish(h, "session", data, (size_t)n);
}

static void
session_start(struct host *h, int64_t now)
{
	h->streaming = 1;
	h->session_start_ms = now;
	h->session_end_wall_ms = clock_wall_ms() +
	    h->relay->conf->max_session_s * 1000;
	log_info("session start host=%s", h->conf->name);
	session_event(h, "streaming", NULL);
	agent_api_wake(h);
}

static void
session_stop(struct host *h, const char *reason)
{
	h->streaming = 0;
	log_info("session stop host=%s reason=%s", h->conf->name, reason);
	session_event(h, "stopped", reason);
}

void
host_session_want(struct host *h)
{
	if (!h->streaming)
		session_start(h, clock_mono_ms());
}

void
host_channel_subscribed(struct app *a, const char *channel)
{
	struct host *h = host_of_channel(a, channel);

	if (a->conf == a->relay->conf->metrics)
		cluster_host_watch(channel, 1);	/* cluster hook */
	if (h == NULL) {
		fleet_channel_subscribed(a, channel);
		return;
	}
	h->occupied = 1;
	/* Any new subscriber asks for a session; one past its cap restarts.
	 * A viewer joining a running session learns when it ends. */
	if (!h->streaming)
		session_start(h, clock_mono_ms());
	else
		session_event(h, "streaming", NULL);
}

void
host_channel_vacated(struct app *a, const char *channel)
{
	struct host *h = host_of_channel(a, channel);

	if (a->conf == a->relay->conf->metrics)
		cluster_host_watch(channel, 0);	/* cluster hook */
	if (h == NULL) {
		fleet_channel_vacated(a, channel);
		return;
	}
	h->occupied = 0;
	h->vacated_ms = clock_mono_ms();
}

int
host_should_stream(struct host *h, int64_t now)
{
	const struct relay_conf *c = h->relay->conf;
	int occupied = h->occupied;
	int64_t vacated = h->vacated_ms;

	if (!h->streaming)
		return 0;
	/* Its own channel or its account's fleet channel holds it. */
	fleet_occupancy(h, &occupied, &vacated);
	/* cluster hook: or a viewer on another node (cluster_host.c) */
	if (h->remote_occupied)
		occupied = 1;
	else if (h->remote_vacated_ms > vacated)
		vacated = h->remote_vacated_ms;
	if (now - h->session_start_ms >= c->max_session_s * 1000)
		session_stop(h, "cap");
	else if (!occupied && now - vacated >= c->session_grace_s * 1000)
		session_stop(h, "idle");
	return h->streaming;
}

void
hosts_tick(struct relay *r, int64_t now)
{
	for (int i = 0; i < r->nhosts; i++)
		host_should_stream(r->hosts[i], now);
	fleets_tick(r, now);
	cluster_hosts_tick(r, now);	/* cluster hook */
}

/* Keeps a stamped copy of one sample in the ring. */
static int
remember(struct host *h, long long seq, const char *json, size_t len)
{
	struct hist *e;
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	if (h->ring_len == h->ring_cap) {
		e = &h->ring[h->ring_head];
		h->ring_head = (h->ring_head + 1) % h->ring_cap;
		h->ring_len--;
		free(e->json);
	}
	e = &h->ring[(h->ring_head + h->ring_len) % h->ring_cap];
	e->seq = seq;
	e->json = copy;
	e->len = len;
	h->ring_len++;
	return 0;
}

/*
 * Checks, stamps, keeps and publishes one sample, text[0..len) as the agent
 * sent it (never re-printed: cJSON prints numbers through doubles with 15
 * digits, which changed integers near 2^53). 0 or an HTTP status.
 */
static int
one_sample(struct host *h, const char *text, size_t len, struct buf *err)
{
	char why[256], host[SAMPLE_HOST_MAX + 1];
	long long seq;
	struct buf b;
	int st = 0, r;

	if (len < 2 || text[0] != '{') {
		buf_printf(err, "sample rejected: sample is not a JSON object");
		return 400;
	}
	r = sample_validate(text, len, why, sizeof(why), &seq, host,
	    sizeof(host));
	if (r < 0) {
		buf_printf(err, "sample rejected: %s", why);
		st = r == -EMSGSIZE ? 413 : 400;
		goto out;
	}
	if (strcmp(host, h->conf->name) != 0) {
		buf_printf(err, "sample is for host %s, not %s", host,
		    h->conf->name);
		st = 403;
		goto out;
	}
	/* Agents start seq at the Unix time in ms (docs/sample-format.md):
	 * one far ahead would make every later sample a duplicate. */
	if (seq > clock_wall_ms() + HOST_SEQ_AHEAD_MS) {
		buf_printf(err, "sample rejected: seq %lld is ahead of the "
		    "relay's clock (%lld ms) by more than %d s", seq,
		    (long long)clock_wall_ms(), HOST_SEQ_AHEAD_MS / 1000);
		st = 400;
		goto out;
	}
	if (seq <= h->last_seq)
		goto out; /* a duplicate: acknowledged, dropped */
	buf_init(&b, (size_t)SAMPLE_MAX_BYTES + 64);
	if (buf_printf(&b, "{\"relay_ms\":%lld,", (long long)clock_wall_ms())
		!= 0 || buf_add(&b, text + 1, len - 1) != 0)
		st = 500;
	else if (cluster_on()) {	/* cluster hook: seq > last, in Redis */
		if ((st = cluster_host_sample(h, seq, b.data, b.len)) == 503)
			buf_printf(err, "cluster unavailable: Redis is not "
			    "connected; retry");
	} else if (remember(h, seq, b.data, b.len) == 0) {
		h->last_seq = seq;
		publish(h, "sample", b.data, b.len);
	} else
		st = 500;
	buf_free(&b);
out:
	return st;
}

int
host_samples(struct host *h, const char *body, size_t len, struct buf *out)
{
	const char *at[SAMPLE_BATCH_MAX];
	size_t n[SAMPLE_BATCH_MAX];
	struct buf err;
	long long seq0 = h->last_seq;
	int st = 200, k;

	buf_init(&err, 1024);
	/* Each sample's own text: see one_sample. */
	if ((k = json_array_spans(body, len, at, n, SAMPLE_BATCH_MAX)) < 1) {
		buf_printf(&err, "body must be a JSON array of 1 to %d samples",
		    SAMPLE_BATCH_MAX);
		st = 400;
	}
	for (int i = 0; st == 200 && i < k; i++)
		if ((st = one_sample(h, at[i], n[i], &err)) == 0)
			st = 200;
	/* The fleet's row follows the newest sample only (a batch replayed
	 * after an outage is parsed once, not once per sample). */
	if (h->last_seq != seq0 && h->ring_len > 0) {
		const struct hist *e = &h->ring[(h->ring_head + h->ring_len -
		    1) % h->ring_cap];

		fleet_sample(h, e->json, e->len);
	}
	buf_reset(out);
	if (st == 200)
		buf_printf(out, "{\"stream\":%s,\"acked_seq\":%lld}",
		    host_should_stream(h, clock_mono_ms()) ? "true" : "false",
		    h->last_seq);
	else {
		buf_adds(out, "{\"error\":");
		buf_add_json_string(out, err.data ? err.data : "bad request");
		buf_adds(out, "}");
		log_info("agent host=%s samples=refused why=\"%s\"",
		    h->conf->name, err.data ? err.data : "");
	}
	buf_free(&err);
	return st;
}

int
host_history(struct host *h, long long since, struct buf *out)
{
	int e = 0, first = 1;

	e |= buf_adds(out, "{\"host\":");
	e |= buf_add_json_string(out, h->conf->name);
	e |= buf_adds(out, ",\"samples\":[");
	for (uint32_t i = 0; i < h->ring_len; i++) {
		struct hist *s = &h->ring[(h->ring_head + i) % h->ring_cap];

		if (s->seq <= since)
			continue;
		e |= buf_adds(out, first ? "" : ",");
		e |= buf_add(out, s->json, s->len);
		first = 0;
	}
	e |= buf_adds(out, "]}");
	return e ? -ENOMEM : 0;
}
