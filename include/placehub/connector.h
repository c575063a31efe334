/*
 * placehub/connector.h - the interface partner IT teams build connectors on.
 *
 * A connector type is a const struct of function pointers carrying the ABI
 * version it was built against; an instance is created per configured
 * partner and holds that partner's private context. The host (placehub-
 * dispatch) lends its services through struct placehub_host, so a connector
 * needs nothing from placehub's own code.
 *
 * Threading: one instance is only ever called from one thread at a time.
 * Different instances may run on different threads at once.
 *
 * ABI version 1. A change to any struct here bumps the version; the host
 * refuses connectors built for another version.
 */
#ifndef PLACEHUB_CONNECTOR_H
#define PLACEHUB_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#define PLACEHUB_CONNECTOR_ABI_VERSION 1

enum placehub_log_level {
    PLACEHUB_LOG_DEBUG = 0,
    PLACEHUB_LOG_INFO = 1,
    PLACEHUB_LOG_WARNING = 2,
    PLACEHUB_LOG_ERROR = 3
};

/* Services the host lends to connectors. All pointers stay valid for the
 * life of every instance. */
struct placehub_host {
    unsigned abi_version;
    /* Writes a log line. Never pass personal data (names, NHS numbers,
     * addresses, notes, event bodies): ids and error classes only. */
    void (*log)(enum placehub_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    /* Wall-clock time in milliseconds since the epoch. */
    int64_t (*now_millis)(void);
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
    const char *event_id;   /* stable across retries and replays: use it to deduplicate */
    const char *event_type; /* the topic: admission, discharge, referral, ... */
    const char *body;       /* the event as plain JSON (see docs/schemas.md) */
    size_t body_len;
    int attempt; /* 1 on the first try */
};

enum placehub_result {
    PLACEHUB_DELIVERED = 0, /* the partner has it (e.g. HTTP 2xx) */
    PLACEHUB_RETRY = 1,     /* a passing failure (5xx, 408, 429, timeout, connection) */
    PLACEHUB_REJECTED = 2   /* the partner refuses it for good (other 4xx) */
};

struct placehub_outcome {
    enum placehub_result result;
    int status;         /* protocol status (HTTP status) or 0 */
    int retry_after_ms; /* the partner's own hint (Retry-After), or 0 */
    char reason[256];   /* short, free of personal data */
};

struct placehub_connector_type {
    unsigned abi_version; /* PLACEHUB_CONNECTOR_ABI_VERSION */
    const char *name;     /* what `connector:` in the configuration names */

    /* Creates an instance for one partner: check options here and refuse
     * bad ones with a message naming the option. host is borrowed for the
     * life of the instance. Returns 0, or -1 with errstr. */
    int (*create)(const struct placehub_host *host, const char *partner_id,
                  const struct placehub_options *options, void **instance, char *errstr,
                  size_t errstr_size);

    /* Delivers one event and reports the outcome; must return within the
     * connector's own timeouts. */
    void (*deliver)(void *instance, const struct placehub_delivery *delivery,
                    struct placehub_outcome *outcome);

    /* Frees an instance. */
    void (*destroy)(void *instance);
};

#endif
