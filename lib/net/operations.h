/*
 * operations.h - a service's HTTP listener for operators, apart from any
 * port partners use: /metrics (Prometheus), /healthz (the process answers),
 * /readyz (it can do its work), and /status, a self-contained status page
 * (no external scripts) that polls /metrics.
 *
 * With operations.token_file set, /metrics and /status ask for
 * "Authorization: Bearer TOKEN" (or ?token=TOKEN, for a browser); /healthz
 * and /readyz never do (they say nothing but up or not, for orchestrators).
 */
#ifndef PLACEHUB_OPERATIONS_H
#define PLACEHUB_OPERATIONS_H

#include <stddef.h>
#include "core/config.h"

struct operations;

/* Whether the service is ready (1) or not (0); called per /readyz. */
typedef int operations_ready_fn(void *context);

/* Starts the listener on listen for service (a name for the page). ready
 * may be NULL (always ready); context is borrowed. Returns 0 and *out (NULL
 * when listen is NULL: nothing to start), or -1 with errstr (address in
 * use, unreadable token file). */
int operations_start(const struct config *config, const char *listen, const char *service,
                     operations_ready_fn *ready, void *context, struct operations **out,
                     char *errstr, size_t errstr_size);

/* The port bound (for listen "host:0"). */
int operations_port(const struct operations *operations);

void operations_stop(struct operations *operations);

#endif
