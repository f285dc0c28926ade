/*
 * Scale-out over Redis: between the pub/sub connection (cluster_pub.c),
 * delivery (cluster_deliver.c) and the sync and watchdog of
 * cluster_sync.c (docs/scaleout.md, "Gaps").
 */
#ifndef SNO_RELAY_CLUSTER_SYNC_H
#define SNO_RELAY_CLUSTER_SYNC_H

#include <stddef.h>

#include "cluster_seq.h"

struct app;
struct redisAsyncContext;

/* cluster_pub.c: the sequence state of topic key ("<app id>:<channel>")
 * while this node subscribes it, else NULL. */
struct cseq *cluster_topic_seq(const char *key, size_t len);

/* Picks this process's sync channel name; once, at start. */
void	cluster_sync_init(void);
/* A new pub/sub connection: names it and SUBSCRIBEs the sync channel,
 * before any topic. */
void	cluster_sync_connected(struct redisAsyncContext *sub);
/* The pub/sub connection is gone. */
void	cluster_sync_lost(void);
/* Something came in on the pub/sub connection. */
void	cluster_sync_rx(void);
/* Topic key was acknowledged on this connection: asks Redis (on the
 * command connection) for its sequence, answered on the sync channel. */
void	cluster_sync_topic(const char *key, size_t applen, struct cseq *q);
/* Once a second: sends the heartbeat; 1 when the pub/sub connection must
 * be dropped (heartbeats not coming back), else 0. */
int	cluster_sync_tick(void);
/* Tells the subscribers of chname on this node of gap (sno:gap). */
void	cluster_gap_send(struct app *a, const char *chname,
	    const struct cseq_gap *gap);

#endif
