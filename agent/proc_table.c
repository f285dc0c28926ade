/*
 * Process table (see proc_table.h): the only reader of /proc/PID files.
 * Entries are kept sorted by pid in ents. A scan lets proc_pids.c settle
 * which PIDs to look at (known processes carried over with their kept fds
 * and cached strings, a blank entry per PID found), reads the entries that
 * are due in place, checks the guards, and drops the processes gone. The
 * rows of a sample are written by proc_json.c, the top-N rows picked by
 * proc_top.c, the stat and status texts parsed by proc_parse.c.
 *
 * stat is skipped when schedstat shows the process did not run: its main
 * thread's on-CPU ns (schedstat field 1; it covers the thread group leader
 * only, hence the threads == 1 condition) did not move since the value read
 * just before the last stat read. utime, stime, state and the thread count
 * of a single-threaded process change only when it runs, so its CPU is
 * exactly 0 and its state stays what it was; the one lag is a process woken
 * but not yet on a CPU, counted in its old state until it runs. Fields other
 * processes can change (rss by reclaim, ppid by reparenting, comm via
 * /proc/PID/comm) are fresh for the reported rows, which are re-read, and at
 * most PROC_REFRESH_SCANS (+ PROC_COLD_SLICES) samples old for the rest;
 * a row picked on a stale rss is re-read before it is reported.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_pids.h"


int
proc_table_open(struct proc_table *pt, const char *root, int top_n,
    int send_cmdline, int max_fds)
{
	memset(pt, 0, sizeof(*pt));
	pfile_init(&pt->loadavg);
	snprintf(pt->root, sizeof(pt->root), "%s", root);
	pt->top_n = top_n;
	pt->send_cmdline = send_cmdline;
	pt->max_fds = max_fds;
	pt->hz = sysconf(_SC_CLK_TCK);
	pt->page = sysconf(_SC_PAGESIZE);
	if (pt->hz <= 0)
		pt->hz = 100;
	if ((pt->top = calloc(
		 (size_t)(top_n > 0 ? top_n : 1), sizeof(*pt->top))) == NULL)
		return -ENOMEM;
	if ((pt->dir = opendir(root)) == NULL)
		return -errno;
	/* Without loadavg every scan lists /proc. */
	pfile_open(&pt->loadavg, root, "loadavg");
	pt->probe = proc_pids_own_ns(root);
	return 0;
}

void
proc_table_close(struct proc_table *pt)
{
	for (int i = 0; i < pt->nents; i++)
		proc_pids_release(pt, &pt->ents[i]);
	free(pt->ents);
	free(pt->next);
	free(pt->top);
	if (pt->dir)
		closedir(pt->dir);
	/* A zeroed table has fd 0 and no path: not ours to close. */
	if (pt->loadavg.path[0] != '\0')
		pfile_close(&pt->loadavg);
	pt->ents = pt->next = NULL;
	pt->top = NULL;
	pt->dir = NULL;
	pt->nents = pt->cap = 0;
}

void
proc_table_busy(struct proc_table *pt, unsigned long long ticks)
{
	pt->busy = ticks;
}

/* Opens root/PID/file; returns the fd or -1. */
static int
proc_open(const struct proc_table *pt, int pid, const char *file)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%d/%s", pt->root, pid, file);
	return open(path, O_RDONLY | O_CLOEXEC);
}

long
proc_pread(int fd, char *buf, size_t cap)
{
	ssize_t n;

	do
		n = pread(fd, buf, cap - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (long)n;
}

/* Reads root/PID/file once (open, read, close) into pt->buf. */
long
proc_slurp(struct proc_table *pt, int pid, const char *file)
{
	int fd = proc_open(pt, pid, file);
	long n;

	if (fd < 0)
		return -errno;
	n = proc_pread(fd, pt->buf, sizeof(pt->buf));
	close(fd);
	return n;
}

/*
 * Notes that the process of e is gone, for the CPU guard: its CPU time
 * moves into its reaper's cutime and cstime. Read in the last scan, its
 * last counters are known; else how much it used since is not.
 */
static void
proc_ent_gone(struct proc_table *pt, const struct proc_ent *e)
{
	if (e->blank)
		return;
	if (e->seen_scan + 1 == pt->scans)
		pt->reaped -= (long long)(e->st.ticks + e->st.cticks);
	else
		pt->cold_gone = 1;
}

/* Frees what belonged to the process that last had e's PID; keeps fds. */
static void
proc_ent_forget(struct proc_table *pt, struct proc_ent *e)
{
	proc_ent_gone(pt, e);
	free(e->name);
	free(e->cmd);
	e->name = e->cmd = NULL;
	e->uid = -1;
	e->top = 0;
	e->blank = 1;
}

/* Drops e's fds and strings: it is blank again, as a PID just found. */
static void
proc_ent_renew(struct proc_table *pt, struct proc_ent *e)
{
	int pid = e->st.pid, found = e->found;

	proc_ent_gone(pt, e);
	proc_pids_release(pt, e);
	proc_pids_blank(e, pid, found);
}

/* ---- reading a process ---- */

int
proc_need_stat(
    const struct proc_ent *old, int have_ns, unsigned long long ns, int refresh)
{
	/* ns == 0: never ran, or a kernel without schedstats ("0 0 0"). */
	if (refresh || old == NULL || !have_ns || ns == 0)
		return 1;
	/* It ran; or schedstat misses its other threads; or it is reported. */
	return old->run_ns != ns || old->st.threads != 1 || old->top;
}

/* schedstat's first field through fd; 0, or negative errno. */
int
proc_read_ns(int fd, unsigned long long *ns)
{
	char text[96];
	long n;

	do
		n = pread(fd, text, sizeof(text) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	text[n] = '\0';
	*ns = strtoull(text, NULL, 10);
	return 0;
}

/*
 * schedstat of e into *ns: 1 when read, 0 when not available, -ENOENT when
 * the file is missing, another negative errno when the process is gone. A
 * dead kept fd on a PID found in this scan means a new process has the
 * PID: e is made blank.
 */
static int
proc_get_ns(struct proc_table *pt, struct proc_ent *e, unsigned long long *ns)
{
	int fd;

	if (e->sfd >= 0) {
		if (proc_read_ns(e->sfd, ns) == 0)
			return 1;
		if (!e->found)
			return -ESRCH;
		proc_ent_renew(pt, e);
	}
	if (pt->no_sched || pt->nfds >= pt->max_fds)
		return 0;
	if ((fd = proc_open(pt, e->st.pid, "schedstat")) < 0)
		return errno == ENOENT ? -ENOENT : 0;
	if (proc_read_ns(fd, ns) < 0) {
		close(fd);
		return 0;
	}
	e->sfd = fd;
	pt->nfds++;
	return 1;
}

/*
 * stat of e into st, through the kept fd or a new one (kept while fds
 * allow). 0, or negative errno when the process is gone.
 */
static int
proc_get_stat(struct proc_table *pt, struct proc_ent *e, struct proc_stat *st)
{
	long n;
	int fd;

	if (e->fd >= 0 && proc_pread(e->fd, pt->buf, sizeof(pt->buf)) < 0) {
		if (!e->found)
			return -ESRCH;
		proc_ent_renew(pt, e);
	}
	if (e->fd < 0) {
		if ((fd = proc_open(pt, e->st.pid, "stat")) < 0)
			return -errno;
		if ((n = proc_pread(fd, pt->buf, sizeof(pt->buf))) < 0) {
			close(fd);
			return (int)n;
		}
		if (pt->nfds < pt->max_fds) {
			e->fd = fd;
			pt->nfds++;
		} else {
			close(fd);
		}
	}
	if (proc_parse_stat(pt->buf, st) < 0)
		return -EPROTO;
	st->pid = e->st.pid;
	return 0;
}

/* Whether pid is a thread of another process: the Tgid line of status. */
static int
proc_is_thread(struct proc_table *pt, int pid)
{
	int tgid;

	if (proc_slurp(pt, pid, "status") < 0)
		return 1; /* gone meanwhile: not a process to keep */
	if (proc_status_int(pt->buf, "Tgid:", &tgid) < 0)
		return 0;
	return tgid != pid;
}

/*
 * A lower bound of the CPU time e used between its last read and now: the
 * schedstat delta (main thread only), or the tick delta d less the tick
 * that utime and stime may each have gained by rounding, the larger.
 */
static unsigned long long
proc_used_ns(const struct proc_table *pt, const struct proc_ent *e,
    unsigned long long d, unsigned long long ns)
{
	unsigned long long by_ns = 0, by_ticks = 0;

	if (e->blank)
		by_ns = ns;
	else if (ns && e->run_ns && ns >= e->run_ns)
		by_ns = ns - e->run_ns;
	if (d > 2)
		by_ticks = (d - 2) * 1000000000ULL / (unsigned long long)pt->hz;
	return by_ns > by_ticks ? by_ns : by_ticks;
}

/*
 * Ticks of the children e reaped since its last read, less the tick that
 * cutime and cstime may each have gained by rounding.
 */
static long long
proc_reaped(const struct proc_ent *e, const struct proc_stat *st)
{
	unsigned long long c = e->blank ? st->cticks
			       : st->cticks >= e->st.cticks
				   ? st->cticks - e->st.cticks
				   : 0;

	return c > 2 ? (long long)c - 2 : 0;
}

/* Marks e read in this scan. */
static void
proc_seen(struct proc_table *pt, struct proc_ent *e, double span)
{
	e->span = span;
	e->seen = pt->clock;
	e->seen_scan = pt->scans;
}

/*
 * Takes st, just read, into e. %CPU is top's Irix %CPU over the time since
 * e's last read, capped at 100 * threads; a process new to the table counts
 * all its ticks over the interval when it started during it, else shows 0
 * once. What e used in exactly this interval is added to pt->acct_ns for
 * the CPU guard. ns: schedstat read just before st, 0 when unknown.
 */
void
proc_take_stat(struct proc_table *pt, struct proc_ent *e,
    const struct proc_stat *st, unsigned long long ns)
{
	double span = e->seen_scan == pt->scans ? e->span : pt->clock - e->seen;
	double cap = 100.0 * (st->threads > 0 ? st->threads : 1);
	unsigned long long d = 0;
	int whole = 0;

	if (!e->blank) {
		d = st->ticks >= e->st.ticks ? st->ticks - e->st.ticks : 0;
		whole = e->seen_scan + 1 == pt->scans;
	} else if (pt->have_prev &&
		   (double)st->start / pt->hz >= pt->prev_uptime) {
		d = st->ticks;
		span = pt->dt;
		whole = 1;
	}
	if (whole && pt->rates) {
		pt->acct_ns += proc_used_ns(pt, e, d, ns);
		pt->reaped += proc_reaped(e, st);
	}
	if (d > 0 || e->blank || (ns && ns != e->run_ns))
		e->ran_scan = pt->scans;
	e->cpu = pt->rates && span > 0 ? 100.0 * d / (pt->hz * span) : 0;
	if (e->cpu > cap)
		e->cpu = cap;
	/* The first periodic re-read is staggered by pid. */
	e->stat_due =
	    pt->scans + (e->blank ? 1 + (unsigned)e->st.pid % PROC_REFRESH_SCANS
				  : PROC_REFRESH_SCANS);
	e->st = *st;
	/* The ns read before this stat, when it was this process's. */
	e->run_ns = ns && e->sfd >= 0 ? ns : 0;
	e->read_scan = pt->scans;
	e->blank = 0;
	proc_seen(pt, e, span);
}

/*
 * Reads e for this scan: schedstat, then stat when proc_need_stat says so.
 * Returns 0, or negative errno when the process is gone or, for a probed
 * PID, is a thread of another process.
 */
static int
proc_update(struct proc_table *pt, struct proc_ent *e)
{
	struct proc_stat st;
	unsigned long long ns = 0;
	int have_ns, r, refresh;

	have_ns = proc_get_ns(pt, e, &ns);
	if (have_ns < 0 && have_ns != -ENOENT)
		return have_ns;
	refresh = (int)(pt->scans - e->stat_due) >= 0;
	if (!proc_need_stat(e->blank ? NULL : e, have_ns > 0, ns, refresh)) {
		/* Did not run since its last stat read: 0 % CPU. */
		e->cpu = 0;
		proc_seen(pt, e, pt->clock - e->seen);
		return 0;
	}
	if ((r = proc_get_stat(pt, e, &st)) < 0)
		return r;
	if (have_ns == -ENOENT)
		pt->no_sched = 1; /* stat without schedstat: the kernel */
	if (!e->blank && st.start != e->st.start)
		proc_ent_forget(pt, e); /* the PID was reused */
	if (e->blank && e->found == PROC_FOUND_PROBED && st.threads > 1 &&
	    proc_is_thread(pt, e->st.pid))
		return -ESRCH;
	proc_take_stat(pt, e, &st, have_ns > 0 ? ns : 0);
	return 0;
}


/* ---- a scan ---- */

/* Whether e is read in this scan when not every process is. */
static int
proc_due(const struct proc_table *pt, const struct proc_ent *e)
{
	if (e->blank || e->top || pt->scans - e->ran_scan < PROC_HOT_SCANS)
		return 1;
	return (unsigned)e->st.pid % PROC_COLD_SLICES ==
	       pt->scans % PROC_COLD_SLICES;
}

/*
 * Reads the entries not read yet in this scan: every one (all), or those
 * due. A process found gone is released and marked. Returns how many
 * entries are left unread.
 */
static int
proc_read(struct proc_table *pt, int all)
{
	int left = 0;

	for (int i = 0; i < pt->nents; i++) {
		struct proc_ent *e = &pt->ents[i];

		if (e->gone || e->seen_scan == pt->scans)
			continue;
		if (!all && !proc_due(pt, e)) {
			left++;
			continue;
		}
		if (proc_update(pt, e) < 0) {
			proc_ent_gone(pt, e);
			proc_pids_release(pt, e);
			e->gone = 1;
		}
	}
	return left;
}

/* Drops the gone entries and counts the tasks of the rest. */
static void
proc_compact(struct proc_table *pt)
{
	int n = 0;

	memset(&pt->tasks, 0, sizeof(pt->tasks));
	for (int i = 0; i < pt->nents; i++) {
		if (pt->ents[i].gone)
			continue;
		if (n != i)
			pt->ents[n] = pt->ents[i];
		/* Unread: it used too little for the guard to see. */
		if (pt->ents[n].seen_scan != pt->scans)
			pt->ents[n].cpu = 0;
		proc_count(&pt->tasks, &pt->ents[n], 1);
		n++;
	}
	pt->nents = n;
}

/*
 * Whether the processes left unread may hide something: PROC_FULL_CPU when
 * the host was busier than the processes read over this interval account
 * for, by more than PROC_GUARD_PCT % of a core; PROC_FULL_TASKS when
 * loadavg's task count, steady across the scan, differs from the table's.
 * Else PROC_FULL_NONE.
 */
static int
proc_guard(struct proc_table *pt, const struct proc_load *ld)
{
	double left, lim;
	struct proc_load now;

	left = (double)(pt->busy - pt->prev_busy) -
	       (double)pt->acct_ns * (double)pt->hz / 1e9;
	/*
	 * What reaped children used moved into their reapers' cutime and
	 * cstime: it counts when no reaped process can be missing from
	 * that sum, unseen or last read before the interval.
	 */
	if (pt->reaped > 0 && !pt->cold_gone && pt->tasks_armed && ld &&
	    ld->tasks == pt->tasks.threads)
		left -= (double)pt->reaped;
	lim = PROC_GUARD_PCT / 100.0 * (double)pt->hz * pt->dt;
	if (left > lim)
		return PROC_FULL_CPU;
	if (pt->tasks_armed && ld && ld->tasks != pt->tasks.threads &&
	    proc_pids_load(pt, &now) == 0 && now.tasks == ld->tasks)
		return PROC_FULL_TASKS;
	return PROC_FULL_NONE;
}

/*
 * After a scan that read every process: the task-count guard is armed when
 * loadavg agrees with the table (it does not in a child PID namespace,
 * whose /proc shows a part of the tasks loadavg counts). A count moving
 * during the scan proves nothing either way. A mismatch that a full read
 * forced by that guard did not explain means a process was not found:
 * the next scan lists /proc.
 */
static void
proc_arm(struct proc_table *pt, const struct proc_load *ld)
{
	struct proc_load now;

	if (ld == NULL || proc_pids_load(pt, &now) < 0) {
		pt->tasks_armed = 0;
		return;
	}
	if (now.tasks != ld->tasks)
		return;
	pt->tasks_armed = ld->tasks == pt->tasks.threads;
	if (!pt->tasks_armed && pt->full == PROC_FULL_TASKS)
		pt->list_next = 1;
}

/* Why this scan reads every process from the start, or PROC_FULL_NONE. */
static int
proc_full_from_start(const struct proc_table *pt, int periodic)
{
	if (periodic)
		return PROC_FULL_LIST;
	if (!pt->rates || pt->busy == 0 || pt->prev_busy == 0 ||
	    pt->busy < pt->prev_busy)
		return PROC_FULL_CPU; /* no baseline: nothing to guard */
	return PROC_FULL_NONE;
}

int
proc_table_scan(struct proc_table *pt, double uptime_s, double dt_s)
{
	struct proc_load load, *ld;
	int r, periodic;

	pt->scans++;
	pt->rates = pt->have_prev && dt_s > 0;
	pt->dt = pt->rates ? dt_s : 0;
	pt->clock += pt->dt;
	pt->acct_ns = 0;
	pt->reaped = 0;
	pt->cold_gone = 0;
	ld = proc_pids_load(pt, &load) == 0 ? &load : NULL;
	periodic = !pt->have_prev || pt->list_next ||
		   pt->scans - pt->list_scan >= PROC_LIST_SCANS;
	if (periodic)
		pt->list_scan = pt->scans;
	if ((r = proc_pids_settle(pt, ld, periodic)) < 0)
		return r;
	pt->list_next = 0;
	pt->full = proc_full_from_start(pt, periodic);
	r = proc_read(pt, pt->full != PROC_FULL_NONE);
	proc_compact(pt);
	if (r > 0 && (pt->full = proc_guard(pt, ld)) != PROC_FULL_NONE) {
		proc_read(pt, 1);
		proc_compact(pt);
	}
	if (r == 0 || pt->full != PROC_FULL_NONE)
		proc_arm(pt, ld);
	pt->last_pid = ld ? ld->last : 0;
	pt->prev_busy = pt->busy;
	pt->busy = 0;
	pt->prev_uptime = uptime_s;
	pt->have_prev = 1;
	proc_pick_fresh(pt);
	return 0;
}
