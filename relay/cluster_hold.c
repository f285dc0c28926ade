/*
 * Scale-out over Redis: a new public, private or #server-to-user
 * subscription on a channel this node has not SUBSCRIBEd yet is answered
 * subscription_succeeded only once Redis acknowledged the SUBSCRIBE
 * (docs/scaleout.md, "SUBSCRIBE per channel"), so every event published
 * after the answer reaches it: answered at once, it would silently miss
 * what was published in the round trip before. Until then the sub gets no
 * event; after HOLD_MS it is refused with 503 (as a presence join is).
 * While the pub/sub connection is down a subscription is answered at once
 * (docs/scaleout.md, "Redis down"). Presence subs wait in
 * cluster_presence.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "http.h"
#include "pusher.h"

#define HOLD_MS 3000
#define HOLD_MAX 100000		/* past it, answered at once */
#define HELD UINT64_MAX		/* sub->from_seq while it waits */

struct hold {
	char sock[32];
	char *key;		/* "<app id>:<channel>" */
	int64_t since;
	TAILQ_ENTRY(hold) entry;
};

static TAILQ_HEAD(, hold) holds = TAILQ_HEAD_INITIALIZER(holds);
static int nholds;

static struct sub *
hold_sub(const struct hold *h)
{
	struct relay *r = http_relay();
	struct conn *c = r ? relay_conn_by_socket(r, h->sock) : NULL;
	size_t al;

	if (c == NULL || c->app == NULL)
		return NULL;
	al = strlen(c->app->conf->id);
	if (strncmp(h->key, c->app->conf->id, al) != 0 || h->key[al] != ':')
		return NULL;
	return channel_sub_of(c, h->key + al + 1);
}

static void
hold_free(struct hold *h)
{
	TAILQ_REMOVE(&holds, h, entry);
	nholds--;
	free(h->key);
	free(h);
}

int
cluster_hold(struct sub *s)
{
	struct conn *c = s->conn;
	struct hold *h;

	if (!cluster_on() || cluster_channel_acked(c->app, s->ch->name))
		return 0;
	cluster_channel_used(c->app, s->ch->name);	/* SUBSCRIBE */
	if (!cluster_pub_up() || nholds >= HOLD_MAX ||
	    (h = calloc(1, sizeof(*h))) == NULL)
		return 0;
	if (asprintf(&h->key, "%s:%s", c->app->conf->id, s->ch->name) < 0) {
		free(h);
		return 0;
	}
	snprintf(h->sock, sizeof(h->sock), "%s", c->socket_id);
	h->since = clock_mono_ms();
	s->from_seq = HELD;
	TAILQ_INSERT_TAIL(&holds, h, entry);
	nholds++;
	return 1;
}

/* Answers the subs that waited for key, or refuses those waiting past
 * HOLD_MS (key NULL). */
static void
hold_go(const char *key, int64_t now)
{
	char name[CHANNEL_NAME_MAX + 1];
	struct hold *h, *nx;
	struct conn *c;
	struct sub *s;

	for (h = TAILQ_FIRST(&holds); h; h = nx) {
		nx = TAILQ_NEXT(h, entry);
		if (key ? strcmp(h->key, key) != 0 : now - h->since < HOLD_MS)
			continue;
		s = hold_sub(h);
		hold_free(h);
		if (s == NULL || s->from_seq != HELD)
			continue;	/* gone, or answered by another */
		c = s->conn;
		if (key) {
			s->from_seq = s->ch->seq + 1;
			pusher_subscribed(c, s, NULL);
			continue;
		}
		snprintf(name, sizeof(name), "%s", s->ch->name);
		channel_unsubscribe(s);
		pusher_subscription_error(c, name, "ClusterUnavailable", 503,
		    "Cluster unavailable: Redis did not confirm the "
		    "subscription; retry");
	}
}

void
cluster_hold_acked(const char *key)
{
	hold_go(key, 0);
}

void
cluster_hold_expire(void)
{
	hold_go(NULL, clock_mono_ms());
}

void
cluster_hold_stop(void)
{
	while (!TAILQ_EMPTY(&holds))
		hold_free(TAILQ_FIRST(&holds));
}
