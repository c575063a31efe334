/*
 * log.c - line-oriented logging to stderr (see log.h for the rule on
 * personal data). Lines are written with one write(2) each so lines from
 * several threads never interleave.
 */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_program = "placehub";
static int log_threshold = LOG_INFO;

static const char *const log_level_names[] = {"debug", "info", "warning", "error"};

void log_init(const char *program, int level)
{
    if (program)
        log_program = program;
    if (level >= 0) {
        log_threshold = level;
        return;
    }
    const char *env = getenv("PLACEHUB_LOG_LEVEL");
    log_threshold = LOG_INFO;
    if (!env)
        return;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(env, log_level_names[i]) == 0)
            log_threshold = i;
}

void log_writev(enum log_level level, const char *fmt, va_list args)
{
    if ((int)level < log_threshold)
        return;
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %-7s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, log_program, log_level_names[level]);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, args);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_writev(level, fmt, args);
    va_end(args);
}
