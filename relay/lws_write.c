/*
 * The websocket write path: frames queued on a connection (sendq.c) go out
 * with lws_write, batched into one raw write where several small ones wait.
 *
 * lws's rule is to write only from LWS_CALLBACK_SERVER_WRITEABLE; this file
 * also writes from the end of each loop turn (ws_flush_pending, called by
 * the ev_check in lws_server.c), so a frame fanned out during the turn
 * leaves without a POLLOUT round trip. That is safe here because the rule
 * exists for two cases this code rules out: (1) a write while lws still
 * holds the unsent tail of an earlier one -- lws_write buffers whatever the
 * socket does not take, and both paths stop or defer to SERVER_WRITEABLE
 * while lws_partial_buffered() says such a tail is pending; (2) a write on a
 * connection that is closing -- a connection with close_code set, or whose
 * peer has sent its close frame, is never written here. Everything runs on
 * the one event-loop thread, so no write races another.
 *
 * Frames are framed here (the relay sends only unmasked final text frames
 * and negotiates no extension) and, without TLS, sent with our own send(2)
 * on the socket: lws_write's path costs a few percent of a delivery at
 * 19,000 subscribers. What the socket does not take goes to lws as a raw
 * write, which keeps it and sends it at POLLOUT before anything else;
 * lws_partial_buffered() is looked at before every write, so a tail lws
 * holds (ours, or one of its own pongs and closes) is never overtaken.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "lws_glue.h"
#include "metrics.h"

#define WRITES_PER_CALLBACK 64
/* Writes (or connections looked at) between two looks at the clock (a
 * write is a few us, a look some tens of ns). */
#define FLUSH_CLOCK_EVERY 16

/* The lws user space of c's wsi is the pss that holds c: no need to load
 * the (cold) wsi to find it. */
static struct pss *
pss_of(struct conn *c)
{
	return (struct pss *)(void *)((char *)c - offsetof(struct pss, conn));
}

/* Appends the RFC 6455 §5.2 header of an unmasked final text frame. */
static size_t
frame_header(unsigned char *h, size_t len)
{
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

/*
 * Writes p[0..len) on c's connection: send(2) on the socket without TLS,
 * the rest (or everything, with TLS) as an lws raw write, which lws keeps
 * for POLLOUT when the socket will not take it. 0 or -1.
 */
static int
raw_write(struct lws *wsi, struct conn *c, unsigned char *p, size_t len)
{
	ssize_t n = 0;
	int fd = pss_of(c)->fd;

	if (fd >= 0 && (n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)) <
	    0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		n = 0;
	}
	if ((size_t)n < len &&
	    lws_write(wsi, p + n, len - (size_t)n, LWS_WRITE_RAW) <
		(int)(len - (size_t)n))
		return -1;
	metrics.ws_writes++;
	return 0;
}

/* One frame m on c: its header in m's headroom (the same bytes whichever
 * connection m goes to), header and payload in one write. 0 or -1. */
static int
write_frame(struct lws *wsi, struct conn *c, struct msg *m)
{
	unsigned char h[10];
	size_t hl = frame_header(h, m->len);
	unsigned char *p = msg_data(m) - hl;

	memcpy(p, h, hl);
	return raw_write(wsi, c, p, hl + m->len);
}

/*
 * Several frames wait for c: frame them into one buffer and write them at
 * once, so a backlog costs one send() instead of one per frame. Returns
 * the frames written, or -1.
 */
static int
write_batch(struct lws *wsi, struct conn *c)
{
	static unsigned char batch[LWS_PRE + 64 * 1024];
	unsigned char *p = batch + LWS_PRE;
	unsigned char *end = batch + sizeof(batch);
	uint32_t i, n = 0;
	size_t total;

	for (i = 0; i < c->q.len; i++) {
		struct msg *m = c->q.ring[(c->q.head + i) & (c->q.cap - 1)];

		if (m->len > 4096 || (size_t)(end - p) < m->len + 10)
			break;
		p += frame_header(p, m->len);
		memcpy(p, msg_data(m), m->len);
		p += m->len;
		n++;
	}
	if (n < 2)
		return 0; /* one frame (or a big one): the plain path */
	total = (size_t)(p - (batch + LWS_PRE));
	if (raw_write(wsi, c, batch + LWS_PRE, total) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct msg *m = sendq_pop(&c->q);

		metrics.bytes_sent += m->len;
		msg_unref(m);
	}
	return (int)n;
}

/* 1 once the monotonic clock has passed until (0: never). */
static int
past(int64_t until)
{
	return until && clock_mono_us() >= until;
}

/*
 * Writes what c has queued while the socket takes it, up to
 * WRITES_PER_CALLBACK writes and, with until set, until the clock passes
 * it (a backlog of 64 KB batches is tens of us a write). Returns the
 * writes made, or -1.
 */
static int
conn_flush(struct lws *wsi, struct conn *c, int64_t until)
{
	struct msg *m;
	int n = 0, b;

	while ((m = sendq_peek(&c->q)) != NULL && n < WRITES_PER_CALLBACK) {
		if ((b = write_batch(wsi, c)) < 0)
			return -1;
		if (b == 0) {
			if (write_frame(wsi, c, m) < 0)
				return -1;
			metrics.bytes_sent += m->len;
			msg_unref(sendq_pop(&c->q));
		}
		n++;
		if (c->q.len && (lws_partial_buffered(wsi) || past(until)))
			break;
	}
	return n;
}

int
ws_writeable(struct lws *wsi, struct conn *c)
{
	if (pss_of(c)->peer_closed)
		return 0; /* lws answers the close; no data after it */
	if (c->close_code && !(c->close_drain && c->q.len)) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
		    (unsigned char *)(uintptr_t)c->close_reason,
		    strlen(c->close_reason));
		return -1;
	}
	if (c->q.len && !c->close_code && past(glue_turn_until())) {
		/* This turn has worked long enough (a POLLOUT storm): the
		 * end-of-turn flush writes it in a later turn, in order. A
		 * closing connection is not deferred (its 3 s cut stays). */
		conn_want_write(c);
		return 0;
	}
	if (conn_flush(wsi, c, glue_turn_until()) < 0)
		return -1;
	if (c->q.len || c->close_code)
		lws_callback_on_writable(wsi);
	return 0;
}

/*
 * After every loop turn: each connection on r->pending writes what it got
 * during the turn now, batched, without waiting for a POLLOUT round trip;
 * a close asked during the turn is armed (written at SERVER_WRITEABLE, cut
 * after 3 s if the peer never reads). What the socket does not take waits
 * for SERVER_WRITEABLE. With until_us set, connections still on r->pending
 * once the monotonic clock passes it wait there, queues intact, for the
 * next turn; 0 writes them all.
 */
void
ws_flush_pending(struct relay *r, int64_t until_us)
{
	struct conn *c;
	int k = 0, n;

	while ((c = TAILQ_FIRST(&r->pending)) != NULL) {
		if (until_us && k >= FLUSH_CLOCK_EVERY) {
			if (clock_mono_us() >= until_us)
				break;
			k = 0;
		}
		k++;
		conn_pending_drop(c);
		if (c->close_code) {
			lws_callback_on_writable(c->wsi);
			/* A peer that never reads never makes us writable:
			 * cut it anyway. */
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 3);
			continue;
		}
		if (pss_of(c)->peer_closed)
			continue;
		if (lws_partial_buffered(c->wsi)) {
			lws_callback_on_writable(c->wsi);
			continue;
		}
		if ((n = conn_flush(c->wsi, c, until_us)) < 0) {
			conn_close(c, CLOSE_RECONNECT_LATER, "write failed");
			continue;
		}
		k += n > 1 ? n - 1 : 0;	/* a backlog's writes count too */
		if (c->q.len)
			lws_callback_on_writable(c->wsi);
	}
}
