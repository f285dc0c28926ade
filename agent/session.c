/*
 * Check-in and streaming (see session.h). One loop, two modes: IDLE holds
 * a long-poll POST /agent/v1/checkin; STREAM samples every interval_ms on
 * absolute deadlines and posts up to SAMPLE_BATCH_MAX of the oldest
 * buffered samples per POST /agent/v1/samples. Transfers run while the
 * loop keeps sampling (uplink_poll). Sequence numbers start at the Unix
 * time in ms of the agent's start, so they keep rising across restarts
 * without persisting anything.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "clock.h"
#include "log.h"
#include "notify.h"
#include "sample.h"
#include "sampler.h"
#include "session.h"
#include "sig.h"
#include "uplink.h"

#define SESSION_CHECKIN_TIMEOUT_MS 70000L
#define SESSION_POST_TIMEOUT_MS 10000L
#define SESSION_BACKOFF_MIN_MS 500
#define SESSION_BACKOFF_MAX_MS 30000
#define SESSION_TICK_MS 500
#define SESSION_BUF_KEEP 16384	/* bytes a send buffer keeps between sends */

enum session_mode { SESSION_IDLE, SESSION_STREAM };

struct session {
	const struct agent_conf *c;
	struct sampler *smp;
	struct uplink *up;
	struct session_ring ring;
	struct buf sample, batch;
	enum session_mode mode;
	long long next_seq;
	int inflight;		/* samples in the POST in flight */
	int checkin;		/* the request in flight is a check-in */
	int64_t next_sample, next_try, last_ok;
	int backoff_ms;
};

/* ---- the ring ---- */

int
session_ring_init(struct session_ring *q, int cap)
{
	memset(q, 0, sizeof(*q));
	if (cap < 1)
		cap = 1;
	q->slots = calloc((size_t)cap, sizeof(*q->slots));
	q->seqs = calloc((size_t)cap, sizeof(*q->seqs));
	if (q->slots == NULL || q->seqs == NULL) {
		session_ring_free(q);
		return -ENOMEM;
	}
	for (int i = 0; i < cap; i++)
		buf_init(&q->slots[i], SAMPLE_MAX_BYTES);
	q->cap = cap;
	return 0;
}

void
session_ring_free(struct session_ring *q)
{
	for (int i = 0; q->slots && i < q->cap; i++)
		buf_free(&q->slots[i]);
	free(q->slots);
	free(q->seqs);
	memset(q, 0, sizeof(*q));
}

void
session_ring_drop(struct session_ring *q, int n)
{
	if (n > q->count)
		n = q->count;
	/* A sent slot gives its memory back: a ring that kept every slot's
	 * buffer would hold offline_buffer_s samples (1.2 MiB at 300) even
	 * while each sample is acknowledged within the second. */
	for (int i = 0; i < n; i++)
		buf_free(&q->slots[(q->head + i) % q->cap]);
	q->head = (q->head + n) % q->cap;
	q->count -= n;
}

int
session_ring_push(struct session_ring *q, long long seq, const char *json,
    size_t len)
{
	struct buf *b;
	int i, r;

	if (q->count == q->cap) {
		session_ring_drop(q, 1);
		q->dropped++;
	}
	i = (q->head + q->count) % q->cap;
	b = &q->slots[i];
	buf_reset(b);
	if ((r = buf_add(b, json, len)) < 0)
		return r; /* the slot stays free: nothing half-queued is sent */
	q->seqs[i] = seq;
	q->count++;
	return 0;
}

const struct buf *
session_ring_at(const struct session_ring *q, int i, long long *seq)
{
	int k = (q->head + i) % q->cap;

	if (seq)
		*seq = q->seqs[k];
	return &q->slots[k];
}

int
session_ring_ack(struct session_ring *q, long long acked)
{
	int n = 0;
	long long seq;

	while (n < q->count) {
		session_ring_at(q, n, &seq);
		if (seq > acked)
			break;
		n++;
	}
	session_ring_drop(q, n);
	return n;
}

int
session_ring_batch(const struct session_ring *q, int max_n, struct buf *out)
{
	const struct buf *b;
	int n;

	buf_reset(out);
	if (buf_adds(out, "[") < 0)
		return 0;
	for (n = 0; n < q->count && n < max_n; n++) {
		b = session_ring_at(q, n, NULL);
		/* Room for this sample, a comma and the closing bracket. */
		if (n > 0 && out->len + b->len + 2 > out->max)
			break;
		if ((n > 0 && buf_adds(out, ",") < 0) ||
		    buf_add(out, b->data ? b->data : "", b->len) < 0)
			break;
	}
	buf_adds(out, "]");
	return n;
}

/* ---- timing ---- */

/* Exponential back-off with jitter: a random delay in [b/2, b]. */
static void
session_backoff(struct session *s, int64_t now)
{
	int b;

	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 :
	    SESSION_BACKOFF_MIN_MS;
	if (s->backoff_ms > SESSION_BACKOFF_MAX_MS)
		s->backoff_ms = SESSION_BACKOFF_MAX_MS;
	b = s->backoff_ms;
	s->next_try = now + b / 2 + (int64_t)sig_random_below(
	    (unsigned long)b / 2 + 1);
}

static void
session_ok(struct session *s, int64_t now)
{
	s->backoff_ms = 0;
	s->next_try = now;
	s->last_ok = now;
}

void
session_relay_error(const char *body, size_t len, char *out, size_t cap)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");

	if (cJSON_IsString(e))
		snprintf(out, cap, "%s", e->valuestring);
	else
		snprintf(out, cap, "%.100s", body);
	for (char *p = out; *p; p++)
		if (*p == '"' || *p == '\n' || *p == '\r')
			*p = '\'';
	cJSON_Delete(j);
}

/* Logs a failed request and backs off. */
static void
session_failed(struct session *s, const char *what,
    const struct uplink_result *res, int64_t now)
{
	char msg[160];

	if (res->status == 0)
		log_warnx("agent relay unreachable request=%s url=%s "
		    "error=\"%s\"", what, uplink_url(s->up), res->error);
	else if (res->status == 401 || res->status == 403) {
		session_relay_error(res->body, res->len, msg, sizeof(msg));
		log_error("agent refused by relay request=%s status=%ld "
		    "error=\"%s\" hint=\"check host_id and key_file\"", what,
		    res->status, msg);
	} else {
		session_relay_error(res->body, res->len, msg, sizeof(msg));
		log_warnx("agent relay error request=%s status=%ld "
		    "error=\"%s\"", what, res->status, msg);
	}
	session_backoff(s, now);
}

/* ---- modes ---- */

static void
session_start_stream(struct session *s, int64_t now)
{
	s->mode = SESSION_STREAM;
	s->last_ok = now;
	/* A fresh baseline: the first sample's rates cover one interval. */
	if (sampler_collect(s->smp) < 0)
		log_warnx("agent sample failed");
	s->next_sample = now + s->c->interval_ms;
	log_info("agent streaming host=%s interval_ms=%ld", s->c->host_id,
	    s->c->interval_ms);
}

static void
session_stop_stream(struct session *s, const char *why)
{
	s->mode = SESSION_IDLE;
	log_info("agent idle host=%s reason=%s buffered=%d dropped=%lu",
	    s->c->host_id, why, s->ring.count, s->ring.dropped);
}

int
session_answer(const char *body, size_t len, int def, long long *acked)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stream");
	const cJSON *ak = cJSON_GetObjectItemCaseSensitive(j, "acked_seq");
	int r = cJSON_IsBool(st) ? cJSON_IsTrue(st) : def;

	/* Out of range (1e300 would not convert): as if not sent. */
	if (acked)
		*acked = cJSON_IsNumber(ak) && ak->valuedouble >= 0 &&
		    ak->valuedouble <= (double)SAMPLE_SEQ_MAX ?
		    (long long)ak->valuedouble : -1;
	cJSON_Delete(j);
	return r;
}

static void
session_checkin_done(struct session *s, const struct uplink_result *res,
    int64_t now)
{
	if (res->status != 200) {
		session_failed(s, "checkin", res, now);
		return;
	}
	session_ok(s, now);
	if (session_answer(res->body, res->len, 0, NULL))
		session_start_stream(s, now);
}

static void
session_samples_done(struct session *s, const struct uplink_result *res,
    int64_t now)
{
	long long acked, last;
	int n = s->inflight;

	s->inflight = 0;
	if (res->status == 400 || res->status == 413) {
		/* A bad batch would be refused forever: drop it. */
		session_failed(s, "samples", res, now);
		session_ring_drop(&s->ring, n);
		log_warnx("agent dropped batch samples=%d status=%ld", n,
		    res->status);
		return;
	}
	if (res->status != 200) {
		session_failed(s, "samples", res, now);
		return;
	}
	session_ok(s, now);
	if (!session_answer(res->body, res->len, 1, &acked))
		session_stop_stream(s, "relay");
	if (acked < 0 && n > 0) {
		session_ring_at(&s->ring, n - 1, &last);
		acked = last;
	}
	session_ring_ack(&s->ring, acked);
}

/* Takes a sample when its deadline passed; keeps deadlines on the grid. */
static void
session_tick(struct session *s, int64_t now)
{
	long iv = s->c->interval_ms;

	if (now < s->next_sample)
		return;
	if (sampler_collect(s->smp) == 0 &&
	    sampler_json(s->smp, s->next_seq, &s->sample) == 0) {
		if (session_ring_push(&s->ring, s->next_seq, s->sample.data,
		    s->sample.len) == 0)
			s->next_seq++;
		else
			log_warnx("agent sample not queued seq=%lld",
			    s->next_seq);
	} else
		log_warnx("agent sample failed seq=%lld", s->next_seq);
	s->next_sample += iv;
	if (s->next_sample <= now) /* we overslept: skip missed ticks */
		s->next_sample += ((now - s->next_sample) / iv + 1) * iv;
}

/* Starts the request the mode calls for, if none is in flight. */
static void
session_send(struct session *s, int64_t now)
{
	char body[160];
	int r;

	if (uplink_busy(s->up) || now < s->next_try)
		return;
	if (s->mode == SESSION_IDLE) {
		snprintf(body, sizeof(body), "{\"host\":\"%s\",\"version\":\""
		    SNO_VERSION "\",\"last_seq\":%lld}", s->c->host_id,
		    s->next_seq - 1);
		r = uplink_start(s->up, "/agent/v1/checkin", body,
		    strlen(body), SESSION_CHECKIN_TIMEOUT_MS);
		s->checkin = 1;
	} else {
		if (s->ring.count == 0)
			return;
		s->inflight = session_ring_batch(&s->ring, SAMPLE_BATCH_MAX,
		    &s->batch);
		r = uplink_start(s->up, "/agent/v1/samples", s->batch.data,
		    s->batch.len, SESSION_POST_TIMEOUT_MS);
		s->checkin = 0;
	}
	if (r < 0) {
		log_warnx("agent cannot start request error=%d", r);
		session_backoff(s, now);
	}
}

/* How long the loop may wait before something is due. */
static int
session_wait_ms(const struct session *s, int64_t now)
{
	int64_t until = now + SESSION_TICK_MS;

	if (s->mode == SESSION_STREAM && s->next_sample < until)
		until = s->next_sample;
	if (!uplink_busy(s->up) && s->next_try > now && s->next_try < until)
		until = s->next_try;
	return until > now ? (int)(until - now) : 0;
}

static void
session_step(struct session *s)
{
	struct uplink_result res;
	int64_t now = clock_mono_ms();

	if (s->mode == SESSION_STREAM) {
		session_tick(s, now);
		if (now - s->last_ok > s->c->offline_buffer_s * 1000) {
			log_warnx("agent relay unreachable for longer than "
			    "offline_buffer_s=%ld", s->c->offline_buffer_s);
			session_stop_stream(s, "offline");
		}
	}
	session_send(s, now);
	/* 1 when a request finished; a transport failure is a result too. */
	if (uplink_poll(s->up, session_wait_ms(s, clock_mono_ms()), &res) != 1)
		return;
	if (s->checkin)
		session_checkin_done(s, &res, clock_mono_ms());
	else
		session_samples_done(s, &res, clock_mono_ms());
	/* A backlog sent after an outage grows the batch and the request
	 * buffers to up to SAMPLE_BATCH_MAX_BYTES; give that back. */
	if (uplink_shrink(s->up, SESSION_BUF_KEEP) |
	    (s->batch.cap > SESSION_BUF_KEEP)) {
		buf_free(&s->batch);
		malloc_trim(0);
	}
}

static int
session_open(struct session *s, const struct agent_conf *c, int max_fds)
{
	struct sampler_opts so = {"/proc", "/sys", "/sys/fs/cgroup",
	    c->host_id, (int)c->top_processes, c->send_cmdline, max_fds};
	struct uplink_opts uo = {c->urls, c->nurls, c->host_id, c->key,
	    c->ca_file, c->proxy};
	long cap = c->offline_buffer_s * 1000 / c->interval_ms;
	char err[256];

	memset(s, 0, sizeof(*s));
	s->c = c;
	s->next_seq = (long long)clock_wall_ms();
	buf_init(&s->sample, SAMPLE_MAX_BYTES);
	buf_init(&s->batch, SAMPLE_BATCH_MAX_BYTES);
	if ((s->smp = sampler_new(&so)) == NULL) {
		log_warn("agent cannot open collectors");
		return -EIO;
	}
	if ((s->up = uplink_new(&uo, err, sizeof(err))) == NULL) {
		log_warnx("agent cannot set up the uplink: %s", err);
		return -EIO;
	}
	return session_ring_init(&s->ring, cap < 1 ? 1 : (int)cap);
}

static void
session_close(struct session *s)
{
	uplink_free(s->up);
	sampler_free(s->smp);
	session_ring_free(&s->ring);
	buf_free(&s->sample);
	buf_free(&s->batch);
}

int
session_run(const struct agent_conf *c, int max_fds,
    volatile sig_atomic_t *stop)
{
	struct session s;
	int r;

	if ((r = session_open(&s, c, max_fds)) < 0)
		goto out;
	log_info("agent ready host=%s relay=%s route=\"%s\" interval_ms=%ld "
	    "offline_buffer_s=%ld first_seq=%lld", c->host_id, c->urls[0],
	    uplink_route(s.up), c->interval_ms, c->offline_buffer_s,
	    s.next_seq);
	notify_systemd("READY=1\nSTATUS=sampling");
	while (!*stop)
		session_step(&s);
	notify_systemd("STOPPING=1\nSTATUS=stopping");
	log_info("agent stopping host=%s buffered=%d dropped=%lu",
	    c->host_id, s.ring.count, s.ring.dropped);
	r = 0;
out:
	session_close(&s);
	return r;
}
