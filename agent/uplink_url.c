/*
 * The relay URLs and proxies of the uplink (see uplink.h): parsing,
 * checking, NO_PROXY matching and hiding a proxy's password. Pure, no
 * curl; unit-tested by tests/unit/test_agent_uplink.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "uplink.h"

int
uplink_parse_url(const char *url, struct uplink_target *t)
{
	const char *h, *he, *p, *port = NULL;
	size_t n;
	char *end;
	long pn;

	memset(t, 0, sizeof(*t));
	if (strncmp(url, "https://", 8) == 0) {
		t->tls = 1;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0)
		h = url + 7;
	else
		return -EINVAL;
	p = h + strcspn(h, "/?#");
	if (*p == '?' || *p == '#' || memchr(h, '@', (size_t)(p - h)))
		return -EINVAL;
	if (*h == '[') {
		if ((he = memchr(h, ']', (size_t)(p - h))) == NULL)
			return -EINVAL;
		h++;
		if (he[1] == ':')
			port = he + 2;
		else if (he + 1 != p)
			return -EINVAL;
	} else {
		he = memchr(h, ':', (size_t)(p - h));
		if (he)
			port = he + 1;
		else
			he = p;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= sizeof(t->host))
		return -EINVAL;
	memcpy(t->host, h, n);
	if (port) {
		errno = 0;
		pn = strtol(port, &end, 10);
		if (end != p || port == p || errno || pn < 1 || pn > 65535)
			return -EINVAL;
	} else
		pn = t->tls ? 443 : 80;
	snprintf(t->port, sizeof(t->port), "%ld", pn);
	if (strlen(p) >= sizeof(t->prefix) || strpbrk(p, "?# \t\r\n"))
		return -EINVAL;
	snprintf(t->prefix, sizeof(t->prefix), "%s", p);
	n = strlen(t->prefix);
	while (n > 0 && t->prefix[n - 1] == '/')
		t->prefix[--n] = '\0';
	if (inet_pton(AF_INET, t->host, t->addr) == 1)
		t->addrlen = 4;
	else if (inet_pton(AF_INET6, t->host, t->addr) == 1)
		t->addrlen = 16;
	t->ip = t->addrlen > 0;
	if (!t->ip && strspn(t->host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(t->host))
		return -EINVAL;
	snprintf(t->authority, sizeof(t->authority), "%s%s%s%s%s",
	    t->addrlen == 16 ? "[" : "", t->host, t->addrlen == 16 ? "]" : "",
	    port ? ":" : "", port ? t->port : "");
	return 0;
}

int
uplink_proxy_ok(const char *proxy)
{
	struct uplink_target t;
	char plain[UPLINK_PROXY_MAX];
	const char *at, *h;
	size_t n = strlen(proxy);

	if (strcmp(proxy, "none") == 0)
		return 0;
	if (n == 0 || n >= sizeof(plain) || strpbrk(proxy, " \t\r\n"))
		return -EINVAL;
	uplink_redact(proxy, plain, sizeof(plain));
	h = strstr(plain, "://");
	at = strchr(proxy, '@');
	if (h == NULL || (at && at < strstr(proxy, "://")))
		return -EINVAL;
	if (uplink_parse_url(plain, &t) < 0 || t.prefix[0] != '\0')
		return -EINVAL;
	/* A port is required: curl's default for a proxy is 1080. */
	h = strrchr(t.authority, ':');
	return h && (t.addrlen != 16 || h[-1] == ']') ? 0 : -EINVAL;
}

void
uplink_redact(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://"), *at, *end;

	h = h ? h + 3 : url;
	end = h + strcspn(h, "/");
	at = memchr(h, '@', (size_t)(end - h));
	if (at == NULL)
		snprintf(out, cap, "%s", url);
	else
		snprintf(out, cap, "%.*s%s", (int)(h - url), url, at + 1);
}

/* Whether the IP literal host lies in entry (an address, maybe /bits). */
static int
uplink_ip_in(const char *host, const char *e, size_t n)
{
	unsigned char a[16], b[16];
	char ip[64];
	const char *slash = memchr(e, '/', n);
	size_t len = slash ? (size_t)(slash - e) : n;
	long bits;
	int fa, fb, alen;

	if (len >= sizeof(ip))
		return 0;
	memcpy(ip, e, len);
	ip[len] = '\0';
	fa = inet_pton(AF_INET, host, a) == 1 ? 4 :
	    inet_pton(AF_INET6, host, a) == 1 ? 16 : 0;
	fb = inet_pton(AF_INET, ip, b) == 1 ? 4 :
	    inet_pton(AF_INET6, ip, b) == 1 ? 16 : 0;
	if (fa == 0 || fa != fb)
		return 0;
	alen = fa;
	bits = slash ? strtol(slash + 1, NULL, 10) : alen * 8;
	if (bits < 0 || bits > alen * 8)
		return 0;
	if (memcmp(a, b, (size_t)bits / 8) != 0)
		return 0;
	return bits % 8 == 0 || ((a[bits / 8] ^ b[bits / 8]) &
	    (0xff00 >> (bits % 8))) == 0;
}

int
uplink_noproxy_match(const char *list, const char *host)
{
	size_t hl = strlen(host), n;
	const char *e;
	int ip = strchr(host, ':') != NULL || strspn(host, "0123456789.") == hl;

	while (hl > 0 && host[hl - 1] == '.')
		hl--;
	for (e = list; *e; e += n) {
		e += strspn(e, ", \t");
		n = strcspn(e, ", \t");
		if (n == 0)
			break;
		if (n == 1 && *e == '*')
			return 1;
		if (ip) {
			if (uplink_ip_in(host, e, n))
				return 1;
			continue;
		}
		if (*e == '.') {
			e++;
			n--;
		}
		while (n > 0 && e[n - 1] == '.')
			n--;
		if (n == 0 || n > hl)
			continue;
		if (strncasecmp(host + hl - n, e, n) == 0 &&
		    (n == hl || host[hl - n - 1] == '.'))
			return 1;
	}
	return 0;
}

