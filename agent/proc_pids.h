/*
 * Which PIDs a scan of the process table looks at (see proc_table.h): a
 * listing of /proc, or a probe of the PIDs allocated since the last scan.
 * Owns the table's entry arrays: grows them, carries the known processes
 * over and adds a blank entry per PID found. Reads no file of a process.
 */
#ifndef SNO_PROC_PIDS_H
#define SNO_PROC_PIDS_H

#include "proc_table.h"

/* How an entry's PID was found in this scan (proc_ent.found). */
enum { PROC_FOUND_NOT, PROC_FOUND_LISTED, PROC_FOUND_PROBED };

/* The fields of /proc/loadavg the table uses. */
struct proc_load {
	int tasks; /* nr_threads: every task of the host */
	int last;  /* the PID allocated last in the reader's namespace */
};

/* Whether root/self names this process: root shows our PID namespace. */
int proc_pids_own_ns(const char *root);
/* Reads pt's loadavg into ld. 0, or negative errno (-EPROTO: malformed). */
int proc_pids_load(struct proc_table *pt, struct proc_load *ld);
/* Parses loadavg text into ld; 0, or -EPROTO when malformed. */
int proc_parse_loadavg(const char *text, struct proc_load *ld);
/*
 * Settles the entries of a scan into pt->ents, sorted by pid. Lists /proc
 * when list is set, pt->probe is not, ld is NULL, or more than
 * PROC_PROBE_MAX PIDs were allocated since pt->last_pid; the processes the
 * listing no longer shows are released. Else keeps every entry and adds a
 * blank one per PID allocated since that is not known. Every PID listed or
 * probed has found set. 0 or -ENOMEM.
 */
int proc_pids_settle(
    struct proc_table *pt, const struct proc_load *ld, int list);
/* Makes e a blank entry for pid: nothing read yet, no fds. */
void proc_pids_blank(struct proc_ent *e, int pid, int found);
/* Closes e's fds and frees its strings; the other fields stay. */
void proc_pids_release(struct proc_table *pt, struct proc_ent *e);

/* ---- shared by proc_table.c (reading) and proc_top.c (the rows) ---- */

/* pread of a kept-open /proc file into buf; bytes, or negative errno. */
long proc_pread(int fd, char *buf, size_t cap);
/* Reads /proc/PID/file into pt->buf; bytes, or negative errno. */
long proc_slurp(struct proc_table *pt, int pid, const char *file);
/* schedstat's first field through fd; 0, or negative errno. */
int proc_read_ns(int fd, unsigned long long *ns);
/* Takes st into e (CPU since the last read); ns: schedstat, 0 unknown. */
void proc_take_stat(struct proc_table *pt, struct proc_ent *e,
    const struct proc_stat *st, unsigned long long ns);
/* Adds e to the task counts (sign 1) or takes it out (sign -1). */
void proc_count(struct proc_tasks *t, const struct proc_ent *e, int sign);
/* Picks pt->top, re-reading the stat of picked rows that skipped it. */
void proc_pick_fresh(struct proc_table *pt);

#endif
