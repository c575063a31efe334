/*
 * operations.c - the operators' listener: /metrics, /healthz, /readyz and
 * the status page (see operations.h; the page itself is status_page.c).
 *
 * A service's own routes (operations_add_routes) are looked up first; this
 * file decides who may use them (operations_route_allowed) and the service
 * answers. The table is filled after the listener started (dispatch adds
 * /partners once its partners exist), so it is read under routes_lock.
 */
#include "net/operations.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpd.h"
#include "net/metrics.h"
#include "net/status_page.h"

struct operations {
    struct httpd *httpd;
    char service[64];
    char token[256]; /* "" when none */
    operations_ready_fn *ready;
    void *context;
    pthread_mutex_t routes_lock;
    struct operations_route routes[OPERATIONS_ROUTES_MAX];
    size_t route_count;
};

/* Constant-time comparison of the presented token with ours. */
static int operations_authorised(const struct operations *operations,
                                 const struct httpd_request *request)
{
    if (!operations->token[0])
        return 1;
    const char *presented = NULL;
    const char *header = httpd_request_header(request, "Authorization");
    if (header && strncmp(header, "Bearer ", 7) == 0)
        presented = header + 7;
    else
        presented = httpd_request_query(request, "token");
    size_t ours = strlen(operations->token);
    return presented && strlen(presented) == ours &&
           CRYPTO_memcmp(presented, operations->token, ours) == 0;
}

/* ---- a service's own routes ---------------------------------------------- */

/* A refusal of a service route, in the routes' error shape. */
static void operations_route_refuse(struct httpd_response *response, int status,
                                    const char *message)
{
    httpd_response_json(response, status, json_pack("{s:s}", "error", message));
}

/* 1 when origin (an Origin header) is this listener itself: http(s)://Host. */
static int operations_same_origin(const struct httpd_request *request, const char *origin)
{
    const char *host = httpd_request_header(request, "Host");
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    return host && rest && strcmp(rest, host) == 0;
}

/* Whether request may use a service's route; answers it when not. */
static int operations_route_allowed(const struct operations *operations,
                                    const struct httpd_request *request,
                                    struct httpd_response *response)
{
    const char *method = request->method;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        if (operations_authorised(operations, request))
            return 1;
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        operations_route_refuse(response, 401,
                                "the operations token is required (operations.token_file)");
        return 0;
    }
    if (strcmp(method, "POST") != 0) {
        httpd_response_header(response, "Allow", "GET, HEAD, POST");
        operations_route_refuse(response, 405, "method not allowed: GET or POST");
        return 0;
    }
    /* IMPORTANT: a page on another site can make a browser send a "simple"
     * cross-origin POST (no custom headers, no preflight) to this listener,
     * e.g. from an operator's own machine to 127.0.0.1. Browsers always name
     * the page's origin in such a POST: refuse any but our own. A request
     * carrying Authorization (or X-Placehub-Actor) cannot be made across
     * origins at all without a CORS preflight, which this listener never
     * grants (it sends no Access-Control-* headers). */
    const char *origin = httpd_request_header(request, "Origin");
    if (origin && !operations_same_origin(request, origin)) {
        operations_route_refuse(response, 403, "cross-origin request refused");
        return 0;
    }
    if (operations->token[0]) {
        /* The header only: a token in a URL ends up in histories and logs. */
        const char *header = httpd_request_header(request, "Authorization");
        size_t ours = strlen(operations->token);
        if (header && strncmp(header, "Bearer ", 7) == 0 && strlen(header + 7) == ours &&
            CRYPTO_memcmp(header + 7, operations->token, ours) == 0)
            return 1;
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        operations_route_refuse(response, 401,
                                "the operations token is required in the Authorization header "
                                "(operations.token_file)");
        return 0;
    }
    if (httpd_request_loopback(request))
        return 1;
    operations_route_refuse(response, 403,
                            "without operations.token_file, changes are taken only from this "
                            "machine (a loopback address)");
    return 0;
}

/* Serves request when a service's route takes its path: returns 1 (the
 * response is filled), else 0. */
static int operations_route_serve(struct operations *operations,
                                  const struct httpd_request *request,
                                  struct httpd_response *response)
{
    struct operations_route route = {0};
    pthread_mutex_lock(&operations->routes_lock);
    for (size_t i = 0; i < operations->route_count && !route.handle; i++) {
        size_t len = strlen(operations->routes[i].path);
        if (strncmp(request->path, operations->routes[i].path, len) == 0 &&
            (request->path[len] == '\0' || request->path[len] == '/'))
            route = operations->routes[i];
    }
    pthread_mutex_unlock(&operations->routes_lock);
    if (!route.handle)
        return 0;
    if (operations_route_allowed(operations, request, response))
        route.handle(route.context, request, response);
    return 1;
}

int operations_add_routes(struct operations *operations, const struct operations_route *routes,
                          size_t count, char *errstr, size_t errstr_size)
{
    static const char *const own[] = {"/", "/metrics", "/status", "/healthz", "/readyz"};
    if (!operations) {
        snprintf(errstr, errstr_size, "no operations listener");
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
            if (!routes[i].path || routes[i].path[0] != '/' ||
                strcmp(routes[i].path, own[k]) == 0) {
                snprintf(errstr, errstr_size, "operations route %s: not a path of its own",
                         routes[i].path ? routes[i].path : "(none)");
                return -1;
            }
    pthread_mutex_lock(&operations->routes_lock);
    int fits = count <= OPERATIONS_ROUTES_MAX - operations->route_count;
    for (size_t i = 0; fits && i < count; i++)
        operations->routes[operations->route_count++] = routes[i];
    pthread_mutex_unlock(&operations->routes_lock);
    if (!fits) {
        snprintf(errstr, errstr_size, "more than %d operations routes", OPERATIONS_ROUTES_MAX);
        return -1;
    }
    return 0;
}

/* ---- the listener's own paths --------------------------------------------- */

static void operations_handle(void *context, const struct httpd_request *request,
                              struct httpd_response *response)
{
    struct operations *operations = context;
    const char *path = request->path;
    if (operations_route_serve(operations, request, response))
        return;
    if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
        httpd_response_error(response, 405, "method_not_allowed", NULL, "GET only");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        httpd_response_text(response, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (strcmp(path, "/readyz") == 0) {
        int ready = !operations->ready || operations->ready(operations->context);
        httpd_response_text(response, ready ? 200 : 503, "text/plain",
                            ready ? "ready\n" : "not ready\n", ready ? 6 : 10);
        return;
    }
    int is_metrics = strcmp(path, "/metrics") == 0;
    int is_status = strcmp(path, "/status") == 0 || strcmp(path, "/") == 0;
    if (!is_metrics && !is_status) {
        httpd_response_error(response, 404, "not_found", NULL,
                             "try /status, /metrics, /healthz or /readyz");
        return;
    }
    if (!operations_authorised(operations, request)) {
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        httpd_response_error(response, 401, "unauthorised", NULL,
                             "the operations token is required (operations.token_file)");
        return;
    }
    if (is_metrics) {
        size_t len = 0;
        char *text = metrics_render(&len);
        if (!text) {
            httpd_response_error(response, 500, "out_of_memory", NULL, "out of memory");
            return;
        }
        response->status = 200;
        response->body = text;
        response->body_len = len;
        snprintf(response->content_type, sizeof response->content_type,
                 "text/plain; version=0.0.4");
        return;
    }
    size_t len = 0;
    char *page = status_page_render(operations->service, &len);
    if (!page) {
        httpd_response_error(response, 500, "out_of_memory", NULL, "out of memory");
        return;
    }
    response->status = 200;
    response->body = page;
    response->body_len = len;
    snprintf(response->content_type, sizeof response->content_type, "text/html; charset=utf-8");
    /* Everything the page needs is in it: forbid anything from elsewhere. */
    httpd_response_header(response, "Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; style-src "
                          "'unsafe-inline'; connect-src 'self'; img-src 'self'");
    httpd_response_header(response, "Cache-Control", "no-store");
}

static void operations_free(struct operations *operations)
{
    pthread_mutex_destroy(&operations->routes_lock);
    free(operations);
}

int operations_start(const struct config *config, const char *listen, const char *service,
                     operations_ready_fn *ready, void *context, struct operations **out,
                     char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!listen)
        return 0;
    struct operations *operations = calloc(1, sizeof *operations);
    if (!operations) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(operations->service, sizeof operations->service, "%s", service);
    operations->ready = ready;
    operations->context = context;
    pthread_mutex_init(&operations->routes_lock, NULL);
    if (config->operations.token_file) {
        char path[1024];
        FILE *file = NULL;
        if (config_resolve_path(config, config->operations.token_file, path, sizeof path) == 0)
            file = fopen(path, "r");
        if (!file || !fgets(operations->token, sizeof operations->token, file)) {
            snprintf(errstr, errstr_size, "operations.token_file %s: cannot read a token",
                     config->operations.token_file);
            if (file)
                fclose(file);
            operations_free(operations);
            return -1;
        }
        fclose(file);
        operations->token[strcspn(operations->token, "\r\n")] = '\0';
        if (strlen(operations->token) < 16) {
            snprintf(errstr, errstr_size,
                     "operations.token_file %s: the token must be at least 16 characters",
                     config->operations.token_file);
            operations_free(operations);
            return -1;
        }
    }
    char message[512];
    operations->httpd =
        httpd_new(listen, 1024, operations_handle, operations, message, sizeof message);
    if (!operations->httpd) {
        snprintf(errstr, errstr_size, "operations listener %s: %s", listen, message);
        operations_free(operations);
        return -1;
    }
    *out = operations;
    return 0;
}

int operations_port(const struct operations *operations)
{
    return operations ? httpd_port(operations->httpd) : -1;
}

void operations_stop(struct operations *operations)
{
    if (!operations)
        return;
    httpd_destroy(operations->httpd);
    operations_free(operations);
}
