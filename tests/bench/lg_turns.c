/*
 * The relay's loop-turn figures for the fan-out benchmark (issue 15), read
 * from its /metrics by the load generator before and after the measured
 * window: how long the longest loop turn of the window lasted, and the
 * most CPU time one used (the two differ by the time the kernel ran other
 * processes on the relay's core).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "loadgen.h"

/*
 * The relay's loop-turn figures from its /metrics (pusher mode): the
 * turn-duration histogram's cumulative buckets and the longest turn since
 * start. One blocking HTTP/1.0 GET on its own socket, outside the measured
 * window, bounded by a 3 s receive timeout. Returns 0 or -1.
 */
int
lg_turns_fetch(const char *host, int port, struct lg_turns *t)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 3};
	static char buf[256 * 1024];
	size_t len = 0;
	ssize_t n;
	char req[128], *p, *line;
	int fd, k;

	memset(t, 0, sizeof(*t));
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	k = snprintf(req, sizeof(req), "GET /metrics HTTP/1.0\r\nHost: %s\r\n"
	    "\r\n", host);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, (size_t)k) != k) {
		close(fd);
		return -1;
	}
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &p); line != NULL;
	     line = strtok_r(NULL, "\n", &p)) {
		struct lg_hist *h = &t->wall;
		double le;
		unsigned long long v;

		if (strncmp(line, "sno_loop_turn_cpu_", 18) == 0) {
			h = &t->cpu;
			line += 18;
		} else if (strncmp(line, "sno_loop_turn_", 14) == 0) {
			line += 14;
		} else {
			continue;
		}
		if (sscanf(line, "seconds_bucket{le=\"%lf\"} %llu", &le, &v) ==
			2 &&
		    h->n < LG_TURN_BUCKETS) {
			h->le[h->n] = le;
			h->b[h->n++] = v;
		} else if (sscanf(line, "seconds_count %llu", &v) == 1) {
			h->count = v;
		} else {
			sscanf(line, "max_seconds %lf", &h->max_s);
		}
	}
	return t->wall.count > 0 ? 0 : -1;
}

/* The smallest bucket bound (ms) that holds every turn between a and b:
 * the longest turn of the window, to the histogram's resolution; -1 when
 * unknown or past the last bound. */
double
lg_turns_window_ms(const struct lg_hist *a, const struct lg_hist *b)
{
	uint64_t all = b->count - a->count;

	if (a->count == 0 || b->count == 0 || a->n != b->n)
		return -1;
	for (int i = 0; i < b->n; i++)
		if (b->b[i] - a->b[i] == all)
			return b->le[i] * 1000;
	return -1;
}
