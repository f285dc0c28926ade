/*
 * Scale-out over Redis: dashboard logins valid on every node
 * (docs/scaleout.md "Logins"). A login is the key P:login:<hash of the
 * cookie's token> = "<user>\n<account>\n<fingerprint of the user's
 * password hash>" with the login's expiry; every dashboard API request
 * reads it (one GET), so a logout on any node, or a reload that changes
 * the user, ends it everywhere. Only the token's hash is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
#include "config.h"
#include "conn.h"
#include "dash_login.h"
#include "dash_parse.h"
#include "http.h"
#include "log.h"

#define LOGIN_DEADLINE_MS 250

typedef void (*route_fn)(struct http_req *q, struct login *s);

struct lookup {
	uint64_t req;
	route_fn route;
	char token[DASH_TOKEN_LEN + 1];
};

/* The parked request id, or NULL (gone, or the relay is stopping: the
 * replies cluster_stop flushes are answered by nobody). */
static struct http_req *
parked(uint64_t id)
{
	struct relay *r = http_relay();

	return r && !r->shutting_down ? http_parked(id) : NULL;
}

/* key = "<prefix>:login:<hex hash of token>" */
static void
login_key(const char *token, char *key, size_t len)
{
	const struct relay_conf *c = http_relay()->conf;
	unsigned char h[32];
	char hex[65];

	crypto_generichash(h, sizeof(h), (const unsigned char *)token,
	    strlen(token), NULL, 0);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(key, len, "%s:login:%s", c->redis_prefix ? c->redis_prefix :
	    "sno", hex);
}

/* A short fingerprint of the password hash: a new password ends the
 * logins of the old one on every node. */
static void
fingerprint(const struct user_conf *u, char out[33])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)
	    u->password_hash, strlen(u->password_hash), NULL, 0);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void
unavailable(struct http_req *q)
{
	http_header_add(q, "retry-after:", "1");
	http_error(q, 503, "cluster unavailable: Redis did not answer in "
	    "time; retry");
}

/* The user a stored login value names, still as it was; or NULL. */
static const struct user_conf *
login_user(const char *v)
{
	char name[160], acct[160], fp[33], want[33];
	const struct user_conf *u;

	if (sscanf(v, "%159[^\n]\n%159[^\n]\n%32s", name, acct, fp) != 3)
		return NULL;
	if ((u = relay_conf_user(http_relay()->conf, name)) == NULL ||
	    strcmp(u->account, acct) != 0)
		return NULL;
	fingerprint(u, want);
	return strcmp(fp, want) == 0 ? u : NULL;
}

static void
on_get(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	struct lookup *l = priv;
	struct http_req *q = parked(l->req);
	struct login s;

	(void)ac;
	if (q == NULL)
		goto out;
	if (rp == NULL || rp->type == REDIS_REPLY_ERROR) {
		unavailable(q);
		goto out;
	}
	memset(&s, 0, sizeof(s));
	if (rp->type != REDIS_REPLY_STRING ||
	    (s.user = login_user(rp->str)) == NULL) {
		http_error(q, 401, "log in first");
		goto out;
	}
	memcpy(s.token, l->token, sizeof(l->token));
	s.expires_ms = clock_mono_ms() + LOGIN_DEADLINE_MS;
	l->route(q, &s);
	sodium_memzero(s.token, sizeof(s.token));
out:
	sodium_memzero(l->token, sizeof(l->token));
	free(l);
}

void
cluster_login_route(struct http_req *q, route_fn route)
{
	redisAsyncContext *ac = cluster_cmd();
	char cookie[1024], key[128];
	const char *token;
	struct lookup *l;

	if (http_header_get(q, "cookie:", cookie, sizeof(cookie)) <= 0 ||
	    (token = dash_cookie_token(cookie)) == NULL) {
		http_error(q, 401, "log in first");
		return;
	}
	if (ac == NULL || (l = calloc(1, sizeof(*l))) == NULL) {
		unavailable(q);
		return;
	}
	l->req = q->id;
	l->route = route;
	memcpy(l->token, token, DASH_TOKEN_LEN);
	login_key(l->token, key, sizeof(key));
	if (redisAsyncCommand(ac, on_get, l, "GET %s", key) != REDIS_OK) {
		free(l);
		unavailable(q);
		return;
	}
	http_park(q, clock_mono_ms() + LOGIN_DEADLINE_MS, unavailable);
}

struct put {
	uint64_t req;
	char body[512];
};

static void
on_set(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	struct put *p = priv;
	struct http_req *q = parked(p->req);

	(void)ac;
	if (q && rp && rp->type == REDIS_REPLY_STATUS)
		http_reply(q, 200, "application/json", p->body);
	else if (q)
		unavailable(q);
	free(p);
}

void
cluster_login_put(struct http_req *q, const char *token,
    const struct user_conf *u, int ttl_s, const char *body)
{
	redisAsyncContext *ac = cluster_cmd();
	char key[128], fp[33];
	struct put *p;

	if (ac == NULL || (p = calloc(1, sizeof(*p))) == NULL) {
		unavailable(q);
		return;
	}
	p->req = q->id;
	snprintf(p->body, sizeof(p->body), "%s", body);
	login_key(token, key, sizeof(key));
	fingerprint(u, fp);
	if (redisAsyncCommand(ac, on_set, p, "SET %s %s\n%s\n%s EX %d", key,
	    u->name, u->account, fp, ttl_s) != REDIS_OK) {
		free(p);
		unavailable(q);
		return;
	}
	http_park(q, clock_mono_ms() + LOGIN_DEADLINE_MS, unavailable);
}

void
cluster_login_del(const char *token)
{
	redisAsyncContext *ac = cluster_cmd();
	char key[128];

	if (ac == NULL)
		return;
	login_key(token, key, sizeof(key));
	redisAsyncCommand(ac, NULL, NULL, "DEL %s", key);
}
