/*
 * /proc/net/dev: per-interface byte, packet, error and drop rates for
 * physical interfaces. Owns that file; looks at /sys only to decide, once
 * per new interface, whether it is virtual.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sample_net.h"

void
sample_net_init(struct sample_net *n)
{
	memset(n, 0, sizeof(*n));
	pfile_init(&n->dev);
}

int
sample_net_open(struct sample_net *n, const char *proc_root,
    const char *sys_root)
{
	snprintf(n->sys_root, sizeof(n->sys_root), "%s", sys_root);
	return pfile_open(&n->dev, proc_root, "net/dev");
}

void
sample_net_close(struct sample_net *n)
{
	pfile_close(&n->dev);
}

/* lo and /sys/devices/virtual/net/<if> (bridges, veth, tun) are skipped. */
static int
net_skip(const struct sample_net *n, const char *name)
{
	char path[512];

	if (strcmp(name, "lo") == 0)
		return 1;
	snprintf(path, sizeof(path), "%s/devices/virtual/net/%s",
	    n->sys_root, name);
	return access(path, F_OK) == 0;
}

static struct net_if *
net_find(struct sample_net *n, const char *name)
{
	for (int i = 0; i < n->nifs; i++)
		if (strcmp(n->ifs[i].name, name) == 0)
			return &n->ifs[i];
	return NULL;
}

static double
net_rate(unsigned long long prev, unsigned long long cur, double dt_s)
{
	return cur >= prev ? (cur - prev) / dt_s : 0;
}

/* Updates one interface from its 16 counters. */
static void
net_update(struct net_if *f, const unsigned long long v[16], double dt_s)
{
	unsigned long long errs = v[2] + v[10], drops = v[3] + v[11];

	f->rates = f->seen == -1 && dt_s > 0;
	if (f->rates) {
		f->rx_Bps = net_rate(f->rx_bytes, v[0], dt_s);
		f->rx_pps = net_rate(f->rx_pkts, v[1], dt_s);
		f->tx_Bps = net_rate(f->tx_bytes, v[8], dt_s);
		f->tx_pps = net_rate(f->tx_pkts, v[9], dt_s);
		f->err_ps = net_rate(f->errs, errs, dt_s);
		f->drop_ps = net_rate(f->drops, drops, dt_s);
	}
	f->rx_bytes = v[0];
	f->rx_pkts = v[1];
	f->tx_bytes = v[8];
	f->tx_pkts = v[9];
	f->errs = errs;
	f->drops = drops;
	f->seen = 1;
}

/* Parses one "  name: 16 numbers" line; returns 0 when it is not one. */
static int
net_parse_line(const char *line, char name[NET_NAME_MAX],
    unsigned long long v[16])
{
	const char *colon, *end = strchr(line, '\n'), *s;
	char *e;
	size_t len;

	if (end == NULL)
		end = line + strlen(line);
	/* The name may contain ':' (aliases); split on the last one. */
	for (colon = NULL, s = line; s < end; s++)
		if (*s == ':')
			colon = s;
	if (colon == NULL)
		return 0;
	while (*line == ' ')
		line++;
	len = (size_t)(colon - line);
	if (len == 0 || len >= NET_NAME_MAX)
		return 0;
	memcpy(name, line, len);
	name[len] = '\0';
	s = colon + 1;
	for (int i = 0; i < 16; i++) {
		v[i] = strtoull(s, &e, 10);
		if (e == s)
			return 0;
		s = e;
	}
	return 1;
}

/* Drops interfaces not seen in this read, keeping the array dense. */
static void
net_sweep(struct sample_net *n)
{
	int i, j;

	for (i = j = 0; i < n->nifs; i++) {
		if (n->ifs[i].seen != 1)
			continue;
		if (i != j)
			n->ifs[j] = n->ifs[i];
		n->ifs[j++].seen = -1; /* -1: has a baseline for next time */
	}
	n->nifs = j;
}

int
sample_net_feed(struct sample_net *n, const char *text, double dt_s)
{
	unsigned long long v[16];
	char name[NET_NAME_MAX];
	const char *line = text;
	struct net_if *f;

	for (; line && *line; line = pfile_next_line(line)) {
		if (!net_parse_line(line, name, v))
			continue;
		if ((f = net_find(n, name)) == NULL) {
			if (n->nifs >= NET_IF_MAX)
				continue;
			f = &n->ifs[n->nifs++];
			memset(f, 0, sizeof(*f));
			snprintf(f->name, sizeof(f->name), "%s", name);
			f->skip = net_skip(n, name);
		}
		net_update(f, v, dt_s);
	}
	net_sweep(n);
	return 0;
}

int
sample_net_read(struct sample_net *n, double dt_s)
{
	long r;

	if ((r = pfile_read(&n->dev, n->buf, sizeof(n->buf))) < 0)
		return (int)r;
	return sample_net_feed(n, n->buf, dt_s);
}

int
sample_net_json(const struct sample_net *n, struct buf *out)
{
	int r = buf_adds(out, "\"net\":["), first = 1;

	for (int i = 0; r == 0 && i < n->nifs; i++) {
		const struct net_if *f = &n->ifs[i];
		char safe[NET_NAME_MAX];

		if (!f->rates || f->skip)
			continue;
		r = buf_adds(out, first ? "{\"if\":" : ",{\"if\":");
		first = 0;
		pfile_put_text(safe, 0, sizeof(safe), f->name, strlen(f->name));
		if (r == 0)
			r = buf_add_json_string(out, safe);
		if (r == 0)
			r = buf_printf(out, ",\"rx_Bps\":%.0f,\"tx_Bps\":%.0f,"
			    "\"rx_pps\":%.0f,\"tx_pps\":%.0f,\"err_ps\":%.1f,"
			    "\"drop_ps\":%.1f}", f->rx_Bps, f->tx_Bps,
			    f->rx_pps, f->tx_pps, f->err_ps, f->drop_ps);
	}
	return r ? r : buf_adds(out, "]");
}
