/*
 * record.c - dead letters, delivery receipts and suppression records (see
 * record.h).
 *
 * A dead letter keeps the original message bytes and key, so it can be sent
 * again to its partner as it was (placehub-ctl dlq redrive); everything
 * about the failure travels in headers named placehub.*. A receipt is a
 * small JSON document per final outcome: partner, event, outcome, status,
 * attempts, latency, and what was disclosed (agreement, field paths, person
 * reference). A suppression record says which event an agreement kept from
 * which partner, and why. None carries personal data beyond what the
 * original event holds (field names, never values; the person reference is
 * the keyed hash already used as the Kafka key); the partner's response is
 * redacted before it is kept.
 */
#include "record.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

void record_redact(const char *text, size_t len, char *out, size_t out_size)
{
    size_t used = 0;
    for (size_t i = 0; i < len && used + 1 < out_size;) {
        size_t run = 0;
        while (i + run < len && isdigit((unsigned char)text[i + run]))
            run++;
        if (run >= 6) {
            for (size_t k = 0; k < run && used + 1 < out_size; k++)
                out[used++] = '#';
            i += run;
            continue;
        }
        if (run > 0) {
            for (size_t k = 0; k < run && used + 1 < out_size; k++)
                out[used++] = text[i + k];
            i += run;
            continue;
        }
        unsigned char c = (unsigned char)text[i++];
        out[used++] = c < 0x20 || c == 0x7f ? '.' : (char)c;
    }
    if (out_size)
        out[used] = '\0';
}

/* The message's Kafka key (the keyed hash of the person, lib/event.h) as a
 * JSON string, or null. */
static json_t *record_person_ref(const rd_kafka_message_t *message)
{
    if (!message->key || message->key_len == 0)
        return json_null();
    json_t *ref = json_stringn(message->key, message->key_len);
    return ref ? ref : json_null();
}

static json_t *record_nullable(const char *text)
{
    return text ? json_string(text) : json_null();
}

/* Dumps record (stolen) as compact text. */
static char *record_dump(json_t *record, size_t *len)
{
    if (!record)
        return NULL;
    char *text = json_dumps(record, JSON_COMPACT);
    json_decref(record);
    if (text)
        *len = strlen(text);
    return text;
}

char *record_receipt(const struct record_outcome *outcome, size_t *len)
{
    char completed[48];
    codec_timestamp_format(outcome->completed_ms, completed, sizeof completed);
    const rd_kafka_message_t *message = outcome->message;
    json_t *receipt = json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:s,s:i,s:i,s:I,s:s}", "record", "delivery", "partner",
        outcome->partner_id, "event_id", outcome->event_id, "event_type",
        rd_kafka_topic_name(message->rkt), "source", "topic", rd_kafka_topic_name(message->rkt),
        "partition", (int)message->partition, "offset", (json_int_t)message->offset, "outcome",
        outcome->delivered ? "delivered" : "dead_lettered", "status", outcome->status, "attempts",
        outcome->attempts, "latency_ms", (json_int_t)outcome->latency_ms, "completed_at",
        completed);
    if (!receipt)
        return NULL;
    if (!outcome->delivered && outcome->reason)
        json_object_set_new(receipt, "reason", json_string(outcome->reason));
    /* The disclosure: under which agreement, which fields, about whom. */
    json_object_set_new(receipt, "person_ref", record_person_ref(message));
    json_object_set_new(receipt, "agreement", record_nullable(outcome->agreement_id));
    json_object_set_new(receipt, "fields",
                        outcome->fields ? json_deep_copy(outcome->fields) : json_array());
    json_object_set_new(receipt, "pseudonymised", json_boolean(outcome->pseudonymised));
    return record_dump(receipt, len);
}

char *record_suppression(const struct record_suppression *suppression, size_t *len)
{
    char at[48];
    codec_timestamp_format(suppression->at_ms, at, sizeof at);
    const rd_kafka_message_t *message = suppression->message;
    json_t *record = json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:o,s:o,s:s,s:s,s:s}", "record", "suppression", "partner",
        suppression->partner_id, "event_id", suppression->event_id, "event_type",
        rd_kafka_topic_name(message->rkt), "source", "topic", rd_kafka_topic_name(message->rkt),
        "partition", (int)message->partition, "offset", (json_int_t)message->offset, "person_ref",
        record_person_ref(message), "agreement", record_nullable(suppression->agreement_id),
        "reason", suppression->reason, "detail", suppression->detail ? suppression->detail : "",
        "at", at);
    if (record && suppression->cancels_event_id)
        json_object_set_new(record, "cancels_event_id", json_string(suppression->cancels_event_id));
    return record_dump(record, len);
}

/* Appends a NUL-terminated value to storage and returns it. */
static const char *record_store(char **cursor, size_t *left, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *record_store(char **cursor, size_t *left, const char *fmt, ...)
{
    const char *start = *cursor;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(*cursor, *left, fmt, args);
    va_end(args);
    size_t used = n < 0 ? 0 : (size_t)n + 1 > *left ? *left : (size_t)n + 1;
    *cursor += used;
    *left -= used;
    return start;
}

size_t record_dead_letter_headers(const struct record_outcome *outcome,
                                  struct producer_header *headers, char *storage,
                                  size_t storage_size)
{
    char *cursor = storage;
    size_t left = storage_size;
    const rd_kafka_message_t *message = outcome->message;
    char completed[48];
    codec_timestamp_format(outcome->completed_ms, completed, sizeof completed);
    const char *values[RECORD_DEAD_LETTER_HEADERS] = {
        record_store(&cursor, &left, "%s", outcome->partner_id),
        record_store(&cursor, &left, "%s", outcome->event_id),
        record_store(&cursor, &left, "%s", rd_kafka_topic_name(message->rkt)),
        record_store(&cursor, &left, "%d", (int)message->partition),
        record_store(&cursor, &left, "%lld", (long long)message->offset),
        record_store(&cursor, &left, "%.240s", outcome->reason ? outcome->reason : ""),
        record_store(&cursor, &left, "%d", outcome->status),
        record_store(&cursor, &left, "%d", outcome->attempts),
        record_store(&cursor, &left, "%s",
                     outcome->response_excerpt ? outcome->response_excerpt : ""),
        record_store(&cursor, &left, "%s", completed),
    };
    static const char *const names[RECORD_DEAD_LETTER_HEADERS] = {
        "placehub.partner",          "placehub.event_id",      "placehub.source_topic",
        "placehub.source_partition", "placehub.source_offset", "placehub.reason",
        "placehub.status",           "placehub.attempts",      "placehub.response_excerpt",
        "placehub.dead_lettered_at"};
    for (size_t i = 0; i < RECORD_DEAD_LETTER_HEADERS; i++) {
        headers[i].name = names[i];
        headers[i].value = values[i];
        headers[i].len = strlen(values[i]);
    }
    return RECORD_DEAD_LETTER_HEADERS;
}
