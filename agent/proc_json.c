/*
 * The process part of a sample (see proc_table.h): task counts and the
 * top-N rows the last scan picked. Reads status (the uid) and cmdline of
 * the reported rows only, and caches user names; never scans.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pfile.h"
#include "proc_table.h"

/* A row's worst JSON size (every cmd byte escaped) and room for the rest. */
#define PROC_ROW_WORST (2 * (PROC_CMD_MAX + PROC_NAME_MAX) + 160)
#define PROC_TAIL_RESERVE 256

/* Reads root/PID/file into pt->buf; the length or negative errno. */
static long
proc_json_slurp(struct proc_table *pt, int pid, const char *file)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%d/%s", pid, file);
	return pfile_slurp(pt->root, rel, pt->buf, sizeof(pt->buf));
}

/* Real uid from the Uid: line of status, or -1. */
static int
proc_read_uid(struct proc_table *pt, int pid)
{
	int uid;

	if (proc_json_slurp(pt, pid, "status") < 0 ||
	    proc_status_int(pt->buf, "Uid:", &uid) < 0 || uid < 0)
		return -1;
	return uid;
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
	long n = proc_json_slurp(pt, e->st.pid, "cmdline");

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
	/* Credentials change only while the main thread runs. */
	if (e->uid < 0 || e->run_ns == 0 || e->run_ns != e->uid_ns) {
		e->uid = proc_read_uid(pt, e->st.pid);
		e->uid_ns = e->run_ns;
	}
	r = buf_printf(out, "[%d,%d,", e->st.pid, e->st.ppid);
	if (r == 0)
		r = buf_add_json_string(
		    out, e->uid >= 0 ? proc_user(pt, e->uid) : "?");
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

	r = buf_printf(out,
	    "\"tasks\":{\"total\":%d,\"running\":%d,"
	    "\"sleeping\":%d,\"blocked\":%d,\"zombie\":%d,\"stopped\":%d,"
	    "\"idle\":%d,\"threads\":%d},\"procs_fields\":[\"pid\",\"ppid\","
	    "\"user\",\"state\",\"cpu\",\"rss\",\"thr\",\"name\",\"cmd\"],"
	    "\"procs_total\":%d,\"procs\":[",
	    t->total, t->running, t->sleeping, t->blocked, t->zombie,
	    t->stopped, t->idle, t->threads, t->total);
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
