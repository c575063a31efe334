/*
 * ingest.c - the HTTP intake of placehub (see ingest.h).
 *
 * IMPORTANT: a request is acknowledged (202) only once the delivery report
 * for its message says the broker has it. The HTTP handler thread waits on
 * the request's own condition variable; the delivery report, run by the
 * poller thread, wakes it. librdkafka guarantees one delivery report per
 * message within message.timeout.ms, so the wait always ends.
 *
 * Nothing is produced for a rejected request: every check (JSON syntax,
 * schema, NHS number) runs before rd_kafka_producev.
 */
#include "ingest.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "event.h"
#include "framing.h"
#include "httpd.h"
#include "kafka.h"
#include "log.h"

struct ingest {
    const struct config *config;
    struct registry *registry;
    rd_kafka_t *producer;
    pthread_t poller;
    atomic_int stopping;
    struct httpd *httpd;
};

/* One produced message awaiting its delivery report. Lives on the stack of
 * the handler thread, which cannot return before `done` is set. */
struct ingest_waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

static void ingest_delivered(rd_kafka_t *producer, const rd_kafka_message_t *message, void *opaque)
{
    (void)producer;
    (void)opaque;
    struct ingest_waiter *waiter = message->_private;
    if (!waiter)
        return;
    pthread_mutex_lock(&waiter->lock);
    waiter->err = message->err;
    waiter->partition = message->partition;
    waiter->offset = message->offset;
    waiter->done = 1;
    pthread_cond_signal(&waiter->cond);
    pthread_mutex_unlock(&waiter->lock);
}

static void *ingest_poll(void *arg)
{
    struct ingest *ingest = arg;
    while (!atomic_load(&ingest->stopping))
        rd_kafka_poll(ingest->producer, 100);
    return NULL;
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

    struct ingest_waiter waiter = {.done = 0};
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.cond, NULL);
    /* The event id travels as a header too, so tools can find an event
     * without decoding it. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        ingest->producer, RD_KAFKA_V_TOPIC(type), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(framed, framed_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADER("event_id", id, -1), RD_KAFKA_V_OPAQUE(&waiter), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not enqueued: the buffer is still ours. */
        httpd_response_error(response, 503, "kafka_unavailable", NULL,
                             "the event was not written (%s); retry with the same event_id",
                             rd_kafka_err2str(err));
        httpd_response_header(response, "Retry-After", "1");
        log_warning("produce refused event_id=%s topic=%s error=%s", id, type,
                    rd_kafka_err2name(err));
        goto waited;
    }
    framed = NULL; /* librdkafka frees it */
    pthread_mutex_lock(&waiter.lock);
    while (!waiter.done)
        pthread_cond_wait(&waiter.cond, &waiter.lock);
    pthread_mutex_unlock(&waiter.lock);

    if (waiter.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        json_t *body =
            json_pack("{s:{s:s,s:s},s:s}", "error", "code", "kafka_unavailable", "message",
                      "the broker did not acknowledge the event; retry with the same "
                      "event_id",
                      "event_id", id);
        httpd_response_json(response, 503, body);
        httpd_response_header(response, "Retry-After", "1");
        log_warning("event not acknowledged event_id=%s topic=%s error=%s", id, type,
                    rd_kafka_err2name(waiter.err));
    } else {
        httpd_response_json(response, 202,
                            json_pack("{s:s,s:s,s:i,s:I}", "event_id", id, "topic", type,
                                      "partition", (int)waiter.partition, "offset",
                                      (json_int_t)waiter.offset));
        log_debug("event accepted event_id=%s topic=%s partition=%d offset=%lld", id, type,
                  (int)waiter.partition, (long long)waiter.offset);
    }
waited:
    pthread_cond_destroy(&waiter.cond);
    pthread_mutex_destroy(&waiter.lock);
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
    char timeout[32];
    struct ingest *ingest = calloc(1, sizeof *ingest);
    *out = NULL;
    if (!ingest) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    ingest->config = config;
    ingest->registry = registry;
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    if (!conf)
        goto fail;
    snprintf(timeout, sizeof timeout, "%d", config->ingest.produce_timeout_ms);
    /* Idempotence implies acks=all and ordered, deduplicated retries: a
     * retried batch cannot land twice or out of order. */
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "linger.ms", "2", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "client.id", "placehub-ingest", errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, ingest_delivered);
    ingest->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!ingest->producer) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (kafka_topics_ensure(ingest->producer, config, 30000, errstr, errstr_size) != 0)
        goto fail;
    if (pthread_create(&ingest->poller, NULL, ingest_poll, ingest) != 0) {
        snprintf(errstr, errstr_size, "cannot start the delivery report thread");
        goto fail;
    }
    ingest->httpd = httpd_new(config->ingest.listen, (size_t)config->ingest.max_body_bytes,
                              ingest_handle, ingest, errstr, errstr_size);
    if (!ingest->httpd) {
        atomic_store(&ingest->stopping, 1);
        pthread_join(ingest->poller, NULL);
        goto fail;
    }
    *out = ingest;
    return 0;
fail:
    if (ingest->producer)
        rd_kafka_destroy(ingest->producer);
    free(ingest);
    return -1;
}

void ingest_destroy(struct ingest *ingest)
{
    if (!ingest)
        return;
    /* Handlers still waiting need the poller to get their reports. */
    httpd_destroy(ingest->httpd);
    rd_kafka_flush(ingest->producer, ingest->config->ingest.produce_timeout_ms + 1000);
    atomic_store(&ingest->stopping, 1);
    pthread_join(ingest->poller, NULL);
    rd_kafka_destroy(ingest->producer);
    free(ingest);
}

int ingest_port(const struct ingest *ingest)
{
    return httpd_port(ingest->httpd);
}
