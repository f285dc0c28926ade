/*
 * Pipelined HTTP/1.1 requests read one at a time. libwebsockets 4.1.6
 * reads whatever the socket holds; what follows the request it parses goes
 * on its buflist, and a request with a body whose head it then parses from
 * there is mis-read (docs/architecture.md, "What libwebsockets 4.1.6
 * cannot do"). So lws reads a connection of the relay's listeners through
 * this file: recv() and SSL_read() are defined here, and the executable
 * comes first in the symbol lookup, ahead of libc and libssl. For such a
 * connection lws gets no more than the rest of the request it is reading:
 * a head up to its empty line, then the Content-Length bytes of its body,
 * then nothing until it is answered. What the socket held beyond that is
 * kept here (at most PIPE_STASH_MAX per connection), and lws is woken for
 * it by a read event fed to its libev watcher. Other descriptors and
 * threads read as before. Owns the per-connection stash; finds where a
 * head ends with http_frame.c and parses nothing else (lws still parses
 * the request, and lws_http.c's checks stay for what this misses).
 */
#undef _FORTIFY_SOURCE	/* its recv() is an inline wrapper */

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "http_frame.h"
#include "log.h"
#include "lws_glue.h"

/*
 * Pipelined bytes kept per connection while a request is answered: a
 * stash grows from PIPE_STASH_MIN as needed, up to PIPE_STASH_MAX.
 */
#define PIPE_STASH_MIN (16 * 1024)
#define PIPE_STASH_MAX (1024 * 1024 + 64 * 1024)

enum pipe_mode {
	PIPE_HEAD,	/* up to the end of a head */
	PIPE_BODY,	/* body_left more bytes */
	PIPE_WAIT,	/* nothing until the request is answered */
	PIPE_PASS,	/* a websocket: everything */
};

struct pipe {
	int fd;
	int tls;
	struct lws *wsi;
	SSL *ssl;		/* lws's, seen at its first SSL_read */
	enum pipe_mode mode;
	uint64_t body_left;
	size_t after;		/* bytes lws got past the last head's end */
	int answered;		/* the request's answer was handed to lws */
	struct http_scan scan;	/* of the head being read */
	unsigned char *buf;	/* the stash: bytes [off, len) of cap */
	size_t off, len, cap;
	size_t held;		/* cap, as counted in relay_bytes_hold */
	int eof;		/* the peer closed after the stash */
	int listed;		/* on wakes */
	TAILQ_ENTRY(pipe) wake_entry;
};

typedef ssize_t (*recv_fn)(int, void *, size_t, int);
typedef int (*ssl_read_fn)(SSL *, void *, int);

static struct {
	recv_fn recv;
	ssl_read_fn ssl_read;
	pthread_once_t once;
	pthread_t main;
	int started;
	struct pipe **fds;	/* by descriptor */
	int nfds;
	struct ev_loop *loop;
	ev_prepare prepare;
	TAILQ_HEAD(, pipe) wakes;	/* have bytes lws has not read */
} pl = {
	.once = PTHREAD_ONCE_INIT,
	.wakes = TAILQ_HEAD_INITIALIZER(pl.wakes),
};

static void
resolve(void)
{
	*(void **)&pl.recv = dlsym(RTLD_NEXT, "recv");
	*(void **)&pl.ssl_read = dlsym(RTLD_NEXT, "SSL_read");
	if (pl.recv == NULL || pl.ssl_read == NULL)
		abort();	/* no libc or libssl: cannot happen */
}

static struct pipe *
find(int fd)
{
	if (!pl.started || fd < 0 || fd >= pl.nfds ||
	    !pthread_equal(pthread_self(), pl.main))
		return NULL;
	return pl.fds[fd];
}

/*
 * Whether lws still holds the request this connection waits on: its
 * header table is reset when lws ends the transaction (ours, or one it
 * ends itself).
 */
static int
request_held(struct pipe *p)
{
	return lws_hdr_total_length(p->wsi, WSI_TOKEN_GET_URI) > 0 ||
	    lws_hdr_total_length(p->wsi, WSI_TOKEN_POST_URI) > 0 ||
	    lws_hdr_total_length(p->wsi, WSI_TOKEN_OPTIONS_URI) > 0;
}

/*
 * The request is answered once its answer is written (lws ends the
 * transaction only then), or once lws no longer holds it. Not the second
 * alone: lws may already be parsing the start of the next head from its
 * buflist into the same table.
 */
static void
settle(struct pipe *p)
{
	if (p->mode == PIPE_WAIT && ((p->answered &&
	    !lws_partial_buffered(p->wsi)) || !request_held(p))) {
		p->mode = PIPE_HEAD;
		http_scan_reset(&p->scan);
	}
}

/* How many of the n bytes at b lws may have now; counts them. */
static size_t
cut(struct pipe *p, const unsigned char *b, size_t n)
{
	size_t k;

	switch (p->mode) {
	case PIPE_HEAD:
		return http_head_take(&p->scan, b, n, &p->after);
	case PIPE_BODY:
		k = n < p->body_left ? n : (size_t)p->body_left;
		if ((p->body_left -= k) == 0)
			p->mode = PIPE_WAIT;
		return k;
	case PIPE_PASS:
		return n;
	default:
		return 0;
	}
}

static ssize_t
raw_read(struct pipe *p, void *b, size_t n)
{
	if (p->tls)
		return pl.ssl_read(p->ssl, b, n > INT_MAX ? INT_MAX : (int)n);
	return pl.recv(p->fd, b, n, 0);
}

/*
 * Room in p's stash for need more bytes: 0, or -1 past PIPE_STASH_MAX or
 * past the relay's budget for bytes held (max_body_bytes_in_flight, which
 * the stash counts against like a request body).
 */
static int
stash_room(struct pipe *p, size_t need)
{
	unsigned char *b;
	size_t cap;

	if (p->off == p->len)
		p->off = p->len = 0;
	else if (p->off > 0) {
		memmove(p->buf, p->buf + p->off, p->len - p->off);
		p->len -= p->off;
		p->off = 0;
	}
	if (p->cap - p->len >= need)
		return 0;
	if (p->len + need > PIPE_STASH_MAX)
		return -1;
	for (cap = p->cap ? p->cap : PIPE_STASH_MIN; cap < p->len + need;)
		cap *= 2;
	if (cap > PIPE_STASH_MAX)
		cap = PIPE_STASH_MAX;
	if ((b = realloc(p->buf, cap)) == NULL)
		return -1;
	p->buf = b;
	p->cap = cap;
	return relay_bytes_hold(&p->held, cap);
}

static void
stash_trim(struct pipe *p)
{
	if (p->buf && p->off == p->len) {
		free(p->buf);
		p->buf = NULL;
		p->off = p->len = p->cap = 0;
		relay_bytes_hold(&p->held, 0);
	}
}

/*
 * The socket stays readable (its close, or more than the stash takes)
 * while a request is answered. If the request waits on its handler,
 * reading pauses until it is answered; if it was just read (its handler
 * runs at the next HTTP_WRITEABLE) lws is told "nothing yet" that long;
 * else (its answer is being written, or TLS, where OpenSSL has no
 * "nothing yet" to give while it holds bytes) the connection is closed,
 * as lws closes it when the peer does: it must not spin the loop.
 */
static ssize_t
hold_off(struct pipe *p, int closed)
{
	if (!p->tls && (lws_http_pause(p->wsi) || !p->answered)) {
		errno = EAGAIN;
		return -1;
	}
	if (!closed)
		log_info("http refused=pipeline_too_deep fd=%d held=%zu "
		    "tls=%d", p->fd, p->len - p->off, p->tls);
	errno = EMSGSIZE;
	return closed ? 0 : -1;
}

/*
 * A request is being answered: what the socket holds goes to the stash,
 * so its readiness does not spin the loop, and lws gets "nothing yet"
 * (EAGAIN; over TLS the SSL_read that found the socket empty). The
 * peer's close is kept for after the answer and the stash.
 */
static ssize_t
drain(struct pipe *p)
{
	ssize_t n;

	for (;;) {
		if (stash_room(p, PIPE_STASH_MIN) < 0)
			return hold_off(p, 0);
		n = raw_read(p, p->buf + p->len, p->cap - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n == 0 && !p->tls) {
			p->eof = 1;
			return hold_off(p, 1);
		}
		return n;
	}
}

static int
has_bytes(struct pipe *p)
{
	return p->off < p->len || p->eof ||
	    (p->tls && p->ssl && SSL_pending(p->ssl) > 0);
}

static void
relist(struct pipe *p)
{
	int want = has_bytes(p);

	if (want && !p->listed)
		TAILQ_INSERT_TAIL(&pl.wakes, p, wake_entry);
	else if (!want && p->listed)
		TAILQ_REMOVE(&pl.wakes, p, wake_entry);
	p->listed = want;
}

/* lws reads up to len bytes into out from p's connection. */
static ssize_t
pipe_read(struct pipe *p, unsigned char *out, size_t len)
{
	ssize_t n;
	size_t k;

	settle(p);
	if (p->mode == PIPE_WAIT)
		n = drain(p);
	else if (p->off < p->len) {
		k = p->len - p->off < len ? p->len - p->off : len;
		k = cut(p, p->buf + p->off, k);
		memcpy(out, p->buf + p->off, k);
		p->off += k;
		n = (ssize_t)k;
	} else if (p->eof)
		n = 0;
	else if (p->mode == PIPE_BODY) {
		n = raw_read(p, out, len < p->body_left ? len :
		    (size_t)p->body_left);
		if (n > 0)
			cut(p, out, (size_t)n);
	} else if ((n = raw_read(p, out, len)) > 0 &&
	    (k = cut(p, out, (size_t)n)) < (size_t)n) {
		if (stash_room(p, (size_t)n - k) < 0) {
			stash_trim(p);
			errno = ENOMEM;	/* lws closes it */
			return -1;
		}
		memcpy(p->buf, out + k, (size_t)n - k);
		p->len = (size_t)n - k;
		n = (ssize_t)k;
	}
	stash_trim(p);
	relist(p);
	return n;
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	struct pipe *p;

	pthread_once(&pl.once, resolve);
	if (flags != 0 || (p = find(fd)) == NULL || p->tls)
		return pl.recv(fd, buf, len, flags);
	return pipe_read(p, buf, len);
}

int
SSL_read(SSL *ssl, void *buf, int num)
{
	struct pipe *p;
	ssize_t n;

	pthread_once(&pl.once, resolve);
	if (num < 0 || (p = find(SSL_get_fd(ssl))) == NULL || !p->tls ||
	    (p->ssl != NULL && p->ssl != ssl))
		return pl.ssl_read(ssl, buf, num);
	p->ssl = ssl;
	n = pipe_read(p, buf, (size_t)num);
	return (int)n;
}

/*
 * Before every poll: a connection lws may read whose bytes are here (or
 * in OpenSSL's buffer), which the socket's readiness will not announce,
 * gets a read event. One lws ignores (it is between transactions until
 * its next POLLOUT) is fed again before the next poll.
 */
static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct pipe *p, *next;

	(void)w;
	(void)revents;
	for (p = TAILQ_FIRST(&pl.wakes); p; p = next) {
		next = TAILQ_NEXT(p, wake_entry);
		settle(p);
		if (p->mode != PIPE_WAIT)
			ev_feed_fd_event(loop, p->fd, EV_READ);
	}
}

static void
pipe_free(struct pipe *p)
{
	if (p->listed)
		TAILQ_REMOVE(&pl.wakes, p, wake_entry);
	if (p->fd < pl.nfds && pl.fds[p->fd] == p)
		pl.fds[p->fd] = NULL;
	free(p->buf);
	relay_bytes_hold(&p->held, 0);
	free(p);
}

void
pipeline_start(struct ev_loop *loop)
{
	pthread_once(&pl.once, resolve);
	pl.main = pthread_self();
	pl.loop = loop;
	ev_prepare_init(&pl.prepare, on_prepare);
	ev_prepare_start(loop, &pl.prepare);
	pl.started = 1;
}

void
pipeline_stop(void)
{
	if (pl.loop)
		ev_prepare_stop(pl.loop, &pl.prepare);
	pl.loop = NULL;
	pl.started = 0;
	free(pl.fds);
	pl.fds = NULL;
	pl.nfds = 0;
}

void
pipeline_open(struct lws *wsi)
{
	int fd = (int)lws_get_socket_fd(wsi), n;
	struct pipe *p, **fds;

	if (!pl.started || fd < 0)
		return;
	if (fd >= pl.nfds) {
		n = pl.nfds ? pl.nfds : 1024;
		while (n <= fd)
			n *= 2;
		if ((fds = realloc(pl.fds, sizeof(*fds) * (size_t)n)) == NULL)
			return;	/* read as lws does: pipelining refused */
		memset(fds + pl.nfds, 0, sizeof(*fds) * (size_t)(n - pl.nfds));
		pl.fds = fds;
		pl.nfds = n;
	}
	if (pl.fds[fd] != NULL)	/* cannot happen: freed at WSI_DESTROY */
		pipe_free(pl.fds[fd]);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->fd = fd;
	p->tls = lws_is_ssl(wsi);
	p->wsi = wsi;
	http_scan_reset(&p->scan);
	pl.fds[fd] = p;
	lws_set_opaque_user_data(wsi, p);
}

void
pipeline_close(struct lws *wsi)
{
	struct pipe *p = lws_get_opaque_user_data(wsi);

	if (p == NULL)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	pipe_free(p);
}

void
pipeline_request(struct lws *wsi, uint64_t body_len)
{
	struct pipe *p = lws_get_opaque_user_data(wsi);

	if (p == NULL)
		return;
	/* lws reads what came after the head in its read as the body. */
	p->body_left = body_len > p->after ? body_len - p->after : 0;
	p->after = 0;
	p->answered = 0;
	p->mode = p->body_left ? PIPE_BODY : PIPE_WAIT;
	relist(p);
}

void
pipeline_answered(struct lws *wsi)
{
	struct pipe *p = lws_get_opaque_user_data(wsi);

	if (p != NULL)
		p->answered = 1;
}

void
pipeline_upgraded(struct lws *wsi)
{
	struct pipe *p = lws_get_opaque_user_data(wsi);

	if (p == NULL)
		return;
	p->mode = PIPE_PASS;
	if (has_bytes(p)) {	/* read through here until they are */
		relist(p);
		return;
	}
	lws_set_opaque_user_data(wsi, NULL);	/* lws reads it directly */
	pipe_free(p);
}
