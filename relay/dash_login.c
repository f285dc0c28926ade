/*
 * The dashboard's logins: POST /api/v1/login checked against argon2id
 * hashes on a worker thread (never on the event loop), failures slowed per
 * user and per address, and the logins that succeeded, each a random
 * 256-bit cookie (struct login, kept LOGIN_TTL_S). dash_api.c asks
 * login_of() which login a request carries.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "clock.h"
#include "cluster.h"
#include "cluster_host.h"
#include "dash_login.h"
#include "dash_parse.h"
#include "fleet.h"
#include "hmap.h"
#include "json_check.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "reload.h"
#include "sign.h"
#include "utf8.h"

#define LOGIN_TTL_S (12 * 3600)
#define LOGIN_MAX 10000
#define FAIL_WINDOW_MS (15 * 60 * 1000)
#define FAIL_LOCK 10		/* failures in the window: answer 429 */
#define FAIL_DELAY_MAX_MS 5000
#define LOGIN_TIMEOUT_MS 30000
/* Checks at once (each held until its refusal is answered, so the delay
 * paces them): of one user, of one address, and queued on the worker. */
#define LOGIN_INFLIGHT_USER 2
#define LOGIN_INFLIGHT_ADDR 4
#define LOGIN_SLOTS 4		/* the larger of the two */
#define LOGIN_QUEUE_MAX 16


struct failures {
	struct hnode node;
	char key[160];		/* "u:NAME", "a:ADDRESS" or "p:NAME@ADDRESS" */
	int count;
	int64_t first_ms;
	int64_t busy[LOGIN_SLOTS];	/* check slots: busy until (mono ms) */
	TAILQ_ENTRY(failures) entry;
};

/* A password check handed to the worker thread. */
struct job {
	STAILQ_ENTRY(job) entry;
	uint64_t req_id;
	char *hash;		/* NULL: unknown user, verify a dummy */
	char *password;
	char name[129];		/* the user name sent; its user_conf is
				 * looked up again when done, as a reload
				 * may have changed the users meanwhile */
	char peer[64];
	int uslot, aslot;	/* check slots held for "u:name", "a:peer" */
	int ok;
};
STAILQ_HEAD(joblist, job);

static struct {
	struct hmap logins;
	TAILQ_HEAD(, login) login_list;
	struct hmap fails;
	TAILQ_HEAD(, failures) fail_list;
	char dummy_hash[crypto_pwhash_STRBYTES];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct joblist todo, done;	/* under mu */
	int pending;			/* jobs not yet answered (loop only) */
	int started, stop;
} da = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void
job_free(struct job *j)
{
	if (j->password) {
		sodium_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->hash);
	free(j);
}

static void *
worker(void *arg)
{
	struct job *j;

	(void)arg;
	/* Unknown users cost the same time as known ones. */
	if (crypto_pwhash_str(da.dummy_hash, "sno-dummy", 9,
		crypto_pwhash_OPSLIMIT_INTERACTIVE,
		crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		log_warnx("dash msg=\"cannot hash the dummy password\"");
	pthread_mutex_lock(&da.mu);
	while (!da.stop) {
		if ((j = STAILQ_FIRST(&da.todo)) == NULL) {
			pthread_cond_wait(&da.cv, &da.mu);
			continue;
		}
		STAILQ_REMOVE_HEAD(&da.todo, entry);
		pthread_mutex_unlock(&da.mu);
		j->ok = crypto_pwhash_str_verify(j->hash ? j->hash
		    : da.dummy_hash, j->password, strlen(j->password)) == 0 &&
		    j->hash != NULL;
		pthread_mutex_lock(&da.mu);
		STAILQ_INSERT_TAIL(&da.done, j, entry);
		http_wake_loop();
	}
	pthread_mutex_unlock(&da.mu);
	return NULL;
}

int
dash_login_start(void)
{
	int err;

	if (da.started)
		return 0;
	STAILQ_INIT(&da.todo);
	STAILQ_INIT(&da.done);
	TAILQ_INIT(&da.login_list);
	TAILQ_INIT(&da.fail_list);
	if (hmap_init(&da.logins, 64) < 0 || hmap_init(&da.fails, 64) < 0)
		return -ENOMEM;
	/* pthread functions return the error; errno is not set. */
	if ((err = pthread_create(&da.thread, NULL, worker, NULL)) != 0)
		return -err;
	da.started = 1;
	return 0;
}

void
dash_api_stop(void)
{
	struct job *j;

	if (!da.started)
		return;
	pthread_mutex_lock(&da.mu);
	da.stop = 1;
	pthread_cond_signal(&da.cv);
	pthread_mutex_unlock(&da.mu);
	pthread_join(da.thread, NULL);
	while ((j = STAILQ_FIRST(&da.todo)) != NULL) {
		STAILQ_REMOVE_HEAD(&da.todo, entry);
		job_free(j);
	}
	while ((j = STAILQ_FIRST(&da.done)) != NULL) {
		STAILQ_REMOVE_HEAD(&da.done, entry);
		job_free(j);
	}
	while (!TAILQ_EMPTY(&da.login_list)) {
		struct login *s = TAILQ_FIRST(&da.login_list);

		hmap_del(&da.logins, &s->node);
		TAILQ_REMOVE(&da.login_list, s, entry);
		free(s);
	}
	while (!TAILQ_EMPTY(&da.fail_list)) {
		struct failures *f = TAILQ_FIRST(&da.fail_list);

		TAILQ_REMOVE(&da.fail_list, f, entry);
		free(f);
	}
	hmap_free(&da.logins);
	hmap_free(&da.fails);
	da.started = 0;
}

/* ---- sessions ---- */

struct login *
login_of(struct http_req *q)
{
	char cookie[1024];
	const char *token;
	struct hnode *n;
	struct login *s;

	if (http_header_get(q, "cookie:", cookie, sizeof(cookie)) <= 0)
		return NULL;
	if ((token = dash_cookie_token(cookie)) == NULL)
		return NULL;
	if ((n = hmap_get(&da.logins, token, DASH_TOKEN_LEN)) == NULL)
		return NULL;
	s = hmap_entry(n, struct login, node);
	if (s->expires_ms < clock_mono_ms())
		return NULL;
	return s;
}

static void
login_drop(struct login *s)
{
	hmap_del(&da.logins, &s->node);
	TAILQ_REMOVE(&da.login_list, s, entry);
	sodium_memzero(s->token, sizeof(s->token));
	free(s);
}

static struct login *
login_new(const struct user_conf *u)
{
	unsigned char raw[32];
	struct login *s;

	if (da.logins.n >= LOGIN_MAX) /* drop the oldest */
		login_drop(TAILQ_FIRST(&da.login_list));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	sign_random(raw, sizeof(raw));
	sign_hex(raw, sizeof(raw), s->token);
	s->user = u;
	s->expires_ms = clock_mono_ms() + LOGIN_TTL_S * 1000LL;
	if (hmap_put(&da.logins, &s->node, s->token, 64) < 0) {
		free(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&da.login_list, s, entry);
	return s;
}

static void
set_cookie(struct http_req *q, const char *token, long max_age)
{
	char v[256];

	snprintf(v, sizeof(v), "sno_session=%s; Path=/; Max-Age=%ld; "
	    "HttpOnly; SameSite=Strict%s", token, max_age,
	    q->tls ? "; Secure" : "");
	http_header_add(q, "set-cookie:", v);
}

/*
 * ---- failed-login throttle ----
 * Failures are counted per address, per user at an address ("p") and per
 * user. The first two lock (429) at FAIL_LOCK; the per-user count only
 * slows the refusals, so wrong passwords sent from elsewhere never lock a
 * user out of the right one. A check is counted when it starts (a success
 * takes it back), so concurrent guesses cannot pass the lock; at most
 * LOGIN_INFLIGHT_USER checks of one user and LOGIN_INFLIGHT_ADDR of one
 * address run at once, each slot held until its refusal is answered; and
 * at most LOGIN_QUEUE_MAX wait for the one argon2 worker (503 beyond).
 */

static struct failures *
fail_get(const char *kind, const char *who, int create)
{
	char key[160];
	struct hnode *n;
	struct failures *f;

	snprintf(key, sizeof(key), "%s:%.150s", kind, who);
	if ((n = hmap_get(&da.fails, key, strlen(key))) != NULL) {
		f = hmap_entry(n, struct failures, node);
		if (clock_mono_ms() - f->first_ms < FAIL_WINDOW_MS)
			return f;
		f->count = 0; /* the window passed: start over */
		f->first_ms = clock_mono_ms();
		return f;
	}
	if (!create || (f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	snprintf(f->key, sizeof(f->key), "%s", key);
	f->first_ms = clock_mono_ms();
	if (hmap_put(&da.fails, &f->node, f->key, strlen(f->key)) < 0) {
		free(f);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&da.fail_list, f, entry);
	return f;
}

static int
fail_n(const char *kind, const char *who)
{
	struct failures *f = fail_get(kind, who, 0);

	/* cluster hook: or the cluster's count, if larger */
	return cluster_login_fails(kind, who, f ? f->count : 0);
}

/* The pair key of user at addr. */
static const char *
fail_pair(const char *user, const char *addr, char *out, size_t cap)
{
	snprintf(out, cap, "%.90s@%.64s", user, addr);
	return out;
}

/* Failures that lock: of the address, or of this user at it. */
static int
fail_count(const char *user, const char *addr)
{
	char pair[160];
	int ca = fail_n("a", addr);
	int cp = fail_n("p", fail_pair(user, addr, pair, sizeof(pair)));

	return ca > cp ? ca : cp;
}

/* Failures that slow the answer: those, and the user's from anywhere. */
static int
fail_delay_count(const char *user, const char *addr)
{
	int c = fail_count(user, addr), cu = fail_n("u", user);

	return c > cu ? c : cu;
}

static void
fail_add(const char *kind, const char *who)
{
	struct failures *f = fail_get(kind, who, 1);

	if (f)
		f->count++;
	cluster_login_failed(kind, who, 1);	/* cluster hook */
}

static void
fail_forget(const char *kind, const char *who)
{
	struct failures *f = fail_get(kind, who, 0);

	cluster_login_failed(kind, who, 0);	/* cluster hook */
	if (f) {
		hmap_del(&da.fails, &f->node);
		TAILQ_REMOVE(&da.fail_list, f, entry);
		free(f);
	}
}

/* Takes a check slot of kind:who among its first max, busy until until;
 * the slot's index, or -1 when all are busy. */
static int
slot_take(const char *kind, const char *who, int max, int64_t until)
{
	struct failures *f = fail_get(kind, who, 1);
	int64_t now = clock_mono_ms();

	for (int i = 0; f && i < max; i++)
		if (f->busy[i] <= now) {
			f->busy[i] = until;
			return i;
		}
	return -1;
}

/* Keeps slot i of kind:who busy until until (0 frees it). */
static void
slot_hold(const char *kind, const char *who, int i, int64_t until)
{
	struct failures *f = fail_get(kind, who, 0);

	if (f && i >= 0 && i < LOGIN_SLOTS)
		f->busy[i] = until;
}

void
dash_api_tick(int64_t now)
{
	struct failures *f, *fn;
	struct login *s, *sn;

	if (!da.started)
		return;
	for (f = TAILQ_FIRST(&da.fail_list); f; f = fn) {
		fn = TAILQ_NEXT(f, entry);
		if (now - f->first_ms > FAIL_WINDOW_MS) {
			hmap_del(&da.fails, &f->node);
			TAILQ_REMOVE(&da.fail_list, f, entry);
			free(f);
		}
	}
	for (s = TAILQ_FIRST(&da.login_list); s; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		if (s->expires_ms < now)
			login_drop(s);
	}
}

/* ---- login ---- */

static void
login_timeout(struct http_req *q)
{
	http_error(q, 503, "password check timed out");
}

static void
login_refused(struct http_req *q)
{
	http_error(q, 401, "wrong user or password");
}

static void
login_result(struct job *j)
{
	struct http_req *q = http_parked(j->req_id);
	const char *name = j->name;
	const struct user_conf *u = j->hash ? relay_conf_user(
	    http_relay()->conf, name) : NULL;
	struct failures *fu;
	struct login *s;
	char body[512], pair[160];
	int fails;
	int64_t due;

	da.pending--;
	/* A user removed, or given a new password, by a reload meanwhile. */
	if (u == NULL || strcmp(u->password_hash, j->hash) != 0)
		j->ok = 0;
	if (!j->ok) {
		/* Counted when the check began; the slots stay busy until
		 * the refusal is answered, whether or not anyone waits. */
		fails = fail_delay_count(name, j->peer);
		/* 250 ms, 500 ms, 1 s ... up to 5 s before the answer. */
		due = clock_mono_ms() + (fails >= 6 ? FAIL_DELAY_MAX_MS
		    : 125LL << fails);
		slot_hold("u", name, j->uslot, due);
		slot_hold("a", j->peer, j->aslot, due);
		log_info("dash login=refused user=\"%s\" peer=%s failures=%d",
		    u ? u->name : "(unknown)", j->peer, fails);
		if (q)
			http_park(q, due, login_refused);
		return;
	}
	/* The per-user count stays for its window (a login of the real
	 * user must not speed up guessing from elsewhere), less this
	 * check's own, counted in advance. */
	if ((fu = fail_get("u", name, 0)) != NULL && fu->count > 0) {
		fu->count--;
		cluster_login_failed("u", name, -1);	/* cluster hook */
	}
	slot_hold("u", name, j->uslot, 0);
	fail_forget("a", j->peer);
	fail_forget("p", fail_pair(name, j->peer, pair, sizeof(pair)));
	if (q == NULL)
		return; /* the client went away */
	if ((s = login_new(u)) == NULL) {
		http_error(q, 500, "out of memory");
		return;
	}
	set_cookie(q, s->token, LOGIN_TTL_S);
	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"account\":\"%s\"}",
	    u->name, u->account);
	log_info("dash login user=%s peer=%s", u->name, q->peer);
	if (cluster_on())	/* cluster hook: valid on every node */
		cluster_login_put(q, s->token, u, LOGIN_TTL_S, body);
	else
		http_reply(q, 200, "application/json", body);
}

void
dash_api_wakeup(void)
{
	struct joblist done;
	struct job *j;

	if (!da.started)
		return;
	pthread_mutex_lock(&da.mu);
	done = da.done;
	STAILQ_INIT(&da.done);
	if (STAILQ_EMPTY(&done))
		STAILQ_INIT(&done);
	pthread_mutex_unlock(&da.mu);
	while ((j = STAILQ_FIRST(&done)) != NULL) {
		STAILQ_REMOVE_HEAD(&done, entry);
		login_result(j);
		job_free(j);
	}
}

void
login_post(struct http_req *q)
{
	struct relay *r = http_relay();
	const char *user, *pw;
	const struct user_conf *u;
	struct job *j = NULL;
	int64_t hold = clock_mono_ms() + LOGIN_TIMEOUT_MS;
	int us, as;
	char pair[160];
	cJSON *b;

	if (dash_login_parse(q->body.data, q->body.len, &b, &user, &pw) < 0) {
		http_error(q, 400,
		    "send {\"user\":\"...\",\"password\":\"...\"}");
		goto out;
	}
	/* Checks under way count as failures already: concurrent guesses
	 * cannot all slip in before the first is counted. */
	if (fail_count(user, q->peer) >= FAIL_LOCK) {
		http_header_add(q, "retry-after:", "900");
		http_error(q, 429, "too many failed logins; try again later");
		goto out;
	}
	if (da.pending >= LOGIN_QUEUE_MAX) {
		http_header_add(q, "retry-after:", "5");
		http_error(q, 503, "too many logins are being checked; try "
		    "again in a few seconds");
		goto out;
	}
	if ((us = slot_take("u", user, LOGIN_INFLIGHT_USER, hold)) < 0 ||
	    (as = slot_take("a", q->peer, LOGIN_INFLIGHT_ADDR, hold)) < 0) {
		if (us >= 0)
			slot_hold("u", user, us, 0);
		http_header_add(q, "retry-after:", "5");
		http_error(q, 429, "another login %s is being checked; try "
		    "again in a few seconds", us < 0 ? "of this user"
		    : "from this address");
		goto out;
	}
	u = relay_conf_user(r->conf, user);
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->password = strdup(pw)) == NULL ||
	    (u && (j->hash = strdup(u->password_hash)) == NULL)) {
		slot_hold("u", user, us, 0);
		slot_hold("a", q->peer, as, 0);
		http_error(q, 500, "out of memory");
		if (j)
			job_free(j);
		goto out;
	}
	fail_add("u", user);
	fail_add("a", q->peer);
	fail_add("p", fail_pair(user, q->peer, pair, sizeof(pair)));
	j->req_id = q->id;
	snprintf(j->name, sizeof(j->name), "%s", user);
	snprintf(j->peer, sizeof(j->peer), "%s", q->peer);
	j->uslot = us;
	j->aslot = as;
	da.pending++;
	http_park(q, clock_mono_ms() + LOGIN_TIMEOUT_MS, login_timeout);
	pthread_mutex_lock(&da.mu);
	STAILQ_INSERT_TAIL(&da.todo, j, entry);
	pthread_cond_signal(&da.cv);
	pthread_mutex_unlock(&da.mu);
out:
	if (pw)
		sodium_memzero((char *)(uintptr_t)pw, strlen(pw));
	cJSON_Delete(b);
}

void
logout(struct http_req *q, struct login *s)
{
	if (s && cluster_on())	/* cluster hook: s lives in Redis */
		cluster_login_del(s->token);
	else if (s)
		login_drop(s);
	set_cookie(q, "", 0);
	http_reply(q, 200, "application/json", "{}");
}

void
login_reconf(const struct relay_conf *nc)
{
	struct login *s, *next;
	const struct user_conf *u;

	if (!da.started)
		return;
	for (s = TAILQ_FIRST(&da.login_list); s; s = next) {
		next = TAILQ_NEXT(s, entry);
		u = relay_conf_user(nc, s->user->name);
		if (u && strcmp(u->account, s->user->account) == 0 &&
		    strcmp(u->password_hash, s->user->password_hash) == 0)
			s->user = u;
		else {
			log_info("dash session=dropped user=%s why=\"user "
			    "removed or changed by a reload\"", s->user->name);
			login_drop(s);
		}
	}
}
