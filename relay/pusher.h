/*
 * The Pusher Channels protocol 7 on one websocket (docs/pusher-protocol.md):
 * handshake, ping/pong, subscribe/unsubscribe with channel authorization,
 * presence, cache replay, signin, client events. lws-free: lws_server.c
 * hands it whole text messages and drains what it queues.
 */
#ifndef SNO_PUSHER_H
#define SNO_PUSHER_H

#include <stddef.h>

#include "conn.h"

#define CLIENT_EVENTS_PER_S 10

/*
 * A websocket opened at /app/{key}: sets c up and queues
 * pusher:connection_established, or pusher:error 4001 and a close for an
 * unknown key. Returns 0, or -ENOENT for the unknown key, -ENOMEM.
 */
int pusher_open(struct relay *r, struct conn *c, const char *key,
    size_t keylen);
/* Handles one complete text message; bad input gets pusher:error. */
void pusher_message(struct conn *c, const char *text, size_t len);
/* A message was refused before parsing (binary, oversized). */
void pusher_refuse(struct conn *c, const char *why);
/*
 * s is subscribed: pusher_internal:subscription_succeeded (with presence,
 * the members JSON, or NULL for this node's members) and the cache replay.
 */
void pusher_subscribed(struct conn *c, struct sub *s, const char *presence);
/* The cache replay of chname to c: cached (a frame), or pusher:cache_miss
 * and the cache_miss webhook when it is NULL. */
void pusher_cache_send(struct conn *c, const char *chname,
    struct msg *cached);
void pusher_subscription_error(struct conn *c, const char *ch,
    const char *type, int status, const char *error);

#endif
