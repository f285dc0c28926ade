/*
 * Memory and swap collector: /proc/meminfo and /proc/vmstat, kept open.
 * "used" is MemTotal - MemAvailable as free(1) of procps-ng >= 4.0.1 prints
 * it, with procps' fallbacks (docs/agent.md "Memory and swap"). All sizes in
 * bytes.
 */
#ifndef SNO_SAMPLE_MEM_H
#define SNO_SAMPLE_MEM_H

#include "buf.h"
#include "pfile.h"

struct mem_info {
	unsigned long long total, free, avail, buffers, cached, sreclaim,
	    shmem, swap_total, swap_free;
	int has_avail;
};

struct sample_mem {
	struct pfile meminfo, vmstat;
	char buf[8192];
	char vmbuf[16384];
	struct mem_info mi;
	unsigned long long used, swap_used;
	unsigned long long pswpin, pswpout;	/* cumulative pages */
	int have_prev;
	int rates;
	double in_ps, out_ps;			/* pages per second */
};

void sample_mem_init(struct sample_mem *m);
/* Opens root/meminfo (required) and root/vmstat; 0 or negative errno. */
int sample_mem_open(struct sample_mem *m, const char *proc_root);
/* Reads both files, derives rates over dt_s; 0 or negative errno. */
int sample_mem_read(struct sample_mem *m, double dt_s);
/*
 * Parses meminfo text (and vmstat text, may be NULL) and derives used and
 * swap rates against the previous feed. 0, or -EPROTO without MemTotal.
 */
int sample_mem_feed(struct sample_mem *m, const char *meminfo,
    const char *vmstat, double dt_s);
/* Appends "mem":{...},"swap":{...}; 0 or negative errno. */
int sample_mem_json(const struct sample_mem *m, struct buf *out);
void sample_mem_close(struct sample_mem *m);

#endif
