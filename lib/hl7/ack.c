/*
 * ack.c - builds HL7 v2 ACK messages (see ack.h).
 *
 * Values copied from the sender's MSH (applications, facilities, control
 * id, processing id, version) are copied as sent, still escaped in the
 * sender's encoding, which the ACK shares. Our own text is escaped with it.
 */
#include "hl7/ack.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/codec.h"

struct ack_buffer {
    char *text;
    size_t len;
    size_t capacity;
    int failed;
};

static void ack_append(struct ack_buffer *buffer, const char *text, size_t len)
{
    if (buffer->failed)
        return;
    if (buffer->len + len + 1 > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 512;
        while (capacity < buffer->len + len + 1)
            capacity *= 2;
        char *grown = realloc(buffer->text, capacity);
        if (!grown) {
            buffer->failed = 1;
            return;
        }
        buffer->text = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->text + buffer->len, text, len);
    buffer->len += len;
    buffer->text[buffer->len] = '\0';
}

static void ack_char(struct ack_buffer *buffer, char c)
{
    ack_append(buffer, &c, 1);
}

static void ack_string(struct ack_buffer *buffer, const char *text)
{
    ack_append(buffer, text, strlen(text));
}

/* Our own text, escaped for the sender's encoding. */
static void ack_text(struct ack_buffer *buffer, const struct hl7_encoding *encoding,
                     const char *text)
{
    char escaped[2048];
    if (hl7_escape(encoding, text, escaped, sizeof escaped) < 0) {
        /* Too long once escaped: say less rather than nothing. */
        char shorter[300];
        snprintf(shorter, sizeof shorter, "%.256s", text);
        if (hl7_escape(encoding, shorter, escaped, sizeof escaped) < 0)
            escaped[0] = '\0';
    }
    ack_string(buffer, escaped);
}

/* A field of the sender's MSH as sent (whole field), or fallback. */
static void ack_copy(struct ack_buffer *buffer, const struct hl7_message *message, int field,
                     const char *fallback)
{
    const char *raw = "";
    size_t len = message ? hl7_raw(message, 0, field, 1, 0, 0, &raw) : 0;
    if (len)
        ack_append(buffer, raw, len);
    else
        ack_string(buffer, fallback);
}

static const char *ack_error_name(int code)
{
    switch (code) {
    case ADT_ERROR_SEGMENT_SEQUENCE:
        return "Segment sequence error";
    case ADT_ERROR_REQUIRED_FIELD:
        return "Required field missing";
    case ADT_ERROR_DATA_TYPE:
        return "Data type error";
    case ADT_ERROR_TABLE_VALUE:
        return "Table value not found";
    case ADT_ERROR_MESSAGE_TYPE:
        return "Unsupported message type";
    case ADT_ERROR_EVENT_CODE:
        return "Unsupported event code";
    case ADT_ERROR_VERSION:
        return "Unsupported version id";
    case ADT_ERROR_UNKNOWN_KEY:
        return "Unknown key identifier";
    default:
        return "Application internal error";
    }
}

static void ack_number(struct ack_buffer *buffer, int number)
{
    char text[16];
    if (number > 0) {
        snprintf(text, sizeof text, "%d", number);
        ack_string(buffer, text);
    }
}

/* ERR-1 (ELD, for v2.3 and v2.4 readers), ERR-2 (ERL), ERR-3, ERR-4, ERR-8. */
static void ack_error_segment(struct ack_buffer *buffer, const struct hl7_encoding *encoding,
                              const struct adt_error *error)
{
    char f = encoding->field, c = encoding->component, s = encoding->subcomponent;
    char code[16];
    snprintf(code, sizeof code, "%d", error->code);
    ack_string(buffer, "ERR");
    ack_char(buffer, f);
    ack_string(buffer, error->segment);
    ack_char(buffer, c);
    if (error->segment[0])
        ack_char(buffer, '1');
    ack_char(buffer, c);
    ack_number(buffer, error->field);
    ack_char(buffer, c);
    ack_string(buffer, code);
    ack_char(buffer, s);
    ack_text(buffer, encoding, ack_error_name(error->code));
    ack_char(buffer, s);
    ack_string(buffer, "HL70357");
    ack_char(buffer, f);
    if (error->segment[0]) {
        ack_string(buffer, error->segment);
        ack_char(buffer, c);
        ack_char(buffer, '1');
        ack_char(buffer, c);
        ack_number(buffer, error->field);
        ack_char(buffer, c);
        ack_number(buffer, error->field ? error->repetition : 0);
        ack_char(buffer, c);
        ack_number(buffer, error->field ? error->component : 0);
    }
    ack_char(buffer, f);
    ack_string(buffer, code);
    ack_char(buffer, c);
    ack_text(buffer, encoding, ack_error_name(error->code));
    ack_char(buffer, c);
    ack_string(buffer, "HL70357");
    ack_char(buffer, f);
    ack_char(buffer, 'E');
    for (int i = 0; i < 4; i++)
        ack_char(buffer, f);
    ack_text(buffer, encoding, error->reason);
    ack_char(buffer, '\r');
}

char *ack_build(const struct hl7_message *message, enum ack_code code, const char *text,
                const struct adt_error *error, const char *control_id, int64_t now_millis,
                size_t *len)
{
    static const struct hl7_encoding standard = {'|', '^', '~', '\\', '&', 0};
    const struct hl7_encoding *encoding = message ? hl7_message_encoding(message) : &standard;
    struct ack_buffer buffer = {0};
    char f = encoding->field, c = encoding->component;
    char timestamp[32], hl7_time[32];

    /* MSH-7 in UTC with its offset, so no reader has to guess the zone. */
    codec_timestamp_format(now_millis, timestamp, sizeof timestamp);
    snprintf(hl7_time, sizeof hl7_time, "%.4s%.2s%.2s%.2s%.2s%.2s+0000", timestamp, timestamp + 5,
             timestamp + 8, timestamp + 11, timestamp + 14, timestamp + 17);

    ack_string(&buffer, "MSH");
    ack_char(&buffer, f);
    if (message) {
        const char *raw;
        size_t raw_len = hl7_raw(message, 0, 2, 1, 0, 0, &raw);
        ack_append(&buffer, raw, raw_len);
    } else {
        ack_string(&buffer, "^~\\&");
    }
    /* Sender and receiver swapped: MSH-3/4 become MSH-5/6 and back. */
    static const int swapped[] = {5, 6, 3, 4};
    for (size_t i = 0; i < sizeof swapped / sizeof swapped[0]; i++) {
        ack_char(&buffer, f);
        ack_copy(&buffer, message, swapped[i], i == 0 ? "PLACEHUB" : "");
    }
    ack_char(&buffer, f);
    ack_string(&buffer, hl7_time);
    ack_char(&buffer, f);
    ack_char(&buffer, f);
    ack_string(&buffer, "ACK");
    const char *trigger = "";
    size_t trigger_len = message ? hl7_raw(message, 0, 9, 1, 2, 0, &trigger) : 0;
    if (trigger_len) {
        ack_char(&buffer, c);
        ack_append(&buffer, trigger, trigger_len);
        ack_char(&buffer, c);
        ack_string(&buffer, "ACK");
    }
    ack_char(&buffer, f);
    ack_text(&buffer, encoding, control_id);
    ack_char(&buffer, f);
    ack_copy(&buffer, message, 11, "P");
    ack_char(&buffer, f);
    ack_copy(&buffer, message, 12, "2.5");
    const char *charset;
    if (message && hl7_raw(message, 0, 18, 1, 0, 0, &charset) > 0) {
        for (int i = 13; i <= 18; i++)
            ack_char(&buffer, f);
        ack_copy(&buffer, message, 18, "");
    }
    ack_char(&buffer, '\r');

    static const char *const codes[] = {"AA", "AE", "AR"};
    ack_string(&buffer, "MSA");
    ack_char(&buffer, f);
    ack_string(&buffer, codes[code]);
    ack_char(&buffer, f);
    ack_copy(&buffer, message, 10, "");
    if (text && text[0]) {
        ack_char(&buffer, f);
        ack_text(&buffer, encoding, text);
    }
    ack_char(&buffer, '\r');
    if (code != ACK_ACCEPT && error)
        ack_error_segment(&buffer, encoding, error);
    if (buffer.failed) {
        free(buffer.text);
        return NULL;
    }
    *len = buffer.len;
    return buffer.text;
}
