/*
 * ingest.c - the HTTP intake of placehub (see ingest.h).
 *
 * IMPORTANT: a request is acknowledged (202) only once the delivery report
 * for its message says the broker has it: the HTTP handler thread blocks in
 * producer_send (lib/kafka/producer.c) until then, or until the send failed (503).
 *
 * Nothing is produced for a rejected request: every check (credentials,
 * rate limit, the partner's rights, JSON syntax, schema, NHS number, the
 * source organisation) runs before rd_kafka_producev.
 *
 * Who may publish (docs/security.md): a partner authenticates with an API
 * key (Authorization: Bearer, or X-API-Key); it may send only the event
 * types its ingest.publishes lists and only as the organisations of its
 * ingest.source_ods_codes. Log lines name the request id and the partner,
 * never the key or anything about the person.
 */
#include "ingest.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "schema/codec.h"
#include "schema/event.h"
#include "schema/framing.h"
#include "net/httpd.h"
#include "kafka/kafka.h"
#include "net/metrics.h"
#include "core/log.h"
#include "kafka/producer.h"
#include "governance/objection_write.h"
#include "governance/publisher.h"
#include "governance/submission.h"
#include "ingest_internal.h"

/* "/v1/events/{type}" -> type, or NULL. */
static const char *ingest_event_type(const char *path)
{
    static const char prefix[] = "/v1/events/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *type = path + sizeof prefix - 1;
    if (!*type || strchr(type, '/'))
        return NULL;
    return type;
}

/* "/v1/events/{type}/batch" -> 1 with type copied, else 0. */
static int ingest_batch_type(const char *path, char *type, size_t type_size)
{
    static const char prefix[] = "/v1/events/", suffix[] = "/batch";
    size_t len = strlen(path);
    if (strncmp(path, prefix, sizeof prefix - 1) != 0 || len < sizeof prefix + sizeof suffix - 1 ||
        strcmp(path + len - (sizeof suffix - 1), suffix) != 0)
        return 0;
    size_t type_len = len - (sizeof prefix - 1) - (sizeof suffix - 1);
    if (type_len == 0 || type_len >= type_size || memchr(path + sizeof prefix - 1, '/', type_len))
        return 0;
    memcpy(type, path + sizeof prefix - 1, type_len);
    type[type_len] = '\0';
    return 1;
}

static void ingest_unknown_type(struct ingest *ingest, const char *type,
                                struct httpd_response *response)
{
    char known[512] = "";
    size_t used = 0;
    const struct catalogue *catalogue = registry_catalogue(ingest->registry);
    for (size_t i = 0; i < ingest->config->topic_count; i++) {
        const char *name = ingest->config->topics[i].name;
        if (!catalogue_latest_for_topic(catalogue, name))
            continue;
        int n = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", name);
        if (n < 0 || (size_t)n >= sizeof known - used)
            break;
        used += (size_t)n;
    }
    /* The type is the sender's own text: it goes back to them, never to the log. */
    httpd_response_error(response, 404, "unknown_event_type", "type",
                         "'%.64s' is not an event type this hub accepts; use one of: %s", type,
                         known);
}

static void ingest_unauthenticated(struct httpd_response *response, const char *field,
                                   const char *error, const char *code, const char *message)
{
    char challenge[128];
    httpd_response_error(response, 401, code, field, "%s", message);
    if (error)
        snprintf(challenge, sizeof challenge, "Bearer realm=\"placehub-ingest\", error=\"%s\"",
                 error);
    else
        snprintf(challenge, sizeof challenge, "Bearer realm=\"placehub-ingest\"");
    httpd_response_header(response, "WWW-Authenticate", challenge);
}

/* The publisher the request's credentials name, or NULL with *response
 * filled (401). The key is never logged, and a wrong key gets the same
 * answer whether or not its owner exists. */
struct publisher *ingest_authenticate(struct ingest *ingest, const struct httpd_request *request,
                                      struct httpd_response *response)
{
    const char *authorization = httpd_request_header(request, "Authorization");
    const char *api_key = httpd_request_header(request, "X-API-Key");
    const char *key = NULL, *field = NULL;
    if (authorization && api_key) {
        ingest_unauthenticated(response, "Authorization", "invalid_request", "invalid_credentials",
                               "send the API key once, in Authorization: Bearer <key> or in "
                               "X-API-Key, not both");
        return NULL;
    }
    if (authorization) {
        field = "Authorization";
        if (strncasecmp(authorization, "Bearer ", 7) != 0) {
            ingest_unauthenticated(response, field, "invalid_request", "invalid_credentials",
                                   "the Authorization header must be 'Bearer <API key>'");
            log_info("event rejected request_id=%s status=401 error=invalid_credentials "
                     "reason=not_bearer",
                     request->request_id);
            return NULL;
        }
        key = authorization + 7;
        key += strspn(key, " ");
    } else if (api_key) {
        field = "X-API-Key";
        key = api_key;
    } else {
        ingest_unauthenticated(response, "Authorization", NULL, "unauthenticated",
                               "this hub accepts events only from partners it knows: send your "
                               "API key as Authorization: Bearer <key>");
        log_info("event rejected request_id=%s status=401 error=unauthenticated",
                 request->request_id);
        return NULL;
    }
    struct publisher *publisher = publishers_authenticate(ingest->publishers, key);
    if (!publisher) {
        ingest_unauthenticated(response, field, "invalid_token", "invalid_credentials",
                               "the API key is not valid (revoked, mistyped or never issued)");
        log_info("event rejected request_id=%s status=401 error=invalid_credentials",
                 request->request_id);
    }
    return publisher;
}

/* The partner's rate limit, for count events at once. Returns 0, or -1
 * with *response filled (429, or 413 for a batch larger than the burst). */
int ingest_limit(struct publisher *publisher, int count, const struct httpd_request *request,
                 struct httpd_response *response)
{
    const struct config_partner *partner = publisher_partner(publisher);
    int64_t wait_ms = publisher_take_many(publisher, count, clock_monotonic_ms());
    if (wait_ms == 0)
        return 0;
    if (wait_ms < 0) {
        httpd_response_error(response, 413, "batch_over_rate_limit", "events",
                             "a batch of %d events is more than partner %s may send at once "
                             "(ingest.rate_limit.burst %d); send smaller batches",
                             count, partner->id, partner->ingest->burst);
        log_info("event rejected request_id=%s partner=%s status=413 error=batch_over_rate_limit",
                 request->request_id, partner->id);
        return -1;
    }
    char seconds[32];
    snprintf(seconds, sizeof seconds, "%lld", (long long)((wait_ms + 999) / 1000));
    httpd_response_error(response, 429, "rate_limited", NULL,
                         "partner %s sends more than its rate limit (%.0f events a second, "
                         "bursts of %d); retry after %s s",
                         partner->id, partner->ingest->events_per_second, partner->ingest->burst,
                         seconds);
    httpd_response_header(response, "Retry-After", seconds);
    log_info("event rejected request_id=%s partner=%s status=429 error=rate_limited",
             request->request_id, partner->id);
    return -1;
}

/* Authentication and the partner's right to send this type; the rate limit
 * too when count > 0 (a batch takes its tokens once its size is known).
 * Returns the publisher (NULL when authentication is off), or sets *refused
 * with *response filled. */
static struct publisher *ingest_admit(struct ingest *ingest, const char *type, int count,
                                      const struct httpd_request *request,
                                      struct httpd_response *response, int *refused)
{
    *refused = 0;
    if (!ingest->publishers)
        return NULL;
    struct publisher *publisher = ingest_authenticate(ingest, request, response);
    if (!publisher) {
        *refused = 1;
        return NULL;
    }
    const char *partner_id = publisher_partner(publisher)->id;
    if (count > 0 && ingest_limit(publisher, count, request, response) != 0) {
        *refused = 1;
        return NULL;
    }
    /* Types the hub does not know are answered 404 by the caller, which
     * lists the known ones; a known type outside the agreement is 403. */
    if (config_topic_find(ingest->config, type) && !publisher_may_publish(publisher, type)) {
        httpd_response_error(response, 403, "event_type_not_allowed", "type",
                             "partner %s may not publish %s events (its ingest.publishes does "
                             "not list it)",
                             partner_id, type);
        log_info("event rejected request_id=%s partner=%s type=%s status=403 "
                 "error=event_type_not_allowed",
                 request->request_id, partner_id, type);
        *refused = 1;
        return NULL;
    }
    return publisher;
}

/* What one request knows before it looks at its events. */
struct ingest_context {
    struct registry *registry;
    const char *type;
    const char *partner_id; /* "-" when authentication is off */
    struct publisher *publisher;
    const struct catalogue_entry *writer; /* the topic's latest schema version */
    int schema_id;                        /* writer's registry id */
};

/* The type's media type, topic and writer schema. Returns 0, or -1 with
 * *response filled. */
static int ingest_begin(struct ingest *ingest, const char *type,
                        const struct httpd_request *request, struct ingest_context *context,
                        struct httpd_response *response)
{
    char errstr[512];
    const struct catalogue_entry *entry =
        config_topic_find(ingest->config, type)
            ? catalogue_latest_for_topic(registry_catalogue(ingest->registry), type)
            : NULL;
    if (!entry) {
        ingest_unknown_type(ingest, type, response);
        return -1;
    }
    const char *content_type = httpd_request_header(request, "Content-Type");
    if (content_type && strncmp(content_type, "application/json", 16) != 0) {
        httpd_response_error(response, 415, "unsupported_media_type", NULL,
                             "send the event as application/json");
        return -1;
    }
    if (registry_writer(ingest->registry, type, -1, &context->writer, &context->schema_id, errstr,
                        sizeof errstr) != 0) {
        httpd_response_error(response, 503, "schema_registry_unavailable", NULL,
                             "cannot get the schema id for %s; try again later", type);
        log_error("schema registry error type=%s: %s", type, errstr);
        return -1;
    }
    context->registry = ingest->registry;
    context->type = type;
    return 0;
}

static json_t *ingest_parse(const struct ingest_context *context,
                            const struct httpd_request *request, struct httpd_response *response)
{
    json_error_t json_error;
    json_t *body =
        json_loadb(request->body, request->body_len, JSON_REJECT_DUPLICATES, &json_error);
    if (!body) {
        httpd_response_error(response, 400, "malformed_json", NULL,
                             "the body is not valid JSON: line %d, column %d (byte %d): %s",
                             json_error.line, json_error.column, json_error.position,
                             json_error.text);
        log_info("event rejected request_id=%s partner=%s type=%s status=400 "
                 "error=malformed_json",
                 request->request_id, context->partner_id, context->type);
    }
    return body;
}

/* Checks and encodes one event (completed in place with the hub's fields)
 * with lib/governance/submission.c, the same checks placehub-mesh-inbox
 * makes. where prefixes the field named in an error ("events[3]." in a
 * batch). Returns 0, or -1 with *response filled and nothing kept. */
static int ingest_prepare(const struct ingest_context *context, json_t *event, const char *where,
                          const struct httpd_request *request, struct submission *prepared,
                          struct httpd_response *response)
{
    struct submission_error error;
    const struct submission_type type = {context->registry, context->type, context->writer,
                                         context->schema_id};
    if (submission_prepare(&type, context->publisher, context->partner_id, event, where, prepared,
                           &error) == 0)
        return 0;
    httpd_response_error(response, error.status, error.code, error.field[0] ? error.field : NULL,
                         "%s", error.message);
    if (error.status == 503)
        log_error("schema registry error type=%s: %s", context->type, error.detail);
    else if (strcmp(error.code, "invalid_event") == 0)
        log_info("event rejected request_id=%s partner=%s type=%s status=422 "
                 "error=invalid_event field=%.128s",
                 request->request_id, context->partner_id, context->type, error.field);
    else
        log_info("event rejected request_id=%s partner=%s type=%s status=%d error=%s",
                 request->request_id, context->partner_id, context->type, error.status, error.code);
    return -1;
}

static void ingest_handle_event(struct ingest *ingest, const char *type,
                                const struct httpd_request *request,
                                struct httpd_response *response)
{
    struct ingest_context context = {.partner_id = "-"};
    struct submission prepared;
    int refused = 0;

    context.publisher = ingest_admit(ingest, type, 1, request, response, &refused);
    if (refused)
        return;
    if (context.publisher)
        context.partner_id = publisher_partner(context.publisher)->id;
    if (ingest_begin(ingest, type, request, &context, response) != 0)
        return;
    /* httpd admits bodies up to the batch limit; one event has its own. */
    if (request->body_len > (size_t)ingest->config->ingest.max_body_bytes) {
        httpd_response_error(response, 413, "body_too_large", NULL,
                             "request body exceeds %lld bytes; several events go to "
                             "POST /v1/events/%s/batch",
                             ingest->config->ingest.max_body_bytes, type);
        return;
    }
    json_t *event = ingest_parse(&context, request, response);
    if (!event)
        return;
    if (ingest_prepare(&context, event, "", request, &prepared, response) != 0)
        goto out;

    /* The event id travels as a header too, so tools can find an event
     * without decoding it. */
    const char *id = prepared.event_id;
    struct producer_header header = {"event_id", id, strlen(id)};
    struct producer_result result;
    /* producer_send takes the value over, whatever the outcome. */
    if (producer_send(ingest->producer, type, prepared.key, strlen(prepared.key), prepared.value,
                      prepared.value_len, &header, 1, &result) != 0) {
        json_t *body =
            json_pack("{s:{s:s,s:s},s:s}", "error", "code", "kafka_unavailable", "message",
                      "the broker did not acknowledge the event; retry with the same "
                      "event_id",
                      "event_id", id);
        httpd_response_json(response, 503, body);
        httpd_response_header(response, "Retry-After", "1");
        log_warning("event not acknowledged request_id=%s partner=%s event_id=%s topic=%s "
                    "error=%s",
                    request->request_id, context.partner_id, id, type,
                    rd_kafka_err2name(result.err));
    } else {
        metrics_ingest_events(type, 1);
        httpd_response_json(response, 202,
                            json_pack("{s:s,s:s,s:i,s:I}", "event_id", id, "topic", type,
                                      "partition", (int)result.partition, "offset",
                                      (json_int_t)result.offset));
        log_debug("event accepted request_id=%s partner=%s event_id=%s topic=%s partition=%d "
                  "offset=%lld",
                  request->request_id, context.partner_id, id, type, (int)result.partition,
                  (long long)result.offset);
    }
out:
    json_decref(event);
}

/* ---- batches -------------------------------------------------------------
 * A batch is all or nothing on the way in: every event is checked before
 * any is produced, so one bad event changes nothing. On the way out each
 * event is acknowledged by the broker on its own; the answer is 202 only
 * when all were, else 503 with every event id so the sender can send the
 * batch again as it was (duplicates carry the same ids). */

struct ingest_batch {
    pthread_mutex_t lock;
    pthread_cond_t settled;
    size_t outstanding;
    struct producer_result *results;
};

struct ingest_batch_slot {
    struct ingest_batch *batch;
    size_t index;
};

/* On the producer's poller thread. */
static void ingest_batch_done(void *opaque, const struct producer_result *result)
{
    struct ingest_batch_slot *slot = opaque;
    struct ingest_batch *batch = slot->batch;
    pthread_mutex_lock(&batch->lock);
    batch->results[slot->index] = *result;
    if (--batch->outstanding == 0)
        pthread_cond_signal(&batch->settled);
    pthread_mutex_unlock(&batch->lock);
}

/* A batch holds 1 to ingest.max_batch_events events. Returns 0, or -1 with
 * the 422 or 413 answered. */
static int ingest_batch_check_size(struct ingest *ingest, const char *type, size_t count,
                                   const struct ingest_context *context,
                                   const struct httpd_request *request,
                                   struct httpd_response *response)
{
    int max = ingest->config->ingest.max_batch_events;
    if (count > 0 && count <= (size_t)max)
        return 0;
    if (count == 0)
        httpd_response_error(response, 422, "invalid_batch", "events",
                             "a batch is a JSON array of 1 to %d events", max);
    else
        httpd_response_error(response, 413, "batch_too_large", "events",
                             "a batch holds at most %d events (ingest.max_batch_events); "
                             "this one has %zu",
                             max, count);
    log_info("batch rejected request_id=%s partner=%s type=%s status=%d error=invalid_batch",
             request->request_id, context->partner_id, type, count == 0 ? 422 : 413);
    return -1;
}

/* Produces every prepared event (the producer takes each value over) and
 * waits until the broker reported on all of them: librdkafka reports every
 * message within message.timeout.ms. The reports land in batch->results. */
static void ingest_batch_produce(struct ingest *ingest, const char *type,
                                 struct submission *prepared, struct ingest_batch_slot *slots,
                                 struct ingest_batch *batch, size_t count)
{
    pthread_mutex_init(&batch->lock, NULL);
    pthread_cond_init(&batch->settled, NULL);
    batch->outstanding = count;
    for (size_t i = 0; i < count; i++) {
        struct producer_header header = {"event_id", prepared[i].event_id,
                                         strlen(prepared[i].event_id)};
        slots[i] = (struct ingest_batch_slot){batch, i};
        unsigned char *value = prepared[i].value;
        prepared[i].value = NULL; /* the producer takes it over */
        producer_send_async(ingest->producer, type, prepared[i].key, strlen(prepared[i].key), value,
                            prepared[i].value_len, &header, 1, ingest_batch_done, &slots[i]);
    }
    pthread_mutex_lock(&batch->lock);
    while (batch->outstanding > 0)
        pthread_cond_wait(&batch->settled, &batch->lock);
    pthread_mutex_unlock(&batch->lock);
    pthread_cond_destroy(&batch->settled);
    pthread_mutex_destroy(&batch->lock);
}

/* 202 naming each event's partition and offset when the broker acknowledged
 * all; else 503 with every event id and the indexes that failed. */
static void ingest_batch_answer(const char *type, const struct submission *prepared,
                                const struct ingest_batch *batch, size_t count,
                                const struct ingest_context *context,
                                const struct httpd_request *request,
                                struct httpd_response *response)
{
    json_t *accepted = json_array(), *ids = json_array(), *failed = json_array();
    rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(ids, json_string(prepared[i].event_id));
        if (batch->results[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            json_array_append_new(failed, json_integer((json_int_t)i));
            if (!first_error)
                first_error = batch->results[i].err;
            continue;
        }
        json_array_append_new(accepted, json_pack("{s:s,s:i,s:I}", "event_id", prepared[i].event_id,
                                                  "partition", (int)batch->results[i].partition,
                                                  "offset", (json_int_t)batch->results[i].offset));
    }
    if (json_array_size(failed) > 0) {
        httpd_response_json(
            response, 503,
            json_pack("{s:{s:s,s:s},s:o,s:o}", "error", "code", "kafka_unavailable", "message",
                      "the broker did not acknowledge every event of the batch; send the "
                      "batch again with these event ids (those acknowledged are then "
                      "duplicates with the same id, which partners recognise)",
                      "event_ids", ids, "failed", failed));
        httpd_response_header(response, "Retry-After", "1");
        json_decref(accepted);
        log_warning("batch not acknowledged request_id=%s partner=%s topic=%s events=%zu "
                    "error=%s",
                    request->request_id, context->partner_id, type, count,
                    rd_kafka_err2name(first_error));
        return;
    }
    httpd_response_json(response, 202,
                        json_pack("{s:s,s:I,s:o}", "topic", type, "accepted", (json_int_t)count,
                                  "events", accepted));
    json_decref(ids);
    json_decref(failed);
    metrics_ingest_events(type, (long)count);
    log_debug("batch accepted request_id=%s partner=%s topic=%s events=%zu", request->request_id,
              context->partner_id, type, count);
}

static void ingest_handle_batch(struct ingest *ingest, const char *type,
                                const struct httpd_request *request,
                                struct httpd_response *response)
{
    struct ingest_context context = {.partner_id = "-"};
    struct submission *prepared = NULL;
    struct ingest_batch_slot *slots = NULL;
    struct ingest_batch batch = {.results = NULL};
    size_t count = 0, ready = 0;
    int refused = 0;

    /* Who is sending is settled before the body is parsed. */
    context.publisher = ingest_admit(ingest, type, 0, request, response, &refused);
    if (refused)
        return;
    if (context.publisher)
        context.partner_id = publisher_partner(context.publisher)->id;
    if (ingest_begin(ingest, type, request, &context, response) != 0)
        return;
    json_t *events = ingest_parse(&context, request, response);
    if (!events)
        return;
    count = json_is_array(events) ? json_array_size(events) : 0;
    if (ingest_batch_check_size(ingest, type, count, &context, request, response) != 0)
        goto out;
    if (context.publisher && ingest_limit(context.publisher, (int)count, request, response) != 0)
        goto out;
    prepared = calloc(count, sizeof *prepared);
    slots = calloc(count, sizeof *slots);
    batch.results = calloc(count, sizeof *batch.results);
    if (!prepared || !slots || !batch.results) {
        httpd_response_error(response, 503, "out_of_memory", NULL,
                             "the hub cannot take this batch now; send it again later");
        goto out;
    }
    /* All checked before any is produced: one bad event changes nothing. */
    for (ready = 0; ready < count; ready++) {
        char where[48];
        snprintf(where, sizeof where, "events[%zu].", ready);
        if (ingest_prepare(&context, json_array_get(events, ready), where, request,
                           &prepared[ready], response) != 0)
            goto out;
    }
    ingest_batch_produce(ingest, type, prepared, slots, &batch, count);
    ingest_batch_answer(type, prepared, &batch, count, &context, request, response);
out:
    for (size_t i = 0; prepared && i < ready; i++)
        free(prepared[i].value);
    free(prepared);
    free(slots);
    free(batch.results);
    json_decref(events);
}

static void ingest_handle(void *context, const struct httpd_request *request,
                          struct httpd_response *response)
{
    struct ingest *ingest = context;
    char batch_type[128];
    int batch = ingest_batch_type(request->path, batch_type, sizeof batch_type);
    const char *type = batch ? batch_type : ingest_event_type(request->path);
    if (type) {
        if (strcmp(request->method, "POST") != 0) {
            httpd_response_error(response, 405, "method_not_allowed", NULL,
                                 "events and batches are sent with POST");
            httpd_response_header(response, "Allow", "POST");
            return;
        }
        if (batch)
            ingest_handle_batch(ingest, type, request, response);
        else
            ingest_handle_event(ingest, type, request, response);
        /* The label is a declared topic or "other": a caller cannot mint series. */
        metrics_ingest(response->status == 404 ? "other" : type,
                       response->status == 202   ? "accepted"
                       : response->status >= 500 ? "unavailable"
                                                 : "rejected");
        return;
    }
    if (ingest_objections_handle(ingest, request, response))
        return;
    if (strcmp(request->path, "/healthz") == 0) {
        httpd_response_json(response, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    httpd_response_error(response, 404, "not_found", NULL,
                         "no such endpoint; events go to POST /v1/events/{type}, objections "
                         "to POST /v1/objections and POST /v1/objections/withdraw");
}

int ingest_new(const struct config *config, struct registry *registry, struct ingest **out,
               char *errstr, size_t errstr_size)
{
    struct ingest *ingest = calloc(1, sizeof *ingest);
    *out = NULL;
    if (!ingest) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    ingest->config = config;
    ingest->registry = registry;
    if (config->ingest.insecure_no_authentication) {
        log_error("DEVELOPMENT ONLY: ingest.insecure_no_authentication is true: anyone who can "
                  "reach %s may publish any event as any organisation",
                  config->ingest.listen);
    } else {
        if (publishers_new(config, clock_monotonic_ms(), &ingest->publishers, errstr,
                           errstr_size) != 0)
            goto fail;
        if (publishers_count(ingest->publishers) == 0) {
            snprintf(errstr, errstr_size,
                     "%s: no partner may publish: give the partners that send events an "
                     "ingest: section (docs/security.md), or for development only set "
                     "ingest.insecure_no_authentication: true",
                     config->path);
            goto fail;
        }
        log_info("publishing partners=%zu", publishers_count(ingest->publishers));
    }
    if (metrics_producer_new(config, "placehub-ingest", config->ingest.produce_timeout_ms,
                             PRODUCER_LINGER_ACK_MS, &ingest->producer, errstr, errstr_size) != 0 ||
        objection_write_topics_ensure(producer_handle(ingest->producer), config, 30000, errstr,
                                      errstr_size) != 0)
        goto fail;
    /* The larger limit at the door; one event's is checked by its handler. */
    long long body_limit = config->ingest.max_body_bytes > config->ingest.max_batch_bytes
                               ? config->ingest.max_body_bytes
                               : config->ingest.max_batch_bytes;
    ingest->httpd = httpd_new(config->ingest.listen, (size_t)body_limit, ingest_handle, ingest,
                              errstr, errstr_size);
    if (!ingest->httpd)
        goto fail;
    *out = ingest;
    return 0;
fail:
    producer_destroy(ingest->producer);
    publishers_destroy(ingest->publishers);
    free(ingest);
    return -1;
}

void ingest_destroy(struct ingest *ingest)
{
    if (!ingest)
        return;
    /* Stop taking requests first; requests in flight finish their waits. */
    httpd_destroy(ingest->httpd);
    producer_destroy(ingest->producer);
    publishers_destroy(ingest->publishers);
    free(ingest);
}

int ingest_port(const struct ingest *ingest)
{
    return httpd_port(ingest->httpd);
}
