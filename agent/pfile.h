/*
 * A /proc or /sys file opened once and re-read with pread(2), so steady-state
 * sampling costs one syscall per file and allocates nothing.
 */
#ifndef SNO_PFILE_H
#define SNO_PFILE_H

#include <stddef.h>
#include <string.h>

struct pfile {
	int fd;			/* -1 when closed */
	char path[256];
};

/* Opens root/rel read-only; 0 or negative errno. pf is closed on failure. */
int pfile_open(struct pfile *pf, const char *root, const char *rel);
/*
 * Reads the whole file from offset 0 into buf (NUL-terminated, at most
 * cap - 1 bytes). Returns the length, or negative errno (-ENOENT when not
 * open, -ESRCH when the process behind it is gone).
 */
long pfile_read(struct pfile *pf, char *buf, size_t cap);
/* Closes the file; safe on a closed or zeroed-then-initialised pfile. */
void pfile_close(struct pfile *pf);
/* Marks pf closed without closing anything (for zeroed structs). */
void pfile_init(struct pfile *pf);

/*
 * One-shot read of root/rel (open, read, close) into buf, NUL-terminated.
 * Returns the length or negative errno.
 */
long pfile_slurp(const char *root, const char *rel, char *buf, size_t cap);

/*
 * Appends the n bytes at s to out (cap bytes, o already used) as text fit
 * for a sample: each control byte and each byte that does not start valid
 * UTF-8 becomes '?'; a character that does not fit is left out. Names a
 * kernel reports (interfaces, mount points, command lines) are bytes, but
 * JSON must be UTF-8. NUL-terminates; returns the new length.
 */
size_t pfile_put_text(char *out, size_t o, size_t cap, const char *s,
    size_t n);

/*
 * The line after the one at s in a NUL-terminated text, or NULL when s is
 * the last (for (l = text; l && *l; l = pfile_next_line(l))).
 */
static inline const char *
pfile_next_line(const char *s)
{
	const char *nl = strchr(s, '\n');

	return nl ? nl + 1 : NULL;
}

#endif
