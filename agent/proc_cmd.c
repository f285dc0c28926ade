/*
 * Display strings for processes: command lines scrubbed of secrets and the
 * long program name. Pure string work; reads no files (proc_table.c does).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "pfile.h"
#include "proc_table.h"

#define PROC_MASK "***"

/* Option or key names whose value is a secret (case-insensitive parts). */
static int
proc_secret_name(const char *s, size_t n)
{
	static const char *const words[] = {"pass", "secret", "key", "pwd",
	    "token", "auth", "credential", "cookie", "session", NULL};
	char low[64];

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	low[n] = '\0';
	for (int i = 0; words[i]; i++)
		if (strstr(low, words[i]))
			return 1;
	return 0;
}

/* Appends n bytes to out, replacing control bytes and bad UTF-8 by '?'. */
static size_t
proc_put(char *out, size_t o, size_t cap, const char *s, size_t n)
{
	return pfile_put_text(out, o, cap, s, n);
}

/* Appends "user:***@" scrubbing for URLs with credentials in one arg. */
static size_t
proc_put_arg(char *out, size_t o, size_t cap, const char *a, size_t n)
{
	const char *sch = strstr(a, "://"), *at, *colon;

	if (sch && (at = memchr(sch + 3, '@', n - (size_t)(sch + 3 - a))) &&
	    (colon = memchr(sch + 3, ':', (size_t)(at - sch - 3)))) {
		o = proc_put(out, o, cap, a, (size_t)(colon + 1 - a));
		o = proc_put(out, o, cap, PROC_MASK, 3);
		return proc_put(out, o, cap, at, n - (size_t)(at - a));
	}
	return proc_put(out, o, cap, a, n);
}

/*
 * The short option that takes a password in programs that have one:
 * mysql/mariadb clients "-pSECRET", sshpass "-p SECRET", redis-cli
 * "-a SECRET". 0 for every other program ("-p" is a port to ssh, "-print"
 * to find).
 */
static char
proc_password_flag(const char *argv0, size_t n)
{
	const char *base = argv0, *s;

	for (s = argv0; s < argv0 + n; s++)
		if (*s == '/')
			base = s + 1;
	n -= (size_t)(base - argv0);
	if ((n >= 5 && strncmp(base, "mysql", 5) == 0) ||
	    (n >= 7 && strncmp(base, "mariadb", 7) == 0) ||
	    (n == 7 && strncmp(base, "sshpass", 7) == 0))
		return 'p';
	if (n == 9 && strncmp(base, "redis-cli", 9) == 0)
		return 'a';
	return 0;
}

/*
 * One argument: "--name=value", "-name=value" or "key=value" with a secret
 * name gets its value masked, and so does "-FVALUE" for the program's
 * password flag F. Returns 1 when the next argument is the value of a
 * secret "--name" option (or of a bare "-F").
 */
static int
proc_scrub_arg(const char *a, size_t n, char flag, char *out, size_t *o,
    size_t cap)
{
	const char *eq = memchr(a, '=', n), *name = a;

	if (flag && n >= 2 && a[0] == '-' && a[1] == flag) {
		*o = proc_put(out, *o, cap, a, 2);
		if (n == 2)
			return 1;
		*o = proc_put(out, *o, cap, PROC_MASK, 3);
		return 0;
	}

	while (name < a + n && *name == '-')
		name++;
	if (eq && proc_secret_name(name, (size_t)(eq - name))) {
		*o = proc_put(out, *o, cap, a, (size_t)(eq + 1 - a));
		*o = proc_put(out, *o, cap, PROC_MASK, 3);
		return 0;
	}
	*o = proc_put_arg(out, *o, cap, a, n);
	return !eq && name > a &&
	    proc_secret_name(name, n - (size_t)(name - a));
}

size_t
proc_scrub(const char *raw, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0, n;
	int mask_next = 0, argi = 0;
	char flag = 0;

	if (cap > PROC_CMD_MAX + 1)
		cap = PROC_CMD_MAX + 1;
	out[0] = '\0';
	while (len > 0 && raw[len - 1] == '\0')
		len--;
	while (i < len && o + 1 < cap) {
		const char *a = raw + i;
		const char *z = memchr(a, '\0', len - i);

		n = z ? (size_t)(z - a) : len - i;
		if (argi > 0)
			o = proc_put(out, o, cap, " ", 1);
		if (argi > 0 && mask_next && (n == 0 || a[0] != '-')) {
			o = proc_put(out, o, cap, PROC_MASK, 3);
			mask_next = 0;
		} else if (argi == 0) {
			o = proc_put(out, o, cap, a, n);
			flag = proc_password_flag(a, n);
		} else {
			mask_next = proc_scrub_arg(a, n, flag, out, &o, cap);
		}
		argi++;
		i += n + 1;
	}
	return o;
}

void
proc_long_name(const char *comm, const char *argv0, char *out, size_t cap)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;
	size_t clen = strlen(comm), blen;

	base = base ? base + 1 : argv0;
	if (base && clen >= 15) {
		/* argv0 may carry arguments when a program rewrote it. */
		blen = strcspn(base, " ");
		if (blen > clen && strncmp(base, comm, clen) == 0) {
			proc_put(out, 0, cap < blen + 1 ? cap : blen + 1, base,
			    blen);
			return;
		}
	}
	proc_put(out, 0, cap, comm, clen);
}
