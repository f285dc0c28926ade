/*
 * The libwebsockets side of the relay: context, listeners (plain and TLS),
 * the one protocol callback that serves websockets and HTTP, timers, and the
 * clean shutdown. The only place besides main.c that sees struct lws.
 */
#ifndef SNO_LWS_SERVER_H
#define SNO_LWS_SERVER_H

#include "conn.h"

/* Creates the context and listeners; 0, or -1 after logging why. */
int server_start(struct relay *r);
/* Serves until server_stop() is called (e.g. from a signal handler). */
void server_run(void);
/* Async-signal-safe: asks server_run to return. */
void server_stop(void);
/* Closes every websocket with a reconnectable code, drains, destroys. */
void server_shutdown(void);

#endif
