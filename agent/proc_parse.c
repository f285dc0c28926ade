/*
 * The /proc/PID/stat and status texts of the process table (see
 * proc_table.h): pure parsers, unit-tested, no file read here.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_pids.h"

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
	st->cticks = v[12] + v[13];
	st->threads = (int)v[16];
	st->start = v[18];
	st->rss_pages = v[20];
	return 0;
}

int
proc_status_int(const char *text, const char *key, int *v)
{
	size_t n = strlen(key);
	const char *line;
	char *end;
	long l;

	for (line = text; line && *line; line = pfile_next_line(line)) {
		if (strncmp(line, key, n) != 0)
			continue;
		errno = 0;
		l = strtol(line + n, &end, 10);
		if (end == line + n || errno || l < INT_MIN || l > INT_MAX)
			return -EPROTO;
		*v = (int)l;
		return 0;
	}
	return -ENOENT;
}
