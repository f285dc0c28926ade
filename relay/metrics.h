/*
 * Prometheus counters for the relay. Plain globals bumped by the event loop;
 * the two webhook counters are atomic because the webhook thread bumps them.
 */
#ifndef SNO_METRICS_H
#define SNO_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

#define METRICS_BUCKETS 12
#define METRICS_TURN_BUCKETS 9

/* Loop-turn durations: cumulative buckets (metrics.c's bounds), count,
 * sum and longest since start, in seconds. */
struct turn_hist {
	uint64_t buckets[METRICS_TURN_BUCKETS];
	uint64_t count;
	double sum;
	double max;
};

struct metrics {
	uint64_t connections_total;
	uint64_t events_http;
	uint64_t events_client;
	uint64_t delivered;
	uint64_t bytes_sent;
	uint64_t ws_writes;	/* write calls carrying frames */
	uint64_t slow_consumers;
	uint64_t auth_failures;
	uint64_t http_requests;
	uint64_t publish_buckets[METRICS_BUCKETS];
	uint64_t publish_count;
	double publish_sum;
	struct turn_hist turn;	  /* loop turns by wall-clock time */
	struct turn_hist turn_cpu; /* the same turns by CPU time used */
	atomic_ulong webhooks_sent;
	atomic_ulong webhook_failures;
};

extern struct metrics metrics;
struct relay;

/* Records one publish that took us microseconds to handle. */
void metrics_publish_time(int64_t us);
/* Records one event-loop turn that lasted us microseconds and used
 * cpu_us of CPU time (the glue). */
void metrics_loop_turn(int64_t us, int64_t cpu_us);
/* Appends the Prometheus text exposition to out; 0 or a buf error. */
int metrics_render(const struct relay *r, struct buf *out);

#endif
