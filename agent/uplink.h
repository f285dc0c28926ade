/*
 * Signed HTTP requests to the relay over libcurl's multi interface: one easy
 * handle, reused, so the connection is kept alive; HTTP/2 when the relay
 * offers it in ALPN, else HTTP/1.1; TLS 1.2 or 1.3 (OpenSSL). The only file
 * that includes curl/ headers. Driven by uplink_poll, so the caller keeps
 * sampling while a request is in flight; nothing in it blocks (names are
 * resolved on curl's resolver thread, addresses tried happy-eyeballs
 * style). TLS verification is always on: the relay's certificate must
 * chain to ca_file (else $SSL_CERT_FILE, else the system CAs) and name the
 * host of the URL. Each request carries X-Sno-Host, X-Sno-Timestamp (Unix
 * ms, strictly increasing) and X-Sno-Signature (sign_agent_request), signed
 * just before it is sent, so that curl's resend on a kept connection that
 * turned out closed goes out signed anew.
 *
 * Proxies: opts.proxy "none" uses none; an http(s):// URL is used for every
 * relay URL; NULL follows https_proxy/HTTPS_PROXY (http_proxy for http://),
 * all_proxy/ALL_PROXY and no_proxy/NO_PROXY as curl reads them.
 */
#ifndef SNO_UPLINK_H
#define SNO_UPLINK_H

#include <stddef.h>

#include "sign.h"

#define UPLINK_RESP_MAX 65536	/* body of one answer */
#define UPLINK_PROXY_MAX 512	/* length of a proxy URL */

struct uplink;

struct uplink_opts {
	char *const *urls;	/* base URLs, tried in turn on failures */
	int nurls;
	const char *host_id;
	const unsigned char *key;	/* SIGN_HOST_KEY_LEN bytes, copied */
	const char *ca_file;	/* NULL: $SSL_CERT_FILE or system CAs */
	const char *proxy;	/* NULL: environment; "none"; or a URL */
};

struct uplink_result {
	long status;		/* HTTP status, 0 on transport failure */
	char error[320];	/* transport error text when status is 0 */
	const char *body;	/* response body (NUL-terminated), valid
				 * until the next uplink_start */
	size_t len;
	const char *url;	/* the base URL this request went to (a
				 * failure moves the next one on) */
};

/*
 * Checks the URLs, the proxy and that the CA file holds a certificate;
 * does not connect yet. NULL on failure, with the reason in err (errlen
 * bytes).
 */
struct uplink *uplink_new(const struct uplink_opts *o, char *err,
    size_t errlen);
/* Closes the connection and frees everything; the key copy is wiped. */
void uplink_free(struct uplink *u);
/*
 * Starts POST base+path with a copy of body, giving up after timeout_ms.
 * 0, -EBUSY when a request is in flight, -EINVAL, -EMSGSIZE, -ENOMEM.
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
/*
 * Between requests: frees the request and answer buffers when a backlog
 * grew them past keep bytes (they grow again on demand). 1 when memory
 * was freed.
 */
int uplink_shrink(struct uplink *u, size_t keep);
/* The base URL the next (or current) request goes to. */
const char *uplink_url(const struct uplink *u);
/*
 * How the next request is routed, for logs: "direct", or "proxy URL"
 * (without user and password) and where the setting came from.
 */
const char *uplink_route(const struct uplink *u);

/* ---- exposed for the unit tests and agent_conf ---- */

struct uplink_target {
	int tls;		/* https */
	int ip;			/* host is an IP literal: addr holds it */
	unsigned char addr[16];
	int addrlen;		/* 4 or 16 */
	char host[256];		/* without brackets */
	char port[6];
	char prefix[256];	/* path before the API path, "" or "/x" */
	char authority[272];	/* host[:port] as in the URL */
};

/*
 * Splits http[s]://host[:port][/prefix] (IPv6 in brackets). 0, or
 * -EINVAL for anything else (user info, query, fragment, bad port).
 */
int uplink_parse_url(const char *url, struct uplink_target *t);

/*
 * Checks a `proxy =` value: "none", or http[s]://[user:pass@]host:port
 * with an optional trailing '/'. 0 or -EINVAL.
 */
int uplink_proxy_ok(const char *proxy);

/*
 * Whether host (a name or an IP literal without brackets) is matched by a
 * no_proxy list the way curl matches it: "*" matches all; comma- or
 * blank-separated entries match the host itself or, for names, any name
 * below it (a leading '.' is ignored); an IP entry may carry /bits. 1 or 0.
 */
int uplink_noproxy_match(const char *list, const char *host);

/* Writes url into out (cap bytes) without "user:pass@". */
void uplink_redact(const char *url, char *out, size_t cap);

#endif
