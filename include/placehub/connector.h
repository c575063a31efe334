/*
 * placehub/connector.h - the interface partner IT teams build connectors on.
 *
 * A connector turns one event into one request to a partner (an HTTP call,
 * or a mail) and, optionally, judges the partner's answer. It does no I/O of
 * its own: the host (placehub-dispatch) performs the request with libcurl,
 * with the partner's authentication, TLS settings, timeouts and retries, many
 * requests in flight, so a connector needs nothing but this header.
 *
 * A connector type is a const struct of function pointers that says which
 * version of this header it was built with (struct_size, abi_major,
 * abi_minor: write PLACEHUB_CONNECTOR_VERSION first) and which options it
 * accepts; an instance is created per configured partner and holds that
 * partner's private context. Built-in connectors and shared objects use the
 * same struct; a shared object exports it under the symbol name
 * `placehub_connector` (see docs/connectors.md).
 *
 * Threading: all calls on one instance come from one thread. Different
 * instances may be called from different threads at once.
 *
 * Memory, in one place (the comments below repeat it where it applies):
 *   - host: lent until destroy() of the last instance returns;
 *   - partner_id and options (the struct and every value get() returns):
 *     borrowed for the call of create() only: copy what the instance keeps;
 *   - delivery (its body included): borrowed from prepare() until release()
 *     of that request returns, so a request may point into it; the same
 *     delivery is passed to classify();
 *   - request: the host's struct, zeroed before prepare(); what prepare()
 *     points it to (url, headers, body, mail envelope, context) belongs to
 *     the connector and must stay valid until release() of that request;
 *   - response: borrowed for the call of classify() only;
 *   - outcome: the host's, pre-filled; classify() may change it.
 *
 * Versions: ABI 2.1 (2.1 added placehub_outcome.reference and next(), for
 * deliveries of more than one request, such as MESH's handshake and upload
 * in chunks). The host loads a connector of the same major version
 * and a minor version no higher than its own; a later minor only adds
 * fields at the end of a struct, which the host reads only when the
 * connector's struct_size covers them. Any other change bumps the major
 * version, and the host refuses connectors of another major version.
 * Version 1 connectors (`unsigned abi_version` first) are refused with a
 * message saying to rebuild: see docs/connectors.md.
 */
#ifndef PLACEHUB_CONNECTOR_H
#define PLACEHUB_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#define PLACEHUB_CONNECTOR_ABI_MAJOR 2
#define PLACEHUB_CONNECTOR_ABI_MINOR 1

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

/* Services the host lends to connectors. Valid until destroy() of the last
 * instance returns. */
struct placehub_host {
    uint32_t struct_size; /* sizeof the host's struct: services added in a later minor
                           * version are there only when it covers them */
    uint16_t abi_major;   /* the host's PLACEHUB_CONNECTOR_ABI_MAJOR */
    uint16_t abi_minor;   /* the host's PLACEHUB_CONNECTOR_ABI_MINOR */
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

/* The partner's `options:` from the configuration, as text. Borrowed for
 * the call of create() only, like every value get() returns: copy what the
 * instance keeps. */
struct placehub_options {
    const void *opaque;
    /* The value of key, or NULL when absent. */
    const char *(*get)(const struct placehub_options *options, const char *key);
};

/* What a value of a declared option must look like. The host checks the
 * shape at start-up (and --check-config) before create() runs; create()
 * still checks the meaning (ranges, schemes, lists). */
enum placehub_option_type {
    PLACEHUB_OPTION_STRING = 1,      /* any text */
    PLACEHUB_OPTION_INTEGER,         /* a whole number, e.g. 5000 */
    PLACEHUB_OPTION_BOOLEAN,         /* true or false */
    PLACEHUB_OPTION_URL,             /* scheme://..., e.g. https:// or smtp:// */
    PLACEHUB_OPTION_LIST,            /* items separated by commas and/or spaces */
    PLACEHUB_OPTION_SECRET_REFERENCE /* env:NAME or file:/path, never the secret itself
                                      * (implies secret) */
};

/* One option key a connector accepts. A connector's list is an array ended
 * by a zeroed entry (name NULL). IMPORTANT: this struct does not change
 * within major version 2 (the host steps through the array with its own
 * sizeof); a later minor that needs more per option adds another array. */
struct placehub_option {
    const char *name;
    enum placehub_option_type type;
    int required; /* the host refuses a partner without it */
    /* A credential: the value (each item, for a LIST) must be a reference,
     * env:NAME or file:/path; the host refuses one written inline, and never
     * repeats the value in a message. */
    int secret;
    const char *description; /* one line, for messages */
};

/* One event to deliver. Borrowed from prepare() until release() of the
 * request made from it returns (a request may point into it). */
struct placehub_delivery {
    const char *partner_id;
    const char *event_id;   /* stable across retries and replays: receivers deduplicate on it */
    const char *event_type; /* the topic: admission, discharge, referral, employment-support */
    const char *body;       /* the event as plain JSON (docs/schemas.md), NUL-terminated */
    size_t body_len;
    int attempt; /* 1 on the first try */
};

/* The envelope of a mail: who it is from and to (the message itself, with
 * its From: and To: headers, is the request's body). */
struct placehub_mail_envelope {
    const char *from;
    const char *recipients[PLACEHUB_MAX_RECIPIENTS];
    size_t recipient_count;
};

/* What prepare() asks the host to send. The host has zeroed it. Whatever it
 * points to belongs to the connector and must stay valid until release() of
 * this request returns (string literals and the instance's own data do;
 * see the Memory note at the top). */
struct placehub_request {
    /* Where to. NULL: the partner's `url` option. http(s):// for HTTP;
     * smtp(s):// sends a mail (then method and headers are ignored and
     * mail is required). */
    const char *url;
    const char *method; /* "POST" when NULL */
    /* Extra header lines, "Name: value". The host adds Content-Length, the
     * idempotency key (Idempotency-Key: <event id>) and any authentication. */
    const char *headers[PLACEHUB_MAX_HEADERS];
    size_t header_count;
    const void *body;
    size_t body_len;
    /* A mail's envelope; NULL for HTTP. */
    const struct placehub_mail_envelope *mail;
    /* The connector's own bookkeeping, for release(). */
    void *context;
};

/* The partner's answer, as far as the host read it. Borrowed for the call
 * of classify() only. */
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
    /* ABI 2.1: the partner's own reference for what it received (a MESH
     * message id), written into the delivery receipt as partner_reference.
     * Empty: none. Printable text, free of personal data. The host zeroes
     * it; a 2.0 connector never writes it. */
    char reference[128];
};

/* The first three fields of struct placehub_connector_type, for its
 * initialiser: `PLACEHUB_CONNECTOR_VERSION, .name = "...", ...`. */
#define PLACEHUB_CONNECTOR_VERSION                                                                 \
    .struct_size = sizeof(struct placehub_connector_type),                                         \
    .abi_major = PLACEHUB_CONNECTOR_ABI_MAJOR, .abi_minor = PLACEHUB_CONNECTOR_ABI_MINOR

struct placehub_connector_type {
    /* IMPORTANT: these three stay first, at these offsets, in every version:
     * the host reads them before anything else. */
    uint32_t struct_size; /* sizeof(struct placehub_connector_type) as built */
    uint16_t abi_major;   /* PLACEHUB_CONNECTOR_ABI_MAJOR */
    uint16_t abi_minor;   /* PLACEHUB_CONNECTOR_ABI_MINOR */

    const char *name; /* what `connector:` in the configuration names */

    /* The option keys the connector reads, ended by a zeroed entry; NULL:
     * none of its own. The host adds its own (transport, authentication,
     * dispatch: docs/connectors.md) and refuses any other key at start-up,
     * with a did-you-mean. A connector may declare one of the host's keys
     * (url, typically) to make it required or describe it better. */
    const struct placehub_option *options;

    /* Creates an instance for one partner: check the options' meaning here
     * and refuse bad ones with a message naming the option (the host has
     * already refused unknown keys, missing required ones, inline secrets
     * and values of the wrong shape). host is lent until destroy();
     * partner_id and options are borrowed for this call only. Returns 0 and
     * *instance, or -1 with errstr. */
    int (*create)(const struct placehub_host *host, const char *partner_id,
                  const struct placehub_options *options, void **instance, char *errstr,
                  size_t errstr_size);

    /* Fills request for one attempt to deliver the event (called again for
     * each retry, so time-dependent parts such as signatures are fresh).
     * delivery stays valid until release() of this request. Returns 0, or -1
     * with errstr when this event can never be sent to this partner (it is
     * then dead-lettered with errstr as the reason). After -1 the host does
     * not call release(): free what was allocated before returning. */
    int (*prepare)(void *instance, const struct placehub_delivery *delivery,
                   struct placehub_request *request, char *errstr, size_t errstr_size);

    /* Optional: judges the answer. The host pre-fills outcome with its own
     * judgement, which NULL leaves as it is: 2xx (250 for mail) delivered;
     * 408, 429, 5xx, SMTP 4xx and transport failures (status 0) retried;
     * any other status rejected, each with a short reason ("HTTP 503").
     * classify() may change result and reason (free of personal data: both
     * are logged and dead-lettered). Afterwards the host turns a 401 judged
     * REJECTED into RETRY and refreshes the partner's token: refused
     * credentials are not the event's fault. response is borrowed for the
     * call. */
    void (*classify)(void *instance, const struct placehub_delivery *delivery,
                     const struct placehub_response *response, struct placehub_outcome *outcome);

    /* Frees what prepare() put in request, once the host is done with it
     * (whatever the outcome, also when the transfer could not start). May
     * be NULL when prepare() holds nothing. */
    void (*release)(void *instance, struct placehub_request *request);

    /* Frees an instance. */
    void (*destroy)(void *instance);

    /* ---- ABI 2.1: the host reads these only when struct_size covers them */

    /* Optional: a delivery made of more than one request (a handshake
     * first, an upload in parts). Called after classify() judged an answer
     * DELIVERED, with that answer and the request just performed (still the
     * connector's: release() has not been called). Returns 1 after refilling
     * request for the next request of the same delivery (free or reuse what
     * it pointed to; request->context is kept): the host performs it, with
     * the partner's credentials and transport settings, judges it
     * (classify() again), then calls next() again. Returns 0 when the
     * delivery is complete: outcome (pre-filled DELIVERED) is the verdict;
     * next() may fill outcome->reference, or make the result REJECTED or
     * RETRY with a reason (an answer it cannot read). Any answer judged
     * other than DELIVERED ends the delivery with that verdict, and a retry
     * starts again with prepare(). release() is called once, at the end.
     * The host stops a delivery after PLACEHUB_MAX_STEPS requests (RETRY). */
    int (*next)(void *instance, const struct placehub_delivery *delivery,
                const struct placehub_response *response, struct placehub_request *request,
                struct placehub_outcome *outcome);
};

/* The most requests one delivery may take (prepare() plus next()s). */
#define PLACEHUB_MAX_STEPS 10000

#endif
