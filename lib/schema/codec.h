/*
 * codec.h - converts events between their plain JSON form (what partners
 * send and receive over HTTP) and Avro binary (what travels on Kafka), driven
 * by the .avsc schema.
 *
 * Plain JSON, not Avro's JSON encoding: a nullable field is its value or null
 * (never {"string": "..."}), timestamp-millis is an RFC 3339 UTC string with
 * milliseconds ("2026-11-22T10:15:30.000Z"), date is "YYYY-MM-DD", uuid a
 * lower- or upper-case 8-4-4-4-12 string, enums their symbol.
 *
 * avro-c (1.11) ignores logicalType, so the codec compiles its own
 * description of the schema from the .avsc JSON and uses avro-c for the
 * binary encoding itself.
 *
 * A struct codec_schema is immutable after codec_schema_new and may be shared
 * by threads; each encode/decode call uses its own avro-c value.
 */
#ifndef PLACEHUB_CODEC_H
#define PLACEHUB_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <avro.h>
#include <jansson.h>

struct codec_schema;

/* Where and why a conversion failed. field is a path such as
 * "person.local_identifiers[1].value", "" for the event as a whole. */
struct codec_error {
    char field[256];
    char message[256];
};

/* Compiles a schema from .avsc text. Only the subset placehub's schemas use
 * is accepted (null, boolean, int, long, string, enum, array, record and
 * ["null", T] unions); anything else is refused with its path. Returns 0 and
 * a new schema (caller frees with codec_schema_destroy) or -1 with errstr. */
int codec_schema_new(const char *text, size_t len, struct codec_schema **schema, char *errstr,
                     size_t errstr_size);

void codec_schema_destroy(struct codec_schema *schema);

/* The record's full name, e.g. "uk.placehub.events.AdmissionEvent". Borrowed. */
const char *codec_schema_name(const struct codec_schema *schema);

/* Calls visit with every field path of the schema, depth first in schema
 * order: "event_id", ..., "person", "person.nhs_number",
 * "person.local_identifiers", "person.local_identifiers.system", ...
 * Nullable records are entered; arrays are looked through to the fields of
 * their items. path is valid for the call only. */
void codec_schema_paths(const struct codec_schema *schema,
                        void (*visit)(void *opaque, const char *path), void *opaque);

/* The avro-c schema (borrowed; take a reference with avro_schema_incref to keep it). */
avro_schema_t codec_schema_avro(const struct codec_schema *schema);

/* The .avsc text as given to codec_schema_new. Borrowed. */
const char *codec_schema_text(const struct codec_schema *schema);

/* Encodes event (a JSON object in plain form) as Avro binary into a new
 * malloc'd buffer *out of *out_len bytes, leaving room for prefix bytes in
 * front (for the Confluent framing header; they are left zero). Fields
 * absent from event take the schema default; a field without a default is
 * required. Unknown fields are refused. Returns 0, or -1 with *error filled
 * (and *out NULL). Caller frees *out. */
int codec_encode(const struct codec_schema *schema, const json_t *event, size_t prefix,
                 unsigned char **out, size_t *out_len, struct codec_error *error);

/* Decodes Avro binary written with schema into a new plain-JSON object
 * (caller json_decref's it). Trailing bytes are an error. Returns 0 or -1
 * with *error filled. */
int codec_decode(const struct codec_schema *schema, const unsigned char *data, size_t len,
                 json_t **event, struct codec_error *error);

/* Converts between RFC 3339 and milliseconds since the epoch (UTC).
 * codec_timestamp_parse returns 0 or -1; codec_timestamp_format writes
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (needs 25 bytes). */
int codec_timestamp_parse(const char *text, int64_t *millis);
void codec_timestamp_format(int64_t millis, char *out, size_t out_size);

/* Converts between "YYYY-MM-DD" and days since 1970-01-01. */
int codec_date_parse(const char *text, int32_t *days);
void codec_date_format(int32_t days, char *out, size_t out_size);

/* 1 when text is an 8-4-4-4-12 hexadecimal UUID. */
int codec_uuid_valid(const char *text);

#endif
