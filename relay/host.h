/*
 * Monitored hosts on the relay: realtime sessions (docs/architecture.md "A
 * realtime session"), the history ring of recent samples, and publishing
 * samples on private-host-{id}. lws-free; agent_api.c and dash_api.c drive it.
 */
#ifndef SNO_HOST_H
#define SNO_HOST_H

#include <stdint.h>

#include "buf.h"
#include "conn.h"

#define HOST_CHANNEL_PREFIX "private-host-"
#define HOST_ONLINE_MS 75000	/* seen this recently: online */

struct hist {
	long long seq;
	char *json;	/* the stamped sample */
	size_t len;
};

#define HOST_SEEN_MAX 4096	/* signed requests remembered per host */

struct host_seen {
	int64_t ts_ms;
	uint64_t sig;		/* the signature's first 64 bits */
};

struct host {
	const struct host_conf *conf;
	struct relay *relay;
	char channel[160];
	int streaming;
	int64_t session_start_ms;	/* monotonic */
	int64_t session_end_wall_ms;	/* when the cap hits */
	int occupied;
	int64_t vacated_ms;		/* monotonic; valid when !occupied */
	long long last_seq;
	/* Replay guard (host_request_fresh): nothing at or before the
	 * floor, nothing seen already among the requests still in the
	 * clock window. */
	int64_t replay_floor_ms;
	struct host_seen *seen;
	uint32_t nseen, seen_cap;
	int64_t last_seen_wall_ms;
	int waiters;			/* parked check-ins */
	/* cluster hook (cluster_host.c): watched on another node */
	int remote_occupied;
	int64_t remote_vacated_ms;	/* monotonic; valid when !remote_ */
	long long remote_sub_ms;	/* Redis clock: newest remote viewer */
	int64_t seen_sent_ms;		/* last_seen_wall_ms, last_seq as */
	long long seq_sent;		/* Redis last heard them from us */
	struct hist *ring;
	uint32_t ring_cap, ring_head, ring_len;
	struct fleet *fleet;		/* its account's (fleet.c), or NULL */
	int fleet_ix;			/* its row there */
};

/* Creates r->hosts from the config; 0 or -ENOMEM. */
int hosts_init(struct relay *r);
void hosts_free(struct relay *r);
/* One host for conf, with an empty ring of history_seconds; or NULL. */
struct host *host_new(struct relay *r, const struct host_conf *conf);
void host_free(struct host *h);
struct host *host_find(struct relay *r, const char *id);
/*
 * Replay guard for a correctly signed request of h stamped ts_ms with the
 * signature sighex (SIGN_HEX_LEN hex digits): 0 and remembered when it is
 * new, -EALREADY when it was taken already (or is older than the relay's
 * start), -ENOMEM. Requests stamped before oldest_ms (the clock window's
 * start, which the caller refuses anyway) are forgotten. A request stamped
 * in the future moves no bar: the requests stamped now still pass.
 */
int host_request_fresh(struct host *h, int64_t ts_ms, const char *sighex,
    int64_t oldest_ms);
/* Channel hooks from channel.c (any app; ignored unless it is the metrics
 * app's private-host- channel). */
void host_channel_subscribed(struct app *a, const char *channel);
void host_channel_vacated(struct app *a, const char *channel);
/* A viewer wants h: starts its session unless one is on (one past its
 * cap restarts). */
void host_session_want(struct host *h);
/* Whether h should stream now; ends the session (and tells viewers) when
 * the grace period or the cap has passed. */
int host_should_stream(struct host *h, int64_t now_ms);
/*
 * Takes a JSON array of samples (the body of POST /agent/v1/samples), keeps
 * and publishes those newer than the last accepted seq, in order. Returns an
 * HTTP status; on 200 out gets {"stream":..,"acked_seq":..}, else
 * {"error":..}.
 */
int host_samples(struct host *h, const char *body, size_t len,
    struct buf *out);
/* {"host":..,"samples":[...]} with the samples after seq since. */
int host_history(struct host *h, long long since, struct buf *out);
/* Periodic: ends sessions whose grace or cap passed. */
void hosts_tick(struct relay *r, int64_t now_ms);

/* What an unknown host and a wrong key both get (agent_api.c, http_head.c):
 * telling them apart would let anyone list the host ids (the log says). */
#define AGENT_BAD_SIG "bad signature or unknown host: check the host id " \
	"and the host's key_file"

/* Implemented by agent_api.c: answer h's parked check-ins now. */
void agent_api_wake(struct host *h);

#endif
