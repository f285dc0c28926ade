/*
 * A /proc or /sys file opened once and re-read with pread(2), so steady-state
 * sampling costs one syscall per file and allocates nothing.
 */
#ifndef SNO_PFILE_H
#define SNO_PFILE_H

#include <stddef.h>

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

#endif
