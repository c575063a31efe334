/*
 * ingest.c - the HTTP intake of placehub (see ingest.h).
 *
 * IMPORTANT: a request is acknowledged (202) only once the delivery report
 * for its message says the broker has it: the HTTP handler thread blocks in
 * producer_send (lib/producer.c) until then, or until the send failed (503).
 *
 * Nothing is produced for a rejected request: every check (JSON syntax,
 * schema, NHS number) runs before rd_kafka_producev.
 */
#include "ingest.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "event.h"
#include "framing.h"
#include "httpd.h"
#include "kafka.h"
#include "metrics.h"
#include "log.h"
#include "producer.h"

struct ingest {
    const struct config *config;
    struct registry *registry;
    struct producer *producer;
    struct httpd *httpd;
};

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
        log_info("event rejected type=%s status=400 error=malformed_json", type);
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
        log_info("event rejected type=%s status=422 error=invalid_event field=%.128s", type,
                 error.field);
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
        log_warning("event not acknowledged event_id=%s topic=%s error=%s", id, type,
                    rd_kafka_err2name(result.err));
    } else {
        httpd_response_json(response, 202,
                            json_pack("{s:s,s:s,s:i,s:I}", "event_id", id, "topic", type,
                                      "partition", (int)result.partition, "offset",
                                      (json_int_t)result.offset));
        log_debug("event accepted event_id=%s topic=%s partition=%d offset=%lld", id, type,
                  (int)result.partition, (long long)result.offset);
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
        /* The label is a declared topic or "other": a caller cannot mint series. */
        metrics_ingest(response->status == 404 ? "other" : type,
                       response->status == 202   ? "accepted"
                       : response->status >= 500 ? "unavailable"
                                                 : "rejected");
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
    free(ingest);
}

int ingest_port(const struct ingest *ingest)
{
    return httpd_port(ingest->httpd);
}
