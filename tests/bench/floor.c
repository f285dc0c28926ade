/*
 * The floor server of the fan-out benchmark: a bare epoll websocket
 * broadcaster with no protocol. A GET with "Upgrade: websocket" at any path
 * becomes a subscriber; the body of every POST (any path) goes out as one
 * text frame to every subscriber with one write per delivery, then the POST
 * gets "200". What a subscriber sends is read and dropped. It never queues
 * more than one unsent tail per subscriber; it is a yardstick, not a server.
 */
#include <errno.h>
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
#include <unistd.h>

#include <openssl/evp.h>

#define FL_IN_MAX (1024 * 1024 + 8192)

struct fl_conn {
	int fd;
	int sub_idx; /* index in fl_subs, or -1 */
	char *in;
	size_t inlen;
	char *out; /* unsent tail of the last frames */
	size_t outlen;
};

static struct fl_conn **fl_subs;
static int fl_nsubs, fl_ep;
static char *fl_frame;

static void
fl_close(struct fl_conn *c)
{
	if (c->sub_idx >= 0) {
		fl_subs[c->sub_idx] = fl_subs[--fl_nsubs];
		fl_subs[c->sub_idx]->sub_idx = c->sub_idx;
	}
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* One write; what the socket does not take waits for EPOLLOUT. */
static int
fl_send(struct fl_conn *c, const char *p, size_t len)
{
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	ssize_t n = 0;
	char *nb;

	if (c->outlen == 0 && (n = write(c->fd, p, len)) < 0) {
		if (errno != EAGAIN)
			return -errno;
		n = 0;
	}
	if ((size_t)n == len)
		return 0;
	if (c->outlen + len - (size_t)n > FL_IN_MAX * 4)
		return -ENOBUFS;
	if ((nb = realloc(c->out, c->outlen + len - (size_t)n)) == NULL)
		return -ENOMEM;
	c->out = nb;
	memcpy(c->out + c->outlen, p + n, len - (size_t)n);
	if (c->outlen == 0)
		epoll_ctl(fl_ep, EPOLL_CTL_MOD, c->fd, &e);
	c->outlen += len - (size_t)n;
	return 0;
}

static void
fl_broadcast(const char *body, size_t len)
{
	size_t h = 0;
	int i;

	fl_frame[h++] = (char)0x81;
	if (len < 126)
		fl_frame[h++] = (char)len;
	else if (len < 65536) {
		fl_frame[h++] = 126;
		fl_frame[h++] = (char)(len >> 8);
		fl_frame[h++] = (char)len;
	} else {
		fl_frame[h++] = 127;
		for (i = 7; i >= 0; i--)
			fl_frame[h++] = (char)((uint64_t)len >> (8 * i));
	}
	memcpy(fl_frame + h, body, len);
	/* A failed subscriber is shut down here and freed on its EPOLLHUP,
	 * so no event of this batch points at freed memory. */
	for (i = 0; i < fl_nsubs; i++)
		if (fl_send(fl_subs[i], fl_frame, h + len) < 0)
			shutdown(fl_subs[i]->fd, SHUT_RDWR);
}

static int
fl_upgrade(struct fl_conn *c, const char *head)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[EVP_MAX_MD_SIZE];
	char kg[128], acc[64], resp[256];
	const char *k = strcasestr(head, "\r\nSec-WebSocket-Key:");
	unsigned int mdlen;
	size_t kl;
	int n;

	if (k == NULL)
		return -EPROTO;
	k += 20;
	while (*k == ' ')
		k++;
	kl = strcspn(k, "\r\n ");
	if (kl > 64)
		return -EPROTO;
	n = snprintf(kg, sizeof(kg), "%.*s%s", (int)kl, k, guid);
	EVP_Digest(kg, (size_t)n, md, &mdlen, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)acc, md, (int)mdlen);
	n = snprintf(resp, sizeof(resp),
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	    acc);
	c->sub_idx = fl_nsubs;
	fl_subs[fl_nsubs++] = c;
	return fl_send(c, resp, (size_t)n);
}

/* Handles every complete request in c->in; a subscriber's input is
 * dropped. Returns <0 when the connection must close. */
static int
fl_requests(struct fl_conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char *end, *cl;
	size_t hl, bl;
	int rc;

	while (c->sub_idx < 0 && c->inlen > 0) {
		c->in[c->inlen] = '\0';
		if ((end = strstr(c->in, "\r\n\r\n")) == NULL)
			return 0;
		hl = (size_t)(end - c->in) + 4;
		end[2] = '\0';
		if (strcasestr(c->in, "\r\nUpgrade: websocket") != NULL) {
			rc = fl_upgrade(c, c->in);
			c->inlen = 0;
			return rc;
		}
		cl = strcasestr(c->in, "\r\nContent-Length:");
		bl = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
		if (hl + bl >= FL_IN_MAX)
			return -EMSGSIZE;
		if (c->inlen < hl + bl) {
			end[2] = '\r';
			return 0;
		}
		fl_broadcast(c->in + hl, bl);
		if ((rc = fl_send(c, ok, sizeof(ok) - 1)) < 0)
			return rc;
		memmove(c->in, c->in + hl + bl, c->inlen - hl - bl);
		c->inlen -= hl + bl;
	}
	return 0;
}

static int
fl_read(struct fl_conn *c)
{
	char drop[4096];
	ssize_t n;

	if (c->sub_idx >= 0) {
		n = read(c->fd, drop, sizeof(drop));
	} else {
		if (c->in == NULL && (c->in = malloc(FL_IN_MAX + 1)) == NULL)
			return -ENOMEM;
		n = read(c->fd, c->in + c->inlen, FL_IN_MAX - c->inlen);
		if (n > 0)
			c->inlen += (size_t)n;
	}
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	return c->sub_idx >= 0 ? 0 : fl_requests(c);
}

static int
fl_flush(struct fl_conn *c)
{
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
	ssize_t n = write(c->fd, c->out, c->outlen);

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	memmove(c->out, c->out + n, c->outlen - (size_t)n);
	c->outlen -= (size_t)n;
	if (c->outlen == 0)
		epoll_ctl(fl_ep, EPOLL_CTL_MOD, c->fd, &e);
	return 0;
}

static void
fl_accept(int lfd)
{
	struct epoll_event e = {.events = EPOLLIN};
	struct fl_conn *c;
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->sub_idx = -1;
		e.data.ptr = c;
		epoll_ctl(fl_ep, EPOLL_CTL_ADD, fd, &e);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct epoll_event e = {.events = EPOLLIN}, ev[256];
	struct rlimit rl;
	struct fl_conn *c;
	int lfd, one = 1, i, n;

	if (argc != 2) {
		fprintf(stderr, "usage: floor PORT\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	fl_subs = calloc(rl.rlim_cur + 1, sizeof(*fl_subs));
	fl_frame = malloc(FL_IN_MAX + 16);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fl_subs == NULL || fl_frame == NULL || lfd < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("floor");
		return 1;
	}
	fl_ep = epoll_create1(0);
	e.data.ptr = NULL;
	epoll_ctl(fl_ep, EPOLL_CTL_ADD, lfd, &e);
	fprintf(stderr, "floor ready port=%s\n", argv[1]);
	for (;;) {
		n = epoll_wait(fl_ep, ev, 256, -1);
		for (i = 0; i < n; i++) {
			if ((c = ev[i].data.ptr) == NULL) {
				fl_accept(lfd);
				continue;
			}
			if (((ev[i].events & EPOLLOUT) && fl_flush(c) < 0) ||
			    ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
				fl_read(c) < 0))
				fl_close(c);
		}
	}
}
