/*
 * Process table (see proc_table.h): the only reader of /proc/PID files.
 * Entries are kept sorted by pid in ents; a scan builds the next array in
 * readdir order (ascending on Linux; sorted afterwards if not), or in the
 * order of ents when no process was created since the last listing,
 * carrying over each process's kept-open fds and cached strings, and
 * releases the processes that are gone. The rows of a sample are written
 * by proc_json.c.
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
 * most PROC_REFRESH_SCANS samples old for the rest.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_table.h"

int
proc_parse_stat(const char *text, struct proc_stat *st)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	unsigned long long v[22];
	const char *s;
	char *e;
	size_t n;

	if (open == NULL || close == NULL || close < open || close[1] != ' ')
		return -EPROTO;
	st->pid = atoi(text);
	n = (size_t)(close - open - 1);
	if (n >= sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, n);
	st->comm[n] = '\0';
	s = close + 2;
	if (!isalpha((unsigned char)*s))
		return -EPROTO;
	st->state = *s++;
	/* v[i] is stat field i + 4: ppid(4) .. rss(24). */
	for (int i = 0; i <= 20; i++) {
		v[i] = strtoull(s, &e, 10);
		if (e == s)
			return -EPROTO;
		s = e;
	}
	st->ppid = (int)v[0];
	st->ticks = v[10] + v[11];
	st->threads = (int)v[16];
	st->start = v[18];
	st->rss_pages = v[20];
	return 0;
}

int
proc_table_open(struct proc_table *pt, const char *root, int top_n,
    int send_cmdline, int max_fds)
{
	memset(pt, 0, sizeof(*pt));
	snprintf(pt->root, sizeof(pt->root), "%s", root);
	pt->top_n = top_n;
	pt->send_cmdline = send_cmdline;
	pt->max_fds = max_fds;
	pt->hz = sysconf(_SC_CLK_TCK);
	pt->page = sysconf(_SC_PAGESIZE);
	if (pt->hz <= 0)
		pt->hz = 100;
	if ((pt->top = calloc((size_t)(top_n > 0 ? top_n : 1),
	    sizeof(*pt->top))) == NULL)
		return -ENOMEM;
	if ((pt->dir = opendir(root)) == NULL)
		return -errno;
	return 0;
}

static void
proc_ent_release(struct proc_table *pt, struct proc_ent *e)
{
	if (e->fd >= 0) {
		close(e->fd);
		pt->nfds--;
	}
	if (e->sfd >= 0) {
		close(e->sfd);
		pt->nfds--;
	}
	free(e->name);
	free(e->cmd);
	e->fd = e->sfd = -1;
	e->name = e->cmd = NULL;
}

void
proc_table_close(struct proc_table *pt)
{
	for (int i = 0; i < pt->nents; i++)
		proc_ent_release(pt, &pt->ents[i]);
	free(pt->ents);
	free(pt->next);
	free(pt->top);
	if (pt->dir)
		closedir(pt->dir);
	pt->ents = pt->next = NULL;
	pt->top = NULL;
	pt->dir = NULL;
	pt->nents = pt->cap = 0;
}

/* Opens root/PID/file; returns the fd or -1. */
static int
proc_open(const struct proc_table *pt, int pid, const char *file)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%d/%s", pt->root, pid, file);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static long
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
static long
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

/* Binary search of the previous scan's entries. */
static struct proc_ent *
proc_find(struct proc_table *pt, int pid)
{
	int lo = 0, hi = pt->nents - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (pt->ents[mid].st.pid == pid)
			return &pt->ents[mid];
		if (pt->ents[mid].st.pid < pid)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

static int
proc_grow(struct proc_table *pt, int need)
{
	struct proc_ent *a, *b;
	int ncap = pt->cap ? pt->cap : 256;

	while (ncap < need)
		ncap *= 2;
	if ((a = realloc(pt->ents, (size_t)ncap * sizeof(*a))) == NULL)
		return -ENOMEM;
	pt->ents = a;
	if ((b = realloc(pt->next, (size_t)ncap * sizeof(*b))) == NULL)
		return -ENOMEM;
	pt->next = b;
	pt->cap = ncap;
	return 0;
}

/*
 * Reads the stat of pid into e, reusing old's fd when it still names the
 * same process. Returns 0, or negative errno when the process is gone.
 */
static int
proc_read_one(struct proc_table *pt, int pid, struct proc_ent *old,
    struct proc_ent *e)
{
	long n = -ESRCH;
	int fd = -1;

	if (old && old->fd >= 0)
		n = proc_pread(old->fd, pt->buf, sizeof(pt->buf));
	if (n < 0) {
		/* New process, or old fd dead (PID reuse): open afresh. */
		if ((fd = proc_open(pt, pid, "stat")) < 0)
			return -errno;
		if ((n = proc_pread(fd, pt->buf, sizeof(pt->buf))) < 0) {
			close(fd);
			return (int)n;
		}
	}
	memset(e, 0, sizeof(*e));
	e->fd = e->sfd = -1;
	e->uid = -1;
	if (proc_parse_stat(pt->buf, &e->st) < 0) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}
	e->st.pid = pid;
	if (old && old->st.start == e->st.start && (fd < 0 || old->fd < 0)) {
		/* Same process: carry fd and cached strings over. */
		e->fd = old->fd;
		e->sfd = old->sfd;
		e->top = old->top;
		e->uid = old->uid;
		e->uid_ns = old->uid_ns;
		e->name = old->name;
		e->cmd = old->cmd;
		old->fd = old->sfd = -1;
		old->name = old->cmd = NULL;
	}
	if (fd >= 0 && e->fd < 0 && pt->nfds < pt->max_fds) {
		e->fd = fd;
		pt->nfds++;
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/*
 * top's Irix %CPU: delta ticks / (HZ * dt) * 100, capped at 100 * threads.
 * A process first seen in this scan counts all its ticks only when it
 * started during the interval; otherwise it shows 0 once (no spike).
 */
static void
proc_cpu(struct proc_table *pt, struct proc_ent *e,
    const struct proc_ent *old, double dt_s)
{
	unsigned long long d = 0;
	double cap = 100.0 * (e->st.threads > 0 ? e->st.threads : 1);

	if (old && old->st.start == e->st.start)
		d = e->st.ticks >= old->st.ticks ? e->st.ticks - old->st.ticks
						 : 0;
	else if (pt->have_prev &&
	    (double)e->st.start / pt->hz >= pt->prev_uptime)
		d = e->st.ticks;
	e->fresh = old == NULL || old->st.start != e->st.start;
	e->cpu = dt_s > 0 ? 100.0 * d / (pt->hz * dt_s) : 0;
	if (e->cpu > cap)
		e->cpu = cap;
}

/* Adds e to the task counts (sign 1) or takes it out (sign -1). */
static void
proc_count(struct proc_tasks *t, const struct proc_ent *e, int sign)
{
	t->total += sign;
	t->threads += sign * e->st.threads;
	switch (e->st.state) {
	case 'R': t->running += sign; break;
	case 'D': t->blocked += sign; break;
	case 'Z': t->zombie += sign; break;
	case 'T': case 't': t->stopped += sign; break;
	case 'I': t->idle += sign; break;
	default: t->sleeping += sign; break;
	}
}

int
proc_need_stat(const struct proc_ent *old, int have_ns,
    unsigned long long ns, int refresh)
{
	/* ns == 0: never ran, or a kernel without schedstats ("0 0 0"). */
	if (refresh || old == NULL || !have_ns || ns == 0)
		return 1;
	/* It ran; or schedstat misses its other threads; or it is reported. */
	return old->run_ns != ns || old->st.threads != 1 || old->top;
}

void
proc_table_forks(struct proc_table *pt, unsigned long long forks)
{
	pt->forks = forks;
}

/* schedstat's first field through fd; 0 and *ok = 1, or negative errno. */
static int
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
 * Visits pid for this scan into e: reads schedstat, then stat when
 * proc_need_stat says so, else carries old over unchanged. listed: pid came
 * from the directory listing (a dead old is then a reused PID). Returns 0,
 * or negative errno when the process is gone.
 */
static int
proc_visit(struct proc_table *pt, int pid, struct proc_ent *old,
    struct proc_ent *e, int listed, double dt_s)
{
	unsigned long long ns = 0;
	int have_ns = 0, sfd = -1, r, refresh;

	if (old && old->sfd >= 0) {
		if (proc_read_ns(old->sfd, &ns) == 0)
			have_ns = 1;
		else if (!listed)
			return -ESRCH;
		else
			old = NULL;	/* reused PID: a new process */
	}
	if (!have_ns && !pt->no_sched && pt->nfds < pt->max_fds) {
		if ((sfd = proc_open(pt, pid, "schedstat")) >= 0 &&
		    proc_read_ns(sfd, &ns) == 0) {
			have_ns = 1;
			pt->nfds++;
		} else if (sfd < 0 && errno == ENOENT) {
			char path[320];

			/* No schedstat while stat exists: not this kernel. */
			snprintf(path, sizeof(path), "%s/%d/stat", pt->root,
			    pid);
			if (access(path, F_OK) == 0)
				pt->no_sched = 1;
		}
		if (!have_ns && sfd >= 0) {
			close(sfd);
			sfd = -1;
		}
	}
	refresh = (unsigned)pid % PROC_REFRESH_SCANS ==
	    pt->scans % PROC_REFRESH_SCANS;
	if (!proc_need_stat(old, have_ns, ns, refresh)) {
		/* Did not run: same stat, 0 % CPU. */
		*e = *old;
		old->fd = old->sfd = -1;
		old->name = old->cmd = NULL;
		e->cpu = 0;
		e->fresh = 0;
		return 0;
	}
	if ((r = proc_read_one(pt, pid, old, e)) < 0) {
		if (sfd >= 0) {
			close(sfd);
			pt->nfds--;
		}
		return r;
	}
	proc_cpu(pt, e, old, dt_s);
	if (sfd >= 0 && e->sfd < 0) {
		e->sfd = sfd;
	} else if (sfd >= 0) {
		close(sfd);
		pt->nfds--;
	}
	/* The ns read before this stat, when it was this process's. */
	e->run_ns = have_ns && e->sfd >= 0 ? ns : 0;
	e->read_scan = pt->scans;
	return 0;
}

static int
proc_cmp_pid(const void *a, const void *b)
{
	const struct proc_ent *x = a, *y = b;

	return (x->st.pid > y->st.pid) - (x->st.pid < y->st.pid);
}

/* Releases the previous scan's entries that were not carried over. */
static void
proc_swap(struct proc_table *pt, int n, int sorted)
{
	struct proc_ent *t;

	for (int i = 0; i < pt->nents; i++)
		proc_ent_release(pt, &pt->ents[i]);
	if (!sorted)
		qsort(pt->next, (size_t)n, sizeof(*pt->next), proc_cmp_pid);
	t = pt->ents;
	pt->ents = pt->next;
	pt->next = t;
	pt->nents = n;
}

static int
proc_better(const struct proc_ent *a, const struct proc_ent *b)
{
	if (a->cpu != b->cpu)
		return a->cpu > b->cpu;
	return a->st.rss_pages > b->st.rss_pages;
}

/* Keeps the top_n entries by CPU (then RSS) in pt->top, best first. */
static void
proc_pick_top(struct proc_table *pt)
{
	int i, j;

	pt->ntop = 0;
	for (i = 0; i < pt->nents; i++) {
		const struct proc_ent *e = &pt->ents[i];

		if (pt->ntop == pt->top_n &&
		    (pt->top_n == 0 || !proc_better(e,
		    &pt->ents[pt->top[pt->ntop - 1]])))
			continue;
		j = pt->ntop < pt->top_n ? pt->ntop++ : pt->ntop - 1;
		for (; j > 0 && proc_better(e, &pt->ents[pt->top[j - 1]]); j--)
			pt->top[j] = pt->top[j - 1];
		pt->top[j] = i;
	}
}

/*
 * Re-reads the stat of a reported row that skipped it in this scan, so its
 * state and rss are fresh; its CPU comes from the ticks it had. Returns 1
 * when re-read.
 */
static int
proc_refresh(struct proc_table *pt, struct proc_ent *e, double dt_s)
{
	struct proc_stat st;
	unsigned long long ns = 0;
	int have_ns = e->sfd >= 0 && proc_read_ns(e->sfd, &ns) == 0;
	long n;

	e->read_scan = pt->scans;
	n = e->fd >= 0 ? proc_pread(e->fd, pt->buf, sizeof(pt->buf)) :
	    proc_slurp(pt, e->st.pid, "stat");
	if (n < 0 || proc_parse_stat(pt->buf, &st) < 0 ||
	    st.start != e->st.start)
		return 0;	/* gone: the next scan drops it */
	st.pid = e->st.pid;
	proc_count(&pt->tasks, e, -1);
	if (dt_s > 0 && pt->rates && st.ticks > e->st.ticks) {
		double cap = 100.0 * (st.threads > 0 ? st.threads : 1);

		e->cpu = 100.0 * (st.ticks - e->st.ticks) / (pt->hz * dt_s);
		if (e->cpu > cap)
			e->cpu = cap;
	}
	e->st = st;
	e->run_ns = have_ns ? ns : 0;
	proc_count(&pt->tasks, e, 1);
	return 1;
}

/*
 * Picks the top-N rows and re-reads the stat of those that skipped it, then
 * picks again while that changed anything (at most a few rounds).
 */
static void
proc_pick_fresh(struct proc_table *pt, double dt_s)
{
	int round, i, again;

	for (round = 0; round < 4; round++) {
		proc_pick_top(pt);
		again = 0;
		for (i = 0; i < pt->ntop; i++)
			if (pt->ents[pt->top[i]].read_scan != pt->scans)
				again |= proc_refresh(pt,
				    &pt->ents[pt->top[i]], dt_s);
		if (!again)
			break;
	}
	if (again)
		proc_pick_top(pt);
	for (i = 0; i < pt->nents; i++)
		pt->ents[i].top = 0;
	for (i = 0; i < pt->ntop; i++)
		pt->ents[pt->top[i]].top = 1;
}

int
proc_table_scan(struct proc_table *pt, double uptime_s, double dt_s)
{
	struct dirent *de;
	int n = 0, sorted = 1, r, pid, list;
	struct proc_ent *old;

	memset(&pt->tasks, 0, sizeof(pt->tasks));
	pt->scans++;
	pt->rates = pt->have_prev && dt_s > 0;
	/* No fork since the last listing: no new process to find. */
	list = !pt->have_prev || pt->forks == 0 ||
	    pt->forks != pt->dir_forks ||
	    pt->scans % PROC_REFRESH_SCANS == 0;
	if (list) {
		pt->dir_forks = pt->forks;
		rewinddir(pt->dir);
	}
	for (int i = 0; ; i++) {
		/* Before taking old: growing moves ents. */
		if (n >= pt->cap && (r = proc_grow(pt, n + 1)) < 0)
			return r;
		if (list) {
			if ((de = readdir(pt->dir)) == NULL)
				break;
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid = atoi(de->d_name);
			old = proc_find(pt, pid);
		} else {
			if (i >= pt->nents)
				break;
			old = &pt->ents[i];
			pid = old->st.pid;
		}
		if (proc_visit(pt, pid, old, &pt->next[n], list, dt_s) < 0)
			continue;
		proc_count(&pt->tasks, &pt->next[n], 1);
		if (n > 0 && pt->next[n - 1].st.pid > pid)
			sorted = 0;
		n++;
	}
	proc_swap(pt, n, sorted);
	pt->prev_uptime = uptime_s;
	pt->have_prev = 1;
	proc_pick_fresh(pt, dt_s);
	return 0;
}
