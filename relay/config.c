/*
 * Relay configuration: a key table per section type, fed by conf_parse.
 * Unknown sections and keys, bad values, duplicate app ids or keys are all
 * errors reported as FILE:LINE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define RC(f) offsetof(struct relay_conf, f)
#define AC(f) offsetof(struct app_conf, f)

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
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

static const struct conf_key app_keys[] = {
	{"id", CONF_STR, 0, 64, NULL, AC(id), "app id in /apps/{id}/"},
	{"key", CONF_STR, 0, 128, NULL, AC(key), "public key in /app/{key}"},
	{"secret", CONF_STR, 0, 256, NULL, AC(secret), "signing secret"},
	{"client_events", CONF_BOOL, 0, 1, "no", AC(client_events),
	    "allow client-* events"},
	{"webhook_url", CONF_STR, 0, 2048, NULL, AC(webhook_url),
	    "http(s) URL for webhooks"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

struct load_ctx {
	struct relay_conf *c;
	char cur[256];
};

static int
token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("-_.", *s))
			return 0;
	return 1;
}

static struct app_conf *
app_section(struct load_ctx *x, const char *section, const char *name,
    int line, char *err)
{
	struct relay_conf *c = x->c;
	struct app_conf *a, *n;

	if (*name == '\0') {
		snprintf(err, CONF_ERR_LEN, "[app NAME]: the name is missing");
		return NULL;
	}
	if (c->napps && strcmp(x->cur, section) == 0)
		return &c->apps[c->napps - 1]; /* the section goes on */
	for (int i = 0; i < c->napps; i++) {
		if (strcmp(c->apps[i].name, name) == 0) {
			snprintf(err, CONF_ERR_LEN,
			    "[app %s] appears twice", name);
			return NULL;
		}
	}
	if ((n = realloc(c->apps, (c->napps + 1) * sizeof(*n))) == NULL) {
		snprintf(err, CONF_ERR_LEN, "out of memory");
		return NULL;
	}
	c->apps = n;
	a = &c->apps[c->napps++];
	memset(a, 0, sizeof(*a));
	conf_defaults(app_keys, a);
	a->line = line;
	if ((a->name = strdup(name)) == NULL) {
		snprintf(err, CONF_ERR_LEN, "out of memory");
		return NULL;
	}
	return a;
}

static int
app_key_unique(const struct relay_conf *c, const struct app_conf *a,
    const char *key, const char *value, char *err)
{
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
load_cb(void *user, const char *section, const char *name, const char *value,
    int line, char *err)
{
	struct load_ctx *x = user;
	const struct conf_key *k;
	struct app_conf *a;

	if (strcmp(section, "relay") == 0) {
		if ((k = conf_find(relay_keys, name)) == NULL)
			goto unknown;
		snprintf(x->cur, sizeof(x->cur), "%s", section);
		return conf_set(k, x->c, value, err);
	}
	if (strncmp(section, "app ", 4) == 0 || strcmp(section, "app") == 0) {
		const char *aname = section[3] ? section + 4 : "";

		if ((a = app_section(x, section, aname, line, err)) == NULL)
			return -1;
		snprintf(x->cur, sizeof(x->cur), "%s", section);
		if ((k = conf_find(app_keys, name)) == NULL)
			goto unknown;
		if ((strcmp(name, "id") == 0 || strcmp(name, "key") == 0) &&
		    (!token_ok(value) ||
			app_key_unique(x->c, a, name, value, err) < 0)) {
			if (!*err)
				snprintf(err, CONF_ERR_LEN,
				    "%s: use letters, digits, '-', '_', '.'",
				    name);
			return -1;
		}
		return conf_set(k, a, value, err);
	}
	snprintf(err, CONF_ERR_LEN, "unknown section [%s]", section);
	return -1;
unknown:
	snprintf(err, CONF_ERR_LEN, "unknown key '%s' in [%s]", name, section);
	return -1;
}

int
relay_conf_addr(const char *s, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t hl;
	char *end;
	long p;

	if (colon == NULL)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl >= hostlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

static int
validate(struct relay_conf *c, const char *path, char *err)
{
	char host[256];
	int port;

	if (relay_conf_addr(c->listen, host, sizeof(host), &port) < 0) {
		snprintf(err, CONF_ERR_LEN, "%s:0: listen: '%s' is not host:port",
		    path, c->listen);
		return -1;
	}
	if (c->tls_listen) {
		if (relay_conf_addr(c->tls_listen, host, sizeof(host), &port) <
		    0) {
			snprintf(err, CONF_ERR_LEN,
			    "%s:0: tls_listen: '%s' is not host:port", path,
			    c->tls_listen);
			return -1;
		}
		if (!c->tls_cert || !c->tls_key) {
			snprintf(err, CONF_ERR_LEN,
			    "%s:0: tls_listen needs tls_cert and tls_key", path);
			return -1;
		}
	}
	if (c->napps == 0) {
		snprintf(err, CONF_ERR_LEN, "%s:0: no [app NAME] section", path);
		return -1;
	}
	for (int i = 0; i < c->napps; i++) {
		struct app_conf *a = &c->apps[i];
		const char *miss = !a->id ? "id" : !a->key ? "key"
		    : !a->secret ? "secret" : NULL;

		if (miss) {
			snprintf(err, CONF_ERR_LEN,
			    "%s:%d: [app %s] needs '%s'", path, a->line,
			    a->name, miss);
			return -1;
		}
		if (a->webhook_url && strncmp(a->webhook_url, "http://", 7) &&
		    strncmp(a->webhook_url, "https://", 8)) {
			snprintf(err, CONF_ERR_LEN,
			    "%s:%d: [app %s] webhook_url must be http(s)://",
			    path, a->line, a->name);
			return -1;
		}
	}
	return 0;
}

int
relay_conf_load(struct relay_conf *c, const char *path,
    char err[CONF_ERR_LEN])
{
	struct load_ctx x = {.c = c};

	memset(c, 0, sizeof(*c));
	conf_defaults(relay_keys, c);
	if (conf_parse(path, load_cb, &x, err) < 0)
		return -1;
	return validate(c, path, err);
}

void
relay_conf_free(struct relay_conf *c)
{
	for (int i = 0; i < c->napps; i++) {
		conf_free_strings(app_keys, &c->apps[i]);
		free(c->apps[i].name);
	}
	free(c->apps);
	conf_free_strings(relay_keys, c);
	memset(c, 0, sizeof(*c));
}

int
relay_conf_origin_ok(const struct relay_conf *c, const char *origin)
{
	const char *p = c->allowed_origins;
	size_t olen;

	if (strcmp(p, "*") == 0 || origin == NULL)
		return 1;
	olen = strlen(origin);
	while (*p) {
		size_t n;

		while (*p == ' ' || *p == ',')
			p++;
		n = strcspn(p, ", ");
		if (n == olen && strncmp(p, origin, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}
