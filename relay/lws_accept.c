/*
 * Out of file descriptors (EMFILE, ENFILE): lws 4.1.6 spins. Its listener
 * (lib/roles/listen/ops-listen.c, rops_handle_POLLIN_listen) logs "accept:
 * errno N" and returns; the connection stays in the backlog, the listen
 * socket stays readable, and the level-triggered poll hands it back at
 * once: a core ran flat out until clients left (its own accept modulation
 * counts only the fds lws polls, not the log's, files served, Redis,
 * webhooks). Pausing the listener as nginx does is not possible from
 * outside lws 4.1.6: lws_rx_flow_control on a listener does nothing (it
 * has no protocol, and __lws_change_pollfd skips such a wsi) and the
 * calls that would (lws_change_pollfd, the libev watcher) are private.
 * So, as libuv does (uv__emfile_trick): one descriptor is kept in reserve;
 * on EMFILE it is let go, every connection waiting on the listeners is
 * accepted and closed at once (the client sees its connection closed,
 * not a hang), and the reserve is taken again. The listener is then not
 * readable and nothing spins; when clients leave, accepting works as
 * before. That log line is the only sign lws gives, so the relay's lws
 * logger hands it here; a line a second says how many were dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "lws_glue.h"

#define MAX_LISTENERS 4
#define SCAN_FDS 256	/* listeners are made at start: low fds */

static struct {
	int lsn[MAX_LISTENERS];
	int n;
	int reserve;		/* /dev/null, let go to make room; or -1 */
	uint64_t failed;	/* accepts that failed since the last line */
	uint64_t dropped;	/* connections closed unserved, likewise */
	int64_t last_log_ms;
} ac = {.reserve = -1};

void
accept_guard_start(void)
{
	socklen_t len;
	int on;

	for (int fd = 0; fd < SCAN_FDS && ac.n < MAX_LISTENERS; fd++) {
		len = sizeof(on);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
		    on)
			ac.lsn[ac.n++] = fd;
	}
	ac.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void
accept_guard_stop(void)
{
	if (ac.reserve >= 0)
		close(ac.reserve);
	ac.reserve = -1;
	ac.n = 0;
}

/* Accepts and closes what waits on every listener. */
static void
drop_waiting(void)
{
	int fd;

	if (ac.reserve >= 0) {
		close(ac.reserve);
		ac.reserve = -1;
	}
	for (int i = 0; i < ac.n; i++)
		while ((fd = accept4(ac.lsn[i], NULL, NULL, SOCK_CLOEXEC)) >=
		    0) {
			close(fd);
			ac.dropped++;
		}
	ac.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int
accept_guard_log(const char *line)
{
	int64_t now;
	int err;

	if (sscanf(line, "accept: errno %d", &err) != 1)
		return 0;
	ac.failed++;
	if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
	    err == ENOMEM)
		drop_waiting();
	now = clock_mono_ms();
	if (now - ac.last_log_ms >= 1000) {
		log_warnx("relay accept=failed errno=%d failures=%llu "
		    "dropped=%llu msg=\"%s: connections waiting are closed "
		    "unserved\"", err, (unsigned long long)ac.failed,
		    (unsigned long long)ac.dropped, strerror(err));
		ac.last_log_ms = now;
		ac.failed = ac.dropped = 0;
	}
	return 1;
}
