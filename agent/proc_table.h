/*
 * The process table: the only reader of /proc/PID/ files.
 *
 * Finding processes (proc_pids.c). A scan does not list /proc: it probes the
 * PIDs allocated since the last scan, (last_pid then, last_pid now] from
 * /proc/loadavg, wrapping at /proc/sys/kernel/pid_max, and skips the ones
 * that are threads of another process (/proc/TID/ is reachable though not
 * listed; a stat with one thread is a process, else Tgid in status says).
 * Exits show as ESRCH on the kept-open fds. /proc is listed instead on the
 * first scan, every PROC_LIST_SCANS scans, after a task count the table
 * could not explain (below), when more than PROC_PROBE_MAX PIDs were
 * allocated, when loadavg is unreadable, and always when root/self is not
 * this process (a PID namespace other than the one loadavg counts in).
 *
 * Reading processes. schedstat and stat stay open and are re-read with
 * pread. A hot process (new, seen running in the last PROC_HOT_SCANS scans,
 * or in the last top-N rows) has its schedstat read every scan, a cold one
 * every PROC_COLD_SLICES scans (staggered by pid); stat only when it can
 * have changed (proc_need_stat). %CPU is top's Irix %CPU from tick deltas
 * keyed by (pid, starttime), over the time since the process's own last
 * read: a late read or a reused PID never shows a spike. status and cmdline
 * are read for the top-N rows only (cmdline once per process).
 *
 * Exactness. After the hot processes and the cold slice, every process is
 * read in the same scan when either guard fires:
 * - CPU: the host's busy time in the interval (proc_table_busy) less the
 *   CPU of the processes read over that same interval, and of the children
 *   they reaped, bounds what the unread ones used: at most PROC_GUARD_PCT %
 *   of one core.
 * - Tasks: loadavg's count of tasks must equal the table's thread total.
 *   Armed while a full read agrees (not in a child PID namespace, where
 *   loadavg counts the host's); a mismatch that a full read does not
 *   explain makes the next scan list /proc.
 * So a process that uses more than PROC_GUARD_PCT % of a core in an
 * interval (plus /proc/stat's rounding, under a tick for each busy field
 * that moved, and as far as its tick-sampled accounting goes) is read in
 * that sample, its %CPU averaged since its last read; a smaller one within
 * PROC_COLD_SLICES samples, and from then on every sample, exactly. A
 * reaped process leaves the counts in the next sample while the task guard
 * is armed or /proc is listed, else within PROC_COLD_SLICES samples. A
 * process changes state only by running, so the counts by state are exact
 * for the hot ones; a cold one that ran too little for the CPU guard
 * (stopped by a signal, or a zombie not yet reaped) shows its new state
 * within PROC_COLD_SLICES samples. The first scans read every process, so
 * --once (two scans) is exact.
 *
 * Allocates only when the table grows or a process first enters the top-N.
 * Command lines are scrubbed of secrets (proc_scrub).
 */
#ifndef SNO_PROC_TABLE_H
#define SNO_PROC_TABLE_H

#include <dirent.h>
#include <stddef.h>

#include "buf.h"
#include "pfile.h"

#define PROC_COMM_MAX 64
#define PROC_NAME_MAX 64
#define PROC_CMD_MAX 256
/*
 * stat is re-read at least once per this many scans (staggered by pid), for
 * the fields others can change: rss by reclaim, ppid, comm.
 */
#define PROC_REFRESH_SCANS 300
/* /proc is listed at least once per this many scans. */
#define PROC_LIST_SCANS 60
/* More PIDs allocated than this in one interval: list instead of probing. */
#define PROC_PROBE_MAX 256
/* A process seen running in the last this many scans is hot. */
#define PROC_HOT_SCANS 10
/*
 * A cold process is read once per this many scans. The guards leave the
 * slice only processes under PROC_GUARD_PCT; an eighth instead of a quarter
 * saved 0.03 % of a core at 1,000 processes.
 */
#define PROC_COLD_SLICES 4
/* CPU the unread processes may have used, % of one core, before all are. */
#define PROC_GUARD_PCT 5

/* Why the last scan read every process (pt->full). */
enum { PROC_FULL_NONE, PROC_FULL_LIST, PROC_FULL_CPU, PROC_FULL_TASKS };

/* Fields of /proc/PID/stat we use. */
struct proc_stat {
	int pid, ppid, threads;
	char state;
	char comm[PROC_COMM_MAX];
	unsigned long long ticks;  /* utime + stime */
	unsigned long long cticks; /* cutime + cstime: reaped children */
	unsigned long long start;  /* starttime, ticks since boot */
	unsigned long long rss_pages;
};

struct proc_ent {
	struct proc_stat st;
	int fd;                    /* kept-open stat, or -1 */
	int sfd;                   /* kept-open schedstat, or -1 */
	unsigned long long run_ns; /* schedstat field 1 at the last stat
				      read; 0: unknown */
	double seen;               /* pt->clock at the last read */
	double span;               /* seconds the last read's %CPU is over */
	unsigned seen_scan;        /* pt->scans at the last read */
	unsigned ran_scan;         /* last scan that saw it run, or found it */
	unsigned read_scan;        /* pt->scans when stat was last read */
	unsigned stat_due;         /* scan from which stat is re-read anyway */
	int top;                   /* in the top-N rows of the last scan */
	int uid;                   /* -1 until read from status */
	unsigned long long uid_ns; /* run_ns when uid was read */
	unsigned char blank;       /* a PID just found: nothing read yet */
	unsigned char found;       /* listed or probed in this scan */
	unsigned char gone;        /* exited (or a thread): dropped */
	double cpu;                /* % of one core */
	char *name;                /* long program name, NULL: use comm */
	char *cmd;                 /* scrubbed command line, NULL: not read */
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
	struct pfile loadavg;         /* last_pid and the task count */
	struct proc_ent *ents, *next; /* sorted by pid; next is scratch */
	int nents, cap;
	int grew; /* the arrays grew in this scan: trim the heap */
	int *top; /* indices into ents, best first */
	int ntop, top_n;
	int send_cmdline;
	struct proc_tasks tasks;
	long hz, page;
	double prev_uptime;
	double clock; /* seconds of scans so far */
	double dt;    /* the last scan's interval */
	int have_prev;
	int rates;
	int nfds, max_fds;
	unsigned scans;     /* scans so far */
	int probe;          /* root is this process's PID namespace */
	int pid_max;        /* 0: unknown */
	int last_pid;       /* loadavg's at the last scan; 0: none */
	unsigned list_scan; /* scan of the last full listing */
	int list_next;      /* the next scan lists /proc */
	int tasks_armed;    /* the task-count guard is valid */
	int full;           /* PROC_FULL_*: how the last scan read */
	unsigned long long busy, prev_busy; /* host busy ticks; 0: unknown */
	unsigned long long acct_ns; /* CPU the reads saw used in the interval */
	long long reaped;           /* ticks of the children reaped in it */
	int cold_gone;              /* one gone, last read before it */
	int no_sched;               /* root has no PID/schedstat */
	struct proc_user users[64];
	int nusers;
	char buf[4096];
};

/*
 * Opens root (normally "/proc") for scanning. top_n rows are reported;
 * max_fds caps kept-open stat and schedstat fds (beyond it files are opened
 * per read). 0 or negative errno.
 */
int proc_table_open(struct proc_table *pt, const char *root, int top_n,
    int send_cmdline, int max_fds);
/*
 * The host's CPU time that processes may have been charged with, from
 * /proc/stat's "cpu" line in USER_HZ ticks (user + nice + system + irq +
 * softirq), read just before the next scan; 0: unknown. Without it that
 * scan reads every process, as no guard bounds the unread ones.
 */
void proc_table_busy(struct proc_table *pt, unsigned long long ticks);
/*
 * Scans the processes. uptime_s is the host uptime now (for telling a
 * process born during the interval from one merely unseen), dt_s the
 * elapsed time since the previous scan. 0 or negative errno.
 */
int proc_table_scan(struct proc_table *pt, double uptime_s, double dt_s);
/*
 * Whether a read must include /proc/PID/stat: old is the process as last
 * seen (NULL: new), have_ns whether schedstat was read now and gave ns,
 * refresh whether the process's periodic re-read is due. Without a stat
 * read the process keeps its last stat fields and shows 0 % CPU.
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
 * The first number of the line starting with key ("Uid:", "Tgid:") in
 * /proc/PID/status text. 0, -ENOENT without such a line, -EPROTO when the
 * number is missing or outside int.
 */
int proc_status_int(const char *text, const char *key, int *v);
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
void proc_long_name(const char *comm, const char *argv0, char *out, size_t cap);

#endif
