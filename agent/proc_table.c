/*
 * Process table (see proc_table.h): the only reader of /proc/PID files.
 * Entries are kept sorted by pid in ents; a scan builds the next array in
 * readdir order (ascending on Linux; sorted afterwards if not), carrying
 * over each process's kept-open fd and cached strings, and releases the
 * processes that are gone.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_table.h"

/* A row's worst JSON size (every cmd byte escaped) and room for the rest. */
#define PROC_ROW_WORST (2 * (PROC_CMD_MAX + PROC_NAME_MAX) + 160)
#define PROC_TAIL_RESERVE 256

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
	free(e->name);
	free(e->cmd);
	e->fd = -1;
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
	e->fd = -1;
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
		e->uid = old->uid;
		e->name = old->name;
		e->cmd = old->cmd;
		old->fd = -1;
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

static void
proc_count(struct proc_tasks *t, const struct proc_ent *e)
{
	t->total++;
	t->threads += e->st.threads;
	switch (e->st.state) {
	case 'R': t->running++; break;
	case 'D': t->blocked++; break;
	case 'Z': t->zombie++; break;
	case 'T': case 't': t->stopped++; break;
	case 'I': t->idle++; break;
	default: t->sleeping++; break;
	}
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

int
proc_table_scan(struct proc_table *pt, double uptime_s, double dt_s)
{
	struct dirent *de;
	int n = 0, sorted = 1, r, pid;
	struct proc_ent *old;

	memset(&pt->tasks, 0, sizeof(pt->tasks));
	rewinddir(pt->dir);
	while ((de = readdir(pt->dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = atoi(de->d_name);
		if (n >= pt->cap && (r = proc_grow(pt, n + 1)) < 0)
			return r;
		old = proc_find(pt, pid);
		if (proc_read_one(pt, pid, old, &pt->next[n]) < 0)
			continue;
		proc_cpu(pt, &pt->next[n], old, dt_s);
		proc_count(&pt->tasks, &pt->next[n]);
		if (n > 0 && pt->next[n - 1].st.pid > pid)
			sorted = 0;
		n++;
	}
	proc_swap(pt, n, sorted);
	pt->rates = pt->have_prev && dt_s > 0;
	pt->prev_uptime = uptime_s;
	pt->have_prev = 1;
	proc_pick_top(pt);
	return 0;
}

/* Real uid from the Uid: line of status, or -1. */
static int
proc_read_uid(struct proc_table *pt, int pid)
{
	const char *u;

	if (proc_slurp(pt, pid, "status") < 0)
		return -1;
	if ((u = strstr(pt->buf, "\nUid:")) == NULL)
		return -1;
	return atoi(u + 5);
}

/* Name for uid from a small cache (getpwuid_r on a miss). */
static const char *
proc_user(struct proc_table *pt, int uid)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	struct proc_user *u;
	int i;

	for (i = 0; i < pt->nusers; i++)
		if (pt->users[i].uid == uid)
			return pt->users[i].name;
	i = pt->nusers < 64 ? pt->nusers++ : uid % 64;
	u = &pt->users[i];
	u->uid = uid;
	if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
	else
		snprintf(u->name, sizeof(u->name), "%d", uid);
	return u->name;
}

/* Reads cmdline once per process; builds the long name and the cmd. */
static void
proc_load_cmd(struct proc_table *pt, struct proc_ent *e)
{
	char cmd[PROC_CMD_MAX + 1], name[PROC_NAME_MAX];
	long n = proc_slurp(pt, e->st.pid, "cmdline");

	if (n <= 0 || pt->buf[0] == '\0') {
		/* Kernel thread or zombie: "[comm]" as ps shows it. */
		snprintf(cmd, sizeof(cmd), "[%s]%s", e->st.comm,
		    e->st.state == 'Z' ? " <defunct>" : "");
		snprintf(name, sizeof(name), "%s", e->st.comm);
	} else {
		proc_long_name(e->st.comm, pt->buf, name, sizeof(name));
		proc_scrub(pt->buf, (size_t)n, cmd, sizeof(cmd));
	}
	e->cmd = strdup(cmd);
	if (strcmp(name, e->st.comm) != 0)
		e->name = strdup(name);
}

static int
proc_json_row(struct proc_table *pt, struct proc_ent *e, struct buf *out)
{
	int r;

	if (e->cmd == NULL)
		proc_load_cmd(pt, e);
	e->uid = proc_read_uid(pt, e->st.pid);
	r = buf_printf(out, "[%d,%d,", e->st.pid, e->st.ppid);
	if (r == 0)
		r = buf_add_json_string(out, e->uid >= 0 ?
		    proc_user(pt, e->uid) : "?");
	if (r == 0)
		r = buf_printf(out, ",\"%c\",%.1f,%llu,%d,",
		    isalpha((unsigned char)e->st.state) ? e->st.state : '?',
		    e->cpu, e->st.rss_pages * (unsigned long long)pt->page,
		    e->st.threads);
	if (r == 0)
		r = buf_add_json_string(out, e->name ? e->name : e->st.comm);
	if (r == 0)
		r = buf_adds(out, ",");
	if (r == 0 && pt->send_cmdline && e->cmd)
		r = buf_add_json_string(out, e->cmd);
	else if (r == 0)
		r = buf_adds(out, "null");
	return r ? r : buf_adds(out, "]");
}

int
proc_table_json(struct proc_table *pt, struct buf *out)
{
	const struct proc_tasks *t = &pt->tasks;
	int r;

	r = buf_printf(out, "\"tasks\":{\"total\":%d,\"running\":%d,"
	    "\"sleeping\":%d,\"blocked\":%d,\"zombie\":%d,\"stopped\":%d,"
	    "\"idle\":%d,\"threads\":%d},\"procs_fields\":[\"pid\",\"ppid\","
	    "\"user\",\"state\",\"cpu\",\"rss\",\"thr\",\"name\",\"cmd\"],"
	    "\"procs_total\":%d,\"procs\":[", t->total, t->running,
	    t->sleeping, t->blocked, t->zombie, t->stopped, t->idle,
	    t->threads, t->total);
	for (int i = 0; r == 0 && i < pt->ntop; i++) {
		/* Stay under the sample cap: fewer rows, never a failure. */
		if (out->max - out->len < PROC_ROW_WORST + PROC_TAIL_RESERVE)
			break;
		if (i > 0)
			r = buf_adds(out, ",");
		if (r == 0)
			r = proc_json_row(pt, &pt->ents[pt->top[i]], out);
	}
	return r ? r : buf_adds(out, "]");
}
