/*
 * Scale-out over Redis: the failed-login throttle counted cluster-wide
 * (docs/scaleout.md "Logins"), without making a login wait on Redis.
 * dash_login.c counts on its node as always and tells this file each
 * change; each becomes one command on P:fail:<kind>:<hash of who> (INCR,
 * with the window as expiry on the first; DECR; DEL), and every reply
 * (and a GET sent when a node looks a count up) is remembered here, so a
 * node's checks use the larger of its own count and the cluster's as last
 * heard. A guesser spreading guesses over N nodes is therefore counted on
 * each node as the sum, at most one guess per node late.
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
#include "hmap.h"
#include "http.h"

#define FAIL_WINDOW_MS (15 * 60 * 1000)	/* as dash_login.c's */
#define KNOWN_MAX 10000
#define REFRESH_MS 1000

/* ARGV window, delta: +1 counts (the window starts with the first), -1
 * takes one back (never creating the key), 0 forgets; the count after. */
static const char count_lua[] =
    "local d=tonumber(ARGV[2]) "
    "if d==0 then redis.call('DEL',KEYS[1]) return 0 end "
    "if d<0 then if redis.call('EXISTS',KEYS[1])==0 then return 0 end "
    "return redis.call('DECR',KEYS[1]) end "
    "local n=redis.call('INCR',KEYS[1]) "
    "if n==1 then redis.call('PEXPIRE',KEYS[1],ARGV[1]) end return n";

/* The cluster's count of one kind:who, as last heard. */
struct known {
	struct hnode node;
	char key[200];		/* the Redis key */
	int n;
	int64_t at_ms;		/* heard (monotonic) */
	int64_t asked_ms;	/* GET sent */
};

static struct {
	struct hmap m;
	int init;
} kt;

static void
redis_key(const char *kind, const char *who, char *out, size_t len)
{
	const struct relay_conf *c = http_relay()->conf;
	unsigned char h[16];
	char hex[33];

	crypto_generichash(h, sizeof(h), (const unsigned char *)who,
	    strlen(who), NULL, 0);
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, len, "%s:fail:%s:%s", c->redis_prefix ?
	    c->redis_prefix : "sno", kind, hex);
}

static void
forget_all(void)
{
	struct hnode *n, *nx;
	size_t i;

	HMAP_FOREACH_SAFE(&kt.m, i, n, nx) {
		hmap_del(&kt.m, n);
		free(hmap_entry(n, struct known, node));
	}
}

/* The entry of the Redis key, created when create; or NULL. */
static struct known *
known_get(const char *key, int create)
{
	struct hnode *n;
	struct known *k;

	if (!kt.init) {
		if (hmap_init(&kt.m, 64) < 0)
			return NULL;
		kt.init = 1;
	}
	if ((n = hmap_get(&kt.m, key, strlen(key))) != NULL)
		return hmap_entry(n, struct known, node);
	if (!create)
		return NULL;
	if (kt.m.n >= KNOWN_MAX)
		forget_all();	/* only weakens to the node's own counts */
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	snprintf(k->key, sizeof(k->key), "%s", key);
	if (hmap_put(&kt.m, &k->node, k->key, strlen(k->key)) < 0) {
		free(k);
		return NULL;
	}
	return k;
}

static void
on_count(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rp = reply;
	char *key = priv;
	struct known *k;

	(void)ac;
	if (rp && (rp->type == REDIS_REPLY_INTEGER ||
	    rp->type == REDIS_REPLY_NIL || rp->type == REDIS_REPLY_STRING) &&
	    (k = known_get(key, 1)) != NULL) {
		k->n = rp->type == REDIS_REPLY_INTEGER ? (int)rp->integer :
		    rp->type == REDIS_REPLY_STRING ? atoi(rp->str) : 0;
		k->at_ms = clock_mono_ms();
	}
	free(key);
}

int
cluster_login_fails(const char *kind, const char *who, int local)
{
	redisAsyncContext *ac = cluster_on() ? cluster_cmd() : NULL;
	char key[200], *copy;
	struct known *k;
	int64_t now = clock_mono_ms();
	int n = 0;

	if (!cluster_on())
		return local;
	redis_key(kind, who, key, sizeof(key));
	if ((k = known_get(key, 0)) != NULL &&
	    now - k->at_ms < FAIL_WINDOW_MS)
		n = k->n;
	/* Ask again for the next check (other nodes may have counted). */
	if (ac && (k == NULL || now - k->asked_ms >= REFRESH_MS) &&
	    (k = known_get(key, 1)) != NULL && (copy = strdup(key)) != NULL) {
		k->asked_ms = now;
		if (redisAsyncCommand(ac, on_count, copy, "GET %s", key) !=
		    REDIS_OK)
			free(copy);
	}
	return n > local ? n : local;
}

void
cluster_login_failed(const char *kind, const char *who, int delta)
{
	redisAsyncContext *ac = cluster_on() ? cluster_cmd() : NULL;
	char key[200], win[16], *copy;
	int rc;

	if (ac == NULL)
		return;
	redis_key(kind, who, key, sizeof(key));
	if ((copy = strdup(key)) == NULL)
		return;
	snprintf(win, sizeof(win), "%d", FAIL_WINDOW_MS);
	rc = redisAsyncCommand(ac, on_count, copy, "EVAL %s 1 %s %s %d",
	    count_lua, key, win, delta > 0 ? 1 : delta < 0 ? -1 : 0);
	if (rc != REDIS_OK)
		free(copy);
}
