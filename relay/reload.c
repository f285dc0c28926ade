/*
 * Reload without dropping connections. A reload is two phases:
 *   prepare: parse the file(s) into a new relay_conf, validate it, load the
 *            TLS pair into a scratch SSL_CTX, allocate the new app and host
 *            arrays, new apps and hosts, and resized history rings. Any
 *            failure here frees what was made and leaves the relay as it was.
 *   commit:  cannot fail. Connections of removed apps are closed (4100),
 *            viewers of removed or re-accounted hosts too (4200), parked
 *            check-ins of removed hosts answered; apps and hosts that stay
 *            (same name; an app also keeps its key) keep their channels,
 *            users, sessions, rings and last_seq and are pointed at their new
 *            conf; dashboard sessions follow their user; the new conf's
 *            contents are swapped into the relay's struct and the old freed.
 * listen, tls_listen, max_message_bytes and the cluster's redis,
 * redis_prefix and node_id need a restart: a reload keeps the running
 * value and says so. send_queue_bytes applies to new
 * connections.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-daemon.h>

#include "channel.h"
#include "cluster.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "fleet.h"
#include "reload.h"
#include "webhook.h"

static struct {
	const char *path;
	volatile sig_atomic_t pending;
	int reloads, failures;
	char last_error[CONF_ERR_LEN];
} rl;

/* What prepare made; commit consumes it, plan_free undoes it. */
struct plan {
	struct relay_conf *nc;
	struct app **apps;		/* nc->napps: kept or new */
	struct host **hosts;		/* nc->nhosts: kept or new */
	struct hist **rings;		/* per new host: new ring, or NULL */
	char *app_kept;			/* per old app */
	char *host_kept;		/* per old host */
	SSL_CTX *tls;
	int apps_added, hosts_added;
};

void
reload_init(const char *path)
{
	rl.path = path;
}

void
reload_request(void)
{
	rl.pending = 1;
	http_wake_loop();
}

static unsigned long long
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}

void
ops_ready(struct relay *r)
{
	sd_notifyf(0, "READY=1\nSTATUS=serving %d apps, %d hosts%s", r->napps,
	    r->nhosts, rl.failures && rl.last_error[0]
	    ? "; the last reload failed" : "");
}

void
ops_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

int
ops_readyz(const struct relay *r, int listening, struct buf *out)
{
	int ready = listening && r->conf != NULL && !r->shutting_down;

	if (!cluster_ready())		/* cluster hook */
		ready = 0;
	buf_printf(out, "{\"ready\":%s,\"redis\":%s,\"listeners\":%s,"
	    "\"config\":%s,"
	    "\"stopping\":%s,\"reloads\":%d,\"reload_failures\":%d,"
	    "\"last_reload_error\":", ready ? "true" : "false",
	    cluster_ready() ? "true" : "false",
	    listening ? "true" : "false", r->conf ? "true" : "false",
	    r->shutting_down ? "true" : "false", rl.reloads, rl.failures);
	if (rl.last_error[0])
		buf_add_json_string(out, rl.last_error);
	else
		buf_adds(out, "null");
	buf_adds(out, "}");
	return ready ? 200 : 503;
}

void
reload_poll(struct relay *r)
{
	if (!rl.pending || r->shutting_down)
		return;
	rl.pending = 0;
	/* systemd's reload protocol (Type=notify-reload, systemd 253): the
	 * MONOTONIC_USEC stamp ties RELOADING=1 to this SIGHUP. Older
	 * managers ignore the field. */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    mono_usec());
	reload_run(r);
	ops_ready(r);
}

/* ---- TLS ---- */

static void
tls_error(char *err, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, CONF_ERR_LEN, "%.200s:0: %s %.200s: %s", rl.path, what,
	    file, why ? why : "cannot load");
	ERR_clear_error();
}

/* Loads cert and key into a scratch context and checks they match. */
static SSL_CTX *
tls_load(const char *cert, const char *key, char *err)
{
	SSL_CTX *t = SSL_CTX_new(TLS_server_method());

	if (t == NULL) {
		tls_error(err, "tls_cert", cert);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(t, cert) != 1) {
		tls_error(err, "tls_cert", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t, key, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, "tls_key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(t) != 1) {
		tls_error(err, "tls_key does not match tls_cert", key);
		goto fail;
	}
	return t;
fail:
	SSL_CTX_free(t);
	return NULL;
}

/* Puts the scratch context's pair into the listener's: new handshakes use
 * it, established connections keep their session. 0 or -1. */
static int
tls_apply(SSL_CTX *live, SSL_CTX *t)
{
	X509 *x = SSL_CTX_get0_certificate(t);
	EVP_PKEY *k = SSL_CTX_get0_privatekey(t);
	STACK_OF(X509) *chain = NULL;
	int ok;

	SSL_CTX_get0_chain_certs(t, &chain);
	ok = SSL_CTX_use_cert_and_key(live, x, k, chain, 1) == 1;
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* ---- prepare ---- */

static void
plan_free(struct plan *p, const struct relay *r)
{
	/* New apps and hosts are the ones whose conf is in nc and which
	 * the relay does not hold. */
	if (p->apps)
		for (int i = 0; i < p->nc->napps; i++) {
			int held = 0;

			for (int j = 0; j < r->napps; j++)
				held |= r->apps[j] == p->apps[i];
			if (!held)
				relay_app_free(p->apps[i]);
		}
	if (p->hosts)
		for (int i = 0; i < p->nc->nhosts; i++) {
			int held = 0;

			for (int j = 0; j < r->nhosts; j++)
				held |= r->hosts[j] == p->hosts[i];
			if (!held)
				host_free(p->hosts[i]);
		}
	if (p->rings)
		for (int i = 0; i < p->nc->nhosts; i++)
			free(p->rings[i]);
	free(p->rings);
	free(p->apps);
	free(p->hosts);
	free(p->app_kept);
	free(p->host_kept);
	if (p->tls)
		SSL_CTX_free(p->tls);
	if (p->nc) {
		relay_conf_free(p->nc);
		free(p->nc);
	}
	memset(p, 0, sizeof(*p));
}

static int
same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/*
 * A key only a restart can change keeps its running value; 0 or -ENOMEM.
 * The value logged is cut of a "user:password@" (a redis URL's).
 */
static int
keep_str(const char *key, char **nv, const char *old)
{
	const char *at = old ? strrchr(old, '@') : NULL;
	const char *sch = old ? strstr(old, "://") : NULL;

	if (same(*nv, old))
		return 0;
	if (at && sch && sch < at)
		log_warnx("relay reload key=%s msg=\"takes effect at the next "
		    "restart; still %.*s%s\"", key, (int)(sch + 3 - old), old,
		    at + 1);
	else
		log_warnx("relay reload key=%s msg=\"takes effect at the "
		    "next restart; still %s\"", key, old ? old : "(none)");
	free(*nv);
	*nv = NULL;
	if (old && (*nv = strdup(old)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
prepare_keys(struct relay *r, struct plan *p, char *err)
{
	struct relay_conf *o = r->conf, *nc = p->nc;
	int lvl = log_level_current, bad;

	bad = log_set_level(nc->log_level) < 0;
	log_level_current = lvl;
	if (bad) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: log_level: '%s' is not "
		    "error, warn, info or debug", rl.path, nc->log_level);
		return -1;
	}
	/* The cluster's connections, leases and keys are made once at
	 * start (cluster_start): the keys that shape them need a restart. */
	if (keep_str("listen", &nc->listen, o->listen) < 0 ||
	    keep_str("tls_listen", &nc->tls_listen, o->tls_listen) < 0 ||
	    keep_str("redis", &nc->redis, o->redis) < 0 ||
	    keep_str("redis_prefix", &nc->redis_prefix, o->redis_prefix) < 0 ||
	    keep_str("node_id", &nc->node_id, o->node_id) < 0)
		goto nomem;
	if (nc->max_message_bytes != o->max_message_bytes) {
		log_warnx("relay reload key=max_message_bytes msg=\"takes "
		    "effect at the next restart; still %ld\"",
		    o->max_message_bytes);
		nc->max_message_bytes = o->max_message_bytes;
	}
	if (nc->tls_listen && r->tls_ctx) {
		if (!nc->tls_cert || !nc->tls_key) {
			snprintf(err, CONF_ERR_LEN, "%.200s:0: tls_cert and "
			    "tls_key are needed while tls_listen is open "
			    "(restart to close it)", rl.path);
			return -1;
		}
		if ((p->tls = tls_load(nc->tls_cert, nc->tls_key, err)) ==
		    NULL)
			return -1;
	}
	return 0;
nomem:
	snprintf(err, CONF_ERR_LEN, "%.200s:0: out of memory", rl.path);
	return -1;
}

/* History rings take history_seconds; a changed value resizes kept ones. */
static int
prepare_hosts(struct relay *r, struct plan *p)
{
	struct relay_conf *nc = p->nc;

	for (int i = 0; i < nc->nhosts; i++) {
		struct host *h = NULL;

		for (int j = 0; j < r->nhosts && !h; j++)
			if (!p->host_kept[j] && strcmp(r->hosts[j]->conf->name,
				nc->hosts[i].name) == 0) {
				h = r->hosts[j];
				p->host_kept[j] = 1;
			}
		if (h == NULL) {
			/* host_new sizes the ring from r->conf. */
			long keep = r->conf->history_seconds;

			r->conf->history_seconds = nc->history_seconds;
			h = host_new(r, &nc->hosts[i]);
			r->conf->history_seconds = keep;
			if (h == NULL)
				return -ENOMEM;
			p->hosts_added++;
		} else if ((uint32_t)nc->history_seconds != h->ring_cap &&
		    (p->rings[i] = calloc((size_t)nc->history_seconds,
			sizeof(struct hist))) == NULL)
			return -ENOMEM;
		p->hosts[i] = h;
	}
	return 0;
}

static int
prepare(struct relay *r, struct plan *p, char *err)
{
	struct relay_conf *nc;

	memset(p, 0, sizeof(*p));
	if ((nc = p->nc = calloc(1, sizeof(*nc))) == NULL)
		goto nomem;
	if (relay_conf_load(nc, rl.path, err) < 0 ||
	    prepare_keys(r, p, err) < 0)
		return -1;
	if ((p->apps = calloc((size_t)nc->napps + 1, sizeof(*p->apps))) ==
	    NULL ||
	    (p->hosts = calloc((size_t)nc->nhosts + 1, sizeof(*p->hosts))) ==
	    NULL ||
	    (p->rings = calloc((size_t)nc->nhosts + 1, sizeof(*p->rings))) ==
	    NULL ||
	    (p->app_kept = calloc((size_t)r->napps + 1, 1)) == NULL ||
	    (p->host_kept = calloc((size_t)r->nhosts + 1, 1)) == NULL)
		goto nomem;
	for (int i = 0; i < nc->napps; i++) {
		struct app *a = NULL;

		/* The same app: same name and key (a new key is a new app:
		 * its clients must come back with it). */
		for (int j = 0; j < r->napps && !a; j++)
			if (!p->app_kept[j] &&
			    strcmp(r->apps[j]->conf->name, nc->apps[i].name) ==
			    0 && strcmp(r->apps[j]->conf->key,
				nc->apps[i].key) == 0) {
				a = r->apps[j];
				p->app_kept[j] = 1;
			}
		if (a == NULL) {
			if ((a = relay_app_new(r, &nc->apps[i])) == NULL)
				goto nomem;
			p->apps_added++;
		}
		p->apps[i] = a;
	}
	if (prepare_hosts(r, p) < 0)
		goto nomem;
	return 0;
nomem:
	snprintf(err, CONF_ERR_LEN, "%.200s:0: out of memory", rl.path);
	return -1;
}

/* ---- commit ---- */

static void
close_app_conns(struct relay *r, struct app *a)
{
	struct conn *c;

	TAILQ_FOREACH(c, &r->conns, entry) {
		if (c->app != a)
			continue;
		channel_unsubscribe_all(c);
		user_signout(c);
		c->app = NULL;
		conn_close(c, CLOSE_APP_REMOVED,
		    "app removed from the relay's configuration");
	}
	webhook_forget(a);
}

static struct app *
metrics_app_of(struct app **apps, int n, const struct app_conf *m)
{
	for (int i = 0; i < n; i++)
		if (apps[i]->conf == m)
			return apps[i];
	return NULL;
}

static void
checkin_gone(struct http_req *q)
{
	q->host = NULL;
	http_error(q, 401, "unknown host (removed from the relay's "
	    "configuration)");
}

/* Viewers of h lose their websocket: they come back and ask the dashboard
 * API again, which now knows whether h is theirs. */
static int
close_viewers(struct app *m, struct host *h)
{
	struct channel *ch = m ? channel_find(m, h->channel) : NULL;
	struct sub *s;
	int n = 0;

	if (ch == NULL)
		return 0;
	TAILQ_FOREACH(s, &ch->subs, ch_entry) {
		conn_close(s->conn, CLOSE_HOST_REMOVED,
		    "host removed or moved by a reload");
		n++;
	}
	return n;
}

static void
ring_resize(struct host *h, struct hist *ring, uint32_t cap)
{
	uint32_t keep = h->ring_len < cap ? h->ring_len : cap;
	uint32_t skip = h->ring_len - keep;

	for (uint32_t i = 0; i < h->ring_len; i++) {
		struct hist *e = &h->ring[(h->ring_head + i) % h->ring_cap];

		if (i < skip)
			free(e->json);
		else
			ring[i - skip] = *e;
	}
	free(h->ring);
	h->ring = ring;
	h->ring_cap = cap;
	h->ring_head = 0;
	h->ring_len = keep;
}

static void
commit_hosts(struct relay *r, struct plan *p, struct app *old_m)
{
	struct relay_conf *nc = p->nc;
	/* Kept apps still point at their old conf: find by index. */
	struct app *new_m = nc->metrics ? p->apps[nc->metrics - nc->apps]
	    : NULL;
	int viewers = 0;

	for (int j = 0; j < r->nhosts; j++) {
		struct host *h = r->hosts[j];
		const struct host_conf *hc = p->host_kept[j]
		    ? relay_conf_host(nc, h->conf->name) : NULL;

		if (!hc || old_m != new_m ||
		    strcmp(hc->account, h->conf->account) != 0)
			viewers += close_viewers(old_m, h);
		if (!hc) {
			log_info("relay reload host=%s msg=\"removed\"",
			    h->conf->name);
			http_parked_host(h, checkin_gone);
			host_free(h);
		}
	}
	for (int i = 0; i < nc->nhosts; i++) {
		p->hosts[i]->conf = &nc->hosts[i];
		if (p->rings[i]) {
			ring_resize(p->hosts[i], p->rings[i],
			    (uint32_t)nc->history_seconds);
			p->rings[i] = NULL;
		}
	}
	if (viewers)
		log_info("relay reload viewers_closed=%d code=%d", viewers,
		    CLOSE_HOST_REMOVED);
	free(r->hosts);
	r->hosts = p->hosts;
	r->nhosts = nc->nhosts;
	p->hosts = NULL;
}

static void
commit(struct relay *r, struct plan *p)
{
	struct relay_conf *nc = p->nc, tmp;
	struct app *old_m = metrics_app_of(r->apps, r->napps,
	    r->conf->metrics);
	int apps_removed = 0, hosts_removed = r->nhosts;

	/* Hosts first: their viewers are found in the old metrics app. */
	for (int j = 0; j < r->nhosts; j++)
		hosts_removed -= p->host_kept[j];
	commit_hosts(r, p, old_m);
	for (int j = 0; j < r->napps; j++) {
		if (p->app_kept[j])
			continue;
		log_info("relay reload app=%s msg=\"removed\" code=%d",
		    r->apps[j]->conf->name, CLOSE_APP_REMOVED);
		close_app_conns(r, r->apps[j]);
		relay_app_free(r->apps[j]);
		apps_removed++;
	}
	for (int i = 0; i < nc->napps; i++)
		p->apps[i]->conf = &nc->apps[i];
	free(r->apps);
	r->apps = p->apps;
	r->napps = nc->napps;
	p->apps = NULL;
	dash_api_reconf(nc);
	/* Swap contents: r->conf keeps its address (main owns it); every
	 * pointer into it points into heap arrays that move with it. */
	tmp = *r->conf;
	*r->conf = *nc;
	*nc = tmp;
	log_set_level(r->conf->log_level);
	if (fleets_reconf(r) < 0)
		log_error("relay reload msg=\"out of memory for the fleet "
		    "views; they are back at the next reload\"");
	if (p->tls && tls_apply(r->tls_ctx, p->tls) < 0)
		log_error("relay reload msg=\"cannot install the new TLS "
		    "certificate; the listener keeps the old one\"");
	if (webhook_start(r) < 0)
		log_error("relay reload msg=\"cannot start the webhook "
		    "thread\"");
	log_info("relay reloaded apps=%d added=%d removed=%d hosts=%d "
	    "added=%d removed=%d users=%d log_level=%s tls=%s", r->napps,
	    p->apps_added, apps_removed, r->nhosts, p->hosts_added,
	    hosts_removed, r->conf->nusers, r->conf->log_level,
	    p->tls ? "reloaded" : "off");
}

int
reload_run(struct relay *r)
{
	char err[CONF_ERR_LEN] = "";
	struct plan p;

	if (prepare(r, &p, err) < 0) {
		rl.failures++;
		snprintf(rl.last_error, sizeof(rl.last_error), "%s", err);
		log_error("relay reload=failed error=\"%s\" msg=\"the running "
		    "configuration is kept\"", err);
		plan_free(&p, r);
		return -1;
	}
	commit(r, &p);
	rl.reloads++;
	rl.last_error[0] = '\0';
	plan_free(&p, r);
	return 0;
}
