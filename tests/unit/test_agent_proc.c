/*
 * Unit tests for how the process table finds and reads processes: PID
 * probing (threads skipped, wraparound at pid_max, listing when the range
 * is too large), the rotating slice of cold processes, the CPU and task
 * count guards, and %CPU over a process's own time since its last read.
 * Each test copies tests/unit/fixtures/procpids (PID 1, loadavg, pid_max)
 * to /tmp, links its self to this process as /proc does (so the table
 * probes), and adds processes as files: a fd kept on an emptied file reads
 * as an exited process.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../agent/proc_table.h"

#define START_OLD 50000ULL /* ticks: long before the tests' 1000 s */

static char fixdir[200];
static double hz;

/* A table over a fake /proc and the clock the scans run on. */
struct tree {
	char root[64];
	struct proc_table pt;
	double up;               /* uptime of the next scan, s */
	unsigned long long busy; /* host busy ticks so far */
};

static void
find_fixtures(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (getenv("SNO_FIXTURES")) {
		snprintf(
		    fixdir, sizeof(fixdir), "%.190s", getenv("SNO_FIXTURES"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(
	    fixdir, sizeof(fixdir), "%.160s/../../tests/unit/fixtures", exe);
	if (access(fixdir, F_OK) != 0)
		snprintf(fixdir, sizeof(fixdir), "tests/unit/fixtures");
}

static void
put(const struct tree *t, const char *rel, const char *content)
{
	char path[PATH_MAX], *slash;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	if ((slash = strrchr(path, '/')) != NULL) {
		*slash = '\0';
		mkdir(path, 0755);
		*slash = '/';
	}
	assert_non_null(fp = fopen(path, "w"));
	fputs(content, fp);
	fclose(fp);
}

/* loadavg with the task count and the last PID allocated. */
static void
set_load(const struct tree *t, int tasks, int last)
{
	char text[64];

	snprintf(text, sizeof(text), "0.00 0.00 0.00 1/%d %d\n", tasks, last);
	put(t, "loadavg", text);
}

/* Writes pid's stat (start in ticks since boot) and schedstat. */
static void
set_proc(const struct tree *t, int pid, int threads, unsigned long long ticks,
    unsigned long long start, unsigned long long ns)
{
	char rel[64], text[512];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(text, sizeof(text),
	    "%d (p%d) S 1 %d %d 0 -1 0 0 0 0 0 %llu 0 "
	    "0 0 20 0 %d 0 %llu 1000 %d 0\n",
	    pid, pid, pid, pid, ticks, threads, start, 100 + pid % 50);
	put(t, rel, text);
	snprintf(rel, sizeof(rel), "%d/schedstat", pid);
	snprintf(text, sizeof(text), "%llu 0 1\n", ns);
	put(t, rel, text);
}

/* A thread (or a process with threads): status gives its thread group. */
static void
set_tgid(const struct tree *t, int pid, int tgid)
{
	char rel[64], text[128];

	snprintf(rel, sizeof(rel), "%d/status", pid);
	snprintf(text, sizeof(text),
	    "Name:\tp%d\nState:\tS (sleeping)\n"
	    "Tgid:\t%d\nPid:\t%d\nUid:\t0\t0\t0\t0\n",
	    pid, tgid, pid);
	put(t, rel, text);
}

/* The process exits: its kept fds read nothing, its directory is gone. */
static void
end_proc(const struct tree *t, int pid)
{
	char rel[64], cmd[PATH_MAX];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	put(t, rel, "");
	snprintf(rel, sizeof(rel), "%d/schedstat", pid);
	put(t, rel, "");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%d'", t->root, pid);
	assert_int_equal(system(cmd), 0);
}

static void
tree_open(struct tree *t, int top_n)
{
	char cmd[PATH_MAX], link[PATH_MAX], self[32];

	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/tmp/sno-agent-proc-XXXXXX");
	assert_non_null(mkdtemp(t->root));
	snprintf(
	    cmd, sizeof(cmd), "cp -r '%s/procpids/.' '%s/'", fixdir, t->root);
	assert_int_equal(system(cmd), 0);
	snprintf(link, sizeof(link), "%s/self", t->root);
	snprintf(self, sizeof(self), "%d", (int)getpid());
	assert_int_equal(symlink(self, link), 0);
	assert_int_equal(proc_table_open(&t->pt, t->root, top_n, 0, 1000), 0);
	assert_true(t->pt.probe);
	t->up = 1000.0;
	t->busy = 100000;
}

static void
tree_close(struct tree *t)
{
	char cmd[PATH_MAX];

	proc_table_close(&t->pt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
}

/* One scan a second after the last, the host busy for busy_ticks. */
static void
scan(struct tree *t, unsigned long long busy_ticks)
{
	t->busy += busy_ticks;
	proc_table_busy(&t->pt, t->busy);
	assert_int_equal(
	    proc_table_scan(&t->pt, t->up, t->up > 1000.0 ? 1.0 : 0), 0);
	t->up += 1.0;
}

static struct proc_ent *
ent(struct tree *t, int pid)
{
	for (int i = 0; i < t->pt.nents; i++)
		if (t->pt.ents[i].st.pid == pid)
			return &t->pt.ents[i];
	return NULL;
}

static int
was_read(struct tree *t, int pid)
{
	struct proc_ent *e = ent(t, pid);

	assert_non_null(e);
	return e->seen_scan == t->pt.scans;
}

#define assert_near(a, b)                                                      \
	do {                                                                   \
		double a_ = (a), b_ = (b);                                     \
		if (a_ - b_ > 0.051 || b_ - a_ > 0.051)                        \
			fail_msg("%s = %.3f, want %.3f", #a, a_, b_);          \
	} while (0)

/*
 * 16 idle processes, 1000..1015, beside PID 1, scanned until they are
 * cold: none found or seen running for PROC_HOT_SCANS scans.
 */
static void
cold_tree(struct tree *t)
{
	tree_open(t, 0);
	for (int pid = 1000; pid < 1016; pid++)
		set_proc(t, pid, 1, 10, START_OLD, 5000000);
	set_load(t, 17, 1015);
	for (int i = 0; i <= PROC_HOT_SCANS; i++)
		scan(t, 1);
	assert_int_equal(t->pt.tasks.total, 17);
	assert_int_equal(t->pt.full, PROC_FULL_NONE);
}

/* The cold process that the next scan's slice reads (1000 % 8 is 0). */
static int
cold_next(const struct tree *t)
{
	return 1000 + (int)(t->pt.scans + 1) % PROC_COLD_SLICES;
}

/* A cold process that the next scan's slice does not read. */
static int
cold_not_next(const struct tree *t)
{
	return 1000 + (int)(t->pt.scans + 2) % PROC_COLD_SLICES;
}

/* ---- finding processes ---- */

static void
probe_finds_new_processes_and_skips_threads(void **state)
{
	struct tree t;

	(void)state;
	tree_open(&t, 0);
	set_proc(&t, 100, 1, 0, START_OLD, 1000);
	set_proc(&t, 101, 1, 0, START_OLD, 1000);
	set_load(&t, 3, 101);
	scan(&t, 1);
	assert_int_equal(t.pt.tasks.total, 3);
	/*
	 * Since: 102 a process, 103 a thread of 100 (reachable though not
	 * listed), 104 a process with two threads; 50 lies below the range
	 * (only a listing would find it) and 105 above (allocated after
	 * loadavg was read).
	 */
	set_proc(&t, 102, 1, 0, 100050, 1000);
	set_proc(&t, 103, 2, 0, 100050, 1000);
	set_tgid(&t, 103, 100);
	set_proc(&t, 104, 2, 0, 100050, 1000);
	set_tgid(&t, 104, 104);
	set_proc(&t, 50, 1, 0, START_OLD, 1000);
	set_proc(&t, 105, 1, 0, 100080, 1000);
	set_load(&t, 6, 104);
	scan(&t, 1);
	assert_non_null(ent(&t, 102));
	assert_non_null(ent(&t, 104));
	assert_null(ent(&t, 103));
	assert_null(ent(&t, 50));
	assert_null(ent(&t, 105));
	assert_int_equal(t.pt.tasks.total, 5);
	assert_int_equal(t.pt.tasks.threads, 6);
	/* The next range starts after 104. */
	set_load(&t, 7, 105);
	scan(&t, 1);
	assert_non_null(ent(&t, 105));
	assert_null(ent(&t, 50));
	tree_close(&t);
}

static void
probe_wraps_at_pid_max_then_lists_a_large_range(void **state)
{
	struct tree t;
	struct proc_ent *e;

	(void)state;
	tree_open(&t, 0);
	put(&t, "sys/kernel/pid_max", "1000\n");
	set_proc(&t, 305, 1, 500, START_OLD, 1000);
	set_proc(&t, 980, 1, 0, START_OLD, 1000);
	set_load(&t, 3, 990);
	scan(&t, 1);
	assert_int_equal(t.pt.tasks.total, 3);
	/*
	 * Allocated since: 995, then past pid_max from 300 on: 320, and 305
	 * again for a process born in the interval that has used 30 ticks
	 * (its own, not the 500 of the old one). 200 lies below 300.
	 */
	set_proc(&t, 995, 1, 0, 100050, 1000);
	set_proc(&t, 320, 1, 0, 100050, 1000);
	set_proc(&t, 305, 1, 30, 100060, 300000000);
	set_proc(&t, 200, 1, 0, START_OLD, 1000);
	set_load(&t, 5, 320);
	scan(&t, 1);
	assert_non_null(ent(&t, 995));
	assert_non_null(ent(&t, 320));
	assert_null(ent(&t, 200));
	assert_non_null(e = ent(&t, 305));
	assert_int_equal(e->st.start, 100060);
	assert_near(e->cpu, 30.0 * 100 / hz);
	assert_int_equal(t.pt.tasks.total, 5);
	/* 300 PIDs more than PROC_PROBE_MAX: /proc is listed. */
	set_load(&t, 6, 320 + PROC_PROBE_MAX + 44);
	scan(&t, 1);
	assert_non_null(ent(&t, 200));
	assert_int_equal(t.pt.tasks.total, 6);
	tree_close(&t);
}

/* ---- reading processes ---- */

static void
cold_processes_are_read_in_a_rotating_slice(void **state)
{
	struct tree t;
	int reads[16] = {0};

	(void)state;
	cold_tree(&t);
	for (int i = 0; i < 2 * PROC_COLD_SLICES; i++) {
		scan(&t, 1);
		assert_int_equal(t.pt.full, PROC_FULL_NONE);
		for (int pid = 1000; pid < 1016; pid++) {
			int due = (unsigned)pid % PROC_COLD_SLICES ==
				  t.pt.scans % PROC_COLD_SLICES;

			if (was_read(&t, pid) != due)
				fail_msg("scan %u: pid %d read %d, due %d",
				    t.pt.scans, pid, was_read(&t, pid), due);
			reads[pid - 1000] += due;
		}
	}
	for (int i = 0; i < 16; i++)
		assert_int_equal(reads[i], 2);
	/* Without the host's busy time no guard holds: everything is read. */
	proc_table_busy(&t.pt, 0);
	assert_int_equal(proc_table_scan(&t.pt, t.up, 1.0), 0);
	assert_int_equal(t.pt.full, PROC_FULL_CPU);
	assert_true(was_read(&t, cold_not_next(&t)));
	tree_close(&t);
}

static void
cpu_guard_reads_every_cold_process_in_the_same_sample(void **state)
{
	struct tree t;
	struct proc_ent *e;
	int pid;
	double seen;

	(void)state;
	cold_tree(&t);
	pid = cold_not_next(&t);
	seen = ent(&t, pid)->seen;
	/* It uses half a core; the host's busy time shows it. */
	set_proc(&t, pid, 1, 10 + hz / 2, START_OLD, 505000000);
	scan(&t, 1 + hz / 2);
	assert_int_equal(t.pt.full, PROC_FULL_CPU);
	assert_non_null(e = ent(&t, pid));
	assert_true(was_read(&t, pid));
	/* Averaged since its own last read, which was before the interval. */
	assert_true(t.pt.clock - seen > 1.5);
	assert_near(e->cpu, 50.0 / (t.pt.clock - seen));
	/* It ran: read every scan from now on, over one interval. */
	set_proc(&t, pid, 1, 10 + hz, START_OLD, 1005000000);
	scan(&t, 1 + hz / 2);
	assert_int_equal(t.pt.full, PROC_FULL_NONE);
	assert_near(ent(&t, pid)->cpu, 50.0);
	tree_close(&t);
}

static void
late_read_shows_cpu_over_the_process_own_elapsed_time(void **state)
{
	struct tree t;
	struct proc_ent *e;
	int pid, n = 0;
	double seen;

	(void)state;
	cold_tree(&t);
	pid = cold_not_next(&t);
	seen = ent(&t, pid)->seen;
	/* 3 % of a core over one second: under the guard, unread. */
	set_proc(&t, pid, 1, 13, START_OLD, 35000000);
	scan(&t, 4);
	assert_int_equal(t.pt.full, PROC_FULL_NONE);
	assert_false(was_read(&t, pid));
	assert_near(ent(&t, pid)->cpu, 0.0);
	while (!was_read(&t, pid)) {
		assert_true(++n < PROC_COLD_SLICES);
		scan(&t, 1);
	}
	assert_non_null(e = ent(&t, pid));
	/* Read in its slice: the 3 ticks over all the time since, no spike. */
	assert_true(t.pt.clock - seen >= 2.0);
	assert_near(e->cpu, 3.0 * 100 / hz / (t.pt.clock - seen));
	tree_close(&t);
}

static void
cpu_guard_counts_children_reaped_by_a_process_read(void **state)
{
	struct tree t;
	char rel[64], text[512];
	int pid;

	(void)state;
	cold_tree(&t);
	/* A new process, hot: read every scan. */
	set_proc(&t, 1020, 1, 0, 101050, 5000000);
	set_load(&t, 18, 1020);
	scan(&t, 1);
	assert_true(was_read(&t, 1020));
	/* It ran and reaped children that used 60 ticks in the interval. */
	snprintf(text, sizeof(text),
	    "1020 (p1020) S 1 1 1 0 -1 0 0 0 0 0 1 0 "
	    "60 0 20 0 1 0 101050 1000 100 0\n");
	put(&t, "1020/stat", text);
	put(&t, "1020/schedstat", "5100000 0 2\n");
	scan(&t, 62);
	assert_true(was_read(&t, 1020));
	assert_int_equal(t.pt.full, PROC_FULL_NONE);
	/* The same by a cold one, read after a gap, may be older: no. */
	pid = cold_next(&t);
	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(text, sizeof(text),
	    "%d (p%d) S 1 1 1 0 -1 0 0 0 0 0 11 0 60 0 "
	    "20 0 1 0 %llu 1000 100 0\n",
	    pid, pid, START_OLD);
	put(&t, rel, text);
	snprintf(rel, sizeof(rel), "%d/schedstat", pid);
	put(&t, rel, "5100000 0 2\n");
	scan(&t, 62);
	assert_int_equal(t.pt.full, PROC_FULL_CPU);
	tree_close(&t);
}

static void
task_guard_drops_an_exited_cold_process_at_once(void **state)
{
	struct tree t;
	int pid;

	(void)state;
	cold_tree(&t);
	pid = cold_not_next(&t);
	end_proc(&t, pid);
	set_load(&t, 16, 1015);
	scan(&t, 1);
	assert_int_equal(t.pt.full, PROC_FULL_TASKS);
	assert_null(ent(&t, pid));
	assert_int_equal(t.pt.tasks.total, 16);
	assert_true(t.pt.tasks_armed);
	tree_close(&t);
}

static void
task_guard_lists_proc_when_a_process_was_missed(void **state)
{
	struct tree t;

	(void)state;
	cold_tree(&t);
	/* 40 is outside every probed range; loadavg counts it. */
	set_proc(&t, 40, 1, 0, START_OLD, 1000);
	set_load(&t, 18, 1015);
	scan(&t, 1);
	assert_int_equal(t.pt.full, PROC_FULL_TASKS);
	assert_null(ent(&t, 40));
	scan(&t, 1);
	assert_int_equal(t.pt.full, PROC_FULL_LIST);
	assert_non_null(ent(&t, 40));
	assert_int_equal(t.pt.tasks.total, 18);
	assert_true(t.pt.tasks_armed);
	tree_close(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(probe_finds_new_processes_and_skips_threads),
	    cmocka_unit_test(probe_wraps_at_pid_max_then_lists_a_large_range),
	    cmocka_unit_test(cold_processes_are_read_in_a_rotating_slice),
	    cmocka_unit_test(
		cpu_guard_reads_every_cold_process_in_the_same_sample),
	    cmocka_unit_test(
		late_read_shows_cpu_over_the_process_own_elapsed_time),
	    cmocka_unit_test(
		cpu_guard_counts_children_reaped_by_a_process_read),
	    cmocka_unit_test(task_guard_drops_an_exited_cold_process_at_once),
	    cmocka_unit_test(task_guard_lists_proc_when_a_process_was_missed),
	};

	find_fixtures();
	hz = (double)sysconf(_SC_CLK_TCK);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
