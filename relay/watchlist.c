/*
 * Watchlists of signed-in connections (docs/pusher-protocol.md, WATCH). A
 * pusher:signin whose user_data has "watchlist" (user ids, the first
 * WATCH_MAX kept, pusher:error 4302 past them) gets
 * pusher_internal:watchlist_events with an "online" event for the
 * watched users signed in now, and then one whenever a watched user comes
 * online (its first signed-in connection) or goes offline (its last one
 * gone). An index by watched user finds the watchers. With Redis, who is
 * online is the cluster's: transitions come from cluster_online.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "channel.h"
#include "cluster.h"
#include "hmap.h"
#include "log.h"
#include "watchlist.h"

/* One watched user of an app and its watchers. */
struct watched {
	struct hnode node;
	char *key;		/* "<app id>\n<user id>" */
	struct watch *first;
};

/* One connection watching one user. */
struct watch {
	struct watched *w;
	struct conn *c;
	struct watch *next, **prevp;	/* among w's watchers */
	struct watch *next_of_conn;
};

static struct hmap index_;
static int index_init;

static int
key_of(const struct app *a, const char *uid, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s\n%s", a->conf->id, uid);

	return n > 0 && (size_t)n < outlen ? n : -1;
}

static struct watched *
watched_get(const struct app *a, const char *uid, int create)
{
	char key[PRESENCE_MAX_ID + 80];
	struct watched *w;
	struct hnode *n;
	int len = key_of(a, uid, key, sizeof(key));

	if (len < 0 || (!index_init && (!create || hmap_init(&index_, 64) <
	    0)))
		return NULL;
	index_init = 1;
	if ((n = hmap_get(&index_, key, (size_t)len)) != NULL)
		return hmap_entry(n, struct watched, node);
	if (!create || (w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	if ((w->key = strdup(key)) == NULL ||
	    hmap_put(&index_, &w->node, w->key, (size_t)len) < 0) {
		free(w->key);
		free(w);
		return NULL;
	}
	return w;
}

/* Sends {"events":[{"name":name,"user_ids":ids}]} to c. */
static void
send_events(struct conn *c, const char *name, const char *const *ids,
    int n)
{
	struct msg *m = NULL;
	struct buf b;
	int e;

	buf_init(&b, 1 << 16);
	e = buf_printf(&b, "{\"events\":[{\"name\":\"%s\",\"user_ids\":[",
	    name);
	for (int i = 0; i < n; i++) {
		e |= buf_adds(&b, i ? "," : "");
		e |= buf_add_json_string(&b, ids[i]);
	}
	e |= buf_adds(&b, "]}]}");
	if (e == 0)
		m = relay_frame("pusher_internal:watchlist_events", NULL,
		    b.data, b.len, 0, NULL);
	if (m) {
		relay_conn_send(c, m, 0);
		msg_unref(m);
	}
	buf_free(&b);
}

void
watchlist_notify(struct app *a, const char *uid, int online)
{
	struct watched *w = watched_get(a, uid, 0);
	struct watch *x;

	if (w == NULL)
		return;
	for (x = w->first; x; x = x->next)
		send_events(x->c, online ? "online" : "offline", &uid, 1);
}

void
watchlist_user(struct app *a, const char *uid, int online)
{
	if (cluster_on())	/* cluster hook: Redis decides */
		cluster_online(a, uid, online ? 1 : -1);
	else
		watchlist_notify(a, uid, online);
}

void
watchlist_drop(struct conn *c)
{
	struct watch *x, *nx;

	for (x = c->watches; x; x = nx) {
		nx = x->next_of_conn;
		if ((*x->prevp = x->next) != NULL)
			x->next->prevp = x->prevp;
		if (x->w->first == NULL) {
			hmap_del(&index_, &x->w->node);
			free(x->w->key);
			free(x->w);
		}
		free(x);
	}
	c->watches = NULL;
}

static int
watch_add(struct conn *c, const char *uid)
{
	struct watched *w = watched_get(c->app, uid, 1);
	struct watch *x;

	for (x = c->watches; x; x = x->next_of_conn)
		if (x->w == w)
			return 0;	/* listed twice */
	if (w == NULL || (x = calloc(1, sizeof(*x))) == NULL) {
		if (w && w->first == NULL) {
			hmap_del(&index_, &w->node);
			free(w->key);
			free(w);
		}
		return -1;
	}
	x->w = w;
	x->c = c;
	if ((x->next = w->first) != NULL)
		w->first->prevp = &x->next;
	w->first = x;
	x->prevp = &w->first;
	x->next_of_conn = c->watches;
	c->watches = x;
	return 1;
}

void
watchlist_signin(struct conn *c, cJSON *list)
{
	const char *ids[WATCH_MAX], *online[WATCH_MAX];
	cJSON *it;
	int n = 0, non = 0, over = 0;

	if (!cJSON_IsArray(list))
		return;
	cJSON_ArrayForEach(it, list) {
		const char *id = cJSON_GetStringValue(it);

		if (id == NULL || !*id || strlen(id) > PRESENCE_MAX_ID)
			continue;
		if (n == WATCH_MAX) {
			over = 1;
			break;
		}
		if (watch_add(c, id) == 1)
			ids[n++] = id;
	}
	if (over)
		relay_conn_error(c, 4302, "Watchlist limit: the first %d user "
		    "ids are watched", WATCH_MAX);
	if (cluster_on()) {	/* cluster hook: who is online, from Redis */
		cluster_online_read(c, ids, n);
		return;
	}
	for (int i = 0; i < n; i++)
		if (user_find(c->app, ids[i]) != NULL)
			online[non++] = ids[i];
	if (non)
		send_events(c, "online", online, non);
}

void
watchlist_online_is(struct conn *c, const char *const *ids, int n)
{
	if (n)
		send_events(c, "online", ids, n);
}

void
watchlist_free(void)
{
	struct hnode *n, *nx;
	size_t i;

	if (!index_init)
		return;
	HMAP_FOREACH_SAFE(&index_, i, n, nx) {
		struct watched *w = hmap_entry(n, struct watched, node);

		hmap_del(&index_, &w->node);
		free(w->key);
		free(w);
	}
	hmap_free(&index_);
	index_init = 0;
}
