/*
 * Webhooks (docs/pusher-protocol.md): events are queued by the event loop and
 * sent by one worker thread with libcurl, batched per app as Pusher does (at
 * most 250 ms or 20 events per POST), signed with the app secret, retried
 * with back-off. channel_vacated and member_removed wait 3 s in the event
 * loop and are dropped, with the matching occupied/added, when the channel or
 * member comes back (with Redis the hold is cluster_webhook.c's, and those
 * come through webhook_event_now). Nothing here ever blocks the event loop.
 */
#ifndef SNO_WEBHOOK_H
#define SNO_WEBHOOK_H

#include <stdint.h>

struct app;
struct relay;

/* Starts the worker thread if an app has a webhook_url and it is not
 * running yet (again after a reload adds one); 0 or a negative errno. */
int webhook_start(struct relay *r);
/* Sends what is queued (for at most a few seconds) and joins the thread. */
void webhook_stop(void);
/* channel_occupied, channel_vacated, member_added, member_removed,
 * cache_miss; user_id only for member events. */
void webhook_event(struct app *a, const char *name, const char *channel,
    const char *user_id);
/* The same, queued at once: no hold, nothing cancelled (the cluster held
 * and decided it in Redis). */
void webhook_event_now(struct app *a, const char *name, const char *channel,
    const char *user_id);
/* client_event with its data as a string; user_id may be NULL. */
void webhook_client_event(struct app *a, const char *channel,
    const char *event, const char *data, const char *socket_id,
    const char *user_id);
/* Drops a's delayed events: a is leaving the configuration. */
void webhook_forget(const struct app *a);
/* Releases delayed events that are due; called from a loop timer. */
void webhook_tick(int64_t now_ms);

#endif
