/*
 * pusher_internal:subscription_count (docs/pusher-protocol.md, EVTS). With
 * the app's subscription_count = yes, the subscribers of a channel (not a
 * presence or #server-to-user- one) are told the channel's subscription
 * count when it changed. Changes are coalesced: one event a channel a tick
 * (250 ms) at most, and for a channel of over 100 subscribers one every
 * COUNT_EVERY_MS at most, the last count always sent in the end. With Redis
 * the count is the cluster's and the event is decided once for the cluster
 * by the subcount script (cluster_count.c), delivered as a channel event.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cluster.h"
#include "config.h"
#include "hmap.h"
#include "log.h"

#define COUNT_EVERY_MS 5000
#define COUNT_FREE_MAX 100	/* up to this many: every change at once */

/* A channel whose count changed, or that was told one lately. */
struct counted {
	struct hnode node;
	char *key;		/* "<app id>:<channel>" */
	size_t applen;
	int dirty;		/* changed since the last event */
	int64_t due_ms;		/* no event before this */
};

static struct hmap counted;
static int counted_init;

static int
counted_kind(const struct app *a, const char *name)
{
	int kind = channel_kind(name, strlen(name));

	return a->conf->subscription_count && kind >= 0 &&
	    !(kind & (CH_PRESENCE | CH_USER));
}

static void
counted_free(struct counted *k)
{
	hmap_del(&counted, &k->node);
	free(k->key);
	free(k);
}

/* Marks key (app id applen bytes, ':', channel) changed, due at due_ms. */
static void
counted_mark(const char *key, size_t len, size_t applen, int64_t due_ms)
{
	struct counted *k;
	struct hnode *n;

	if (!counted_init && hmap_init(&counted, 64) < 0)
		return;
	counted_init = 1;
	if ((n = hmap_get(&counted, key, len)) != NULL)
		k = hmap_entry(n, struct counted, node);
	else if ((k = calloc(1, sizeof(*k))) == NULL ||
	    (k->key = strndup(key, len)) == NULL ||
	    hmap_put(&counted, &k->node, k->key, len) < 0) {
		if (k)
			free(k->key);
		free(k);
		return;
	}
	k->applen = applen;
	k->dirty = 1;
	if (due_ms > k->due_ms)
		k->due_ms = due_ms;
}

void
channel_count_changed(struct channel *ch)
{
	char key[300];
	int len;

	if (!counted_kind(ch->app, ch->name))
		return;
	len = snprintf(key, sizeof(key), "%s:%s", ch->app->conf->id,
	    ch->name);
	if (len > 0 && (size_t)len < sizeof(key))
		counted_mark(key, (size_t)len, strlen(ch->app->conf->id), 0);
}

/* Sends ch's count to its subscribers. */
static void
count_send(struct channel *ch)
{
	char data[64];
	struct msg *m;
	int len = snprintf(data, sizeof(data), "{\"subscription_count\":%d}",
	    ch->nsubs);

	m = relay_frame("pusher_internal:subscription_count", ch->name, data,
	    (size_t)len, 0, NULL);
	if (m == NULL)
		return;
	channel_publish(ch, m, NULL);
	msg_unref(m);
}

void
channel_count_due(const char *key, size_t applen, int64_t due_ms)
{
	counted_mark(key, strlen(key), applen, due_ms);
}

void
channel_count_tick(struct relay *r, int64_t now)
{
	struct hnode *n, *nx;
	size_t i;

	if (!counted_init)
		return;
	HMAP_FOREACH_SAFE(&counted, i, n, nx) {
		struct counted *k = hmap_entry(n, struct counted, node);
		struct app *a = relay_app_by_id(r, k->key, k->applen);
		struct channel *ch = a ? channel_find(a, k->key + k->applen +
		    1) : NULL;

		if (now < k->due_ms)
			continue;	/* sent lately, the count is big */
		if (!k->dirty || a == NULL || !counted_kind(a, k->key +
		    k->applen + 1) || (!cluster_on() && (ch == NULL ||
		    ch->nsubs == 0))) {
			counted_free(k);	/* nothing to say, or nobody */
			continue;
		}
		k->dirty = 0;
		if (cluster_on()) {	/* cluster hook: Redis decides */
			cluster_subcount(a, k->key + k->applen + 1);
			continue;
		}
		count_send(ch);
		if (ch->nsubs <= COUNT_FREE_MAX)
			counted_free(k);
		else
			k->due_ms = now + COUNT_EVERY_MS;
	}
}

void
channel_count_free(void)
{
	struct hnode *n, *nx;
	size_t i;

	if (!counted_init)
		return;
	HMAP_FOREACH_SAFE(&counted, i, n, nx)
		counted_free(hmap_entry(n, struct counted, node));
	hmap_free(&counted);
	counted_init = 0;
}
