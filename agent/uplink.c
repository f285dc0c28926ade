/*
 * HTTP/1.1 transport (see uplink.h). One request at a time is a small state
 * machine that uplink_poll advances without blocking:
 *
 *   RESOLVE -> CONNECT -> HANDSHAKE (https) -> SEND -> RECV -> idle
 *
 * The connection is kept alive between requests. A request sent on a kept
 * connection that the relay had meanwhile closed (no answer byte came back)
 * is sent once more on a new connection, signed anew: the relay refuses a
 * repeated timestamp, and acknowledges a repeated sample as a duplicate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "sample.h"
#include "uplink.h"

#define UPLINK_CONNECT_MS 10000	/* resolve + connect + handshake */
#define UPLINK_ADDR_MS 4000	/* connect, per address */
#define UPLINK_HEAD_MAX 1024
#define UPLINK_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"
#define UPLINK_SYSTEM_CA_DIR "/etc/ssl/certs"

/* A getaddrinfo_a in flight: its own allocation, as the resolver thread
 * writes into it even after the request gave up. */
struct uplink_gai {
	struct gaicb cb;
	struct addrinfo hints;
	char host[256], port[6];
};

enum uplink_state {
	UP_IDLE, UP_RESOLVE, UP_CONNECT, UP_HANDSHAKE, UP_SEND, UP_RECV
};

struct uplink {
	char *const *urls;
	int nurls, cur;
	struct uplink_target t;	/* urls[cur], parsed */
	char host_id[SAMPLE_HOST_MAX + 1];
	unsigned char key[SIG_HOST_KEY_LEN];
	long long last_ts;

	/* TLS: one config and one context, reset for each connection. */
	int tls_init;		/* the contexts below need freeing */
	int tls_ready;		/* ssl is set up */
	mbedtls_x509_crt ca;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;

	/* The connection. */
	int fd;
	int handshaken;		/* TLS is up on fd */
	struct addrinfo *ai, *ai_next;	/* resolved addresses, next to try */
	struct uplink_gai *gq;	/* resolving, or NULL */
	int last_errno;

	/* The request. */
	enum uplink_state st;
	char path[128];
	struct buf out, in;	/* head and body sent; the answer */
	size_t off;		/* bytes of out sent */
	int reused, retried;
	struct uplink_resp resp;
	int64_t deadline, conn_deadline, addr_deadline;
	long timeout_ms;
	char err[256];
};

/* ---- URL and answer parsing (pure; unit-tested) ---- */

int
uplink_parse_url(const char *url, struct uplink_target *t)
{
	const char *h, *he, *p, *port = NULL;
	size_t n;
	char *end;
	long pn;

	memset(t, 0, sizeof(*t));
	if (strncmp(url, "https://", 8) == 0) {
		t->tls = 1;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else
		return -EINVAL;
	p = h + strcspn(h, "/?#");
	if (*p == '?' || *p == '#' || memchr(h, '@', (size_t)(p - h)))
		return -EINVAL;
	if (*h == '[') {
		if ((he = memchr(h, ']', (size_t)(p - h))) == NULL)
			return -EINVAL;
		h++;
		if (he[1] == ':')
			port = he + 2;
		else if (he + 1 != p)
			return -EINVAL;
	} else {
		he = memchr(h, ':', (size_t)(p - h));
		if (he)
			port = he + 1;
		else
			he = p;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof(t->host))
		return -EINVAL;
	memcpy(t->host, h, n);
	if (port) {
		errno = 0;
		pn = strtol(port, &end, 10);
		if (end != p || port == p || errno || pn < 1 || pn > 65535)
			return -EINVAL;
	} else
		pn = t->tls ? 443 : 80;
	snprintf(t->port, sizeof(t->port), "%ld", pn);
	if (strlen(p) >= sizeof(t->prefix) || strpbrk(p, "?# \t\r\n"))
		return -EINVAL;
	snprintf(t->prefix, sizeof(t->prefix), "%s", p);
	n = strlen(t->prefix);
	while (n > 0 && t->prefix[n - 1] == '/')
		t->prefix[--n] = '\0';
	if (inet_pton(AF_INET, t->host, t->addr) == 1)
		t->addrlen = 4;
	else if (inet_pton(AF_INET6, t->host, t->addr) == 1)
		t->addrlen = 16;
	t->ip = t->addrlen > 0;
	if (!t->ip && strspn(t->host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(t->host))
		return -EINVAL;
	snprintf(t->authority, sizeof(t->authority), "%s%s%s%s%s",
	    t->addrlen == 16 ? "[" : "", t->host, t->addrlen == 16 ? "]" : "",
	    port ? ":" : "", port ? t->port : "");
	return 0;
}

/* The value of header name in the line [line, eol), or NULL. */
static const char *
uplink_header(const char *line, const char *eol, const char *name)
{
	size_t n = strlen(name);
	const char *v;

	if ((size_t)(eol - line) <= n || strncasecmp(line, name, n) != 0 ||
	    line[n] != ':')
		return NULL;
	for (v = line + n + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
		;
	return v;
}

/* Whether the comma-separated list [v, eol) holds tok; -1 if it holds
 * anything else too (and only, when only is set). */
static int
uplink_token(const char *v, const char *eol, const char *tok, int only)
{
	size_t n = strlen(tok);
	const char *e, *te;
	int found = 0;

	while (v < eol) {
		while (v < eol && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		for (e = v; e < eol && *e != ','; e++)
			;
		for (te = e; te > v && (te[-1] == ' ' || te[-1] == '\t'); te--)
			;
		if ((size_t)(te - v) == n && strncasecmp(v, tok, n) == 0)
			found = 1;
		else if (te > v && only)
			return -1;
		v = e;
	}
	return found;
}

struct uplink_head {
	long status;
	int close, chunked;
	long long clen;		/* -1: none */
	size_t len;
};

/* The head at p[0..n): its length when whole, 0 when more is needed. */
static long
uplink_parse_head(const char *p, size_t n, struct uplink_head *h)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4), *line, *eol, *v;
	long long cl;
	char *ce;

	memset(h, 0, sizeof(*h));
	h->clen = -1;
	if (memcmp(p, "HTTP/1.", n < 7 ? n : 7) != 0)
		return -EPROTO;
	if (end == NULL)
		return 0;
	if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
	    strspn(p + 9, "0123456789") < 3 || (p[12] != ' ' && p[12] != '\r'))
		return -EPROTO;
	h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	h->close = p[7] == '0';
	line = (const char *)memmem(p, (size_t)(end + 2 - p), "\r\n", 2) + 2;
	for (; line < end + 2; line = eol + 2) {
		eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if ((v = uplink_header(line, eol, "Content-Length")) != NULL) {
			errno = 0;
			cl = strtoll(v, &ce, 10);
			while (ce < eol && (*ce == ' ' || *ce == '\t'))
				ce++;
			if (v == eol || *v < '0' || *v > '9' || ce != eol ||
			    errno || (h->clen >= 0 && h->clen != cl))
				return -EPROTO;
			h->clen = cl;
		} else if ((v = uplink_header(line, eol,
		    "Transfer-Encoding")) != NULL) {
			if (uplink_token(v, eol, "chunked", 1) != 1)
				return -EPROTO;
			h->chunked = 1;
		} else if ((v = uplink_header(line, eol, "Connection")) !=
		    NULL) {
			if (uplink_token(v, eol, "close", 0) == 1)
				h->close = 1;
			else if (uplink_token(v, eol, "keep-alive", 0) == 1)
				h->close = 0;
		}
	}
	h->len = (size_t)(end + 4 - p);
	return (long)h->len;
}

/*
 * Walks the chunked body at p[0..n): its raw length when whole (the data
 * moved to the start of p, *dlen bytes), 0 when more is needed, -EPROTO.
 */
static long
uplink_chunks(char *p, size_t n, int move, size_t *dlen)
{
	size_t i = 0, d = 0, sz, ll;
	const char *lf;
	int digits, x;

	for (;;) {
		for (sz = 0, digits = 0; i < n; i++, digits++) {
			x = p[i];
			x = x >= '0' && x <= '9' ? x - '0' : x >= 'a' &&
			    x <= 'f' ? x - 'a' + 10 : x >= 'A' && x <= 'F' ?
			    x - 'A' + 10 : -1;
			if (x < 0)
				break;
			if (sz > UPLINK_RESP_MAX)
				return -EPROTO;
			sz = sz * 16 + (size_t)x;
		}
		if (i >= n)
			return 0;
		if (digits == 0)
			return -EPROTO;
		/* Chunk extensions run to the end of the line. */
		if ((lf = memchr(p + i, '\n', n - i)) == NULL)
			return 0;
		if (lf[-1] != '\r')
			return -EPROTO;
		i = (size_t)(lf - p) + 1;
		if (sz == 0)
			break;
		if (n - i < sz + 2)
			return 0;
		if (p[i + sz] != '\r' || p[i + sz + 1] != '\n')
			return -EPROTO;
		if (move)
			memmove(p + d, p + i, sz);
		d += sz;
		i += sz + 2;
	}
	/* Trailer fields, then an empty line. */
	for (;;) {
		if ((lf = memchr(p + i, '\n', n - i)) == NULL)
			return 0;
		ll = (size_t)(lf - (p + i));
		if (ll == 0 || p[i + ll - 1] != '\r')
			return -EPROTO;
		i += ll + 1;
		if (ll == 1)
			break;
	}
	*dlen = d;
	return (long)i;
}

int
uplink_parse(char *p, size_t n, int eof, struct uplink_resp *r)
{
	struct uplink_head h;
	size_t off = 0, rest, dlen;
	long hl, cl;

	memset(r, 0, sizeof(*r));
	if (n == 0)	/* nothing yet (p may be NULL) */
		return 0;
	for (;;) {
		if ((hl = uplink_parse_head(p + off, n - off, &h)) <= 0)
			return (int)hl;
		off += (size_t)hl;
		if (h.status >= 200)
			break;
		if (h.status != 100 && h.status != 102 && h.status != 103)
			return -EPROTO;	/* 101 would switch protocols */
	}
	r->status = h.status;
	r->close = h.close;
	r->body_off = off;
	rest = n - off;
	if (h.status == 204 || h.status == 304)
		return 1;
	if (h.chunked) {
		if ((cl = uplink_chunks(p + off, rest, 0, &dlen)) <= 0)
			return (int)cl;
		uplink_chunks(p + off, rest, 1, &dlen);
		r->body_len = dlen;
		r->close |= (size_t)cl != rest;
		return 1;
	}
	if (h.clen >= 0) {
		if ((unsigned long long)h.clen > rest)
			return 0;
		r->body_len = (size_t)h.clen;
		r->close |= (size_t)h.clen != rest;
		return 1;
	}
	/* No length: the body runs until the relay closes. */
	r->close = 1;
	r->body_len = rest;
	return eof ? 1 : 0;
}

/* ---- TLS ---- */

static int
uplink_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	randombytes_buf(out, len);
	return 0;
}

/*
 * mbedTLS 2 matches DNS names only; for an IP literal the certificate must
 * list that address in its subjectAltName (or, having none, as its CN).
 */
static int
uplink_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	const struct uplink *u = ctx;
	const mbedtls_x509_sequence *s;
	const mbedtls_x509_name *nm;
	size_t hl = strlen(u->t.host);

	if (depth != 0 || !u->t.ip)
		return 0;
	if (crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) {
		for (s = &crt->subject_alt_names; s != NULL; s = s->next)
			if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
			    s->buf.len == (size_t)u->t.addrlen &&
			    memcmp(s->buf.p, u->t.addr, s->buf.len) == 0)
				return 0;
	} else {
		for (nm = &crt->subject; nm != NULL; nm = nm->next)
			if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0 &&
			    nm->val.len == hl &&
			    memcmp(nm->val.p, u->t.host, hl) == 0)
				return 0;
	}
	*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

static void
uplink_tls_strerror(int r, char *out, size_t cap)
{
	mbedtls_strerror(r, out, cap);
}

/* ca_file, else $SSL_CERT_FILE, else Debian's bundle, else the folder. */
static int
uplink_load_ca(struct uplink *u, const char *ca_file, char *err,
    size_t errlen)
{
	const char *f = ca_file;
	char msg[128] = "no certificate in it";
	int r;

	if (f == NULL && (f = getenv("SSL_CERT_FILE")) == NULL)
		f = UPLINK_SYSTEM_CA;
	r = mbedtls_x509_crt_parse_file(&u->ca, f);
	if (r < 0 && ca_file == NULL && f == (const char *)UPLINK_SYSTEM_CA) {
		f = UPLINK_SYSTEM_CA_DIR;
		r = mbedtls_x509_crt_parse_path(&u->ca, f);
	}
	/* A positive r counts certificates that did not parse: fine as
	 * long as one did. */
	if (r >= 0 && u->ca.version != 0)
		return 0;
	if (access(f, R_OK) < 0)
		snprintf(msg, sizeof(msg), "%s", strerror(errno));
	else if (r < 0)
		uplink_tls_strerror(r, msg, sizeof(msg));
	snprintf(err, errlen, "cannot load CA certificates from %s: %s", f,
	    msg);
	return -EINVAL;
}

static int
uplink_tls_init(struct uplink *u, const char *ca_file, char *err,
    size_t errlen)
{
	char msg[128];
	int r;

	mbedtls_x509_crt_init(&u->ca);
	mbedtls_ssl_config_init(&u->conf);
	mbedtls_ssl_init(&u->ssl);
	u->tls_init = 1;
	if ((r = uplink_load_ca(u, ca_file, err, errlen)) < 0)
		return r;
	if ((r = mbedtls_ssl_config_defaults(&u->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		goto fail;
	mbedtls_ssl_conf_min_version(&u->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);	/* TLS 1.2 */
	mbedtls_ssl_conf_authmode(&u->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&u->conf, &u->ca, NULL);
	mbedtls_ssl_conf_rng(&u->conf, uplink_rng, NULL);
	mbedtls_ssl_conf_verify(&u->conf, uplink_verify, u);
	if ((r = mbedtls_ssl_setup(&u->ssl, &u->conf)) != 0)
		goto fail;
	u->tls_ready = 1;
	return 0;
fail:
	uplink_tls_strerror(r, msg, sizeof(msg));
	snprintf(err, errlen, "cannot set up TLS: %s", msg);
	return -EIO;
}

static int
uplink_bio_send(void *ctx, const unsigned char *p, size_t n)
{
	struct uplink *u = ctx;
	ssize_t w = send(u->fd, p, n, MSG_NOSIGNAL);

	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	u->last_errno = errno;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int
uplink_bio_recv(void *ctx, unsigned char *p, size_t n)
{
	struct uplink *u = ctx;
	ssize_t r = recv(u->fd, p, n, 0);

	if (r >= 0)
		return (int)r;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	u->last_errno = errno;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* ---- the connection ---- */

static void
uplink_disconnect(struct uplink *u)
{
	if (u->fd >= 0) {
		if (u->handshaken)
			mbedtls_ssl_close_notify(&u->ssl); /* best effort */
		close(u->fd);
		u->fd = -1;
	}
	u->handshaken = 0;
	if (u->tls_ready)
		mbedtls_ssl_session_reset(&u->ssl);
}

static void
uplink_forget(struct uplink *u)
{
	if (u->ai)
		freeaddrinfo(u->ai);
	u->ai = u->ai_next = NULL;
}

/* Ends the request with an error: st IDLE, err set; returns 1 (done). */
static int
uplink_fail(struct uplink *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
uplink_fail(struct uplink *u, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(u->err, sizeof(u->err), fmt, ap);
	va_end(ap);
	uplink_disconnect(u);
	uplink_forget(u);
	u->st = UP_IDLE;
	return 1;
}

/* The request head, signed now, into out (cap bytes); its length. */
static int
uplink_head(struct uplink *u, size_t bodylen, const char *body, char *out,
    size_t cap)
{
	char ts[24], sig[SIG_HEX_LEN + 1];
	long long now = (long long)clock_wall_ms();

	/* The relay rejects a timestamp <= the last accepted: never repeat. */
	u->last_ts = now > u->last_ts ? now : u->last_ts + 1;
	snprintf(ts, sizeof(ts), "%lld", u->last_ts);
	sig_agent_request(u->key, "POST", u->path, ts, body, bodylen, sig);
	return snprintf(out, cap, "POST %s%s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: sno-agent/" SNO_VERSION "\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %zu\r\n"
	    "X-Sno-Host: %s\r\n"
	    "X-Sno-Timestamp: %s\r\n"
	    "X-Sno-Signature: %s\r\n"
	    "\r\n", u->t.prefix, u->path, u->t.authority, bodylen, u->host_id,
	    ts, sig);
}

/* Signs the request in out again (for a retry) with a new timestamp. */
static int
uplink_resign(struct uplink *u)
{
	char head[UPLINK_HEAD_MAX];
	const char *end = memmem(u->out.data, u->out.len, "\r\n\r\n", 4);
	size_t old = (size_t)(end + 4 - u->out.data), blen = u->out.len - old;
	struct buf nb;
	int n;

	n = uplink_head(u, blen, u->out.data + old, head, sizeof(head));
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EMSGSIZE;
	if ((size_t)n == old) {
		memcpy(u->out.data, head, old);
		return 0;
	}
	buf_init(&nb, u->out.max);
	if (buf_add(&nb, head, (size_t)n) < 0 ||
	    buf_add(&nb, u->out.data + old, blen) < 0) {
		buf_free(&nb);
		return -ENOMEM;
	}
	buf_free(&u->out);
	u->out = nb;
	return 0;
}

/* Readable while idle: the relay closed it (or sent what we never asked). */
static int
uplink_stale(const struct uplink *u)
{
	struct pollfd pf = {u->fd, POLLIN, 0};

	return poll(&pf, 1, 0) != 0;
}

/* ---- the request, step by step ---- */

static int uplink_connect_next(struct uplink *u);

/* A second try on a new connection when a kept one turned out closed. */
static int
uplink_broken(struct uplink *u, const char *what)
{
	char msg[128];

	if (u->reused && !u->retried && u->in.len == 0) {
		u->retried = 1;
		u->reused = 0;
		uplink_disconnect(u);
		if (uplink_resign(u) < 0)
			return uplink_fail(u, "cannot sign the request");
		u->off = 0;
		u->conn_deadline = clock_mono_ms() + UPLINK_CONNECT_MS;
		u->ai_next = u->ai;
		u->st = UP_RESOLVE;
		return 0;
	}
	snprintf(msg, sizeof(msg), "%s", u->last_errno ?
	    strerror(u->last_errno) : "connection closed by the relay");
	return uplink_fail(u, "%s %s:%s failed: %s", what, u->t.host,
	    u->t.port, msg);
}

/* Starts resolving the host: at once for an IP literal. */
static int
uplink_resolve(struct uplink *u)
{
	struct addrinfo hints;
	struct uplink_gai *g;
	struct gaicb *list[1];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (u->t.ip) {
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
		if ((r = getaddrinfo(u->t.host, u->t.port, &hints, &u->ai)))
			return uplink_fail(u, "cannot use address %s: %s",
			    u->t.host, gai_strerror(r));
		u->ai_next = u->ai;
		return uplink_connect_next(u);
	}
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return uplink_fail(u, "out of memory");
	snprintf(g->host, sizeof(g->host), "%s", u->t.host);
	snprintf(g->port, sizeof(g->port), "%s", u->t.port);
	g->hints = hints;
	g->hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
	g->cb.ar_name = g->host;
	g->cb.ar_service = g->port;
	g->cb.ar_request = &g->hints;
	list[0] = &g->cb;
	if ((r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0) {
		free(g);
		return uplink_fail(u, "cannot resolve %s: %s", u->t.host,
		    gai_strerror(r));
	}
	u->gq = g;
	return 0;
}

static int
uplink_step_resolve(struct uplink *u)
{
	struct uplink_gai *g = u->gq;
	struct addrinfo *res;
	int r, same;

	if (g == NULL) {
		if (u->ai == NULL)
			return uplink_resolve(u);
		if (u->ai_next == NULL)
			u->ai_next = u->ai;
		return uplink_connect_next(u);
	}
	if ((r = gai_error(&g->cb)) == EAI_INPROGRESS)
		return 0;
	res = g->cb.ar_result;
	same = strcmp(g->host, u->t.host) == 0 &&
	    strcmp(g->port, u->t.port) == 0;
	free(g);
	u->gq = NULL;
	if (!same) {	/* left over from an earlier URL */
		if (res)
			freeaddrinfo(res);
		return uplink_resolve(u);
	}
	if (r != 0)
		return uplink_fail(u, "cannot resolve %s: %s", u->t.host,
		    gai_strerror(r));
	uplink_forget(u);
	u->ai = u->ai_next = res;
	return uplink_connect_next(u);
}

/* Connects to the next resolved address (non-blocking). */
static int
uplink_connect_next(struct uplink *u)
{
	struct addrinfo *a;
	int fd, one = 1;

	while ((a = u->ai_next) != NULL) {
		u->ai_next = a->ai_next;
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			u->last_errno = errno;
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			u->fd = fd;
			u->st = UP_CONNECT;
			u->addr_deadline = clock_mono_ms() + UPLINK_ADDR_MS;
			return 0;
		}
		u->last_errno = errno;
		close(fd);
	}
	return uplink_fail(u, "cannot connect to %s:%s: %s", u->t.host,
	    u->t.port, strerror(u->last_errno ? u->last_errno : EHOSTUNREACH));
}

static int
uplink_step_connect(struct uplink *u, short *want)
{
	struct pollfd pf = {u->fd, POLLOUT, 0};
	socklen_t len = sizeof(int);
	int e = 0;

	if (poll(&pf, 1, 0) == 0) {
		*want = POLLOUT;
		return 0;
	}
	if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e != 0) {
		u->last_errno = e;
		close(u->fd);
		u->fd = -1;
		return uplink_connect_next(u);
	}
	u->last_errno = 0;
	if (!u->t.tls) {
		u->st = UP_SEND;
		return 0;
	}
	mbedtls_ssl_session_reset(&u->ssl);
	/* No SNI and no DNS-name check for an IP (uplink_verify does it). */
	if (mbedtls_ssl_set_hostname(&u->ssl, u->t.ip ? NULL : u->t.host))
		return uplink_fail(u, "cannot set the TLS host name");
	mbedtls_ssl_set_bio(&u->ssl, u, uplink_bio_send, uplink_bio_recv,
	    NULL);
	u->st = UP_HANDSHAKE;
	return 0;
}

static int
uplink_step_handshake(struct uplink *u, short *want)
{
	char msg[200];
	uint32_t flags;
	int r = mbedtls_ssl_handshake(&u->ssl);

	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		*want = r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT;
		return 0;
	}
	if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		flags = mbedtls_ssl_get_verify_result(&u->ssl);
		mbedtls_x509_crt_verify_info(msg, sizeof(msg), "", flags);
		for (char *p = msg; *p; p++)
			if (*p == '\n')
				*p = p[1] ? ';' : '\0';
		return uplink_fail(u, "TLS: certificate of %s not accepted: %s",
		    u->t.host, msg);
	}
	if (r != 0) {
		uplink_tls_strerror(r, msg, sizeof(msg));
		return uplink_fail(u, "TLS handshake with %s:%s failed: %s",
		    u->t.host, u->t.port, msg);
	}
	u->handshaken = 1;
	u->st = UP_SEND;
	return 0;
}

/*
 * One write: bytes written, 0 when it would block (want set), or -1. Plain
 * http goes through the same socket callback that mbedTLS uses.
 */
static long
uplink_write(struct uplink *u, const char *p, size_t n, short *want)
{
	const unsigned char *b = (const unsigned char *)p;
	int r = u->t.tls ? mbedtls_ssl_write(&u->ssl, b, n) :
	    uplink_bio_send(u, b, n);

	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
		*want = r == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT;
		return 0;
	}
	return r > 0 ? r : -1;
}

static int
uplink_step_send(struct uplink *u, short *want)
{
	long w;

	while (u->off < u->out.len) {
		w = uplink_write(u, u->out.data + u->off, u->out.len - u->off,
		    want);
		if (w == 0)
			return 0;
		if (w < 0)
			return uplink_broken(u, "sending to");
		u->off += (size_t)w;
	}
	buf_reset(&u->in);
	u->st = UP_RECV;
	return 0;
}

/* One read: bytes read, 0 when it would block, -2 at the end, or -1. */
static long
uplink_read(struct uplink *u, char *p, size_t n)
{
	unsigned char *b = (unsigned char *)p;
	int r = u->t.tls ? mbedtls_ssl_read(&u->ssl, b, n) :
	    uplink_bio_recv(u, b, n);

	if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
		return 0;
	if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return -2;
	return r > 0 ? r : -1;
}

static int
uplink_step_recv(struct uplink *u, short *want)
{
	char chunk[4096];
	long n;
	int eof = 0, r;

	for (;;) {
		if ((n = uplink_read(u, chunk, sizeof(chunk))) == 0)
			break;
		if (n == -2) {
			eof = 1;
			break;
		}
		if (n < 0)
			return uplink_broken(u, "receiving from");
		if (buf_add(&u->in, chunk, (size_t)n) < 0)
			return uplink_fail(u, "answer from %s larger than %d "
			    "bytes", u->t.host, UPLINK_RESP_MAX);
	}
	r = uplink_parse(u->in.data, u->in.len, eof, &u->resp);
	if (r < 0)
		return uplink_fail(u, "malformed HTTP answer from %s",
		    u->t.host);
	if (r == 0 && eof)
		return uplink_broken(u, "receiving from");
	if (r == 0) {
		*want = POLLIN;
		return 0;
	}
	if (u->resp.close || eof)
		uplink_disconnect(u);
	u->st = UP_IDLE;
	return 1;
}

/* Advances the request: 1 when it ended, 0 when it waits for want. */
static int
uplink_step(struct uplink *u, short *want)
{
	enum uplink_state before;
	int r;

	do {
		before = u->st;
		*want = 0;
		switch (u->st) {
		case UP_RESOLVE:
			r = uplink_step_resolve(u);
			break;
		case UP_CONNECT:
			r = uplink_step_connect(u, want);
			break;
		case UP_HANDSHAKE:
			r = uplink_step_handshake(u, want);
			break;
		case UP_SEND:
			r = uplink_step_send(u, want);
			break;
		case UP_RECV:
			r = uplink_step_recv(u, want);
			break;
		default:
			return 1;
		}
	} while (r == 0 && u->st != before);
	return r;
}

/* ---- the API ---- */

/* Switches to urls[i] for the next request. */
static void
uplink_use(struct uplink *u, int i)
{
	if (i == u->cur)
		return;
	uplink_disconnect(u);
	uplink_forget(u);
	u->cur = i;
	uplink_parse_url(u->urls[i], &u->t);	/* checked in uplink_new */
}

struct uplink *
uplink_new(const struct uplink_opts *o, char *err, size_t errlen)
{
	struct uplink_target t;
	struct uplink *u;
	int tls = 0;

	for (int i = 0; i < o->nurls; i++) {
		if (uplink_parse_url(o->urls[i], &t) < 0) {
			snprintf(err, errlen, "relay_url '%s' is not a "
			    "valid http(s) URL", o->urls[i]);
			return NULL;
		}
		tls |= t.tls;
	}
	if (o->nurls < 1 || (u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "%s", o->nurls < 1 ? "no relay_url" :
		    "out of memory");
		return NULL;
	}
	u->fd = -1;
	u->urls = o->urls;
	u->nurls = o->nurls;
	snprintf(u->host_id, sizeof(u->host_id), "%s", o->host_id);
	memcpy(u->key, o->key, SIG_HOST_KEY_LEN);
	buf_init(&u->out, SAMPLE_BATCH_MAX_BYTES + UPLINK_HEAD_MAX);
	buf_init(&u->in, UPLINK_RESP_MAX);
	uplink_parse_url(u->urls[0], &u->t);
	if (tls && uplink_tls_init(u, o->ca_file, err, errlen) < 0) {
		uplink_free(u);
		return NULL;
	}
	return u;
}

void
uplink_free(struct uplink *u)
{
	if (u == NULL)
		return;
	uplink_disconnect(u);
	uplink_forget(u);
	/* A resolver thread that cannot be stopped still writes into gq:
	 * leave it to the exiting process. */
	if (u->gq && gai_cancel(&u->gq->cb) != EAI_NOTCANCELED) {
		if (gai_error(&u->gq->cb) == 0 && u->gq->cb.ar_result)
			freeaddrinfo(u->gq->cb.ar_result);
		free(u->gq);
	}
	if (u->tls_init) {
		mbedtls_ssl_free(&u->ssl);
		mbedtls_ssl_config_free(&u->conf);
		mbedtls_x509_crt_free(&u->ca);
	}
	buf_free(&u->out);
	buf_free(&u->in);
	sodium_memzero(u->key, sizeof(u->key));
	free(u);
}

int
uplink_busy(const struct uplink *u)
{
	return u->st != UP_IDLE;
}

const char *
uplink_url(const struct uplink *u)
{
	return u->urls[u->cur];
}

int
uplink_start(struct uplink *u, const char *path, const char *body,
    size_t len, long timeout_ms)
{
	char head[UPLINK_HEAD_MAX];
	int64_t now = clock_mono_ms();
	int n;

	if (u->st != UP_IDLE)
		return -EBUSY;
	if (strlen(path) >= sizeof(u->path))
		return -EINVAL;
	snprintf(u->path, sizeof(u->path), "%s", path);
	n = uplink_head(u, len, body, head, sizeof(head));
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EMSGSIZE;
	buf_reset(&u->out);
	buf_reset(&u->in);
	if ((n = buf_add(&u->out, head, (size_t)n)) < 0 ||
	    (n = buf_add(&u->out, body, len)) < 0)
		return n;
	u->err[0] = '\0';
	u->off = 0;
	u->retried = 0;
	u->last_errno = 0;
	u->timeout_ms = timeout_ms;
	u->deadline = now + timeout_ms;
	u->conn_deadline = now + UPLINK_CONNECT_MS;
	if (u->fd >= 0 && uplink_stale(u))
		uplink_disconnect(u);
	u->reused = u->fd >= 0;
	u->st = u->reused ? UP_SEND : UP_RESOLVE;
	return 0;
}

static const char *
uplink_doing(const struct uplink *u)
{
	switch (u->st) {
	case UP_RESOLVE:
		return "resolving";
	case UP_CONNECT:
		return "connecting to";
	case UP_HANDSHAKE:
		return "in the TLS handshake with";
	case UP_SEND:
		return "sending to";
	default:
		return "waiting for the answer from";
	}
}

/* Waits up to ms for the socket (or the resolver) to be ready. */
static void
uplink_wait(struct uplink *u, short want, int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	const struct gaicb *list[1];
	struct pollfd pf = {u->fd, want, 0};

	if (u->st == UP_RESOLVE && u->gq) {
		list[0] = &u->gq->cb;
		gai_suspend(list, 1, &ts);
	} else if (u->fd >= 0 && want)
		poll(&pf, 1, ms);
	else
		nanosleep(&ts, NULL);
}

/* Fills res from the finished request; moves on to the next URL. */
static void
uplink_finish(struct uplink *u, struct uplink_result *res)
{
	memset(res, 0, sizeof(*res));
	res->body = "";
	if (u->err[0]) {
		snprintf(res->error, sizeof(res->error), "%s", u->err);
		uplink_use(u, (u->cur + 1) % u->nurls);
		return;
	}
	res->status = u->resp.status;
	res->body = u->in.data + u->resp.body_off;
	res->len = u->resp.body_len;
	u->in.data[u->resp.body_off + u->resp.body_len] = '\0';
	if (res->status >= 500)
		uplink_use(u, (u->cur + 1) % u->nurls);
}

int
uplink_poll(struct uplink *u, int wait_ms, struct uplink_result *res)
{
	int64_t now = clock_mono_ms(), end = now + wait_ms, until;
	struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
	short want;

	if (u->st == UP_IDLE) {
		if (wait_ms > 0)
			nanosleep(&ts, NULL);
		return 0;
	}
	while (uplink_step(u, &want) == 0) {
		now = clock_mono_ms();
		if (now >= u->deadline || (u->st < UP_SEND &&
		    now >= u->conn_deadline)) {
			uplink_fail(u, "timed out after %lld ms %s %s:%s",
			    (long long)(now - (u->deadline - u->timeout_ms)),
			    uplink_doing(u), u->t.host, u->t.port);
			break;
		}
		if (u->st == UP_CONNECT && now >= u->addr_deadline) {
			u->last_errno = ETIMEDOUT;
			close(u->fd);
			u->fd = -1;
			uplink_connect_next(u);
			continue;
		}
		if (now >= end)
			return 0;
		until = end < u->deadline ? end : u->deadline;
		if (u->st < UP_SEND && u->conn_deadline < until)
			until = u->conn_deadline;
		if (u->st == UP_CONNECT && u->addr_deadline < until)
			until = u->addr_deadline;
		uplink_wait(u, want, (int)(until - now));
	}
	uplink_finish(u, res);
	return 1;
}
