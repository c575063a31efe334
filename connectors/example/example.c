/*
 * example.c - the worked example of docs/connectors.md: a connector built
 * outside placehub, as a shared object, for a partner whose system imports
 * CSV (a care-home operator's resident system, a housing association's
 * case-management tool). Each event becomes one CSV record, POSTed as
 * text/csv to the partner's import URL.
 *
 * Build (one line, no placehub library needed: only the public header):
 *   cc -std=c11 -O2 -Wall -Wextra -fPIC -shared -Iinclude \
 *      -o build/connectors/example.so connectors/example/example.c -ljansson
 * Configure (config/placehub.yaml):
 *   connector: build/connectors/example.so    (a '/' makes it a path)
 *   options:
 *     url: "https://import.example-care.org.uk/placehub"
 *     columns: "event_id, event_type, occurred_at, person.nhs_number, ward"
 *     header: "true"
 * Test:
 *   build/bin/placehub-connector-test --dry-run --option url=http://localhost/ \
 *       build/connectors/example.so
 *
 * Options (declared in example_options, so placehub refuses a misspelt key
 * at start-up; their meaning is checked in example_create):
 *   url      required: where to POST (the host performs the request)
 *   columns  dotted paths into the event, comma-separated; a path an event
 *            type lacks gives an empty cell (default: see EXAMPLE_COLUMNS)
 *   header   "true" (default) puts a first line naming the columns
 *
 * The rules every connector keeps (include/placehub/connector.h):
 *   - no I/O: prepare() only describes the request; the host sends it with
 *     the partner's TLS, authentication, timeouts and retries;
 *   - nothing request-specific in the instance: the host may have several
 *     requests of one partner in flight, so each request owns its memory
 *     (request->context) until release();
 *   - never log personal data: ids and error classes only.
 */
/* strndup and open_memstream are POSIX 2008, outside plain C11. */
#define _POSIX_C_SOURCE 200809L

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "placehub/connector.h"

#define EXAMPLE_COLUMNS                                                                            \
    "event_id, event_type, occurred_at, priority, person.nhs_number, person.family_name, "         \
    "person.given_name, person.date_of_birth"
#define EXAMPLE_MAX_COLUMNS 32

/* One instance per partner: its options, read and checked once. */
struct example {
    const struct placehub_host *host;
    char *columns[EXAMPLE_MAX_COLUMNS];
    size_t column_count;
    int header;
};

static void example_destroy(void *instance)
{
    struct example *example = instance;
    if (!example)
        return;
    for (size_t i = 0; i < example->column_count; i++)
        free(example->columns[i]);
    free(example);
}

/* create(): check every option now, so a mistake stops placehub at start-up
 * with a message naming the option, not at the first event. */
static int example_create(const struct placehub_host *host, const char *partner_id,
                          const struct placehub_options *options, void **instance, char *errstr,
                          size_t errstr_size)
{
    const char *url = options->get(options, "url");
    const char *columns = options->get(options, "columns");
    const char *header = options->get(options, "header");
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)) {
        snprintf(errstr, errstr_size, "partner %s: options.url must be an http:// or https:// URL",
                 partner_id);
        return -1;
    }
    if (header && strcmp(header, "true") != 0 && strcmp(header, "false") != 0) {
        snprintf(errstr, errstr_size, "partner %s: options.header must be true or false",
                 partner_id);
        return -1;
    }
    struct example *example = calloc(1, sizeof *example);
    if (!example) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    example->host = host;
    example->header = !header || strcmp(header, "true") == 0;
    for (const char *item = columns ? columns : EXAMPLE_COLUMNS; *item;) {
        item += strspn(item, ", ");
        size_t len = strcspn(item, ", ");
        if (len == 0)
            break;
        if (example->column_count == EXAMPLE_MAX_COLUMNS) {
            snprintf(errstr, errstr_size, "partner %s: options.columns: at most %d columns",
                     partner_id, EXAMPLE_MAX_COLUMNS);
            goto fail;
        }
        example->columns[example->column_count] = strndup(item, len);
        if (!example->columns[example->column_count++]) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
        item += len;
    }
    if (example->column_count == 0) {
        snprintf(errstr, errstr_size, "partner %s: options.columns names no column", partner_id);
        goto fail;
    }
    /* Ids and counts only: never personal data in a log line. */
    host->log(PLACEHUB_LOG_INFO, "csv example connector ready partner=%s columns=%zu", partner_id,
              example->column_count);
    *instance = example;
    return 0;
fail:
    example_destroy(example);
    return -1;
}

/* The value at a dotted path ("person.address.postcode"), or NULL. */
static const json_t *example_lookup(const json_t *event, const char *path)
{
    char name[128];
    while (event && *path) {
        size_t len = strcspn(path, ".");
        snprintf(name, sizeof name, "%.*s", (int)len, path);
        event = json_object_get(event, name);
        path += len + (path[len] == '.');
    }
    return event;
}

/* Appends one CSV cell (RFC 4180) to a memory stream. */
static void example_cell(FILE *out, const json_t *value)
{
    char *text = NULL;
    if (json_is_string(value)) {
        text = strdup(json_string_value(value));
    } else if (json_is_array(value)) {
        /* care_needs and the like: one cell, items separated by ';'. */
        size_t i, used = 0;
        json_t *item;
        text = calloc(1, 1);
        json_array_foreach(value, i, item)
        {
            const char *part = json_is_string(item) ? json_string_value(item) : "";
            char *grown = text ? realloc(text, used + strlen(part) + 2) : NULL;
            if (!grown)
                break;
            text = grown;
            used += (size_t)snprintf(text + used, strlen(part) + 2, "%s%s", i ? ";" : "", part);
        }
    } else if (value && !json_is_null(value)) {
        text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    }
    if (!text || !*text) {
        free(text);
        return; /* absent or null: an empty cell */
    }
    /* A cell starting with = + - or @ is a formula to a spreadsheet that
     * opens the file: a name or a note must never run as one. */
    int formula = strchr("=+-@", text[0]) != NULL;
    int quote = formula || strpbrk(text, ",\"\r\n") != NULL;
    if (quote)
        fputc('"', out);
    if (formula)
        fputc('\'', out);
    for (const char *c = text; *c; c++) {
        if (*c == '"')
            fputc('"', out);
        fputc(*c, out);
    }
    if (quote)
        fputc('"', out);
    free(text);
}

/* What this request owns until release(). */
struct example_request {
    char *body;
};

/* prepare(): one event in, one request out. Called again for each retry. */
static int example_prepare(void *instance, const struct placehub_delivery *delivery,
                           struct placehub_request *request, char *errstr, size_t errstr_size)
{
    struct example *example = instance;
    struct example_request *own = NULL;
    json_t *event = NULL;
    size_t size = 0;
    FILE *out = NULL;

    event = json_loadb(delivery->body, delivery->body_len, 0, NULL);
    if (!json_is_object(event)) {
        /* Returning -1 sends the event to the dead-letter topic with this
         * reason: do it only for events that can never be sent. */
        snprintf(errstr, errstr_size, "the event is not a JSON object");
        goto fail;
    }
    own = calloc(1, sizeof *own);
    out = own ? open_memstream(&own->body, &size) : NULL;
    if (!out) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (example->header) {
        for (size_t i = 0; i < example->column_count; i++)
            fprintf(out, "%s%s", i ? "," : "", example->columns[i]);
        fputs("\r\n", out);
    }
    for (size_t i = 0; i < example->column_count; i++) {
        if (i)
            fputc(',', out);
        example_cell(out, example_lookup(event, example->columns[i]));
    }
    fputs("\r\n", out);
    if (fclose(out) != 0) {
        out = NULL;
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    out = NULL;
    json_decref(event);

    /* Header strings must live until release(): string literals do. The
     * host adds the Idempotency-Key (the event id) and any authentication. */
    request->headers[request->header_count++] =
        example->header ? "Content-Type: text/csv; charset=utf-8; header=present"
                        : "Content-Type: text/csv; charset=utf-8; header=absent";
    request->body = own->body;
    request->body_len = size;
    request->context = own;
    return 0;
fail:
    if (out)
        fclose(out);
    if (own)
        free(own->body);
    free(own);
    json_decref(event);
    return -1;
}

/* release(): frees what prepare() allocated for this request. */
static void example_release(void *instance, struct placehub_request *request)
{
    (void)instance;
    struct example_request *own = request->context;
    if (own)
        free(own->body);
    free(own);
    request->context = NULL;
}

/* The one symbol placehub looks for (PLACEHUB_CONNECTOR_SYMBOL). No
 * classify: the host's rule (2xx delivered; 408, 429, 5xx retried; other
 * statuses refused for good) suits an import endpoint. */
/* The options example_create reads, ended by a zeroed entry. placehub
 * refuses any other key (but its own: timeouts, TLS, authentication) at
 * start-up with a "did you mean". url is one of the host's, declared here
 * to make it required. */
static const struct placehub_option example_options[] = {
    {"url", PLACEHUB_OPTION_URL, 1, 0, "the partner's import URL"},
    {"columns", PLACEHUB_OPTION_LIST, 0, 0, "dotted paths into the event, one per column"},
    {"header", PLACEHUB_OPTION_BOOLEAN, 0, 0, "a first line naming the columns (default true)"},
    {0},
};

/* PLACEHUB_CONNECTOR_VERSION first: the struct size and ABI version this
 * was built with, which placehub checks before anything else. */
const struct placehub_connector_type placehub_connector = {
    PLACEHUB_CONNECTOR_VERSION, .name = "csv-example",      .options = example_options,
    .create = example_create,   .prepare = example_prepare, .release = example_release,
    .destroy = example_destroy,
};
