/*
 * Relay configuration: one key table per section type, fed by conf_parse.
 * Unknown sections and keys, bad values, duplicate app ids or keys, and
 * references to missing accounts are errors reported as FILE:LINE.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "config.h"
#include "sign.h"

#include <sodium.h>

#define RC(f) offsetof(struct relay_conf, f)
#define AC(f) offsetof(struct app_conf, f)
#define UC(f) offsetof(struct user_conf, f)
#define HC(f) offsetof(struct host_conf, f)
#define NC(f) offsetof(struct account_conf, f)

static const struct conf_key relay_keys[] = {
	{"listen", CONF_STR, 0, 300, "127.0.0.1:6001", RC(listen),
	    "plain HTTP and websockets, host:port"},
	{"tls_listen", CONF_STR, 0, 300, NULL, RC(tls_listen),
	    "HTTPS and wss on one port"},
	{"tls_cert", CONF_STR, 0, 4096, NULL, RC(tls_cert), "PEM chain"},
	{"tls_key", CONF_STR, 0, 4096, NULL, RC(tls_key), "PEM key"},
	{"max_message_bytes", CONF_INT, 1, 64L << 20, "1048576",
	    RC(max_message_bytes), "event data limit"},
	{"activity_timeout", CONF_INT, 1, 3600, "120", RC(activity_timeout),
	    "seconds, sent in connection_established"},
	{"send_queue_bytes", CONF_INT, 4096, 1L << 30, "1048576",
	    RC(send_queue_bytes), "per-connection bound for slow consumers"},
	{"allowed_origins", CONF_STR, 0, 4096, "*", RC(allowed_origins),
	    "comma-separated origins, or *"},
	{"log_level", CONF_STR, 0, 10, "info", RC(log_level),
	    "error, warn, info or debug"},
	{"web_root", CONF_STR, 0, 4096, NULL, RC(web_root),
	    "directory of the built dashboard"},
	{"host_app", CONF_STR, 0, 128, NULL, RC(host_app),
	    "the [app] whose key signs private-host- channels"},
	{"metrics_app", CONF_STR, 0, 128, NULL, RC(host_app),
	    "old name of host_app, still read"},
	{"session_grace_s", CONF_INT, 0, 3600, "30", RC(session_grace_s),
	    "streaming goes on this long after the last viewer"},
	{"max_session_s", CONF_INT, 10, 86400, "1800", RC(max_session_s),
	    "cap on one realtime session"},
	{"history_seconds", CONF_INT, 10, 86400, "600", RC(history_seconds),
	    "samples kept per host"},

	/* where browsers load the dashboard from (the Origin check) */
	{"public_url", CONF_STR, 0, 4096, NULL, RC(public_url),
	    "comma-separated scheme://host[:port] the dashboard is served "
	    "from; default from listen and tls_listen"},

	/* who may read /metrics */
	{"metrics_token", CONF_STR, 16, 256, NULL, RC(metrics_token),
	    "/metrics needs Authorization: Bearer TOKEN; unset: loopback "
	    "peers only"},
	/* hostile-input bounds on HTTP request bodies (http_head.c) */
	{"max_body_bytes_in_flight", CONF_INT, 65536, 1L << 34, "67108864",
	    RC(max_body_bytes_in_flight),
	    "request-body (and big websocket message) bytes held, all "
	    "connections; past it 503"},
	{"body_timeout_s", CONF_INT, 1, 3600, "30", RC(body_timeout_s),
	    "seconds a request body may take to arrive; past it 408"},
	{"max_subscriptions_per_connection", CONF_INT, 1, 1000000, "1000",
	    RC(max_subscriptions_per_connection),
	    "channels one connection may subscribe to"},
	/* cluster hook: scale-out over Redis (cluster.c, docs/scaleout.md) */
	{"redis", CONF_STR, 0, 1024, NULL, RC(redis),
	    "redis://host[:port][/db]; unset: single node"},
	{"redis_prefix", CONF_STR, 0, 32, "sno", RC(redis_prefix),
	    "prefix of Redis keys and pub/sub channels"},
	{"node_id", CONF_STR, 0, 64, NULL, RC(node_id),
	    "this node's name; default host name and listen port"},
	{"include", CONF_STR, 0, 4096, NULL, RC(include),
	    "more files, a glob (conf.d/*.conf) read in sorted order"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

static const struct conf_key app_keys[] = {
	{"id", CONF_STR, 0, 64, NULL, AC(id), "app id in /apps/{id}/"},
	{"key", CONF_STR, 0, 128, NULL, AC(key), "public key in /app/{key}"},
	{"secret", CONF_STR, 0, 256, NULL, AC(secret), "signing secret"},
	{"client_events", CONF_BOOL, 0, 1, "no", AC(client_events),
	    "allow client-* events"},
	{"subscription_count", CONF_BOOL, 0, 1, "no", AC(subscription_count),
	    "send pusher_internal:subscription_count events"},
	{"webhook_url", CONF_STR, 0, 2048, NULL, AC(webhook_url),
	    "http(s) URL for webhooks"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

static const struct conf_key account_keys[] = {
	{"title", CONF_STR, 0, 200, NULL, NC(title), "display name"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

static const struct conf_key user_keys[] = {
	{"account", CONF_STR, 0, 128, NULL, UC(account), "the user's account"},
	{"password_hash", CONF_STR, 0, 256, NULL, UC(password_hash),
	    "from sno-relay hash-password"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

static const struct conf_key host_keys[] = {
	{"account", CONF_STR, 0, 128, NULL, HC(account), "the host's account"},
	{"key", CONF_STR, 64, 64, NULL, HC(key),
	    "64 hex digits, from sno-relay new-host"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

/* A kind of named section: [kind NAME], stored in a growing array. */
struct section_kind {
	const char *kind;
	const struct conf_key *keys;
	size_t size;		/* of one element */
	size_t arr_off;		/* offset of the array pointer in relay_conf */
	size_t n_off;		/* offset of its int count */
};

static const struct section_kind kinds[] = {
	{"app", app_keys, sizeof(struct app_conf), RC(apps), RC(napps)},
	{"account", account_keys, sizeof(struct account_conf), RC(accounts),
	    RC(naccounts)},
	{"user", user_keys, sizeof(struct user_conf), RC(users), RC(nusers)},
	{"host", host_keys, sizeof(struct host_conf), RC(hosts), RC(nhosts)},
};

/* Every element struct starts with char *name; its int line is found by
 * the offsets below. */
static int *
elem_line(const struct section_kind *k, void *e)
{
	size_t off = k->keys == app_keys ? AC(line)
	    : k->keys == account_keys ? NC(line)
	    : k->keys == user_keys ? UC(line) : HC(line);

	return (int *)(void *)((char *)e + off);
}

static const char **
elem_file(const struct section_kind *k, void *e)
{
	size_t off = k->keys == app_keys ? AC(file)
	    : k->keys == account_keys ? NC(file)
	    : k->keys == user_keys ? UC(file) : HC(file);

	return (const char **)(void *)((char *)e + off);
}

#define ARR(c, k) (*(char **)(void *)((char *)(c) + (k)->arr_off))
#define CNT(c, k) (*(int *)(void *)((char *)(c) + (k)->n_off))
#define ELEM(c, k, i) (ARR(c, k) + (size_t)(i) * (k)->size)
#define NAME(e) (*(char **)(void *)(e))

struct load_ctx {
	struct relay_conf *c;
	const struct section_kind *kind;	/* of the current section */
	void *cur;				/* its element */
	int in_relay;
	const char *file;			/* being read */
	int included;				/* ... from include */
};

static int
name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("-_.", *s))
			return 0;
	return 1;
}

/* Starts [kind NAME]; 0 or -1 with err. */
static int
section_start(struct load_ctx *x, const char *section, int line, char *err)
{
	struct relay_conf *c = x->c;
	const struct section_kind *k = NULL;
	const char *name = "";
	char *arr;

	x->kind = NULL;
	x->cur = NULL;
	x->in_relay = strcmp(section, "relay") == 0;
	if (x->in_relay)
		return 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t kl = strlen(kinds[i].kind);

		if (strncmp(section, kinds[i].kind, kl) == 0 &&
		    (section[kl] == ' ' || section[kl] == '\0')) {
			k = &kinds[i];
			name = section[kl] ? section + kl + 1 : "";
		}
	}
	if (k == NULL) {
		snprintf(err, CONF_ERR_LEN, "unknown section [%s]", section);
		return -1;
	}
	if (!name_ok(name)) {
		snprintf(err, CONF_ERR_LEN, "[%s NAME]: the name must be 1 to "
		    "128 of letters, digits, '-', '_', '.'", k->kind);
		return -1;
	}
	for (int i = 0; i < CNT(c, k); i++) {
		if (strcmp(NAME(ELEM(c, k, i)), name) == 0) {
			snprintf(err, CONF_ERR_LEN, "[%s %s] appears twice",
			    k->kind, name);
			return -1;
		}
	}
	if ((arr = realloc(ARR(c, k), (size_t)(CNT(c, k) + 1) * k->size)) ==
	    NULL) {
		snprintf(err, CONF_ERR_LEN, "out of memory");
		return -1;
	}
	ARR(c, k) = arr;
	x->cur = ELEM(c, k, CNT(c, k)++);
	memset(x->cur, 0, k->size);
	conf_defaults(k->keys, x->cur);
	*elem_line(k, x->cur) = line;
	*elem_file(k, x->cur) = x->file;
	x->kind = k;
	if ((NAME(x->cur) = strdup(name)) == NULL) {
		snprintf(err, CONF_ERR_LEN, "out of memory");
		return -1;
	}
	return 0;
}

static int
app_key_unique(const struct relay_conf *c, const struct app_conf *a,
    const char *key, const char *value, char *err)
{
	if (!name_ok(value)) {
		snprintf(err, CONF_ERR_LEN, "%s: use letters, digits, '-', "
		    "'_', '.'", key);
		return -1;
	}
	for (int i = 0; i < c->napps; i++) {
		const struct app_conf *o = &c->apps[i];
		const char *v = strcmp(key, "id") == 0 ? o->id : o->key;

		if (o != a && v && strcmp(v, value) == 0) {
			snprintf(err, CONF_ERR_LEN,
			    "%s '%s' is already used by [app %s]", key, value,
			    o->name);
			return -1;
		}
	}
	return 0;
}

static int
addr_ok(const char *name, const char *value, char *err)
{
	char host[256];
	int port;

	if (relay_conf_addr(value, host, sizeof(host), &port) == 0)
		return 0;
	snprintf(err, CONF_ERR_LEN, "%s: '%s' is not host:port", name, value);
	return -1;
}

static int
load_cb(void *user, const char *section, const char *name, const char *value,
    int line, char *err)
{
	struct load_ctx *x = user;
	const struct conf_key *k;

	if (name == NULL)
		return section_start(x, section, line, err);
	if (x->in_relay) {
		if ((k = conf_find(relay_keys, name)) == NULL)
			goto unknown;
		if (strcmp(name, "include") == 0 && x->included) {
			snprintf(err, CONF_ERR_LEN, "include: only the main "
			    "file may include others");
			return -1;
		}
		if ((strcmp(name, "listen") == 0 ||
			strcmp(name, "tls_listen") == 0) &&
		    addr_ok(name, value, err) < 0)
			return -1;
		return conf_set(k, x->c, value, err);
	}
	if (x->kind == NULL) {
		snprintf(err, CONF_ERR_LEN, "key '%s' outside of a section",
		    name);
		return -1;
	}
	if ((k = conf_find(x->kind->keys, name)) == NULL)
		goto unknown;
	if (x->kind->keys == app_keys && (strcmp(name, "id") == 0 ||
	    strcmp(name, "key") == 0) &&
	    app_key_unique(x->c, x->cur, name, value, err) < 0)
		return -1;
	if (x->kind->keys == host_keys && strcmp(name, "key") == 0 &&
	    sign_unhex(value, ((struct host_conf *)x->cur)->keybin, 32) < 0) {
		snprintf(err, CONF_ERR_LEN, "key: must be 64 hex digits");
		return -1;
	}
	return conf_set(k, x->cur, value, err);
unknown:
	snprintf(err, CONF_ERR_LEN, "unknown key '%s' in [%s]", name, section);
	return -1;
}

#define VFAIL(file, line, ...)                                            \
	do {                                                              \
		int n_ = snprintf(err, CONF_ERR_LEN, "%.200s:%d: ", (file), \
		    (line));                                              \
		snprintf(err + n_, CONF_ERR_LEN - (size_t)n_, __VA_ARGS__); \
		return -1;                                                \
	} while (0)

static int
validate_apps(struct relay_conf *c, const char *path, char *err)
{
	if (c->napps == 0 && c->nhosts == 0)
		VFAIL(path, 0, "no [app NAME] section");
	for (int i = 0; i < c->napps; i++) {
		struct app_conf *a = &c->apps[i];
		const char *miss = !a->id ? "id" : !a->key ? "key"
		    : !a->secret ? "secret" : NULL;

		if (miss)
			VFAIL(a->file, a->line, "[app %s] needs '%s'", a->name,
			    miss);
		if (a->webhook_url && strncmp(a->webhook_url, "http://", 7) &&
		    strncmp(a->webhook_url, "https://", 8))
			VFAIL(a->file, a->line, "[app %s] webhook_url must be "
			    "http(s)://", a->name);
		if (c->host_app && strcmp(a->name, c->host_app) == 0)
			c->metrics = a;
	}
	if (c->host_app && !c->metrics)
		VFAIL(path, 0, "host_app: there is no [app %s]",
		    c->host_app);
	if (!c->host_app && c->nhosts)
		VFAIL(c->hosts[0].file, c->hosts[0].line, "[host] sections "
		    "need [relay] "
		    "host_app to name the app that signs their channels");
	return 0;
}

static int
validate(struct relay_conf *c, const char *path, char *err)
{
	if (c->tls_listen && (!c->tls_cert || !c->tls_key))
		VFAIL(path, 0, "tls_listen needs tls_cert and tls_key");
	/* cluster hook */
	{
		char why[CONF_ERR_LEN - 64];

		if (cluster_conf_check(c->redis, c->redis_prefix, c->node_id,
		    why, sizeof(why)) < 0)
			VFAIL(path, 0, "%s", why);
		if (c->node_id == NULL && (c->node_id = cluster_node_default(
		    c->listen ? c->listen : c->tls_listen)) == NULL)
			VFAIL(path, 0, "out of memory");
	}
	if (validate_apps(c, path, err) < 0)
		return -1;
	for (int i = 0; i < c->nusers; i++) {
		struct user_conf *u = &c->users[i];

		if (!u->account || !u->password_hash)
			VFAIL(u->file, u->line, "[user %s] needs account and "
			    "password_hash", u->name);
		if (!relay_conf_account(c, u->account))
			VFAIL(u->file, u->line, "[user %s]: there is no "
			    "[account %s]",
			    u->name, u->account);
		if (strncmp(u->password_hash, "$argon2id$", 10) != 0)
			VFAIL(u->file, u->line, "[user %s]: password_hash must "
			    "be an "
			    "$argon2id$ hash (sno-relay hash-password)",
			    u->name);
	}
	for (int i = 0; i < c->nhosts; i++) {
		struct host_conf *h = &c->hosts[i];

		if (!h->account || !h->key)
			VFAIL(h->file, h->line, "[host %s] needs account and "
			    "key", h->name);
		if (!relay_conf_account(c, h->account))
			VFAIL(h->file, h->line, "[host %s]: there is no "
			    "[account %s]",
			    h->name, h->account);
	}
	return 0;
}

/* Remembers a file name (elements point to it); the copy, or NULL. */
static const char *
add_file(struct relay_conf *c, const char *name, size_t len, char *err)
{
	char **files = realloc(c->files, (size_t)(c->nfiles + 1) *
	    sizeof(*files));
	char *copy;

	if (files == NULL || (copy = strndup(name, len)) == NULL) {
		if (files)
			c->files = files;
		snprintf(err, CONF_ERR_LEN, "out of memory");
		return NULL;
	}
	c->files = files;
	c->files[c->nfiles++] = copy;
	return copy;
}

/* A directory that does not exist holds no files; any other error (a
 * directory we may not read) stops the load. */
static int
glob_err(const char *epath, int eerrno)
{
	(void)epath;
	return eerrno != ENOENT && eerrno != ENOTDIR;
}

/* Reads the files of [relay] include, sorted, after the main file. */
static int
load_includes(struct load_ctx *x, const char *path, char *err)
{
	const char *pat = x->c->include, *slash = strrchr(path, '/');
	char full[4096 + 1024];
	glob_t g;
	int r, rc = -1;

	if (pat[0] != '/' && slash)
		snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path),
		    path, pat);
	else
		snprintf(full, sizeof(full), "%s", pat);
	memset(&g, 0, sizeof(g));
	r = glob(full, 0, glob_err, &g);
	if (r == GLOB_NOMATCH) {
		rc = 0; /* an empty or missing conf.d is fine */
		goto out;
	}
	if (r != 0) {
		snprintf(err, CONF_ERR_LEN, "%.200s:0: include = %.200s: "
		    "cannot read the directory", path, pat);
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		x->kind = NULL;
		x->cur = NULL;
		x->in_relay = 0;
		x->included = 1;
		if ((x->file = add_file(x->c, g.gl_pathv[i],
			strlen(g.gl_pathv[i]), err)) == NULL ||
		    conf_parse_sections(x->file, load_cb, x, 1, err) < 0)
			goto out;
	}
	rc = 0;
out:
	globfree(&g);
	return rc;
}

int
relay_conf_load(struct relay_conf *c, const char *path,
    char err[CONF_ERR_LEN])
{
	struct load_ctx x = {.c = NULL};

	memset(c, 0, sizeof(*c));
	x.c = c;
	conf_defaults(relay_keys, c);
	if ((x.file = add_file(c, path, strlen(path), err)) == NULL ||
	    conf_parse_sections(path, load_cb, &x, 1, err) < 0 ||
	    (c->include && load_includes(&x, path, err) < 0))
		return -1;
	return validate(c, path, err);
}

int
relay_conf_load_text(struct relay_conf *c, const char *name,
    const char *text, size_t len, char err[CONF_ERR_LEN])
{
	struct load_ctx x = {.c = NULL};

	memset(c, 0, sizeof(*c));
	x.c = c;
	conf_defaults(relay_keys, c);
	if ((x.file = add_file(c, name, strlen(name), err)) == NULL ||
	    conf_parse_text(name, text, len, load_cb, &x, 1, err) < 0)
		return -1;
	return validate(c, name, err);
}

void
relay_conf_print_keys(FILE *fp)
{
	char sect[64];

	conf_print_keys(fp, "relay", relay_keys);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(sect, sizeof(sect), "%s NAME", kinds[i].kind);
		conf_print_keys(fp, sect, kinds[i].keys);
	}
}

void
relay_conf_free(struct relay_conf *c)
{
	for (int i = 0; i < c->nhosts; i++)
		sodium_memzero(c->hosts[i].keybin, sizeof(c->hosts[i].keybin));
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct section_kind *sk = &kinds[k];

		for (int i = 0; i < CNT(c, sk); i++) {
			conf_free_strings(sk->keys, ELEM(c, sk, i));
			free(NAME(ELEM(c, sk, i)));
		}
		free(ARR(c, sk));
	}
	conf_free_strings(relay_keys, c);
	for (int i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	memset(c, 0, sizeof(*c));
}
