/*
 * /proc/meminfo and /proc/vmstat: memory as free(1) shows it and swap
 * traffic. Owns those two files only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sample_mem.h"

void
sample_mem_init(struct sample_mem *m)
{
	memset(m, 0, sizeof(*m));
	pfile_init(&m->meminfo);
	pfile_init(&m->vmstat);
}

int
sample_mem_open(struct sample_mem *m, const char *proc_root)
{
	int r;

	if ((r = pfile_open(&m->meminfo, proc_root, "meminfo")) < 0)
		return r;
	pfile_open(&m->vmstat, proc_root, "vmstat");
	return 0;
}

void
sample_mem_close(struct sample_mem *m)
{
	pfile_close(&m->meminfo);
	pfile_close(&m->vmstat);
}

static const struct mem_key {
	const char *name;
	size_t off;
} mem_keys[] = {
	{"MemTotal:", offsetof(struct mem_info, total)},
	{"MemFree:", offsetof(struct mem_info, free)},
	{"MemAvailable:", offsetof(struct mem_info, avail)},
	{"Buffers:", offsetof(struct mem_info, buffers)},
	{"Cached:", offsetof(struct mem_info, cached)},
	{"SReclaimable:", offsetof(struct mem_info, sreclaim)},
	{"Shmem:", offsetof(struct mem_info, shmem)},
	{"SwapTotal:", offsetof(struct mem_info, swap_total)},
	{"SwapFree:", offsetof(struct mem_info, swap_free)},
	{NULL, 0},
};

/* Parses meminfo into mi (values in bytes); returns 1 when MemTotal seen. */
static int
mem_parse(const char *text, struct mem_info *mi)
{
	const struct mem_key *k;
	const char *line = text;
	int seen_total = 0;
	size_t n;

	memset(mi, 0, sizeof(*mi));
	for (; line && *line; line = pfile_next_line(line)) {
		for (k = mem_keys; k->name; k++) {
			n = strlen(k->name);
			if (strncmp(line, k->name, n) != 0)
				continue;
			*(unsigned long long *)((char *)mi + k->off) =
			    strtoull(line + n, NULL, 10) * 1024;
			if (k->off == offsetof(struct mem_info, total))
				seen_total = 1;
			if (k->off == offsetof(struct mem_info, avail))
				mi->has_avail = 1;
			break;
		}
	}
	return seen_total;
}

/* The value of "name N" in vmstat text, or 0 when missing. */
static unsigned long long
mem_vmstat(const char *text, const char *name)
{
	size_t n = strlen(name);
	const char *line = text;

	for (; line && *line; line = pfile_next_line(line))
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			return strtoull(line + n + 1, NULL, 10);
	return 0;
}

/* procps library/meminfo.c: used = total - available, with its guards. */
static void
mem_derive(struct sample_mem *m)
{
	struct mem_info *mi = &m->mi;

	if (!mi->has_avail || mi->avail > mi->total)
		mi->avail = mi->free;
	m->used = mi->total >= mi->avail ? mi->total - mi->avail :
	    (mi->total >= mi->free ? mi->total - mi->free : 0);
	m->swap_used = mi->swap_free < mi->swap_total ?
	    mi->swap_total - mi->swap_free : 0;
}

int
sample_mem_feed(struct sample_mem *m, const char *meminfo, const char *vmstat,
    double dt_s)
{
	unsigned long long in = 0, out = 0;

	if (!mem_parse(meminfo, &m->mi))
		return -EPROTO;
	mem_derive(m);
	if (vmstat) {
		in = mem_vmstat(vmstat, "pswpin");
		out = mem_vmstat(vmstat, "pswpout");
	}
	m->rates = m->have_prev && dt_s > 0;
	if (m->rates) {
		m->in_ps = in >= m->pswpin ? (in - m->pswpin) / dt_s : 0;
		m->out_ps = out >= m->pswpout ? (out - m->pswpout) / dt_s : 0;
	}
	m->pswpin = in;
	m->pswpout = out;
	m->have_prev = 1;
	return 0;
}

int
sample_mem_read(struct sample_mem *m, double dt_s)
{
	const char *v = NULL;
	long n;

	if ((n = pfile_read(&m->meminfo, m->buf, sizeof(m->buf))) < 0)
		return (int)n;
	if (pfile_read(&m->vmstat, m->vmbuf, sizeof(m->vmbuf)) > 0)
		v = m->vmbuf;
	return sample_mem_feed(m, m->buf, v, dt_s);
}

int
sample_mem_json(const struct sample_mem *m, struct buf *out)
{
	const struct mem_info *mi = &m->mi;
	int r;

	r = buf_printf(out, "\"mem\":{\"total\":%llu,\"used\":%llu,"
	    "\"avail\":%llu,\"free\":%llu,\"buffers\":%llu,\"cached\":%llu,"
	    "\"shmem\":%llu},\"swap\":{\"total\":%llu,\"used\":%llu,",
	    mi->total, m->used, mi->avail, mi->free, mi->buffers,
	    mi->cached + mi->sreclaim, mi->shmem, mi->swap_total,
	    m->swap_used);
	if (r == 0 && m->rates)
		r = buf_printf(out, "\"in_ps\":%.1f,\"out_ps\":%.1f}",
		    m->in_ps, m->out_ps);
	else if (r == 0)
		r = buf_adds(out, "\"in_ps\":null,\"out_ps\":null}");
	return r;
}
