/*
 * Which PIDs a scan looks at (see proc_pids.h). Probing rests on two kernel
 * facts: loadavg's last field is the PID allocated last in the reader's
 * namespace (so the PIDs allocated since a scan lie between its value then
 * and now), and PIDs are handed out in increasing order up to pid_max, then
 * again from RESERVED_PIDS (kernel/pid.c, alloc_pid).
 */
#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_pids.h"

#define PROC_PID_RESERVED 300

/* PIDs lo..hi; empty when lo > hi. */
struct proc_range {
	int lo, hi;
};

/* pid_max, or 0 when unreadable. */
static int
proc_read_pid_max(const struct proc_table *pt)
{
	char text[32];
	long n =
	    pfile_slurp(pt->root, "sys/kernel/pid_max", text, sizeof(text));

	return n > 0 && atoi(text) > 1 ? atoi(text) : 0;
}

/*
 * root/self names this process when root is our PID namespace, the one in
 * which loadavg reports the last PID allocated: then probing is sound.
 */
int
proc_pids_own_ns(const char *root)
{
	char path[300], link[32];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/self", root);
	if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
		return 0;
	link[n] = '\0';
	return atol(link) == (long)getpid();
}

void
proc_pids_release(struct proc_table *pt, struct proc_ent *e)
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

	if (need <= pt->cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if ((a = realloc(pt->ents, (size_t)ncap * sizeof(*a))) == NULL)
		return -ENOMEM;
	pt->ents = a;
	if ((b = realloc(pt->next, (size_t)ncap * sizeof(*b))) == NULL)
		return -ENOMEM;
	pt->next = b;
	pt->cap = ncap;
	pt->grew = 1;
	return 0;
}

void
proc_pids_blank(struct proc_ent *e, int pid, int found)
{
	memset(e, 0, sizeof(*e));
	e->fd = e->sfd = -1;
	e->uid = -1;
	e->st.pid = pid;
	e->blank = 1;
	e->found = (unsigned char)found;
}

/* Moves the known process *old into e; old is left owning nothing. */
static void
proc_ent_move(struct proc_ent *e, struct proc_ent *old, int found)
{
	*e = *old;
	e->found = (unsigned char)found;
	old->fd = old->sfd = -1;
	old->name = old->cmd = NULL;
}

/* loadavg: "0.00 0.01 0.05 nr_running/nr_threads last_pid". */
int
proc_pids_load(struct proc_table *pt, struct proc_load *ld)
{
	char text[128];

	if (pfile_read(&pt->loadavg, text, sizeof(text)) <= 0)
		return -EIO;
	return proc_parse_loadavg(text, ld);
}

int
proc_parse_loadavg(const char *text, struct proc_load *ld)
{
	const char *s;
	char *e, *end;

	if ((s = strchr(text, '/')) == NULL)
		return -EPROTO;
	ld->tasks = (int)strtol(s + 1, &e, 10);
	if (e == s + 1 || *e != ' ')
		return -EPROTO;
	ld->last = (int)strtol(e, &end, 10);
	if (end == e || ld->tasks <= 0 || ld->last <= 0)
		return -EPROTO;
	return 0;
}

/*
 * The PIDs allocated since the last scan as two ascending ranges (an empty
 * one has lo > hi). After pid_max the kernel wraps to RESERVED_PIDS, 300
 * (kernel/pid.c). Returns how many PIDs, or -1 when they cannot be told.
 */
static int
proc_new_pids(const struct proc_table *pt, const struct proc_load *ld,
    struct proc_range rg[2])
{
	int prev = pt->last_pid, last = ld->last, max = pt->pid_max, lo;

	rg[0].lo = rg[1].lo = 1;
	rg[0].hi = rg[1].hi = 0;
	if (prev <= 0 || (max > 0 && (last >= max || prev >= max)))
		return -1; /* no baseline, or it looks wrong */
	if (last >= prev) {
		rg[0].lo = prev + 1;
		rg[0].hi = last;
		return last - prev;
	}
	if (max == 0)
		return -1; /* wrapped at an unknown end */
	lo = last >= PROC_PID_RESERVED ? PROC_PID_RESERVED : 1;
	rg[0].lo = lo;
	rg[0].hi = last;
	rg[1].lo = prev + 1;
	rg[1].hi = max - 1;
	return (last - lo + 1) + (max - 1 - prev);
}

/* Builds next from a listing of root, carrying known processes over. */
static int
proc_merge_listed(struct proc_table *pt, int *sorted)
{
	struct dirent *de;
	struct proc_ent *old;
	int n = 0, pid, r;

	*sorted = 1;
	rewinddir(pt->dir);
	while ((de = readdir(pt->dir)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		/* Before taking old: growing moves ents. */
		if ((r = proc_grow(pt, n + 1)) < 0)
			return r;
		pid = atoi(de->d_name);
		if ((old = proc_find(pt, pid)) != NULL)
			proc_ent_move(&pt->next[n], old, PROC_FOUND_LISTED);
		else
			proc_pids_blank(&pt->next[n], pid, PROC_FOUND_LISTED);
		if (n > 0 && pt->next[n - 1].st.pid > pid)
			*sorted = 0;
		n++;
	}
	return n;
}

/* The next PID of the ranges after *p (moving *k on), or 0 past both. */
static int
proc_range_next(const struct proc_range rg[2], int *k, int p)
{
	p++;
	while (*k < 2 && p > rg[*k].hi)
		if (++*k < 2)
			p = rg[*k].lo;
	return *k < 2 ? p : 0;
}

static int
proc_cmp_pid(const void *a, const void *b)
{
	const struct proc_ent *x = a, *y = b;

	return (x->st.pid > y->st.pid) - (x->st.pid < y->st.pid);
}

/* next, holding n entries, becomes ents. */
static void
proc_swap_arrays(struct proc_table *pt, int n)
{
	struct proc_ent *t = pt->ents;

	pt->ents = pt->next;
	pt->next = t;
	pt->nents = n;
}

/* Whether root/pid exists: a process, or a thread of one. */
static int
proc_exists(struct proc_table *pt, int pid)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", pid);
	return faccessat(dirfd(pt->dir), name, F_OK, 0) == 0;
}

/*
 * Adds a blank entry for each PID of fresh (n, ascending, none known) to
 * ents: at the end when they all lie above the known ones, as PIDs rise
 * between wraps, else merged in pid order through next.
 */
static int
proc_add_found(struct proc_table *pt, const int *fresh, int n)
{
	int i = 0, j = 0, k = 0, r;

	if ((r = proc_grow(pt, pt->nents + n)) < 0)
		return r;
	if (pt->nents == 0 || fresh[0] > pt->ents[pt->nents - 1].st.pid) {
		for (; j < n; j++)
			proc_pids_blank(&pt->ents[pt->nents++], fresh[j],
			    PROC_FOUND_PROBED);
		return 0;
	}
	while (i < pt->nents || j < n) {
		if (j < n && (i == pt->nents || fresh[j] < pt->ents[i].st.pid))
			proc_pids_blank(
			    &pt->next[k++], fresh[j++], PROC_FOUND_PROBED);
		else
			pt->next[k++] = pt->ents[i++];
	}
	proc_swap_arrays(pt, k);
	return 0;
}

/*
 * Probes the PIDs of the ranges. A known one is marked found: if its
 * process is gone, the PID names a new one. One that exists and is not
 * known gets a blank entry. 0 or -ENOMEM.
 */
static int
proc_probe(struct proc_table *pt, const struct proc_range rg[2])
{
	int fresh[PROC_PROBE_MAX], n = 0, k = 0, p;
	struct proc_ent *old;

	p = proc_range_next(rg, &k, rg[0].lo - 1);
	for (; p > 0 && n < PROC_PROBE_MAX; p = proc_range_next(rg, &k, p)) {
		if ((old = proc_find(pt, p)) != NULL)
			old->found = PROC_FOUND_PROBED;
		else if (proc_exists(pt, p))
			fresh[n++] = p;
	}
	return n > 0 ? proc_add_found(pt, fresh, n) : 0;
}

/* Releases the previous entries not carried over; next becomes ents. */
static void
proc_swap(struct proc_table *pt, int n, int sorted)
{
	for (int i = 0; i < pt->nents; i++)
		proc_pids_release(pt, &pt->ents[i]);
	if (!sorted)
		qsort(pt->next, (size_t)n, sizeof(*pt->next), proc_cmp_pid);
	proc_swap_arrays(pt, n);
}

/*
 * Hands the heap pages the grown arrays left free back to the kernel. The
 * first listing of a host with 1,000 processes doubles both arrays from 256
 * entries to 2,048; the copies under the mmap threshold (main.c), 2 x 160
 * KiB, stay resident in the middle of the heap once realloc freed them,
 * unused (glibc trims only its top). Growth happens a few times in the
 * agent's life, so the walk of malloc_trim costs nothing.
 */
static void
proc_trim(struct proc_table *pt)
{
	if (!pt->grew)
		return;
	pt->grew = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

int
proc_pids_settle(struct proc_table *pt, const struct proc_load *ld, int list)
{
	struct proc_range rg[2];
	int count = -1, n, r, sorted = 1;

	if (!list && pt->probe && ld)
		count = proc_new_pids(pt, ld, rg);
	if (count >= 0 && count <= PROC_PROBE_MAX) {
		r = proc_probe(pt, rg);
		proc_trim(pt);
		return r;
	}
	pt->pid_max = proc_read_pid_max(pt);
	if ((n = proc_merge_listed(pt, &sorted)) < 0)
		return n;
	proc_swap(pt, n, sorted);
	proc_trim(pt);
	return 0;
}
