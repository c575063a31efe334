/*
 * dispatch.c - one consumer thread per partner (see dispatch.h).
 *
 * Each partner's thread polls its own consumer, so a slow or failing partner
 * holds back only its own progress: its lag grows, other partners go on.
 * Events of one partner are handled one at a time in partition order, which
 * keeps one person's events of a topic in order (they share a partition by
 * key; across topics Kafka promises no order).
 */
#include "dispatch.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "connector.h"
#include "framing.h"
#include "kafka.h"
#include "log.h"
#include "transfer.h"

struct dispatch_partner {
    struct dispatch *dispatch;
    const struct config_partner *config;
    const struct placehub_connector_type *type;
    void *instance;
    struct placehub_options options;
    struct transfer_settings settings;
    CURL *easy; /* reused: keeps the connection to the partner alive */
    rd_kafka_t *consumer;
    pthread_t thread;
    int started;
};

struct dispatch {
    const struct config *config;
    struct registry *registry;
    atomic_int stopping;
    struct dispatch_partner *partners;
    size_t partner_count;
};

static const char *dispatch_option(const struct placehub_options *options, const char *key)
{
    return config_partner_option(options->opaque, key);
}

/* Sleeps up to millis, waking early when the dispatch stops. */
static void dispatch_pause(struct dispatch *dispatch, int millis)
{
    while (millis > 0 && !atomic_load(&dispatch->stopping)) {
        int step = millis < 100 ? millis : 100;
        struct timespec pause = {0, (long)step * 1000000L};
        nanosleep(&pause, NULL);
        millis -= step;
    }
}

/* Decodes a framed message into compact plain JSON (caller frees). NULL with
 * errstr when the message cannot be read. */
static char *dispatch_decode(struct dispatch *dispatch, const rd_kafka_message_t *message,
                             char *errstr, size_t errstr_size)
{
    int32_t schema_id;
    const unsigned char *payload;
    size_t payload_len;
    const struct codec_schema *schema;
    struct codec_error error;
    json_t *event = NULL;
    if (framing_parse(message->payload, message->len, &schema_id, &payload, &payload_len, errstr,
                      errstr_size) != 0 ||
        registry_reader(dispatch->registry, schema_id, &schema, errstr, errstr_size) != 0)
        return NULL;
    if (codec_decode(schema, payload, payload_len, &event, &error) != 0) {
        snprintf(errstr, errstr_size, "schema %d: %s %s", (int)schema_id, error.field,
                 error.message);
        return NULL;
    }
    char *body = json_dumps(event, JSON_COMPACT);
    json_decref(event);
    if (!body)
        snprintf(errstr, errstr_size, "out of memory");
    return body;
}

/* The event id from the message header set by ingest, else from the body. */
static void dispatch_event_id(const rd_kafka_message_t *message, const char *body, char *id,
                              size_t id_size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;
    snprintf(id, id_size, "unknown");
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, "event_id", &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        size < id_size) {
        snprintf(id, id_size, "%.*s", (int)size, (const char *)value);
        return;
    }
    json_t *event = body ? json_loads(body, 0, NULL) : NULL;
    const char *from_body = json_string_value(json_object_get(event, "event_id"));
    if (from_body)
        snprintf(id, id_size, "%s", from_body);
    json_decref(event);
}

static void dispatch_store_offset(struct dispatch_partner *partner,
                                  const rd_kafka_message_t *message)
{
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(offsets, rd_kafka_topic_name(message->rkt),
                                      message->partition)
        ->offset = message->offset + 1;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(partner->consumer, offsets);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
        /* The partition was taken away by a rebalance: its new owner will
         * deliver the event again (same event id); nothing is lost. */
        log_warning("offset not stored partner=%s topic=%s partition=%d error=%s",
                    partner->config->id, rd_kafka_topic_name(message->rkt), (int)message->partition,
                    rd_kafka_err2name(err));
    rd_kafka_topic_partition_list_destroy(offsets);
}

/* One attempt: the connector prepares, the host performs, the connector (or
 * the host's rule) judges. */
static void dispatch_attempt(struct dispatch_partner *partner,
                             const struct placehub_delivery *delivery,
                             struct placehub_outcome *outcome, long *retry_after_ms)
{
    struct placehub_request request;
    struct placehub_response response;
    struct transfer transfer;
    char errstr[256];
    memset(&request, 0, sizeof request);
    memset(&transfer, 0, sizeof transfer);
    *retry_after_ms = 0;
    if (partner->type->prepare(partner->instance, delivery, &request, errstr, sizeof errstr) != 0) {
        outcome->result = PLACEHUB_REJECTED;
        snprintf(outcome->reason, sizeof outcome->reason, "connector: %s", errstr);
        return;
    }
    if (transfer_setup(&transfer, partner->easy, &partner->settings, delivery, &request, NULL,
                       errstr, sizeof errstr) != 0) {
        outcome->result = PLACEHUB_REJECTED;
        snprintf(outcome->reason, sizeof outcome->reason, "%s", errstr);
    } else {
        CURLcode code = curl_easy_perform(partner->easy);
        transfer_finish(&transfer, code, &response, outcome, retry_after_ms);
        if (partner->type->classify)
            partner->type->classify(partner->instance, delivery, &response, outcome);
    }
    transfer_cleanup(&transfer);
    if (partner->type->release)
        partner->type->release(partner->instance, &request);
}

/* Delivers one message, retrying until delivered or the dispatch stops. */
static void dispatch_handle(struct dispatch_partner *partner, const rd_kafka_message_t *message)
{
    struct dispatch *dispatch = partner->dispatch;
    const char *topic = rd_kafka_topic_name(message->rkt);
    char errstr[512], id[64];
    int backoff = dispatch->config->dispatch.retry_backoff_ms;
    const int backoff_max = dispatch->config->dispatch.retry_backoff_max_ms;

    char *body = dispatch_decode(dispatch, message, errstr, sizeof errstr);
    while (!body && !atomic_load(&dispatch->stopping)) {
        /* Not readable (unknown schema id, registry down, corrupt bytes):
         * hold the partition rather than skip the event. Dead-lettering
         * unreadable events comes with the delivery work. */
        log_error("cannot decode partner=%s topic=%s partition=%d offset=%lld: %s",
                  partner->config->id, topic, (int)message->partition, (long long)message->offset,
                  errstr);
        dispatch_pause(dispatch, backoff_max);
        body = dispatch_decode(dispatch, message, errstr, sizeof errstr);
    }
    if (!body)
        return;
    dispatch_event_id(message, body, id, sizeof id);

    struct placehub_delivery delivery = {
        .partner_id = partner->config->id,
        .event_id = id,
        .event_type = topic,
        .body = body,
        .body_len = strlen(body),
        .attempt = 1,
    };
    for (;; delivery.attempt++) {
        struct placehub_outcome outcome;
        long retry_after_ms = 0;
        dispatch_attempt(partner, &delivery, &outcome, &retry_after_ms);
        if (outcome.result == PLACEHUB_DELIVERED) {
            dispatch_store_offset(partner, message);
            log_debug("delivered partner=%s event_id=%s topic=%s attempts=%d", partner->config->id,
                      id, topic, delivery.attempt);
            break;
        }
        log_warning("delivery failed partner=%s event_id=%s topic=%s attempt=%d result=%s "
                    "reason=%.128s; retrying",
                    partner->config->id, id, topic, delivery.attempt,
                    outcome.result == PLACEHUB_RETRY ? "retry" : "rejected", outcome.reason);
        if (atomic_load(&dispatch->stopping))
            break; /* offset not stored: the event is delivered after a restart */
        int wait = retry_after_ms > backoff ? (int)retry_after_ms : backoff;
        dispatch_pause(dispatch, wait);
        if (atomic_load(&dispatch->stopping))
            break;
        backoff = backoff * 2 > backoff_max ? backoff_max : backoff * 2;
    }
    free(body);
}

static void *dispatch_run(void *arg)
{
    struct dispatch_partner *partner = arg;
    struct dispatch *dispatch = partner->dispatch;
    while (!atomic_load(&dispatch->stopping)) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(partner->consumer, 100);
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR)
            dispatch_handle(partner, message);
        else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warning("consumer partner=%s error=%s: %s", partner->config->id,
                        rd_kafka_err2name(message->err), rd_kafka_message_errstr(message));
        rd_kafka_message_destroy(message);
    }
    return NULL;
}

static int dispatch_partner_start(struct dispatch *dispatch, struct dispatch_partner *partner,
                                  char *errstr, size_t errstr_size)
{
    const struct config_partner *config = partner->config;
    char group[256];
    char message[512];
    partner->type = connector_find(config->connector, message, sizeof message);
    if (!partner->type) {
        snprintf(errstr, errstr_size, "%s:%d: partner %s: %s", dispatch->config->path, config->line,
                 config->id, message);
        return -1;
    }
    partner->options.opaque = config;
    partner->options.get = dispatch_option;
    if (transfer_settings_load(config->id, &partner->options, &partner->settings, errstr,
                               errstr_size) != 0)
        return -1;
    partner->easy = curl_easy_init();
    if (!partner->easy) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (partner->type->create(connector_host(), config->id, &partner->options, &partner->instance,
                              errstr, errstr_size) != 0)
        return -1;

    rd_kafka_conf_t *conf = kafka_conf_new(dispatch->config, errstr, errstr_size);
    if (!conf)
        return -1;
    snprintf(group, sizeof group, "%s.%s", dispatch->config->dispatch.group_prefix, config->id);
    if (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "client.id", group, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "auto.commit.interval.ms", "1000", errstr, errstr_size) != 0 ||
        /* A new partner starts from the oldest retained event. */
        kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != 0 ||
        /* A partner retrying one event for a long time must not be
         * thrown out of its group. */
        kafka_conf_set(conf, "max.poll.interval.ms", "86400000", errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    partner->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!partner->consumer) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(partner->consumer);
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)config->topic_count);
    for (size_t i = 0; i < config->topic_count; i++)
        rd_kafka_topic_partition_list_add(topics, config->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(partner->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "partner %s: subscribe: %s", config->id,
                 rd_kafka_err2str(err));
        return -1;
    }
    if (pthread_create(&partner->thread, NULL, dispatch_run, partner) != 0) {
        snprintf(errstr, errstr_size, "partner %s: cannot start a thread", config->id);
        return -1;
    }
    partner->started = 1;
    log_info("partner started partner=%s group=%s connector=%s topics=%zu", config->id, group,
             config->connector, config->topic_count);
    return 0;
}

int dispatch_new(const struct config *config, struct registry *registry, struct dispatch **out,
                 char *errstr, size_t errstr_size)
{
    struct dispatch *dispatch = calloc(1, sizeof *dispatch);
    *out = NULL;
    if (!dispatch) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    dispatch->config = config;
    dispatch->registry = registry;
    if (config->partner_count == 0) {
        snprintf(errstr, errstr_size, "%s: no partners configured: nothing to dispatch to",
                 config->path);
        free(dispatch);
        return -1;
    }
    dispatch->partners = calloc(config->partner_count, sizeof *dispatch->partners);
    if (!dispatch->partners) {
        free(dispatch);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    dispatch->partner_count = config->partner_count;
    for (size_t i = 0; i < config->partner_count; i++) {
        dispatch->partners[i].dispatch = dispatch;
        dispatch->partners[i].config = &config->partners[i];
    }
    for (size_t i = 0; i < config->partner_count; i++)
        if (dispatch_partner_start(dispatch, &dispatch->partners[i], errstr, errstr_size) != 0) {
            dispatch_destroy(dispatch);
            return -1;
        }
    *out = dispatch;
    return 0;
}

void dispatch_destroy(struct dispatch *dispatch)
{
    if (!dispatch)
        return;
    atomic_store(&dispatch->stopping, 1);
    for (size_t i = 0; i < dispatch->partner_count; i++) {
        struct dispatch_partner *partner = &dispatch->partners[i];
        if (partner->started)
            pthread_join(partner->thread, NULL);
        if (partner->consumer) {
            /* Commits the offsets stored so far. */
            rd_kafka_consumer_close(partner->consumer);
            rd_kafka_destroy(partner->consumer);
        }
        if (partner->instance)
            partner->type->destroy(partner->instance);
        if (partner->easy)
            curl_easy_cleanup(partner->easy);
        transfer_settings_free(&partner->settings);
    }
    free(dispatch->partners);
    free(dispatch);
}
