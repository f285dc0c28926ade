/*
 * The agent's life once configured: an idle long-poll check-in loop, and a
 * streaming loop that samples on absolute deadlines into a bounded in-order
 * buffer and posts the oldest samples first. Never reorders; when the
 * buffer is full the oldest sample is dropped and counted.
 */
#ifndef SNO_STREAM_H
#define SNO_STREAM_H

#include <signal.h>

#include "agent_conf.h"
#include "buf.h"

/*
 * Runs until *stop becomes non-zero (SIGTERM/SIGINT). max_fds caps the
 * kept-open /proc/PID/stat fds. Returns 0 on a clean stop, negative errno
 * when start-up fails. Logs "agent ready" once started.
 */
int stream_run(const struct agent_conf *c, int max_fds,
    volatile sig_atomic_t *stop);

/*
 * Reading the relay's JSON answers (len bytes of body): the boolean
 * "stream" (def when absent) and, when acked is not NULL, "acked_seq"
 * (-1 when absent or outside 0..SAMPLE_SEQ_MAX).
 */
int stream_answer(const char *body, size_t len, int def, long long *acked);
/*
 * The relay's {"error":"..."} text, or the start of a NUL-terminated body
 * that is not one, into out for a log line: quotes and line breaks become
 * '\''.
 */
void stream_relay_error(const char *body, size_t len, char *out,
    size_t cap);

/*
 * The bounded in-order sample buffer (exposed for unit tests): cap slots,
 * each holding one sample's JSON; the slots' storage is reused.
 */
struct stream_ring {
	struct buf *slots;
	long long *seqs;
	int cap, head, count;
	unsigned long dropped;
};

/* 0 or -ENOMEM. */
int stream_ring_init(struct stream_ring *q, int cap);
void stream_ring_free(struct stream_ring *q);
/* Appends a copy of json; drops (and counts) the oldest when full. */
int stream_ring_push(struct stream_ring *q, long long seq, const char *json,
    size_t len);
/* The i-th oldest sample (0 = oldest); i < count. */
const struct buf *stream_ring_at(const struct stream_ring *q, int i,
    long long *seq);
/* Drops the n oldest samples. */
void stream_ring_drop(struct stream_ring *q, int n);
/* Drops every sample with seq <= acked; returns how many. */
int stream_ring_ack(struct stream_ring *q, long long acked);
/*
 * Replaces out with a JSON array of the oldest samples: at most max_n of
 * them and at most out's cap in bytes (at least one). Returns the count.
 */
int stream_ring_batch(const struct stream_ring *q, int max_n,
    struct buf *out);

#endif
