/*
 * webhook.c - the built-in `webhook` connector: POSTs each event as plain
 * JSON to the partner's URL.
 *
 * Options: url (required; https in production), timeout_ms (default 10000).
 * The event id goes in the Idempotency-Key header so the partner can drop a
 * duplicate. Redirects are not followed (a redirected event could leave for
 * somewhere no agreement covers); TLS certificates are always verified.
 * The partner's response body is read up to 64 KiB and otherwise ignored.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placehub/connector.h"

struct webhook {
    const struct placehub_host *host;
    char *partner_id;
    char *url;
    long timeout_ms;
    CURL *curl; /* reused: keeps the connection to the partner alive */
};

enum { WEBHOOK_MAX_RESPONSE = 64 * 1024 };

static size_t webhook_discard(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    size_t *received = user;
    *received += size * count;
    return *received > WEBHOOK_MAX_RESPONSE ? 0 : size * count;
}

static int webhook_create(const struct placehub_host *host, const char *partner_id,
                          const struct placehub_options *options, void **instance, char *errstr,
                          size_t errstr_size)
{
    const char *url = options->get(options, "url");
    const char *timeout = options->get(options, "timeout_ms");
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        snprintf(errstr, errstr_size, "partner %s: options.url must be an http:// or https:// URL",
                 partner_id);
        return -1;
    }
    long timeout_ms = 10000;
    if (timeout) {
        char *end = NULL;
        timeout_ms = strtol(timeout, &end, 10);
        if (*end != '\0' || timeout_ms < 100 || timeout_ms > 600000) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.timeout_ms must be 100-600000 milliseconds", partner_id);
            return -1;
        }
    }
    struct webhook *webhook = calloc(1, sizeof *webhook);
    if (!webhook || !(webhook->partner_id = strdup(partner_id)) || !(webhook->url = strdup(url)) ||
        !(webhook->curl = curl_easy_init())) {
        if (webhook) {
            free(webhook->partner_id);
            free(webhook->url);
        }
        free(webhook);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    webhook->host = host;
    webhook->timeout_ms = timeout_ms;
    *instance = webhook;
    return 0;
}

static void webhook_deliver(void *instance, const struct placehub_delivery *delivery,
                            struct placehub_outcome *outcome)
{
    struct webhook *webhook = instance;
    CURL *curl = webhook->curl;
    struct curl_slist *headers = NULL;
    char line[256];
    size_t received = 0;

    memset(outcome, 0, sizeof *outcome);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    snprintf(line, sizeof line, "Idempotency-Key: %s", delivery->event_id);
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof line, "X-Placehub-Event-Id: %s", delivery->event_id);
    headers = curl_slist_append(headers, line);
    snprintf(line, sizeof line, "X-Placehub-Event-Type: %s", delivery->event_type);
    headers = curl_slist_append(headers, line);
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, webhook->url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, delivery->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)delivery->body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, webhook_discard);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, webhook->timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     webhook->timeout_ms < 5000 ? webhook->timeout_ms : 5000L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "placehub-webhook/1");

    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && received > WEBHOOK_MAX_RESPONSE)) {
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "%s", curl_easy_strerror(code));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    outcome->status = (int)status;
    if (status >= 200 && status < 300) {
        outcome->result = PLACEHUB_DELIVERED;
    } else if (status >= 500 || status == 408 || status == 429) {
        outcome->result = PLACEHUB_RETRY;
        snprintf(outcome->reason, sizeof outcome->reason, "HTTP %ld", status);
        curl_off_t retry_after = 0;
        if (curl_easy_getinfo(curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
            retry_after > 0)
            outcome->retry_after_ms = (int)(retry_after > 3600 ? 3600000 : retry_after * 1000);
    } else {
        outcome->result = PLACEHUB_REJECTED;
        snprintf(outcome->reason, sizeof outcome->reason, "HTTP %ld", status);
    }
out:
    curl_slist_free_all(headers);
}

static void webhook_destroy(void *instance)
{
    struct webhook *webhook = instance;
    if (!webhook)
        return;
    curl_easy_cleanup(webhook->curl);
    free(webhook->partner_id);
    free(webhook->url);
    free(webhook);
}

const struct placehub_connector_type placehub_connector_webhook = {
    .abi_version = PLACEHUB_CONNECTOR_ABI_VERSION,
    .name = "webhook",
    .create = webhook_create,
    .deliver = webhook_deliver,
    .destroy = webhook_destroy,
};
