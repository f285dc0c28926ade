/*
 * Frame headers of plain websockets, read from what lws receives. lws reads
 * plain sockets with recv(2); the recv() below takes the place of libc's for
 * the whole process (the dynamic linker binds libwebsockets' calls to the
 * executable's definition), makes the system call itself, and feeds the
 * bytes received on a watched fd to a header-only parser that skips
 * payloads. Unwatched fds (HTTP, TLS, libcurl's on the webhook thread) cost
 * one array load.
 */
#undef _FORTIFY_SOURCE	/* glibc's fortified recv() is an inline wrapper */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "wsmask.h"

#define WSMASK_FDS (1 << 17)

/* Parser state of one watched fd: where in a frame the stream is. */
struct watch {
	uint8_t on;
	uint8_t bad;		/* an unmasked frame was seen */
	uint8_t st;		/* ST_* */
	uint8_t need;		/* bytes left of the length or the key */
	uint8_t masked;
	uint64_t acc;		/* extended length being read */
	uint64_t skip;		/* payload bytes left */
	void *owner;
};

enum { ST_B0, ST_B1, ST_LEN, ST_KEY, ST_PAYLOAD };

static struct watch watches[WSMASK_FDS];
/* fds that turned bad, for wsmask_take_bad (main thread only). */
static int pending[256];
static unsigned npending;

ssize_t recv(int fd, void *buf, size_t len, int flags);

static void
scan(struct watch *w, const uint8_t *p, size_t n)
{
	while (n) {
		switch (w->st) {
		case ST_B0:
			w->st = ST_B1;
			p++, n--;
			break;
		case ST_B1:
			w->masked = (*p & 0x80) != 0;
			if (!w->masked && !w->bad) {
				w->bad = 1;
				if (npending < sizeof(pending) / sizeof(pending[0]))
					pending[npending++] = (int)(w - watches);
			}
			w->acc = 0;
			if ((*p & 0x7f) >= 126) {
				w->need = (*p & 0x7f) == 126 ? 2 : 8;
				w->st = ST_LEN;
			} else {
				w->skip = *p & 0x7f;
				w->need = w->masked ? 4 : 0;
				w->st = w->need ? ST_KEY : ST_PAYLOAD;
			}
			p++, n--;
			break;
		case ST_LEN:
			w->acc = w->acc << 8 | *p;
			p++, n--;
			if (--w->need == 0) {
				w->skip = w->acc;
				w->need = w->masked ? 4 : 0;
				w->st = w->need ? ST_KEY : ST_PAYLOAD;
			}
			break;
		case ST_KEY:
			p++, n--;
			if (--w->need == 0)
				w->st = ST_PAYLOAD;
			break;
		default: { /* ST_PAYLOAD */
			size_t k = w->skip < n ? (size_t)w->skip : n;

			p += k, n -= k;
			w->skip -= k;
			break;
		}
		}
		if (w->st == ST_PAYLOAD && w->skip == 0)
			w->st = ST_B0;
	}
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = (ssize_t)syscall(SYS_recvfrom, fd, buf, len, flags, NULL,
	    NULL);

	if (n > 0 && fd >= 0 && fd < WSMASK_FDS &&
	    __atomic_load_n(&watches[fd].on, __ATOMIC_RELAXED) &&
	    !(flags & 2 /* MSG_PEEK */))
		scan(&watches[fd], buf, (size_t)n);
	return n;
}

void
wsmask_watch(int fd, void *owner)
{
	if (fd < 0 || fd >= WSMASK_FDS)
		return;
	memset(&watches[fd], 0, sizeof(watches[fd]));
	watches[fd].owner = owner;
	__atomic_store_n(&watches[fd].on, 1, __ATOMIC_RELAXED);
}

void *
wsmask_take_bad(void)
{
	while (npending) {
		int fd = pending[--npending];

		if (watches[fd].on && watches[fd].bad)
			return watches[fd].owner;
	}
	return NULL;
}

void
wsmask_unwatch(int fd)
{
	if (fd >= 0 && fd < WSMASK_FDS)
		__atomic_store_n(&watches[fd].on, 0, __ATOMIC_RELAXED);
}

int
wsmask_bad(int fd)
{
	return fd >= 0 && fd < WSMASK_FDS && watches[fd].on &&
	    watches[fd].bad;
}
