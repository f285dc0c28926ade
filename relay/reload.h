/*
 * Operating the relay: SIGHUP reloads the configuration without dropping
 * connections, systemd hears READY/RELOADING/STOPPING (sd_notify), and
 * GET /readyz says whether the relay serves. The signal handler only sets a
 * flag; the reload itself runs in the event loop (reload_poll).
 */
#ifndef SNO_RELOAD_H
#define SNO_RELOAD_H

#include "buf.h"
#include "conn.h"

/* Close codes for connections whose app or host a reload removed. */
#define CLOSE_APP_REMOVED 4100	/* pusher-js backs off, then is refused */
#define CLOSE_HOST_REMOVED 4200	/* reconnect at once; the app is still there */

/* Remembers the file that reloads read again (main's -c). */
void reload_init(const char *path);
/* Async-signal-safe: asks the event loop for a reload (SIGHUP). */
void reload_request(void);
/* In the event loop: runs a requested reload. */
void reload_poll(struct relay *r);
/*
 * Reads the configuration again and swaps it in: apps, accounts, users,
 * hosts, allowed_origins, log_level and the TLS pair take effect; per-app
 * and per-host state of those that remain is kept. Returns 0, or -1 after
 * logging "FILE:LINE: message" with the running configuration untouched.
 */
int reload_run(struct relay *r);

/* sd_notify: READY=1 (listeners up, config loaded), STOPPING=1. No-ops
 * without $NOTIFY_SOCKET. */
void ops_ready(struct relay *r);
void ops_stopping(void);
/* The body of GET /readyz into out; 200 when ready, else 503. */
int ops_readyz(const struct relay *r, int listening, struct buf *out);

/* Implemented by dash_api.c: sessions follow their user into nc, or are
 * dropped when the user is gone or its account or password changed. */
void dash_api_reconf(const struct relay_conf *nc);

#endif
