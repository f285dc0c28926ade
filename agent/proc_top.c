/*
 * The top-N rows of a process table scan (see proc_table.h): the task
 * counts, the rows by CPU then RSS, and a re-read of the stat of a picked
 * row the scan skipped, so what is reported is fresh.
 */
#include "proc_pids.h"

/* Adds e to the task counts (sign 1) or takes it out (sign -1). */
void
proc_count(struct proc_tasks *t, const struct proc_ent *e, int sign)
{
	t->total += sign;
	t->threads += sign * e->st.threads;
	switch (e->st.state) {
	case 'R':
		t->running += sign;
		break;
	case 'D':
		t->blocked += sign;
		break;
	case 'Z':
		t->zombie += sign;
		break;
	case 'T':
	case 't':
		t->stopped += sign;
		break;
	case 'I':
		t->idle += sign;
		break;
	default:
		t->sleeping += sign;
		break;
	}
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
		    (pt->top_n == 0 ||
			!proc_better(e, &pt->ents[pt->top[pt->ntop - 1]])))
			continue;
		j = pt->ntop < pt->top_n ? pt->ntop++ : pt->ntop - 1;
		for (; j > 0 && proc_better(e, &pt->ents[pt->top[j - 1]]); j--)
			pt->top[j] = pt->top[j - 1];
		pt->top[j] = i;
	}
}

/*
 * Re-reads the stat of a reported row that skipped it in this scan, so its
 * state and rss are fresh and its CPU counts any ticks it gained. Returns 1
 * when re-read.
 */
static int
proc_refresh(struct proc_table *pt, struct proc_ent *e)
{
	struct proc_stat st;
	unsigned long long ns = 0;
	int have_ns = e->sfd >= 0 && proc_read_ns(e->sfd, &ns) == 0;
	long n;

	n = e->fd >= 0 ? proc_pread(e->fd, pt->buf, sizeof(pt->buf))
		       : proc_slurp(pt, e->st.pid, "stat");
	if (n < 0 || proc_parse_stat(pt->buf, &st) < 0 ||
	    st.start != e->st.start) {
		e->read_scan = pt->scans;
		return 0; /* gone: the next scan drops it */
	}
	st.pid = e->st.pid;
	proc_count(&pt->tasks, e, -1);
	proc_take_stat(pt, e, &st, have_ns ? ns : 0);
	proc_count(&pt->tasks, e, 1);
	return 1;
}

/*
 * Picks the top-N rows and re-reads the stat of those that skipped it, then
 * picks again while that changed anything (at most a few rounds).
 */
void
proc_pick_fresh(struct proc_table *pt)
{
	int round, i, again;

	for (round = 0; round < 4; round++) {
		proc_pick_top(pt);
		again = 0;
		for (i = 0; i < pt->ntop; i++)
			if (pt->ents[pt->top[i]].read_scan != pt->scans)
				again |=
				    proc_refresh(pt, &pt->ents[pt->top[i]]);
		if (!again)
			break;
	}
	if (again)
		proc_pick_top(pt);
	/* Ready for the next scan, which sets found where it finds PIDs. */
	for (i = 0; i < pt->nents; i++)
		pt->ents[i].top = pt->ents[i].found = 0;
	for (i = 0; i < pt->ntop; i++)
		pt->ents[pt->top[i]].top = 1;
}
