/*
 * test_connector_support.h - what the connector unit tests share (each
 * test_connector_*.c is linked on its own, so everything is static): options
 * from a list of pairs, the host's services with a clock the test sets and
 * a log the test reads, and deliveries made from the sample events.
 * Include after <cmocka.h> and support.h.
 */
#ifndef PLACEHUB_TEST_CONNECTOR_SUPPORT_H
#define PLACEHUB_TEST_CONNECTOR_SUPPORT_H

#include <stdarg.h>

#include "delivery/connector.h"
#include "placehub/connector.h"

struct test_options {
    const char *pairs[32][2];
    size_t count;
    struct placehub_options options;
};

static const char *test_options_get(const struct placehub_options *options, const char *key)
{
    const struct test_options *list = options->opaque;
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->pairs[i][0], key) == 0)
            return list->pairs[i][1];
    return NULL;
}

/* Options from key, value, key, value, ..., NULL. */
static inline struct placehub_options *test_options_set(struct test_options *list, ...)
{
    va_list args;
    const char *key;
    list->count = 0;
    va_start(args, list);
    while ((key = va_arg(args, const char *)) != NULL && list->count < 32) {
        list->pairs[list->count][0] = key;
        list->pairs[list->count++][1] = va_arg(args, const char *);
    }
    va_end(args);
    list->options.opaque = list;
    list->options.get = test_options_get;
    return &list->options;
}

static int64_t test_now_millis_value = 1614265330000LL;
static char test_log_text[8192];

static int64_t test_now_millis(void)
{
    return test_now_millis_value;
}

static void test_log(enum placehub_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void test_log(enum placehub_log_level level, const char *fmt, ...)
{
    (void)level;
    size_t used = strlen(test_log_text);
    va_list args;
    va_start(args, fmt);
    vsnprintf(test_log_text + used, sizeof test_log_text - used, fmt, args);
    va_end(args);
    used = strlen(test_log_text);
    snprintf(test_log_text + used, sizeof test_log_text - used, "\n");
}

/* The host's own services (HMAC, base64, secrets) with the test's clock and
 * log. */
static inline const struct placehub_host *test_host(void)
{
    static struct placehub_host host;
    host = *connector_host();
    host.now_millis = test_now_millis;
    host.log = test_log;
    return &host;
}

/* A delivery of a sample event as dispatch hands it over (compact JSON).
 * body is the caller's to free. */
static inline struct placehub_delivery test_delivery(const char *topic, json_t *event, char **body)
{
    *body = json_dumps(event, JSON_COMPACT);
    assert_non_null(*body);
    struct placehub_delivery delivery = {
        .partner_id = "test-partner",
        .event_id = json_string_value(json_object_get(event, "event_id")),
        .event_type = topic,
        .body = *body,
        .body_len = strlen(*body),
        .attempt = 1,
    };
    return delivery;
}

/* A sample event from tests/data/<topic>.json. Caller json_decref's. */
static inline json_t *test_event(const char *topic)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/%s.json", topic);
    return support_load_json(path);
}

/* The value of header name in request, or NULL. */
static inline const char *test_header(const struct placehub_request *request, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < request->header_count; i++)
        if (strncmp(request->headers[i], name, len) == 0 && request->headers[i][len] == ':')
            return request->headers[i] + len + 2;
    return NULL;
}

#endif
