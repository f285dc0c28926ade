/*
 * Scale-out over Redis: sending the webhooks the scripts held in Redis
 * (docs/scaleout.md, "Webhooks across nodes"). Every node runs the hooks
 * script once a second, and at the time the next held entry falls due;
 * the script removes what it returns, so each held channel_vacated and
 * member_removed goes out once, from whichever node took it, through that
 * node's webhook queue (batched there). The decisions themselves are made
 * in the count, join, leave and lease scripts (cluster_lua.c).
 */
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "channel.h"
#include "cluster.h"
#include "cluster_lua.h"
#include "cluster_webhook.h"
#include "http.h"
#include "log.h"
#include "webhook.h"

#define HOOKS_EVERY 1.0		/* s, the poll when nothing is known due */
#define HOOKS_TAKE 100		/* entries per script run */
#define HOOKS_SLACK 0.01	/* s after the due time */

static struct {
	struct ev_loop *loop;
	ev_timer poll;
	int on;
	int inflight;
} wk;

static void
schedule(double after)
{
	if (!wk.on)
		return;
	if (ev_is_active(&wk.poll)) {
		if (ev_timer_remaining(wk.loop, &wk.poll) <= after)
			return;
		ev_timer_stop(wk.loop, &wk.poll);
	}
	ev_timer_set(&wk.poll, after, 0.);
	ev_timer_start(wk.loop, &wk.poll);
}

/* "<n>:<text>" at *p into out (NUL-ended); 0, or -1 when it is not. */
static int
field(const char **p, const char *end, char *out, size_t outlen)
{
	char *e;
	unsigned long n = strtoul(*p, &e, 10);

	if (e == *p || e >= end || *e != ':' || n >= outlen ||
	    n > (size_t)(end - e - 1))
		return -1;
	memcpy(out, e + 1, n);
	out[n] = '\0';
	*p = e + 1 + n;
	return 0;
}

/* One entry of LUA_HOLD's zset, sent as its webhook. */
static void
send_entry(struct relay *r, const redisReply *e)
{
	char app[256], ch[CHANNEL_NAME_MAX + 1], uid[PRESENCE_MAX_ID + 1];
	const char *p, *end;
	struct app *a;
	size_t ul;

	if (e->type != REDIS_REPLY_STRING || e->len < 1)
		return;
	p = e->str + 1;
	end = e->str + e->len;
	if (field(&p, end, app, sizeof(app)) < 0 ||
	    field(&p, end, ch, sizeof(ch)) < 0 ||
	    (ul = (size_t)(end - p)) >= sizeof(uid)) {
		log_warnx("cluster msg=\"bad held webhook\" entry=\"%.100s\"",
		    e->str);
		return;
	}
	memcpy(uid, p, ul);
	uid[ul] = '\0';
	if ((a = relay_app_by_id(r, app, strlen(app))) == NULL)
		return;		/* not in this node's configuration */
	if (e->str[0] == 'v')
		webhook_event_now(a, "channel_vacated", ch, NULL);
	else if (e->str[0] == 'r')
		webhook_event_now(a, "member_removed", ch, uid);
}

static void
on_hooks(redisReply *rep, void *priv)
{
	struct relay *r = http_relay();
	const redisReply *due;
	double next = HOOKS_EVERY;
	long long wait;
	size_t i;

	(void)priv;
	wk.inflight = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements < 2 ||
	    rep->element[0]->type != REDIS_REPLY_INTEGER ||
	    (due = rep->element[1])->type != REDIS_REPLY_ARRAY) {
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_warn("cluster msg=\"held webhooks refused\" "
			    "reply=\"%.200s\"", rep->str);
		schedule(HOOKS_EVERY);
		return;
	}
	for (i = 0; r && i < due->elements; i++)
		send_entry(r, due->element[i]);
	wait = rep->element[0]->integer;
	if (due->elements >= HOOKS_TAKE)
		next = 0.;	/* more are due */
	else if (wait >= 0 && wait / 1000.0 + HOOKS_SLACK < next)
		next = wait / 1000.0 + HOOKS_SLACK;
	schedule(next);
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	const char *args[3];
	char take[16];

	(void)loop;
	(void)w;
	(void)revents;
	if (wk.inflight || cluster_cmd() == NULL) {
		schedule(HOOKS_EVERY);
		return;
	}
	snprintf(take, sizeof(take), "%d", HOOKS_TAKE);
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = take;
	if (lua_run(cluster_cmd(), LUA_HOOKS, 3, args, on_hooks, NULL) == 0)
		wk.inflight = 1;
	else
		schedule(HOOKS_EVERY);
}

void
cluster_webhook_soon(int64_t ms)
{
	schedule(ms / 1000.0 + HOOKS_SLACK);
}

void
cluster_webhook_start(struct ev_loop *loop)
{
	memset(&wk, 0, sizeof(wk));
	wk.loop = loop;
	wk.on = 1;
	ev_timer_init(&wk.poll, poll_cb, HOOKS_EVERY, 0.);
	ev_timer_start(loop, &wk.poll);
}

void
cluster_webhook_stop(void)
{
	if (!wk.on)
		return;
	ev_timer_stop(wk.loop, &wk.poll);
	wk.on = 0;
}
