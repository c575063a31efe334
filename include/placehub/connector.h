/*
 * placehub/connector.h - the interface partner IT teams build connectors on.
 *
 * A connector turns one event into one request to a partner (an HTTP call,
 * or a mail) and, optionally, judges the partner's answer. It does no I/O of
 * its own: the host (placehub-dispatch) performs the request with libcurl,
 * with the partner's authentication, TLS settings, timeouts and retries, many
 * requests in flight, so a connector needs nothing but this header.
 *
 * A connector type is a const struct of function pointers carrying the ABI
 * version it was built against; an instance is created per configured
 * partner and holds that partner's private context. Built-in connectors and
 * shared objects use the same struct; a shared object exports it under the
 * symbol name `placehub_connector` (see docs/connectors.md).
 *
 * Threading: all calls on one instance come from one thread. Different
 * instances may be called from different threads at once.
 *
 * Memory: what the host passes to create() and classify() is borrowed for
 * the call. The delivery passed to prepare() (its body included) stays valid
 * until the host hands the request back through release(), so a request may
 * point into it. What prepare() puts in a request belongs to the connector
 * until release().
 *
 * ABI version 1. Any change to a struct here bumps the version; the host
 * refuses connectors built for another version.
 */
#ifndef PLACEHUB_CONNECTOR_H
#define PLACEHUB_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#define PLACEHUB_CONNECTOR_ABI_VERSION 1

/* The symbol a shared-object connector exports:
 *   const struct placehub_connector_type placehub_connector = {...}; */
#define PLACEHUB_CONNECTOR_SYMBOL "placehub_connector"

#define PLACEHUB_MAX_HEADERS 32
#define PLACEHUB_MAX_RECIPIENTS 16

enum placehub_log_level {
    PLACEHUB_LOG_DEBUG = 0,
    PLACEHUB_LOG_INFO = 1,
    PLACEHUB_LOG_WARNING = 2,
    PLACEHUB_LOG_ERROR = 3
};

/* Services the host lends to connectors. Valid for the life of every instance. */
struct placehub_host {
    unsigned abi_version;
    /* Writes a log line. Never pass personal data (names, NHS numbers,
     * addresses, notes, event bodies): ids and error classes only. */
    void (*log)(enum placehub_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    /* Wall-clock time in milliseconds since the epoch. */
    int64_t (*now_millis)(void);
    /* HMAC-SHA256 of data under key into out (32 bytes). Returns 0 or -1. */
    int (*hmac_sha256)(const void *key, size_t key_len, const void *data, size_t len,
                       unsigned char out[32]);
    /* Standard base64 of data into out, NUL-terminated. Returns the length
     * written, or 0 when out (at least 4 * ceil(len / 3) + 1 bytes) is too
     * small. */
    size_t (*base64_encode)(const void *data, size_t len, char *out, size_t out_size);
    /* Base64 (standard alphabet) decoded into out. Returns the length, or -1
     * on bad input or a short buffer. */
    long (*base64_decode)(const char *text, unsigned char *out, size_t out_size);
    /* Reads a secret named by reference: "env:NAME" (an environment
     * variable) or "file:/path" (a file's first line). Secrets are never
     * written in the configuration itself. Returns 0, or -1 with errstr. */
    int (*secret)(const char *reference, char *out, size_t out_size, char *errstr,
                  size_t errstr_size);
};

/* The partner's `options:` from the configuration, as text. */
struct placehub_options {
    const void *opaque;
    /* The value of key, or NULL when absent. Borrowed for the life of the
     * instance. */
    const char *(*get)(const struct placehub_options *options, const char *key);
};

/* One event to deliver. Everything is borrowed for the call. */
struct placehub_delivery {
    const char *partner_id;
    const char *event_id;   /* stable across retries and replays: receivers deduplicate on it */
    const char *event_type; /* the topic: admission, discharge, referral, employment-support */
    const char *body;       /* the event as plain JSON (docs/schemas.md), NUL-terminated */
    size_t body_len;
    int attempt; /* 1 on the first try */
};

/* What prepare() asks the host to send. The host has zeroed it. */
struct placehub_request {
    /* Where to. NULL: the partner's `url` option. http(s):// for HTTP;
     * smtp(s):// sends a mail (then method is ignored). */
    const char *url;
    const char *method; /* "POST" when NULL */
    /* Extra header lines, "Name: value". The host adds Content-Length, the
     * idempotency key (Idempotency-Key: <event id>) and any authentication. */
    const char *headers[PLACEHUB_MAX_HEADERS];
    size_t header_count;
    const void *body;
    size_t body_len;
    /* Mail only: the envelope sender and recipients. */
    const char *mail_from;
    const char *mail_recipients[PLACEHUB_MAX_RECIPIENTS];
    size_t mail_recipient_count;
    /* The connector's own bookkeeping, for release(). */
    void *context;
};

/* The partner's answer, as far as the host read it. */
struct placehub_response {
    int status;               /* HTTP status; for mail 250 when accepted, else the SMTP code */
    const char *body;         /* the first bytes of the response body, NUL-terminated */
    size_t body_len;          /* bytes in body (the host caps what it reads) */
    const char *content_type; /* or NULL */
};

enum placehub_result {
    PLACEHUB_DELIVERED = 0, /* the partner has it */
    PLACEHUB_RETRY = 1,     /* a passing failure: try again later */
    PLACEHUB_REJECTED = 2   /* refused for good: the event goes to the dead-letter topic */
};

struct placehub_outcome {
    enum placehub_result result;
    char reason[256]; /* short, free of personal data */
};

struct placehub_connector_type {
    unsigned abi_version; /* PLACEHUB_CONNECTOR_ABI_VERSION */
    const char *name;     /* what `connector:` in the configuration names */

    /* Creates an instance for one partner: check options here and refuse bad
     * ones with a message naming the option. host is lent for the life of
     * the instance. Returns 0, or -1 with errstr. */
    int (*create)(const struct placehub_host *host, const char *partner_id,
                  const struct placehub_options *options, void **instance, char *errstr,
                  size_t errstr_size);

    /* Fills request for one attempt to deliver the event (called again for
     * each retry, so time-dependent parts such as signatures are fresh).
     * Returns 0, or -1 with errstr when this event can never be sent to this
     * partner (it is then dead-lettered with errstr as the reason). */
    int (*prepare)(void *instance, const struct placehub_delivery *delivery,
                   struct placehub_request *request, char *errstr, size_t errstr_size);

    /* Optional: judges the answer. NULL means the host's rule: 2xx (250 for
     * mail) delivered; 408, 429, 5xx and transport failures retried; any
     * other status rejected. */
    void (*classify)(void *instance, const struct placehub_delivery *delivery,
                     const struct placehub_response *response, struct placehub_outcome *outcome);

    /* Frees what prepare() put in request. May be NULL when it holds nothing. */
    void (*release)(void *instance, struct placehub_request *request);

    /* Frees an instance. */
    void (*destroy)(void *instance);
};

#endif
