/*
 * The process table: the only reader of /proc/PID/ files. Each sample reads
 * /proc/PID/schedstat of every process through a kept-open fd (pread; about
 * a fifth of the kernel's cost of stat) and /proc/PID/stat only when it can
 * have changed (proc_need_stat): a new process, one whose main thread ran
 * since the last stat read, one with other threads, last sample's top-N
 * rows, and every process once per PROC_REFRESH_SCANS samples (staggered by
 * pid). From stat it derives top's Irix %CPU from tick deltas keyed by (pid,
 * starttime) and counts tasks by state; status and cmdline are read only for
 * the top-N rows (cmdline once per process). The /proc directory is listed
 * again only when the fork counter of /proc/stat moved (proc_table_forks) or
 * on a refresh sample; exits show as ESRCH on the kept fds. Allocates only
 * when the table grows or a process first enters the top-N. Command lines
 * are scrubbed of secrets (proc_scrub).
 */
#ifndef SNO_PROC_TABLE_H
#define SNO_PROC_TABLE_H

#include <dirent.h>
#include <stddef.h>

#include "buf.h"

#define PROC_COMM_MAX 64
#define PROC_NAME_MAX 64
#define PROC_CMD_MAX 256
/* Every process's stat is re-read at least once per this many scans. */
#define PROC_REFRESH_SCANS 30

/* Fields of /proc/PID/stat we use. */
struct proc_stat {
	int pid, ppid, threads;
	char state;
	char comm[PROC_COMM_MAX];
	unsigned long long ticks;	/* utime + stime */
	unsigned long long start;	/* starttime, ticks since boot */
	unsigned long long rss_pages;
};

struct proc_ent {
	struct proc_stat st;
	int fd;			/* kept-open stat, or -1 */
	int sfd;		/* kept-open schedstat, or -1 */
	unsigned long long run_ns;	/* schedstat field 1 before the last
					   stat read; 0: unknown */
	unsigned read_scan;	/* pt->scans when stat was last read */
	int top;		/* in the top-N rows of the last scan */
	int uid;		/* -1 until read from status */
	unsigned long long uid_ns;	/* run_ns when uid was read */
	int fresh;		/* first seen in this scan */
	double cpu;		/* % of one core */
	char *name;		/* long program name, NULL: use comm */
	char *cmd;		/* scrubbed command line, NULL: not read */
};

struct proc_tasks {
	int total, threads, running, sleeping, blocked, zombie, stopped, idle;
};

struct proc_user {
	int uid;
	char name[33];
};

struct proc_table {
	char root[256];
	DIR *dir;
	struct proc_ent *ents, *next;	/* sorted by pid; next is scratch */
	int nents, cap;
	int *top;			/* indices into ents, best first */
	int ntop, top_n;
	int send_cmdline;
	struct proc_tasks tasks;
	long hz, page;
	double prev_uptime;
	int have_prev;
	int rates;
	int nfds, max_fds;
	unsigned scans;			/* scans so far */
	unsigned long long forks;	/* /proc/stat processes; 0: unknown */
	unsigned long long dir_forks;	/* forks at the last listing */
	int no_sched;			/* root has no PID/schedstat */
	struct proc_user users[64];
	int nusers;
	char buf[4096];
};

/*
 * Opens root (normally "/proc") for scanning. top_n rows are reported;
 * max_fds caps kept-open stat fds (beyond it files are opened per read).
 * 0 or negative errno.
 */
int proc_table_open(struct proc_table *pt, const char *root, int top_n,
    int send_cmdline, int max_fds);
/*
 * Scans every process. uptime_s is the host uptime now (for telling a
 * process born during the interval from one merely unseen), dt_s the
 * elapsed time since the previous scan. 0 or negative errno.
 */
int proc_table_scan(struct proc_table *pt, double uptime_s, double dt_s);
/*
 * The "processes" counter of /proc/stat, read before the next scan (0:
 * unknown). While it stays the same no process was created, so the scan
 * skips listing the directory and visits the known processes only.
 */
void proc_table_forks(struct proc_table *pt, unsigned long long forks);
/*
 * Whether a scan must read /proc/PID/stat: old is the process as last seen
 * (NULL: new), have_ns whether schedstat was read now and gave ns, refresh
 * whether this is the process's periodic refresh. Without a stat read the
 * process keeps its last stat fields and shows 0 % CPU.
 */
int proc_need_stat(const struct proc_ent *old, int have_ns,
    unsigned long long ns, int refresh);
/* Appends "tasks":{...},"procs_fields":[...],"procs_total":N,"procs":[...]. */
int proc_table_json(struct proc_table *pt, struct buf *out);
/* Closes every fd and frees everything; safe on a zeroed table. */
void proc_table_close(struct proc_table *pt);

/*
 * Parses one /proc/PID/stat text: comm is between the first '(' and the
 * last ')'. 0, or -EPROTO when fields up to rss are missing.
 */
int proc_parse_stat(const char *text, struct proc_stat *st);
/*
 * Turns a raw NUL-separated cmdline (len bytes) into a display string in
 * out (cap bytes, at most PROC_CMD_MAX): arguments joined by spaces, values
 * of secret-looking options replaced with "***", control characters and
 * invalid UTF-8 replaced with '?'. Returns the length written.
 */
size_t proc_scrub(const char *raw, size_t len, char *out, size_t cap);
/*
 * The display name: comm, or the basename of argv0 when comm is truncated
 * (15 characters) and that basename starts with it. Writes to out.
 */
void proc_long_name(const char *comm, const char *argv0, char *out,
    size_t cap);

#endif
