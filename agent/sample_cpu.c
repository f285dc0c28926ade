/*
 * CPU, load and uptime from /proc/stat, /proc/loadavg and /proc/uptime.
 * Owns those three files; never reads per-process files. Tolerates CPUs
 * going offline (no cpuN line: the core is null) and counter resets (a
 * negative delta counts as 0; the new value is the next baseline).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample_cpu.h"

#define CPU_BUF_START 16384
#define CPU_BUF_MAX (4 * 1024 * 1024)

void
sample_cpu_init(struct sample_cpu *c)
{
	memset(c, 0, sizeof(*c));
	pfile_init(&c->stat);
	pfile_init(&c->loadavg);
	pfile_init(&c->uptime);
}

int
sample_cpu_open(struct sample_cpu *c, const char *proc_root)
{
	int r;

	if ((r = pfile_open(&c->stat, proc_root, "stat")) < 0)
		return r;
	/* loadavg and uptime are optional: a sandbox may hide them. */
	pfile_open(&c->loadavg, proc_root, "loadavg");
	pfile_open(&c->uptime, proc_root, "uptime");
	if ((c->buf = malloc(CPU_BUF_START)) == NULL)
		return -ENOMEM;
	c->bufcap = CPU_BUF_START;
	return 0;
}

void
sample_cpu_close(struct sample_cpu *c)
{
	pfile_close(&c->stat);
	pfile_close(&c->loadavg);
	pfile_close(&c->uptime);
	free(c->buf);
	free(c->prev.core);
	free(c->cur.core);
	free(c->cores);
	c->buf = NULL;
	c->prev.core = c->cur.core = NULL;
	c->cores = NULL;
}

static int
cpu_grow(struct cpu_raw *raw, int idx)
{
	struct cpu_ticks *p;
	int ncap = raw->cap ? raw->cap : 8;

	while (ncap <= idx)
		ncap *= 2;
	if ((p = realloc(raw->core, (size_t)ncap * sizeof(*p))) == NULL)
		return -ENOMEM;
	memset(p + raw->cap, 0, (size_t)(ncap - raw->cap) * sizeof(*p));
	raw->core = p;
	raw->cap = ncap;
	return 0;
}

/* Parses up to CPU_NFIELDS numbers after "cpu" or "cpuN"; missing = 0. */
static void
cpu_parse_ticks(const char *s, struct cpu_ticks *t)
{
	char *end;

	for (int i = 0; i < CPU_NFIELDS; i++) {
		t->f[i] = strtoull(s, &end, 10);
		if (end == s)
			t->f[i] = 0;
		s = end;
	}
	t->online = 1;
}

/* Returns the value of a "name N" line at the start of line, or 0. */
static int
cpu_parse_named(const char *line, const char *name, unsigned long long *v)
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) != 0 || line[n] != ' ')
		return 0;
	*v = strtoull(line + n + 1, NULL, 10);
	return 1;
}

static int
cpu_parse_line(const char *line, struct cpu_raw *raw, int *seen_total)
{
	char *end;
	long idx;
	int r;

	if (strncmp(line, "cpu ", 4) == 0) {
		cpu_parse_ticks(line + 4, &raw->total);
		*seen_total = 1;
	} else if (strncmp(line, "cpu", 3) == 0 && line[3] >= '0' &&
	    line[3] <= '9') {
		idx = strtol(line + 3, &end, 10);
		if (idx < 0 || idx > 65535 || *end != ' ')
			return 0;
		if (idx >= raw->cap && (r = cpu_grow(raw, (int)idx)) < 0)
			return r;
		cpu_parse_ticks(end, &raw->core[idx]);
		if (idx + 1 > raw->ncore)
			raw->ncore = (int)idx + 1;
	} else if (!cpu_parse_named(line, "ctxt", &raw->ctxt) &&
	    !cpu_parse_named(line, "intr", &raw->intr) &&
	    !cpu_parse_named(line, "processes", &raw->forks) &&
	    !cpu_parse_named(line, "procs_running", &raw->running))
		cpu_parse_named(line, "procs_blocked", &raw->blocked);
	return 0;
}

int
cpu_parse_stat(const char *text, struct cpu_raw *raw)
{
	const char *line = text;
	int seen_total = 0, r;

	for (int i = 0; i < raw->cap; i++)
		raw->core[i].online = 0;
	raw->ncore = 0;
	raw->ctxt = raw->intr = raw->forks = raw->running = raw->blocked = 0;
	while (line && *line) {
		if ((r = cpu_parse_line(line, raw, &seen_total)) < 0)
			return r;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return seen_total ? 0 : -EPROTO;
}

static unsigned long long
cpu_delta(unsigned long long prev, unsigned long long cur)
{
	return cur >= prev ? cur - prev : 0;
}

/* Deltas of the eight summed fields plus usr/nic without guest. */
static double
cpu_deltas(const struct cpu_ticks *p, const struct cpu_ticks *c,
    unsigned long long d[CPU_NFIELDS])
{
	unsigned long long total = 0;

	for (int i = 0; i < CPU_NFIELDS; i++)
		d[i] = cpu_delta(p->f[i], c->f[i]);
	for (int i = CPU_USER; i <= CPU_STEAL; i++)
		total += d[i];
	d[CPU_USER] -= d[CPU_GUEST] < d[CPU_USER] ? d[CPU_GUEST] : d[CPU_USER];
	d[CPU_NICE] -= d[CPU_GUEST_NICE] < d[CPU_NICE] ? d[CPU_GUEST_NICE]
	    : d[CPU_NICE];
	return (double)total;
}

static void
cpu_derive_total(struct sample_cpu *c)
{
	unsigned long long d[CPU_NFIELDS];
	double t = cpu_deltas(&c->prev.total, &c->cur.total, d);
	double k = t > 0 ? 100.0 / t : 0;
	struct cpu_pct *p = &c->pct;

	p->usr = d[CPU_USER] * k;
	p->nic = d[CPU_NICE] * k;
	p->sys = d[CPU_SYSTEM] * k;
	p->idle = d[CPU_IDLE] * k;
	p->iow = d[CPU_IOWAIT] * k;
	p->irq = d[CPU_IRQ] * k;
	p->sirq = d[CPU_SOFTIRQ] * k;
	p->stl = d[CPU_STEAL] * k;
	p->gst = (d[CPU_GUEST] + d[CPU_GUEST_NICE]) * k;
}

static void
cpu_derive_core(const struct cpu_ticks *pv, const struct cpu_ticks *cu,
    struct cpu_core_pct *o)
{
	unsigned long long d[CPU_NFIELDS];
	double t, k;

	memset(o, 0, sizeof(*o));
	if (!pv->online || !cu->online)
		return;
	/* A core whose counters went backwards was re-plugged: re-baseline. */
	for (int i = CPU_USER; i <= CPU_STEAL; i++)
		if (cu->f[i] < pv->f[i])
			return;
	t = cpu_deltas(pv, cu, d);
	k = t > 0 ? 100.0 / t : 0;
	o->usr = (d[CPU_USER] + d[CPU_NICE] + d[CPU_GUEST] +
	    d[CPU_GUEST_NICE]) * k;
	o->sys = (d[CPU_SYSTEM] + d[CPU_IRQ] + d[CPU_SOFTIRQ]) * k;
	o->iow = d[CPU_IOWAIT] * k;
	o->busy = t > 0 ? 100.0 - (d[CPU_IDLE] + d[CPU_IOWAIT]) * k : 0;
	if (o->busy < 0)
		o->busy = 0;
	o->valid = 1;
}

static int
cpu_derive(struct sample_cpu *c, double dt_s)
{
	struct cpu_core_pct *p;
	int i;

	c->n = 0;
	for (i = 0; i < c->cur.ncore; i++)
		c->n += c->cur.core[i].online;
	if (c->n == 0)
		c->n = 1; /* a kernel without cpuN lines: count the total */
	c->rates = c->have_prev && dt_s > 0;
	c->ncores = c->cur.ncore;
	if (c->ncores > c->corecap) {
		p = realloc(c->cores, (size_t)c->ncores * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		c->cores = p;
		c->corecap = c->ncores;
	}
	if (!c->rates) {
		for (i = 0; i < c->ncores; i++)
			c->cores[i].valid = 0;
		return 0;
	}
	cpu_derive_total(c);
	for (i = 0; i < c->ncores; i++) {
		static const struct cpu_ticks none;
		const struct cpu_ticks *pv = i < c->prev.ncore ?
		    &c->prev.core[i] : &none;

		cpu_derive_core(pv, &c->cur.core[i], &c->cores[i]);
	}
	c->ctxt_ps = cpu_delta(c->prev.ctxt, c->cur.ctxt) / dt_s;
	c->intr_ps = cpu_delta(c->prev.intr, c->cur.intr) / dt_s;
	c->forks_ps = cpu_delta(c->prev.forks, c->cur.forks) / dt_s;
	return 0;
}

int
sample_cpu_feed(struct sample_cpu *c, const char *stat, const char *loadavg,
    const char *uptime, double dt_s)
{
	struct cpu_raw tmp;
	int r;

	if ((r = cpu_parse_stat(stat, &c->cur)) < 0)
		return r;
	/* strtod's "inf" and "nan" would print as text JSON has no word for. */
	if (loadavg && (sscanf(loadavg, "%lf %lf %lf", &c->load[0],
	    &c->load[1], &c->load[2]) != 3 || !isfinite(c->load[0]) ||
	    !isfinite(c->load[1]) || !isfinite(c->load[2])))
		c->load[0] = c->load[1] = c->load[2] = 0;
	if (uptime && (sscanf(uptime, "%lf", &c->uptime_s) != 1 ||
	    !isfinite(c->uptime_s)))
		c->uptime_s = 0;
	r = cpu_derive(c, dt_s);
	/* The current reading becomes the baseline; swap keeps both arrays. */
	tmp = c->prev;
	c->prev = c->cur;
	c->cur = tmp;
	c->have_prev = 1;
	return r;
}

unsigned long long
sample_cpu_busy(const struct sample_cpu *c)
{
	const unsigned long long *f = c->prev.total.f;

	if (!c->have_prev)
		return 0;
	return f[CPU_USER] + f[CPU_NICE] + f[CPU_SYSTEM] + f[CPU_IRQ] +
	    f[CPU_SOFTIRQ];
}

int
sample_cpu_read(struct sample_cpu *c, double dt_s)
{
	char small[256], up[128];
	const char *la = NULL, *ut = NULL;
	long n;
	char *p;

	for (;;) {
		if ((n = pfile_read(&c->stat, c->buf, c->bufcap)) < 0)
			return (int)n;
		if ((size_t)n < c->bufcap - 1 || c->bufcap >= CPU_BUF_MAX)
			break;
		if ((p = realloc(c->buf, c->bufcap * 2)) == NULL)
			return -ENOMEM;
		c->buf = p;
		c->bufcap *= 2;
	}
	if (pfile_read(&c->loadavg, small, sizeof(small)) > 0)
		la = small;
	if (pfile_read(&c->uptime, up, sizeof(up)) > 0)
		ut = up;
	return sample_cpu_feed(c, c->buf, la, ut, dt_s);
}

static int
cpu_json_cores(const struct sample_cpu *c, struct buf *out)
{
	int r = buf_adds(out, "\"cores_fields\":[\"usr\",\"sys\",\"iow\","
	    "\"busy\"],\"cores\":[");

	for (int i = 0; r == 0 && i < c->ncores; i++) {
		const struct cpu_core_pct *o = &c->cores[i];

		if (i > 0)
			r = buf_adds(out, ",");
		if (r == 0 && o->valid)
			r = buf_printf(out, "[%.1f,%.1f,%.1f,%.1f]", o->usr,
			    o->sys, o->iow, o->busy);
		else if (r == 0)
			r = buf_adds(out, "null");
	}
	return r ? r : buf_adds(out, "]");
}

int
sample_cpu_json(const struct sample_cpu *c, struct buf *out)
{
	const struct cpu_pct *p = &c->pct;
	int r;

	if ((r = buf_printf(out, "\"cpu\":{\"n\":%d,", c->n)) < 0)
		return r;
	if (c->rates)
		r = buf_printf(out, "\"pct\":{\"usr\":%.1f,\"nic\":%.1f,"
		    "\"sys\":%.1f,\"iow\":%.1f,\"irq\":%.1f,\"sirq\":%.1f,"
		    "\"stl\":%.1f,\"gst\":%.1f,\"idle\":%.1f},", p->usr,
		    p->nic, p->sys, p->iow, p->irq, p->sirq, p->stl, p->gst,
		    p->idle);
	else
		r = buf_adds(out, "\"pct\":null,");
	if (r == 0)
		r = cpu_json_cores(c, out);
	if (r == 0 && c->rates)
		r = buf_printf(out, ",\"ctxt_ps\":%.0f,\"intr_ps\":%.0f,"
		    "\"forks_ps\":%.1f}", c->ctxt_ps, c->intr_ps, c->forks_ps);
	else if (r == 0)
		r = buf_adds(out, ",\"ctxt_ps\":null,\"intr_ps\":null,"
		    "\"forks_ps\":null}");
	if (r == 0)
		r = buf_printf(out, ",\"load\":[%.2f,%.2f,%.2f]", c->load[0],
		    c->load[1], c->load[2]);
	return r;
}
