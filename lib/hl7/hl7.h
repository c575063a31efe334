/*
 * hl7.h - a parser for HL7 v2 messages in their usual pipe-and-hat form
 * (ER7), as hospitals send them over MLLP.
 *
 * The message's own encoding characters are honoured (MSH-1 field separator,
 * MSH-2 component, repetition, escape, subcomponent and, from v2.7,
 * truncation characters), segments may end with \r, \n or \r\n, and escape
 * sequences (\F\ \S\ \T\ \R\ \E\ \Xhh..\) are decoded when a value is read.
 * Parsing is bounded (struct hl7_limits) and checks every escape sequence up
 * front, so a value read later never fails for a reason the sender could
 * have been told about.
 *
 * Positions follow HL7's own numbering: PID-3 is field 3 of PID, MSH-1 is
 * the field separator itself and MSH-2 the encoding characters;
 * repetitions, components and subcomponents count from 1.
 *
 * A parsed message is immutable and owns a copy of the text: it may be read
 * from several threads.
 */
#ifndef PLACEHUB_HL7_H
#define PLACEHUB_HL7_H

#include <stddef.h>
#include <stdint.h>

struct hl7_message;

struct hl7_encoding {
    char field;        /* MSH-1, normally '|' */
    char component;    /* normally '^' */
    char repetition;   /* normally '~' */
    char escape;       /* normally '\\' */
    char subcomponent; /* normally '&' */
    char truncation;   /* '#' from v2.7; 0 when MSH-2 has only four characters */
};

/* Bounds on what hl7_parse accepts from outside. */
struct hl7_limits {
    size_t max_bytes;    /* the whole message */
    size_t max_segments; /* segments in the message */
    size_t max_fields;   /* fields in one segment */
};

/* The defaults: 1 MiB, 1000 segments, 300 fields a segment. */
#define HL7_LIMITS_DEFAULT                                                                         \
    {                                                                                              \
        1024 * 1024, 1000, 300                                                                     \
    }

/* Why and where a message was refused. text says it all for a person
 * ("PID (segment 3) field 7, byte 215: ..."); the parts are for an HL7 ERR
 * segment. Never contains the message's values, so it is safe to log. */
struct hl7_error {
    char segment[4];       /* segment id at fault, "" when not known */
    size_t segment_number; /* 1-based position of that segment, 0 when not known */
    int field;             /* HL7 field number, 0 for the segment as a whole */
    size_t offset;         /* byte offset in the message */
    char text[256];
};

/* Parses len bytes of data (not NUL-terminated; copied). Returns 0 and a new
 * message (caller frees with hl7_message_destroy), or -1 with *error filled
 * and *message NULL. limits NULL means HL7_LIMITS_DEFAULT. */
int hl7_parse(const char *data, size_t len, const struct hl7_limits *limits,
              struct hl7_message **message, struct hl7_error *error);

void hl7_message_destroy(struct hl7_message *message);

/* The message's encoding characters. Borrowed. */
const struct hl7_encoding *hl7_message_encoding(const struct hl7_message *message);

/* The message text as given to hl7_parse (NUL-terminated copy). Borrowed. */
const char *hl7_message_text(const struct hl7_message *message, size_t *len);

size_t hl7_segment_count(const struct hl7_message *message);

/* Segment id ("PID") of segment index (0-based). Borrowed. */
const char *hl7_segment_name(const struct hl7_message *message, size_t index);

/* Index of the first segment named name at or after from; -1 when none. */
long hl7_segment_find(const struct hl7_message *message, const char *name, size_t from);

/* Number of fields segment index has (MSH counts MSH-1 and MSH-2). */
int hl7_field_count(const struct hl7_message *message, size_t segment);

/* Number of repetitions of a field: 0 when the field is absent or empty. */
int hl7_repetition_count(const struct hl7_message *message, size_t segment, int field);

/* The value at segment/field/repetition/component/subcomponent as sent
 * (escape sequences not decoded). component or subcomponent 0 means the
 * whole repetition or component, separators included. Returns its length;
 * 0 and text "" when it is absent. *text is borrowed from the message. */
size_t hl7_raw(const struct hl7_message *message, size_t segment, int field, int repetition,
               int component, int subcomponent, const char **text);

/* The same value with its escape sequences decoded, copied NUL-terminated
 * into out. HL7's explicit null "" reads as empty. Returns the length, or
 * -1 when out is too small (out then holds an empty string). */
long hl7_value(const struct hl7_message *message, size_t segment, int field, int repetition,
               int component, int subcomponent, char *out, size_t out_size);

/* Decodes the escape sequences of raw text written with encoding into out
 * (NUL-terminated): \F\ \S\ \T\ \R\ \E\ become the separators, \Xhh..\ the
 * bytes, \.br\ a line break; highlighting, character set and local (Z)
 * sequences are dropped. Returns the length, or -1 when out is too small or
 * a sequence is malformed (hl7_parse has checked every one already). */
long hl7_unescape(const struct hl7_encoding *encoding, const char *raw, size_t len, char *out,
                  size_t out_size);

/* Escapes text for a message written with encoding (separators and the
 * escape character become \F\ \S\ ..., line breaks \X0D\ or \X0A\), for
 * building an answer in the sender's own encoding. Returns the length, or -1
 * when out is too small. */
long hl7_escape(const struct hl7_encoding *encoding, const char *text, char *out, size_t out_size);

/* Converts an HL7 date/time (DTM, or the first component of TS):
 * YYYYMMDD[HH[MM[SS[.S[S[S[S]]]]]]][+/-ZZZZ], into milliseconds since the
 * epoch (UTC). Without an offset the time is UK local time (Europe/London:
 * GMT, and BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on
 * the last Sunday of October, the rule since 1996); of the hour that happens
 * twice in October the first is taken. A date alone is local midnight.
 * Returns 0, or -1 when text is not such a date/time. */
int hl7_datetime_parse(const char *text, int64_t *millis);

/* The date part of an HL7 date or date/time (YYYYMMDD...) as days since
 * 1970-01-01, or -1 when it has fewer than 8 digits or is no calendar date.
 * Any time or offset after the date is ignored: a birth date is a date. */
int hl7_date_parse(const char *text, int32_t *days);

#endif
