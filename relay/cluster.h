/*
 * Scale-out over Redis (issue 12, docs/scaleout.md). This first part only
 * checks the [relay] redis, redis_prefix and node_id keys; the connections,
 * publish path and leases follow. With no redis key nothing here runs.
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

struct ev_loop;
struct relay_conf;

/*
 * Starts the Redis connection on loop when conf has a redis URL (else does
 * nothing and returns 0). The connection reconnects by itself with back-off
 * (100 ms doubling to 2 s) and is checked by a PING every second.
 */
int	cluster_start(struct ev_loop *loop, const struct relay_conf *conf);
void	cluster_stop(void);

/* 1 when clustering is off or the Redis connection is up, else 0. */
int	cluster_ready(void);

#endif
