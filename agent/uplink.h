/*
 * Signed HTTPS requests to the relay over one reused libcurl easy handle
 * driven by a multi handle, so the caller keeps sampling while a request is
 * in flight. The only file that includes curl/curl.h. TLS verification is
 * always on. Each request carries X-Sno-Host, X-Sno-Timestamp (Unix ms,
 * strictly increasing) and X-Sno-Signature (sig_agent_request).
 */
#ifndef SNO_UPLINK_H
#define SNO_UPLINK_H

#include <stddef.h>

#include "sig.h"

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

/* Creates the handles; NULL on failure. Does not connect yet. */
struct uplink *uplink_new(const struct uplink_opts *o);
/* Aborts any transfer and frees everything; the key copy is wiped. */
void uplink_free(struct uplink *u);
/*
 * Starts POST base+path with a copy of body, giving up after timeout_ms.
 * 0, -EBUSY when a request is in flight, -EMSGSIZE, -ENOMEM, -EIO.
 */
int uplink_start(struct uplink *u, const char *path, const char *body,
    size_t len, long timeout_ms);
/*
 * Drives the transfer for at most wait_ms (sleeps that long when idle).
 * Returns 1 when the request finished (res filled), 0 when still running
 * or idle, negative errno on a libcurl failure. A transport failure moves
 * on to the next base URL for the next request.
 */
int uplink_poll(struct uplink *u, int wait_ms, struct uplink_result *res);
/* 1 while a request is in flight. */
int uplink_busy(const struct uplink *u);
/* The base URL the next (or current) request goes to. */
const char *uplink_url(const struct uplink *u);

#endif
