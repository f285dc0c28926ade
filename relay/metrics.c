/* Prometheus text format (exposition format 0.0.4) for the relay. */
#include "metrics.h"
#include "conn.h"

struct metrics metrics;

static const double bucket_le[METRICS_BUCKETS] = {0.00005, 0.0001, 0.00025,
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};

void
metrics_publish_time(int64_t us)
{
	double s = (double)us / 1e6;

	for (int i = 0; i < METRICS_BUCKETS; i++)
		if (s <= bucket_le[i])
			metrics.publish_buckets[i]++;
	metrics.publish_count++;
	metrics.publish_sum += s;
}

#define GAUGE(n, h) "# HELP " n " " h "\n# TYPE " n " gauge\n"
#define COUNTER(n, h) "# HELP " n " " h "\n# TYPE " n " counter\n"

int
metrics_render(const struct relay *r, struct buf *o)
{
	int e = 0;

	e |= buf_printf(o, GAUGE("sno_connections", "Open websockets.")
	    "sno_connections %d\n", r->nconns);
	e |= buf_printf(o, COUNTER("sno_connections_total",
	    "Websockets accepted.") "sno_connections_total %lu\n",
	    (unsigned long)metrics.connections_total);
	e |= buf_printf(o, GAUGE("sno_subscriptions",
	    "Channel subscriptions.") "sno_subscriptions %d\n", r->nsubs);
	e |= buf_printf(o, GAUGE("sno_channels", "Occupied channels.")
	    "sno_channels %d\n", r->nchannels);
	e |= buf_printf(o, COUNTER("sno_events_received_total",
	    "Events accepted, by source.")
	    "sno_events_received_total{source=\"http\"} %lu\n"
	    "sno_events_received_total{source=\"client\"} %lu\n",
	    (unsigned long)metrics.events_http,
	    (unsigned long)metrics.events_client);
	e |= buf_printf(o, COUNTER("sno_events_delivered_total",
	    "Event frames queued to subscribers.")
	    "sno_events_delivered_total %lu\n",
	    (unsigned long)metrics.delivered);
	e |= buf_printf(o, COUNTER("sno_bytes_sent_total",
	    "Websocket payload bytes written.") "sno_bytes_sent_total %lu\n",
	    (unsigned long)metrics.bytes_sent);
	e |= buf_printf(o, COUNTER("sno_ws_writes_total",
	    "Write calls that carried event frames (several per call when a "
	    "connection has a backlog).") "sno_ws_writes_total %lu\n",
	    (unsigned long)metrics.ws_writes);
	e |= buf_printf(o, COUNTER("sno_http_requests_total",
	    "HTTP requests served.") "sno_http_requests_total %lu\n",
	    (unsigned long)metrics.http_requests);
	e |= buf_printf(o, "# HELP sno_publish_seconds Time to handle one "
	    "HTTP publish, fan-out included.\n"
	    "# TYPE sno_publish_seconds histogram\n");
	for (int i = 0; i < METRICS_BUCKETS; i++)
		e |= buf_printf(o, "sno_publish_seconds_bucket{le=\"%g\"} %lu\n",
		    bucket_le[i], (unsigned long)metrics.publish_buckets[i]);
	e |= buf_printf(o, "sno_publish_seconds_bucket{le=\"+Inf\"} %lu\n"
	    "sno_publish_seconds_sum %.6f\nsno_publish_seconds_count %lu\n",
	    (unsigned long)metrics.publish_count, metrics.publish_sum,
	    (unsigned long)metrics.publish_count);
	e |= buf_printf(o, COUNTER("sno_slow_consumer_disconnects_total",
	    "Connections cut for exceeding send_queue_bytes.")
	    "sno_slow_consumer_disconnects_total %lu\n",
	    (unsigned long)metrics.slow_consumers);
	e |= buf_printf(o, COUNTER("sno_auth_failures_total",
	    "Refused signatures (websocket and HTTP API).")
	    "sno_auth_failures_total %lu\n",
	    (unsigned long)metrics.auth_failures);
	e |= buf_printf(o, COUNTER("sno_webhooks_sent_total",
	    "Webhook requests answered 2xx.") "sno_webhooks_sent_total %lu\n",
	    (unsigned long)atomic_load(&metrics.webhooks_sent));
	e |= buf_printf(o, COUNTER("sno_webhook_failures_total",
	    "Webhook attempts that failed.")
	    "sno_webhook_failures_total %lu\n",
	    (unsigned long)atomic_load(&metrics.webhook_failures));
	return e ? -1 : 0;
}
