/*
 * Check-in and streaming (see stream.h). One loop, two modes: IDLE holds
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
#include "sign.h"
#include "stream.h"
#include "uplink.h"

#define STREAM_CHECKIN_TIMEOUT_MS 70000L
#define STREAM_POST_TIMEOUT_MS 10000L
#define STREAM_BACKOFF_MIN_MS 500
#define STREAM_BACKOFF_MAX_MS 30000
#define STREAM_TICK_MS 500
#define STREAM_BUF_KEEP 16384	/* bytes a send buffer keeps between sends */

enum stream_mode { STREAM_IDLE, STREAM_STREAM };

struct stream {
	const struct agent_conf *c;
	struct sampler *smp;
	struct uplink *up;
	struct stream_ring ring;
	struct buf sample, batch;
	enum stream_mode mode;
	long long next_seq;
	int inflight;		/* samples in the POST in flight */
	int checkin;		/* the request in flight is a check-in */
	int64_t next_sample, next_try, last_ok;
	int backoff_ms;
};

/* ---- the ring ---- */

int
stream_ring_init(struct stream_ring *q, int cap)
{
	memset(q, 0, sizeof(*q));
	if (cap < 1)
		cap = 1;
	q->slots = calloc((size_t)cap, sizeof(*q->slots));
	q->seqs = calloc((size_t)cap, sizeof(*q->seqs));
	if (q->slots == NULL || q->seqs == NULL) {
		stream_ring_free(q);
		return -ENOMEM;
	}
	for (int i = 0; i < cap; i++)
		buf_init(&q->slots[i], SAMPLE_MAX_BYTES);
	q->cap = cap;
	return 0;
}

void
stream_ring_free(struct stream_ring *q)
{
	for (int i = 0; q->slots && i < q->cap; i++)
		buf_free(&q->slots[i]);
	free(q->slots);
	free(q->seqs);
	memset(q, 0, sizeof(*q));
}

void
stream_ring_drop(struct stream_ring *q, int n)
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
stream_ring_push(struct stream_ring *q, long long seq, const char *json,
    size_t len)
{
	struct buf *b;
	int i, r;

	if (q->count == q->cap) {
		stream_ring_drop(q, 1);
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
stream_ring_at(const struct stream_ring *q, int i, long long *seq)
{
	int k = (q->head + i) % q->cap;

	if (seq)
		*seq = q->seqs[k];
	return &q->slots[k];
}

int
stream_ring_ack(struct stream_ring *q, long long acked)
{
	int n = 0;
	long long seq;

	while (n < q->count) {
		stream_ring_at(q, n, &seq);
		if (seq > acked)
			break;
		n++;
	}
	stream_ring_drop(q, n);
	return n;
}

int
stream_ring_batch(const struct stream_ring *q, int max_n, struct buf *out)
{
	const struct buf *b;
	int n;

	buf_reset(out);
	if (buf_adds(out, "[") < 0)
		return 0;
	for (n = 0; n < q->count && n < max_n; n++) {
		b = stream_ring_at(q, n, NULL);
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
stream_backoff(struct stream *s, int64_t now)
{
	int b;

	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 :
	    STREAM_BACKOFF_MIN_MS;
	if (s->backoff_ms > STREAM_BACKOFF_MAX_MS)
		s->backoff_ms = STREAM_BACKOFF_MAX_MS;
	b = s->backoff_ms;
	s->next_try = now + b / 2 + (int64_t)sign_random_below(
	    (unsigned long)b / 2 + 1);
}

static void
stream_ok(struct stream *s, int64_t now)
{
	s->backoff_ms = 0;
	s->next_try = now;
	s->last_ok = now;
}

void
stream_relay_error(const char *body, size_t len, char *out, size_t cap)
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
stream_failed(struct stream *s, const char *what,
    const struct uplink_result *res, int64_t now)
{
	char msg[160];

	if (res->status == 0)
		log_warnx("agent relay unreachable request=%s url=%s "
		    "error=\"%s\"", what, res->url, res->error);
	else if (res->status == 401 || res->status == 403) {
		stream_relay_error(res->body, res->len, msg, sizeof(msg));
		log_error("agent refused by relay request=%s status=%ld "
		    "error=\"%s\" hint=\"check host_id and key_file\"", what,
		    res->status, msg);
	} else {
		stream_relay_error(res->body, res->len, msg, sizeof(msg));
		log_warnx("agent relay error request=%s status=%ld url=%s "
		    "error=\"%s\"", what, res->status, res->url, msg);
	}
	stream_backoff(s, now);
}

/* ---- modes ---- */

static void
stream_start_stream(struct stream *s, int64_t now)
{
	s->mode = STREAM_STREAM;
	s->last_ok = now;
	/* A fresh baseline: the first sample's rates cover one interval. */
	if (sampler_collect(s->smp) < 0)
		log_warnx("agent sample failed");
	s->next_sample = now + s->c->interval_ms;
	log_info("agent streaming host=%s interval_ms=%ld", s->c->host_id,
	    s->c->interval_ms);
}

static void
stream_stop_stream(struct stream *s, const char *why)
{
	s->mode = STREAM_IDLE;
	log_info("agent idle host=%s reason=%s buffered=%d dropped=%lu",
	    s->c->host_id, why, s->ring.count, s->ring.dropped);
}

int
stream_answer(const char *body, size_t len, int def, long long *acked)
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
stream_checkin_done(struct stream *s, const struct uplink_result *res,
    int64_t now)
{
	if (res->status != 200) {
		stream_failed(s, "checkin", res, now);
		return;
	}
	stream_ok(s, now);
	if (stream_answer(res->body, res->len, 0, NULL))
		stream_start_stream(s, now);
}

static void
stream_samples_done(struct stream *s, const struct uplink_result *res,
    int64_t now)
{
	long long acked, last;
	int n = s->inflight;

	s->inflight = 0;
	if (res->status == 400 || res->status == 413) {
		/* A bad batch would be refused forever: drop it. */
		stream_failed(s, "samples", res, now);
		stream_ring_drop(&s->ring, n);
		log_warnx("agent dropped batch samples=%d status=%ld", n,
		    res->status);
		return;
	}
	if (res->status != 200) {
		stream_failed(s, "samples", res, now);
		return;
	}
	stream_ok(s, now);
	if (!stream_answer(res->body, res->len, 1, &acked))
		stream_stop_stream(s, "relay");
	if (acked < 0 && n > 0) {
		stream_ring_at(&s->ring, n - 1, &last);
		acked = last;
	}
	stream_ring_ack(&s->ring, acked);
}

/* Takes a sample when its deadline passed; keeps deadlines on the grid. */
static void
stream_tick(struct stream *s, int64_t now)
{
	long iv = s->c->interval_ms;

	if (now < s->next_sample)
		return;
	if (sampler_collect(s->smp) == 0 &&
	    sampler_json(s->smp, s->next_seq, &s->sample) == 0) {
		if (stream_ring_push(&s->ring, s->next_seq, s->sample.data,
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
stream_send(struct stream *s, int64_t now)
{
	char body[160];
	int r;

	if (uplink_busy(s->up) || now < s->next_try)
		return;
	if (s->mode == STREAM_IDLE) {
		snprintf(body, sizeof(body), "{\"host\":\"%s\",\"version\":\""
		    SNO_VERSION "\",\"last_seq\":%lld}", s->c->host_id,
		    s->next_seq - 1);
		r = uplink_start(s->up, "/agent/v1/checkin", body,
		    strlen(body), STREAM_CHECKIN_TIMEOUT_MS);
		s->checkin = 1;
	} else {
		if (s->ring.count == 0)
			return;
		s->inflight = stream_ring_batch(&s->ring, SAMPLE_BATCH_MAX,
		    &s->batch);
		r = uplink_start(s->up, "/agent/v1/samples", s->batch.data,
		    s->batch.len, STREAM_POST_TIMEOUT_MS);
		s->checkin = 0;
	}
	if (r < 0) {
		log_warnx("agent cannot start request error=%d", r);
		stream_backoff(s, now);
	}
}

/* How long the loop may wait before something is due. */
static int
stream_wait_ms(const struct stream *s, int64_t now)
{
	int64_t until = now + STREAM_TICK_MS;

	if (s->mode == STREAM_STREAM && s->next_sample < until)
		until = s->next_sample;
	if (!uplink_busy(s->up) && s->next_try > now && s->next_try < until)
		until = s->next_try;
	return until > now ? (int)(until - now) : 0;
}

static void
stream_step(struct stream *s)
{
	struct uplink_result res;
	int64_t now = clock_mono_ms();

	if (s->mode == STREAM_STREAM) {
		stream_tick(s, now);
		if (now - s->last_ok > s->c->offline_buffer_s * 1000) {
			log_warnx("agent relay unreachable for longer than "
			    "offline_buffer_s=%ld", s->c->offline_buffer_s);
			stream_stop_stream(s, "offline");
		}
	}
	stream_send(s, now);
	/* 1 when a request finished; a transport failure is a result too. */
	if (uplink_poll(s->up, stream_wait_ms(s, clock_mono_ms()), &res) != 1)
		return;
	if (s->checkin)
		stream_checkin_done(s, &res, clock_mono_ms());
	else
		stream_samples_done(s, &res, clock_mono_ms());
	/* A backlog sent after an outage grows the batch and the request
	 * buffers to up to SAMPLE_BATCH_MAX_BYTES; give that back. */
	if (uplink_shrink(s->up, STREAM_BUF_KEEP) |
	    (s->batch.cap > STREAM_BUF_KEEP)) {
		buf_free(&s->batch);
		malloc_trim(0);
	}
}

static int
stream_open(struct stream *s, const struct agent_conf *c, int max_fds)
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
	return stream_ring_init(&s->ring, cap < 1 ? 1 : (int)cap);
}

static void
stream_close(struct stream *s)
{
	uplink_free(s->up);
	sampler_free(s->smp);
	stream_ring_free(&s->ring);
	buf_free(&s->sample);
	buf_free(&s->batch);
}

int
stream_run(const struct agent_conf *c, int max_fds,
    volatile sig_atomic_t *stop)
{
	struct stream s;
	int r;

	if ((r = stream_open(&s, c, max_fds)) < 0)
		goto out;
	log_info("agent ready host=%s relay=%s route=\"%s\" interval_ms=%ld "
	    "offline_buffer_s=%ld first_seq=%lld", c->host_id, c->urls[0],
	    uplink_route(s.up), c->interval_ms, c->offline_buffer_s,
	    s.next_seq);
	notify_systemd("READY=1\nSTATUS=sampling");
	while (!*stop)
		stream_step(&s);
	notify_systemd("STOPPING=1\nSTATUS=stopping");
	log_info("agent stopping host=%s buffered=%d dropped=%lu",
	    c->host_id, s.ring.count, s.ring.dropped);
	r = 0;
out:
	stream_close(&s);
	return r;
}
