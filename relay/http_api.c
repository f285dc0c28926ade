/*
 * Pusher HTTP API: routing, signature check (auth.c), validation, and
 * publishing through channel.c. Every answer is JSON; errors say what was
 * wrong as {"error":"..."}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth.h"
#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "http_api.h"
#include "json_check.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

static int
fail(struct buf *out, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct buf *out, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_trim(msg);
	buf_reset(out);
	buf_adds(out, "{\"error\":");
	buf_add_json_string(out, msg);
	buf_adds(out, "}");
	return status;
}

size_t
http_api_max_body(const struct relay *r)
{
	/* A batch of events, each with data up to the limit, plus envelope. */
	return (size_t)r->conf->max_message_bytes * 10 + 256 * 1024;
}

static int
socket_id_ok(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot || dot == s || !dot[1] || strlen(s) > 30)
		return 0;
	for (; *s; s++)
		if (s != dot && (*s < '0' || *s > '9'))
			return 0;
	return 1;
}

/* Appends {attrs} of one channel for info; with_name: "name":{attrs}. */
static int
channel_info(struct app *a, const char *name, int want_users, int want_subs,
    int with_name, struct buf *out)
{
	struct channel *ch = channel_find(a, name);
	int kind = channel_kind(name, strlen(name)), e = 0, comma = 0;

	if (with_name) {
		e |= buf_add_json_string(out, name);
		e |= buf_adds(out, ":");
	}
	e |= buf_adds(out, "{");
	if (want_users && (kind & CH_PRESENCE)) {
		e |= buf_printf(out, "\"user_count\":%d",
		    ch ? channel_user_count(ch) : 0);
		comma = 1;
	}
	if (want_subs && !(kind & CH_PRESENCE))
		e |= buf_printf(out, "%s\"subscription_count\":%d",
		    comma ? "," : "", ch ? ch->nsubs : 0);
	e |= buf_adds(out, "}");
	return e;
}

struct event_req {
	const char *name;
	char *data;	/* owned */
	size_t dlen;
	const char *chans[HTTP_API_MAX_CHANNELS];
	int nchans;
	const char *socket_id;
	const char *info;
};

/* Validates one event object, whose text is raw[0..rawlen); returns 0 or
 * an HTTP status with out set. */
static int
event_parse(struct relay *r, cJSON *ev, const char *raw, size_t rawlen,
    struct event_req *q, struct buf *out)
{
	cJSON *name = cJSON_GetObjectItemCaseSensitive(ev, "name");
	cJSON *data = cJSON_GetObjectItemCaseSensitive(ev, "data");
	cJSON *chs = cJSON_GetObjectItemCaseSensitive(ev, "channels");
	cJSON *ch = cJSON_GetObjectItemCaseSensitive(ev, "channel");
	cJSON *sid = cJSON_GetObjectItemCaseSensitive(ev, "socket_id");
	cJSON *info = cJSON_GetObjectItemCaseSensitive(ev, "info");
	cJSON *it;
	const char *at;
	size_t n;

	memset(q, 0, sizeof(*q));
	if (!cJSON_IsObject(ev))
		return fail(out, 400, "Each event must be a JSON object");
	if (!cJSON_IsString(name) || !name->valuestring[0] ||
	    strlen(name->valuestring) > HTTP_API_EVENT_NAME_MAX)
		return fail(out, 400, "name must be a string of 1 to %d "
		    "characters", HTTP_API_EVENT_NAME_MAX);
	q->name = name->valuestring;
	if (data == NULL)
		return fail(out, 400, "data is missing");
	/* Data that is not a string goes on as sent, not re-printed
	 * (cJSON prints numbers through doubles with 15 digits). */
	if (cJSON_IsString(data))
		q->data = strdup(data->valuestring);
	else if (json_member_span(raw, rawlen, "data", &at, &n) == 1)
		q->data = strndup(at, n);
	else
		q->data = cJSON_PrintUnformatted(data);
	if (q->data == NULL)
		return fail(out, 400, "data could not be read");
	q->dlen = strlen(q->data);
	if (q->dlen > (size_t)r->conf->max_message_bytes)
		return fail(out, 413, "The data content of this event exceeds "
		    "the allowed maximum (%ld bytes): it is %zu bytes",
		    r->conf->max_message_bytes, q->dlen);
	if (cJSON_IsArray(chs)) {
		if (cJSON_GetArraySize(chs) > HTTP_API_MAX_CHANNELS)
			return fail(out, 400, "At most %d channels per event "
			    "(got %d)", HTTP_API_MAX_CHANNELS,
			    cJSON_GetArraySize(chs));
		cJSON_ArrayForEach(it, chs) {
			if (!cJSON_IsString(it))
				return fail(out, 400,
				    "channels must be strings");
			q->chans[q->nchans++] = it->valuestring;
		}
	} else if (cJSON_IsString(ch))
		q->chans[q->nchans++] = ch->valuestring;
	if (q->nchans == 0)
		return fail(out, 400, "channel or channels is required");
	for (int i = 0; i < q->nchans; i++)
		if (channel_kind(q->chans[i], strlen(q->chans[i])) < 0)
			return fail(out, 400, "Invalid channel name '%.*s'",
			    utf8_prec(q->chans[i], 200), q->chans[i]);
	if (sid && !cJSON_IsNull(sid)) {
		if (!cJSON_IsString(sid) || !socket_id_ok(sid->valuestring))
			return fail(out, 400,
			    "socket_id must look like 123.456");
		q->socket_id = sid->valuestring;
	}
	if (cJSON_IsString(info))
		q->info = info->valuestring;
	return 0;
}

/* Publishes q to each of its channels: one shared frame per channel. */
static int
event_publish(struct app *a, struct event_req *q)
{
	struct conn *except = NULL;

	if (q->socket_id)
		except = relay_conn_by_socket(a->relay, q->socket_id);
	metrics.events_http++;
	for (int i = 0; i < q->nchans; i++) {
		struct channel *ch = channel_find(a, q->chans[i]);
		int kind = channel_kind(q->chans[i], strlen(q->chans[i]));
		struct msg *m;

		if (cluster_on()) {	/* cluster hook: sent to Redis */
			if (cluster_publish(a, q->chans[i], q->name, q->data,
			    q->dlen, q->socket_id, NULL) == -ENOMEM)
				return -ENOMEM;
			continue;
		}
		if (!ch && !(kind & CH_CACHE))
			continue; /* nobody listens, nothing to remember */
		m = relay_frame(q->name, q->chans[i], q->data, q->dlen, 0,
		    NULL);
		if (m == NULL)
			return -ENOMEM;
		if (ch)
			channel_publish(ch, m, except);
		if (kind & CH_CACHE)
			channel_cache_put(a, q->chans[i], m, q->data, q->dlen);
		msg_unref(m);
	}
	return 0;
}

/* {"channels":{name:{attrs}}} for the info asked, or the attrs of the
 * first channel alone (batch entries). */
static int
event_info(struct app *a, const struct event_req *q, int batch,
    struct buf *out)
{
	int users = q->info && strstr(q->info, "user_count");
	int subs = q->info && strstr(q->info, "subscription_count");
	int e = 0;

	if (batch)
		return q->info ? channel_info(a, q->chans[0], users, subs, 0,
		    out) : buf_adds(out, "{}");
	if (!q->info)
		return buf_adds(out, "{}");
	e |= buf_adds(out, "{\"channels\":{");
	for (int i = 0; i < q->nchans; i++) {
		e |= buf_adds(out, i ? "," : "");
		e |= channel_info(a, q->chans[i], users, subs, 1, out);
	}
	return e | buf_adds(out, "}}");
}

static int
post_events(struct app *a, cJSON *body, const char *raw, size_t rawlen,
    struct buf *out)
{
	struct event_req q;
	int st;

	if ((st = event_parse(a->relay, body, raw, rawlen, &q, out)) != 0)
		goto out;
	if (event_publish(a, &q) < 0 || event_info(a, &q, 0, out) < 0)
		st = fail(out, 500, "Out of memory");
	else
		st = 200;
out:
	free(q.data);
	return st;
}

static int
post_batch(struct app *a, cJSON *body, const char *raw, size_t rawlen,
    struct buf *out)
{
	cJSON *batch = cJSON_GetObjectItemCaseSensitive(body, "batch"), *ev;
	const char *at[HTTP_API_MAX_BATCH], *bat = NULL;
	size_t lens[HTTP_API_MAX_BATCH], blen = 0;
	struct event_req *qs;
	int n, i = 0, st = 200, any_info = 0;

	if (!cJSON_IsArray(batch))
		return fail(out, 400, "batch must be an array of events");
	if ((n = cJSON_GetArraySize(batch)) > HTTP_API_MAX_BATCH)
		return fail(out, 400, "At most %d events per batch (got %d)",
		    HTTP_API_MAX_BATCH, n);
	/* The events' own texts, for their data (see event_parse). */
	if (n > 0 && (json_member_span(raw, rawlen, "batch", &bat, &blen) != 1
	    || json_array_spans(bat, blen, at, lens, HTTP_API_MAX_BATCH) != n))
		return fail(out, 400, "batch must be an array of events");
	if ((qs = calloc((size_t)n + 1, sizeof(*qs))) == NULL)
		return fail(out, 500, "Out of memory");
	/* Validate all first: a batch is published whole or not at all. */
	cJSON_ArrayForEach(ev, batch) {
		if ((st = event_parse(a->relay, ev, at[i], lens[i], &qs[i],
		    out)) != 0)
			goto out;
		any_info |= qs[i++].info != NULL;
	}
	st = 200;
	for (i = 0; i < n; i++)
		event_publish(a, &qs[i]);
	if (!any_info) {
		buf_adds(out, "{}");
		goto out;
	}
	buf_adds(out, "{\"batch\":[");
	for (i = 0; i < n; i++) {
		buf_adds(out, i ? "," : "");
		event_info(a, &qs[i], 1, out);
	}
	buf_adds(out, "]}");
out:
	for (i = 0; i <= n; i++)
		free(qs[i].data);
	free(qs);
	return st;
}

static int
get_channels(struct app *a, const struct auth_param *p, int np,
    struct buf *out)
{
	const char *prefix = auth_param_get(p, np, "filter_by_prefix");
	const char *info = auth_param_get(p, np, "info");
	int users = info && strstr(info, "user_count");
	int subs = info && strstr(info, "subscription_count");
	struct hnode *n, *nx;
	size_t i, plen = prefix ? strlen(prefix) : 0;
	int first = 1;

	if (users && (!prefix || strncmp(prefix, "presence-", 9) != 0))
		return fail(out, 400, "info=user_count requires "
		    "filter_by_prefix=presence-");
	buf_adds(out, "{\"channels\":{");
	HMAP_FOREACH_SAFE(&a->channels, i, n, nx) {
		struct channel *ch = hmap_entry(n, struct channel, node);

		if (ch->nsubs == 0 || (prefix && strncmp(ch->name, prefix,
		    plen) != 0))
			continue;
		buf_adds(out, first ? "" : ",");
		channel_info(a, ch->name, users, subs, 1, out);
		first = 0;
	}
	buf_adds(out, "}}");
	return 200;
}

static int
get_channel(struct app *a, const char *name, const struct auth_param *p,
    int np, struct buf *out)
{
	const char *info = auth_param_get(p, np, "info");
	struct channel *ch = channel_find(a, name);
	int kind = channel_kind(name, strlen(name));
	struct msg *cached;

	if (kind < 0)
		return fail(out, 400, "Invalid channel name '%.*s'",
		    utf8_prec(name, 200), name);
	if (info && strstr(info, "user_count") && !(kind & CH_PRESENCE))
		return fail(out, 400,
		    "user_count is only for presence channels");
	if (info && strstr(info, "cache") && !(kind & CH_CACHE))
		return fail(out, 400, "cache is only for cache channels");
	buf_printf(out, "{\"occupied\":%s", ch && ch->nsubs ? "true" : "false");
	if (info && strstr(info, "user_count"))
		buf_printf(out, ",\"user_count\":%d",
		    ch ? channel_user_count(ch) : 0);
	if (info && strstr(info, "subscription_count"))
		buf_printf(out, ",\"subscription_count\":%d",
		    ch ? ch->nsubs : 0);
	if (info && strstr(info, "cache") && ch &&
	    (cached = channel_cache_get(ch)) != NULL) {
		buf_adds(out, ",\"cache\":{\"data\":");
		buf_add_json_string(out, ch->cache_data);
		buf_printf(out, ",\"ttl\":%ld}", (long)((CACHE_TTL_MS -
		    (clock_mono_ms() - ch->cache_ms)) / 1000));
	}
	buf_adds(out, "}");
	return 200;
}

static int
get_users(struct app *a, const char *name, struct buf *out)
{
	struct channel *ch = channel_find(a, name);
	struct hnode *n, *nx;
	size_t i;
	int first = 1;

	if (!(channel_kind(name, strlen(name)) > 0 &&
	    (channel_kind(name, strlen(name)) & CH_PRESENCE)))
		return fail(out, 400, "users is only for presence channels");
	buf_adds(out, "{\"users\":[");
	if (ch) {
		HMAP_FOREACH_SAFE(&ch->members, i, n, nx) {
			struct member *m = hmap_entry(n, struct member, node);

			buf_adds(out, first ? "{\"id\":" : ",{\"id\":");
			buf_add_json_string(out, m->user_id);
			buf_adds(out, "}");
			first = 0;
		}
	}
	buf_adds(out, "]}");
	return 200;
}

/* With Redis every node, this one too, closes them when the P:ctl message
 * comes back (cluster_ctl.c); the request waits for the PUBLISH. */
static int
terminate(struct app *a, const char *uid, struct buf *out)
{
	int n = cluster_on() ? 0 : conn_close_user(a, uid); /* cluster hook */

	log_info("http terminate user=\"%s\" connections=%d%s", uid, n,
	    cluster_on() ? " via=cluster" : "");
	buf_adds(out, "{}");
	return 200;
}

/* One API call: the parsed body (POST), the raw body, the query, and the
 * path's {} segment (a channel name or a user id). */
struct api_call {
	cJSON *json;
	const char *body;
	size_t bodylen;
	const struct auth_param *p;
	int np;
	const char *arg;
};

static int
r_events(struct app *a, const struct api_call *k, struct buf *out)
{
	return post_events(a, k->json, k->body, k->bodylen, out);
}

static int
r_batch(struct app *a, const struct api_call *k, struct buf *out)
{
	return post_batch(a, k->json, k->body, k->bodylen, out);
}

static int
r_channels(struct app *a, const struct api_call *k, struct buf *out)
{
	return get_channels(a, k->p, k->np, out);
}

static int
r_channel(struct app *a, const struct api_call *k, struct buf *out)
{
	return get_channel(a, k->arg, k->p, k->np, out);
}

static int
r_users(struct app *a, const struct api_call *k, struct buf *out)
{
	return get_users(a, k->arg, out);
}

static int
r_terminate(struct app *a, const struct api_call *k, struct buf *out)
{
	return terminate(a, k->arg, out);
}

static int
r_none(struct app *a, const struct api_call *k, struct buf *out)
{
	(void)a;
	(void)k;
	return fail(out, 404, "No such resource");
}

/*
 * The HTTP API after /apps/{id}/, first match wins. "{}" is one path
 * segment (no '/'), handed over as the argument when it is at most arg_max
 * bytes; a trailing "*" is the rest of the path, whatever it is.
 */
static const struct api_route {
	int post;
	const char *pattern;
	size_t arg_max;
	const char *arg_too_long;
	int (*serve)(struct app *a, const struct api_call *k,
	    struct buf *out);
} api_routes[] = {
	{1, "events", 0, NULL, r_events},
	{1, "batch_events", 0, NULL, r_batch},
	{0, "channels", 0, NULL, r_channels},
	{0, "channels/{}", CHANNEL_NAME_MAX + 7, "Channel name is too long",
	    r_channel},
	{0, "channels/{}/users", CHANNEL_NAME_MAX + 7,
	    "Channel name is too long", r_users},
	{0, "channels/{}/*", CHANNEL_NAME_MAX + 7, "Channel name is too long",
	    r_none},
	{1, "users/{}/terminate_connections", PRESENCE_MAX_ID,
	    "User id is too long", r_terminate},
	{0, NULL, 0, NULL, NULL},
};

/* Whether path fits pattern; *arg, *arglen get the {} segment. */
static int
route_match(const char *pat, const char *path, const char **arg,
    size_t *arglen)
{
	*arg = NULL;
	*arglen = 0;
	while (*pat) {
		if (pat[0] == '*' && pat[1] == '\0')
			return 1;
		if (pat[0] == '{' && pat[1] == '}') {
			*arg = path;
			*arglen = strcspn(path, "/");
			path += *arglen;
			pat += 2;
			continue;
		}
		if (*pat++ != *path++)
			return 0;
	}
	return *path == '\0';
}

/* Routes a request already known to be for app a and correctly signed. */
static int
route(struct app *a, const char *method, const char *rest,
    const struct auth_param *p, int np, const char *body, size_t bodylen,
    struct buf *out)
{
	int post = strcmp(method, "POST") == 0;
	const struct api_route *rt;
	struct api_call call = {NULL, body, bodylen, p, np, NULL};
	char argbuf[CHANNEL_NAME_MAX + 8];
	const char *arg = NULL;
	size_t arglen = 0;
	cJSON *j = NULL;
	int st;

	if (post && !utf8_valid((const unsigned char *)body, bodylen))
		return fail(out, 400, "Request body is not valid UTF-8");
	/* cJSON would cut a string at its NUL: refuse rather than cut. */
	if (post && json_has_nul(body ? body : "", bodylen))
		return fail(out, 400, "Request body holds a NUL character "
		    "(\\u0000), which the relay cannot deliver intact");
	if (post) {
		const char *dup, *why = "not an object";

		j = json_parse_exact(body ? body : "", bodylen, &why);
		if (!cJSON_IsObject(j) && !(bodylen == 0 &&
		    strstr(rest, "terminate_connections"))) {
			cJSON_Delete(j);
			return fail(out, 400, "Request body is not one JSON "
			    "object: %s", why);
		}
		if ((dup = json_dup_key(j)) != NULL) {
			st = fail(out, 400, "Request body has a duplicate key "
			    "\"%.*s\"", utf8_prec(dup, 100), dup);
			cJSON_Delete(j);
			return st;
		}
	}
	call.json = j;
	for (rt = api_routes; rt->pattern; rt++)
		if (rt->post == post && route_match(rt->pattern, rest, &arg,
		    &arglen))
			break;
	if (rt->pattern == NULL)
		st = fail(out, 404, "No such resource: %s %.*s", method,
		    utf8_prec(rest, 200), rest);
	else if (arglen > rt->arg_max)
		st = fail(out, 400, "%s", rt->arg_too_long);
	else {
		snprintf(argbuf, sizeof(argbuf), "%.*s", (int)arglen,
		    arg ? arg : "");
		call.arg = argbuf;
		st = rt->serve(a, &call, out);
	}
	cJSON_Delete(j);
	return st;
}

int
http_api_handle(struct relay *r, const char *method, const char *path,
    const struct auth_param *p, int np, const char *body, size_t bodylen,
    struct buf *out)
{
	const char *idp = path + 6, *rest;
	char why[1024];
	struct app *a;
	int st;
	int64_t t0 = clock_mono_us();

	/* path is /apps/{id}/... */
	if ((rest = strchr(idp, '/')) == NULL ||
	    (a = relay_app_by_id(r, idp, (size_t)(rest - idp))) == NULL)
		return fail(out, 404, "Unknown app id");
	rest++;
	if (np < 0 || !auth_params_clean(p, np))
		return fail(out, 400, "Query string: too many or too long "
		    "parameters, or a control character in one");
	if (auth_http_ok(a->conf, method, path, p, np, body, bodylen,
		(int64_t)time(NULL), why, sizeof(why)) < 0) {
		metrics.auth_failures++;
		utf8_trim(why);
		log_info("http auth=refused app=%s path=\"%.*s\" why=\"%s\"",
		    a->conf->id, utf8_prec(path, 200), path, why);
		return fail(out, 401, "%s", why);
	}
	st = route(a, method, rest, p, np, body, bodylen, out);
	if (st == 200 && strcmp(method, "POST") == 0 &&
	    (strcmp(rest, "events") == 0 || strcmp(rest, "batch_events") == 0))
		metrics_publish_time(clock_mono_us() - t0);
	return st;
}
