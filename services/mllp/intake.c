/*
 * intake.c - one HL7 message in, events and an ACK out (see intake.h).
 *
 * IMPORTANT: AA is sent only after producer_send returned for the raw
 * message and then for the event, i.e. after the broker acknowledged both
 * (acks=all, idempotent producer). Every check (framing, parsing, mapping,
 * NHS number, schema) runs before anything is produced, so an AR leaves no
 * trace on any topic. An AE may leave the raw message without its event
 * (the broker went away between the two): the sender sends the message
 * again, which carries the same event id, and the raw topic then holds it
 * twice under that id.
 *
 * Logs carry event ids, triggers, topics and error positions; never the
 * message or any value from it.
 */
#include "intake.h"

#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "hl7/ack.h"
#include "hl7/adt.h"
#include "core/clock.h"
#include "schema/codec.h"
#include "schema/event.h"
#include "schema/framing.h"
#include "hl7/hl7.h"
#include "kafka/kafka.h"
#include "listener.h"
#include "net/metrics.h"
#include "core/log.h"
#include "kafka/producer.h"

struct intake {
    const struct config *config;
    struct registry *registry;
    struct producer *producer;
    struct listener *listener;
};

/* The ACK's own MSH-10: unique, and within v2.5's 20 characters. */
static void intake_control_id(char *out, size_t out_size)
{
    uuid_t raw;
    char text[37];
    uuid_generate_random(raw);
    uuid_unparse_lower(raw, text);
    size_t used = 0;
    for (const char *p = text; *p && used + 1 < out_size && used < 20; p++)
        if (*p != '-')
            out[used++] = *p;
    out[used] = '\0';
}

static char *intake_ack(const struct hl7_message *message, enum ack_code code, const char *text,
                        const struct adt_error *error, size_t *len)
{
    char control_id[24];
    intake_control_id(control_id, sizeof control_id);
    return ack_build(message, code, text, error, control_id, clock_wall_ms(), len);
}

static void intake_error(struct adt_error *error, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void intake_error(struct adt_error *error, int code, const char *fmt, ...)
{
    va_list args;
    memset(error, 0, sizeof *error);
    error->code = code;
    va_start(args, fmt);
    vsnprintf(error->reason, sizeof error->reason, fmt, args);
    va_end(args);
}

/* Encodes the event, keeps the raw message, produces the event. Returns
 * the ACK code, with *error filled for AE and AR. */
static enum ack_code intake_produce(struct intake *intake, const struct hl7_message *message,
                                    struct adt_result *result, struct adt_error *error)
{
    struct codec_error codec_error;
    char errstr[512], key[65];
    const struct catalogue_entry *writer = NULL;
    unsigned char *framed = NULL;
    size_t framed_len = 0;
    int schema_id = 0;
    enum ack_code code = ACK_ERROR;

    if (result->action == ADT_FORWARD) {
        if (registry_writer(intake->registry, result->topic, -1, &writer, &schema_id, errstr,
                            sizeof errstr) != 0) {
            log_error("schema registry error topic=%s: %s", result->topic, errstr);
            intake_error(error, ADT_ERROR_INTERNAL,
                         "the schema registry is unavailable; send the message again");
            goto out;
        }
        /* The mapping sets no schema_version: it is the writer's version. */
        if (event_prepare(result->event, writer->version, clock_wall_ms(), &codec_error) != 0 ||
            codec_encode(writer->schema, result->event, FRAMING_HEADER_SIZE, &framed, &framed_len,
                         &codec_error) != 0) {
            /* The mapping makes valid events; this is a value the schema
             * refuses (its path is named, never its value). */
            intake_error(error, ADT_ERROR_DATA_TYPE, "event field %s: %s", codec_error.field,
                         codec_error.message);
            code = ACK_REJECT;
            goto out;
        }
        framing_write_header(framed, schema_id);
    }
    if (event_person_key(result->event, key, sizeof key) != 0) {
        intake_error(error, ADT_ERROR_REQUIRED_FIELD, "no identifier for the person");
        code = ACK_REJECT;
        goto out;
    }

    /* The message as received, for auditors, before its event: an event on
     * its topic always has its raw message. */
    size_t raw_len;
    const char *raw = hl7_message_text(message, &raw_len);
    char *raw_copy = malloc(raw_len ? raw_len : 1);
    if (!raw_copy) {
        intake_error(error, ADT_ERROR_INTERNAL, "out of memory; send the message again");
        goto out;
    }
    memcpy(raw_copy, raw, raw_len);
    const char *event_topic = result->action == ADT_FORWARD ? result->topic : "";
    struct producer_header raw_headers[] = {
        {"event_id", result->event_id, strlen(result->event_id)},
        {"hl7_trigger", result->trigger, strlen(result->trigger)},
        {"event_topic", event_topic, strlen(event_topic)},
    };
    struct producer_result sent;
    if (producer_send(intake->producer, intake->config->mllp.raw_topic, key, strlen(key), raw_copy,
                      raw_len, raw_headers, 3, &sent) != 0) {
        log_warning("raw message not acknowledged event_id=%s topic=%s error=%s", result->event_id,
                    intake->config->mllp.raw_topic, rd_kafka_err2name(sent.err));
        intake_error(error, ADT_ERROR_INTERNAL,
                     "Kafka did not acknowledge the message (%s); send it again",
                     rd_kafka_err2name(sent.err));
        goto out;
    }
    if (result->action == ADT_FORWARD) {
        struct producer_header header = {"event_id", result->event_id, strlen(result->event_id)};
        unsigned char *value = framed;
        framed = NULL; /* producer_send takes it over */
        if (producer_send(intake->producer, result->topic, key, strlen(key), value, framed_len,
                          &header, 1, &sent) != 0) {
            log_warning("event not acknowledged event_id=%s topic=%s error=%s", result->event_id,
                        result->topic, rd_kafka_err2name(sent.err));
            intake_error(error, ADT_ERROR_INTERNAL,
                         "Kafka did not acknowledge the event (%s); send the message again",
                         rd_kafka_err2name(sent.err));
            goto out;
        }
        log_debug("event accepted event_id=%s trigger=%s topic=%s partition=%d offset=%lld",
                  result->event_id, result->trigger, result->topic, (int)sent.partition,
                  (long long)sent.offset);
    } else {
        log_debug("message kept event_id=%s trigger=%s (no event for this trigger)",
                  result->event_id, result->trigger);
    }
    code = ACK_ACCEPT;
out:
    free(framed);
    return code;
}

static char *intake_handle(void *context, const char *text, size_t len, const char *problem,
                           size_t *answer_len)
{
    struct intake *intake = context;
    struct hl7_message *message = NULL;
    struct hl7_error parse_error;
    struct adt_result result;
    struct adt_error error;
    char *answer = NULL;
    const struct hl7_limits limits = {(size_t)intake->config->mllp.max_message_bytes, 1000, 300};

    memset(&result, 0, sizeof result);
    if (problem) {
        intake_error(&error, ADT_ERROR_SEGMENT_SEQUENCE, "%s", problem);
        return intake_ack(NULL, ACK_REJECT, error.reason, &error, answer_len);
    }
    if (hl7_parse(text, len, &limits, &message, &parse_error) != 0) {
        intake_error(&error, ADT_ERROR_DATA_TYPE, "%s", parse_error.text);
        snprintf(error.segment, sizeof error.segment, "%s", parse_error.segment);
        error.field = parse_error.field;
        log_info("message rejected error=parse reason=\"%s\"", parse_error.text);
        /* The fault may lie past a sound MSH: answer in the sender's own
         * encoding, with its control id in MSA-2, which engines match on. */
        size_t msh_len = 0;
        while (msh_len < len && text[msh_len] != '\r' && text[msh_len] != '\n')
            msh_len++;
        struct hl7_message *header = NULL;
        struct hl7_error ignored;
        if (msh_len < len && hl7_parse(text, msh_len, &limits, &header, &ignored) != 0)
            header = NULL;
        answer = intake_ack(header, ACK_REJECT, error.reason, &error, answer_len);
        hl7_message_destroy(header);
        metrics_mllp("rejected");
        return answer;
    }
    adt_map(intake->config, message, &result);
    if (result.action == ADT_REJECT) {
        log_info("message rejected event_id=%s trigger=%s code=%d reason=\"%s\"",
                 result.event_id[0] ? result.event_id : "-",
                 result.trigger[0] ? result.trigger : "-", result.error.code, result.error.reason);
        answer = intake_ack(message, ACK_REJECT, result.error.reason, &result.error, answer_len);
        metrics_mllp("rejected");
        goto out;
    }
    enum ack_code code = intake_produce(intake, message, &result, &error);
    metrics_mllp(code == ACK_ACCEPT ? "accepted" : code == ACK_REJECT ? "rejected" : "error");
    if (code == ACK_ACCEPT) {
        char text_out[128];
        if (result.action == ADT_FORWARD)
            snprintf(text_out, sizeof text_out, "event_id %s on %s", result.event_id, result.topic);
        else
            snprintf(text_out, sizeof text_out,
                     "%s kept on the raw topic; placehub has no event for it", result.trigger);
        answer = intake_ack(message, ACK_ACCEPT, text_out, NULL, answer_len);
    } else {
        if (code == ACK_REJECT)
            log_info("message rejected event_id=%s trigger=%s code=%d reason=\"%s\"",
                     result.event_id, result.trigger, error.code, error.reason);
        answer = intake_ack(message, code, error.reason, &error, answer_len);
    }
out:
    adt_result_release(&result);
    hl7_message_destroy(message);
    return answer;
}

int intake_new(const struct config *config, struct registry *registry, struct intake **out,
               char *errstr, size_t errstr_size)
{
    struct intake *intake = calloc(1, sizeof *intake);
    *out = NULL;
    if (!intake) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    intake->config = config;
    intake->registry = registry;
    if (!config_topic_find(config, config->mllp.raw_topic)) {
        snprintf(errstr, errstr_size,
                 "%s: mllp.raw_topic '%s' is not declared under topics: declare it with "
                 "retention_ms: -1 (it keeps every HL7 message received, for audit)",
                 config->path, config->mllp.raw_topic);
        goto fail;
    }
    if (metrics_producer_new(config, "placehub-mllp", config->mllp.produce_timeout_ms,
                             PRODUCER_LINGER_ACK_MS, &intake->producer, errstr, errstr_size) != 0 ||
        kafka_topics_ensure(producer_handle(intake->producer), config, 30000, errstr,
                            errstr_size) != 0)
        goto fail;
    metrics_mllp_start();
    struct listener_settings settings = {
        config->mllp.listen, (size_t)config->mllp.max_message_bytes, config->mllp.read_timeout_ms,
        config->mllp.max_connections};
    intake->listener = listener_new(&settings, intake_handle, intake, errstr, errstr_size);
    if (!intake->listener)
        goto fail;
    *out = intake;
    return 0;
fail:
    producer_destroy(intake->producer);
    free(intake);
    return -1;
}

void intake_destroy(struct intake *intake)
{
    if (!intake)
        return;
    listener_destroy(intake->listener);
    producer_destroy(intake->producer);
    free(intake);
}

int intake_port(const struct intake *intake)
{
    return listener_port(intake->listener);
}
