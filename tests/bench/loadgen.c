/*
 * Fan-out load generator for issue 5: many websocket subscribers (its own
 * minimal RFC 6455 client over epoll) and a few keep-alive HTTP publishers,
 * speaking either the Pusher protocol 7 (signed POST /apps/ID/events) or
 * nchan's (ws /sub/ID, POST /pub/ID; the floor server speaks the same).
 * Every payload carries publisher, sequence and CLOCK_MONOTONIC send time;
 * every subscriber measures latency, loss and reordering. Single-threaded,
 * bounded by a hard deadline; prints one "result k=v ..." line.
 * With --tls every connection (subscriber and publisher) runs over TLS
 * (OpenSSL, non-blocking, in the same epoll loop): wss and https.
 * With --channels N the subscribers are spread over N channels (C-0 ...
 * C-(N-1), subscriber i on i mod N) and each publish goes to the next channel
 * in turn; sequences are kept per publisher and channel, so loss and order
 * are still checked exactly (make soak).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sign.h"
#include "loadgen.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LG_RBUF (256 * 1024)
#define LG_HTTP_MAX (64 * 1024)
#define LG_MAXPIDS 8

static struct {
	enum lg_mode mode;
	const char *host;
	int port;
	int subs, npub, inflight_max;
	double rate, duration, drain, conn_timeout;
	int size;
	const char *app_id, *key, *secret, *channel;
	pid_t spid[LG_MAXPIDS];
	int nspid;
	int spread;
	int tls;
	const char *tls_ca;
	SSL_CTX *sslctx;

	int ep;
	struct lg_conn *c;
	int nconn;
	int next_sub, inflight;
	int n_subscribed, n_failed, n_closed, n_errors;
	uint64_t received, reordered, dups, bad;
	uint64_t published, pub_ok, pub_err, backlog_max;
	int nchan, chan_rr;
	uint32_t *cseq;		/* per publisher and channel (--channels) */
	uint64_t *chan_ok;	/* publishes answered 2xx, per channel */
	int *chan_subs;		/* subscribed connections, per channel */
	int pub_rr;
	struct hist lat, publat;
	char *req;
	size_t reqcap;
	int64_t now;
} g;

static uint8_t lg_rbuf[LG_RBUF];

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
hist_add(struct hist *h, uint64_t us)
{
	int e, i;

	if (us < HIST_LIN)
		i = (int)us;
	else {
		e = 63 - __builtin_clzll(us);
		i = HIST_LIN + (e - 7) * HIST_SUB +
		    (int)((us >> (e - 6)) & (HIST_SUB - 1));
		if (i >= HIST_N)
			i = HIST_N - 1;
	}
	h->b[i]++;
	h->n++;
	if (us > h->max)
		h->max = us;
}

static uint64_t
hist_val(int i)
{
	int e;

	if (i < HIST_LIN)
		return (uint64_t)i;
	e = (i - HIST_LIN) / HIST_SUB + 7;
	return ((uint64_t)1 << e) +
	       ((uint64_t)((i - HIST_LIN) % HIST_SUB) << (e - 6));
}

uint64_t
hist_q(const struct hist *h, double q)
{
	uint64_t want, acc = 0;
	int i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < HIST_N; i++) {
		acc += h->b[i];
		if (acc > want)
			return hist_val(i) < h->max ? hist_val(i) : h->max;
	}
	return h->max;
}

/* Sum of utime+stime (µs) or VmRSS (kB) over the server's processes. */
static uint64_t
srv_cpu_us(void)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	uint64_t sum = 0;
	FILE *f;
	int i;

	for (i = 0; i < g.nspid; i++) {
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)g.spid[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2,
			"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
			"%lu %lu",
			&ut, &st) == 2)
			sum += (uint64_t)(ut + st);
		fclose(f);
	}
	return sum * 1000000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* The sum over the server's processes of a /proc/PID/status figure
 * ("VmRSS", "nonvoluntary_ctxt_switches": the main thread's). */
static uint64_t
srv_status(const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	uint64_t sum = 0;
	FILE *f;
	int i;

	for (i = 0; i < g.nspid; i++) {
		snprintf(path, sizeof(path), "/proc/%d/status", (int)g.spid[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, key, klen) == 0 && line[klen] == ':')
				sum += strtoull(line + klen + 1, NULL, 10);
		fclose(f);
	}
	return sum;
}

static uint64_t
srv_rss_kb(void)
{
	return srv_status("VmRSS");
}

static uint64_t
self_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
conn_close(struct lg_conn *c, int failed)
{
	if (c->state == LG_CLOSED)
		return;
	if (c->kind == LG_SUB && !c->subscribed)
		g.inflight--;
	if (c->subscribed) {
		g.n_subscribed--;
		g.chan_subs[c->chan]--;
	}
	c->subscribed = 0;
	if (failed)
		g.n_failed++;
	else
		g.n_closed++;
	if (c->ssl != NULL) {
		SSL_free(c->ssl); /* no close_notify: the run is over */
		c->ssl = NULL;
	}
	c->rwantw = c->wwantr = 0;
	close(c->fd);
	c->fd = -1;
	c->state = LG_CLOSED;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->inlen = c->outlen = c->outoff = 0;
}

static void
conn_want(struct lg_conn *c, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)c->id};

	epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* EPOLLIN always; EPOLLOUT while output waits (and TLS does not wait for
 * input first) or while SSL_read waits for the socket to take a write. */
static void
conn_update(struct lg_conn *c)
{
	uint32_t ev = EPOLLIN;

	if (c->rwantw || (c->outoff < c->outlen && !c->wwantr))
		ev |= EPOLLOUT;
	conn_want(c, ev);
}

/* write() or SSL_write(); -1 with errno EAGAIN when it would block. */
static ssize_t
io_write(struct lg_conn *c, const void *p, size_t len)
{
	int n;

	if (c->ssl == NULL)
		return write(c->fd, p, len);
	ERR_clear_error();
	n = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		c->wwantr = 1;
		/* FALLTHROUGH */
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		break;
	default:
		errno = EPROTO;
	}
	return -1;
}

/* read() or SSL_read(); 0 at end of stream, -1 with errno EAGAIN when
 * nothing is ready. */
static ssize_t
io_read(struct lg_conn *c, void *p, size_t len)
{
	int n;

	if (c->ssl == NULL)
		return read(c->fd, p, len);
	ERR_clear_error();
	n = SSL_read(c->ssl, p, (int)len);
	if (n > 0)
		return n;
	switch (SSL_get_error(c->ssl, n)) {
	case SSL_ERROR_WANT_WRITE:
		c->rwantw = 1;
		conn_update(c);
		/* FALLTHROUGH */
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		errno = EPROTO;
		return -1;
	}
}

/* Writes now what the socket takes, keeps the rest for EPOLLOUT. With TLS
 * a write that would block is retried from c->out with the same bytes
 * first (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows the move). */
static int
conn_send(struct lg_conn *c, const void *p, size_t len)
{
	ssize_t n = 0;
	char *nb;

	if (c->outlen == c->outoff) {
		n = io_write(c, p, len);
		if (n < 0 && errno != EAGAIN) {
			conn_close(c, 1);
			return -errno;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
		c->outlen = c->outoff = 0;
	}
	if ((nb = realloc(c->out, c->outlen + len - (size_t)n)) == NULL)
		abort();
	c->out = nb;
	memcpy(c->out + c->outlen, (const char *)p + n, len - (size_t)n);
	c->outlen += len - (size_t)n;
	conn_update(c);
	return 0;
}

/* RFC 6455 §5.2: client frames are masked; the all-zero key keeps the
 * payload as is, which servers accept and which costs nothing. */
static void
ws_send(struct lg_conn *c, int opcode, const void *p, size_t len)
{
	uint8_t f[256];
	size_t h = 0;

	if (len > sizeof(f) - 8)
		return;
	f[h++] = (uint8_t)(0x80 | opcode);
	if (len < 126)
		f[h++] = (uint8_t)(0x80 | len);
	else {
		f[h++] = 0x80 | 126;
		f[h++] = (uint8_t)(len >> 8);
		f[h++] = (uint8_t)len;
	}
	memset(f + h, 0, 4);
	h += 4;
	memcpy(f + h, p, len);
	conn_send(c, f, h + len);
}

static void
sub_ready(struct lg_conn *c)
{
	c->subscribed = 1;
	g.n_subscribed++;
	g.chan_subs[c->chan]++;
	g.inflight--;
}

/* The name of channel k: --channel itself, or NAME-k with --channels. */
static const char *
chan_name(int k)
{
	static char name[128];

	if (g.nchan <= 1)
		return g.channel;
	snprintf(name, sizeof(name), "%s-%d", g.channel, k);
	return name;
}

/* Deliveries owed: every accepted publish times its channel's subscribers. */
static uint64_t
expected(void)
{
	uint64_t n = 0;

	for (int k = 0; k < g.nchan; k++)
		n += g.chan_ok[k] * (uint64_t)g.chan_subs[k];
	return n;
}

static uint64_t
parse_u64(const char **pp, const char *end)
{
	const char *p = *pp;
	uint64_t v = 0;

	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	*pp = p + 1;
	return v;
}

/* A data event: "#PUB:SEQ:TNS:" somewhere in the first bytes. */
static void
on_data(struct lg_conn *c, const char *pre, size_t n)
{
	const char *p = memchr(pre, '#', n), *end = pre + n;
	uint64_t pub, seq, t;

	if (p == NULL) {
		g.bad++;
		return;
	}
	p++;
	pub = parse_u64(&p, end);
	seq = parse_u64(&p, end);
	t = parse_u64(&p, end);
	if (p > end || pub >= LG_MAXPUB || c->last_seq == NULL) {
		g.bad++;
		return;
	}
	hist_add(&g.lat, (uint64_t)(g.now - (int64_t)t) / 1000);
	if (seq > c->last_seq[pub]) {
		c->last_seq[pub] = (uint32_t)seq;
	} else if (seq == c->last_seq[pub]) {
		g.dups++;
		return;
	} else
		g.reordered++;
	c->received++;
	g.received++;
}

static void
on_pusher(struct lg_conn *c, const char *pre, size_t n)
{
	char m[256];
	int len;

	if (memmem(pre, n, "pusher:connection_established", 29) != NULL) {
		len = snprintf(m, sizeof(m),
		    "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%"
		    "s\","
		    "\"auth\":\"\"}}",
		    chan_name(c->chan));
		ws_send(c, 1, m, (size_t)len);
	} else if (memmem(pre, n, "subscription_succeeded", 22) != NULL) {
		if (!c->subscribed)
			sub_ready(c);
	} else if (memmem(pre, n, "\"pusher:ping\"", 13) != NULL) {
		ws_send(c, 1, "{\"event\":\"pusher:pong\",\"data\":{}}", 33);
	} else if (memmem(pre, n, "\"pusher:error\"", 14) != NULL) {
		if (g.n_errors++ < 5)
			fprintf(stderr, "loadgen: conn %d: %.*s\n", c->id,
			    (int)n, pre);
	} else
		on_data(c, pre, n);
}

static void
ws_frame_done(struct lg_conn *c)
{
	switch (c->opcode) {
	case 1:
	case 2:
		if (g.mode == LG_PUSHER)
			on_pusher(c, c->pre, c->plen);
		else
			on_data(c, c->pre, c->plen);
		break;
	case 8:
		conn_close(c, 0);
		break;
	case 9:
		ws_send(c, 10, c->pre, c->plen);
		break;
	default: /* continuation and pong: nothing to measure */
		break;
	}
}

/* Header length once its first two bytes are known. */
static size_t
ws_hdr_need(const uint8_t *h)
{
	size_t n = 2;

	if ((h[1] & 0x7f) == 126)
		n += 2;
	else if ((h[1] & 0x7f) == 127)
		n += 8;
	if (h[1] & 0x80)
		n += 4;
	return n;
}

static void
ws_hdr_parse(struct lg_conn *c)
{
	uint64_t len = c->hdr[1] & 0x7f;
	int i;

	if (len == 126)
		len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
	else if (len == 127)
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | c->hdr[i];
	c->opcode = c->hdr[0] & 0x0f;
	c->remain = len;
	c->plen = 0;
	c->in_payload = 1;
	c->hlen = 0;
}

/* Streams bytes through the frame parser; keeps LG_PREFIX of each frame. */
static void
ws_feed(struct lg_conn *c, const uint8_t *p, size_t n)
{
	size_t take;

	while (n > 0 && c->state == LG_OPEN) {
		if (!c->in_payload) {
			c->hdr[c->hlen++] = *p++;
			n--;
			if (c->hlen >= 2 && c->hlen == ws_hdr_need(c->hdr)) {
				ws_hdr_parse(c);
				if (c->remain == 0) {
					c->in_payload = 0;
					ws_frame_done(c);
				}
			}
			continue;
		}
		take = n < c->remain ? n : (size_t)c->remain;
		if (c->plen < LG_PREFIX) {
			size_t k = LG_PREFIX - c->plen;

			k = k < take ? k : take;
			memcpy(c->pre + c->plen, p, k);
			c->plen = (uint16_t)(c->plen + k);
		}
		p += take;
		n -= take;
		c->remain -= take;
		if (c->remain == 0) {
			c->in_payload = 0;
			ws_frame_done(c);
		}
	}
}

static int
http_append(struct lg_conn *c, const uint8_t *p, size_t n)
{
	if (c->in == NULL && (c->in = malloc(LG_HTTP_MAX)) == NULL)
		abort();
	if (c->inlen + n > LG_HTTP_MAX) {
		conn_close(c, 1);
		return -EMSGSIZE;
	}
	memcpy(c->in + c->inlen, p, n);
	c->inlen += n;
	return 0;
}

static void
handshake_feed(struct lg_conn *c, const uint8_t *p, size_t n)
{
	char *end;
	size_t hl, rest;

	if (http_append(c, p, n) < 0)
		return;
	end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
	if (end == NULL)
		return;
	if (c->inlen < 12 || memcmp(c->in + 9, "101", 3) != 0) {
		if (g.n_errors++ < 5)
			fprintf(stderr, "loadgen: handshake: %.*s\n",
			    (int)(end - c->in), c->in);
		conn_close(c, 1);
		return;
	}
	hl = (size_t)(end - c->in) + 4;
	rest = c->inlen - hl;
	c->state = LG_OPEN;
	if (g.mode == LG_NCHAN)
		sub_ready(c);
	if (rest > 0)
		ws_feed(c, (uint8_t *)c->in + hl, rest);
	if (c->state == LG_OPEN) {
		free(c->in);
		c->in = NULL;
		c->inlen = 0;
	}
}

/* Length of a complete response at the head of c->in, or 0. */
static size_t
http_complete(struct lg_conn *c, int *status)
{
	char *end = memmem(c->in, c->inlen, "\r\n\r\n", 4), *cl, *z;
	size_t hl;

	if (end == NULL)
		return 0;
	hl = (size_t)(end - c->in) + 4;
	*status = atoi(c->in + 9);
	cl = memmem(c->in, hl, "ontent-Length:", 14);
	if (cl == NULL)
		cl = memmem(c->in, hl, "ontent-length:", 14);
	if (cl != NULL) {
		size_t bl = (size_t)strtoul(cl + 14, NULL, 10);

		return c->inlen >= hl + bl ? hl + bl : 0;
	}
	if (memmem(c->in, hl, "chunked", 7) != NULL) {
		z = memmem(
		    c->in + hl - 2, c->inlen - hl + 2, "\r\n0\r\n\r\n", 7);
		return z != NULL ? (size_t)(z - c->in) + 7 : 0;
	}
	return hl;
}

static void
pub_feed(struct lg_conn *c, const uint8_t *p, size_t n)
{
	size_t len;
	int status = 0;

	if (http_append(c, p, n) < 0)
		return;
	while ((len = http_complete(c, &status)) > 0) {
		if (status >= 200 && status < 300) {
			g.pub_ok++;
			g.chan_ok[c->chan]++;
		} else {
			g.pub_err++;
			if (g.n_errors++ < 5)
				fprintf(stderr, "loadgen: publish: %.*s\n",
				    (int)len, c->in);
		}
		hist_add(&g.publat, (uint64_t)(g.now - c->sent_ns) / 1000);
		c->busy = 0;
		memmove(c->in, c->in + len, c->inlen - len);
		c->inlen -= len;
	}
}

/* Builds "#PUB:SEQ:TNS:" padded with 'x' to g.size bytes into out. */
static size_t
payload(char *out, int pub, uint32_t seq)
{
	int n = snprintf(
	    out, 64, "#%d:%" PRIu32 ":%" PRId64 ":", pub, seq, now_ns());

	if (n < g.size) {
		memset(out + n, 'x', (size_t)(g.size - n));
		n = g.size;
	}
	return (size_t)n;
}

static size_t
build_pusher(int pub, int k, uint32_t seq)
{
	char md5[33], sig[SIGN_HEX_LEN + 1], q[256], sts[400], path[64];
	char *r = g.req, *body = g.req + 1024;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t bl, hl;
	int n;

	n = snprintf(body, 128,
	    "{\"name\":\"e\",\"channel\":\"%s\",\"data\":\"",
	    chan_name(k));
	bl = (size_t)n + payload(body + n, pub, seq);
	memcpy(body + bl, "\"}", 2);
	bl += 2;
	/* docs/pusher-protocol.md "Signing": params sorted by key, then
	 * HMAC-SHA256. */
	EVP_Digest(body, bl, md, &mdlen, EVP_md5(), NULL);
	sign_hex(md, 16, md5);
	snprintf(path, sizeof(path), "/apps/%s/events", g.app_id);
	snprintf(q, sizeof(q),
	    "auth_key=%s&auth_timestamp=%lld&auth_version=1.0&body_md5=%s",
	    g.key, (long long)time(NULL), md5);
	n = snprintf(sts, sizeof(sts), "POST\n%s\n%s", path, q);
	sign_hmac_sha256_hex(g.secret, strlen(g.secret), sts, (size_t)n, sig);
	hl = (size_t)snprintf(r, 1024,
	    "POST %s?%s&auth_signature=%s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
	    path, q, sig, g.host, g.port, bl);
	memmove(r + hl, body, bl);
	return hl + bl;
}

static size_t
build_nchan(int pub, int k, uint32_t seq)
{
	char *r = g.req, *body = g.req + 1024;
	size_t bl = payload(body, pub, seq), hl;

	hl = (size_t)snprintf(r, 1024,
	    "POST /pub/%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/json\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    chan_name(k), g.host, g.port, bl);
	memmove(r + hl, body, bl);
	return hl + bl;
}

static void
publish(struct lg_conn *c)
{
	int pub = c->id - g.subs, k = g.chan_rr++ % g.nchan;
	uint32_t seq = ++g.cseq[pub * g.nchan + k];
	size_t len;

	c->sent_ns = now_ns();
	c->chan = k;
	len = g.mode == LG_PUSHER ? build_pusher(pub, k, seq)
				  : build_nchan(pub, k, seq);
	c->busy = 1;
	g.published++;
	conn_send(c, g.req, len);
}

/* Issues every event due by now on idle publishers (round robin). */
static void
pub_tick(int64_t t0, int64_t now)
{
	uint64_t due = (uint64_t)(g.rate * (double)(now - t0) / 1e9);
	int i, k = 0;

	while (g.published < due) {
		for (i = 0; i < g.npub; i++) {
			k = g.subs + (g.pub_rr + i) % g.npub;
			if (g.c[k].state == LG_OPEN && !g.c[k].busy)
				break;
		}
		if (i == g.npub)
			break;
		g.pub_rr = (g.pub_rr + i + 1) % g.npub;
		publish(&g.c[k]);
	}
	if (due > g.published && due - g.published > g.backlog_max)
		g.backlog_max = due - g.published;
}

static void
conn_open(struct lg_conn *c)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event e = {.events = EPOLLOUT | EPOLLIN};
	int one = 1, fd;

	c->state = LG_CONNECTING;
	if (c->kind == LG_SUB)
		g.inflight++;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	c->fd = fd;
	if (fd < 0) {
		c->fd = dup(0); /* keeps conn_close() simple */
		conn_close(c, 1);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (g.spread && c->kind == LG_SUB) {
		/* Source 127.0.0.2..250: 249 x 28k ports for > 28k conns. */
		setsockopt(
		    fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		sa.sin_addr.s_addr =
		    htonl(0x7f000002u + (uint32_t)(c->id % 249));
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			conn_close(c, 1);
			return;
		}
	}
	sa.sin_port = htons((uint16_t)g.port);
	inet_pton(AF_INET, g.host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		conn_close(c, 1);
		return;
	}
	e.data.u32 = (uint32_t)c->id;
	epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &e);
}

/* The transport is up (TCP, or TLS over it): publishers are ready,
 * subscribers send the websocket upgrade. */
static void
conn_ready(struct lg_conn *c)
{
	char req[512];
	int n;

	conn_want(c, EPOLLIN);
	if (c->kind == LG_PUB) {
		c->state = LG_OPEN;
		return;
	}
	c->state = LG_HANDSHAKE;
	if (g.mode == LG_PUSHER)
		n = snprintf(req, sizeof(req),
		    "GET "
		    "/app/%s?protocol=7&client=js&version=8.6.0&flash=false",
		    g.key);
	else
		n = snprintf(req, sizeof(req), "GET /sub/%s",
		    chan_name(c->chan));
	n += snprintf(req + n, sizeof(req) - (size_t)n,
	    " HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: "
	    "dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n",
	    g.host, g.port);
	conn_send(c, req, (size_t)n);
}

/* One step of the non-blocking TLS client handshake. */
static void
tls_step(struct lg_conn *c)
{
	int r;

	ERR_clear_error();
	r = SSL_connect(c->ssl);
	if (r == 1) {
		c->state = LG_CONNECTING; /* conn_ready() moves it on */
		conn_ready(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		conn_want(c, EPOLLIN);
		return;
	case SSL_ERROR_WANT_WRITE:
		conn_want(c, EPOLLIN | EPOLLOUT);
		return;
	default:
		if (g.n_errors++ < 5) {
			char e[256];

			ERR_error_string_n(ERR_peek_last_error(), e, sizeof(e));
			fprintf(stderr, "loadgen: tls handshake: %s\n", e);
		}
		conn_close(c, 1);
	}
}

static void
on_connected(struct lg_conn *c)
{
	int err = 0;
	socklen_t sl = sizeof(err);

	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl);
	if (err != 0) {
		if (g.n_errors++ < 5)
			fprintf(
			    stderr, "loadgen: connect: %s\n", strerror(err));
		conn_close(c, 1);
		return;
	}
	if (!g.tls) {
		conn_ready(c);
		return;
	}
	if ((c->ssl = SSL_new(g.sslctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1 ||
	    (g.tls_ca != NULL &&
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), g.host) !=
		    1)) {
		conn_close(c, 1);
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = LG_TLS;
	tls_step(c);
}

/* Writes out what waits in c->out. */
static void
conn_flush(struct lg_conn *c)
{
	ssize_t n;

	c->wwantr = 0;
	while (c->outoff < c->outlen) {
		n = io_write(c, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0) {
			if (errno != EAGAIN)
				conn_close(c, 1);
			else
				conn_update(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	c->outoff = c->outlen = 0;
	conn_update(c);
}

static void on_readable(struct lg_conn *c);

static void
on_writable(struct lg_conn *c)
{
	if (c->state == LG_CONNECTING) {
		on_connected(c);
		return;
	}
	if (c->state == LG_TLS) {
		tls_step(c);
		return;
	}
	if (c->rwantw) {
		c->rwantw = 0;
		conn_update(c);
		on_readable(c);
		if (c->state == LG_CLOSED)
			return;
	}
	if (!c->wwantr)
		conn_flush(c);
}

static void
on_readable(struct lg_conn *c)
{
	ssize_t n;

	if (c->state == LG_TLS) {
		tls_step(c);
		return;
	}
	if (c->wwantr) {
		conn_flush(c);
		if (c->state == LG_CLOSED)
			return;
	}
	do {
		n = io_read(c, lg_rbuf, sizeof(lg_rbuf));
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			if (c->kind == LG_PUB && g.n_errors++ < 5) {
				char e[256] = "";

				if (c->ssl != NULL && ERR_peek_last_error())
					ERR_error_string_n(
					    ERR_peek_last_error(),
					    e, sizeof(e));
				fprintf(stderr,
				    "loadgen: publisher %d: %s %s\n",
				    c->id - g.subs,
				    n == 0 ? "closed by the server"
					   : strerror(errno), e);
			}
			conn_close(c, c->kind == LG_SUB && !c->subscribed);
			return;
		}
		if (n < 0)
			return;
		g.now = now_ns();
		if (c->kind == LG_PUB)
			pub_feed(c, lg_rbuf, (size_t)n);
		else if (c->state == LG_HANDSHAKE)
			handshake_feed(c, lg_rbuf, (size_t)n);
		else
			ws_feed(c, lg_rbuf, (size_t)n);
	} while ((c->ssl != NULL ? SSL_has_pending(c->ssl)
				 : (size_t)n == sizeof(lg_rbuf)) &&
		 c->state != LG_CLOSED);
}

static void
poll_once(int timeout_ms)
{
	struct epoll_event ev[512];
	struct lg_conn *c;
	int i, n;

	n = epoll_wait(g.ep, ev, 512, timeout_ms);
	for (i = 0; i < n; i++) {
		c = &g.c[ev[i].data.u32];
		if (c->state == LG_CLOSED)
			continue;
		if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_writable(c);
		if (c->state != LG_CLOSED &&
		    (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
			on_readable(c);
	}
}

/* Publishers that are up (TCP, and TLS with --tls). */
static int
pubs_open(void)
{
	int i, n = 0;

	for (i = g.subs; i < g.nconn; i++)
		n += g.c[i].state == LG_OPEN;
	return n;
}

/* Opens subscribers (at most inflight_max handshaking at once), then the
 * publishers; returns when all are subscribed or the timeout passes.
 * Publishers come last: an idle connection that has sent no request yet
 * may be dropped by a server busy with thousands of handshakes (sno-relay
 * under libwebsockets closes it after 5 s over TLS). */
static int
connect_all(int64_t deadline)
{
	int i;

	while (now_ns() < deadline) {
		while (g.next_sub < g.subs && g.inflight < g.inflight_max)
			conn_open(&g.c[g.next_sub++]);
		if (g.next_sub == g.subs && g.inflight == 0)
			break;
		poll_once(10);
	}
	for (i = g.subs; i < g.nconn; i++)
		conn_open(&g.c[i]);
	while (now_ns() < deadline && pubs_open() < g.npub) {
		for (i = g.subs; i < g.nconn; i++)
			if (g.c[i].state == LG_CLOSED)
				break;
		if (i < g.nconn)
			break;
		poll_once(10);
	}
	if (pubs_open() < g.npub)
		return -ECONNREFUSED;
	return g.n_subscribed == g.subs ? 0 : -ETIMEDOUT;
}

static void
run_for(double secs, int publishing, int64_t t0)
{
	int64_t end = now_ns() + (int64_t)(secs * 1e9);

	while (now_ns() < end) {
		if (publishing)
			pub_tick(t0, now_ns());
		poll_once(publishing ? 1 : 20);
	}
}

static int
pubs_busy(void)
{
	int i, n = 0;

	for (i = g.subs; i < g.nconn; i++)
		n += g.c[i].state == LG_OPEN && g.c[i].busy;
	return n;
}

static void
drain(int64_t deadline)
{
	while (now_ns() < deadline && pubs_busy() > 0)
		poll_once(5);
	while (now_ns() < deadline &&
	       g.received < expected())
		poll_once(5);
}

static void
report(double window, uint64_t srv_cpu, uint64_t gen_cpu, uint64_t rss0,
    uint64_t rss1, double connect_s, const struct lg_turns *t0,
    const struct lg_turns *t1, uint64_t preempted)
{
	uint64_t owed = expected();
	uint64_t lost = owed > g.received ? owed - g.received : 0;
	double d = g.received > 0 ? (double)g.received : 0;
	double target = g.rate * g.duration;

	printf("result mode=%s subs=%d subscribed=%d failed=%d closed=%d "
	       "published=%" PRIu64 " pub_ok=%" PRIu64 " pub_err=%" PRIu64
	       " received=%" PRIu64 " expected=%" PRIu64 " lost=%" PRIu64
	       " reordered=%" PRIu64 " dups=%" PRIu64 " bad=%" PRIu64
	       " window_s=%.3f deliv_per_s=%.0f",
	    g.mode == LG_PUSHER ? "pusher" : "nchan", g.subs, g.n_subscribed,
	    g.n_failed, g.n_closed, g.published, g.pub_ok, g.pub_err,
	    g.received, owed, lost, g.reordered, g.dups, g.bad, window,
	    (double)g.received / (g.rate > 0 ? g.duration : window));
	printf(" p50_us=%" PRIu64 " p99_us=%" PRIu64 " p999_us=%" PRIu64
	       " max_us=%" PRIu64 " pub_p50_us=%" PRIu64 " pub_p99_us=%" PRIu64
	       " pub_max_us=%" PRIu64,
	    hist_q(&g.lat, 0.5), hist_q(&g.lat, 0.99), hist_q(&g.lat, 0.999),
	    g.lat.max, hist_q(&g.publat, 0.5), hist_q(&g.publat, 0.99),
	    g.publat.max);
	printf(
	    " srv_cpu_us=%" PRIu64 " srv_us_per_deliv=%.3f gen_cpu_us=%" PRIu64
	    " gen_us_per_deliv=%.3f gen_cpu_pct=%.1f srv_rss0_kb=%" PRIu64
	    " srv_rss1_kb=%" PRIu64 " rss_per_conn_b=%.0f backlog_max=%" PRIu64
	    " connect_s=%.2f target=%.0f kept_pct=%.1f",
	    srv_cpu, d > 0 ? (double)srv_cpu / d : 0, gen_cpu,
	    d > 0 ? (double)gen_cpu / d : 0,
	    100.0 * (double)gen_cpu / 1e6 / window, rss0, rss1,
	    g.n_subscribed > 0
		? ((double)rss1 - (double)rss0) * 1024 / g.n_subscribed
		: 0,
	    g.backlog_max, connect_s, target,
	    target > 0 ? 100.0 * (double)g.pub_ok / target : 0);
	printf(" preempted=%" PRIu64, preempted);
	if (t1->wall.count > 0)
		printf(" turn_win_ms=%.1f turn_cpu_win_ms=%.1f "
		       "turn_max_ms=%.1f turns=%" PRIu64,
		    lg_turns_window_ms(&t0->wall, &t1->wall),
		    lg_turns_window_ms(&t0->cpu, &t1->cpu),
		    t1->wall.max_s * 1000, t1->wall.count - t0->wall.count);
	printf("\n");
	fflush(stdout);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen [--mode pusher|nchan] --port P [--host A] "
	    "[--subs N]\n  [--publishers N] [--rate EV/S] [--size B] "
	    "[--duration S] [--drain S]\n  [--connect-timeout S] [--channel C] "
	    "[--app-id I --key K --secret S]\n  [--server-pids P,P] "
	    "[--no-spread] [--inflight N]\n  [--tls] [--tls-ca CERT.pem] "
	    "[--channels N]\n"
	    "--tls: wss and https; the certificate is verified only with "
	    "--tls-ca.\n"
	    "rate 0 holds the subscribers idle for the duration.\n");
	exit(2);
}

static void
parse_pids(char *s)
{
	char *t;

	for (t = strtok(s, ","); t != NULL && g.nspid < LG_MAXPIDS;
	     t = strtok(NULL, ","))
		g.spid[g.nspid++] = (pid_t)atoi(t);
}

static void
parse_args(int argc, char **argv)
{
	static const struct option lo[] = {{"mode", 1, 0, 'm'},
	    {"host", 1, 0, 'h'}, {"port", 1, 0, 'p'}, {"subs", 1, 0, 's'},
	    {"publishers", 1, 0, 'P'}, {"rate", 1, 0, 'r'}, {"size", 1, 0, 'b'},
	    {"duration", 1, 0, 'd'}, {"drain", 1, 0, 'D'},
	    {"connect-timeout", 1, 0, 'T'}, {"channel", 1, 0, 'c'},
	    {"app-id", 1, 0, 'i'}, {"key", 1, 0, 'k'}, {"secret", 1, 0, 'S'},
	    {"server-pids", 1, 0, 'x'}, {"no-spread", 0, 0, 'n'},
	    {"inflight", 1, 0, 'f'}, {"tls", 0, 0, 't'}, {"tls-ca", 1, 0, 'C'},
	    {"channels", 1, 0, 'N'}, {0, 0, 0, 0}};
	int o;

	g.host = "127.0.0.1";
	g.subs = 100;
	g.npub = 4;
	g.rate = 10;
	g.size = 100;
	g.duration = 10;
	g.drain = 5;
	g.conn_timeout = 60;
	g.channel = "bench";
	g.nchan = 1;
	g.app_id = "1";
	g.key = "bench-key";
	g.secret = "bench-secret";
	g.spread = 1;
	g.inflight_max = 256;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'm':
			g.mode = strcmp(optarg, "pusher") == 0 ? LG_PUSHER
							       : LG_NCHAN;
			break;
		case 'h':
			g.host = optarg;
			break;
		case 'p':
			g.port = atoi(optarg);
			break;
		case 's':
			g.subs = atoi(optarg);
			break;
		case 'P':
			g.npub = atoi(optarg);
			break;
		case 'r':
			g.rate = atof(optarg);
			break;
		case 'b':
			g.size = atoi(optarg);
			break;
		case 'd':
			g.duration = atof(optarg);
			break;
		case 'D':
			g.drain = atof(optarg);
			break;
		case 'T':
			g.conn_timeout = atof(optarg);
			break;
		case 'c':
			g.channel = optarg;
			break;
		case 'i':
			g.app_id = optarg;
			break;
		case 'k':
			g.key = optarg;
			break;
		case 'S':
			g.secret = optarg;
			break;
		case 'x':
			parse_pids(optarg);
			break;
		case 'n':
			g.spread = 0;
			break;
		case 'f':
			g.inflight_max = atoi(optarg);
			break;
		case 't':
			g.tls = 1;
			break;
		case 'C':
			g.tls = 1;
			g.tls_ca = optarg;
			break;
		case 'N':
			g.nchan = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (g.port <= 0 || g.subs < 0 || g.npub < 1 || g.npub > LG_MAXPUB ||
	    g.size < 0 || g.size > 16 * 1024 * 1024 || g.rate < 0 ||
	    g.nchan < 1 || g.nchan > 1000000)
		usage();
}

/* TLS 1.2 or 1.3 (1.3 is what both sides pick), no session resumption:
 * every connection pays a full handshake, before the measured window. The
 * benchmark does not verify the server's certificate unless --tls-ca names
 * it (run.sh does, with the self-signed one it generates for 127.0.0.1). */
static void
tls_init(void)
{
	if ((g.sslctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(g.sslctx, TLS1_2_VERSION) != 1) {
		fprintf(stderr, "loadgen: cannot create the TLS context\n");
		exit(1);
	}
	SSL_CTX_set_mode(g.sslctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(g.sslctx, SSL_SESS_CACHE_OFF);
	/* Read ahead: one read() takes what the socket holds, as in plain
	 * mode; on_readable() goes on while SSL_has_pending(). */
	SSL_CTX_set_read_ahead(g.sslctx, 1);
	SSL_CTX_set_default_read_buffer_len(g.sslctx, 64 * 1024);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	SSL_CTX_set_options(g.sslctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (g.tls_ca == NULL) {
		SSL_CTX_set_verify(g.sslctx, SSL_VERIFY_NONE, NULL);
		return;
	}
	if (SSL_CTX_load_verify_locations(g.sslctx, g.tls_ca, NULL) != 1) {
		fprintf(stderr, "loadgen: cannot load %s\n", g.tls_ca);
		exit(1);
	}
	SSL_CTX_set_verify(g.sslctx, SSL_VERIFY_PEER, NULL);
}

static void
setup(void)
{
	struct rlimit rl;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (sign_init() < 0 || (g.ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("loadgen: init");
		exit(1);
	}
	signal(SIGPIPE, SIG_IGN);
	if (g.tls)
		tls_init();
	g.nconn = g.subs + g.npub;
	g.c = calloc((size_t)g.nconn, sizeof(*g.c));
	g.reqcap = (size_t)g.size + 4096;
	g.req = malloc(g.reqcap);
	g.cseq = calloc((size_t)g.npub * (size_t)g.nchan, sizeof(*g.cseq));
	g.chan_ok = calloc((size_t)g.nchan, sizeof(*g.chan_ok));
	g.chan_subs = calloc((size_t)g.nchan, sizeof(*g.chan_subs));
	if (g.c == NULL || g.req == NULL || g.cseq == NULL ||
	    g.chan_ok == NULL || g.chan_subs == NULL)
		abort();
	for (i = 0; i < g.nconn; i++) {
		g.c[i].id = i;
		g.c[i].fd = -1;
		g.c[i].state = LG_CLOSED;
		g.c[i].kind = i < g.subs ? LG_SUB : LG_PUB;
		g.c[i].chan = i < g.subs ? i % g.nchan : 0;
		if (i < g.subs &&
		    (g.c[i].last_seq = calloc(LG_MAXPUB, 4)) == NULL)
			abort();
	}
}

int
main(int argc, char **argv)
{
	uint64_t rss0, rss1, cpu0, gcpu0, cpu1, gcpu1, iv0, iv1;
	struct lg_turns turns0, turns1;
	int64_t start, t0, t1, deadline;
	double connect_s;
	int rc;

	parse_args(argc, argv);
	setup();
	/* Backstop: the loop below honours the deadline; SIGALRM kills. */
	alarm((unsigned)(g.conn_timeout + g.duration + g.drain + 20));
	start = now_ns();
	deadline = start +
		   (int64_t)((g.conn_timeout + 1 + g.duration + g.drain) * 1e9);
	rss0 = srv_rss_kb();
	rc = connect_all(start + (int64_t)(g.conn_timeout * 1e9));
	connect_s = (double)(now_ns() - start) / 1e9;
	if (rc < 0)
		fprintf(stderr, "loadgen: %d of %d subscribed (%s)\n",
		    g.n_subscribed, g.subs, strerror(-rc));
	run_for(g.rate > 0 ? 0.5 : 1.0, 0, 0);
	memset(&turns1, 0, sizeof(turns1));
	/* sno only, over plain HTTP (with --tls its plain port differs) */
	if (g.mode != LG_PUSHER || g.tls ||
	    lg_turns_fetch(g.host, g.port, &turns0) < 0)
		memset(&turns0, 0, sizeof(turns0));
	cpu0 = srv_cpu_us();
	gcpu0 = self_cpu_us();
	iv0 = srv_status("nonvoluntary_ctxt_switches");
	t0 = now_ns();
	if (g.rate > 0) {
		run_for(g.duration, 1, t0);
		drain(deadline);
		rss1 = srv_rss_kb();
	} else {
		printf("all_subscribed n=%d\n", g.n_subscribed);
		fflush(stdout);
		rss1 = srv_rss_kb();
		run_for(g.duration, 0, 0);
	}
	t1 = now_ns();
	cpu1 = srv_cpu_us();
	gcpu1 = self_cpu_us();
	iv1 = srv_status("nonvoluntary_ctxt_switches");
	if (turns0.wall.count > 0 &&
	    lg_turns_fetch(g.host, g.port, &turns1) < 0)
		memset(&turns1, 0, sizeof(turns1));
	report((double)(t1 - t0) / 1e9, cpu1 - cpu0, gcpu1 - gcpu0, rss0, rss1,
	    connect_s, &turns0, &turns1, iv1 - iv0);
	return rc < 0 || g.n_subscribed < g.subs ? 1 : 0;
}
