/*
 * Scale-out over Redis: the control channel P:ctl (docs/scaleout.md,
 * "Control channel"). Every node SUBSCRIBEs it on its pub/sub connection.
 * POST /apps/{id}/users/{user}/terminate_connections on any node is one
 * PUBLISH there, answered 200 once Redis took it (503 with Retry-After
 * otherwise), and every node, the origin too, closes the user's signed-in
 * sockets when the message comes in. The watchlists' online and offline
 * (cluster_online.c) come the same way. Redis keeps no pub/sub message: a
 * node whose pub/sub link is down at that moment does not hear it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "http.h"
#include "log.h"
#include "watchlist.h"

#define DEADLINE_MS 250		/* a client waits no longer on Redis */
#define TERMINATE "terminate "

/* "<verb> <n>:<app><user>": terminate closes the user's sockets of app,
 * online and offline tell its watchers (cluster_online.c sends them). */
static void
ctl_message(const char *p, size_t len)
{
	static const char *const verbs[] = {TERMINATE, "online ", "offline "};
	const char *end = p + len;
	char app[256];
	struct relay *r = http_relay();
	struct app *a;
	size_t v, vl = 0;
	char *uid;
	int n;

	for (v = 0; v < 3; v++)
		if (len > (vl = strlen(verbs[v])) && memcmp(p, verbs[v], vl) ==
		    0)
			break;
	if (v == 3 || (p = cluster_field(p + vl, end, app, sizeof(app))) ==
	    NULL || (size_t)(end - p) > PRESENCE_MAX_ID) {
		log_warn("cluster msg=\"bad message on the control channel\" "
		    "len=%zu", len);
		return;
	}
	if (r == NULL || (a = relay_app_by_id(r, app, strlen(app))) == NULL ||
	    (uid = strndup(p, (size_t)(end - p))) == NULL)
		return;
	if (v > 0)
		watchlist_notify(a, uid, v == 1);
	else if ((n = conn_close_user(a, uid)) > 0)
		log_info("cluster terminate user=\"%s\" connections=%d", uid,
		    n);
	free(uid);
}

static void
on_ctl(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;

	(void)ac;
	(void)priv;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->element[0]->str, "message") != 0 ||
	    r->element[2]->type != REDIS_REPLY_STRING)
		return;
	ctl_message(r->element[2]->str, r->element[2]->len);
}

void
cluster_ctl_subscribe(redisAsyncContext *sub)
{
	redisAsyncCommand(sub, on_ctl, NULL, "SUBSCRIBE %s:ctl",
	    cluster_prefix());
}

static void
ctl_due(struct http_req *q)
{
	cluster_http_unavailable(q, "Redis did not answer in time");
}

static void
on_published(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *r = reply;
	uint64_t *id = priv;
	struct http_req *q = http_parked(*id);

	(void)ac;
	free(id);
	if (q == NULL)
		return;		/* answered 503 at the deadline */
	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		cluster_http_unavailable(q, r ? "Redis refused the message" :
		    "Redis connection lost");
	else
		http_reply_resp(q, 200, "application/json");
}

/* "/apps/{id}/users/{user}/terminate_connections": the id and the user. */
static int
terminate_path(const char *path, char *id, size_t idlen, char *uid,
    size_t uidlen)
{
	const char *rest, *u, *slash;

	if (strncmp(path, "/apps/", 6) != 0 ||
	    (rest = strchr(path + 6, '/')) == NULL ||
	    (size_t)(rest - path - 6) >= idlen ||
	    strncmp(rest, "/users/", 7) != 0)
		return 0;
	u = rest + 7;
	if ((slash = strchr(u, '/')) == NULL || slash == u ||
	    (size_t)(slash - u) >= uidlen ||
	    strcmp(slash, "/terminate_connections") != 0)
		return 0;
	snprintf(id, idlen, "%.*s", (int)(rest - path - 6), path + 6);
	snprintf(uid, uidlen, "%.*s", (int)(slash - u), u);
	return 1;
}

int
cluster_ctl_request(struct http_req *q)
{
	char id[128], uid[PRESENCE_MAX_ID + 1];
	redisAsyncContext *ac = cluster_cmd();
	uint64_t *rid;
	struct buf b;

	if (strcmp(q->method, "POST") != 0 ||
	    !terminate_path(q->path, id, sizeof(id), uid, sizeof(uid)))
		return 0;
	if (ac == NULL || !cluster_pub_up()) {
		cluster_http_unavailable(q, "Redis is not connected");
		return 1;
	}
	buf_init(&b, SIZE_MAX);
	if ((rid = malloc(sizeof(*rid))) == NULL ||
	    buf_printf(&b, TERMINATE "%zu:%s%s", strlen(id), id, uid) < 0) {
		free(rid);
		buf_free(&b);
		http_error(q, 500, "Out of memory");
		return 1;
	}
	*rid = q->id;
	if (redisAsyncCommand(ac, on_published, rid, "PUBLISH %s:ctl %b",
	    cluster_prefix(), b.data, b.len) != REDIS_OK) {
		free(rid);
		buf_free(&b);
		cluster_http_unavailable(q, "Redis is not connected");
		return 1;
	}
	buf_free(&b);
	q->status = 0;
	http_park(q, clock_mono_ms() + DEADLINE_MS, ctl_due);
	return 1;
}
