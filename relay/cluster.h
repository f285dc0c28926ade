/*
 * Scale-out over Redis (issue 12, docs/scaleout.md): the config checks
 * (cluster.c), the command connection (cluster_conn.c) and the publish
 * path with its pub/sub connection (cluster_pub.c). With no redis key
 * nothing here runs.
 */
#ifndef SNO_RELAY_CLUSTER_H
#define SNO_RELAY_CLUSTER_H

#include <stddef.h>

/*
 * Checks the cluster keys (any may be NULL: not set). Returns 0, or -1
 * with a message naming the key and the problem in err.
 */
int	cluster_conf_check(const char *url, const char *prefix,
	    const char *node_id, char *err, size_t errlen);

/*
 * The node_id of a node that sets none: "<host name>-<listen port>"
 * (characters outside the node_id set become '-'), so two nodes on one
 * machine differ and a restarted node keeps its name. Malloc'd; NULL when
 * out of memory.
 */
char	*cluster_node_default(const char *listen);

struct ev_loop;
struct relay_conf;

/*
 * Starts the Redis connection on loop when conf has a redis URL (else does
 * nothing and returns 0). The connection reconnects by itself with back-off
 * (100 ms doubling to 2 s) and is checked by a PING every second.
 */
int	cluster_start(struct ev_loop *loop, const struct relay_conf *conf);
void	cluster_stop(void);

/* 1 when clustering is off, or both Redis connections are up and the
 * node holds its lease; else 0. */
int	cluster_ready(void);

/* cluster_conn.c, for cluster_pub.c: the command connection when it is
 * up (else NULL), and a new connection attached to the loop (AUTH sent). */
struct redisAsyncContext;
struct redisAsyncContext *cluster_cmd(void);
struct redisAsyncContext *cluster_new_context(void);
/* A blocking connection (250 ms timeouts), for the last word at shutdown;
 * NULL when Redis is not there. */
struct redisContext;
struct redisContext *cluster_sync_context(void);

/*
 * cluster_pub.c: the publish path (docs/scaleout.md). cluster_on() is 1
 * when a redis key is set; then every publish goes through
 * cluster_publish and is delivered by channel_publish on every node when
 * it comes back on pub/sub.
 */
struct app;
struct http_req;
int	cluster_pub_start(struct ev_loop *loop, const struct relay_conf *conf);
void	cluster_pub_stop(void);
int	cluster_pub_up(void);
int	cluster_on(void);
/* Sends one event of channel chname; except and uid may be NULL. Returns
 * 0, or -EAGAIN while Redis is down, -ENOMEM. */
int	cluster_publish(struct app *a, const char *chname, const char *ev,
	    const char *data, size_t dlen, const char *except,
	    const char *uid);
/* The node has a local subscriber on name: SUBSCRIBE it. */
void	cluster_channel_used(struct app *a, const char *name);
/* 1 once Redis acknowledged the SUBSCRIBE of name on this connection. */
int	cluster_channel_acked(struct app *a, const char *name);
/*
 * cluster_hold.c: s (not presence) was just made; returns 1 when its
 * subscription_succeeded waits for the SUBSCRIBE ack (its events too),
 * else 0: the caller answers now.
 */
struct sub;
int	cluster_hold(struct sub *s);
void	cluster_hold_acked(const char *key);	/* "<app id>:<channel>" */
void	cluster_hold_expire(void);	/* refuses those waiting 3 s */
void	cluster_hold_stop(void);
/* cluster_deliver.c: one message from pub/sub to the local subscribers. */
void	cluster_deliver(const char *p, size_t len);
/* One "<n>:<text>" field of a message at p (before end) into out,
 * NUL-terminated; what follows it, or NULL when it does not fit. */
const char *cluster_field(const char *p, const char *end, char *out,
	    size_t outlen);
/*
 * Around one HTTP API request: publishes between begin and end belong to
 * q. end returns 1 when it took q over (parked until Redis confirms: 200
 * with what the handler wrote, else 503 with Retry-After: 1), 0 when the
 * caller answers q with status as usual.
 */
void	cluster_api_begin(void);
int	cluster_api_end(struct http_req *q, int status);
/*
 * cluster_api.c: q, answered 200 by the local HTTP API, is a read Redis
 * answers for the cluster (/channels, /channels/{c}, /channels/{c}/users)
 * or a terminate_connections (cluster_ctl_request): takes q over and
 * returns 1 (parked until the reply, 250 ms at most, or 503 with
 * Retry-After), else 0.
 */
int	cluster_api_read(struct http_req *q);
/* The key prefix and this node's id (cluster_pub.c). */
const char *cluster_prefix(void);
const char *cluster_node(void);

/*
 * cluster_presence.c: presence across nodes and the node's lease. join
 * holds s (a presence sub just made) back from every event until Redis
 * decided: then subscription_succeeded with every node's members, or a
 * subscription_error (full, Redis gone) and s unsubscribed. Returns 0, or
 * -EAGAIN when Redis is not there (the caller refuses s).
 */
struct sub;
void	cluster_presence_start(struct ev_loop *loop);
void	cluster_presence_stop(void);
int	cluster_presence_up(void);	/* the lease is registered */
int	cluster_presence_join(struct sub *s);
/* A message of sequence seq of presence channel chname came in. */
void	cluster_presence_seen(struct app *a, const char *chname,
	    long long seq);
/* The SUBSCRIBE of key ("<app id>:<channel>") was acknowledged. */
void	cluster_presence_acked(const char *key);
/* This node has n subscriptions of chname now (after a subscribe). */
void	cluster_count(struct app *a, const char *chname, int n);
/* A socket left chname, n subscriptions are left on this node; sock is
 * the socket for a presence channel, else NULL. */
void	cluster_unsubscribed(struct app *a, const char *chname,
	    const char *sock, int n);

/*
 * cluster_ctl.c: the control channel P:ctl. subscribe: SUBSCRIBEs it on a
 * new pub/sub connection. request: when q (answered 200 by the local HTTP
 * API) is a terminate_connections, PUBLISHes it on P:ctl for every node and
 * parks q until Redis took it (200, else 503 with Retry-After): returns 1,
 * else 0.
 */
void	cluster_ctl_subscribe(struct redisAsyncContext *sub);
int	cluster_ctl_request(struct http_req *q);

/*
 * cluster_cache.c: cache channels' last event in Redis. kept: 1 when an
 * event ev of chname is kept as the channel's last (not member or client
 * events). replay: holds s (a cache channel's sub just answered
 * subscription_succeeded) from every event until the last event from Redis
 * (or cache_miss) was sent to it; 0, or -EAGAIN/-ENOMEM (the caller sends
 * the node's own). acked: the SUBSCRIBE of key ("<app id>:<channel>") was
 * acknowledged. replayed: 1 when the pub/sub message at p is a replay
 * (then handled), 0 for an event.
 */
/*
 * cluster_count.c: the subcount script for chname of a (its subscriptions
 * changed on this node): Redis publishes pusher_internal:subscription_count
 * with the cluster's count when it is due, else the node is told when to
 * try again (channel_count_due).
 */
void	cluster_subcount(struct app *a, const char *chname);

/*
 * cluster_online.c: who is signed in, for the cluster's watchlists.
 * online: a's user uid got its first signed-in connection on this node
 * (delta 1) or lost its last (-1); Redis publishes "online"/"offline" on
 * P:ctl when the cluster's count crossed 0. read: c is told which of its n
 * watched ids are online (watchlist_online_is). rejoin: every signed-in
 * user of this node registered again (a new incarnation).
 */
struct conn;
void	cluster_online(struct app *a, const char *uid, int delta);
void	cluster_online_read(struct conn *c, const char *const *ids, int n);
void	cluster_online_rejoin(const char *inc);
/* cluster_presence.c: take a new incarnation at the next lease round;
 * the registered incarnation, or NULL while there is none. */
void	cluster_presence_resync(void);
const char *cluster_incarnation(void);

void	cluster_cache_start(struct ev_loop *loop);
void	cluster_cache_stop(void);
int	cluster_cache_kept(const char *chname, const char *ev);
int	cluster_cache_replay(struct sub *s);
void	cluster_cache_acked(const char *key);
int	cluster_cache_replayed(const char *p, size_t len);
/* The data of the kept message p (len bytes, as Redis holds it) and its
 * length in *dlen; NULL when p is not one. */
const char *cluster_cache_data(const char *p, size_t len, size_t *dlen);

/* cluster_api.c: answers q 503 with Retry-After: 1, saying why the
 * cluster could not serve it. */
void cluster_http_unavailable(struct http_req *q, const char *why);

#endif
