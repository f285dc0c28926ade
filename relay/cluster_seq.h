/*
 * Scale-out over Redis: the per-channel sequence check a node runs on what
 * comes in on its pub/sub connection (docs/scaleout.md, "Gaps"). Pure
 * logic, no I/O: cluster_deliver.c feeds it messages, cluster_sync.c the
 * sync records, and both send what it reports as a sno:gap event.
 */
#ifndef SNO_RELAY_CLUSTER_SEQ_H
#define SNO_RELAY_CLUSTER_SEQ_H

#include <stddef.h>

/*
 * Lua for every script that publishes on a channel: seqhead(m) bumps the
 * sequence of the channel whose meta hash is m and returns "<seq>
 * <epoch>", the head of the message. The epoch (Redis TIME) is set when
 * the hash has none, so a channel whose keys were lost (Redis restarted
 * empty, FLUSHALL) gets a new one and nodes see that the counter went
 * back. A script that bumps `o` must publish the message, else every
 * node reports a gap.
 */
#define CSEQ_LUA \
    "local function seqhead(m) " \
    " local s=redis.call('HINCRBY',m,'o',1) " \
    " local e=redis.call('HGET',m,'e') " \
    " if not e then local t=redis.call('TIME') e=t[1]..'.'..t[2] " \
    "  redis.call('HSET',m,'e',e) end " \
    " return s..' '..e end "

#define CSEQ_EPOCH_MAX 32

/* One channel on this node. */
struct cseq {
	long long next;		/* the sequence expected next; 0 unknown */
	char epoch[CSEQ_EPOCH_MAX + 1];	/* "" unknown */
	int synced;		/* the sync record came on this connection */
	int out;		/* a sync is on its way */
	unsigned gen;		/* of the sync on its way */
};

enum { CSEQ_NONE, CSEQ_RANGE, CSEQ_RESET };

/* What a node could not deliver: sequences from..to, or a reset (the
 * channel's counter started again: anything may be missing). */
struct cseq_gap {
	int kind;
	long long from, to;
};

/*
 * Message seq of epoch (may be "") came: returns 1 to deliver it, 0 to
 * drop it (a duplicate); gap says what is missing before it. The first
 * message of a channel not known yet sets the expectation.
 */
int	cseq_message(struct cseq *q, long long seq, const char *epoch,
	    struct cseq_gap *gap);
/*
 * The sync record: last is the channel's sequence and epoch its epoch
 * ("" none: no keys) when Redis ran the sync script, ordered with the
 * messages (every message of sequence <= last came before it).
 */
void	cseq_sync(struct cseq *q, long long last, const char *epoch,
	    struct cseq_gap *gap);
/* The sno:gap event's data, {"from":f,"to":t} or {"reset":true}, in out;
 * its length, or -1 when it does not fit. */
int	cseq_gap_json(const struct cseq_gap *g, char *out, size_t len);

#endif
