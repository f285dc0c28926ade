/*
 * Scale-out over Redis: configuration checks and the default node_id
 * (docs/scaleout.md, "Configuration").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "config.h"

static int
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		    *s == '-'))
			return 0;
	return 1;
}

/* redis://[:password@]host[:port][/db] */
static const char *
url_problem(const char *url)
{
	const char *h, *e, *p;
	char *end;
	long v;

	if (strncmp(url, "redis://", 8) != 0)
		return "must start with redis://";
	h = url + 8;
	if ((p = strrchr(h, '@')) != NULL)
		h = p + 1;
	e = h + strcspn(h, ":/");
	if (e == h)
		return "needs a host";
	if (*e == ':') {
		v = strtol(e + 1, &end, 10);
		if (end == e + 1 || v < 1 || v > 65535 ||
		    (*end != '\0' && *end != '/'))
			return "port must be 1..65535";
		e = end;
	}
	if (*e == '/' && e[1] != '\0') {
		v = strtol(e + 1, &end, 10);
		if (end == e + 1 || *end != '\0' || v < 0 || v > 15)
			return "database must be 0..15";
	}
	return NULL;
}

int
cluster_conf_check(const char *url, const char *prefix, const char *node_id,
    char *err, size_t errlen)
{
	const char *why;

	if (url && (why = url_problem(url)) != NULL) {
		snprintf(err, errlen, "redis: '%.200s' %s "
		    "(redis://[:password@]host[:port][/db])", url, why);
		return -1;
	}
	if (prefix && !name_ok(prefix, 32)) {
		snprintf(err, errlen, "redis_prefix: '%.64s' must be 1..32 of "
		    "A-Z a-z 0-9 _ . -", prefix);
		return -1;
	}
	if (node_id && !name_ok(node_id, 64)) {
		snprintf(err, errlen, "node_id: '%.80s' must be 1..64 of "
		    "A-Z a-z 0-9 _ . -", node_id);
		return -1;
	}
	return 0;
}

char *
cluster_node_default(const char *listen)
{
	char host[256], lhost[300], *out;
	int port = 0;
	size_t n;

	if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "relay");
	host[sizeof(host) - 1] = '\0';
	/* A node_id is 1..64 of A-Z a-z 0-9 _ . - (cluster_conf_check). */
	for (char *p = host; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			*p = '-';
	if (listen == NULL ||
	    relay_conf_addr(listen, lhost, sizeof(lhost), &port) < 0)
		port = 0;
	/* The port is kept whole: the host name gives way. */
	n = strlen(host);
	if (n > 58)
		host[58] = '\0';
	if (asprintf(&out, "%s-%d", host, port) < 0)
		return NULL;
	return out;
}
