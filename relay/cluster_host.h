/*
 * Scale-out over Redis for the monitoring side (issue 12,
 * docs/scaleout.md "Realtime sessions, samples, history and logins"):
 * who watches which host on any node (cluster_host.c), samples
 * de-duplicated by seq and kept in a Redis stream per host, the
 * dashboard's history read from it (cluster_sample.c), dashboard logins
 * kept in Redis (cluster_login.c) and the failed-login counts mirrored
 * there (cluster_throttle.c). Every function is a no-op, or is not
 * called, while cluster_on() is 0.
 */
#ifndef SNO_RELAY_CLUSTER_HOST_H
#define SNO_RELAY_CLUSTER_HOST_H

#include <stddef.h>
#include <stdint.h>

struct host;
struct http_req;
struct login;
struct relay;
struct user_conf;

struct relay_conf;

/* The key prefix and this node's id (cluster_sample.c's too). */
void	cluster_host_ids(const struct relay_conf *c, const char **prefix,
	    const char **node);
/* host.c's channel hooks: a local subscriber came (fresh: a new one) or
 * the channel's last local subscriber left; channel is a host's or a
 * fleet's. */
void	cluster_host_watch(const char *channel, int fresh);
/* Every relay tick: tells Redis what this node watches and reads what the
 * others watch (h->remote_*), every CH_POLL_MS. */
void	cluster_hosts_tick(struct relay *r, int64_t now_ms);

/*
 * Around one POST /agent/v1/samples: between begin and end host_samples
 * hands each checked, stamped sample to cluster_host_sample (0, or an
 * HTTP status when Redis is down). end returns 1 when it took q over
 * (answered once Redis confirmed every sample), 0 when the caller answers
 * with status as usual.
 */
void	cluster_host_begin(void);
int	cluster_host_sample(struct host *h, long long seq, const char *json,
	    size_t len);
int	cluster_host_end(struct http_req *q, struct host *h, int status);
/* GET /api/v1/hosts/{id}/history from the host's Redis stream. */
void	cluster_host_history(struct http_req *q, struct host *h,
	    long long since);

/* cluster_login.c: finds q's login in Redis, then calls route(q, s) with
 * a login that lives for the call; answers 401 or 503 itself. */
void	cluster_login_route(struct http_req *q,
	    void (*route)(struct http_req *q, struct login *s));
/* Keeps a new login in Redis for ttl_s, then answers q 200 with body
 * (503 when Redis did not confirm). */
void	cluster_login_put(struct http_req *q, const char *token,
	    const struct user_conf *u, int ttl_s, const char *body);
void	cluster_login_del(const char *token);
/* cluster_throttle.c, for dash_login.c's failed-login counts: the larger
 * of the node's count (local) and the cluster's as last heard (local
 * alone with clustering off), and a change of the node's count (+1, -1, 0
 * to forget) mirrored into Redis. */
int	cluster_login_fails(const char *kind, const char *who, int local);
void	cluster_login_failed(const char *kind, const char *who, int delta);

#endif
