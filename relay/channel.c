/*
 * Channels, subscriptions and presence (docs/pusher-protocol.md). A
 * channel exists while it has subscribers (or a fresh cache slot); publishing
 * walks its subscriber list once and queues one shared frame on each. That
 * walk is sliced: each slice serves FANOUT_BUDGET subscribers at most, and
 * the glue runs slices only while its loop turn has time left, so a large
 * fan-out spans turns (each subscriber getting a channel's events in the
 * order they were accepted) and the loop keeps serving everything else
 * between them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "watchlist.h"
#include "webhook.h"

static const struct {
	const char *prefix;
	int kind;
} prefixes[] = {
	{"private-encrypted-cache-", CH_PRIVATE | CH_ENCRYPTED | CH_CACHE},
	{"private-encrypted-", CH_PRIVATE | CH_ENCRYPTED},
	{"private-cache-", CH_PRIVATE | CH_CACHE},
	{"private-", CH_PRIVATE},
	{"presence-cache-", CH_PRESENCE | CH_CACHE},
	{"presence-", CH_PRESENCE},
	{"cache-", CH_CACHE},
	{"#server-to-user-", CH_USER},
};

int
channel_kind(const char *name, size_t len)
{
	size_t i, start = 0;
	int kind = CH_PUBLIC;

	if (len == 0 || len > CHANNEL_NAME_MAX)
		return -1;
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t pl = strlen(prefixes[i].prefix);

		if (len > pl && strncmp(name, prefixes[i].prefix, pl) == 0) {
			kind = prefixes[i].kind;
			break;
		}
	}
	if (kind == CH_USER)
		start = 1;
	for (i = start; i < len; i++) {
		char ch = name[i];

		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && !strchr("_-=@,.;", ch))
			return -1;
	}
	return kind;
}

struct channel *
channel_find(struct app *a, const char *name)
{
	struct hnode *n = hmap_get(&a->channels, name, strlen(name));

	return n ? hmap_entry(n, struct channel, node) : NULL;
}

static struct channel *
channel_new(struct app *a, const char *name)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL || (ch->name = strdup(name)) == NULL)
		goto fail;
	ch->app = a;
	ch->kind = channel_kind(name, strlen(name));
	TAILQ_INIT(&ch->subs);
	ch->fo_tail = &ch->fo_head;
	if ((ch->kind & CH_PRESENCE) && hmap_init(&ch->members, 16) < 0)
		goto fail;
	if (hmap_put(&a->channels, &ch->node, ch->name, strlen(ch->name)) < 0)
		goto fail;
	a->relay->nchannels++;
	return ch;
fail:
	if (ch) {
		hmap_free(&ch->members);
		free(ch->name);
	}
	free(ch);
	return NULL;
}

/* One accepted event still being fanned out on its channel. */
struct fanout_ev {
	struct fanout_ev *next;
	struct msg *m;		/* holds a reference */
	const struct conn *except;	/* compared, never dereferenced */
	uint64_t seq;
};

static void
fanout_pop(struct channel *ch)
{
	struct fanout_ev *e = ch->fo_head;

	ch->fo_head = e->next;
	if (ch->fo_head == NULL)
		ch->fo_tail = &ch->fo_head;
	msg_unref(e->m);
	free(e);
}

/* Takes ch off relay.fanout. */
static void
fanout_unlist(struct channel *ch)
{
	if (ch->in_fanout) {
		TAILQ_REMOVE(&ch->app->relay->fanout, ch, fanout_entry);
		ch->in_fanout = 0;
	}
}

static void
channel_drop(struct channel *ch)
{
	struct app *a = ch->app;
	struct hnode *n, *nx;
	size_t i;

	ch->fo_last = NULL;
	ch->cursor = NULL;
	while (ch->fo_head)
		fanout_pop(ch);
	fanout_unlist(ch);

	if (ch->kind & CH_PRESENCE) {
		HMAP_FOREACH_SAFE(&ch->members, i, n, nx) {
			struct member *m = hmap_entry(n, struct member, node);

			free(m->user_id);
			free(m->user_info);
			free(m);
		}
		hmap_free(&ch->members);
	}
	hmap_del(&a->channels, &ch->node);
	a->relay->nchannels--;
	msg_unref(ch->cache);
	free(ch->cache_data);
	free(ch->name);
	free(ch);
}

/* A channel with no subscribers lives on only to keep a fresh cache. */
static void
channel_maybe_drop(struct channel *ch)
{
	if (ch->nsubs == 0 && channel_cache_get(ch) == NULL)
		channel_drop(ch);
}

void
channel_free_all(struct app *a)
{
	struct hnode *n, *nx;
	size_t i;

	HMAP_FOREACH_SAFE(&a->channels, i, n, nx)
		channel_drop(hmap_entry(n, struct channel, node));
}

struct sub *
channel_sub_of(struct conn *c, const char *name)
{
	struct sub *s;

	LIST_FOREACH(s, &c->subs, conn_entry)
		if (strcmp(s->ch->name, name) == 0)
			return s;
	return NULL;
}

static int
member_join(struct channel *ch, const char *user_id, const char *user_info,
    struct member **out)
{
	struct hnode *n = hmap_get(&ch->members, user_id, strlen(user_id));
	struct member *m;

	if (n) {
		m = hmap_entry(n, struct member, node);
		m->conns++;
		*out = m;
		return 0;
	}
	if (ch->members.n >= PRESENCE_MAX_MEMBERS)
		return -ENOSPC;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -ENOMEM;
	m->user_id = strdup(user_id);
	m->user_info = user_info ? strdup(user_info) : NULL;
	if (!m->user_id || (user_info && !m->user_info) ||
	    hmap_put(&ch->members, &m->node, m->user_id,
		strlen(m->user_id)) < 0) {
		free(m->user_id);
		free(m->user_info);
		free(m);
		return -ENOMEM;
	}
	m->conns = 1;
	*out = m;
	return 1;
}

/* Sends a presence member event to every subscriber but the member's own. */
static void
member_announce(struct channel *ch, const char *ev, const struct member *m,
    const struct conn *self)
{
	struct buf b;
	struct msg *f = NULL;
	int e;

	buf_init(&b, 4096);
	e = buf_adds(&b, "{\"user_id\":");
	e |= buf_add_json_string(&b, m->user_id);
	if (strcmp(ev, "pusher_internal:member_added") == 0) {
		e |= buf_adds(&b, ",\"user_info\":");
		e |= buf_adds(&b, m->user_info ? m->user_info : "null");
	}
	e |= buf_add(&b, "}", 1);
	if (e == 0)
		f = relay_frame(ev, ch->name, b.data, b.len, 0, NULL);
	if (f)
		channel_publish(ch, f, self);
	msg_unref(f);
	buf_free(&b);
}

int
channel_subscribe(struct app *a, struct conn *c, const char *name,
    const char *user_id, const char *user_info, struct sub **out)
{
	struct channel *ch;
	struct sub *s;
	int r, created = 0, joined = 0;

	if (channel_sub_of(c, name))
		return -EEXIST;
	if ((ch = channel_find(a, name)) == NULL) {
		if ((ch = channel_new(a, name)) == NULL)
			return -ENOMEM;
		created = 1;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (ch->kind & CH_PRESENCE) {
		if ((r = member_join(ch, user_id, user_info, &s->member)) < 0)
			goto fail;
		joined = r;
	}
	s->conn = c;
	s->ch = ch;
	/* Only events accepted from now on: a fan-out in progress never
	 * gives it an event older than one it already has (a cached one). */
	s->from_seq = ch->seq + 1;
	TAILQ_INSERT_TAIL(&ch->subs, s, ch_entry);
	LIST_INSERT_HEAD(&c->subs, s, conn_entry);
	c->nsubs++;
	a->relay->nsubs++;
	if (ch->nsubs++ == 0 && !cluster_on())	/* cluster hook: Redis */
		webhook_event(a, "channel_occupied", ch->name, NULL);
	channel_count_changed(ch);
	if (joined && !cluster_on()) {	/* cluster hook: else Redis decides */
		webhook_event(a, "member_added", ch->name, user_id);
		member_announce(ch, "pusher_internal:member_added", s->member,
		    c);
	}
	*out = s;
	return 0;
fail:
	free(s);
	if (created)
		channel_drop(ch);
	return r;
}

void
channel_unsubscribe(struct sub *s)
{
	struct channel *ch = s->ch;
	struct conn *c = s->conn;
	struct app *a = ch->app;
	struct member *m = s->member;

	cluster_unsubscribed(a, ch->name, m ? c->socket_id : NULL,
	    ch->nsubs - 1);	/* cluster hook */
	if (ch->cursor == s)	/* a fan-out in progress goes on after s */
		ch->cursor = TAILQ_NEXT(s, ch_entry);
	TAILQ_REMOVE(&ch->subs, s, ch_entry);
	LIST_REMOVE(s, conn_entry);
	c->nsubs--;
	a->relay->nsubs--;
	ch->nsubs--;
	channel_count_changed(ch);
	free(s);
	if (m && --m->conns == 0) {
		hmap_del(&ch->members, &m->node);
		if (!cluster_on()) {	/* cluster hook: else Redis decides */
			webhook_event(a, "member_removed", ch->name,
			    m->user_id);
			member_announce(ch, "pusher_internal:member_removed",
			    m, c);
		}
		free(m->user_id);
		free(m->user_info);
		free(m);
	}
	if (ch->nsubs == 0) {
		if (!cluster_on())	/* cluster hook: else Redis decides */
			webhook_event(a, "channel_vacated", ch->name, NULL);
		host_channel_vacated(a, ch->name);
		channel_maybe_drop(ch);
	}
}

void
channel_unsubscribe_all(struct conn *c)
{
	while (!LIST_EMPTY(&c->subs))
		channel_unsubscribe(LIST_FIRST(&c->subs));
}

/* Queues the pass's events (fo_head..fo_last) that s should get on s. */
static int
fanout_sub(struct channel *ch, struct sub *s, uint64_t *n)
{
	struct fanout_ev *e = ch->fo_head;
	int queued = 0;

	for (;; e = e->next) {
		if (s->conn != e->except && s->from_seq <= e->seq) {
			queued++;
			if (relay_conn_send(s->conn, e->m, 0) == 0)
				(*n)++;
		}
		if (e == ch->fo_last)
			return queued;
	}
}

/*
 * Goes on with ch's fan-out for at most *budget subscribers; 1 when ch
 * still has events left. A pass walks the subscribers once and gives each
 * all the events that were pending when the pass began, in order (so they
 * go out in one write per connection); events accepted during a pass wait
 * for the next. Every subscriber thus gets a channel's events in the order
 * they were accepted.
 */
static int
fanout_channel(struct channel *ch, int *budget)
{
	uint64_t n = 0;
	int left = *budget;

	while (ch->fo_head && left > 0) {
		struct fanout_ev *last;
		struct sub *s;
		int done;

		if (ch->fo_last == NULL) {
			for (last = ch->fo_head; last->next; last = last->next)
				;
			ch->fo_last = last;
			ch->cursor = TAILQ_FIRST(&ch->subs);
		}
		/* A slow consumer is only marked in relay_conn_send, never
		 * unsubscribed, so the list holds still under the cursor. */
		while ((s = ch->cursor) != NULL && left > 0) {
			ch->cursor = TAILQ_NEXT(s, ch_entry);
			if (fanout_sub(ch, s, &n))
				left--;
		}
		if (ch->cursor != NULL)
			break;
		last = ch->fo_last;	/* the pass is over */
		ch->fo_last = NULL;
		do {
			done = ch->fo_head == last;
			fanout_pop(ch);
		} while (!done);
	}
	metrics.delivered += n;
	*budget = left;
	return ch->fo_head != NULL;
}

int
channel_fanout_run(struct relay *r, int budget)
{
	struct channel *ch;

	if (r->fanout_running)
		return !TAILQ_EMPTY(&r->fanout);
	r->fanout_running = 1;
	while ((ch = TAILQ_FIRST(&r->fanout)) != NULL && budget > 0) {
		TAILQ_REMOVE(&r->fanout, ch, fanout_entry);
		ch->in_fanout = 0;
		if (fanout_channel(ch, &budget)) {
			/* to the back: channels take turns */
			TAILQ_INSERT_TAIL(&r->fanout, ch, fanout_entry);
			ch->in_fanout = 1;
		}
	}
	r->fanout_running = 0;
	r->fanout_budget = budget;
	return !TAILQ_EMPTY(&r->fanout);
}

int
channel_fanout_turn(struct relay *r)
{
	r->fanout_budget = FANOUT_BUDGET;
	return channel_fanout_run(r, r->fanout_budget);
}

int
channel_publish(struct channel *ch, struct msg *m, const struct conn *except)
{
	struct relay *r = ch->app->relay;
	struct fanout_ev *e;
	uint64_t before = metrics.delivered;

	if (TAILQ_EMPTY(&ch->subs))
		return 0;
	if ((e = malloc(sizeof(*e))) == NULL) {
		log_error("relay msg=\"out of memory: event dropped\" "
		    "channel=%s", ch->name);
		return 0;
	}
	e->next = NULL;
	e->m = msg_ref(m);
	e->except = except;
	e->seq = ++ch->seq;
	*ch->fo_tail = e;
	ch->fo_tail = &e->next;
	if (!ch->in_fanout) {
		TAILQ_INSERT_TAIL(&r->fanout, ch, fanout_entry);
		ch->in_fanout = 1;
	}
	/* Within this turn's budget the whole fan-out happens now. */
	channel_fanout_run(r, r->fanout_budget);
	return (int)(metrics.delivered - before);
}

int
channel_user_count(const struct channel *ch)
{
	return (ch->kind & CH_PRESENCE) ? (int)ch->members.n : 0;
}

int
channel_presence_json(struct channel *ch, struct buf *b)
{
	struct hnode *n, *nx;
	size_t i;
	int e = 0, first = 1;

	e |= buf_adds(b, "{\"presence\":{\"ids\":[");
	HMAP_FOREACH_SAFE(&ch->members, i, n, nx) {
		struct member *m = hmap_entry(n, struct member, node);

		e |= buf_adds(b, first ? "" : ",");
		e |= buf_add_json_string(b, m->user_id);
		first = 0;
	}
	e |= buf_adds(b, "],\"hash\":{");
	first = 1;
	HMAP_FOREACH_SAFE(&ch->members, i, n, nx) {
		struct member *m = hmap_entry(n, struct member, node);

		e |= buf_adds(b, first ? "" : ",");
		e |= buf_add_json_string(b, m->user_id);
		e |= buf_add(b, ":", 1);
		e |= buf_adds(b, m->user_info ? m->user_info : "null");
		first = 0;
	}
	e |= buf_printf(b, "},\"count\":%zu}}", ch->members.n);
	return e ? -ENOMEM : 0;
}

void
channel_cache_store(struct channel *ch, struct msg *m, const char *data,
    size_t dlen)
{
	char *copy = malloc(dlen + 1);

	if (copy == NULL)
		return;
	memcpy(copy, data, dlen);
	copy[dlen] = '\0';
	msg_unref(ch->cache);
	free(ch->cache_data);
	ch->cache = msg_ref(m);
	ch->cache_data = copy;
	ch->cache_ms = clock_mono_ms();
}

int
channel_cache_put(struct app *a, const char *name, struct msg *m,
    const char *data, size_t dlen)
{
	struct channel *ch = channel_find(a, name);

	if (ch == NULL && (ch = channel_new(a, name)) == NULL)
		return -ENOMEM;
	channel_cache_store(ch, m, data, dlen);
	return 0;
}

struct msg *
channel_cache_get(struct channel *ch)
{
	if (ch->cache && clock_mono_ms() - ch->cache_ms > CACHE_TTL_MS) {
		msg_unref(ch->cache);
		free(ch->cache_data);
		ch->cache = NULL;
		ch->cache_data = NULL;
	}
	return ch->cache;
}

struct user *
user_find(struct app *a, const char *id)
{
	struct hnode *n = hmap_get(&a->users, id, strlen(id));

	return n ? hmap_entry(n, struct user, node) : NULL;
}

int
user_signin(struct conn *c, const char *id)
{
	struct app *a = c->app;
	struct user *u;

	user_signout(c);
	if ((u = user_find(a, id)) == NULL) {
		if ((u = calloc(1, sizeof(*u))) == NULL ||
		    (u->id = strdup(id)) == NULL ||
		    hmap_put(&a->users, &u->node, u->id, strlen(u->id)) < 0) {
			if (u)
				free(u->id);
			free(u);
			return -ENOMEM;
		}
		LIST_INIT(&u->conns);
		watchlist_user(a, id, 1);
	}
	if ((c->user_id = strdup(id)) == NULL)
		return -ENOMEM;
	LIST_INSERT_HEAD(&u->conns, c, user_entry);
	return 0;
}

void
user_signout(struct conn *c)
{
	struct user *u;

	watchlist_drop(c);
	if (c->user_id == NULL)
		return;
	LIST_REMOVE(c, user_entry);
	u = user_find(c->app, c->user_id);
	if (u && LIST_EMPTY(&u->conns)) {
		watchlist_user(c->app, u->id, 0);
		hmap_del(&c->app->users, &u->node);
		free(u->id);
		free(u);
	}
	free(c->user_id);
	c->user_id = NULL;
}
