/*
 * Channels of one app: kinds by name prefix, subscriptions, presence members,
 * cache slots, signed-in users, and publishing a shared frame to every
 * subscriber. Knows nothing of lws; talks to webhook.c for occupancy events.
 */
#ifndef SNO_CHANNEL_H
#define SNO_CHANNEL_H

#include "conn.h"

#define CHANNEL_NAME_MAX 200
#define CHANNEL_SUBSCRIBE_MAX 164	/* hosted Pusher's limit on subscribe */
#define PRESENCE_MAX_MEMBERS 100
#define PRESENCE_MAX_INFO 1024
#define PRESENCE_MAX_ID 128
#define CACHE_TTL_MS (30 * 60 * 1000)
/*
 * Subscribers served (frames queued on a connection) in one slice of a
 * fan-out, all channels together. The glue writes each slice out at once,
 * while its connections are still in the cache, and runs slices until its
 * loop turn has worked its share of time (TURN_WORK_US, lws_server.c); a
 * fan-out past that goes on in the next turns. The writes, not the
 * queueing (about 0.15 us a frame), are what a slice costs: 5-15 us each
 * at 19,000 connections.
 */
#define FANOUT_BUDGET 256

/* Kind flags for a valid name; -1 when the name is invalid. */
int channel_kind(const char *name, size_t len);
struct channel *channel_find(struct app *a, const char *name);
/*
 * Subscribes c to name (must be valid). For presence, user_id and user_info
 * (JSON text or NULL) identify the member. On success *out is the new sub.
 * Returns 0, -EEXIST when already subscribed, -ENOSPC when the presence
 * channel is full, -ENOMEM.
 */
int channel_subscribe(struct app *a, struct conn *c, const char *name,
    const char *user_id, const char *user_info, struct sub **out);
/* The sub of c on name, or NULL. */
struct sub *channel_sub_of(struct conn *c, const char *name);
/* Removes s (member_removed and vacancy handled); frees s. */
void channel_unsubscribe(struct sub *s);
void channel_unsubscribe_all(struct conn *c);
/* Frees every channel of a (at shutdown). */
void channel_free_all(struct app *a);
/*
 * Accepts m for every subscriber of ch but except (subscribed now): m is
 * ordered after the channel's earlier events and holds a reference until
 * it has been queued on each. As much of the fan-out as the current
 * slice's budget (FANOUT_BUDGET subscribers) allows happens at once (all of
 * it when it is small); the rest in the next slices (channel_fanout_turn).
 * Returns the frames queued now.
 */
int channel_publish(struct channel *ch, struct msg *m,
    const struct conn *except);
/*
 * One slice of fan-out work: the budget is reset and the channels with
 * events left go on, oldest event first per channel, until the budget is
 * spent. Returns 1 when work is left for a later slice.
 */
int channel_fanout_turn(struct relay *r);
/* Fans out to budget subscribers at most; 1 when work is left. */
int channel_fanout_run(struct relay *r, int budget);
/* Appends {"presence":{"ids":[..],"hash":{..},"count":n}} to out. */
int channel_presence_json(struct channel *ch, struct buf *out);
/* Number of distinct presence users. */
int channel_user_count(const struct channel *ch);
/* Remembers the frame (and data) of the last event of a cache channel. */
void channel_cache_store(struct channel *ch, struct msg *m, const char *data,
    size_t dlen);
/* Same, creating the channel when it has no subscribers; 0 or -ENOMEM. */
int channel_cache_put(struct app *a, const char *name, struct msg *m,
    const char *data, size_t dlen);
/* The cached frame if fresh, else NULL (and the slot is emptied). */
struct msg *channel_cache_get(struct channel *ch);

/*
 * channel_count.c: pusher_internal:subscription_count. changed: ch's
 * subscriptions changed (ignored unless the app has subscription_count and
 * ch is not presence or #server-to-user-); tick: sends what is due (every
 * 250 ms); due: the count of key ("<app id>:<channel>", the id applen
 * bytes) is to be sent again at due_ms (cluster_count.c); free: at exit.
 */
void channel_count_changed(struct channel *ch);
void channel_count_tick(struct relay *r, int64_t now_ms);
void channel_count_due(const char *key, size_t applen, int64_t due_ms);
void channel_count_free(void);

/* Signs c in as user id (replacing an earlier signin); 0 or -ENOMEM. */
int user_signin(struct conn *c, const char *id);
void user_signout(struct conn *c);
/* The signed-in user id of the app, or NULL. */
struct user *user_find(struct app *a, const char *id);

#endif
