/*
 * webhook.c - the built-in `webhook` connector: each event as JSON in the
 * body of a POST to the partner's url, signed the Standard Webhooks way
 * (https://www.standardwebhooks.com): headers webhook-id (the event id),
 * webhook-timestamp (unix seconds, taken afresh for every attempt) and
 * webhook-signature, one "v1,<base64 HMAC-SHA256>" per configured key over
 * "<id>.<timestamp>.<body>", so a partner can rotate keys without a gap.
 *
 * Options (docs/connectors.md has the full story):
 *   url           required, http:// or https://
 *   signing_keys  secret references (env:NAME or file:/path), comma- or
 *                 space-separated, each holding "whsec_<base64>"; a key
 *                 written in the configuration itself is refused
 *   fields        dotted paths to send (default: the whole event)
 *   rename        from=to pairs applied after `fields`
 * Transport (timeouts, TLS, authentication, retries) is the host's: see
 * lib/delivery/transfer.h and docs/auth.md for the options it reads.
 *
 * Ownership: keys are read once in create() and wiped (explicit_bzero, which
 * the compiler may not drop) in destroy(); every
 * request owns a copy of its body and its header lines (struct
 * webhook_request), freed by release(). With many requests in flight,
 * nothing request-specific lives in the instance.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placehub/connector.h"

#define WEBHOOK_MAX_KEYS 8
#define WEBHOOK_MAX_PATHS 64
#define WEBHOOK_KEY_MIN 24 /* bytes, as the Standard Webhooks spec asks */
#define WEBHOOK_KEY_MAX 64
#define WEBHOOK_PATH_MAX 128

struct webhook_rename {
    char from[WEBHOOK_PATH_MAX];
    char to[WEBHOOK_PATH_MAX];
};

struct webhook {
    const struct placehub_host *host;
    unsigned char keys[WEBHOOK_MAX_KEYS][WEBHOOK_KEY_MAX];
    size_t key_lens[WEBHOOK_MAX_KEYS];
    size_t key_count;
    char fields[WEBHOOK_MAX_PATHS][WEBHOOK_PATH_MAX];
    size_t field_count;
    struct webhook_rename renames[WEBHOOK_MAX_PATHS];
    size_t rename_count;
};

struct webhook_request {
    char *body;
    char id_header[160];
    char timestamp_header[48];
    char type_header[128];
    /* "webhook-signature: " + up to 8 * "v1," + 44 base64 characters + " " */
    char signature_header[24 + WEBHOOK_MAX_KEYS * 48];
};

/* Copies the next item of a list separated by commas and/or white space
 * into item; returns the position after it, or NULL at the end. */
static const char *webhook_next_item(const char *list, char *item, size_t item_size, int *too_long)
{
    while (*list == ',' || isspace((unsigned char)*list))
        list++;
    if (!*list)
        return NULL;
    size_t len = strcspn(list, ", \t\r\n");
    *too_long = len >= item_size;
    snprintf(item, item_size, "%.*s", (int)len, list);
    return list + len;
}

/* A dotted path of field names: "person.address.postcode". */
static int webhook_path_valid(const char *path)
{
    int previous_dot = 1;
    for (const char *c = path; *c; c++) {
        if (*c == '.') {
            if (previous_dot)
                return 0;
            previous_dot = 1;
        } else if (isalnum((unsigned char)*c) || *c == '_' || *c == '-') {
            previous_dot = 0;
        } else {
            return 0;
        }
    }
    return !previous_dot;
}

/* Reads one signing key named by reference into webhook->keys. */
static int webhook_add_key(struct webhook *webhook, const char *partner_id, const char *reference,
                           char *errstr, size_t errstr_size)
{
    char secret[256], padded[260], problem[256];
    int rc = -1;
    if (strncmp(reference, "env:", 4) != 0 && strncmp(reference, "file:", 5) != 0) {
        /* Never echo the item: it may be the key itself. */
        snprintf(errstr, errstr_size,
                 "partner %s: options.signing_keys: give each key as env:NAME or file:/path; a "
                 "key written in the configuration itself is refused (it would end up in "
                 "backups, diffs and support tickets)",
                 partner_id);
        return -1;
    }
    if (webhook->key_count == WEBHOOK_MAX_KEYS) {
        snprintf(errstr, errstr_size, "partner %s: options.signing_keys: at most %d keys",
                 partner_id, WEBHOOK_MAX_KEYS);
        return -1;
    }
    if (webhook->host->secret(reference, secret, sizeof secret, problem, sizeof problem) != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.signing_keys: %s", partner_id, problem);
        goto out;
    }
    if (strncmp(secret, "whsec_", 6) != 0) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.signing_keys: %s does not hold a Standard Webhooks key "
                 "(whsec_ followed by base64)",
                 partner_id, reference);
        goto out;
    }
    /* Keys are often given without base64 padding: add it back. */
    static const char *const padding[4] = {"", "", "==", "="};
    size_t len = strlen(secret + 6);
    snprintf(padded, sizeof padded, "%s%s", secret + 6, padding[len % 4]);
    unsigned char *key = webhook->keys[webhook->key_count];
    unsigned char decoded[sizeof padded];
    long n = webhook->host->base64_decode(padded, decoded, sizeof decoded);
    if (n < WEBHOOK_KEY_MIN || n > WEBHOOK_KEY_MAX || len % 4 == 1) {
        snprintf(errstr, errstr_size,
                 "partner %s: options.signing_keys: %s must hold whsec_ followed by %d to %d "
                 "bytes in base64",
                 partner_id, reference, WEBHOOK_KEY_MIN, WEBHOOK_KEY_MAX);
        explicit_bzero(decoded, sizeof decoded);
        goto out;
    }
    memcpy(key, decoded, (size_t)n);
    explicit_bzero(decoded, sizeof decoded);
    webhook->key_lens[webhook->key_count++] = (size_t)n;
    rc = 0;
out:
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(padded, sizeof padded);
    return rc;
}

/* Is the output path `path` among what options.fields selects? */
static int webhook_selected(const struct webhook *webhook, const char *path)
{
    if (webhook->field_count == 0)
        return 1;
    size_t len = strlen(path);
    for (size_t i = 0; i < webhook->field_count; i++) {
        const char *field = webhook->fields[i];
        size_t field_len = strlen(field);
        if (strcmp(field, path) == 0 ||
            (strncmp(path, field, field_len) == 0 && path[field_len] == '.') ||
            (strncmp(field, path, len) == 0 && field[len] == '.'))
            return 1;
    }
    return 0;
}

static int webhook_parse_mapping(struct webhook *webhook, const char *partner_id,
                                 const struct placehub_options *options, char *errstr,
                                 size_t errstr_size)
{
    char item[2 * WEBHOOK_PATH_MAX + 2];
    int too_long = 0;
    const char *list = options->get(options, "fields");
    while (list && (list = webhook_next_item(list, item, sizeof item, &too_long))) {
        if (too_long || !webhook_path_valid(item) || strlen(item) >= WEBHOOK_PATH_MAX) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.fields: '%.64s' is not a dotted field path such as "
                     "person.nhs_number",
                     partner_id, item);
            return -1;
        }
        if (webhook->field_count == WEBHOOK_MAX_PATHS) {
            snprintf(errstr, errstr_size, "partner %s: options.fields: at most %d paths",
                     partner_id, WEBHOOK_MAX_PATHS);
            return -1;
        }
        snprintf(webhook->fields[webhook->field_count++], WEBHOOK_PATH_MAX, "%s", item);
    }
    if (options->get(options, "fields") && webhook->field_count == 0) {
        snprintf(errstr, errstr_size, "partner %s: options.fields is empty", partner_id);
        return -1;
    }
    list = options->get(options, "rename");
    while (list && (list = webhook_next_item(list, item, sizeof item, &too_long))) {
        char *equals = strchr(item, '=');
        if (equals)
            *equals = '\0';
        if (too_long || !equals || !webhook_path_valid(item) || !webhook_path_valid(equals + 1) ||
            strlen(item) >= WEBHOOK_PATH_MAX || strlen(equals + 1) >= WEBHOOK_PATH_MAX) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.rename: give from=to pairs of dotted field paths, "
                     "e.g. person.nhs_number=patient.nhsNumber",
                     partner_id);
            return -1;
        }
        if (!webhook_selected(webhook, item)) {
            snprintf(errstr, errstr_size,
                     "partner %s: options.rename: %.64s is not among options.fields", partner_id,
                     item);
            return -1;
        }
        if (webhook->rename_count == WEBHOOK_MAX_PATHS) {
            snprintf(errstr, errstr_size, "partner %s: options.rename: at most %d pairs",
                     partner_id, WEBHOOK_MAX_PATHS);
            return -1;
        }
        struct webhook_rename *rename = &webhook->renames[webhook->rename_count++];
        snprintf(rename->from, sizeof rename->from, "%s", item);
        snprintf(rename->to, sizeof rename->to, "%s", equals + 1);
    }
    return 0;
}

static void webhook_destroy(void *instance)
{
    struct webhook *webhook = instance;
    if (!webhook)
        return;
    explicit_bzero(webhook->keys, sizeof webhook->keys);
    free(webhook);
}

static int webhook_create(const struct placehub_host *host, const char *partner_id,
                          const struct placehub_options *options, void **instance, char *errstr,
                          size_t errstr_size)
{
    char reference[512];
    int too_long = 0;
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
    const char *keys = options->get(options, "signing_keys");
    while (keys && (keys = webhook_next_item(keys, reference, sizeof reference, &too_long)))
        if (too_long || webhook_add_key(webhook, partner_id, reference, errstr, errstr_size) != 0) {
            if (too_long)
                snprintf(errstr, errstr_size,
                         "partner %s: options.signing_keys: a reference is too long", partner_id);
            goto fail;
        }
    if (options->get(options, "signing_keys") && webhook->key_count == 0) {
        snprintf(errstr, errstr_size, "partner %s: options.signing_keys is empty", partner_id);
        goto fail;
    }
    if (webhook_parse_mapping(webhook, partner_id, options, errstr, errstr_size) != 0)
        goto fail;
    if (webhook->key_count == 0)
        host->log(PLACEHUB_LOG_WARNING,
                  "partner=%s: webhook without options.signing_keys: the partner cannot tell "
                  "our requests from forged ones",
                  partner_id);
    *instance = webhook;
    return 0;
fail:
    webhook_destroy(webhook);
    return -1;
}

/* The value at a dotted path of object, or NULL. Borrowed. */
static json_t *webhook_lookup(json_t *object, const char *path)
{
    char segment[WEBHOOK_PATH_MAX];
    while (object && *path) {
        size_t len = strcspn(path, ".");
        snprintf(segment, sizeof segment, "%.*s", (int)len, path);
        object = json_is_object(object) ? json_object_get(object, segment) : NULL;
        path += len + (path[len] == '.');
    }
    return object;
}

/* Sets value (reference stolen) at a dotted path of object, creating the
 * objects on the way. Returns 0, or -1 when a non-object is in the way. */
static int webhook_place(json_t *object, const char *path, json_t *value)
{
    char segment[WEBHOOK_PATH_MAX];
    for (;;) {
        size_t len = strcspn(path, ".");
        snprintf(segment, sizeof segment, "%.*s", (int)len, path);
        if (!path[len])
            return json_object_set_new(object, segment, value);
        json_t *next = json_object_get(object, segment);
        if (!next) {
            next = json_object();
            if (json_object_set_new(object, segment, next) != 0)
                break;
        }
        if (!json_is_object(next))
            break;
        object = next;
        path += len + 1;
    }
    json_decref(value);
    return -1;
}

/* Removes the value at a dotted path, and any objects it leaves empty. */
static void webhook_remove(json_t *object, const char *path)
{
    char segment[WEBHOOK_PATH_MAX];
    size_t len = strcspn(path, ".");
    snprintf(segment, sizeof segment, "%.*s", (int)len, path);
    if (!path[len]) {
        json_object_del(object, segment);
        return;
    }
    json_t *child = json_object_get(object, segment);
    if (!json_is_object(child))
        return;
    webhook_remove(child, path + len + 1);
    if (json_object_size(child) == 0)
        json_object_del(object, segment);
}

/* The body for this partner: the event itself, or the selected and renamed
 * fields. Caller frees. NULL with errstr. */
static char *webhook_body(const struct webhook *webhook, const struct placehub_delivery *delivery,
                          char *errstr, size_t errstr_size)
{
    char *body = NULL;
    json_t *event = NULL, *out = NULL;
    if (webhook->field_count == 0 && webhook->rename_count == 0) {
        body = malloc(delivery->body_len + 1);
        if (!body) {
            snprintf(errstr, errstr_size, "out of memory");
            return NULL;
        }
        memcpy(body, delivery->body, delivery->body_len);
        body[delivery->body_len] = '\0';
        return body;
    }
    json_error_t error;
    event = json_loadb(delivery->body, delivery->body_len, 0, &error);
    if (!json_is_object(event)) {
        snprintf(errstr, errstr_size, "the event is not a JSON object (line %d)", error.line);
        goto out;
    }
    if (webhook->field_count == 0) {
        out = json_incref(event);
    } else {
        out = json_object();
        for (size_t i = 0; out && i < webhook->field_count; i++) {
            json_t *value = webhook_lookup(event, webhook->fields[i]);
            /* A path the event type does not have is left out. */
            if (value && webhook_place(out, webhook->fields[i], json_deep_copy(value)) != 0) {
                snprintf(errstr, errstr_size, "options.fields: %s overlaps another path",
                         webhook->fields[i]);
                goto out;
            }
        }
    }
    for (size_t i = 0; out && i < webhook->rename_count; i++) {
        json_t *value = json_incref(webhook_lookup(out, webhook->renames[i].from));
        if (!value)
            continue;
        webhook_remove(out, webhook->renames[i].from);
        if (webhook_place(out, webhook->renames[i].to, value) != 0) {
            snprintf(errstr, errstr_size, "options.rename: %s cannot be placed at %s",
                     webhook->renames[i].from, webhook->renames[i].to);
            goto out;
        }
    }
    body = out ? json_dumps(out, JSON_COMPACT) : NULL;
    if (!body)
        snprintf(errstr, errstr_size, "out of memory");
out:
    json_decref(out);
    json_decref(event);
    return body;
}

/* Ids go into header lines: refuse anything that could break a header. */
static int webhook_header_safe(const char *text, size_t max)
{
    size_t len = strlen(text);
    if (len == 0 || len > max)
        return 0;
    for (const char *c = text; *c; c++)
        if ((unsigned char)*c < 0x21 || (unsigned char)*c > 0x7e)
            return 0;
    return 1;
}

static int webhook_prepare(void *instance, const struct placehub_delivery *delivery,
                           struct placehub_request *request, char *errstr, size_t errstr_size)
{
    struct webhook *webhook = instance;
    struct webhook_request *own = NULL;
    unsigned char *signed_text = NULL;
    if (!webhook_header_safe(delivery->event_id, 128) ||
        !webhook_header_safe(delivery->event_type, 64)) {
        snprintf(errstr, errstr_size, "event id or type unfit for a header line");
        return -1;
    }
    own = calloc(1, sizeof *own);
    if (!own) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    own->body = webhook_body(webhook, delivery, errstr, errstr_size);
    if (!own->body)
        goto fail;
    size_t body_len = strlen(own->body);
    long long timestamp = (long long)(webhook->host->now_millis() / 1000);
    snprintf(own->id_header, sizeof own->id_header, "webhook-id: %s", delivery->event_id);
    snprintf(own->timestamp_header, sizeof own->timestamp_header, "webhook-timestamp: %lld",
             timestamp);
    snprintf(own->type_header, sizeof own->type_header, "X-Placehub-Event-Type: %s",
             delivery->event_type);
    request->headers[request->header_count++] = "Content-Type: application/json";
    request->headers[request->header_count++] = own->id_header;
    request->headers[request->header_count++] = own->timestamp_header;
    request->headers[request->header_count++] = own->type_header;

    if (webhook->key_count > 0) {
        /* What is signed: "<id>.<timestamp>.<body>", the body exactly as sent. */
        char prefix[192];
        int prefix_len = snprintf(prefix, sizeof prefix, "%s.%lld.", delivery->event_id, timestamp);
        size_t signed_len = (size_t)prefix_len + body_len;
        signed_text = malloc(signed_len);
        if (!signed_text) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        memcpy(signed_text, prefix, (size_t)prefix_len);
        memcpy(signed_text + prefix_len, own->body, body_len);
        size_t used = (size_t)snprintf(own->signature_header, sizeof own->signature_header,
                                       "webhook-signature:");
        for (size_t i = 0; i < webhook->key_count; i++) {
            unsigned char mac[32];
            char encoded[48];
            if (webhook->host->hmac_sha256(webhook->keys[i], webhook->key_lens[i], signed_text,
                                           signed_len, mac) != 0 ||
                webhook->host->base64_encode(mac, sizeof mac, encoded, sizeof encoded) == 0) {
                snprintf(errstr, errstr_size, "cannot compute the signature");
                goto fail;
            }
            used += (size_t)snprintf(own->signature_header + used,
                                     sizeof own->signature_header - used, " v1,%s", encoded);
        }
        request->headers[request->header_count++] = own->signature_header;
    }
    free(signed_text);
    request->body = own->body;
    request->body_len = body_len;
    request->context = own;
    return 0;
fail:
    free(signed_text);
    if (own)
        free(own->body);
    free(own);
    request->header_count = 0;
    return -1;
}

static void webhook_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    struct webhook_request *own = request->context;
    if (own)
        free(own->body);
    free(own);
    request->context = NULL;
}

/* What webhook_create reads; the host's keys (timeouts, TLS, auth) come on
 * top. url is the host's too, declared here to make it required. */
static const struct placehub_option webhook_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0, "where to POST, http:// or https://"},
    {"signing_keys", PLACEHUB_OPTION_LIST, 0, 1,
     "env:NAME or file:/path references to whsec_ keys, comma-separated"},
    {"fields", PLACEHUB_OPTION_LIST, 0, 0, "dotted field paths to send (default: all)"},
    {"rename", PLACEHUB_OPTION_LIST, 0, 0, "from=to pairs of dotted field paths"},
    {0},
};

const struct placehub_connector_type placehub_connector_webhook = {
    PLACEHUB_CONNECTOR_VERSION, .name = "webhook",          .options = webhook_options,
    .create = webhook_create,   .prepare = webhook_prepare, .release = webhook_release,
    .destroy = webhook_destroy,
};
