/*
 * The Pusher HTTP API under /apps/{app_id}/ (docs/pusher-protocol.md): events,
 * batch_events, channels, channels/{name}, channels/{name}/users and
 * users/{id}/terminate_connections. lws-free: httpd.c passes the decoded
 * path, the decoded query parameters (np < 0: too many) and the body, and
 * writes back the status and JSON.
 */
#ifndef SNO_HTTP_API_H
#define SNO_HTTP_API_H

#include <stddef.h>

#include "auth.h"
#include "buf.h"
#include "conn.h"

#define HTTP_API_MAX_CHANNELS 100
#define HTTP_API_MAX_BATCH 100
#define HTTP_API_EVENT_NAME_MAX 200

/*
 * Handles one request. Writes a JSON body to out and
 * returns the HTTP status (200, 400, 401, 404, 405, 413).
 */
int http_api_handle(struct relay *r, const char *method, const char *path,
    const struct auth_param *p, int np, const char *body, size_t bodylen,
    struct buf *out);
/* The largest body a request may have, given the config. */
size_t http_api_max_body(const struct relay *r);

#endif
