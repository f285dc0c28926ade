/*
 * Structured logging to stderr, one line per event:
 *   2026-11-26T07:00:00.123Z info ws conn=42 close=slow_consumer
 * The level check runs before formatting. A call site that logs more than
 * LOG_BURST lines in a second has the rest counted, not written, and one
 * "log suppressed=N msg=..." line reports them. fatal()/fatalx() are for
 * start-up only (config, bind); they exit(1) and are never suppressed.
 */
#ifndef SNO_LOG_H
#define SNO_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log_level_current;

/* Sets the level; a name ("error".."debug") or NULL keeps the default. */
int log_set_level(const char *name);
void log_emit(int level, int with_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vemit(int level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define LOG_ENABLED(lvl) ((lvl) <= log_level_current)
/* Lines one call site (format string) may write per second. */
#define LOG_BURST 5

/* Writes the "log suppressed=N" line of every call site whose second is
 * over (call it about once a second; a site's next line also does). */
void log_flush_suppressed(void);
#define log_warn(...) log_emit(LOG_LVL_WARN, 1, __VA_ARGS__)
#define log_warnx(...) log_emit(LOG_LVL_WARN, 0, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LVL_ERROR, 0, __VA_ARGS__)
#define log_info(...)                                                     \
	do {                                                              \
		if (LOG_ENABLED(LOG_LVL_INFO))                            \
			log_emit(LOG_LVL_INFO, 0, __VA_ARGS__);           \
	} while (0)
#define log_debug(...)                                                    \
	do {                                                              \
		if (LOG_ENABLED(LOG_LVL_DEBUG))                           \
			log_emit(LOG_LVL_DEBUG, 0, __VA_ARGS__);          \
	} while (0)

/* Log at error level (fatal appends errno) and exit(1). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
