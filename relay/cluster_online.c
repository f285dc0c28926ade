/*
 * Scale-out over Redis: who is signed in, for watchlists (docs/scaleout.md,
 * "Watchlists"). Each node counts its users in P:node:<inc>:on and the
 * online script keeps P:on:<app> (user -> nodes that have it signed in);
 * when that count crosses 0 the script PUBLISHes "online"/"offline
 * <n>:<app><user>" on P:ctl, so every node tells its watchers once. The
 * lease script's reaper takes a dead incarnation's users off (offline when
 * they were nowhere else). A signin's first answer reads P:on:<app>.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "cluster.h"
#include "cluster_lua.h"
#include "http.h"
#include "log.h"
#include "watchlist.h"

static void
on_online(redisReply *rep, void *priv)
{
	(void)priv;
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER ||
	    rep->integer < 0)
		cluster_presence_resync();	/* register every user again */
}

static void
online_send(const char *inc, const char *app, const char *uid, int delta)
{
	const char *args[6];

	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = app;
	args[3] = uid;
	args[4] = inc;
	args[5] = delta > 0 ? "1" : "-1";
	if (lua_run(cluster_cmd(), LUA_ONLINE, 6, args, on_online, NULL) < 0)
		cluster_presence_resync();
}

void
cluster_online(struct app *a, const char *uid, int delta)
{
	const char *inc = cluster_incarnation();

	if (inc != NULL)	/* else registering sends every user */
		online_send(inc, a->conf->id, uid, delta);
}

void
cluster_online_rejoin(const char *inc)
{
	struct relay *r = http_relay();
	struct hnode *n, *nx;
	size_t i;

	for (int k = 0; r && k < r->napps; k++)
		HMAP_FOREACH_SAFE(&r->apps[k]->users, i, n, nx)
			online_send(inc, r->apps[k]->conf->id,
			    hmap_entry(n, struct user, node)->id, 1);
}

/* The socket whose HMGET it is. */
struct read {
	char sock[32];
	int n;
	char *ids[];
};

static void
on_read(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct read *rd = priv;
	struct relay *r = http_relay();
	struct conn *c = r ? relay_conn_by_socket(r, rd->sock) : NULL;
	const char *on[WATCH_MAX];
	int non = 0;

	(void)ac;
	if (c && rep && rep->type == REDIS_REPLY_ARRAY &&
	    rep->elements == (size_t)rd->n) {
		for (int i = 0; i < rd->n && non < WATCH_MAX; i++)
			if (rep->element[i]->type != REDIS_REPLY_NIL)
				on[non++] = rd->ids[i];
		watchlist_online_is(c, on, non);
	}
	for (int i = 0; i < rd->n; i++)
		free(rd->ids[i]);
	free(rd);
}

void
cluster_online_read(struct conn *c, const char *const *ids, int n)
{
	const char *argv[WATCH_MAX + 2];
	size_t lens[WATCH_MAX + 2];
	char key[200];
	struct read *rd;
	int k, i;

	if (n <= 0 || n > WATCH_MAX || cluster_cmd() == NULL ||
	    (k = snprintf(key, sizeof(key), "%s:on:%s", cluster_prefix(),
	    c->app->conf->id)) < 0 || (size_t)k >= sizeof(key) ||
	    (rd = calloc(1, sizeof(*rd) + (size_t)n * sizeof(char *))) ==
	    NULL)
		return;
	snprintf(rd->sock, sizeof(rd->sock), "%s", c->socket_id);
	argv[0] = "HMGET";
	lens[0] = 5;
	argv[1] = key;
	lens[1] = (size_t)k;
	for (i = 0; i < n; i++) {
		if ((rd->ids[i] = strdup(ids[i])) == NULL)
			break;
		argv[2 + i] = rd->ids[i];
		lens[2 + i] = strlen(ids[i]);
	}
	rd->n = i;
	if (i < n || redisAsyncCommandArgv(cluster_cmd(), on_read, rd,
	    2 + i, argv, lens) != REDIS_OK) {
		for (int j = 0; j < i; j++)
			free(rd->ids[j]);
		free(rd);
	}
}
