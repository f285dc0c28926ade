/*
 * Unit tests for the agent's /proc parsers, fed with captured files under
 * tests/unit/fixtures/ (found next to the binary: ../../tests/unit/fixtures,
 * or $SNO_FIXTURES). Independent of the machine they run on.
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
#include <unistd.h>

#include <cmocka.h>

#include "../../agent/proc_table.h"
#include "../../agent/sample_cg.h"
#include "../../agent/sample_cpu.h"
#include "../../agent/sample_disk.h"
#include "../../agent/sample_fs.h"
#include "../../agent/sample_mem.h"
#include "../../agent/sample_net.h"
#include "../../agent/sampler.h"
#include "sample.h"

static char fixdir[200];
static char text[65536];

static void
find_fixtures(void)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (getenv("SNO_FIXTURES")) {
		snprintf(fixdir, sizeof(fixdir), "%.190s",
		    getenv("SNO_FIXTURES"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(fixdir, sizeof(fixdir), "%.160s/../../tests/unit/fixtures",
	    exe);
	if (access(fixdir, F_OK) != 0)
		snprintf(fixdir, sizeof(fixdir), "tests/unit/fixtures");
}

/* Returns the contents of fixture name in a static buffer. */
static const char *
fix(const char *name)
{
	long n = pfile_slurp(fixdir, name, text, sizeof(text));

	if (n < 0)
		fail_msg("cannot read fixture %s/%s: %s", fixdir, name,
		    strerror((int)-n));
	return text;
}

/* Reads a fixture into a caller buffer (when two are needed at once). */
static const char *
fix2(const char *name, char *buf, size_t cap)
{
	if (pfile_slurp(fixdir, name, buf, cap) < 0)
		fail_msg("cannot read fixture %s", name);
	return buf;
}

#define assert_near(a, b) assert_true(fabs_((a) - (b)) < 0.051)
static double
fabs_(double x)
{
	return x < 0 ? -x : x;
}

/* ---- CPU ---- */

static void
cpu_total_excludes_guest(void **state)
{
	struct sample_cpu c;

	(void)state;
	sample_cpu_init(&c);
	assert_int_equal(sample_cpu_busy(&c), 0);
	assert_int_equal(sample_cpu_feed(&c, fix("stat.a"), NULL, NULL, 0), 0);
	assert_int_equal(c.rates, 0);
	assert_int_equal(c.n, 2);
	/* The busy figure the process table's CPU guard compares is the
	 * latest reading's, not the one before. */
	assert_int_equal(sample_cpu_busy(&c), 1000 + 100 + 500 + 10 + 20);
	assert_int_equal(sample_cpu_feed(&c, fix("stat.b"), "0.5 0.6 0.7 1/2 3",
	    "1000.5 10", 1.0), 0);
	assert_int_equal(c.rates, 1);
	assert_int_equal(sample_cpu_busy(&c), 1150 + 100 + 550 + 10 + 30);
	assert_near(c.pct.usr, 10.0);
	assert_near(c.pct.nic, 0.0);
	assert_near(c.pct.sys, 5.0);
	assert_near(c.pct.idle, 70.0);
	assert_near(c.pct.iow, 5.0);
	assert_near(c.pct.sirq, 1.0);
	assert_near(c.pct.stl, 4.0);
	assert_near(c.pct.gst, 5.0);
	assert_near(c.pct.usr + c.pct.nic + c.pct.sys + c.pct.iow + c.pct.irq +
	    c.pct.sirq + c.pct.stl + c.pct.gst + c.pct.idle, 100.0);
	assert_near(c.cores[0].usr, 15.0);
	assert_near(c.cores[0].sys, 6.0);
	assert_near(c.cores[0].busy, 25.0);
	assert_near(c.ctxt_ps, 1000);
	assert_near(c.intr_ps, 2000);
	assert_near(c.forks_ps, 10);
	assert_near(c.load[2], 0.7);
	assert_near(c.uptime_s, 1000.5);
	sample_cpu_close(&c);
}

static void
cpu_offline_core_is_null_then_rebaselined(void **state)
{
	struct sample_cpu c;
	struct buf b;

	(void)state;
	buf_init(&b, 65536);
	sample_cpu_init(&c);
	sample_cpu_feed(&c, fix("stat.b"), NULL, NULL, 0);
	/* cpu1 goes offline. */
	assert_int_equal(sample_cpu_feed(&c, fix("stat.c"), NULL, NULL, 1), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ncores, 1);
	assert_true(c.cores[0].valid);
	/* cpu1 comes back with reset counters: listed but null. */
	sample_cpu_feed(&c, fix("stat.d"), NULL, NULL, 1);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ncores, 2);
	assert_true(c.cores[0].valid);
	assert_false(c.cores[1].valid);
	assert_int_equal(sample_cpu_json(&c, &b), 0);
	assert_non_null(strstr(b.data, "],null]"));
	/* The next reading has a baseline again. */
	sample_cpu_feed(&c, fix("stat.e"), NULL, NULL, 1);
	assert_true(c.cores[1].valid);
	assert_near(c.cores[1].usr, 20.0);
	assert_near(c.cores[1].busy, 22.0);
	sample_cpu_close(&c);
	buf_free(&b);
}

static void
cpu_counter_reset_gives_zero_not_negative(void **state)
{
	struct sample_cpu c;

	(void)state;
	sample_cpu_init(&c);
	sample_cpu_feed(&c, fix("stat.b"), NULL, NULL, 0);
	sample_cpu_feed(&c, fix("stat.a"), NULL, NULL, 1);
	assert_true(c.pct.usr >= 0 && c.pct.idle >= 0);
	assert_near(c.ctxt_ps, 0);
	assert_false(c.cores[0].valid);
	/* Re-baselined on the lower values. */
	sample_cpu_feed(&c, fix("stat.b"), NULL, NULL, 1);
	assert_near(c.pct.usr, 10.0);
	assert_near(c.ctxt_ps, 1000);
	sample_cpu_close(&c);
}

static void
cpu_short_lines_and_garbage(void **state)
{
	struct sample_cpu c;

	(void)state;
	sample_cpu_init(&c);
	assert_int_equal(sample_cpu_feed(&c, fix("stat.short"), NULL, NULL, 0),
	    0);
	assert_int_equal(c.n, 1);
	assert_int_equal(sample_cpu_feed(&c, "nothing here\n", NULL, NULL, 1),
	    -EPROTO);
	assert_int_equal(sample_cpu_feed(&c, "", NULL, NULL, 1), -EPROTO);
	/* Numbers JSON cannot carry count as unreadable. */
	assert_int_equal(sample_cpu_feed(&c, fix("stat.short"), "inf nan 1\n",
	    "1e999 0\n", 1), 0);
	assert_true(c.load[0] == 0 && c.load[1] == 0 && c.load[2] == 0);
	assert_true(c.uptime_s == 0);
	sample_cpu_close(&c);
}

/* ---- memory ---- */

static void
mem_used_is_total_minus_available(void **state)
{
	struct sample_mem m;
	char vm[256];

	(void)state;
	sample_mem_init(&m);
	assert_int_equal(sample_mem_feed(&m, fix("meminfo.full"),
	    fix2("vmstat.a", vm, sizeof(vm)), 0), 0);
	assert_int_equal(m.mi.total, 24684092ULL * 1024);
	assert_int_equal(m.used, (24684092ULL - 24265056ULL) * 1024);
	assert_int_equal(m.mi.cached + m.mi.sreclaim,
	    (204564ULL + 60840ULL) * 1024);
	assert_int_equal(m.swap_used, 100000ULL * 1024);
	assert_false(m.rates);
	sample_mem_feed(&m, fix("meminfo.full"), fix2("vmstat.b", vm,
	    sizeof(vm)), 2.0);
	assert_true(m.rates);
	assert_near(m.in_ps, 25.0);
	assert_near(m.out_ps, 30.0);
	/* Counter reset: 0, not negative. */
	sample_mem_feed(&m, fix("meminfo.full"), fix2("vmstat.a", vm,
	    sizeof(vm)), 1.0);
	assert_near(m.in_ps, 0.0);
}

static void
mem_missing_available_falls_back_to_free(void **state)
{
	struct sample_mem m;

	(void)state;
	sample_mem_init(&m);
	assert_int_equal(sample_mem_feed(&m, fix("meminfo.noavail"), NULL, 0),
	    0);
	assert_int_equal(m.used, (24684092ULL - 24243976ULL) * 1024);
	/* lxcfs: MemAvailable larger than MemTotal is ignored. */
	sample_mem_feed(&m, fix("meminfo.lxc"), NULL, 0);
	assert_int_equal(m.used, (24684092ULL - 24243976ULL) * 1024);
	assert_int_equal(sample_mem_feed(&m, fix("meminfo.broken"), NULL, 0),
	    -EPROTO);
}

/* ---- network ---- */

static void
net_interfaces_appear_and_disappear(void **state)
{
	struct sample_net n;
	struct buf b;

	(void)state;
	buf_init(&b, 65536);
	sample_net_init(&n);
	snprintf(n.sys_root, sizeof(n.sys_root), "%s/sys", fixdir);
	sample_net_feed(&n, fix("netdev.a"), 0);
	sample_net_json(&n, &b);
	assert_string_equal(b.data, "\"net\":[]");
	/* eth0 has rates; wlan0 is new (baseline only); veth123 virtual. */
	sample_net_feed(&n, fix("netdev.b"), 1.0);
	buf_reset(&b);
	sample_net_json(&n, &b);
	assert_string_equal(b.data,
	    "\"net\":[{\"if\":\"eth0\",\"rx_Bps\":10000,"
	    "\"tx_Bps\":2000,\"rx_pps\":100,\"tx_pps\":20,\"err_ps\":2.0,"
	    "\"drop_ps\":3.0}]");
	/* eth0 recreated (counters reset): 0, not negative; wlan0 rates. */
	sample_net_feed(&n, fix("netdev.c"), 1.0);
	buf_reset(&b);
	sample_net_json(&n, &b);
	assert_non_null(strstr(b.data, "{\"if\":\"eth0\",\"rx_Bps\":0,"));
	assert_non_null(strstr(b.data, "{\"if\":\"wlan0\",\"rx_Bps\":1000,"));
	assert_null(strstr(b.data, "\"lo\""));
	/* wlan0 gone. */
	sample_net_feed(&n, fix("netdev.d"), 1.0);
	buf_reset(&b);
	sample_net_json(&n, &b);
	assert_null(strstr(b.data, "wlan0"));
	assert_non_null(strstr(b.data, "{\"if\":\"eth0\",\"rx_Bps\":2000,"));
	buf_free(&b);
}

/* ---- disks ---- */

static void
disk_whole_disks_only_with_rates(void **state)
{
	struct sample_disk d;
	struct buf b;

	(void)state;
	buf_init(&b, 65536);
	sample_disk_init(&d);
	snprintf(d.sys_root, sizeof(d.sys_root), "%s/nonexistent", fixdir);
	sample_disk_feed(&d, fix("diskstats.a"), 0);
	sample_disk_feed(&d, fix("diskstats.b"), 1.0);
	sample_disk_json(&d, &b);
	assert_string_equal(b.data, "\"disk\":[{\"dev\":\"sda\",\"r_Bps\":"
	    "1048576,\"w_Bps\":524288,\"r_iops\":100.0,\"w_iops\":50.0,"
	    "\"util\":25.0,\"await_ms\":3.33},{\"dev\":\"nvme0n1\",\"r_Bps\":0,"
	    "\"w_Bps\":0,\"r_iops\":0.0,\"w_iops\":0.0,\"util\":0.0,"
	    "\"await_ms\":0.00}]");
	assert_true(disk_skip_name(d.sys_root, "sda1"));
	assert_true(disk_skip_name(d.sys_root, "nvme0n1p1"));
	assert_true(disk_skip_name(d.sys_root, "mmcblk0p2"));
	assert_false(disk_skip_name(d.sys_root, "mmcblk0"));
	assert_true(disk_skip_name(d.sys_root, "loop3"));
	buf_free(&b);
}

/* ---- filesystems and cgroups ---- */

static void
fs_mounts_skip_pseudo_and_decode_spaces(void **state)
{
	struct sample_fs f;

	(void)state;
	sample_fs_init(&f);
	assert_int_equal(sample_fs_parse(&f, fix("mounts")), 3);
	assert_string_equal(f.fs[0].mnt, "/");
	assert_string_equal(f.fs[1].mnt, "/mnt/my disk");
	assert_string_equal(f.fs[2].mnt, "/home");
}

/* Interface names and mount points are bytes; the sample must be UTF-8. */
static void
names_in_samples_are_utf8(void **state)
{
	static const char dev[] = "Inter-|\n face |\n  eth\xff" "0: 100 1 0 0 "
	    "0 0 0 0 200 2 0 0 0 0 0 0\n";
	static const char dev2[] = "  eth\xff" "0: 300 3 0 0 0 0 0 0 400 4 0 0 "
	    "0 0 0 0\n";
	static struct sample_net n;
	static struct sample_fs f;
	struct buf out;

	(void)state;
	buf_init(&out, 65536);
	sample_fs_init(&f);
	assert_int_equal(sample_fs_parse(&f,
	    "/dev/sdb1 /media/u/caf\xe9 vfat rw 0 0"), 1);
	assert_int_equal(sample_fs_json(&f, &out), 0);
	assert_non_null(strstr(out.data, "\"mnt\":\"/media/u/caf?\""));
	buf_reset(&out);
	sample_net_init(&n);
	snprintf(n.sys_root, sizeof(n.sys_root), "/nonexistent");
	sample_net_feed(&n, dev, 1.0);
	sample_net_feed(&n, dev2, 1.0);
	assert_int_equal(sample_net_json(&n, &out), 0);
	assert_non_null(strstr(out.data, "\"if\":\"eth?0\""));
	buf_free(&out);
}

static void
cg_limits_parse(void **state)
{
	unsigned long long mem;
	double cpus;

	(void)state;
	assert_int_equal(cg_parse_cpu_max(fix("cg/cpu.max.limited"), &cpus), 0);
	assert_near(cpus, 1.5);
	cg_parse_cpu_max(fix("cg/cpu.max.unlimited"), &cpus);
	assert_near(cpus, 0);
	assert_int_equal(cg_parse_cpu_max("garbage", &cpus), -EPROTO);
	assert_int_equal(cg_parse_cpu_max("inf 100000\n", &cpus), -EPROTO);
	assert_int_equal(cg_parse_cpu_max("1 nan\n", &cpus), -EPROTO);
	assert_int_equal(cg_parse_cpu_max("1e308 1e-300\n", &cpus), -EPROTO);
	assert_int_equal(cg_parse_mem_max("max\n", &mem), 0);
	assert_int_equal(mem, 0);
	cg_parse_mem_max("536870912\n", &mem);
	assert_int_equal(mem, 536870912ULL);
	assert_int_equal(cg_stat_value(fix("cg/memory.stat"), "inactive_file"),
	    3000);
	assert_int_equal(cg_stat_value(text, "missing"), 0);
}

static void
cg_skips_own_unit_and_finds_limited_parent(void **state)
{
	char proc[PATH_MAX], cg[PATH_MAX];
	struct sample_cg g;
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	snprintf(proc, sizeof(proc), "%s/cgproc", fixdir);
	snprintf(cg, sizeof(cg), "%s/cgroot", fixdir);
	sample_cg_init(&g);
	assert_int_equal(sample_cg_open(&g, proc, cg), 0);
	assert_true(g.active);
	assert_near(g.cpu_limit, 2.0);
	assert_int_equal(g.mem_limit, 0);
	assert_int_equal(sample_cg_read(&g, 0), 0);
	assert_int_equal(g.mem_used, 2000000);
	assert_int_equal(sample_cg_json(&g, &b), 0);
	assert_string_equal(b.data, "\"cg\":{\"cpu_limit\":2.00,"
	    "\"cpu_pct_of_limit\":null,\"throttled_pct\":null,"
	    "\"mem_limit\":null,\"mem_used\":2000000}");
	sample_cg_close(&g);
	/* The fixture proc root says "0::/": no limit anywhere, null. */
	snprintf(proc, sizeof(proc), "%s/proc", fixdir);
	sample_cg_init(&g);
	assert_int_equal(sample_cg_open(&g, proc, cg), 0);
	assert_false(g.active);
	buf_reset(&b);
	sample_cg_json(&g, &b);
	assert_string_equal(b.data, "\"cg\":null");
	buf_free(&b);
}

/* ---- processes ---- */

static void
proc_stat_names_with_spaces_and_parentheses(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(fix("proc/42/stat"), &st), 0);
	assert_string_equal(st.comm, "a (b) c)");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.ppid, 1);
	assert_int_equal(st.ticks, 1500);
	assert_int_equal(st.threads, 1);
	assert_int_equal(st.start, 5000);
	assert_int_equal(st.rss_pages, 2000);
	assert_int_equal(proc_parse_stat(fix("proc/77/stat"), &st), -EPROTO);
	assert_int_equal(proc_parse_stat("12 noparen S 1", &st), -EPROTO);
	assert_int_equal(proc_parse_stat("", &st), -EPROTO);
}

static void
proc_scrub_masks_secrets(void **state)
{
	static const char raw[] = "prog\0--token\0abc\0--password=hunter2\0"
	    "user=me\0API_KEY=zzz\0https://bob:pw@host/x\0--auth\0-v\0-p\0"
	    "x\0";
	char out[PROC_CMD_MAX + 1];

	(void)state;
	proc_scrub(raw, sizeof(raw) - 1, out, sizeof(out));
	assert_string_equal(out, "prog --token *** --password=*** user=me "
	    "API_KEY=*** https://bob:***@host/x --auth -v -p x");
	proc_scrub("a\0b\x01\xff\0", 6, out, sizeof(out));
	assert_string_equal(out, "a b??");
}

static void
proc_long_names(void **state)
{
	char out[PROC_NAME_MAX];

	(void)state;
	proc_long_name("sno_agent_test_",
	    "/tmp/x/sno_agent_test_long_name_30chr", out, sizeof(out));
	assert_string_equal(out, "sno_agent_test_long_name_30chr");
	proc_long_name("short", "/usr/bin/short_but_other", out, sizeof(out));
	assert_string_equal(out, "short");
	proc_long_name("memfd:sealed-91", "line_io_tools/binary", out,
	    sizeof(out));
	assert_string_equal(out, "memfd:sealed-91");
}

/* Rewrites one stat file of the copied tree. */
static void
write_bytes(const char *root, const char *rel, const char *p, size_t n)
{
	char path[PATH_MAX];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_non_null(fp = fopen(path, "w"));
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

static void
write_file(const char *root, const char *rel, const char *content)
{
	write_bytes(root, rel, content, strlen(content));
}

static char *
copy_tree(void)
{
	static char tmp[64];
	char cmd[PATH_MAX * 2 + 32];

	/* mkdtemp fills the template in: a fresh one each call. */
	snprintf(tmp, sizeof(tmp), "/tmp/sno-agent-unit-XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(cmd, sizeof(cmd), "cp -r '%s/proc/.' '%s/'", fixdir, tmp);
	assert_int_equal(system(cmd), 0);
	return tmp;
}

static const char *
stat_line(int pid, const char *comm, char state, unsigned long long ut,
    unsigned long long stt, int thr, unsigned long long start)
{
	static char line[512];

	snprintf(line, sizeof(line), "%d (%s) %c 1 %d %d 0 -1 0 0 0 0 0 %llu "
	    "%llu 0 0 20 0 %d 0 %llu 1000 100 0\n", pid, comm, state, pid,
	    pid, ut, stt, thr, start);
	return line;
}

static void
proc_table_cpu_tasks_and_pid_reuse(void **state)
{
	struct proc_table pt;
	char *root = copy_tree(), cmd[PATH_MAX + 16];
	double hz = (double)sysconf(_SC_CLK_TCK);
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 65536);
	assert_int_equal(proc_table_open(&pt, root, 10, 1, 100), 0);
	assert_int_equal(proc_table_scan(&pt, 1000.0, 0), 0);
	assert_int_equal(pt.tasks.total, 5); /* 77 is unreadable */
	assert_int_equal(pt.tasks.running, 1);
	assert_int_equal(pt.tasks.sleeping, 2);
	assert_int_equal(pt.tasks.idle, 1);
	assert_int_equal(pt.tasks.zombie, 1);
	assert_int_equal(pt.tasks.threads, 7);
	/* One second later: 42 used 75 ticks; 1 more than its one thread. */
	write_file(root, "42/stat", stat_line(42, "a (b) c)", 'R', 1050, 525, 1,
	    5000));
	write_file(root, "1/stat", stat_line(1, "systemd", 'S', 100 + 5 * hz,
	    50, 1, 1));
	/* PID 88 reused by an older-looking process: no spike. */
	write_file(root, "88/stat", stat_line(88, "other", 'S', 90000, 0, 1,
	    50000));
	/* PID 120 born during the interval: all its ticks count. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/120'", root);
	assert_int_equal(system(cmd), 0);
	write_file(root, "120/stat", stat_line(120, "newborn", 'R', 0.2 * hz,
	    0.1 * hz, 1, 100050.0 / 100 * hz));
	write_bytes(root, "120/cmdline", "newborn\0--secret\0s3\0", 20);
	assert_int_equal(proc_table_scan(&pt, 1001.0, 1.0), 0);
	assert_int_equal(pt.tasks.total, 6);
	assert_true(pt.ntop >= 3);
	assert_int_equal(pt.ents[pt.top[0]].st.pid, 1);
	assert_near(pt.ents[pt.top[0]].cpu, 100.0); /* capped */
	assert_int_equal(pt.ents[pt.top[1]].st.pid, 42);
	assert_near(pt.ents[pt.top[1]].cpu, 75.0 * 100 / hz);
	assert_int_equal(pt.ents[pt.top[2]].st.pid, 120);
	assert_near(pt.ents[pt.top[2]].cpu, 30.0);
	for (i = 0; i < pt.nents; i++)
		if (pt.ents[i].st.pid == 88)
			assert_near(pt.ents[i].cpu, 0.0);
	assert_int_equal(proc_table_json(&pt, &b), 0);
	assert_non_null(strstr(b.data, "[43,2,\"?\",\"I\",0.0,0,1,"
	    "\"kworker/0:1\",\"[kworker/0:1]\"]"));
	assert_non_null(strstr(b.data, "\"zz\",\"[zz] <defunct>\"]"));
	assert_non_null(strstr(b.data, "[1,1,\"root\",\"S\",100.0,"));
	assert_non_null(strstr(b.data, "\"newborn --secret ***\""));
	assert_null(strstr(b.data, "s3"));
	proc_table_close(&pt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	buf_free(&b);
}

static void
proc_table_long_name_from_cmdline(void **state)
{
	struct proc_table pt;
	char root[PATH_MAX];
	struct buf b;

	(void)state;
	buf_init(&b, 65536);
	snprintf(root, sizeof(root), "%s/proc", fixdir);
	assert_int_equal(proc_table_open(&pt, root, 10, 0, 100), 0);
	assert_int_equal(proc_table_scan(&pt, 1000.0, 0), 0);
	assert_int_equal(proc_table_json(&pt, &b), 0);
	/* send_cmdline = no: the name stays, the command line is null. */
	assert_non_null(strstr(b.data, "\"sno_agent_test_long_name_30chr\","
	    "null]"));
	assert_null(strstr(b.data, "hunter2"));
	proc_table_close(&pt);
	buf_free(&b);
}

static void
proc_need_stat_decisions(void **state)
{
	struct proc_ent old;

	(void)state;
	memset(&old, 0, sizeof(old));
	old.run_ns = 500;
	old.st.threads = 1;
	assert_true(proc_need_stat(NULL, 1, 500, 0));	/* new */
	assert_false(proc_need_stat(&old, 1, 500, 0));	/* did not run */
	assert_true(proc_need_stat(&old, 1, 501, 0));	/* ran */
	assert_true(proc_need_stat(&old, 0, 0, 0));	/* no schedstat */
	assert_true(proc_need_stat(&old, 1, 0, 0));	/* schedstats off */
	assert_true(proc_need_stat(&old, 1, 500, 1));	/* periodic refresh */
	old.st.threads = 3;			/* other threads unseen */
	assert_true(proc_need_stat(&old, 1, 500, 0));
	old.st.threads = 1;
	old.top = 1;				/* a reported row */
	assert_true(proc_need_stat(&old, 1, 500, 0));
}

/*
 * stat is read only after schedstat moved. The copied tree's self is no
 * link to this process, so every scan lists it: a new PID shows at once.
 */
static void
proc_table_skips_stat_of_idle_processes(void **state)
{
	static const char *pids[] = {"1", "42", "43", "77", "88", "99"};
	struct proc_table pt;
	char *root = copy_tree(), cmd[PATH_MAX + 16], rel[64];
	double hz = (double)sysconf(_SC_CLK_TCK);
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		snprintf(rel, sizeof(rel), "%s/schedstat", pids[i]);
		write_file(root, rel, "1000 0 1\n");
	}
	assert_int_equal(proc_table_open(&pt, root, 1, 1, 100), 0);
	assert_int_equal(proc_table_scan(&pt, 1000.0, 0), 0);
	assert_int_equal(pt.tasks.running, 1);		/* 42 */
	assert_int_equal(pt.ents[pt.top[0]].st.pid, 1);	/* most rss */
	assert_int_equal(proc_table_scan(&pt, 1001.0, 1.0), 0);
	/* 42's stat moves but its schedstat does not: not re-read. */
	write_file(root, "42/stat", stat_line(42, "a (b) c)", 'S',
	    1000 + 0.5 * hz, 500, 1, 5000));
	assert_int_equal(proc_table_scan(&pt, 1002.0, 1.0), 0);
	assert_int_equal(pt.tasks.running, 1);
	assert_int_equal(pt.ents[pt.top[0]].st.pid, 1);
	/* It ran: stat is read, the ticks count, the state is new. */
	write_file(root, "42/schedstat", "2000 0 2\n");
	assert_int_equal(proc_table_scan(&pt, 1003.0, 1.0), 0);
	assert_int_equal(pt.tasks.running, 0);
	assert_int_equal(pt.tasks.sleeping, 3);
	assert_int_equal(pt.ents[pt.top[0]].st.pid, 42);
	assert_near(pt.ents[pt.top[0]].cpu, 50.0);
	/* A new PID shows in the next scan. */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/120'", root);
	assert_int_equal(system(cmd), 0);
	write_file(root, "120/stat", stat_line(120, "newborn", 'S', 0, 0, 1,
	    100350.0 / 100 * hz));
	write_file(root, "120/schedstat", "10 0 1\n");
	assert_int_equal(proc_table_scan(&pt, 1004.0, 1.0), 0);
	assert_int_equal(pt.tasks.total, 6);
	assert_int_equal(pt.tasks.sleeping, 4);
	proc_table_close(&pt);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

/* ---- the whole sample ---- */

static void
sampler_output_passes_the_schema(void **state)
{
	char proc[PATH_MAX], sys[PATH_MAX], host[SAMPLE_HOST_MAX + 1], err[128];
	struct sampler_opts o = {proc, sys, sys, "web-1", 20, 1, 100};
	struct sampler *s;
	long long seq = 0;
	struct buf b;

	(void)state;
	buf_init(&b, SAMPLE_MAX_BYTES);
	snprintf(proc, sizeof(proc), "%s/proc", fixdir);
	snprintf(sys, sizeof(sys), "%s/sys", fixdir);
	assert_non_null(s = sampler_new(&o));
	assert_int_equal(sampler_collect(s), 0);
	assert_int_equal(sampler_collect(s), 0);
	assert_int_equal(sampler_json(s, 42, &b), 0);
	if (sample_validate(b.data, b.len, err, sizeof(err), &seq, host,
	    sizeof(host)) != 0)
		fail_msg("%s in %s", err, b.data);
	assert_int_equal(seq, 42);
	assert_string_equal(host, "web-1");
	assert_non_null(strstr(b.data, "\"cg\":null"));
	assert_non_null(strstr(b.data, "\"load\":[0.52,0.58,0.59]"));
	assert_null(strstr(b.data, "hunter2"));
	sampler_free(s);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cpu_total_excludes_guest),
		cmocka_unit_test(cpu_offline_core_is_null_then_rebaselined),
		cmocka_unit_test(cpu_counter_reset_gives_zero_not_negative),
		cmocka_unit_test(cpu_short_lines_and_garbage),
		cmocka_unit_test(mem_used_is_total_minus_available),
		cmocka_unit_test(mem_missing_available_falls_back_to_free),
		cmocka_unit_test(net_interfaces_appear_and_disappear),
		cmocka_unit_test(disk_whole_disks_only_with_rates),
		cmocka_unit_test(fs_mounts_skip_pseudo_and_decode_spaces),
		cmocka_unit_test(names_in_samples_are_utf8),
		cmocka_unit_test(cg_limits_parse),
		cmocka_unit_test(cg_skips_own_unit_and_finds_limited_parent),
		cmocka_unit_test(proc_stat_names_with_spaces_and_parentheses),
		cmocka_unit_test(proc_scrub_masks_secrets),
		cmocka_unit_test(proc_long_names),
		cmocka_unit_test(proc_table_cpu_tasks_and_pid_reuse),
		cmocka_unit_test(proc_table_long_name_from_cmdline),
		cmocka_unit_test(proc_need_stat_decisions),
		cmocka_unit_test(proc_table_skips_stat_of_idle_processes),
		cmocka_unit_test(sampler_output_passes_the_schema),
	};

	find_fixtures();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
