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
	uint64_t turn_buckets[METRICS_TURN_BUCKETS];
	uint64_t turn_count;
	double turn_sum;
	double turn_max;	/* longest loop turn since start, seconds */
	atomic_ulong webhooks_sent;
	atomic_ulong webhook_failures;
};

extern struct metrics metrics;
struct relay;

/* Records one publish that took us microseconds to handle. */
void metrics_publish_time(int64_t us);
/* Records one event-loop turn that took us microseconds (the glue). */
void metrics_loop_turn(int64_t us);
/* Appends the Prometheus text exposition to out; 0 or a buf error. */
int metrics_render(const struct relay *r, struct buf *out);

#endif
