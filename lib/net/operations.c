/*
 * operations.c - the operators' listener: /metrics, /healthz, /readyz and
 * the status page (see operations.h; the page itself is status_page.c).
 */
#include "net/operations.h"

#include <openssl/crypto.h>
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

static void operations_handle(void *context, const struct httpd_request *request,
                              struct httpd_response *response)
{
    struct operations *operations = context;
    const char *path = request->path;
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
            free(operations);
            return -1;
        }
        fclose(file);
        operations->token[strcspn(operations->token, "\r\n")] = '\0';
        if (strlen(operations->token) < 16) {
            snprintf(errstr, errstr_size,
                     "operations.token_file %s: the token must be at least 16 characters",
                     config->operations.token_file);
            free(operations);
            return -1;
        }
    }
    char message[512];
    operations->httpd =
        httpd_new(listen, 1024, operations_handle, operations, message, sizeof message);
    if (!operations->httpd) {
        snprintf(errstr, errstr_size, "operations listener %s: %s", listen, message);
        free(operations);
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
    free(operations);
}
