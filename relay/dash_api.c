/*
 * The dashboard's JSON API under /api/v1/ and its static files. A request
 * carries a login (dash_login.c); a user sees, authorises and reads only the
 * hosts of its own account. Every POST must come from the dashboard's own
 * origin.
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


static char web_root_real[PATH_MAX];	/* realpath of web_root */

/* ---- hosts ---- */

static struct host *
host_of_user(struct http_req *q, const struct login *s, const char *id)
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
hosts_list(struct http_req *q, struct login *s, const char *id)
{
	(void)id;
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
		    host_should_stream(h, mono) ? "true" : "false",
		    h->last_seq);
		first = 0;
	}
	buf_adds(&q->resp, "]}");
	http_reply_resp(q, 200, "application/json");
}

static void
history(struct http_req *q, struct login *s, const char *id)
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
	if (cluster_on()) {	/* cluster hook: the host's Redis stream */
		cluster_host_history(q, h, n);
		return;
	}
	buf_reset(&q->resp);
	host_history(h, n, &q->resp);
	http_reply_resp(q, 200, "application/json");
}

/* The user's account's summaries of the last ?seconds= (1..60, 60). */
static void
fleet_hist(struct http_req *q, struct login *s, const char *id)
{
	(void)id;
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
pusher_auth(struct http_req *q, struct login *s, const char *id)
{
	(void)id;
	const struct app_conf *a = http_relay()->conf->metrics;
	struct auth_param p[AUTH_MAX_PARAMS];
	char form[DASH_FORM_MAX], sig[SIGN_HEX_LEN + 1], out[512];
	const char *sid, *ch;
	size_t pl = strlen(HOST_CHANNEL_PREFIX);
	int r;

	if ((r = dash_auth_form(q->body.data, q->body.len, form, p, &sid,
	    &ch)) < 0) {
		http_error(q, 400, r == -EILSEQ ? "a form value holds a "
		    "control character (such as %%00)" :
		    "need socket_id and channel_name");
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
	sign_hmac_sha256_hex(a->secret, strlen(a->secret), out, strlen(out),
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

static void
me(struct http_req *q, struct login *s, const char *id)
{
	struct relay *r = http_relay();
	char body[512];

	(void)id;
	snprintf(body, sizeof(body), "{\"user\":\"%s\",\"account\":\"%s\","
	    "\"app_key\":\"%s\"}", s->user->name, s->user->account,
	    r->conf->metrics ? r->conf->metrics->key : "");
	http_reply(q, 200, "application/json", body);
}

static void
do_logout(struct http_req *q, struct login *s, const char *id)
{
	(void)id;
	logout(q, s);
}

/*
 * The dashboard API after /api/v1, first match wins. Every route but
 * POST /login needs a login; a request that matches none is 401 without one
 * and 404 with one. history's path carries the host id
 * (dash_history_path).
 */
static const struct dash_route {
	int post;
	const char *path;	/* NULL: /hosts/{id}/history */
	void (*serve)(struct http_req *q, struct login *s, const char *id);
} dash_routes[] = {
	{1, "/logout", do_logout},
	{0, "/me", me},
	{0, "/hosts", hosts_list},
	{0, "/fleet/history", fleet_hist},
	{0, NULL, history},
	{1, "/pusher/auth", pusher_auth},
};

static void	dash_api_route(struct http_req *q, struct login *s);

void
dash_api_handle(struct http_req *q)
{
	const char *p = q->path + 7; /* after /api/v1 */
	int post = strcmp(q->method, "POST") == 0;
	struct login *s;

	if (dash_login_start() < 0) {
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
		login_post(q);
		return;
	}
	if (cluster_on()) {	/* cluster hook: logins live in Redis */
		cluster_login_route(q, dash_api_route);
		return;
	}
	if ((s = login_of(q)) == NULL) {
		http_error(q, 401, "log in first");
		return;
	}
	dash_api_route(q, s);
}

/* Serves q for login s (a route's answer, or 404). */
static void
dash_api_route(struct http_req *q, struct login *s)
{
	const char *p = q->path + 7; /* after /api/v1 */
	int post = strcmp(q->method, "POST") == 0;
	const struct dash_route *rt;
	char id[160];
	size_t i;

	id[0] = '\0';
	for (i = 0; i < sizeof(dash_routes) / sizeof(dash_routes[0]); i++) {
		rt = &dash_routes[i];
		if (rt->post != post)
			continue;
		if (rt->path ? strcmp(p, rt->path) == 0
		    : dash_history_path(p, id, sizeof(id)) == 0) {
			rt->serve(q, s, id);
			return;
		}
	}
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
	size_t rl = strlen(web_root_real);
	struct stat st;

	if (strstr(path, "..") || strchr(path, '\\'))
		return -1;
	snprintf(full, sizeof(full), "%s%s", web_root_real, path);
	if (realpath(full, real) == NULL)
		return -1;
	if (strncmp(real, web_root_real, rl) != 0 || (real[rl] != '/' &&
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
	if (!web_root_real[0] && realpath(web_root, web_root_real) == NULL) {
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
	web_root_real[0] = '\0'; /* web_root may have changed */
	login_reconf(nc);
}
