/*
 * The sampler: owns every collector and assembles one sample (schema v1,
 * docs/sample-format.md) as minified JSON. It reads, it never sends.
 */
#ifndef SNO_SAMPLER_H
#define SNO_SAMPLER_H

#include <stdint.h>

#include "buf.h"

struct sampler;

struct sampler_opts {
	const char *proc_root;	/* "/proc" */
	const char *sys_root;	/* "/sys" */
	const char *cg_root;	/* "/sys/fs/cgroup" */
	const char *host;	/* host id written into each sample */
	int top_n;
	int send_cmdline;
	int max_fds;		/* kept-open /proc/PID/stat fds at most */
};

/*
 * Opens every collector. /proc/stat, /proc/meminfo and the process
 * directory are required; the others are skipped with a warning when
 * missing. Returns NULL (errno set) on failure.
 */
struct sampler *sampler_new(const struct sampler_opts *o);
/*
 * Takes one reading of everything; rates are over the time since the
 * previous reading (the first reading has none: dt_ms 0, rates null).
 * 0 or negative errno.
 */
int sampler_collect(struct sampler *s);
/*
 * Replaces out's contents with the sample of the last reading, numbered
 * seq. 0 or negative errno (-EMSGSIZE past out's cap).
 */
int sampler_json(struct sampler *s, long long seq, struct buf *out);
/* Milliseconds between the last two readings (0 after the first). */
int64_t sampler_dt_ms(const struct sampler *s);
void sampler_free(struct sampler *s);

#endif
