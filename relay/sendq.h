/*
 * Fan-out primitives: a msg is one serialised websocket text frame shared,
 * reference-counted, by every connection it is queued on; a sendq is one
 * connection's bounded ring of msg pointers. Nothing here copies a payload
 * per recipient or allocates per delivery (the ring grows by doubling only).
 */
#ifndef SNO_SENDQ_H
#define SNO_SENDQ_H

#include <stddef.h>
#include <stdint.h>

/* Headroom before the payload for the websocket header (>= LWS_PRE). */
#define MSG_PRE 16

struct msg {
	uint32_t refs;
	uint32_t len;
	unsigned char buf[];	/* MSG_PRE headroom, then len bytes, then NUL */
};

/* A msg with room for len payload bytes and one reference; NULL on ENOMEM. */
struct msg *msg_new(size_t len);
/* A msg holding a copy of p[0..len). */
struct msg *msg_from(const void *p, size_t len);
static inline unsigned char *
msg_data(struct msg *m)
{
	return m->buf + MSG_PRE;
}
static inline struct msg *
msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}
/* Drops one reference; frees on the last. msg_unref(NULL) does nothing. */
void msg_unref(struct msg *m);

struct sendq {
	struct msg **ring;
	uint32_t head, len, cap;
	size_t bytes;	/* payload bytes queued */
	size_t max;	/* bound: a push past it fails */
};

void sendq_init(struct sendq *q, size_t max);
/* Releases every queued reference and the ring. */
void sendq_free(struct sendq *q);
/*
 * Appends m, taking a reference (at the front when urgent, for pongs).
 * Returns 0, -ENOBUFS when the queue would pass its bound (nothing queued),
 * or -ENOMEM.
 */
int sendq_push(struct sendq *q, struct msg *m, int urgent);
/* The oldest msg, or NULL; sendq_pop drops it and returns its reference. */
static inline struct msg *
sendq_peek(const struct sendq *q)
{
	return q->len ? q->ring[q->head] : NULL;
}
struct msg *sendq_pop(struct sendq *q);

#endif
