/*
 * CPU collector: /proc/stat (total and per-core ticks, ctxt, intr, forks,
 * procs_running/blocked), /proc/loadavg and /proc/uptime, kept open and
 * re-read with pread. Percentages follow docs/agent.md "CPU": the total
 * excludes guest and guest_nice (already inside user and nice), usr and nic
 * exclude guest, gst = guest + guest_nice, so the nine parts sum to 100.
 */
#ifndef SNO_SAMPLE_CPU_H
#define SNO_SAMPLE_CPU_H

#include "buf.h"
#include "pfile.h"

enum { CPU_USER, CPU_NICE, CPU_SYSTEM, CPU_IDLE, CPU_IOWAIT, CPU_IRQ,
	CPU_SOFTIRQ, CPU_STEAL, CPU_GUEST, CPU_GUEST_NICE, CPU_NFIELDS };

struct cpu_ticks {
	unsigned long long f[CPU_NFIELDS];
	int online;			/* a cpuN line was present */
};

struct cpu_raw {
	struct cpu_ticks total;
	struct cpu_ticks *core;		/* indexed by CPU number */
	int ncore;			/* highest CPU number seen + 1 */
	int cap;
	unsigned long long ctxt, intr, forks, running, blocked;
};

struct cpu_pct {
	double usr, nic, sys, iow, irq, sirq, stl, gst, idle;
};

struct cpu_core_pct {
	double usr, sys, iow, busy;
	int valid;			/* 0: offline now or no baseline */
};

struct sample_cpu {
	struct pfile stat, loadavg, uptime;
	char *buf;			/* grows only when /proc/stat does */
	size_t bufcap;
	struct cpu_raw prev, cur;
	int have_prev;
	/* Derived by the last read. */
	int n;				/* online CPUs */
	int rates;			/* the fields below are valid */
	struct cpu_pct pct;
	struct cpu_core_pct *cores;
	int ncores;
	int corecap;
	double ctxt_ps, intr_ps, forks_ps;
	double load[3];
	double uptime_s;
};

/* Zeroes c; nothing to free until _open or _feed. */
void sample_cpu_init(struct sample_cpu *c);
/*
 * The ticks of the latest /proc/stat cpu line that processes can have been
 * charged with: user, nice, system, and irq and softirq, which a kernel
 * without IRQ_TIME_ACCOUNTING also counts in the runtime of the task they
 * interrupted. 0 before the first reading. (After a feed the latest reading
 * is the baseline of the next, in prev, not cur.)
 */
unsigned long long sample_cpu_busy(const struct sample_cpu *c);
/* Opens root/stat, root/loadavg, root/uptime; 0 or negative errno. */
int sample_cpu_open(struct sample_cpu *c, const char *proc_root);
/*
 * Reads the files and derives rates over dt_s seconds (the first read only
 * sets the baseline). 0 or negative errno.
 */
int sample_cpu_read(struct sample_cpu *c, double dt_s);
/*
 * Parses /proc/stat text (and optionally loadavg/uptime text, may be NULL)
 * as if just read, derives rates against the previous feed. For tests and
 * sample_cpu_read. 0, -EPROTO on text without a "cpu " line, -ENOMEM.
 */
int sample_cpu_feed(struct sample_cpu *c, const char *stat,
    const char *loadavg, const char *uptime, double dt_s);
/* Parses /proc/stat text into raw (growing raw->core as needed). */
int cpu_parse_stat(const char *text, struct cpu_raw *raw);
/* Appends "cpu":{...},"load":[...] to out. 0 or negative errno. */
int sample_cpu_json(const struct sample_cpu *c, struct buf *out);
/* Closes files, frees buffers; safe after init. */
void sample_cpu_close(struct sample_cpu *c);

#endif
