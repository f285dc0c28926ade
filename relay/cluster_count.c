/*
 * Scale-out over Redis: pusher_internal:subscription_count for the cluster
 * (docs/scaleout.md, "Subscription counts"). A node whose subscriptions of
 * a channel changed runs the subcount script at its next tick
 * (channel_count.c): the script sums every node's count and, when the sum
 * is not the one last sent and the channel's last event is old enough
 * (5 s, over 100 subscribers), publishes the event on the channel, so
 * every node delivers it once; else it says how long to wait, and the node
 * tries again then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_lua.h"

/* "<app id>:<channel>" and where the channel starts. */
struct subcount {
	size_t applen;
	char key[];
};

static void
on_subcount(struct redisReply *rep, void *priv)
{
	struct subcount *sc = priv;

	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER)
		channel_count_due(sc->key, sc->applen, clock_mono_ms() + 1000);
	else if (rep->integer > 0)
		channel_count_due(sc->key, sc->applen, clock_mono_ms() +
		    rep->integer);
	free(sc);
}

void
cluster_subcount(struct app *a, const char *chname)
{
	const char *args[5], *id = a->conf->id;
	size_t al = strlen(id), cl = strlen(chname);
	struct subcount *sc = malloc(sizeof(*sc) + al + cl + 2);

	if (sc == NULL)
		return;
	sc->applen = al;
	snprintf(sc->key, al + cl + 2, "%s:%s", id, chname);
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = id;
	args[3] = chname;
	args[4] = "100";
	if (lua_run(cluster_cmd(), LUA_SUBCOUNT, 5, args, on_subcount,
	    sc) < 0) {
		channel_count_due(sc->key, al, clock_mono_ms() + 1000);
		free(sc);
	}
}
