/*
 * hl7.c - HL7 v2 (ER7) parser (see hl7.h).
 *
 * hl7_parse makes one pass over a private copy of the message: it finds the
 * segments, records where each field starts and ends, and checks segment
 * ids, control bytes and every escape sequence against the limits. Nothing
 * is split further up front: repetitions, components and subcomponents are
 * found on demand by hl7_raw, which is cheap because fields are short and
 * each scan is bounded by its field.
 *
 * IMPORTANT: an error message names positions (segment, field, byte), never
 * the text found there: messages are full of personal data and errors end up
 * in logs and in ACKs that interface engines keep.
 */
#include "hl7/hl7.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hl7_span {
    size_t start;
    size_t len;
};

struct hl7_segment {
    char name[4];
    size_t first_field; /* index into message->fields of field 1 */
    int field_count;
};

struct hl7_message {
    char *text;
    size_t len;
    struct hl7_encoding encoding;
    struct hl7_segment *segments;
    size_t segment_count;
    size_t segment_capacity;
    struct hl7_span *fields;
    size_t field_total;
    size_t field_capacity;
};

static int hl7_fail(struct hl7_error *error, const char *segment, size_t segment_number, int field,
                    size_t offset, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int hl7_fail(struct hl7_error *error, const char *segment, size_t segment_number, int field,
                    size_t offset, const char *fmt, ...)
{
    char reason[160];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    snprintf(error->segment, sizeof error->segment, "%s", segment ? segment : "");
    error->segment_number = segment_number;
    error->field = field;
    error->offset = offset;
    if (segment && segment[0] && field > 0)
        snprintf(error->text, sizeof error->text, "%s (segment %zu) field %d, byte %zu: %s",
                 segment, segment_number, field, offset, reason);
    else if (segment && segment[0])
        snprintf(error->text, sizeof error->text, "%s (segment %zu), byte %zu: %s", segment,
                 segment_number, offset, reason);
    else if (segment_number > 0)
        snprintf(error->text, sizeof error->text, "segment %zu, byte %zu: %s", segment_number,
                 offset, reason);
    else
        snprintf(error->text, sizeof error->text, "byte %zu: %s", offset, reason);
    return -1;
}

static int hl7_is_terminator(char c)
{
    return c == '\r' || c == '\n';
}

/* A character that may serve as a separator: printable, not alphanumeric,
 * not a space (HL7 allows any, but letters, digits and white space would make
 * the message unreadable and are always a sign of a broken header). */
static int hl7_separator_valid(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u < 0x7f && !isalnum(u);
}

static int hl7_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hl7_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

static int hl7_is_delimiter(const struct hl7_encoding *encoding, char c)
{
    return c == encoding->field || c == encoding->component || c == encoding->repetition ||
           (encoding->subcomponent && c == encoding->subcomponent);
}

/* Checks the escape sequence whose content is text[0..len) (between the two
 * escape characters). Returns NULL or what is wrong. */
static const char *hl7_escape_problem(const char *text, size_t len)
{
    if (len == 0)
        return "empty escape sequence (a literal escape character is written \\E\\)";
    if (text[0] == 'X' || text[0] == 'x') {
        if (len < 3 || (len - 1) % 2 != 0)
            return "\\X..\\ needs an even number of hexadecimal digits";
        for (size_t i = 1; i < len; i++)
            if (!hl7_is_hex(text[i]))
                return "\\X..\\ holds a character that is not a hexadecimal digit";
        for (size_t i = 1; i < len; i += 2)
            if (text[i] == '0' && text[i + 1] == '0')
                return "\\X00\\ (a NUL byte) is not allowed in text";
        return NULL;
    }
    if (len == 1 && strchr("FSTREHN", text[0]))
        return NULL;
    /* Formatting (.br, .sp ...), character sets (Cxxyy, Mxxyyzz) and local
     * (Z...) sequences: accepted, decoded as hl7_unescape says. */
    if (text[0] == '.' || text[0] == 'C' || text[0] == 'M' || text[0] == 'Z')
        return NULL;
    return "unknown escape sequence";
}

static int hl7_add_field(struct hl7_message *message, size_t start, size_t len)
{
    if (message->field_total == message->field_capacity) {
        size_t capacity = message->field_capacity ? message->field_capacity * 2 : 64;
        struct hl7_span *grown = realloc(message->fields, capacity * sizeof *grown);
        if (!grown)
            return -1;
        message->fields = grown;
        message->field_capacity = capacity;
    }
    message->fields[message->field_total].start = start;
    message->fields[message->field_total].len = len;
    message->field_total++;
    return 0;
}

static struct hl7_segment *hl7_add_segment(struct hl7_message *message)
{
    if (message->segment_count == message->segment_capacity) {
        size_t capacity = message->segment_capacity ? message->segment_capacity * 2 : 16;
        struct hl7_segment *grown = realloc(message->segments, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        message->segments = grown;
        message->segment_capacity = capacity;
    }
    struct hl7_segment *segment = &message->segments[message->segment_count++];
    memset(segment, 0, sizeof *segment);
    segment->first_field = message->field_total;
    return segment;
}

/* MSH-1 and MSH-2: the separators everything else is read with. */
static int hl7_parse_encoding(struct hl7_message *message, size_t end, struct hl7_error *error)
{
    const char *text = message->text;
    struct hl7_encoding *encoding = &message->encoding;
    if (end < 4)
        return hl7_fail(error, "MSH", 1, 1, end, "MSH ends before its field separator");
    encoding->field = text[3];
    if (!hl7_separator_valid(encoding->field))
        return hl7_fail(error, "MSH", 1, 1, 3,
                        "MSH-1 field separator must be a printable character that is not a "
                        "letter, digit or space");
    size_t start = 4, stop = start;
    while (stop < end && text[stop] != encoding->field)
        stop++;
    size_t count = stop - start;
    if (count < 4 || count > 5)
        return hl7_fail(error, "MSH", 1, 2, start,
                        "MSH-2 must hold 4 encoding characters (component, repetition, escape, "
                        "subcomponent) or 5 with truncation; found %zu",
                        count);
    char chars[5] = {0};
    for (size_t i = 0; i < count; i++) {
        chars[i] = text[start + i];
        if (!hl7_separator_valid(chars[i]))
            return hl7_fail(error, "MSH", 1, 2, start + i,
                            "MSH-2 encoding character %zu must be printable and not a letter, "
                            "digit or space",
                            i + 1);
        if (chars[i] == encoding->field)
            return hl7_fail(error, "MSH", 1, 2, start + i,
                            "MSH-2 encoding character %zu repeats the field separator", i + 1);
        for (size_t j = 0; j < i; j++)
            if (chars[j] == chars[i])
                return hl7_fail(error, "MSH", 1, 2, start + i,
                                "MSH-2 encoding character %zu repeats character %zu", i + 1, j + 1);
    }
    encoding->component = chars[0];
    encoding->repetition = chars[1];
    encoding->escape = chars[2];
    encoding->subcomponent = chars[3];
    encoding->truncation = chars[4];
    return 0;
}

/* Checks the escape sequences of one field: each must close before the next
 * separator and hold something hl7_unescape understands. */
static int hl7_check_escapes(const struct hl7_message *message, size_t start, size_t len,
                             const struct hl7_segment *segment, size_t segment_number, int field,
                             struct hl7_error *error)
{
    const struct hl7_encoding *encoding = &message->encoding;
    const char *text = message->text;
    for (size_t i = start; i < start + len; i++) {
        if (text[i] != encoding->escape)
            continue;
        size_t close = i + 1;
        while (close < start + len && text[close] != encoding->escape &&
               !hl7_is_delimiter(encoding, text[close]))
            close++;
        if (close >= start + len || text[close] != encoding->escape)
            return hl7_fail(error, segment->name, segment_number, field, i,
                            "escape sequence not closed before the end of its value");
        const char *problem = hl7_escape_problem(text + i + 1, close - i - 1);
        if (problem)
            return hl7_fail(error, segment->name, segment_number, field, i, "%s", problem);
        i = close;
    }
    return 0;
}

/* One segment text[start..end): its id, its fields, their escapes. */
static int hl7_parse_segment(struct hl7_message *message, size_t start, size_t end,
                             const struct hl7_limits *limits, struct hl7_error *error)
{
    const char *text = message->text;
    const struct hl7_encoding *encoding = &message->encoding;
    size_t number = message->segment_count + 1;
    if (message->segment_count >= limits->max_segments)
        return hl7_fail(error, NULL, number, 0, start, "more than %zu segments",
                        limits->max_segments);
    if (end - start < 3)
        return hl7_fail(error, NULL, number, 0, start,
                        "a segment id must be 3 letters or digits, found a shorter segment");
    for (size_t i = start; i < start + 3; i++)
        if (!(isupper((unsigned char)text[i]) || isdigit((unsigned char)text[i])) ||
            (i == start && !isupper((unsigned char)text[i])))
            return hl7_fail(error, NULL, number, 0, i,
                            "a segment id must be 3 capital letters or digits (starting with a "
                            "letter)");
    if (end - start > 3 && text[start + 3] != encoding->field)
        return hl7_fail(error, NULL, number, 0, start + 3,
                        "the segment id must be followed by the field separator");
    struct hl7_segment *segment = hl7_add_segment(message);
    if (!segment)
        return hl7_fail(error, NULL, number, 0, start, "out of memory");
    memcpy(segment->name, text + start, 3);
    segment->name[3] = '\0';
    int is_msh = strcmp(segment->name, "MSH") == 0;
    if (is_msh != (number == 1))
        return hl7_fail(error, segment->name, number, 0, start,
                        is_msh ? "MSH may only be the first segment"
                               : "the message must start with an MSH segment");

    size_t position = start + 3;
    int field = 0;
    if (is_msh) {
        /* MSH-1 is the separator itself and MSH-2 is taken literally. */
        size_t msh2_end = position + 1;
        while (msh2_end < end && text[msh2_end] != encoding->field)
            msh2_end++;
        if (hl7_add_field(message, position, 1) != 0 ||
            hl7_add_field(message, position + 1, msh2_end - position - 1) != 0)
            return hl7_fail(error, "MSH", 1, 0, start, "out of memory");
        field = 2;
        position = msh2_end;
    }
    while (position < end) {
        /* text[position] is a field separator: a field follows. */
        size_t field_start = position + 1, field_end = field_start;
        while (field_end < end && text[field_end] != encoding->field)
            field_end++;
        field++;
        if ((size_t)field > limits->max_fields)
            return hl7_fail(error, segment->name, number, field, field_start,
                            "more than %zu fields in one segment", limits->max_fields);
        if (hl7_check_escapes(message, field_start, field_end - field_start, segment, number, field,
                              error) != 0)
            return -1;
        if (hl7_add_field(message, field_start, field_end - field_start) != 0)
            return hl7_fail(error, segment->name, number, field, field_start, "out of memory");
        position = field_end;
    }
    segment->field_count = field;
    return 0;
}

int hl7_parse(const char *data, size_t len, const struct hl7_limits *limits,
              struct hl7_message **out, struct hl7_error *error)
{
    static const struct hl7_limits defaults = HL7_LIMITS_DEFAULT;
    struct hl7_message *message = NULL;
    memset(error, 0, sizeof *error);
    *out = NULL;
    if (!limits)
        limits = &defaults;
    if (len > limits->max_bytes)
        return hl7_fail(error, NULL, 0, 0, limits->max_bytes,
                        "the message is longer than %zu bytes", limits->max_bytes);
    if (len == 0)
        return hl7_fail(error, NULL, 0, 0, 0, "the message is empty");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        /* NUL would cut every C string; 0x0B and 0x1C are MLLP's frame
         * bytes and inside a message mean the framing went wrong. */
        if (c == 0x00 || c == 0x0b || c == 0x1c)
            return hl7_fail(error, NULL, 0, 0, i, "control byte 0x%02x is not allowed in a message",
                            c);
    }
    if (len < 3 || memcmp(data, "MSH", 3) != 0) {
        if (len >= 3 && (memcmp(data, "FHS", 3) == 0 || memcmp(data, "BHS", 3) == 0))
            return hl7_fail(error, NULL, 1, 0, 0,
                            "batches (FHS/BHS) are not accepted: send one message at a time");
        return hl7_fail(error, NULL, 1, 0, 0, "the message must start with an MSH segment");
    }
    message = calloc(1, sizeof *message);
    if (!message || !(message->text = malloc(len + 1))) {
        free(message);
        return hl7_fail(error, NULL, 0, 0, 0, "out of memory");
    }
    memcpy(message->text, data, len);
    message->text[len] = '\0';
    message->len = len;

    size_t msh_end = 0;
    while (msh_end < len && !hl7_is_terminator(message->text[msh_end]))
        msh_end++;
    if (hl7_parse_encoding(message, msh_end, error) != 0)
        goto fail;

    size_t start = 0;
    while (start < len) {
        size_t end = start;
        while (end < len && !hl7_is_terminator(message->text[end]))
            end++;
        /* Empty lines (a \n after \r\n-less senders' \r, a trailing
         * terminator) are not segments. */
        if (end > start && hl7_parse_segment(message, start, end, limits, error) != 0)
            goto fail;
        start = end;
        if (start < len && message->text[start] == '\r' && start + 1 < len &&
            message->text[start + 1] == '\n')
            start++;
        start++;
    }
    *out = message;
    return 0;
fail:
    hl7_message_destroy(message);
    return -1;
}

void hl7_message_destroy(struct hl7_message *message)
{
    if (!message)
        return;
    free(message->text);
    free(message->segments);
    free(message->fields);
    free(message);
}

const struct hl7_encoding *hl7_message_encoding(const struct hl7_message *message)
{
    return &message->encoding;
}

const char *hl7_message_text(const struct hl7_message *message, size_t *len)
{
    if (len)
        *len = message->len;
    return message->text;
}

size_t hl7_segment_count(const struct hl7_message *message)
{
    return message->segment_count;
}

const char *hl7_segment_name(const struct hl7_message *message, size_t index)
{
    return index < message->segment_count ? message->segments[index].name : "";
}

long hl7_segment_find(const struct hl7_message *message, const char *name, size_t from)
{
    for (size_t i = from; i < message->segment_count; i++)
        if (strcmp(message->segments[i].name, name) == 0)
            return (long)i;
    return -1;
}

int hl7_field_count(const struct hl7_message *message, size_t segment)
{
    return segment < message->segment_count ? message->segments[segment].field_count : 0;
}

/* The index-th (1-based) piece of text[0..len) split at separator. */
static int hl7_piece(const char *text, size_t len, char separator, int index, size_t *start,
                     size_t *piece_len)
{
    size_t begin = 0;
    for (int n = 1; n < index; n++) {
        const char *next = separator ? memchr(text + begin, separator, len - begin) : NULL;
        if (!next)
            return -1;
        begin = (size_t)(next - text) + 1;
    }
    const char *stop = separator ? memchr(text + begin, separator, len - begin) : NULL;
    *start = begin;
    *piece_len = (stop ? (size_t)(stop - text) : len) - begin;
    return 0;
}

static int hl7_field_span(const struct hl7_message *message, size_t segment, int field,
                          struct hl7_span *span)
{
    if (segment >= message->segment_count || field < 1 ||
        field > message->segments[segment].field_count)
        return -1;
    *span = message->fields[message->segments[segment].first_field + (size_t)field - 1];
    return 0;
}

int hl7_repetition_count(const struct hl7_message *message, size_t segment, int field)
{
    struct hl7_span span;
    if (hl7_field_span(message, segment, field, &span) != 0 || span.len == 0)
        return 0;
    if (segment == 0 && field <= 2)
        return 1;
    int count = 1;
    for (size_t i = 0; i < span.len; i++)
        if (message->text[span.start + i] == message->encoding.repetition)
            count++;
    return count;
}

size_t hl7_raw(const struct hl7_message *message, size_t segment, int field, int repetition,
               int component, int subcomponent, const char **text)
{
    struct hl7_span span;
    size_t start, len;
    *text = "";
    if (hl7_field_span(message, segment, field, &span) != 0 || repetition < 1 || component < 0 ||
        subcomponent < 0)
        return 0;
    const char *base = message->text + span.start;
    /* MSH-1 and MSH-2 hold the separators: never split them. */
    if (segment == 0 && field <= 2) {
        if (repetition != 1 || component > 1 || subcomponent > 1)
            return 0;
        *text = base;
        return span.len;
    }
    const struct hl7_encoding *encoding = &message->encoding;
    if (hl7_piece(base, span.len, encoding->repetition, repetition, &start, &len) != 0)
        return 0;
    base += start;
    if (component > 0) {
        if (hl7_piece(base, len, encoding->component, component, &start, &len) != 0)
            return 0;
        base += start;
        if (subcomponent > 0) {
            if (hl7_piece(base, len, encoding->subcomponent, subcomponent, &start, &len) != 0)
                return 0;
            base += start;
        }
    }
    *text = len ? base : "";
    return len;
}

long hl7_value(const struct hl7_message *message, size_t segment, int field, int repetition,
               int component, int subcomponent, char *out, size_t out_size)
{
    const char *raw;
    size_t len = hl7_raw(message, segment, field, repetition, component, subcomponent, &raw);
    if (out_size == 0)
        return -1;
    out[0] = '\0';
    /* HL7's explicit null ("" : delete the value) reads as nothing here. */
    if (len == 2 && raw[0] == '"' && raw[1] == '"')
        return 0;
    if (segment == 0 && field <= 2) {
        if (len + 1 > out_size)
            return -1;
        memcpy(out, raw, len);
        out[len] = '\0';
        return (long)len;
    }
    long n = hl7_unescape(&message->encoding, raw, len, out, out_size);
    if (n < 0)
        out[0] = '\0';
    return n;
}

/* Appends one byte to out; -1 when full (one byte is kept for the NUL). */
static int hl7_put(char *out, size_t out_size, size_t *used, char c)
{
    if (*used + 1 >= out_size)
        return -1;
    out[(*used)++] = c;
    return 0;
}

long hl7_unescape(const struct hl7_encoding *encoding, const char *raw, size_t len, char *out,
                  size_t out_size)
{
    size_t used = 0;
    if (out_size == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (!encoding->escape || raw[i] != encoding->escape) {
            if (hl7_put(out, out_size, &used, raw[i]) != 0)
                goto fail;
            continue;
        }
        const char *close = memchr(raw + i + 1, encoding->escape, len - i - 1);
        if (!close)
            goto fail;
        const char *body = raw + i + 1;
        size_t body_len = (size_t)(close - body);
        if (hl7_escape_problem(body, body_len))
            goto fail;
        char single = 0;
        if (body_len == 1) {
            switch (body[0]) {
            case 'F':
                single = encoding->field;
                break;
            case 'S':
                single = encoding->component;
                break;
            case 'T':
                single = encoding->subcomponent;
                break;
            case 'R':
                single = encoding->repetition;
                break;
            case 'E':
                single = encoding->escape;
                break;
            default: /* \H\ \N\ highlighting: dropped */
                break;
            }
            if (single && hl7_put(out, out_size, &used, single) != 0)
                goto fail;
        } else if (body[0] == 'X' || body[0] == 'x') {
            for (size_t k = 1; k + 1 < body_len; k += 2) {
                char byte = (char)(hl7_hex_value(body[k]) * 16 + hl7_hex_value(body[k + 1]));
                if (hl7_put(out, out_size, &used, byte) != 0)
                    goto fail;
            }
        } else if (body_len == 3 && memcmp(body, ".br", 3) == 0) {
            if (hl7_put(out, out_size, &used, '\n') != 0)
                goto fail;
        }
        /* Other formatting, character set and Z sequences: dropped. */
        i = (size_t)(close - raw);
    }
    out[used] = '\0';
    return (long)used;
fail:
    out[0] = '\0';
    return -1;
}

long hl7_escape(const struct hl7_encoding *encoding, const char *text, char *out, size_t out_size)
{
    size_t used = 0;
    if (out_size == 0)
        return -1;
    for (const char *p = text; *p; p++) {
        const char *replacement = NULL;
        if (*p == encoding->field)
            replacement = "F";
        else if (*p == encoding->component)
            replacement = "S";
        else if (encoding->subcomponent && *p == encoding->subcomponent)
            replacement = "T";
        else if (*p == encoding->repetition)
            replacement = "R";
        else if (encoding->escape && *p == encoding->escape)
            replacement = "E";
        else if (*p == '\r')
            replacement = "X0D";
        else if (*p == '\n')
            replacement = "X0A";
        if (!replacement) {
            if (hl7_put(out, out_size, &used, *p) != 0)
                goto fail;
            continue;
        }
        /* Without an escape character a separator cannot be written at all. */
        if (!encoding->escape) {
            if (hl7_put(out, out_size, &used, ' ') != 0)
                goto fail;
            continue;
        }
        if (hl7_put(out, out_size, &used, encoding->escape) != 0)
            goto fail;
        for (const char *r = replacement; *r; r++)
            if (hl7_put(out, out_size, &used, *r) != 0)
                goto fail;
        if (hl7_put(out, out_size, &used, encoding->escape) != 0)
            goto fail;
    }
    out[used] = '\0';
    return (long)used;
fail:
    out[0] = '\0';
    return -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, by
 * counting in 400-year eras that start on 1 March (so leap days fall last). */
static int64_t hl7_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int hl7_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Start of the last Sunday of month in year, in days since the epoch. */
static int64_t hl7_last_sunday(int year, int month)
{
    int64_t last = hl7_days_from_civil(year, month, hl7_days_in_month(year, month));
    int64_t weekday = ((last % 7) + 7 + 4) % 7; /* 1970-01-01 was a Thursday; 0 is Sunday */
    return last - weekday;
}

/* UK local time (given as seconds as if it were UTC) to UTC seconds. */
static int64_t hl7_london_to_utc(int64_t local, int year)
{
    int64_t summer_start = hl7_last_sunday(year, 3) * 86400 + 3600;
    int64_t summer_end = hl7_last_sunday(year, 10) * 86400 + 3600;
    int64_t if_summer = local - 3600;
    return if_summer >= summer_start && if_summer < summer_end ? if_summer : local;
}

static int hl7_digits(const char *text, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)text[i]))
            return -1;
        *value = *value * 10 + (text[i] - '0');
    }
    return 0;
}

static int hl7_date_fields(const char *text, int *year, int *month, int *day)
{
    if (hl7_digits(text, 4, year) != 0 || hl7_digits(text + 4, 2, month) != 0 ||
        hl7_digits(text + 6, 2, day) != 0)
        return -1;
    if (*month < 1 || *month > 12 || *day < 1 || *day > hl7_days_in_month(*year, *month))
        return -1;
    return 0;
}

int hl7_date_parse(const char *text, int32_t *days)
{
    int year, month, day;
    if (strlen(text) < 8 || hl7_date_fields(text, &year, &month, &day) != 0 || year < 1800)
        return -1;
    *days = (int32_t)hl7_days_from_civil(year, month, day);
    return 0;
}

int hl7_datetime_parse(const char *text, int64_t *millis)
{
    int year, month, day, hour = 0, minute = 0, second = 0, fraction = 0;
    size_t len = strlen(text);
    if (len < 8 || hl7_date_fields(text, &year, &month, &day) != 0 || year < 1800)
        return -1;
    const char *p = text + 8;
    /* Hours, minutes and seconds, each optional in turn. */
    int *parts[] = {&hour, &minute, &second};
    static const int limits[] = {23, 59, 59};
    for (int i = 0; i < 3 && isdigit((unsigned char)*p); i++) {
        if (hl7_digits(p, 2, parts[i]) != 0 || *parts[i] > limits[i])
            return -1;
        p += 2;
    }
    if (*p == '.') {
        if (p - text != 14) /* a fraction needs seconds before it */
            return -1;
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (++digits > 4)
                return -1;
            if (digits <= 3) /* milliseconds; a fourth digit is below them */
                fraction = fraction * 10 + (*p - '0');
            p++;
        }
        for (int i = digits; i < 3; i++)
            fraction *= 10;
        if (digits == 0)
            return -1;
    }
    int64_t seconds =
        hl7_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, offset_hours, offset_minutes;
        if (hl7_digits(p + 1, 2, &offset_hours) != 0 ||
            hl7_digits(p + 3, 2, &offset_minutes) != 0 || p[5] != '\0' || offset_hours > 14 ||
            offset_minutes > 59)
            return -1;
        seconds -= sign * (offset_hours * 3600 + offset_minutes * 60);
    } else if (*p == '\0') {
        seconds = hl7_london_to_utc(seconds, year);
    } else {
        return -1;
    }
    *millis = seconds * 1000 + fraction;
    return 0;
}
