/*
 * log.h - placehub's logging: one line per record on stderr,
 *   2026-11-22T10:15:30.123Z placehub-ingest info  message key=value ...
 *
 * IMPORTANT: never pass personal data (names, NHS numbers, dates of birth,
 * addresses, notes) to these functions: log event ids, partner ids, topics,
 * and error classes only. Auditors rely on logs being free of it.
 */
#ifndef PLACEHUB_LOG_H
#define PLACEHUB_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARNING = 2, LOG_ERROR = 3 };

/* Sets the program name printed on every line (borrowed; keep it alive) and
 * the lowest level printed. Reads PLACEHUB_LOG_LEVEL (debug|info|warning|error)
 * when level < 0. */
void log_init(const char *program, int level);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_writev(enum log_level level, const char *fmt, va_list args);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_write(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
