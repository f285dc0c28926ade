/*
 * Questions asked of a loaded relay configuration: a listen address split
 * into host and port, an account, host or user by name, and whether a
 * browser origin may use the Pusher API or the dashboard. config.c loads
 * and checks the file; this file only reads what it built.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

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

#define FIND(arr, n, nm)                                                  \
	for (int i_ = 0; i_ < (n); i_++)                                  \
		if (strcmp((arr)[i_].name, (nm)) == 0)                    \
			return &(arr)[i_];                                \
	return NULL

const struct account_conf *
relay_conf_account(const struct relay_conf *c, const char *name)
{
	FIND(c->accounts, c->naccounts, name);
}

const struct host_conf *
relay_conf_host(const struct relay_conf *c, const char *name)
{
	FIND(c->hosts, c->nhosts, name);
}

const struct user_conf *
relay_conf_user(const struct relay_conf *c, const char *name)
{
	FIND(c->users, c->nusers, name);
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

/* Whether origin is in list (comma/space separated; a trailing '/' of an
 * entry is ignored). */
static int
origin_listed(const char *list, const char *origin)
{
	size_t olen = strlen(origin);

	while (*list) {
		size_t n;

		list += strspn(list, ", ");
		n = strcspn(list, ", ");
		if (n == olen + 1 && list[olen] == '/' &&
		    strncmp(list, origin, olen) == 0)
			return 1;
		if (n && n == olen && strncmp(list, origin, n) == 0)
			return 1;
		list += n;
	}
	return 0;
}

/* Whether origin is scheme://ADDR of a listen address (host:port). */
static int
origin_of_listen(const char *addr, const char *scheme, const char *origin)
{
	char host[256], want[320];
	int port, loopback;

	if (addr == NULL || relay_conf_addr(addr, host, sizeof(host), &port) <
	    0 || !host[0] || strcmp(host, "0.0.0.0") == 0 ||
	    strcmp(host, "::") == 0)
		return 0;
	loopback = strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0;
	snprintf(want, sizeof(want), strchr(host, ':') ? "%s://[%s]:%d"
	    : "%s://%s:%d", scheme, host, port);
	if (strcmp(origin, want) == 0)
		return 1;
	snprintf(want, sizeof(want), "%s://localhost:%d", scheme, port);
	return loopback && strcmp(origin, want) == 0;
}

int
relay_conf_public_origin_ok(const struct relay_conf *c, const char *origin)
{
	if (origin == NULL || !origin[0])
		return 0;
	if (strcmp(c->allowed_origins, "*") != 0 &&
	    origin_listed(c->allowed_origins, origin))
		return 1;
	if (c->public_url)
		return origin_listed(c->public_url, origin);
	return origin_of_listen(c->listen, "http", origin) ||
	    origin_of_listen(c->tls_listen, "https", origin);
}
