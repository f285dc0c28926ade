/* Prometheus text format (exposition format 0.0.4) for the relay. */
#include <string.h>

#include "metrics.h"
#include "conn.h"

struct metrics metrics;

static const double bucket_le[METRICS_BUCKETS] = {0.00005, 0.0001, 0.00025,
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};

static const double turn_le[METRICS_TURN_BUCKETS] = {0.0005, 0.001,
    0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25};

static void
turn_record(struct turn_hist *h, int64_t us)
{
	double s = (double)us / 1e6;

	for (int i = 0; i < METRICS_TURN_BUCKETS; i++)
		if (s <= turn_le[i])
			h->buckets[i]++;
	h->count++;
	h->sum += s;
	if (s > h->max)
		h->max = s;
}

void
metrics_loop_turn(int64_t us, int64_t cpu_us)
{
	turn_record(&metrics.turn, us);
	turn_record(&metrics.turn_cpu, cpu_us);
}

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

typedef unsigned long (*metric_get)(const struct relay *r);

#define GET(fn, expr) \
	static unsigned long \
	fn(const struct relay *r) \
	{ \
		(void)r; \
		return (unsigned long)(expr); \
	}
GET(g_conns, r->nconns)
GET(g_conns_total, metrics.connections_total)
GET(g_subs, r->nsubs)
GET(g_channels, r->nchannels)
GET(g_events_http, metrics.events_http)
GET(g_events_client, metrics.events_client)
GET(g_delivered, metrics.delivered)
GET(g_bytes_sent, metrics.bytes_sent)
GET(g_ws_writes, metrics.ws_writes)
GET(g_http_requests, metrics.http_requests)
GET(g_slow, metrics.slow_consumers)
GET(g_auth_failures, metrics.auth_failures)
GET(g_webhooks_sent, atomic_load(&metrics.webhooks_sent))
GET(g_webhook_failures, atomic_load(&metrics.webhook_failures))
#undef GET

/*
 * /metrics in the order it is written. Each metric has up to two samples,
 * each with its labels ("" for none) and its getter; a histogram has none
 * here and is written by render_special.
 */
static const struct metric {
	const char *name;
	const char *type;
	const char *help;
	const char *labels[2];
	metric_get get[2];
} metric_table[] = {
	{"sno_connections", "gauge", "Open websockets.", {""}, {g_conns}},
	{"sno_connections_total", "counter", "Websockets accepted.", {""},
	    {g_conns_total}},
	{"sno_subscriptions", "gauge", "Channel subscriptions.", {""},
	    {g_subs}},
	{"sno_channels", "gauge", "Occupied channels.", {""}, {g_channels}},
	{"sno_events_received_total", "counter", "Events accepted, by source.",
	    {"{source=\"http\"}", "{source=\"client\"}"},
	    {g_events_http, g_events_client}},
	{"sno_events_delivered_total", "counter",
	    "Event frames queued to subscribers.", {""}, {g_delivered}},
	{"sno_bytes_sent_total", "counter", "Websocket payload bytes written.",
	    {""}, {g_bytes_sent}},
	{"sno_ws_writes_total", "counter", "Write calls that carried event "
	    "frames (several per call when a connection has a backlog).",
	    {""}, {g_ws_writes}},
	{"sno_http_requests_total", "counter", "HTTP requests served.", {""},
	    {g_http_requests}},
	{"sno_publish_seconds", "histogram", "Time to handle one HTTP "
	    "publish, until accepted (a large fan-out goes on after).",
	    {NULL}, {NULL}},
	{"sno_loop_turn_seconds", "histogram", "Event-loop turns by how "
	    "long they lasted, from the poll's return to the next poll "
	    "(time the kernel gave other processes included).", {NULL},
	    {NULL}},
	{"sno_loop_turn_max_seconds", "gauge", "Longest event-loop turn "
	    "since start.", {NULL}, {NULL}},
	{"sno_loop_turn_cpu_seconds", "histogram", "Event-loop turns by the "
	    "CPU time the relay used in them.", {NULL}, {NULL}},
	{"sno_loop_turn_cpu_max_seconds", "gauge", "Most CPU time one "
	    "event-loop turn used since start.", {NULL}, {NULL}},
	{"sno_slow_consumer_disconnects_total", "counter",
	    "Connections cut for exceeding send_queue_bytes.", {""},
	    {g_slow}},
	{"sno_auth_failures_total", "counter",
	    "Refused signatures (websocket and HTTP API).", {""},
	    {g_auth_failures}},
	{"sno_webhooks_sent_total", "counter", "Webhook requests answered 2xx.",
	    {""}, {g_webhooks_sent}},
	{"sno_webhook_failures_total", "counter",
	    "Webhook attempts that failed.", {""}, {g_webhook_failures}},
};

static int
render_histogram(const char *name, struct buf *o, const double *le,
    const uint64_t *buckets, int n, uint64_t count, double sum)
{
	int e = 0;

	for (int i = 0; i < n; i++)
		e |= buf_printf(o, "%s_bucket{le=\"%g\"} %lu\n", name,
		    le[i], (unsigned long)buckets[i]);
	e |= buf_printf(o, "%s_bucket{le=\"+Inf\"} %lu\n%s_sum %.6f\n"
	    "%s_count %lu\n", name, (unsigned long)count, name, sum, name,
	    (unsigned long)count);
	return e;
}

static int
render_turns(const char *name, struct buf *o, const struct turn_hist *h)
{
	return render_histogram(name, o, turn_le, h->buckets,
	    METRICS_TURN_BUCKETS, h->count, h->sum);
}

/* The samples of a metric without getters (histograms, float gauges). */
static int
render_special(const char *name, struct buf *o)
{
	if (strcmp(name, "sno_publish_seconds") == 0)
		return render_histogram(name, o, bucket_le,
		    metrics.publish_buckets, METRICS_BUCKETS,
		    metrics.publish_count, metrics.publish_sum);
	if (strcmp(name, "sno_loop_turn_seconds") == 0)
		return render_turns(name, o, &metrics.turn);
	if (strcmp(name, "sno_loop_turn_cpu_seconds") == 0)
		return render_turns(name, o, &metrics.turn_cpu);
	if (strcmp(name, "sno_loop_turn_cpu_max_seconds") == 0)
		return buf_printf(o, "%s %.6f\n", name, metrics.turn_cpu.max);
	return buf_printf(o, "%s %.6f\n", name, metrics.turn.max);
}

int
metrics_render(const struct relay *r, struct buf *o)
{
	const struct metric *m;
	size_t i;
	int e = 0;

	for (i = 0; i < sizeof(metric_table) / sizeof(metric_table[0]); i++) {
		m = &metric_table[i];
		e |= buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", m->name,
		    m->help, m->name, m->type);
		if (m->get[0] == NULL) {
			e |= render_special(m->name, o);
			continue;
		}
		for (int k = 0; k < 2 && m->get[k]; k++)
			e |= buf_printf(o, "%s%s %lu\n", m->name, m->labels[k],
			    m->get[k](r));
	}
	return e ? -1 : 0;
}
