/*
 * Webhook delivery. The event loop builds each event and either queues it
 * for the worker or, for channel_vacated and member_removed, parks it for
 * 3 s (docs/pusher-protocol.md "Webhooks": debounce of page reloads; with
 * Redis the hold is kept there instead, cluster_webhook.c). The worker
 * thread owns one curl handle (keep-alive), batches the events of an app
 * as Pusher does (at most 250 ms or 20 events per POST), signs each body
 * with the app secret, and retries a failed POST, the same body, with
 * exponential back-off for up to 5 minutes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <curl/curl.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "conn.h"
#include "sign.h"
#include "webhook.h"

#include <sodium.h>

#define WEBHOOK_DELAY_MS 3000
#define WEBHOOK_RETRY_FOR_MS (5 * 60 * 1000)
#define WEBHOOK_QUEUE_MAX 10000
#define WEBHOOK_STOP_MS 500	/* sending on after a stop was asked */
#define WEBHOOK_BATCH_MS 250	/* Pusher's batch window ... */
#define WEBHOOK_BATCH_MAX 20	/* ... and its events per POST */
#define WEBHOOK_BATCH_BYTES (1 << 20)	/* a POST takes more only alone */

/* A hook holds copies of its app's settings: a reload may free the
 * app_conf while the worker still sends (reload.c). */
struct hook_app {
	char *name, *key, *secret, *webhook_url;
};

struct hook {
	TAILQ_ENTRY(hook) entry;
	const struct app *owner;	/* identity only, for cancel_parked */
	struct hook_app app[1];
	char *body;		/* one event's JSON, or a POST's (batch) */
	size_t len;
	int batch;		/* body is a whole POST, being retried */
	int64_t first_ms, due_ms;
	int attempts;
	/* for parked events: what cancels them */
	char *kind, *channel, *user_id;
};
TAILQ_HEAD(hooklist, hook);

static struct {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hooklist queue;	/* shared with the worker, under mu */
	int queued;
	int stop;
	int64_t stop_by_ms;	/* with stop: give up what is left then */
	int running;
	struct hooklist parked;	/* event loop only */
} wh = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void
hook_free(struct hook *h)
{
	if (h == NULL)
		return;
	free(h->app->name);
	free(h->app->key);
	if (h->app->secret) {
		sodium_memzero(h->app->secret, strlen(h->app->secret));
		free(h->app->secret);
	}
	free(h->app->webhook_url);
	free(h->body);
	free(h->kind);
	free(h->channel);
	free(h->user_id);
	free(h);
}

static void
enqueue(struct hook *h)
{
	pthread_mutex_lock(&wh.mu);
	if (wh.queued >= WEBHOOK_QUEUE_MAX) {
		pthread_mutex_unlock(&wh.mu);
		atomic_fetch_add(&metrics.webhook_failures, 1);
		log_warnx("webhook dropped=queue_full app=%s", h->app->name);
		hook_free(h);
		return;
	}
	TAILQ_INSERT_TAIL(&wh.queue, h, entry);
	wh.queued++;
	pthread_cond_signal(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
}

static int
post(CURL *curl, const struct hook *h, long *status)
{
	char sig[SIGN_HEX_LEN + 1], hdr_sig[128], hdr_key[300];
	struct curl_slist *hdrs = NULL;
	CURLcode rc;

	sign_hmac_sha256_hex(h->app->secret, strlen(h->app->secret), h->body,
	    h->len, sig);
	snprintf(hdr_sig, sizeof(hdr_sig), "X-Pusher-Signature: %s", sig);
	snprintf(hdr_key, sizeof(hdr_key), "X-Pusher-Key: %s", h->app->key);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, hdr_key);
	hdrs = curl_slist_append(hdrs, hdr_sig);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_easy_setopt(curl, CURLOPT_URL, h->app->webhook_url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, h->body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)h->len);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(hdrs);
	*status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	return rc == CURLE_OK && *status >= 200 && *status < 300 ? 0 : -EIO;
}

static size_t
discard(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

static int
same_app(const struct hook *a, const struct hook *b)
{
	return strcmp(a->app->name, b->app->name) == 0 &&
	    strcmp(a->app->key, b->app->key) == 0 &&
	    strcmp(a->app->secret, b->app->secret) == 0 &&
	    strcmp(a->app->webhook_url, b->app->webhook_url) == 0;
}

static void
wait_ms(int64_t wait)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait / 1000;
	ts.tv_nsec += (wait % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&wh.cv, &wh.mu, &ts);
}

/*
 * One POST of like's app: its due events in queue order, at most
 * WEBHOOK_BATCH_MAX, in {"time_ms":..,"events":[..]}. The first of them
 * becomes the POST (it keeps its app copy), the others are freed; NULL
 * when out of memory (the events are dropped). Under mu.
 */
static struct hook *
make_batch(const struct hook *like, int64_t now)
{
	struct hook *h, *nx, *post = NULL;
	struct buf b;
	int n = 0, e;

	buf_init(&b, (size_t)1 << 30);
	e = buf_printf(&b, "{\"time_ms\":%lld,\"events\":[",
	    (long long)clock_wall_ms());
	for (h = TAILQ_FIRST(&wh.queue); h && n < WEBHOOK_BATCH_MAX; h = nx) {
		nx = TAILQ_NEXT(h, entry);
		/* like may be freed below: once one is taken, compare
		 * with that one (the same app) */
		if (h->batch || h->due_ms > now ||
		    !same_app(h, post ? post : like))
			continue;
		if (n && b.len + h->len > WEBHOOK_BATCH_BYTES)
			break;
		e |= buf_printf(&b, "%s%s", n++ ? "," : "", h->body);
		TAILQ_REMOVE(&wh.queue, h, entry);
		wh.queued--;
		if (post == NULL)
			post = h;
		else
			hook_free(h);
	}
	e |= buf_adds(&b, "]}");
	if (e) {
		atomic_fetch_add(&metrics.webhook_failures, n);
		log_warnx("webhook dropped=no_memory app=%s events=%d",
		    post->app->name, n);
		buf_free(&b);
		hook_free(post);
		return NULL;
	}
	free(post->body);
	post->body = b.data;
	post->len = b.len;
	post->batch = 1;
	return post;
}

/*
 * The next POST to send, or NULL after waiting until one may be. An
 * event's batch closes WEBHOOK_BATCH_MS after it was due, or once
 * WEBHOOK_BATCH_MAX events of its app are due (at once while stopping).
 */
static struct hook *
next_due(void)
{
	struct hook *h, *best = NULL;
	int64_t now = clock_mono_ms(), wait, close;
	int n = 0;

	TAILQ_FOREACH(h, &wh.queue, entry)
		if (!best || h->due_ms < best->due_ms)
			best = h;
	if (best == NULL) {
		pthread_cond_wait(&wh.cv, &wh.mu);
		return NULL;
	}
	wait = best->due_ms - now;
	if (wait <= 0 && best->batch) {
		TAILQ_REMOVE(&wh.queue, best, entry);
		wh.queued--;
		return best;
	}
	if (wait <= 0) {
		close = best->due_ms + (wh.stop ? 0 : WEBHOOK_BATCH_MS);
		TAILQ_FOREACH(h, &wh.queue, entry)
			n += !h->batch && h->due_ms <= now && same_app(h, best);
		if (now >= close || n >= WEBHOOK_BATCH_MAX)
			return make_batch(best, now);
		wait = close - now;
	}
	if (wh.stop && wait > wh.stop_by_ms - now)
		wait = wh.stop_by_ms > now ? wh.stop_by_ms - now : 0;
	wait_ms(wait);
	return NULL;
}

static void
attempt(CURL *curl, struct hook *h)
{
	long status;
	int64_t now;

	if (post(curl, h, &status) == 0) {
		atomic_fetch_add(&metrics.webhooks_sent, 1);
		hook_free(h);
		return;
	}
	atomic_fetch_add(&metrics.webhook_failures, 1);
	now = clock_mono_ms();
	h->attempts++;
	if (now - h->first_ms > WEBHOOK_RETRY_FOR_MS || wh.stop) {
		log_warnx("webhook dropped=gave_up app=%s url=%s attempts=%d "
		    "status=%ld", h->app->name, h->app->webhook_url,
		    h->attempts, status);
		hook_free(h);
		return;
	}
	/* 1 s, 2 s, 4 s ... capped at 60 s, with up to 25 % jitter. */
	h->due_ms = now +
	    (h->attempts > 6 ? 60000 : 1000L << (h->attempts - 1));
	h->due_ms += (int64_t)sign_random_below(250) * (h->due_ms - now) / 1000;
	log_info("webhook retry app=%s url=%s attempt=%d status=%ld",
	    h->app->name, h->app->webhook_url, h->attempts, status);
	enqueue(h);
}

/* 1 when a hook in the queue is due (a batch being collected). */
static int
any_due(void)
{
	struct hook *h;
	int64_t now = clock_mono_ms();

	TAILQ_FOREACH(h, &wh.queue, entry)
		if (h->due_ms <= now)
			return 1;
	return 0;
}

static void *
worker(void *arg)
{
	CURL *curl = curl_easy_init();
	struct hook *h;

	(void)arg;
	if (curl == NULL)
		return NULL;
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "sno-relay/" SNO_VERSION);
	pthread_mutex_lock(&wh.mu);
	while (!(wh.stop && TAILQ_EMPTY(&wh.queue))) {
		if (wh.stop && clock_mono_ms() >= wh.stop_by_ms)
			break;
		if ((h = next_due()) == NULL) {
			if (wh.stop && !any_due()) /* due later: give up */
				break;
			continue;
		}
		pthread_mutex_unlock(&wh.mu);
		attempt(curl, h);
		pthread_mutex_lock(&wh.mu);
	}
	if (wh.queued > 0) {
		atomic_fetch_add(&metrics.webhook_failures, wh.queued);
		log_warnx("webhook dropped=stopping count=%d", wh.queued);
	}
	while ((h = TAILQ_FIRST(&wh.queue)) != NULL) {
		TAILQ_REMOVE(&wh.queue, h, entry);
		hook_free(h);
	}
	wh.queued = 0;
	pthread_mutex_unlock(&wh.mu);
	curl_easy_cleanup(curl);
	return NULL;
}

int
webhook_start(struct relay *r)
{
	static int inited;
	int need = 0, err;

	if (wh.running)
		return 0;
	if (!inited) {
		TAILQ_INIT(&wh.queue);
		TAILQ_INIT(&wh.parked);
		inited = 1;
	}
	wh.stop = 0;
	for (int i = 0; i < r->napps; i++)
		need |= r->apps[i]->conf->webhook_url != NULL;
	if (!need)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	/* pthread functions return the error; errno is not set. */
	if ((err = pthread_create(&wh.thread, NULL, worker, NULL)) != 0)
		return -err;
	wh.running = 1;
	return 0;
}

void
webhook_stop(void)
{
	struct hook *h;

	/* The held ones are sent now: the relay is going, so their members
	 * and channels are not coming back to it. */
	while ((h = TAILQ_FIRST(&wh.parked)) != NULL) {
		TAILQ_REMOVE(&wh.parked, h, entry);
		h->due_ms = clock_mono_ms();
		if (wh.running)
			enqueue(h);
		else
			hook_free(h);
	}
	if (!wh.running)
		return;
	pthread_mutex_lock(&wh.mu);
	wh.stop = 1;
	/* What is due goes out, but not for longer than this: SIGTERM stops
	 * the relay within 2 s (a hook being sent may take its own timeout;
	 * the stop's alarm cuts that). */
	wh.stop_by_ms = clock_mono_ms() + WEBHOOK_STOP_MS;
	pthread_cond_signal(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
	pthread_join(wh.thread, NULL);
	curl_global_cleanup();
	wh.running = 0;
}

static struct hook *
hook_new(struct app *a, struct buf *ev)
{
	struct hook *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->owner = a;
	h->app->name = strdup(a->conf->name);
	h->app->key = strdup(a->conf->key);
	h->app->secret = strdup(a->conf->secret);
	h->app->webhook_url = strdup(a->conf->webhook_url);
	h->body = strdup(ev->data);
	if (!h->app->name || !h->app->key || !h->app->secret ||
	    !h->app->webhook_url || !h->body) {
		hook_free(h);
		return NULL;
	}
	h->len = ev->len;
	h->first_ms = h->due_ms = clock_mono_ms();
	return h;
}

/* Cancels a parked opposite of (kind, channel, user); 1 if one was. */
static int
cancel_parked(const struct app *app, const char *kind,
    const char *channel, const char *user_id)
{
	struct hook *h;

	TAILQ_FOREACH(h, &wh.parked, entry) {
		if (h->owner == app && strcmp(h->kind, kind) == 0 &&
		    strcmp(h->channel, channel) == 0 &&
		    (!user_id || strcmp(h->user_id, user_id) == 0)) {
			TAILQ_REMOVE(&wh.parked, h, entry);
			hook_free(h);
			return 1;
		}
	}
	return 0;
}

/* hold: vacated and member_removed wait (and occupied and added cancel
 * them) here; else every event is queued at once. */
static void
event(struct app *a, const char *name, const char *channel,
    const char *user_id, int hold)
{
	int park = hold && (strcmp(name, "channel_vacated") == 0 ||
	    strcmp(name, "member_removed") == 0);
	struct hook *h;
	struct buf ev;
	int e;

	if (!a->conf->webhook_url || !wh.running)
		return;
	if (hold && strcmp(name, "channel_occupied") == 0 &&
	    cancel_parked(a, "channel_vacated", channel, NULL))
		return;
	if (hold && strcmp(name, "member_added") == 0 &&
	    cancel_parked(a, "member_removed", channel, user_id))
		return;
	buf_init(&ev, 1 << 16);
	e = buf_adds(&ev, "{");
	e |= buf_add_json_field(&ev, "name", name, 1);
	e |= buf_add_json_field(&ev, "channel", channel, 0);
	if (user_id)
		e |= buf_add_json_field(&ev, "user_id", user_id, 0);
	e |= buf_adds(&ev, "}");
	h = e ? NULL : hook_new(a, &ev);
	buf_free(&ev);
	if (h == NULL)
		return;
	if (!park) {
		enqueue(h);
		return;
	}
	h->kind = strdup(name);
	h->channel = strdup(channel);
	h->user_id = strdup(user_id ? user_id : "");
	h->due_ms += WEBHOOK_DELAY_MS;
	if (!h->kind || !h->channel || !h->user_id) {
		hook_free(h);
		return;
	}
	TAILQ_INSERT_TAIL(&wh.parked, h, entry);
}

void
webhook_event(struct app *a, const char *name, const char *channel,
    const char *user_id)
{
	event(a, name, channel, user_id, 1);
}

void
webhook_event_now(struct app *a, const char *name, const char *channel,
    const char *user_id)
{
	event(a, name, channel, user_id, 0);
}

void
webhook_client_event(struct app *a, const char *channel, const char *event,
    const char *data, const char *socket_id, const char *user_id)
{
	struct hook *h;
	struct buf ev;
	int e;

	if (!a->conf->webhook_url || !wh.running)
		return;
	buf_init(&ev, (size_t)1 << 30);
	e = buf_adds(&ev, "{");
	e |= buf_add_json_field(&ev, "name", "client_event", 1);
	e |= buf_add_json_field(&ev, "channel", channel, 0);
	e |= buf_add_json_field(&ev, "event", event, 0);
	e |= buf_add_json_field(&ev, "data", data, 0);
	e |= buf_add_json_field(&ev, "socket_id", socket_id, 0);
	if (user_id)
		e |= buf_add_json_field(&ev, "user_id", user_id, 0);
	e |= buf_adds(&ev, "}");
	h = e ? NULL : hook_new(a, &ev);
	buf_free(&ev);
	if (h)
		enqueue(h);
}

void
webhook_tick(int64_t now_ms)
{
	struct hook *h, *next;

	for (h = TAILQ_FIRST(&wh.parked); h; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->due_ms <= now_ms) {
			TAILQ_REMOVE(&wh.parked, h, entry);
			enqueue(h);
		}
	}
}

void
webhook_forget(const struct app *a)
{
	struct hook *h, *next;

	for (h = TAILQ_FIRST(&wh.parked); h; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->owner == a) {
			TAILQ_REMOVE(&wh.parked, h, entry);
			hook_free(h);
		}
	}
}
