/*
 * record.c - dead letters, delivery receipts and suppression records (see
 * record.h): the only code that writes them.
 *
 * A dead letter keeps the original message bytes and key, so it can be sent
 * again to its partner as it was (placehub-ctl dlq redrive); everything
 * about the failure travels in headers named placehub.*. A receipt is a
 * small JSON document per final outcome: partner, event, outcome, status,
 * attempts, latency, and what was disclosed (agreement, field paths, person
 * reference). A suppression record says which event an agreement kept from
 * which partner, and why. A partner control record says which operator
 * paused, resumed or probed which partner, and when. None carries personal data beyond what the
 * original event holds (field names, never values; the person reference is
 * the keyed hash already used as the Kafka key); the partner's response is
 * redacted before it is kept.
 */
#include "delivery/record.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/codec.h"
#include "core/text.h"

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

/* The person reference (the message's Kafka key) as a JSON string, or null. */
static json_t *record_person_ref(const struct record_source *source)
{
    if (!source->key || source->key_len == 0)
        return json_null();
    json_t *ref = json_stringn(source->key, source->key_len);
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

/* ---- receipts, written directly ----------------------------------------
 * One receipt per delivery is on dispatch's hot path: writing it as text
 * costs a fraction of building a jansson tree and dumping it. The output is
 * the same compact JSON, keys in the same order. */

static void record_text_literal(struct text *text, const char *literal)
{
    text_append(text, literal, strlen(literal));
}

static void record_text_integer(struct text *text, long long value)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%lld", value);
    text_append(text, digits, (size_t)n);
}

/* The length of the valid UTF-8 sequence at bytes (1 to 4), or 0. */
static size_t record_utf8_length(const unsigned char *bytes, size_t left)
{
    unsigned char c = bytes[0];
    size_t need;
    unsigned min;
    unsigned code;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2, min = 0x80, code = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3, min = 0x800, code = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4, min = 0x10000, code = c & 0x07;
    } else {
        return 0;
    }
    if (left < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((bytes[i] & 0xc0) != 0x80)
            return 0;
        code = (code << 6) | (bytes[i] & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
        return 0;
    return need;
}

/* value as a JSON string (null when NULL): quotes, backslashes and control
 * characters escaped, a byte that is not UTF-8 replaced by U+FFFD. */
static void record_text_string(struct text *text, const char *value, size_t len)
{
    if (!value) {
        record_text_literal(text, "null");
        return;
    }
    const unsigned char *bytes = (const unsigned char *)value;
    text_append(text, "\"", 1);
    size_t run = 0; /* bytes at bytes[i - run] to copy as they are */
    for (size_t i = 0; i < len;) {
        unsigned char c = bytes[i];
        size_t size = record_utf8_length(bytes + i, len - i);
        if (size > 0 && c >= 0x20 && c != '"' && c != '\\') {
            run += size;
            i += size;
            continue;
        }
        text_append(text, (const char *)bytes + i - run, run);
        run = 0;
        char escaped[8];
        if (size == 0)
            snprintf(escaped, sizeof escaped, "\\ufffd");
        else if (c == '"' || c == '\\')
            snprintf(escaped, sizeof escaped, "\\%c", c);
        else if (c == '\n')
            snprintf(escaped, sizeof escaped, "\\n");
        else if (c == '\r')
            snprintf(escaped, sizeof escaped, "\\r");
        else if (c == '\t')
            snprintf(escaped, sizeof escaped, "\\t");
        else
            snprintf(escaped, sizeof escaped, "\\u%04x", c);
        record_text_literal(text, escaped);
        i += size ? size : 1;
    }
    text_append(text, (const char *)bytes + len - run, run);
    text_append(text, "\"", 1);
}

static void record_text_cstring(struct text *text, const char *value)
{
    record_text_string(text, value, value ? strlen(value) : 0);
}

const char *record_result_name(enum record_result result)
{
    switch (result) {
    case RECORD_DELIVERED:
        return "delivered";
    case RECORD_DEAD_LETTERED:
        return "dead_lettered";
    case RECORD_FAILED:
        return "failed";
    }
    return "failed";
}

char *record_receipt(const struct record_outcome *outcome, size_t *len)
{
    char completed[48];
    codec_timestamp_format(outcome->completed_ms, completed, sizeof completed);
    const struct record_source *source = outcome->source;
    struct text text = {0};
    record_text_literal(&text, "{\"record\":\"delivery\",\"partner\":");
    record_text_cstring(&text, outcome->partner_id);
    record_text_literal(&text, ",\"event_id\":");
    record_text_cstring(&text, outcome->event_id);
    record_text_literal(&text, ",\"event_type\":");
    record_text_cstring(&text, source->topic);
    record_text_literal(&text, ",\"source\":{\"topic\":");
    record_text_cstring(&text, source->topic);
    record_text_literal(&text, ",\"partition\":");
    record_text_integer(&text, source->partition);
    record_text_literal(&text, ",\"offset\":");
    record_text_integer(&text, source->offset);
    record_text_literal(&text, "},\"outcome\":\"");
    record_text_literal(&text, record_result_name(outcome->result));
    record_text_literal(&text, "\",\"status\":");
    record_text_integer(&text, outcome->status);
    record_text_literal(&text, ",\"attempts\":");
    record_text_integer(&text, outcome->attempts);
    record_text_literal(&text, ",\"latency_ms\":");
    record_text_integer(&text, outcome->latency_ms);
    record_text_literal(&text, ",\"completed_at\":");
    record_text_cstring(&text, completed);
    if (outcome->result == RECORD_DELIVERED && outcome->partner_reference &&
        outcome->partner_reference[0]) {
        record_text_literal(&text, ",\"partner_reference\":");
        record_text_cstring(&text, outcome->partner_reference);
    }
    if (outcome->result != RECORD_DELIVERED && outcome->reason) {
        record_text_literal(&text, ",\"reason\":");
        record_text_cstring(&text, outcome->reason);
    }
    /* The disclosure: under which agreement, which fields, about whom. */
    record_text_literal(&text, ",\"person_ref\":");
    if (source->key && source->key_len)
        record_text_string(&text, source->key, source->key_len);
    else
        record_text_literal(&text, "null");
    record_text_literal(&text, ",\"agreement\":");
    record_text_cstring(&text, outcome->agreement_id);
    record_text_literal(&text, ",\"agreement_version\":");
    record_text_cstring(&text, outcome->agreement_version);
    record_text_literal(&text, ",\"fields\":");
    record_text_literal(&text, outcome->fields ? outcome->fields : "[]");
    record_text_literal(&text, outcome->pseudonymised ? ",\"pseudonymised\":true"
                                                      : ",\"pseudonymised\":false");
    if (outcome->via) {
        record_text_literal(&text, ",\"via\":");
        record_text_cstring(&text, outcome->via);
    }
    if (outcome->actor) {
        record_text_literal(&text, ",\"actor\":");
        record_text_cstring(&text, outcome->actor);
    }
    if (outcome->cancels_event_id) {
        record_text_literal(&text, ",\"cancels_event_id\":");
        record_text_cstring(&text, outcome->cancels_event_id);
    }
    if (outcome->supersedes_event_id) {
        record_text_literal(&text, ",\"supersedes_event_id\":");
        record_text_cstring(&text, outcome->supersedes_event_id);
    }
    if (outcome->dead_letter) {
        record_text_literal(&text, ",\"dead_letter\":{\"topic\":");
        record_text_cstring(&text, outcome->dead_letter->topic);
        record_text_literal(&text, ",\"partition\":");
        record_text_integer(&text, outcome->dead_letter->partition);
        record_text_literal(&text, ",\"offset\":");
        record_text_integer(&text, outcome->dead_letter->offset);
        record_text_literal(&text, "}");
    }
    record_text_literal(&text, "}");
    if (text.failed) {
        free(text.data);
        return NULL;
    }
    *len = text.len;
    return text.data;
}

char *record_suppression(const struct record_suppression *suppression, size_t *len)
{
    char at[48];
    codec_timestamp_format(suppression->at_ms, at, sizeof at);
    const struct record_source *source = suppression->source;
    json_t *record = json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:o,s:o,s:s,s:s,s:s}", "record", "suppression", "partner",
        suppression->partner_id, "event_id", suppression->event_id, "event_type", source->topic,
        "source", "topic", source->topic, "partition", (int)source->partition, "offset",
        (json_int_t)source->offset, "person_ref", record_person_ref(source), "agreement",
        record_nullable(suppression->agreement_id), "reason", suppression->reason, "detail",
        suppression->detail ? suppression->detail : "", "at", at);
    if (record && suppression->cancels_event_id)
        json_object_set_new(record, "cancels_event_id", json_string(suppression->cancels_event_id));
    if (record && suppression->supersedes_event_id)
        json_object_set_new(record, "supersedes_event_id",
                            json_string(suppression->supersedes_event_id));
    if (record && suppression->via)
        json_object_set_new(record, "via", json_string(suppression->via));
    if (record && suppression->actor)
        json_object_set_new(record, "actor", json_string(suppression->actor));
    return record_dump(record, len);
}

char *record_partner_control(const struct record_partner_control *control, size_t *len)
{
    char at[48];
    codec_timestamp_format(control->at_ms, at, sizeof at);
    json_t *record = json_pack("{s:s,s:s,s:s,s:s,s:s}", "record", "partner_control", "partner",
                               control->partner_id, "action", control->action, "actor",
                               control->actor, "at", at);
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
    const struct record_source *source = outcome->source;
    char completed[48];
    codec_timestamp_format(outcome->completed_ms, completed, sizeof completed);
    const char *values[RECORD_DEAD_LETTER_HEADERS] = {
        record_store(&cursor, &left, "%s", outcome->partner_id),
        record_store(&cursor, &left, "%s", outcome->event_id),
        record_store(&cursor, &left, "%s", source->topic),
        record_store(&cursor, &left, "%d", (int)source->partition),
        record_store(&cursor, &left, "%lld", (long long)source->offset),
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
