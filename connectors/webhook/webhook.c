/*
 * webhook.c - the built-in `webhook` connector: each event as plain JSON
 * (docs/schemas.md) in the body of a POST to the partner's url.
 *
 * Transport (timeouts, TLS, authentication, retries) is the host's: see
 * lib/transfer.h for the options it reads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placehub/connector.h"

struct webhook {
    const struct placehub_host *host;
};

/* Per request: with many requests in flight, nothing request-specific may
 * live in the instance. */
struct webhook_request {
    char event_type_header[128];
};

static int webhook_create(const struct placehub_host *host, const char *partner_id,
                          const struct placehub_options *options, void **instance, char *errstr,
                          size_t errstr_size)
{
    const char *url = options->get(options, "url");
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        snprintf(errstr, errstr_size, "partner %s: options.url must be an http:// or https:// URL",
                 partner_id);
        return -1;
    }
    struct webhook *webhook = calloc(1, sizeof *webhook);
    if (!webhook) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    webhook->host = host;
    *instance = webhook;
    return 0;
}

static int webhook_prepare(void *instance, const struct placehub_delivery *delivery,
                           struct placehub_request *request, char *errstr, size_t errstr_size)
{
    (void)instance;
    struct webhook_request *own = malloc(sizeof *own);
    if (!own) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(own->event_type_header, sizeof own->event_type_header, "X-Placehub-Event-Type: %s",
             delivery->event_type);
    request->context = own;
    request->headers[request->header_count++] = "Content-Type: application/json";
    request->headers[request->header_count++] = own->event_type_header;
    request->body = delivery->body;
    request->body_len = delivery->body_len;
    return 0;
}

static void webhook_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    free(request->context);
    request->context = NULL;
}

static void webhook_destroy(void *instance)
{
    free(instance);
}

const struct placehub_connector_type placehub_connector_webhook = {
    .abi_version = PLACEHUB_CONNECTOR_ABI_VERSION,
    .name = "webhook",
    .create = webhook_create,
    .prepare = webhook_prepare,
    .release = webhook_release,
    .destroy = webhook_destroy,
};
