/*
 * Scale-out over Redis: the HTTP API's reads answered from Redis, so every
 * node gives the same answer (docs/scaleout.md, "HTTP API reads"). The
 * local handler has validated the request and answered 200 from this
 * node's state; that answer is replaced by one read script's, within
 * DEADLINE_MS, or 503 with Retry-After: 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "auth.h"
#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_lua.h"
#include "http.h"

#define DEADLINE_MS 250

enum { R_LIST, R_ONE, R_USERS };

struct read {
	uint64_t req;
	int mode;
	int users, subs, cache;	/* what info= asked for */
	int presence;		/* R_ONE: of a presence channel */
};

void
cluster_http_unavailable(struct http_req *q, const char *why)
{
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "Cluster unavailable: %s; retry", why);
}

static void
read_due(struct http_req *q)
{
	cluster_http_unavailable(q, "Redis did not answer in time");
}

static long long
num(const redisReply *r)
{
	return r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
}

static int
list_json(const struct read *rd, const redisReply *r, struct buf *b)
{
	size_t i;
	int e, comma, first = 1;

	e = buf_adds(b, "{\"channels\":{");
	for (i = 0; i + 2 < r->elements; i += 3) {
		const char *name = r->element[i]->str;
		int kind = channel_kind(name, strlen(name));

		if (r->element[i]->type != REDIS_REPLY_STRING || kind < 0)
			continue;
		e |= buf_adds(b, first ? "" : ",");
		first = 0;
		e |= buf_add_json_string(b, name);
		e |= buf_adds(b, ":{");
		comma = 0;
		if (rd->users && (kind & CH_PRESENCE)) {
			e |= buf_printf(b, "\"user_count\":%lld",
			    num(r->element[i + 2]));
			comma = 1;
		}
		if (rd->subs && !(kind & CH_PRESENCE))
			e |= buf_printf(b, "%s\"subscription_count\":%lld",
			    comma ? "," : "", num(r->element[i + 1]));
		e |= buf_adds(b, "}");
	}
	e |= buf_adds(b, "}}");
	return e;
}

static int
answer_json(const struct read *rd, const redisReply *r, struct buf *b)
{
	const char *data;
	size_t i, dlen;
	int e = 0;

	if (rd->mode == R_LIST)
		return list_json(rd, r, b);
	if (rd->mode == R_USERS) {
		e |= buf_adds(b, "{\"users\":[");
		for (i = 0; i < r->elements; i++) {
			e |= buf_adds(b, i ? ",{\"id\":" : "{\"id\":");
			e |= buf_add_json_string(b, r->element[i]->str);
			e |= buf_adds(b, "}");
		}
		return e | buf_adds(b, "]}");
	}
	if (r->elements < 2)
		return -1;
	e |= buf_printf(b, "{\"occupied\":%s",
	    num(r->element[0]) > 0 ? "true" : "false");
	if (rd->users)
		e |= buf_printf(b, ",\"user_count\":%lld",
		    num(r->element[1]));
	if (rd->subs)
		e |= buf_printf(b, ",\"subscription_count\":%lld",
		    num(r->element[0]));
	if (rd->cache && r->elements >= 4 &&
	    r->element[2]->type == REDIS_REPLY_STRING &&
	    (data = cluster_cache_data(r->element[2]->str,
	    r->element[2]->len, &dlen)) != NULL) {
		char *d = strndup(data, dlen);	/* no NUL: the API refuses it */

		e |= buf_adds(b, ",\"cache\":{\"data\":");
		e |= d ? buf_add_json_string(b, d) : -1;
		e |= buf_printf(b, ",\"ttl\":%lld}", num(r->element[3]) / 1000);
		free(d);
	}
	return e | buf_adds(b, "}");
}

static void
on_read(redisReply *rep, void *priv)
{
	struct read *rd = priv;
	struct http_req *q = http_parked(rd->req);

	if (q == NULL)
		goto out;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
		cluster_http_unavailable(q, rep ? "Redis refused the read" :
		    "Redis connection lost");
		goto out;
	}
	buf_reset(&q->resp);
	if (answer_json(rd, rep, &q->resp) < 0) {
		http_error(q, 500, "Out of memory");
		goto out;
	}
	http_reply_resp(q, 200, "application/json");
out:
	free(rd);
}

int
cluster_api_read(struct http_req *q)
{
	const char *path = q->path, *rest, *slash, *info, *prefix;
	const char *args[6];
	char id[128], name[CHANNEL_NAME_MAX + 8];
	struct read *rd;
	size_t n;

	if (cluster_ctl_request(q))
		return 1;	/* a terminate_connections, for every node */
	if (strncmp(path, "/apps/", 6) != 0 || strcmp(q->method, "GET") != 0 ||
	    (rest = strchr(path + 6, '/')) == NULL ||
	    (n = (size_t)(rest - path - 6)) >= sizeof(id) ||
	    strncmp(rest, "/channels", 9) != 0)
		return 0;
	memcpy(id, path + 6, n);
	id[n] = '\0';
	rest += 9;
	info = auth_param_get(q->params, q->np, "info");
	prefix = auth_param_get(q->params, q->np, "filter_by_prefix");
	if ((rd = calloc(1, sizeof(*rd))) == NULL)
		return 0;
	rd->users = info && strstr(info, "user_count");
	rd->subs = info && strstr(info, "subscription_count");
	rd->cache = info && strstr(info, "cache");
	name[0] = '\0';
	if (*rest == '\0')
		rd->mode = R_LIST;
	else if (*rest == '/' && (slash = strchr(rest + 1, '/')) == NULL &&
	    strlen(rest + 1) < sizeof(name)) {
		rd->mode = R_ONE;
		snprintf(name, sizeof(name), "%s", rest + 1);
	} else if (*rest == '/' && slash && strcmp(slash, "/users") == 0 &&
	    (size_t)(slash - rest - 1) < sizeof(name)) {
		rd->mode = R_USERS;
		snprintf(name, sizeof(name), "%.*s", (int)(slash - rest - 1),
		    rest + 1);
	} else {
		free(rd);
		return 0;
	}
	args[0] = cluster_prefix();
	args[1] = cluster_node();
	args[2] = id;
	args[3] = rd->mode == R_LIST ? "list" : rd->mode == R_ONE ? "one" :
	    "users";
	args[4] = rd->mode == R_LIST ? (prefix ? prefix : "") : name;
	args[5] = rd->cache ? "cache" : "";
	rd->req = q->id;
	if (!cluster_ready() ||
	    lua_run(cluster_cmd(), LUA_READ, 6, args, on_read, rd) < 0) {
		free(rd);
		cluster_http_unavailable(q, "Redis is not connected");
		return 1;
	}
	q->status = 0;
	http_park(q, clock_mono_ms() + DEADLINE_MS, read_due);
	return 1;
}
