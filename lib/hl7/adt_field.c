/*
 * adt_field.c - reading one value out of an HL7 v2 segment for the ADT
 * mapping (see adt_internal.h): escape sequences decoded, ISO 8859-1
 * converted to UTF-8 when MSH-18 says so, UTF-8 checked otherwise, spaces
 * trimmed, dates and times converted; and adt_fail, which every refusal
 * goes through.
 *
 * IMPORTANT: a value that fails is refused with its position (AR), never
 * silently dropped, and the reason never carries the value.
 */
#include "hl7/adt_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "schema/codec.h"

int adt_fail(struct adt_context *context, int code, const char *segment, int field, int repetition,
             int component, const char *fmt, ...)
{
    struct adt_error *error = &context->result->error;
    char reason[200];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    error->code = code;
    snprintf(error->segment, sizeof error->segment, "%s", segment ? segment : "");
    error->field = field;
    error->repetition = repetition;
    error->component = component;
    if (segment && field > 0 && component > 0)
        snprintf(error->reason, sizeof error->reason, "%s-%d.%d: %s", segment, field, component,
                 reason);
    else if (segment && field > 0)
        snprintf(error->reason, sizeof error->reason, "%s-%d: %s", segment, field, reason);
    else if (segment)
        snprintf(error->reason, sizeof error->reason, "%s: %s", segment, reason);
    else
        snprintf(error->reason, sizeof error->reason, "%s", reason);
    context->result->action = ADT_REJECT;
    return -1;
}

const char *adt_segment_name(const struct adt_context *context, long segment)
{
    return segment >= 0 ? hl7_segment_name(context->message, (size_t)segment) : "";
}

static int adt_utf8_valid(const unsigned char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = text[i];
        size_t extra;
        unsigned int value;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
            value = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
            value = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
            value = c & 0x07;
        } else {
            return 0;
        }
        if (extra > len - i - 1)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((text[i + k] & 0xc0) != 0x80)
                return 0;
            value = (value << 6) | (text[i + k] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((extra == 2 && value < 0x800) || (extra == 3 && value < 0x10000) ||
            (value >= 0xd800 && value <= 0xdfff) || value > 0x10ffff)
            return 0;
        i += extra + 1;
    }
    return 1;
}

/* Reads one value, decoded, converted to UTF-8 and trimmed, into out
 * (ADT_TEXT_MAX bytes). Returns its length (0 when absent), or -1 after
 * adt_fail. segment < 0 (absent) reads as empty. */
int adt_text(struct adt_context *context, long segment, int field, int repetition, int component,
             int subcomponent, char *out)
{
    char decoded[ADT_TEXT_MAX];
    out[0] = '\0';
    if (segment < 0)
        return 0;
    const char *name = adt_segment_name(context, segment);
    long len = hl7_value(context->message, (size_t)segment, field, repetition, component,
                         subcomponent, decoded, sizeof decoded);
    if (len < 0)
        return adt_fail(context, ADT_ERROR_DATA_TYPE, name, field, repetition, component,
                        "longer than %d bytes", ADT_TEXT_MAX - 1);
    size_t used = 0;
    if (context->charset == ADT_LATIN1) {
        for (long i = 0; i < len; i++) {
            unsigned char c = (unsigned char)decoded[i];
            if (used + 3 > ADT_TEXT_MAX)
                return adt_fail(context, ADT_ERROR_DATA_TYPE, name, field, repetition, component,
                                "longer than %d bytes", ADT_TEXT_MAX - 1);
            if (c < 0x80) {
                out[used++] = (char)c;
            } else {
                out[used++] = (char)(0xc0 | (c >> 6));
                out[used++] = (char)(0x80 | (c & 0x3f));
            }
        }
    } else {
        if (!adt_utf8_valid((const unsigned char *)decoded, (size_t)len))
            return adt_fail(context, ADT_ERROR_DATA_TYPE, name, field, repetition, component,
                            "not valid UTF-8 (declare the character set in MSH-18, e.g. "
                            "8859/1)");
        memcpy(out, decoded, (size_t)len);
        used = (size_t)len;
    }
    out[used] = '\0';
    size_t start = 0;
    while (out[start] == ' ')
        start++;
    while (used > start && out[used - 1] == ' ')
        used--;
    memmove(out, out + start, used - start);
    out[used - start] = '\0';
    return (int)(used - start);
}

/* Sets key to the value read, or to null when it is empty. */
int adt_set_text(struct adt_context *context, json_t *object, const char *key, long segment,
                 int field, int repetition, int component, int subcomponent)
{
    char text[ADT_TEXT_MAX];
    int len = adt_text(context, segment, field, repetition, component, subcomponent, text);
    if (len < 0)
        return -1;
    json_object_set_new(object, key, len ? json_string(text) : json_null());
    return 0;
}

const char *adt_code_lookup(const struct adt_code *table, const char *code)
{
    for (const struct adt_code *entry = table; entry->code; entry++)
        if (strcmp(entry->code, code) == 0)
            return entry->symbol;
    return NULL;
}

const char *adt_option_lookup(const struct config_option *options, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(options[i].key, key) == 0)
            return options[i].value;
    return NULL;
}

/* ODS codes are 3 to 8 capital letters and digits (trusts "RXX", sites
 * "RXX01", practices "P99001"). */
int adt_ods_shaped(const char *text)
{
    size_t len = strlen(text);
    if (len < 3 || len > 8)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isupper((unsigned char)text[i]) && !isdigit((unsigned char)text[i]))
            return 0;
    return 1;
}

/* A timestamp field (first component) into key; null when empty. */
int adt_set_datetime(struct adt_context *context, json_t *object, const char *key, long segment,
                     int field)
{
    char text[ADT_TEXT_MAX];
    int64_t millis;
    int len = adt_text(context, segment, field, 1, 1, 0, text);
    if (len < 0)
        return -1;
    if (len == 0) {
        json_object_set_new(object, key, json_null());
        return 0;
    }
    if (hl7_datetime_parse(text, &millis) != 0)
        return adt_fail(context, ADT_ERROR_DATA_TYPE, adt_segment_name(context, segment), field, 1,
                        1, "not an HL7 date/time (YYYYMMDD[HHMM[SS[.S]]][+/-ZZZZ])");
    char formatted[32];
    codec_timestamp_format(millis, formatted, sizeof formatted);
    json_object_set_new(object, key, json_string(formatted));
    return 0;
}

/* A date field (date part of the first component); null when empty or less
 * precise than a day (HL7 allows YYYY or YYYYMM). */
int adt_set_date(struct adt_context *context, json_t *object, const char *key, long segment,
                 int field)
{
    char text[ADT_TEXT_MAX];
    int32_t days;
    int len = adt_text(context, segment, field, 1, 1, 0, text);
    if (len < 0)
        return -1;
    if (len == 4 || len == 6) {
        if (strspn(text, "0123456789") == (size_t)len) {
            json_object_set_new(object, key, json_null());
            return 0;
        }
    }
    if (len == 0) {
        json_object_set_new(object, key, json_null());
        return 0;
    }
    if (hl7_date_parse(text, &days) != 0)
        return adt_fail(context, ADT_ERROR_DATA_TYPE, adt_segment_name(context, segment), field, 1,
                        1, "not an HL7 date (YYYYMMDD)");
    char formatted[16];
    codec_date_format(days, formatted, sizeof formatted);
    json_object_set_new(object, key, json_string(formatted));
    return 0;
}

/* A code from the message fit to repeat in a reason (which is logged):
 * short capitals, digits and underscores only, never free text. */
const char *adt_code_shown(const char *text)
{
    size_t len = strlen(text);
    if (len == 0)
        return "(empty)";
    if (len > 8 || strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
        return "(not a code)";
    return text;
}
