/*
 * The agent API (docs/architecture.md "The agent API"): POST
 * /agent/v1/checkin, a long poll answered at once when the host's session is
 * on, else after about 50 s; POST /agent/v1/samples. Every request is signed
 * with the host's own key over method, path, timestamp and body hash;
 * timestamps must be within 300 s, and each signed request is taken once
 * (host_request_fresh), so a captured request cannot be replayed, while a
 * request stamped in the future locks nobody out. A host can only ever
 * write to its own channel.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "cluster_host.h"
#include "host.h"
#include "http.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "sign.h"
#include "utf8.h"

#define CHECKIN_HOLD_MS 50000
#define AGENT_SKEW_MS 300000

static void
checkin_answer(struct http_req *q, int stream)
{
	char body[96];

	/* The sampling interval is the agent's own (interval_ms). */
	snprintf(body, sizeof(body), "{\"stream\":%s}",
	    stream ? "true" : "false");
	q->host = NULL;
	http_reply(q, 200, "application/json", body);
}

static void
checkin_due(struct http_req *q)
{
	checkin_answer(q, host_should_stream(q->host, clock_mono_ms()));
}

static void
checkin_wake(struct http_req *q)
{
	checkin_answer(q, 1);
}

void
agent_api_wake(struct host *h)
{
	http_parked_host(h, checkin_wake);
}

/* Verifies the request's signature headers; the host, or NULL after
 * answering 401. */
static struct host *
verify(struct http_req *q)
{
	static const unsigned char nokey[SIGN_HOST_KEY_LEN];
	char id[80], ts[32], sig[80], want[SIGN_HEX_LEN + 1], *end;
	char said[160];
	const char *why = NULL, *answer = NULL;
	struct host *h = NULL;
	long long t;
	int64_t now = clock_wall_ms();
	int e;

	http_header_get(q, "x-sno-host:", id, sizeof(id));
	http_header_get(q, "x-sno-timestamp:", ts, sizeof(ts));
	http_header_get(q, "x-sno-signature:", sig, sizeof(sig));
	t = strtoll(ts, &end, 10);
	if (!id[0] || !ts[0] || !sig[0])
		why = "missing X-Sno-Host, X-Sno-Timestamp or X-Sno-Signature";
	else if (*end || t < now - AGENT_SKEW_MS || t > now + AGENT_SKEW_MS) {
		snprintf(said, sizeof(said), "timestamp %.20s is not within "
		    "300 s of the relay's clock (%lld)", ts, (long long)now);
		why = said;
	} else {
		/* The same work for an unknown host as for a known one. */
		h = host_find(http_relay(), id);
		sign_agent_request(h ? h->conf->keybin : nokey, q->method,
		    q->path, ts, q->body.data ? q->body.data : "",
		    q->body.len, want);
		if (!sign_equal(sig, strlen(sig), want, SIGN_HEX_LEN) || !h) {
			why = h ? "bad signature" : "unknown host";
			answer = AGENT_BAD_SIG;
		} else if ((e = host_request_fresh(h, t, want, now -
		    AGENT_SKEW_MS)) == -ENOMEM)
			why = "out of memory for the replay guard";
		else if (e < 0)
			why = "replayed request (this timestamp and signature "
			      "were taken already)";
	}
	if (why) {
		metrics.auth_failures++;
		log_warnx("agent refused host=\"%.*s\" peer=%s why=\"%s\"",
		    utf8_prec(id, 64), id, q->peer, why);
		http_error(q, 401, "%s", answer ? answer : why);
		return NULL;
	}
	h->last_seen_wall_ms = now;
	return h;
}

/* A check-in body, when there is one, is {"host":..,"version":..,
 * "last_seq":..} for the signed host, with no key twice; else the why. */
static const char *
checkin_body_bad(const struct http_req *q, const struct host *h)
{
	cJSON *j;
	const char *host, *why = NULL;

	if (q->body.len == 0)
		return NULL;
	j = json_parse_exact(q->body.data, q->body.len, NULL);
	host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j,
	    "host"));
	if (!cJSON_IsObject(j))
		why = "check-in body is not one JSON object";
	else if (json_dup_key(j) != NULL)
		why = "check-in body has a duplicate key";
	else if (host && strcmp(host, h->conf->name) != 0)
		why = "check-in body is for another host";
	cJSON_Delete(j);
	return why;
}

void
agent_api_handle(struct http_req *q)
{
	struct host *h;
	const char *why;
	int st;

	if (strcmp(q->method, "POST") != 0) {
		http_error(q, 405, "use POST");
		return;
	}
	if ((h = verify(q)) == NULL)
		return;
	if (strcmp(q->path, "/agent/v1/checkin") == 0) {
		if ((why = checkin_body_bad(q, h)) != NULL)
			http_error(q, 400, "%s", why);
		else if (host_should_stream(h, clock_mono_ms()))
			checkin_answer(q, 1);
		else {
			q->host = h;
			http_park(q, clock_mono_ms() + CHECKIN_HOLD_MS,
			    checkin_due);
		}
	} else if (strcmp(q->path, "/agent/v1/samples") == 0) {
		buf_reset(&q->resp);
		cluster_host_begin();		/* cluster hook */
		st = host_samples(h, q->body.data ? q->body.data : "",
		    q->body.len, &q->resp);
		if (!cluster_host_end(q, h, st))	/* cluster hook */
			http_reply_resp(q, st, "application/json");
	} else
		http_error(q, 404, "no such agent endpoint");
}
