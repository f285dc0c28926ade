/*
 * cgroup v2 limits and usage (docs/agent.md "Containers") of the nearest
 * limited cgroup at or above the agent's own. The agent's own systemd unit
 * (*.service, *.scope) is skipped, so the agent's self-limits (CPUQuota,
 * MemoryMax) are not mistaken for a container's. "cg" is null when no ancestor
 * has a CPU or memory limit.
 */
#ifndef SNO_SAMPLE_CG_H
#define SNO_SAMPLE_CG_H

#include "buf.h"
#include "pfile.h"

struct sample_cg {
	int active;			/* a limited cgroup was found */
	char dir[512];
	struct pfile cpu_max, cpu_stat, mem_max, mem_cur, mem_stat;
	char buf[8192];			/* cpu.stat */
	char mbuf[8192];		/* memory.stat */
	double cpu_limit;		/* CPUs; 0 = no limit */
	unsigned long long mem_limit;	/* bytes; 0 = no limit */
	unsigned long long usage_us, throttled_us;
	unsigned long long mem_used;
	int have_prev, rates;
	double cpu_pct_of_limit, throttled_pct;
};

void sample_cg_init(struct sample_cg *g);
/*
 * Finds the agent's cgroup from proc_root/self/cgroup ("0::/path") under
 * cg_root (normally /sys/fs/cgroup) and opens the files of the nearest
 * limited one. Always 0: no cgroup v2 or no limit just leaves it inactive.
 */
int sample_cg_open(struct sample_cg *g, const char *proc_root,
    const char *cg_root);
/* Parses cpu.max text; sets *cpus (0 for "max"); 0 or -EPROTO. */
int cg_parse_cpu_max(const char *text, double *cpus);
/* Parses memory.max text; sets *bytes (0 for "max"); 0 or -EPROTO. */
int cg_parse_mem_max(const char *text, unsigned long long *bytes);
/* The value of key in a "key value" file (cpu.stat, memory.stat), or 0. */
unsigned long long cg_stat_value(const char *text, const char *key);
/*
 * The cgroup path of the unified hierarchy in /proc/self/cgroup text (the
 * "0::" line) into path, with the agent's own unit cut off (see above).
 * 0, or -ENOENT when there is none (cgroup v1 only).
 */
int cg_self_path(const char *text, char *path, size_t cap);
/* Reads cpu.stat, memory.current and memory.stat into sample_cg_feed. */
int sample_cg_read(struct sample_cg *g, double dt_s);
/*
 * Parses cpu.stat, memory.current and memory.stat text (each may be NULL:
 * unreadable) and derives the rates over dt_s against the previous feed,
 * as if just read. Always 0.
 */
int sample_cg_feed(struct sample_cg *g, const char *cpu_stat,
    const char *mem_cur, const char *mem_stat, double dt_s);
/* Appends "cg":null or "cg":{...}; 0 or negative errno. */
int sample_cg_json(const struct sample_cg *g, struct buf *out);
void sample_cg_close(struct sample_cg *g);

#endif
