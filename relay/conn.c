/*
 * Relay state that is not about channels: apps by key and id, connections and
 * their socket ids, queueing frames on a connection. No lws in here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "host.h"
#include "log.h"
#include "metrics.h"
#include "watchlist.h"
#include "conn.h"
#include "sign.h"
#include "utf8.h"

#define PONG_WAIT_MS 30000	/* after the ping, before pong_timeout */

int
relay_init(struct relay *r, struct relay_conf *conf)
{
	memset(r, 0, sizeof(*r));
	r->conf = conf;
	TAILQ_INIT(&r->conns);
	TAILQ_INIT(&r->pending);
	TAILQ_INIT(&r->fanout);
	r->fanout_budget = FANOUT_BUDGET;
	if (hmap_init(&r->sockets, 1024) < 0)
		return -ENOMEM;
	if ((r->apps = calloc((size_t)conf->napps + 1, sizeof(*r->apps))) ==
	    NULL)
		return -ENOMEM;
	for (int i = 0; i < conf->napps; i++) {
		if ((r->apps[i] = relay_app_new(r, &conf->apps[i])) == NULL)
			return -ENOMEM;
		r->napps++;
	}
	return hosts_init(r);
}

struct app *
relay_app_new(struct relay *r, const struct app_conf *conf)
{
	struct app *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->conf = conf;
	a->relay = r;
	if (hmap_init(&a->channels, 64) < 0 || hmap_init(&a->users, 64) < 0) {
		hmap_free(&a->channels);
		free(a);
		return NULL;
	}
	return a;
}

void
relay_app_free(struct app *a)
{
	if (a == NULL)
		return;
	channel_free_all(a);
	hmap_free(&a->channels);
	hmap_free(&a->users);
	free(a);
}

void
relay_free(struct relay *r)
{
	for (int i = 0; i < r->napps; i++)
		relay_app_free(r->apps[i]);
	free(r->apps);
	hosts_free(r);
	channel_count_free();
	watchlist_free();
	hmap_free(&r->sockets);
}

struct app *
relay_app_by_key(struct relay *r, const char *key, size_t len)
{
	for (int i = 0; i < r->napps; i++)
		if (strlen(r->apps[i]->conf->key) == len &&
		    memcmp(r->apps[i]->conf->key, key, len) == 0)
			return r->apps[i];
	return NULL;
}

struct app *
relay_app_by_id(struct relay *r, const char *id, size_t len)
{
	for (int i = 0; i < r->napps; i++)
		if (strlen(r->apps[i]->conf->id) == len &&
		    memcmp(r->apps[i]->conf->id, id, len) == 0)
			return r->apps[i];
	return NULL;
}

struct app *
relay_host_app(struct relay *r)
{
	for (int i = 0; i < r->napps; i++)
		if (r->apps[i]->conf == r->conf->metrics)
			return r->apps[i];
	return NULL;
}

int
relay_conn_open(struct relay *r, struct conn *c, struct app *app)
{
	c->relay = r;
	c->app = app;
	LIST_INIT(&c->subs);
	sendq_init(&c->q, (size_t)r->conf->send_queue_bytes);
	buf_init(&c->rx, (size_t)r->conf->max_message_bytes + 16384);
	/* The socket id: digits.digits, unique on this node. */
	do {
		uint32_t a, b;

		sign_random(&a, sizeof(a));
		sign_random(&b, sizeof(b));
		snprintf(c->socket_id, sizeof(c->socket_id), "%u.%u",
		    a % 1000000000u + 1, b % 1000000000u + 1);
	} while (hmap_get(&r->sockets, c->socket_id, strlen(c->socket_id)));
	if (hmap_put(&r->sockets, &c->by_socket, c->socket_id,
		strlen(c->socket_id)) < 0)
		return -ENOMEM;
	TAILQ_INSERT_TAIL(&r->conns, c, entry);
	r->nconns++;
	metrics.connections_total++;
	return 0;
}

void
relay_conn_close(struct relay *r, struct conn *c)
{
	if (c->relay == NULL)
		return; /* never opened */
	conn_pending_drop(c);
	if (r->sweep_next == c)	/* a sweep in progress goes on after c */
		r->sweep_next = TAILQ_NEXT(c, entry);
	channel_unsubscribe_all(c);
	user_signout(c);
	hmap_del(&r->sockets, &c->by_socket);
	TAILQ_REMOVE(&r->conns, c, entry);
	r->nconns--;
	sendq_free(&c->q);
	relay_bytes_hold(&c->rx_held, 0);
	buf_free(&c->rx);
	c->relay = NULL;
}

void
conn_want_write(struct conn *c)
{
	if (!c->pending && c->relay) {
		c->pending = 1;
		TAILQ_INSERT_TAIL(&c->relay->pending, c, pending_entry);
	}
}

void
conn_close(struct conn *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	c->close_reason = reason;
	conn_want_write(c);
}

int
conn_close_user(struct app *a, const char *uid)
{
	struct user *u = user_find(a, uid);
	struct conn *c;
	int n = 0;

	if (u)
		LIST_FOREACH(c, &u->conns, user_entry) {
			conn_close(c, CLOSE_RECONNECT_LATER,
			    "connection terminated by the server");
			n++;
		}
	return n;
}

struct conn *
conn_pending_pop(struct relay *r)
{
	struct conn *c = TAILQ_FIRST(&r->pending);

	if (c)
		conn_pending_drop(c);
	return c;
}

void
conn_pending_drop(struct conn *c)
{
	if (c->pending) {
		TAILQ_REMOVE(&c->relay->pending, c, pending_entry);
		c->pending = 0;
	}
}

int
relay_sweep(struct relay *r, int64_t now, int max)
{
	struct conn *c, *next;
	int64_t idle_ms = r->conf->activity_timeout * 1000;

	c = r->sweeping ? r->sweep_next : TAILQ_FIRST(&r->conns);
	for (; c && max-- > 0; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->close_code)
			continue;
		if (c->pinged && now - c->last_rx_ms > idle_ms + PONG_WAIT_MS) {
			log_info("ws conn=%s close=pong_timeout", c->socket_id);
			conn_close(c, CLOSE_PONG_TIMEOUT, "pong not received");
		} else if (!c->pinged && now - c->last_rx_ms > idle_ms) {
			struct msg *m = relay_frame("pusher:ping", NULL, "{}",
			    2, 0, NULL);

			if (m) {
				relay_conn_send(c, m, 1);
				msg_unref(m);
			}
			c->pinged = 1;
		}
	}
	r->sweep_next = c;
	r->sweeping = c != NULL;
	return r->sweeping;
}

struct conn *
relay_conn_by_socket(struct relay *r, const char *sid)
{
	struct hnode *n = hmap_get(&r->sockets, sid, strlen(sid));

	return n ? hmap_entry(n, struct conn, by_socket) : NULL;
}

int
relay_conn_send(struct conn *c, struct msg *m, int urgent)
{
	int r;

	if (c->close_code)
		return 0; /* going away: nothing more is sent */
	r = sendq_push(&c->q, m, urgent);
	if (r == -ENOBUFS) {
		metrics.slow_consumers++;
		log_info("ws conn=%s close=slow_consumer queued=%zu",
		    c->socket_id, c->q.bytes);
		conn_close(c, CLOSE_RECONNECT_LATER,
		    "slow consumer: send queue full");
		return r;
	}
	if (r < 0)
		return r;
	if (c->q.len == 1)
		conn_want_write(c);
	return 0;
}

struct msg *
relay_frame(const char *ev, const char *ch, const char *data, size_t dlen,
    int data_is_json, const char *user_id)
{
	struct buf b;
	struct msg *m = NULL;
	int e = 0;

	buf_init(&b, (size_t)1 << 31);
	e |= buf_reserve(&b, dlen + 256);	/* one allocation, mostly */
	e |= buf_adds(&b, "{\"event\":");
	e |= buf_add_json_string(&b, ev);
	if (ch) {
		e |= buf_adds(&b, ",\"channel\":");
		e |= buf_add_json_string(&b, ch);
	}
	if (data) {
		e |= buf_adds(&b, ",\"data\":");
		if (data_is_json)
			e |= buf_add(&b, data, dlen);
		else {
			e |= buf_add(&b, "\"", 1);
			e |= buf_add_json_escaped(&b, data, dlen);
			e |= buf_add(&b, "\"", 1);
		}
	}
	if (user_id) {
		e |= buf_adds(&b, ",\"user_id\":");
		e |= buf_add_json_string(&b, user_id);
	}
	e |= buf_add(&b, "}", 1);
	if (e == 0)
		m = msg_from(b.data, b.len);
	buf_free(&b);
	return m;
}

int
relay_conn_send_event(struct conn *c, const char *ev, const char *ch,
    const char *data_json)
{
	struct msg *m;
	int r;

	m = relay_frame(ev, ch, data_json, data_json ? strlen(data_json) : 0,
	    1, NULL);
	if (m == NULL)
		return -ENOMEM;
	r = relay_conn_send(c, m, 0);
	msg_unref(m);
	return r;
}

int
relay_conn_error(struct conn *c, int code, const char *fmt, ...)
{
	char text[512], codes[16] = "null";
	struct buf b;
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	utf8_trim(text); /* a cut text must not end inside a character */
	if (code)
		snprintf(codes, sizeof(codes), "%d", code);
	buf_init(&b, 4096);
	r = buf_adds(&b, "{\"message\":");
	r |= buf_add_json_string(&b, text);
	r |= buf_printf(&b, ",\"code\":%s}", codes);
	if (r == 0)
		r = relay_conn_send_event(c, "pusher:error", NULL, b.data);
	buf_free(&b);
	log_debug("ws conn=%s error code=%s msg=\"%s\"", c->socket_id, codes,
	    text);
	return r;
}
