/*
 * Logging: UTC timestamp, level, message with key=value fields, one write(2)
 * per line so lines from threads never interleave. Each call site (format
 * string) may log LOG_BURST lines a second; what it logs beyond that is
 * counted and reported once, in the next second, as one line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level_current = LOG_LVL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

#define LOG_SITES 128	/* call sites tracked; the rest share the last */

/* One call site's current one-second window. */
struct site {
	const char *fmt;
	int level;
	int64_t sec;		/* the window, CLOCK_MONOTONIC seconds */
	unsigned lines;		/* written in the window */
	unsigned long dropped;	/* left out in the window */
};

static struct {
	pthread_mutex_t mu;
	struct site sites[LOG_SITES];
} lim = {PTHREAD_MUTEX_INITIALIZER, {{NULL, 0, 0, 0, 0}}};

static void write_line(int level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void write_fmt(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int
log_set_level(const char *name)
{
	for (int i = 0; name && i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			log_level_current = i;
			return 0;
		}
	}
	return name ? -EINVAL : 0;
}

static void
write_line(int level, int err, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s ",
	    ts.tv_nsec / 1000000, level_names[level]);
	n += (size_t)r;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r
		    : sizeof(line) - n - 1;
	if (err && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, " error=\"%s\"",
		    strerror(err));
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r
			    : sizeof(line) - n - 1;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

static void
write_fmt(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_line(level, 0, fmt, ap);
	va_end(ap);
}

static int64_t
mono_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* Reports what site left out in its finished window; lim.mu held. */
static void
site_report(struct site *st)
{
	if (st->dropped)
		write_fmt(st->level, "log suppressed=%lu msg=\"%.*s\" "
		    "why=\"over %d lines a second\"", st->dropped,
		    (int)(strcspn(st->fmt, "%\"\\") < 60
		    ? strcspn(st->fmt, "%\"\\") : 60), st->fmt, LOG_BURST);
	st->dropped = 0;
}

/* Whether a line from fmt may be written now; counts it if not. */
static int
site_admit(const char *fmt, int level)
{
	uintptr_t h = ((uintptr_t)fmt >> 4) * 2654435761u;
	int64_t now = mono_sec();
	struct site *st = NULL;
	int ok;

	pthread_mutex_lock(&lim.mu);
	for (unsigned i = 0; i < LOG_SITES - 1 && st == NULL; i++) {
		struct site *c = &lim.sites[(h + i) % (LOG_SITES - 1)];

		if (c->fmt == fmt || c->fmt == NULL)
			st = c;
	}
	if (st == NULL)
		st = &lim.sites[LOG_SITES - 1]; /* shared by the overflow */
	if (st->fmt != fmt || st->sec != now) {
		site_report(st);
		st->fmt = fmt;
		st->level = level;
		st->sec = now;
		st->lines = 0;
	}
	ok = st->lines < LOG_BURST;
	if (ok)
		st->lines++;
	else
		st->dropped++;
	pthread_mutex_unlock(&lim.mu);
	return ok;
}

void
log_flush_suppressed(void)
{
	int64_t now = mono_sec();

	pthread_mutex_lock(&lim.mu);
	for (unsigned i = 0; i < LOG_SITES; i++)
		if (lim.sites[i].fmt && lim.sites[i].sec != now)
			site_report(&lim.sites[i]);
	pthread_mutex_unlock(&lim.mu);
}

void
log_vemit(int level, int err, const char *fmt, va_list ap)
{
	if (!LOG_ENABLED(level) || !site_admit(fmt, level))
		return;
	write_line(level, err, fmt, ap);
}

void
log_emit(int level, int with_errno, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, with_errno ? saved : 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	write_line(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	write_line(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
