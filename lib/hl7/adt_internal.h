/*
 * adt_internal.h - what the ADT mapping's files share, and nothing outside
 * lib/hl7/adt*.c may include: the mapping context of one message, and the
 * readers that take one value out of a segment (adt_field.c) for the event
 * builders (adt.c, adt_person.c).
 *
 * Every reader returns 0 (or a length) or -1 after adt_fail, which fills
 * the result's error and sets ADT_REJECT: a caller only passes -1 on.
 * IMPORTANT: reasons name segments, fields and codes, never a value about
 * the person (they are logged and go back in the ACK).
 */
#ifndef PLACEHUB_ADT_INTERNAL_H
#define PLACEHUB_ADT_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"
#include "hl7/adt.h"
#include "hl7/hl7.h"

enum adt_charset { ADT_UTF8, ADT_LATIN1 };

struct adt_context {
    const struct config *config;
    const struct hl7_message *message;
    struct adt_result *result;
    enum adt_charset charset;
    long msh, evn, pid, pd1, pv1, pv2;
};

/* A text value: at most this many bytes once decoded. */
enum { ADT_TEXT_MAX = 2048 };

struct adt_code {
    const char *code;
    const char *symbol;
};

/* Fills the result's error (code from enum adt_error_code; segment NULL,
 * field 0 or component 0 when the reason is wider) and sets ADT_REJECT.
 * Returns -1. */
int adt_fail(struct adt_context *context, int code, const char *segment, int field, int repetition,
             int component, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* The name of segment ("" when absent, i.e. < 0). Borrowed. */
const char *adt_segment_name(const struct adt_context *context, long segment);

/* Reads one value, decoded, converted to UTF-8 and trimmed, into out
 * (ADT_TEXT_MAX bytes). Returns its length (0 when absent), or -1 after
 * adt_fail. segment < 0 (absent) reads as empty. */
int adt_text(struct adt_context *context, long segment, int field, int repetition, int component,
             int subcomponent, char *out);

/* Sets key to the value read, or to null when it is empty. 0 or -1. */
int adt_set_text(struct adt_context *context, json_t *object, const char *key, long segment,
                 int field, int repetition, int component, int subcomponent);

/* A timestamp field (first component) into key as RFC 3339; null when
 * empty. 0 or -1. */
int adt_set_datetime(struct adt_context *context, json_t *object, const char *key, long segment,
                     int field);

/* A date field into key as YYYY-MM-DD; null when empty or less precise
 * than a day. 0 or -1. */
int adt_set_date(struct adt_context *context, json_t *object, const char *key, long segment,
                 int field);

/* The symbol of code in a NULL-terminated table, or NULL. Borrowed. */
const char *adt_code_lookup(const struct adt_code *table, const char *code);

/* The value configured for key among count options, or NULL. Borrowed. */
const char *adt_option_lookup(const struct config_option *options, size_t count, const char *key);

/* 1 when text has the shape of an ODS code (3-8 capitals and digits). */
int adt_ods_shaped(const char *text);

/* text if it is fit to repeat in a reason (a short code), else a
 * placeholder. Borrowed. */
const char *adt_code_shown(const char *text);

/* The person (PID, PD1) and the sharing flags (PD1-12) into event
 * (adt_person.c). 0 or -1. */
int adt_set_person(struct adt_context *context, json_t *event);

#endif
