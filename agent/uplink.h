/*
 * Signed HTTP/1.1 requests to the relay over one kept-alive connection, TLS
 * by mbedTLS. The only file that includes mbedtls/ headers and the only one
 * that opens sockets. Driven by uplink_poll, so the caller keeps sampling
 * while a request is in flight; nothing in it blocks (names are resolved
 * with getaddrinfo_a). TLS verification is always on: the relay's
 * certificate must chain to ca_file (or the system CAs) and name the host
 * of the URL (a DNS name, or an IP address in its subjectAltName). Each
 * request carries X-Sno-Host, X-Sno-Timestamp (Unix ms, strictly
 * increasing) and X-Sno-Signature (sig_agent_request).
 *
 * Why not libcurl: Debian's libcurl maps 32 libraries (OpenSSL, GnuTLS via
 * librtmp, Kerberos, LDAP, SSH, ...) and costs 7 MiB of RSS before main();
 * the agent's whole budget is 6 MiB. docs/benchmarks.md has the figures.
 */
#ifndef SNO_UPLINK_H
#define SNO_UPLINK_H

#include <stddef.h>

#include "sig.h"

#define UPLINK_RESP_MAX 65536	/* head and body of one answer */

struct uplink;

struct uplink_opts {
	char *const *urls;	/* base URLs, tried in turn on failures */
	int nurls;
	const char *host_id;
	const unsigned char *key;	/* SIG_HOST_KEY_LEN bytes, copied */
	const char *ca_file;	/* NULL: system CAs */
};

struct uplink_result {
	long status;		/* HTTP status, 0 on transport failure */
	char error[256];	/* transport error text when status is 0 */
	const char *body;	/* response body (NUL-terminated), valid
				 * until the next uplink_start */
	size_t len;
};

/*
 * Parses the URLs and loads the CA certificates; does not connect yet.
 * NULL on failure, with the reason in err (errlen bytes).
 */
struct uplink *uplink_new(const struct uplink_opts *o, char *err,
    size_t errlen);
/* Closes the connection and frees everything; the key copy is wiped. */
void uplink_free(struct uplink *u);
/*
 * Starts POST base+path with a copy of body, giving up after timeout_ms.
 * 0, -EBUSY when a request is in flight, -EMSGSIZE, -ENOMEM.
 */
int uplink_start(struct uplink *u, const char *path, const char *body,
    size_t len, long timeout_ms);
/*
 * Drives the request for at most wait_ms (sleeps that long when idle).
 * Returns 1 when the request finished (res filled), 0 when still running
 * or idle. A transport failure or a 5xx answer moves on to the next base
 * URL for the next request.
 */
int uplink_poll(struct uplink *u, int wait_ms, struct uplink_result *res);
/* 1 while a request is in flight. */
int uplink_busy(const struct uplink *u);
/* The base URL the next (or current) request goes to. */
const char *uplink_url(const struct uplink *u);

/* ---- exposed for the unit tests ---- */

struct uplink_target {
	int tls;		/* https */
	int ip;			/* host is an IP literal: addr holds it */
	unsigned char addr[16];
	int addrlen;		/* 4 or 16 */
	char host[256];		/* without brackets */
	char port[6];
	char prefix[256];	/* path before the API path, "" or "/x" */
	char authority[272];	/* the Host header */
};

/*
 * Splits http[s]://host[:port][/prefix] (IPv6 in brackets). 0, or
 * -EINVAL for anything else (user info, query, fragment, bad port).
 */
int uplink_parse_url(const char *url, struct uplink_target *t);

struct uplink_resp {
	long status;
	int close;		/* the relay closes the connection after it */
	size_t body_off, body_len;
};

/*
 * Parses an HTTP/1.x answer held whole in p[0..n) (eof: the peer has
 * closed). 1 when complete: r filled and the body at p + r->body_off
 * (a chunked body is decoded there, in place); 0 when more bytes are
 * needed; -EPROTO when it is not a well-formed answer. Skips 1xx answers.
 */
int uplink_parse(char *p, size_t n, int eof, struct uplink_resp *r);

#endif
