/*
 * /proc/diskstats: throughput, IOPS, utilisation and await per whole disk.
 * Owns that file; looks at /sys/class/block once per new device to tell a
 * partition from a disk.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sample_disk.h"

void
sample_disk_init(struct sample_disk *d)
{
	memset(d, 0, sizeof(*d));
	pfile_init(&d->stats);
}

int
sample_disk_open(struct sample_disk *d, const char *proc_root,
    const char *sys_root)
{
	snprintf(d->sys_root, sizeof(d->sys_root), "%s", sys_root);
	return pfile_open(&d->stats, proc_root, "diskstats");
}

void
sample_disk_close(struct sample_disk *d)
{
	pfile_close(&d->stats);
}

/* Name-based partition test for when /sys is not there (node_exporter). */
static int
disk_looks_partition(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || !isdigit((unsigned char)name[n - 1]))
		return 0;
	if (strncmp(name, "nvme", 4) == 0 || strncmp(name, "mmcblk", 6) == 0)
		return strchr(name, 'p') != NULL &&
		    isdigit((unsigned char)strrchr(name, 'p')[-1]);
	return strncmp(name, "sd", 2) == 0 || strncmp(name, "vd", 2) == 0 ||
	    strncmp(name, "xvd", 3) == 0 || strncmp(name, "hd", 2) == 0;
}

int
disk_skip_name(const char *sys_root, const char *name)
{
	static const char *const prefixes[] = {"loop", "ram", "zram", "sr",
	    "fd", "dm-", "md", "nbd", NULL};
	char path[512];

	for (int i = 0; prefixes[i]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	snprintf(path, sizeof(path), "%s/class/block/%s", sys_root, name);
	if (access(path, F_OK) == 0) {
		snprintf(path, sizeof(path), "%s/class/block/%s/partition",
		    sys_root, name);
		return access(path, F_OK) == 0;
	}
	return disk_looks_partition(name);
}

static struct disk_dev *
disk_find(struct sample_disk *d, const char *name)
{
	for (int i = 0; i < d->ndevs; i++)
		if (strcmp(d->devs[i].name, name) == 0)
			return &d->devs[i];
	return NULL;
}

static unsigned long long
disk_delta(unsigned long long prev, unsigned long long cur)
{
	return cur >= prev ? cur - prev : 0;
}

/* v: the 11 classic fields after "major minor name". */
static void
disk_update(struct disk_dev *x, const unsigned long long v[11], double dt_s)
{
	unsigned long long drd, dwr, dms;

	x->rates = x->seen == -1 && dt_s > 0;
	if (x->rates) {
		drd = disk_delta(x->rd, v[0]);
		dwr = disk_delta(x->wr, v[4]);
		dms = disk_delta(x->rd_ms, v[3]) + disk_delta(x->wr_ms, v[7]);
		x->r_Bps = disk_delta(x->rd_sec, v[2]) * 512.0 / dt_s;
		x->w_Bps = disk_delta(x->wr_sec, v[6]) * 512.0 / dt_s;
		x->r_iops = drd / dt_s;
		x->w_iops = dwr / dt_s;
		x->util = 100.0 * disk_delta(x->io_ms, v[9]) / (dt_s * 1000);
		if (x->util > 100)
			x->util = 100;
		x->await_ms = drd + dwr ? (double)dms / (drd + dwr) : 0;
	}
	x->rd = v[0];
	x->rd_sec = v[2];
	x->rd_ms = v[3];
	x->wr = v[4];
	x->wr_sec = v[6];
	x->wr_ms = v[7];
	x->io_ms = v[9];
	x->seen = 1;
}

static int
disk_parse_line(const char *line, char name[DISK_NAME_MAX],
    unsigned long long v[11])
{
	char *e;
	const char *s;
	size_t len;

	strtoul(line, &e, 10);		/* major */
	strtoul(e, &e, 10);		/* minor */
	s = e;
	while (*s == ' ')
		s++;
	for (len = 0; s[len] && s[len] != ' ' && s[len] != '\n'; len++)
		;
	if (len == 0 || len >= DISK_NAME_MAX)
		return 0;
	memcpy(name, s, len);
	name[len] = '\0';
	s += len;
	for (int i = 0; i < 11; i++) {
		v[i] = strtoull(s, &e, 10);
		if (e == s)
			return 0;
		s = e;
	}
	return 1;
}

static void
disk_sweep(struct sample_disk *d)
{
	int i, j;

	for (i = j = 0; i < d->ndevs; i++) {
		if (d->devs[i].seen != 1)
			continue;
		if (i != j)
			d->devs[j] = d->devs[i];
		d->devs[j++].seen = -1;
	}
	d->ndevs = j;
}

int
sample_disk_feed(struct sample_disk *d, const char *text, double dt_s)
{
	unsigned long long v[11];
	char name[DISK_NAME_MAX];
	const char *line = text;
	struct disk_dev *x;

	for (; line && *line; line = pfile_next_line(line)) {
		if (!disk_parse_line(line, name, v))
			continue;
		if ((x = disk_find(d, name)) == NULL) {
			if (d->ndevs >= DISK_MAX)
				continue;
			x = &d->devs[d->ndevs++];
			memset(x, 0, sizeof(*x));
			snprintf(x->name, sizeof(x->name), "%s", name);
			x->skip = disk_skip_name(d->sys_root, name);
		}
		disk_update(x, v, dt_s);
	}
	disk_sweep(d);
	return 0;
}

int
sample_disk_read(struct sample_disk *d, double dt_s)
{
	long r;

	if ((r = pfile_read(&d->stats, d->buf, sizeof(d->buf))) < 0)
		return (int)r;
	return sample_disk_feed(d, d->buf, dt_s);
}

int
sample_disk_json(const struct sample_disk *d, struct buf *out)
{
	int r = buf_adds(out, "\"disk\":["), first = 1;

	for (int i = 0; r == 0 && i < d->ndevs; i++) {
		const struct disk_dev *x = &d->devs[i];
		char safe[DISK_NAME_MAX];

		if (!x->rates || x->skip)
			continue;
		r = buf_adds(out, first ? "{\"dev\":" : ",{\"dev\":");
		first = 0;
		pfile_put_text(safe, 0, sizeof(safe), x->name, strlen(x->name));
		if (r == 0)
			r = buf_add_json_string(out, safe);
		if (r == 0)
			r = buf_printf(out, ",\"r_Bps\":%.0f,\"w_Bps\":%.0f,"
			    "\"r_iops\":%.1f,\"w_iops\":%.1f,\"util\":%.1f,"
			    "\"await_ms\":%.2f}", x->r_Bps, x->w_Bps, x->r_iops,
			    x->w_iops, x->util, x->await_ms);
	}
	return r ? r : buf_adds(out, "]");
}
