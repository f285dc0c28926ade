/*
 * One sample: reads every collector in turn (sampler_collect), then writes
 * the JSON object (sampler_json) into a caller-owned buffer that is reused
 * from sample to sample. The agent's own CPU comes from getrusage, its RSS
 * from /proc/self/statm, its PSS (shared pages divided among the processes
 * mapping them) and USS (pages only it maps) from /proc/self/smaps_rollup,
 * read every SAMPLER_SMAPS_EVERY samples: the kernel walks every page table
 * of the process to produce it, which costs more than the rest of the self
 * report (about 15 % of the agent's CPU on an idle host, if read each time).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "proc_table.h"
#include "sample_cg.h"
#include "sample_cpu.h"
#include "sample_disk.h"
#include "sample_fs.h"
#include "sample_mem.h"
#include "sample_net.h"
#include "sampler.h"

#define SAMPLER_SMAPS_EVERY 10

struct sampler {
	struct sample_cpu cpu;
	struct sample_mem mem;
	struct sample_net net;
	struct sample_disk disk;
	struct sample_fs fs;
	struct sample_cg cg;
	struct proc_table pt;
	struct pfile self_statm;
	struct pfile self_smaps;	/* smaps_rollup, Linux >= 4.14 */
	char host[80];
	int64_t t0_us;		/* start of the last collection */
	int64_t dt_ms;
	int64_t ts_ms;
	double prev_cpu_s;
	double agent_cpu;
	unsigned long long agent_rss;
	long long agent_pss, agent_uss;	/* bytes; -1 unknown */
	unsigned long nself;	/* self reports so far */
	int have_prev;
};

static double
sampler_self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Opens the optional collectors, warning about each one missing. */
static void
sampler_open_optional(struct sampler *s, const struct sampler_opts *o)
{
	if (sample_net_open(&s->net, o->proc_root, o->sys_root) < 0)
		log_warn("sampler net disabled file=%s/net/dev", o->proc_root);
	if (sample_disk_open(&s->disk, o->proc_root, o->sys_root) < 0)
		log_warn("sampler disk disabled file=%s/diskstats",
		    o->proc_root);
	if (sample_fs_open(&s->fs, o->proc_root) < 0)
		log_warn("sampler fs disabled file=%s/self/mounts",
		    o->proc_root);
	sample_cg_open(&s->cg, o->proc_root, o->cg_root);
	pfile_open(&s->self_statm, o->proc_root, "self/statm");
	pfile_open(&s->self_smaps, o->proc_root, "self/smaps_rollup");
}

struct sampler *
sampler_new(const struct sampler_opts *o)
{
	struct sampler *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	sample_cpu_init(&s->cpu);
	sample_mem_init(&s->mem);
	sample_net_init(&s->net);
	sample_disk_init(&s->disk);
	sample_fs_init(&s->fs);
	sample_cg_init(&s->cg);
	pfile_init(&s->self_statm);
	pfile_init(&s->self_smaps);
	s->agent_pss = s->agent_uss = -1;
	snprintf(s->host, sizeof(s->host), "%s", o->host);
	if ((r = sample_cpu_open(&s->cpu, o->proc_root)) < 0 ||
	    (r = sample_mem_open(&s->mem, o->proc_root)) < 0 ||
	    (r = proc_table_open(&s->pt, o->proc_root, o->top_n,
	    o->send_cmdline, o->max_fds)) < 0)
		goto fail;
	sampler_open_optional(s, o);
	return s;
fail:
	sampler_free(s);
	errno = -r;
	return NULL;
}

void
sampler_free(struct sampler *s)
{
	if (s == NULL)
		return;
	sample_cpu_close(&s->cpu);
	sample_mem_close(&s->mem);
	sample_net_close(&s->net);
	sample_disk_close(&s->disk);
	sample_fs_close(&s->fs);
	sample_cg_close(&s->cg);
	proc_table_close(&s->pt);
	pfile_close(&s->self_statm);
	pfile_close(&s->self_smaps);
	free(s);
}

int64_t
sampler_dt_ms(const struct sampler *s)
{
	return s->dt_ms;
}

/* The kB value of field name ("Pss:") in smaps_rollup text, or -1. */
static long long
sampler_smaps_kb(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	while (p && p != text && p[-1] != '\n')
		p = strstr(p + 1, name);
	return p ? strtoll(p + strlen(name), NULL, 10) : -1;
}

/* PSS and USS (Private_Clean + Private_Dirty) from smaps_rollup, every
 * SAMPLER_SMAPS_EVERY calls; the values in between are the last read. */
static void
sampler_self_smaps(struct sampler *s)
{
	char text[2048];
	long long pss, pc, pd;

	if (s->nself++ % SAMPLER_SMAPS_EVERY != 0)
		return;
	s->agent_pss = s->agent_uss = -1;
	if (pfile_read(&s->self_smaps, text, sizeof(text)) <= 0)
		return;
	pss = sampler_smaps_kb(text, "Pss:");
	pc = sampler_smaps_kb(text, "Private_Clean:");
	pd = sampler_smaps_kb(text, "Private_Dirty:");
	if (pss >= 0)
		s->agent_pss = pss * 1024;
	if (pc >= 0 && pd >= 0)
		s->agent_uss = (pc + pd) * 1024;
}

static void
sampler_self(struct sampler *s, double dt_s)
{
	char text[128];
	unsigned long long size, res;
	double cpu = sampler_self_cpu_s();

	s->agent_cpu = dt_s > 0 ? 100.0 * (cpu - s->prev_cpu_s) / dt_s : 0;
	s->prev_cpu_s = cpu;
	if (pfile_read(&s->self_statm, text, sizeof(text)) > 0 &&
	    sscanf(text, "%llu %llu", &size, &res) == 2)
		s->agent_rss = res * (unsigned long long)sysconf(_SC_PAGESIZE);
	sampler_self_smaps(s);
}

int
sampler_collect(struct sampler *s)
{
	int64_t now = clock_mono_us();
	double dt_s = s->have_prev ? (now - s->t0_us) / 1e6 : 0;
	int r;

	s->dt_ms = s->have_prev ? (now - s->t0_us + 500) / 1000 : 0;
	s->t0_us = now;
	s->ts_ms = clock_wall_ms();
	if ((r = sample_cpu_read(&s->cpu, dt_s)) < 0 ||
	    (r = sample_mem_read(&s->mem, dt_s)) < 0)
		return r;
	/* Optional collectors: a failed read leaves their last values. */
	sample_net_read(&s->net, dt_s);
	sample_disk_read(&s->disk, dt_s);
	sample_fs_read(&s->fs, now / 1000);
	sample_cg_read(&s->cg, dt_s);
	/* The guard of the scan weighs its reads against the host's busy. */
	proc_table_busy(&s->pt, sample_cpu_busy(&s->cpu));
	if ((r = proc_table_scan(&s->pt, s->cpu.uptime_s, dt_s)) < 0)
		return r;
	sampler_self(s, dt_s);
	s->have_prev = 1;
	return 0;
}

/* "name":v then sep, or "name":null when v < 0. */
static int
sampler_json_bytes(struct buf *out, const char *name, long long v,
    const char *sep)
{
	if (v < 0)
		return buf_printf(out, "\"%s\":null%s", name, sep);
	return buf_printf(out, "\"%s\":%lld%s", name, v, sep);
}

int
sampler_json(struct sampler *s, long long seq, struct buf *out)
{
	int r;

	buf_reset(out);
	r = buf_adds(out, "{\"v\":1,\"host\":");
	if (r == 0)
		r = buf_add_json_string(out, s->host);
	if (r == 0)
		r = buf_printf(out, ",\"seq\":%lld,\"ts_ms\":%lld,"
		    "\"dt_ms\":%lld,\"uptime_s\":%.0f,", seq,
		    (long long)s->ts_ms, (long long)s->dt_ms, s->cpu.uptime_s);
	if (r == 0 && (r = sample_cpu_json(&s->cpu, out)) == 0)
		r = buf_adds(out, ",");
	if (r == 0 && (r = sample_mem_json(&s->mem, out)) == 0)
		r = buf_adds(out, ",");
	if (r == 0 && (r = sample_net_json(&s->net, out)) == 0)
		r = buf_adds(out, ",");
	if (r == 0 && (r = sample_disk_json(&s->disk, out)) == 0)
		r = buf_adds(out, ",");
	if (r == 0 && (r = sample_fs_json(&s->fs, out)) == 0)
		r = buf_adds(out, ",");
	if (r == 0 && (r = sample_cg_json(&s->cg, out)) == 0)
		r = buf_adds(out, ",");
	/* The process rows read status/cmdline: count them as collection. */
	if (r == 0)
		r = proc_table_json(&s->pt, out);
	if (r == 0)
		r = buf_printf(out, ",\"agent\":{\"cpu\":%.1f,\"rss\":%llu,",
		    s->agent_cpu, s->agent_rss);
	if (r == 0)
		r = sampler_json_bytes(out, "pss", s->agent_pss, ",");
	if (r == 0)
		r = sampler_json_bytes(out, "uss", s->agent_uss, ",");
	if (r == 0)
		r = buf_printf(out, "\"collect_us\":%lld}}",
		    (long long)(clock_mono_us() - s->t0_us));
	return r;
}
