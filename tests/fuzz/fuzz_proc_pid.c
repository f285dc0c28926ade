/*
 * The per-process files (agent/proc_table.c, proc_pids.c, proc_cmd.c):
 * /proc/PID/stat, /proc/loadavg as the process table reads it, the Uid and
 * Tgid lines of /proc/PID/status, and a raw /proc/PID/cmdline
 * (NUL-separated, so it is the rest of the input) made into the display
 * name and the scrubbed command line.
 * Input: stat NUL loadavg NUL status NUL cmdline.
 */
#include "fuzz.h"
#include "proc_pids.h"
#include "proc_table.h"

/* What proc_scrub and proc_long_name promise: valid UTF-8, no control
 * characters, within cap. */
static void
check_display(const char *s, size_t len, size_t cap, const char *what)
{
	fz_check(len < cap && strlen(s) == len, what);
	fz_check(utf8_valid((const unsigned char *)s, len), what);
	for (size_t i = 0; i < len; i++)
		fz_check((unsigned char)s[i] >= 0x20 && s[i] != 0x7f, what);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cmd[PROC_CMD_MAX + 1], name[PROC_NAME_MAX];
	struct proc_stat st;
	struct proc_load ld;
	struct fz_parts f;
	size_t n;
	int v;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	memset(&st, 0, sizeof(st));
	if (proc_parse_stat(f.p[0], &st) == 0)
		fz_check(strlen(st.comm) < sizeof(st.comm), "comm fits");
	if (proc_parse_loadavg(f.p[1], &ld) == 0)
		fz_check(ld.tasks > 0 && ld.last > 0,
		    "loadavg counts positive");
	(void)proc_status_int(f.p[2], "Uid:", &v);
	(void)proc_status_int(f.p[2], "Tgid:", &v);
	n = proc_scrub(f.p[3], f.len[3], cmd, sizeof(cmd));
	check_display(cmd, n, sizeof(cmd), "scrubbed cmdline");
	proc_long_name(st.comm, f.len[3] ? f.p[3] : NULL, name, sizeof(name));
	check_display(name, strlen(name), sizeof(name), "long name");
	fz_free(&f);
	return 0;
}
