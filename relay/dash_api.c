/*
 * The dashboard's JSON API under /api/v1/ and its static files. Logins are
 * checked against argon2id hashes on a worker thread (never on the event
 * loop), failures are slowed per user and per address, sessions are random
 * 256-bit cookies. A user sees, authorises and reads only the hosts of its
 * own account. Every POST must come from the dashboard's own origin.
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
#include "dash_parse.h"
#include "fleet.h"
#include "hmap.h"
#include "json_check.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "reload.h"
#include "sig.h"
#include "utf8.h"

#define SESSION_TTL_S (12 * 3600)
#define SESSION_MAX 10000
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

struct session {
	struct hnode node;
	char token[65];
	const struct user_conf *user;
	int64_t expires_ms;	/* monotonic */
	TAILQ_ENTRY(session) entry;
};

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
	struct hmap sessions;
	TAILQ_HEAD(, session) session_list;
	struct hmap fails;
	TAILQ_HEAD(, failures) fail_list;
	char dummy_hash[crypto_pwhash_STRBYTES];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct joblist todo, done;	/* under mu */
	int pending;			/* jobs not yet answered (loop only) */
	int started, stop;
	char root[PATH_MAX];		/* realpath of web_root */
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

static int
dash_start(void)
{
	int err;

	if (da.started)
		return 0;
	STAILQ_INIT(&da.todo);
	STAILQ_INIT(&da.done);
	TAILQ_INIT(&da.session_list);
	TAILQ_INIT(&da.fail_list);
	if (hmap_init(&da.sessions, 64) < 0 || hmap_init(&da.fails, 64) < 0)
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
	while (!TAILQ_EMPTY(&da.session_list)) {
		struct session *s = TAILQ_FIRST(&da.session_list);

		hmap_del(&da.sessions, &s->node);
		TAILQ_REMOVE(&da.session_list, s, entry);
		free(s);
	}
	while (!TAILQ_EMPTY(&da.fail_list)) {
		struct failures *f = TAILQ_FIRST(&da.fail_list);

		TAILQ_REMOVE(&da.fail_list, f, entry);
		free(f);
	}
	hmap_free(&da.sessions);
	hmap_free(&da.fails);
	da.started = 0;
}

/* ---- sessions ---- */

static struct session *
session_of(struct http_req *q)
{
	char cookie[1024];
	const char *token;
	struct hnode *n;
	struct session *s;

	if (http_header_get(q, "cookie:", cookie, sizeof(cookie)) <= 0)
		return NULL;
	if ((token = dash_cookie_token(cookie)) == NULL)
		return NULL;
	if ((n = hmap_get(&da.sessions, token, DASH_TOKEN_LEN)) == NULL)
		return NULL;
	s = hmap_entry(n, struct session, node);
	if (s->expires_ms < clock_mono_ms())
		return NULL;
	return s;
}

static void
session_drop(struct session *s)
{
	hmap_del(&da.sessions, &s->node);
	TAILQ_REMOVE(&da.session_list, s, entry);
	sodium_memzero(s->token, sizeof(s->token));
	free(s);
}

static struct session *
session_new(const struct user_conf *u)
{
	unsigned char raw[32];
	struct session *s;

	if (da.sessions.n >= SESSION_MAX) /* drop the oldest */
		session_drop(TAILQ_FIRST(&da.session_list));
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	sig_random(raw, sizeof(raw));
	sig_hex(raw, sizeof(raw), s->token);
	s->user = u;
	s->expires_ms = clock_mono_ms() + SESSION_TTL_S * 1000LL;
	if (hmap_put(&da.sessions, &s->node, s->token, 64) < 0) {
		free(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&da.session_list, s, entry);
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

	return f ? f->count : 0;
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
}

static void
fail_forget(const char *kind, const char *who)
{
	struct failures *f = fail_get(kind, who, 0);

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
	struct session *s, *sn;

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
	for (s = TAILQ_FIRST(&da.session_list); s; s = sn) {
		sn = TAILQ_NEXT(s, entry);
		if (s->expires_ms < now)
			session_drop(s);
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
	struct session *s;
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
	if ((fu = fail_get("u", name, 0)) != NULL && fu->count > 0)
		fu->count--;
	slot_hold("u", name, j->uslot, 0);
	fail_forget("a", j->peer);
	fail_forget("p", fail_pair(name, j->peer, pair, sizeof(pair)));
	if (q == NULL)
		return; /* the client went away */
	if ((s = session_new(u)) == NULL) {
		http_error(q, 500, "out of memory");
		return;
	}
	set_cookie(q, s->token, SESSION_TTL_S);
	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"account\":\"%s\"}",
	    u->name, u->account);
	log_info("dash login user=%s peer=%s", u->name, q->peer);
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

static void
login(struct http_req *q)
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
		http_error(q, 400, "send {\"user\":\"...\",\"password\":\"...\"}");
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

static void
logout(struct http_req *q, struct session *s)
{
	if (s)
		session_drop(s);
	set_cookie(q, "", 0);
	http_reply(q, 200, "application/json", "{}");
}

/* ---- hosts ---- */

static struct host *
host_of_user(struct http_req *q, const struct session *s, const char *id)
{
	struct host *h = host_find(http_relay(), id);

	if (h == NULL) {
		http_error(q, 404, "no such host");
		return NULL;
	}
	if (strcmp(h->conf->account, s->user->account) != 0) {
		log_warnx("dash denied user=%s host=%s", s->user->name, id);
		http_error(q, 403, "host belongs to another account");
		return NULL;
	}
	return h;
}

static void
hosts_list(struct http_req *q, const struct session *s)
{
	struct relay *r = http_relay();
	int64_t now = clock_wall_ms(), mono = clock_mono_ms();
	int first = 1;

	buf_reset(&q->resp);
	buf_adds(&q->resp, "{\"hosts\":[");
	for (int i = 0; i < r->nhosts; i++) {
		struct host *h = r->hosts[i];

		if (strcmp(h->conf->account, s->user->account) != 0)
			continue;
		buf_adds(&q->resp, first ? "{\"id\":" : ",{\"id\":");
		buf_add_json_string(&q->resp, h->conf->name);
		buf_printf(&q->resp, ",\"online\":%s,\"last_seen_ms\":%lld,"
		    "\"streaming\":%s,\"last_seq\":%lld}",
		    h->last_seen_wall_ms && now - h->last_seen_wall_ms <
			HOST_ONLINE_MS ? "true" : "false",
		    (long long)h->last_seen_wall_ms,
		    host_should_stream(h, mono) ? "true" : "false", h->last_seq);
		first = 0;
	}
	buf_adds(&q->resp, "]}");
	http_reply_resp(q, 200, "application/json");
}

static void
history(struct http_req *q, const struct session *s, const char *id)
{
	const char *since = auth_param_get(q->params, q->np < 0 ? 0 : q->np,
	    "since");
	struct host *h = host_of_user(q, s, id);
	long long n = 0;

	if (h == NULL)
		return;
	if (dash_history_since(since, &n) < 0) {
		http_error(q, 400, "since must be a sample seq (an integer)");
		return;
	}
	buf_reset(&q->resp);
	host_history(h, n, &q->resp);
	http_reply_resp(q, 200, "application/json");
}

/* The user's account's summaries of the last ?seconds= (1..60, 60). */
static void
fleet_hist(struct http_req *q, const struct session *s)
{
	const char *v = auth_param_get(q->params, q->np < 0 ? 0 : q->np,
	    "seconds");
	char *end = NULL;
	long n = v ? strtol(v, &end, 10) : FLEET_HISTORY;

	if (v && (!*v || *end || n < 1 || n > FLEET_HISTORY)) {
		http_error(q, 400, "seconds must be an integer 1..%d",
		    FLEET_HISTORY);
		return;
	}
	buf_reset(&q->resp);
	if (fleet_history(http_relay(), s->user->account, (int)n,
	    &q->resp) < 0) {
		http_error(q, 500, "out of memory");
		return;
	}
	http_reply_resp(q, 200, "application/json");
}

/* pusher-js's channel authorization: form socket_id, channel_name. */
static void
pusher_auth(struct http_req *q, const struct session *s)
{
	const struct app_conf *a = http_relay()->conf->metrics;
	struct auth_param p[AUTH_MAX_PARAMS];
	char form[DASH_FORM_MAX], sig[SIG_HEX_LEN + 1], out[512];
	const char *sid, *ch;
	size_t pl = strlen(HOST_CHANNEL_PREFIX);

	if (dash_auth_form(q->body.data, q->body.len, form, p, &sid,
	    &ch) < 0) {
		http_error(q, 400, "need socket_id and channel_name");
		return;
	}
	if (strncmp(ch, FLEET_CHANNEL_PREFIX, strlen(FLEET_CHANNEL_PREFIX))
	    == 0) {
		if (strcmp(ch + strlen(FLEET_CHANNEL_PREFIX),
		    s->user->account) != 0) {
			log_warnx("dash denied user=%s channel=%s",
			    s->user->name, ch);
			http_error(q, 403, "fleet of another account");
			return;
		}
	} else if (strncmp(ch, HOST_CHANNEL_PREFIX, pl) != 0) {
		http_error(q, 403, "only private-host- and private-fleet- "
		    "channels");
		return;
	} else if (host_of_user(q, s, ch + pl) == NULL)
		return;
	snprintf(out, sizeof(out), "%s:%s", sid, ch);
	sig_hmac_sha256_hex(a->secret, strlen(a->secret), out, strlen(out),
	    sig);
	snprintf(out, sizeof(out), "{\"auth\":\"%s:%s\"}", a->key, sig);
	http_reply(q, 200, "application/json", out);
}

/* A POST must come from the page itself: an origin the relay is
 * configured to serve the dashboard from (never what Host says). */
static int
origin_ok(struct http_req *q)
{
	return relay_conf_public_origin_ok(http_relay()->conf, q->origin);
}

void
dash_api_handle(struct http_req *q)
{
	const char *p = q->path + 7; /* after /api/v1 */
	int post = strcmp(q->method, "POST") == 0;
	struct session *s;
	char body[512], id[160];

	if (dash_start() < 0) {
		http_error(q, 500, "cannot start the login worker");
		return;
	}
	if (post && !origin_ok(q)) {
		log_warnx("dash refused origin=\"%s\" host=\"%s\" path=%s",
		    q->origin, q->host_hdr, q->path);
		http_error(q, 403, "cross-origin request refused");
		return;
	}
	if (post && strcmp(p, "/login") == 0) {
		login(q);
		return;
	}
	if ((s = session_of(q)) == NULL) {
		http_error(q, 401, "log in first");
		return;
	}
	if (post && strcmp(p, "/logout") == 0)
		logout(q, s);
	else if (!post && strcmp(p, "/me") == 0) {
		snprintf(body, sizeof(body), "{\"user\":\"%s\",\"account\":"
		    "\"%s\",\"app_key\":\"%s\"}", s->user->name,
		    s->user->account, http_relay()->conf->metrics
		    ? http_relay()->conf->metrics->key : "");
		http_reply(q, 200, "application/json", body);
	} else if (!post && strcmp(p, "/hosts") == 0)
		hosts_list(q, s);
	else if (!post && strcmp(p, "/fleet/history") == 0)
		fleet_hist(q, s);
	else if (!post && dash_history_path(p, id, sizeof(id)) == 0)
		history(q, s, id);
	else if (post && strcmp(p, "/pusher/auth") == 0)
		pusher_auth(q, s);
	else
		http_error(q, 404, "no such API endpoint");
}

/* ---- static files ---- */

static const char *
mime_of(const char *path)
{
	static const struct {
		const char *ext, *mime;
	} types[] = {
		{".html", "text/html; charset=utf-8"},
		{".js", "text/javascript; charset=utf-8"},
		{".css", "text/css; charset=utf-8"},
		{".json", "application/json"},
		{".svg", "image/svg+xml"},
		{".png", "image/png"},
		{".ico", "image/x-icon"},
		{".woff2", "font/woff2"},
		{".map", "application/json"},
		{".txt", "text/plain; charset=utf-8"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].mime;
	return "application/octet-stream";
}

/* Resolves path under the root; 0 with real set, or -1 (outside/absent). */
static int
resolve(const char *path, char real[PATH_MAX])
{
	char full[PATH_MAX + 1100];
	size_t rl = strlen(da.root);
	struct stat st;

	if (strstr(path, "..") || strchr(path, '\\'))
		return -1;
	snprintf(full, sizeof(full), "%s%s", da.root, path);
	if (realpath(full, real) == NULL)
		return -1;
	if (strncmp(real, da.root, rl) != 0 || (real[rl] != '/' &&
	    real[rl] != '\0'))
		return -1; /* a symlink out of web_root */
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	return 0;
}

int
dash_static(struct http_req *q)
{
	const char *web_root = http_relay()->conf->web_root;
	char real[PATH_MAX], path[1100], gz[PATH_MAX + 4];
	const char *cache = "no-cache";
	struct stat st;
	int gzip;

	if (web_root == NULL)
		return -1;
	if (!da.root[0] && realpath(web_root, da.root) == NULL) {
		log_warn("dash web_root=%s", web_root);
		return -1;
	}
	snprintf(path, sizeof(path), "%s%s", q->path,
	    q->path[strlen(q->path) - 1] == '/' ? "index.html" : "");
	if (resolve(path, real) < 0) {
		log_info("dash static=refused path=\"%.*s\" peer=%s",
		    utf8_prec(q->path, 200), q->path, q->peer);
		return -1; /* the page routes by #hash: nothing else exists */
	}
	if (strncmp(q->path, "/assets/", 8) == 0)
		cache = "public, max-age=31536000, immutable";
	/* build.mjs writes FILE.gz beside each text file; a regular file
	 * only, so a planted symlink cannot lead out of web_root. */
	snprintf(gz, sizeof(gz), "%s.gz", real);
	gzip = q->gzip_ok && lstat(gz, &st) == 0 && S_ISREG(st.st_mode);
	/* On failure the glue has cut the connection. */
	(void)http_serve_file(q, gzip ? gz : real, mime_of(real), cache,
	    gzip);
	return 0;
}

void
dash_api_reconf(const struct relay_conf *nc)
{
	struct session *s, *next;
	const struct user_conf *u;

	da.root[0] = '\0'; /* web_root may have changed */
	if (!da.started)
		return;
	for (s = TAILQ_FIRST(&da.session_list); s; s = next) {
		next = TAILQ_NEXT(s, entry);
		u = relay_conf_user(nc, s->user->name);
		if (u && strcmp(u->account, s->user->account) == 0 &&
		    strcmp(u->password_hash, s->user->password_hash) == 0)
			s->user = u;
		else {
			log_info("dash session=dropped user=%s why=\"user "
			    "removed or changed by a reload\"", s->user->name);
			session_drop(s);
		}
	}
}
