/*
 * connector.c - the table of built-in connector types and the host services
 * lent to connectors (see placehub/connector.h for the ABI).
 */
#include "connector.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "log.h"

extern const struct placehub_connector_type placehub_connector_webhook;

static const struct placehub_connector_type *const connector_builtins[] = {
    &placehub_connector_webhook,
};

const struct placehub_connector_type *connector_find(const char *name)
{
    for (size_t i = 0; i < sizeof connector_builtins / sizeof connector_builtins[0]; i++)
        if (strcmp(connector_builtins[i]->name, name) == 0)
            return connector_builtins[i];
    return NULL;
}

static void connector_log(enum placehub_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void connector_log(enum placehub_log_level level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_writev((enum log_level)level, fmt, args);
    va_end(args);
}

static int64_t connector_now_millis(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static const struct placehub_host connector_host_table = {
    .abi_version = PLACEHUB_CONNECTOR_ABI_VERSION,
    .log = connector_log,
    .now_millis = connector_now_millis,
};

const struct placehub_host *connector_host(void)
{
    return &connector_host_table;
}
