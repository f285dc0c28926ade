/*
 * The relay's state: apps, connections, channels, subscriptions, presence
 * members and signed-in users. Everything here is owned by the single event
 * loop thread; only webhook.c has a thread of its own, fed by a queue.
 */
#ifndef SNO_CONN_H
#define SNO_CONN_H

#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "config.h"
#include "sendq.h"
#include "hmap.h"

struct conn;
struct channel;
struct fanout_ev;

/* Pusher close codes (docs/pusher-protocol.md) and the ones we choose. */
#define CLOSE_APP_UNKNOWN 4001	 /* refused: client stops */
#define CLOSE_RECONNECT_LATER 4100 /* pusher-js backs off, then returns */
#define CLOSE_PONG_TIMEOUT 4201	 /* reconnect at once */

enum channel_kind {
	CH_PUBLIC = 0,
	CH_PRIVATE = 1 << 0,
	CH_PRESENCE = 1 << 1,
	CH_ENCRYPTED = 1 << 2,
	CH_CACHE = 1 << 3,
	CH_USER = 1 << 4,	/* #server-to-user-{id} */
};

struct member {
	struct hnode node;
	char *user_id;
	char *user_info;	/* JSON text, or NULL */
	int conns;		/* this user's subscriptions to the channel */
};

struct sub {
	struct conn *conn;
	struct channel *ch;
	struct member *member;	/* presence only */
	uint64_t from_seq;	/* first event seq it gets (channel.c) */
	TAILQ_ENTRY(sub) ch_entry;
	LIST_ENTRY(sub) conn_entry;
};

struct channel {
	struct hnode node;
	struct app *app;
	char *name;
	int kind;
	int nsubs;
	TAILQ_HEAD(, sub) subs;
	struct hmap members;	/* presence: user_id -> struct member */
	struct msg *cache;	/* cache channels: the last event's frame */
	char *cache_data;	/* ... and its data, for info=cache */
	int64_t cache_ms;
	/* Sliced fan-out (channel.c): events accepted but not yet queued to
	 * every subscriber, oldest first. A pass takes fo_head..fo_last to
	 * each subscriber in turn, from cursor on. */
	uint64_t seq;		/* events accepted so far */
	struct fanout_ev *fo_head, **fo_tail;
	struct fanout_ev *fo_last;	/* the pass's last event, or NULL */
	struct sub *cursor;	/* the pass's next sub; moved on unsubscribe */
	int in_fanout;		/* on relay.fanout */
	TAILQ_ENTRY(channel) fanout_entry;
};

struct user {
	struct hnode node;
	char *id;
	LIST_HEAD(, conn) conns;
};

struct app {
	const struct app_conf *conf;
	struct relay *relay;
	struct hmap channels;
	struct hmap users;	/* signed-in users: id -> struct user */
};

struct conn {
	void *wsi;		/* struct lws *, only the glue looks inside */
	struct relay *relay;
	struct app *app;	/* NULL until the key is known */
	struct hnode by_socket;
	char socket_id[32];
	TAILQ_ENTRY(conn) entry;
	LIST_HEAD(, sub) subs;
	int nsubs;
	char *user_id;		/* after pusher:signin */
	LIST_ENTRY(conn) user_entry;
	struct watch *watches;	/* its watchlist (watchlist.c) */
	struct sendq q;
	struct buf rx;		/* assembles a fragmented message */
	size_t rx_held;		/* of rx, in the relay-wide budget */
	int rx_drop;		/* the message being received is dropped */
	int rx_binary;
	int64_t last_rx_ms;
	int pinged;		/* we sent pusher:ping, awaiting anything */
	int64_t ce_window_ms;	/* client-event rate window start */
	int ce_count;
	int close_code;		/* nonzero: close at the next chance */
	int close_drain;	/* ... after the queue has gone out */
	int pending;		/* on relay.pending for the glue */
	TAILQ_ENTRY(conn) pending_entry;
	const char *close_reason;
};

struct host;
struct fleet;

struct relay {
	struct relay_conf *conf;
	struct host **hosts;	/* each its own allocation: pointers to a */
	int nhosts;		/* host or app survive a reload (reload.c) */
	struct fleet *fleets;	/* one per account (fleet.c) */
	int nfleets;
	struct app **apps;
	int napps;
	struct hmap sockets;	/* socket_id -> struct conn */
	TAILQ_HEAD(, conn) conns;
	/* Connections the glue must serve at the end of this loop turn:
	 * frames were queued or a close was asked (conn_want_write,
	 * conn_close); the glue takes them with conn_pending_pop. */
	TAILQ_HEAD(, conn) pending;
	/* Channels with events still to fan out; the glue runs slices
	 * (channel_fanout_turn) each loop turn while it is not empty. */
	TAILQ_HEAD(, channel) fanout;
	int fanout_budget;	/* subscribers left in this slice */
	struct conn *sweep_next;	/* relay_sweep's place in conns */
	int sweeping;		/* a sweep is under way (sweep_next valid) */
	int fanout_running;
	int nconns;
	int nchannels;
	int nsubs;
	uint64_t next_conn;
	int shutting_down;
	void *tls_ctx;		/* the TLS listener's SSL_CTX, set by the glue
				 * (for reload.c), or NULL */
};

/* conn.c */
/*
 * c's queue became non-empty: c goes on relay.pending, and the glue writes
 * its frames at the end of this event-loop turn, all of them in one write
 * where they fit.
 */
void conn_want_write(struct conn *c);
/* Close c with a websocket close code as soon as possible: recorded in c
 * and put on relay.pending, where the glue finds it. */
void conn_close(struct conn *c, int code, const char *reason);
/* Closes every connection of a signed in as uid with 4100 (pusher-js
 * reconnects after a back-off, docs/pusher-protocol.md); how many. */
int conn_close_user(struct app *a, const char *uid);
/* The next connection on r->pending, taken off it, or NULL. */
struct conn *conn_pending_pop(struct relay *r);
/* Takes c off r->pending (the peer closed, or c is going away). */
void conn_pending_drop(struct conn *c);
/*
 * Pings idle connections and closes those that stayed silent
 * (docs/pusher-protocol.md "Ping, pong and inactivity"), max connections
 * at a time: a sweep begun goes on where the last call stopped. Returns 1
 * while the sweep is not over.
 */
int relay_sweep(struct relay *r, int64_t now_ms, int max);
int relay_init(struct relay *r, struct relay_conf *conf);
/* A new app for conf (empty channels and users), or NULL. */
struct app *relay_app_new(struct relay *r, const struct app_conf *conf);
/* Frees a's channels and users and a; nothing may point to it any more. */
void relay_app_free(struct app *a);
void relay_free(struct relay *r);
struct app *relay_app_by_key(struct relay *r, const char *key, size_t len);
/*
 * http_head.c: the relay-wide budget of bytes held for peers (request
 * bodies, big websocket messages being assembled), max_body_bytes_in_flight.
 * *counted becomes cap; -1 when the total is now over the budget.
 */
int relay_bytes_hold(size_t *counted, size_t cap);
struct app *relay_app_by_id(struct relay *r, const char *id, size_t len);
/* The app named by [relay] host_app, which signs host and fleet
 * channels, or NULL. */
struct app *relay_host_app(struct relay *r);
/* Sets up c for app (socket id, lists); 0 or -ENOMEM. */
int relay_conn_open(struct relay *r, struct conn *c, struct app *app);
/* Unsubscribes everything and frees c's resources (not c itself). */
void relay_conn_close(struct relay *r, struct conn *c);
struct conn *relay_conn_by_socket(struct relay *r, const char *sid);
/* Queues a msg on c (takes a ref); a full queue closes c as a slow consumer.
 * Returns 0 or -ENOBUFS/-ENOMEM. */
int relay_conn_send(struct conn *c, struct msg *m, int urgent);
/*
 * One frame {"event":ev,"channel":ch,"data":...,"user_id":...}; data is
 * copied verbatim when data_is_json, else written as a JSON string. ch, data
 * and user_id may be NULL. Returns a new msg (one reference) or NULL.
 */
struct msg *relay_frame(const char *ev, const char *ch, const char *data,
    size_t dlen, int data_is_json, const char *user_id);
/* Builds and queues one frame {"event":ev,"channel":ch,"data":<data>} where
 * data_json is already JSON (a string literal or object) or NULL. */
int relay_conn_send_event(struct conn *c, const char *ev, const char *ch,
    const char *data_json);
/* pusher:error with a message and a code (0 for null). */
int relay_conn_error(struct conn *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
