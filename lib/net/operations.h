/*
 * operations.h - a service's HTTP listener for operators, apart from any
 * port partners use: /metrics (Prometheus), /healthz (the process answers),
 * /readyz (it can do its work), and /status, a self-contained status page
 * (no external scripts) that polls /metrics.
 *
 * With operations.token_file set, /metrics and /status ask for
 * "Authorization: Bearer TOKEN" (or ?token=TOKEN, for a browser); /healthz
 * and /readyz never do (they say nothing but up or not, for orchestrators).
 *
 * A service may add routes of its own (operations_add_routes; dispatch's
 * partner controls, /partners). Their access is decided here, the same for
 * every service: GET and HEAD as /metrics; POST only with the token in the
 * Authorization header when one is configured, else only from a loopback
 * peer; a POST whose Origin header names another site is refused; any other
 * method is 405. Refusals of such routes are JSON {"error": "message"}.
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

struct httpd_request;
struct httpd_response;

/* Answers one request of a service's own route, on the request's thread
 * (it may block a little, e.g. until Kafka acknowledged an audit record).
 * Called only once access was granted (see above). */
typedef void operations_route_fn(void *context, const struct httpd_request *request,
                                 struct httpd_response *response);

struct operations_route {
    const char *path; /* "/partners": that path and every path under "/partners/" */
    operations_route_fn *handle;
    void *context; /* borrowed: must outlive the listener */
};

/* The most routes a listener takes. */
enum { OPERATIONS_ROUTES_MAX = 8 };

/* Adds count routes (copied; their strings and contexts borrowed) to a
 * running listener: they are served from the next request on. A path of
 * the listener's own (/metrics, /status, /healthz, /readyz, /) cannot be
 * taken. Returns 0, or -1 with errstr (too many routes, a path taken, no
 * listener: operations NULL). */
int operations_add_routes(struct operations *operations, const struct operations_route *routes,
                          size_t count, char *errstr, size_t errstr_size);

/* The port bound (for listen "host:0"). */
int operations_port(const struct operations *operations);

void operations_stop(struct operations *operations);

#endif
