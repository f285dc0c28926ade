/*
 * Pusher protocol 7 per connection: every client message is parsed with cJSON
 * once, dispatched on its event name, and answered on the same connection.
 * Errors never close the connection except where the protocol says so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "host.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "pusher.h"
#include "utf8.h"
#include "watchlist.h"
#include "webhook.h"

int
pusher_open(struct relay *r, struct conn *c, const char *key, size_t keylen)
{
	struct app *a = relay_app_by_key(r, key, keylen);
	char data[128];
	int e;

	if ((e = relay_conn_open(r, c, a)) < 0)
		return e;
	c->last_rx_ms = clock_mono_ms();
	if (a == NULL) {
		relay_conn_error(c, CLOSE_APP_UNKNOWN,
		    "Could not find app by key %.*s", (int)(keylen > 64 ? 64
			: keylen), key);
		c->close_drain = 1;
		conn_close(c, CLOSE_APP_UNKNOWN, "app does not exist");
		return -ENOENT;
	}
	snprintf(data, sizeof(data),
	    "\"{\\\"socket_id\\\":\\\"%s\\\",\\\"activity_timeout\\\":%ld}\"",
	    c->socket_id, r->conf->activity_timeout);
	return relay_conn_send_event(c, "pusher:connection_established", NULL,
	    data);
}

void
pusher_refuse(struct conn *c, const char *why)
{
	relay_conn_error(c, 0, "%s", why);
}

/* Sends {"event":ev,"channel":ch,"data":"<json>"} with json as a string. */
static void
send_string_data(struct conn *c, const char *ev, const char *ch,
    const char *json)
{
	struct msg *m = relay_frame(ev, ch, json, strlen(json), 0, NULL);

	if (m) {
		relay_conn_send(c, m, 0);
		msg_unref(m);
	}
}

static void
subscription_error(struct conn *c, const char *ch, const char *type,
    int status, const char *error)
{
	struct buf b;
	int e;

	buf_init(&b, 4096);
	e = buf_adds(&b, "{\"type\":");
	e |= buf_add_json_string(&b, type);
	e |= buf_adds(&b, ",\"error\":");
	e |= buf_add_json_string(&b, error);
	e |= buf_printf(&b, ",\"status\":%d}", status);
	if (e == 0)
		relay_conn_send_event(c, "pusher:subscription_error", ch,
		    b.data);
	buf_free(&b);
	log_info("ws conn=%s subscribe=refused channel=\"%.*s\" why=\"%s\"",
	    c->socket_id, utf8_prec(ch, 200), ch, error);
}

void
pusher_subscription_error(struct conn *c, const char *ch, const char *type,
    int status, const char *error)
{
	subscription_error(c, ch, type, status, error);
}

/* JSON integer text: -?(0|[1-9][0-9]*), no fraction, no exponent. */
static int
integer_text(const char *s, size_t n)
{
	size_t i = n > 0 && s[0] == '-';

	if (i == n || (s[i] == '0' && n - i > 1))
		return 0;
	for (; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Presence member from channel_data: {"user_id":..,"user_info":{..}}. */
static int
presence_member(const char *channel_data, char *id, size_t idlen,
    char **info)
{
	cJSON *j = json_parse_exact(channel_data, strlen(channel_data), NULL);
	cJSON *uid, *ui;
	const char *at;
	size_t n;
	int r = -EINVAL;

	*info = NULL;
	if (!cJSON_IsObject(j))
		goto out;
	if (json_dup_key(j) != NULL) {
		r = -EEXIST;
		goto out;
	}
	if (json_has_nul(channel_data, strlen(channel_data))) {
		r = -EILSEQ; /* cJSON would cut the user id there */
		goto out;
	}
	uid = cJSON_GetObjectItemCaseSensitive(j, "user_id");
	if (cJSON_IsString(uid) && uid->valuestring[0] &&
	    strlen(uid->valuestring) < idlen)
		snprintf(id, idlen, "%s", uid->valuestring);
	else if (cJSON_IsNumber(uid)) {
		/* The digits as sent: through a double, 2^53 + 1 and 2^53
		 * would be one member and 1e400 "inf". */
		if (json_member_span(channel_data, strlen(channel_data),
		    "user_id", &at, &n) != 1 || !integer_text(at, n) ||
		    n >= idlen) {
			r = -ERANGE;
			goto out;
		}
		snprintf(id, idlen, "%.*s", (int)n, at);
	} else
		goto out;
	ui = cJSON_GetObjectItemCaseSensitive(j, "user_info");
	if (ui && !cJSON_IsNull(ui)) {
		/* As sent: a re-print changes numbers (15 digits). */
		if (json_member_span(channel_data, strlen(channel_data),
			"user_info", &at, &n) == 1)
			*info = strndup(at, n);
		else
			*info = cJSON_PrintUnformatted(ui);
		if (*info == NULL)
			goto out;
		if (strlen(*info) > PRESENCE_MAX_INFO) {
			free(*info);
			*info = NULL;
			r = -EMSGSIZE;
			goto out;
		}
	}
	r = 0;
out:
	cJSON_Delete(j);
	return r;
}

void
pusher_subscribed(struct conn *c, struct sub *s, const char *presence)
{
	struct channel *ch = s->ch;
	struct buf b;

	if (presence)
		send_string_data(c, "pusher_internal:subscription_succeeded",
		    ch->name, presence);
	else if (ch->kind & CH_PRESENCE) {
		buf_init(&b, 1 << 20);
		if (channel_presence_json(ch, &b) == 0)
			send_string_data(c,
			    "pusher_internal:subscription_succeeded", ch->name,
			    b.data);
		buf_free(&b);
	} else
		send_string_data(c, "pusher_internal:subscription_succeeded",
		    ch->name, "{}");
	host_channel_subscribed(c->app, ch->name);
	cluster_channel_used(c->app, ch->name);	/* cluster hook */
	if (!(ch->kind & CH_CACHE))
		return;
	if (cluster_on() && cluster_cache_replay(s) == 0)
		return;		/* cluster hook: the last event from Redis */
	pusher_cache_send(c, ch->name, channel_cache_get(ch));
}

void
pusher_cache_send(struct conn *c, const char *chname, struct msg *cached)
{
	if (cached != NULL)
		relay_conn_send(c, cached, 0);
	else {
		relay_conn_send_event(c, "pusher:cache_miss", chname, NULL);
		webhook_event(c->app, "cache_miss", chname, NULL);
	}
}

static void
on_subscribe(struct conn *c, cJSON *data)
{
	const char *name = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "channel"));
	const char *auth = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "auth"));
	const char *cdata = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "channel_data"));
	char uid[PRESENCE_MAX_ID + 1] = "", *info = NULL, why[512];
	struct sub *s;
	int kind, r;

	if (name == NULL) {
		relay_conn_error(c, 0, "pusher:subscribe needs data.channel");
		return;
	}
	if ((kind = channel_kind(name, strlen(name))) < 0 ||
	    strlen(name) > CHANNEL_SUBSCRIBE_MAX) {
		snprintf(why, sizeof(why), "Invalid channel name: use up to %d "
		    "of A-Z a-z 0-9 _ - = @ , . ;", CHANNEL_SUBSCRIBE_MAX);
		subscription_error(c, name, "InvalidChannel", 400, why);
		return;
	}
	if (kind & CH_USER) {
		if (!c->user_id || strcmp(name + 16, c->user_id) != 0) {
			metrics.auth_failures++;
			subscription_error(c, name, "AuthError", 403,
			    "Only the signed-in user may subscribe to its "
			    "#server-to-user channel");
			return;
		}
	} else if (kind & CH_PRESENCE) {
		if (!cdata && c->user_id) {
			/* Signed in: the user id stands in
			 * (docs/pusher-protocol.md "Subscribing"). */
			snprintf(uid, sizeof(uid), "%s", c->user_id);
			if (!auth_channel_ok(c->app->conf, c->socket_id, name,
				NULL, auth))
				goto bad_auth;
		} else if (!cdata) {
			metrics.auth_failures++;
			subscription_error(c, name, "AuthError", 401,
			    "A presence channel needs channel_data (or a "
			    "signed-in connection)");
			return;
		} else if (!auth_channel_ok(c->app->conf, c->socket_id, name,
			cdata, auth))
			goto bad_auth;
		else if ((r = presence_member(cdata, uid, sizeof(uid),
			      &info)) < 0) {
			subscription_error(c, name, "InvalidChannelData", 400,
			    r == -EMSGSIZE ? "user_info is over 1 KB"
			    : r == -EEXIST ? "channel_data has a duplicate key"
			    : r == -EILSEQ ?
			      "channel_data holds a NUL character"
			    : r == -ERANGE ? "a numeric user_id must be an "
			      "integer in digits (no fraction or exponent), "
			      "at most 128 characters"
			    : "channel_data needs a user_id (string or number, "
			      "at most 128 characters)");
			return;
		}
	} else if ((kind & CH_PRIVATE) &&
	    !auth_channel_ok(c->app->conf, c->socket_id, name, cdata, auth))
		goto bad_auth; /* channel_data signed too, as hosted Pusher */

	if (c->nsubs >= c->relay->conf->max_subscriptions_per_connection &&
	    channel_sub_of(c, name) == NULL) {
		free(info);
		snprintf(why, sizeof(why), "This connection has the most "
		    "subscriptions allowed (%ld): unsubscribe from one first",
		    c->relay->conf->max_subscriptions_per_connection);
		subscription_error(c, name, "LimitReached", 403, why);
		return;
	}
	r = channel_subscribe(c->app, c, name, uid, info, &s);
	free(info);
	if (r == -EEXIST)
		relay_conn_error(c, 0, "Existing subscription to channel %.*s",
		    utf8_prec(name, 200), name);
	else if (r == -ENOSPC)
		subscription_error(c, name, "LimitReached", 403,
		    "Presence channel is full (100 members)");
	else if (r < 0)
		relay_conn_error(c, 0, "Internal error subscribing to %.*s",
		    utf8_prec(name, 200), name);
	else if ((s->ch->kind & CH_PRESENCE) && cluster_on()) {
		/* cluster hook: answered when Redis decided the join */
		cluster_channel_used(c->app, name);
		if (cluster_presence_join(s) < 0) {
			channel_unsubscribe(s);
			subscription_error(c, name, "ClusterUnavailable",
			    503, "Cluster unavailable: Redis is not "
			    "connected; retry");
		}
	} else if (!cluster_hold(s))	/* cluster hook: else on the ack */
		pusher_subscribed(c, s, NULL);
	return;
bad_auth:
	metrics.auth_failures++;
	/* Every path above checked channel_data exactly when it was sent. */
	snprintf(why, sizeof(why), "Invalid signature for %.*s: expected "
	    "HMAC-SHA256 of \"%s:%.*s%s\"", utf8_prec(name, 100), name,
	    c->socket_id, utf8_prec(name, 100), name,
	    cdata ? ":<channel_data>" : "");
	subscription_error(c, name, "AuthError", 401, why);
}

static void
on_unsubscribe(struct conn *c, cJSON *data)
{
	const char *name = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "channel"));
	struct sub *s = name ? channel_sub_of(c, name) : NULL;

	if (s)
		channel_unsubscribe(s);
}

static void
on_signin(struct conn *c, cJSON *data)
{
	const char *auth = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "auth"));
	const char *udata = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(data, "user_data"));
	cJSON *u = NULL;
	const char *id, *why;
	struct buf b;

	if (!udata || !auth_user_ok(c->app->conf, c->socket_id, udata, auth)) {
		metrics.auth_failures++;
		relay_conn_error(c, 4009, "Invalid signin signature: expected "
		    "HMAC-SHA256 of \"%s::user::<user_data>\"", c->socket_id);
		return;
	}
	if ((u = json_parse_exact(udata, strlen(udata), &why)) == NULL) {
		relay_conn_error(c, 0, "user_data is not one JSON object: %s",
		    why);
		goto out;
	}
	if (json_dup_key(u) != NULL ||
	    json_has_nul(udata, strlen(udata))) {
		relay_conn_error(c, 0, "user_data has a duplicate key or a NUL "
		    "character");
		goto out;
	}
	id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(u, "id"));
	if (!id || !*id || strlen(id) > PRESENCE_MAX_ID) {
		relay_conn_error(c, 0, "user_data needs an id: a non-empty "
		    "string of at most %d characters", PRESENCE_MAX_ID);
		goto out;
	}
	if (user_signin(c, id) < 0)
		goto out;
	buf_init(&b, 1 << 20);
	if (buf_adds(&b, "{\"user_data\":") == 0 &&
	    buf_add_json_string(&b, udata) == 0 && buf_adds(&b, "}") == 0)
		send_string_data(c, "pusher:signin_success", NULL, b.data);
	buf_free(&b);
	watchlist_signin(c, cJSON_GetObjectItemCaseSensitive(u, "watchlist"));
	log_debug("ws conn=%s signin user=\"%s\"", c->socket_id, id);
out:
	cJSON_Delete(u);
}

static int
client_event_allowed(struct conn *c, const char *ch, struct sub **sp)
{
	int64_t now = clock_mono_ms();
	int kind = channel_kind(ch, strlen(ch));

	if (!c->app->conf->client_events) {
		relay_conn_error(c, 0, "Client events are not enabled for this "
		    "app");
		return 0;
	}
	if (kind < 0 || !(kind & (CH_PRIVATE | CH_PRESENCE)) ||
	    (kind & CH_ENCRYPTED)) {
		relay_conn_error(c, 0, "Client events are only allowed on "
		    "private- and presence- channels (not %.*s)",
		    utf8_prec(ch, 200), ch);
		return 0;
	}
	if ((*sp = channel_sub_of(c, ch)) == NULL) {
		relay_conn_error(c, 0, "Client event rejected: not subscribed "
		    "to %.*s", utf8_prec(ch, 200), ch);
		return 0;
	}
	if (now - c->ce_window_ms >= 1000) {
		c->ce_window_ms = now;
		c->ce_count = 0;
	}
	if (++c->ce_count > CLIENT_EVENTS_PER_S) {
		relay_conn_error(c, 4301, "Client event rejected - only %d "
		    "accepted per second", CLIENT_EVENTS_PER_S);
		return 0;
	}
	return 1;
}

/* raw[0..rawlen) is data's own text in the frame (NULL: not found). */
static void
on_client_event(struct conn *c, const char *ev, const char *ch, cJSON *data,
    const char *raw, size_t rawlen)
{
	const char *uid;
	char *text = NULL;
	struct msg *m;
	struct sub *s;

	if (ch == NULL) {
		relay_conn_error(c, 0, "Client event %.*s needs a channel",
		    utf8_prec(ev, 200), ev);
		return;
	}
	if (strlen(ev) > CHANNEL_NAME_MAX) {
		relay_conn_error(c, 0, "Event name is over %d characters",
		    CHANNEL_NAME_MAX);
		return;
	}
	if (!client_event_allowed(c, ch, &s))
		return;
	/* Data that is not a string goes on as sent, not re-printed
	 * (cJSON prints numbers through doubles with 15 digits). */
	if (cJSON_IsString(data))
		text = strdup(data->valuestring);
	else if (raw)
		text = strndup(raw, rawlen);
	else
		text = data ? cJSON_PrintUnformatted(data) : strdup("{}");
	if (text == NULL)
		return;
	if (strlen(text) > (size_t)c->relay->conf->max_message_bytes) {
		relay_conn_error(c, 0, "Client event data is over %ld bytes",
		    c->relay->conf->max_message_bytes);
		free(text);
		return;
	}
	uid = s->member ? s->member->user_id : NULL;
	m = relay_frame(ev, ch, text, strlen(text), 0, uid);
	if (cluster_on() && cluster_publish(c->app, ch, ev, text,
	    strlen(text), c->socket_id, uid) < 0) {	/* cluster hook */
		relay_conn_error(c, 0, "Client event %.*s refused: cluster "
		    "unavailable", utf8_prec(ev, 200), ev);
		msg_unref(m);
		m = NULL;
	}
	if (m) {
		metrics.events_client++;
		if (!cluster_on())	/* cluster hook: else on the echo */
			channel_publish(s->ch, m, c);
		msg_unref(m);
		webhook_client_event(c->app, ch, ev, text, c->socket_id, uid);
	}
	free(text);
}

static void
dispatch(struct conn *c, const char *ev, const char *ch, cJSON *data,
    const char *raw, size_t rawlen)
{
	if (strcmp(ev, "pusher:ping") == 0) {
		struct msg *m = relay_frame("pusher:pong", NULL, "{}", 2, 0,
		    NULL);

		if (m) {
			relay_conn_send(c, m, 1); /* ahead of any backlog */
			msg_unref(m);
		}
	} else if (strcmp(ev, "pusher:pong") == 0)
		; /* last_rx_ms is already fresh */
	else if (strcmp(ev, "pusher:subscribe") == 0)
		on_subscribe(c, data);
	else if (strcmp(ev, "pusher:unsubscribe") == 0)
		on_unsubscribe(c, data);
	else if (strcmp(ev, "pusher:signin") == 0)
		on_signin(c, data);
	else if (strncmp(ev, "client-", 7) == 0)
		on_client_event(c, ev, ch, data, raw, rawlen);
	else
		relay_conn_error(c, 0, "Unsupported event %.*s",
		    utf8_prec(ev, 200), ev);
}

void
pusher_message(struct conn *c, const char *text, size_t len)
{
	cJSON *j = NULL, *ev, *data, *parsed = NULL;
	const char *ch, *dup, *raw = NULL, *why = NULL;
	size_t rawlen = 0;

	if (c->close_code || c->app == NULL)
		return; /* closing (its app may be gone): nothing more */
	if (!utf8_valid((const unsigned char *)text, len)) {
		relay_conn_error(c, 0, "Invalid UTF-8 in text frame");
		return;
	}
	/* cJSON would cut a string at its NUL: refuse rather than cut. */
	if (json_has_nul(text, len)) {
		relay_conn_error(c, 0, "Message refused: it holds a NUL "
		    "character (\\u0000), which the relay cannot forward "
		    "intact");
		return;
	}
	if ((j = json_parse_exact(text, len, &why)) == NULL) {
		relay_conn_error(c, 0, "Invalid message: %s (send one JSON "
		    "object per message)", why);
		return;
	}
	ev = cJSON_GetObjectItemCaseSensitive(j, "event");
	if (!cJSON_IsObject(j) || !cJSON_IsString(ev)) {
		relay_conn_error(c, 0, "Invalid message: expected a JSON "
		    "object with a string \"event\"");
		goto out;
	}
	if ((dup = json_dup_key(j)) != NULL) {
		relay_conn_error(c, 0, "Invalid message: duplicate key "
		    "\"%.*s\"", utf8_prec(dup, 100), dup);
		goto out;
	}
	ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j,
	    "channel"));
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	/* Message envelope: pusher:* data may come as an object or a string. */
	if (cJSON_IsString(data) && strncmp(ev->valuestring, "pusher:", 7) ==
	    0 && json_has_nul(data->valuestring, strlen(data->valuestring))) {
		relay_conn_error(c, 0, "Message refused: its data holds a NUL "
		    "character (\\u0000)");
		goto out;
	}
	if (cJSON_IsString(data) && strncmp(ev->valuestring, "pusher:", 7) ==
	    0 && (parsed = json_parse_exact(data->valuestring,
	    strlen(data->valuestring), &why)) != NULL)
		data = parsed;
	if (parsed && (dup = json_dup_key(parsed)) != NULL) {
		relay_conn_error(c, 0, "Invalid message: duplicate key "
		    "\"%.*s\" in data", utf8_prec(dup, 100), dup);
		goto out;
	}
	if (strncmp(ev->valuestring, "pusher:", 7) == 0 &&
	    strcmp(ev->valuestring, "pusher:ping") != 0 &&
	    strcmp(ev->valuestring, "pusher:pong") != 0 &&
	    !cJSON_IsObject(data)) {
		relay_conn_error(c, 0, "%.*s needs an object in data%s%s%s",
		    utf8_prec(ev->valuestring, 100), ev->valuestring,
		    cJSON_IsString(data) && why ? " (data string: " : "",
		    cJSON_IsString(data) && why ? why : "",
		    cJSON_IsString(data) && why ? ")" : "");
		goto out;
	}
	if (strncmp(ev->valuestring, "client-", 7) != 0 ||
	    json_member_span(text, len, "data", &raw, &rawlen) != 1)
		raw = NULL;
	dispatch(c, ev->valuestring, ch, data, raw, rawlen);
out:
	cJSON_Delete(parsed);
	cJSON_Delete(j);
}
