/*
 * cgroup v2: cpu.max, cpu.stat, memory.max, memory.current and memory.stat
 * of the nearest limited cgroup (see sample_cg.h). Memory used is
 * memory.current - inactive_file, the docker CLI formula.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample_cg.h"

void
sample_cg_init(struct sample_cg *g)
{
	memset(g, 0, sizeof(*g));
	pfile_init(&g->cpu_max);
	pfile_init(&g->cpu_stat);
	pfile_init(&g->mem_max);
	pfile_init(&g->mem_cur);
	pfile_init(&g->mem_stat);
}

void
sample_cg_close(struct sample_cg *g)
{
	pfile_close(&g->cpu_max);
	pfile_close(&g->cpu_stat);
	pfile_close(&g->mem_max);
	pfile_close(&g->mem_cur);
	pfile_close(&g->mem_stat);
	g->active = 0;
}

int
cg_parse_cpu_max(const char *text, double *cpus)
{
	double quota, period;

	*cpus = 0;
	if (strncmp(text, "max", 3) == 0)
		return 0;
	/* The kernel writes integers; refuse what would not print as JSON. */
	if (sscanf(text, "%lf %lf", &quota, &period) != 2 || !(period > 0) ||
	    !(quota >= 0) || !isfinite(quota / period))
		return -EPROTO;
	*cpus = quota / period;
	return 0;
}

int
cg_parse_mem_max(const char *text, unsigned long long *bytes)
{
	char *end;

	*bytes = 0;
	if (strncmp(text, "max", 3) == 0)
		return 0;
	*bytes = strtoull(text, &end, 10);
	return end == text ? -EPROTO : 0;
}

unsigned long long
cg_stat_value(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *line = text;

	for (; line && *line; line = pfile_next_line(line))
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			return strtoull(line + n + 1, NULL, 10);
	return 0;
}

/* Reads the limits of cgroup directory dir; 1 when it has any. */
static int
cg_limited(const char *dir, double *cpus, unsigned long long *mem)
{
	char text[128];

	*cpus = 0;
	*mem = 0;
	if (pfile_slurp(dir, "cpu.max", text, sizeof(text)) > 0)
		cg_parse_cpu_max(text, cpus);
	if (pfile_slurp(dir, "memory.max", text, sizeof(text)) > 0)
		cg_parse_mem_max(text, mem);
	return *cpus > 0 || *mem > 0;
}

/* Cuts the last component of a cgroup path; 0 when already at "/". */
static int
cg_parent(char *path)
{
	char *slash = strrchr(path, '/');

	if (slash == NULL || (slash == path && path[1] == '\0'))
		return 0;
	slash[slash == path ? 1 : 0] = '\0';
	return 1;
}

static int
cg_is_unit(const char *path)
{
	const char *leaf = strrchr(path, '/');
	size_t n;

	leaf = leaf ? leaf + 1 : path;
	n = strlen(leaf);
	return (n > 8 && strcmp(leaf + n - 8, ".service") == 0) ||
	    (n > 6 && strcmp(leaf + n - 6, ".scope") == 0);
}

int
cg_self_path(const char *text, char *path, size_t cap)
{
	const char *line;
	char *nl;

	if (strncmp(text, "0::", 3) == 0)
		line = text;
	else if ((line = strstr(text, "\n0::")) != NULL)
		line++;
	else
		return -ENOENT; /* cgroup v1 only */
	snprintf(path, cap, "%s", line + 3);
	if ((nl = strchr(path, '\n')) != NULL)
		*nl = '\0';
	if (cg_is_unit(path))
		cg_parent(path);
	return 0;
}

int
sample_cg_open(struct sample_cg *g, const char *proc_root, const char *cg_root)
{
	char text[1024], path[512];

	if (pfile_slurp(proc_root, "self/cgroup", text, sizeof(text)) <= 0)
		return 0;
	if (cg_self_path(text, path, sizeof(path)) < 0)
		return 0;
	for (;;) {
		snprintf(g->dir, sizeof(g->dir), "%s%s", cg_root,
		    strcmp(path, "/") == 0 ? "" : path);
		if (cg_limited(g->dir, &g->cpu_limit, &g->mem_limit))
			break;
		if (!cg_parent(path))
			return 0;
	}
	pfile_open(&g->cpu_stat, g->dir, "cpu.stat");
	pfile_open(&g->mem_cur, g->dir, "memory.current");
	pfile_open(&g->mem_stat, g->dir, "memory.stat");
	g->active = 1;
	return 0;
}

int
sample_cg_feed(struct sample_cg *g, const char *cpu_stat, const char *mem_cur,
    const char *mem_stat, double dt_s)
{
	unsigned long long usage = 0, thr = 0, cur = 0, inactive = 0;

	if (cpu_stat) {
		usage = cg_stat_value(cpu_stat, "usage_usec");
		thr = cg_stat_value(cpu_stat, "throttled_usec");
	}
	if (mem_cur)
		cur = strtoull(mem_cur, NULL, 10);
	if (mem_stat)
		inactive = cg_stat_value(mem_stat, "inactive_file");
	g->mem_used = cur > inactive ? cur - inactive : 0;
	g->rates = g->have_prev && dt_s > 0;
	if (g->rates) {
		double dus = usage >= g->usage_us ? usage - g->usage_us : 0;
		double dthr = thr >= g->throttled_us ?
		    thr - g->throttled_us : 0;
		double lim = g->cpu_limit > 0 ? g->cpu_limit : 1;

		g->cpu_pct_of_limit = 100.0 * dus / (dt_s * 1e6 * lim);
		g->throttled_pct = 100.0 * dthr / (dt_s * 1e6);
	}
	g->usage_us = usage;
	g->throttled_us = thr;
	g->have_prev = 1;
	return 0;
}

int
sample_cg_read(struct sample_cg *g, double dt_s)
{
	char cur[64];
	const char *stat = NULL, *mcur = NULL, *mstat = NULL;

	if (!g->active)
		return 0;
	if (pfile_read(&g->cpu_stat, g->buf, sizeof(g->buf)) > 0)
		stat = g->buf;
	if (pfile_read(&g->mem_cur, cur, sizeof(cur)) > 0)
		mcur = cur;
	if (pfile_read(&g->mem_stat, g->mbuf, sizeof(g->mbuf)) > 0)
		mstat = g->mbuf;
	return sample_cg_feed(g, stat, mcur, mstat, dt_s);
}

int
sample_cg_json(const struct sample_cg *g, struct buf *out)
{
	int r;

	if (!g->active)
		return buf_adds(out, "\"cg\":null");
	if (g->cpu_limit > 0)
		r = buf_printf(out, "\"cg\":{\"cpu_limit\":%.2f,",
		    g->cpu_limit);
	else
		r = buf_adds(out, "\"cg\":{\"cpu_limit\":null,");
	if (r == 0 && g->rates && g->cpu_limit > 0)
		r = buf_printf(out, "\"cpu_pct_of_limit\":%.1f,"
		    "\"throttled_pct\":%.1f,", g->cpu_pct_of_limit,
		    g->throttled_pct);
	else if (r == 0)
		r = buf_adds(out, "\"cpu_pct_of_limit\":null,"
		    "\"throttled_pct\":null,");
	if (r == 0 && g->mem_limit > 0)
		r = buf_printf(out, "\"mem_limit\":%llu,", g->mem_limit);
	else if (r == 0)
		r = buf_adds(out, "\"mem_limit\":null,");
	if (r == 0)
		r = buf_printf(out, "\"mem_used\":%llu}", g->mem_used);
	return r;
}
