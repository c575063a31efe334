/*
 * ingest.c - the HTTP intake of placehub (see ingest.h).
 *
 * IMPORTANT: a request is acknowledged (202) only once the delivery report
 * for its message says the broker has it: the HTTP handler thread blocks in
 * producer_send (lib/producer.c) until then, or until the send failed (503).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "codec.h"
#include "event.h"
#include "framing.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"
#include "producer.h"
#include "publisher.h"

struct ingest {
    const struct config *config;
    struct registry *registry;
    struct producer *producer;
    struct httpd *httpd;
    struct publishers *publishers; /* NULL only with ingest.insecure_no_authentication */
};

static int64_t ingest_monotonic_millis(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int64_t ingest_now_millis(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

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
static struct publisher *ingest_authenticate(struct ingest *ingest,
                                             const struct httpd_request *request,
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

/* Authentication, then the partner's rate limit and its right to send this
 * type. Returns the publisher (NULL when authentication is off), or sets
 * *refused with *response filled. */
static struct publisher *ingest_admit(struct ingest *ingest, const char *type,
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
    int64_t wait_ms = publisher_take(publisher, ingest_monotonic_millis());
    if (wait_ms > 0) {
        char seconds[32];
        snprintf(seconds, sizeof seconds, "%lld", (long long)((wait_ms + 999) / 1000));
        httpd_response_error(response, 429, "rate_limited", NULL,
                             "partner %s sends more than its rate limit (%.0f events a second, "
                             "bursts of %d); retry after %s s",
                             partner_id, publisher_partner(publisher)->ingest->events_per_second,
                             publisher_partner(publisher)->ingest->burst, seconds);
        httpd_response_header(response, "Retry-After", seconds);
        log_info("event rejected request_id=%s partner=%s status=429 error=rate_limited",
                 request->request_id, partner_id);
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

static void ingest_handle_event(struct ingest *ingest, const char *type,
                                const struct httpd_request *request,
                                struct httpd_response *response)
{
    json_error_t json_error;
    struct codec_error error;
    char errstr[512];
    const struct codec_schema *schema = NULL;
    unsigned char *framed = NULL;
    size_t framed_len = 0;
    int schema_id = 0;
    int refused = 0;

    struct publisher *publisher = ingest_admit(ingest, type, request, response, &refused);
    if (refused)
        return;
    const char *partner_id = publisher ? publisher_partner(publisher)->id : "-";
    if (!config_topic_find(ingest->config, type) ||
        !catalogue_latest_for_topic(registry_catalogue(ingest->registry), type)) {
        ingest_unknown_type(ingest, type, response);
        return;
    }
    const char *content_type = httpd_request_header(request, "Content-Type");
    if (content_type && strncmp(content_type, "application/json", 16) != 0) {
        httpd_response_error(response, 415, "unsupported_media_type", NULL,
                             "send the event as application/json");
        return;
    }
    json_t *event =
        json_loadb(request->body, request->body_len, JSON_REJECT_DUPLICATES, &json_error);
    if (!event) {
        httpd_response_error(response, 400, "malformed_json", NULL,
                             "the body is not valid JSON: line %d, column %d (byte %d): %s",
                             json_error.line, json_error.column, json_error.position,
                             json_error.text);
        log_info("event rejected request_id=%s partner=%s type=%s status=400 "
                 "error=malformed_json",
                 request->request_id, partner_id, type);
        return;
    }
    if (registry_writer(ingest->registry, type, &schema_id, &schema, errstr, sizeof errstr) != 0) {
        httpd_response_error(response, 503, "schema_registry_unavailable", NULL,
                             "cannot get the schema id for %s; try again later", type);
        log_error("schema registry error type=%s: %s", type, errstr);
        goto out;
    }
    const struct catalogue_entry *entry =
        catalogue_latest_for_topic(registry_catalogue(ingest->registry), type);
    if (event_prepare(event, entry->version, ingest_now_millis(), &error) != 0 ||
        codec_encode(schema, event, FRAMING_HEADER_SIZE, &framed, &framed_len, &error) != 0) {
        httpd_response_error(response, 422, "invalid_event", error.field[0] ? error.field : NULL,
                             "%s%s%s", error.field, error.field[0] ? " " : "", error.message);
        log_info("event rejected request_id=%s partner=%s type=%s status=422 "
                 "error=invalid_event field=%.128s",
                 request->request_id, partner_id, type, error.field);
        goto out;
    }
    /* "As itself": the organisation named must be one the partner speaks
     * for. Checked after the schema, so source_ods_code is a string. */
    const char *source = json_string_value(json_object_get(event, "source_ods_code"));
    if (publisher && !publisher_may_send_as(publisher, source)) {
        httpd_response_error(response, 403, "source_not_allowed", "source_ods_code",
                             "partner %s may not send events as organisation '%.16s' (its "
                             "ingest.source_ods_codes does not list it)",
                             partner_id, source ? source : "");
        log_info("event rejected request_id=%s partner=%s type=%s status=403 "
                 "error=source_not_allowed",
                 request->request_id, partner_id, type);
        goto out;
    }
    framing_write_header(framed, schema_id);

    char key[65];
    event_person_key(event, key, sizeof key);
    const char *id = event_id(event);

    /* The event id travels as a header too, so tools can find an event
     * without decoding it. */
    struct producer_header header = {"event_id", id, strlen(id)};
    struct producer_result result;
    unsigned char *value = framed;
    framed = NULL; /* producer_send takes it over */
    if (producer_send(ingest->producer, type, key, strlen(key), value, framed_len, &header, 1,
                      &result) != 0) {
        json_t *body =
            json_pack("{s:{s:s,s:s},s:s}", "error", "code", "kafka_unavailable", "message",
                      "the broker did not acknowledge the event; retry with the same "
                      "event_id",
                      "event_id", id);
        httpd_response_json(response, 503, body);
        httpd_response_header(response, "Retry-After", "1");
        log_warning("event not acknowledged request_id=%s partner=%s event_id=%s topic=%s "
                    "error=%s",
                    request->request_id, partner_id, id, type, rd_kafka_err2name(result.err));
    } else {
        httpd_response_json(response, 202,
                            json_pack("{s:s,s:s,s:i,s:I}", "event_id", id, "topic", type,
                                      "partition", (int)result.partition, "offset",
                                      (json_int_t)result.offset));
        log_debug("event accepted request_id=%s partner=%s event_id=%s topic=%s partition=%d "
                  "offset=%lld",
                  request->request_id, partner_id, id, type, (int)result.partition,
                  (long long)result.offset);
    }
out:
    free(framed);
    json_decref(event);
}

static void ingest_handle(void *context, const struct httpd_request *request,
                          struct httpd_response *response)
{
    struct ingest *ingest = context;
    const char *type = ingest_event_type(request->path);
    if (type) {
        if (strcmp(request->method, "POST") != 0) {
            httpd_response_error(response, 405, "method_not_allowed", NULL,
                                 "events are sent with POST");
            httpd_response_header(response, "Allow", "POST");
            return;
        }
        ingest_handle_event(ingest, type, request, response);
        return;
    }
    if (strcmp(request->path, "/healthz") == 0) {
        httpd_response_json(response, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    httpd_response_error(response, 404, "not_found", NULL,
                         "no such endpoint; events go to POST /v1/events/{type}");
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
        if (publishers_new(config, ingest_monotonic_millis(), &ingest->publishers, errstr,
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
    if (producer_new(config, "placehub-ingest", config->ingest.produce_timeout_ms,
                     &ingest->producer, errstr, errstr_size) != 0 ||
        kafka_topics_ensure(producer_handle(ingest->producer), config, 30000, errstr,
                            errstr_size) != 0)
        goto fail;
    ingest->httpd = httpd_new(config->ingest.listen, (size_t)config->ingest.max_body_bytes,
                              ingest_handle, ingest, errstr, errstr_size);
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
