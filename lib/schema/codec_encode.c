/*
 * codec_encode.c - plain JSON -> Avro binary (codec_encode, see codec.h):
 * walks the compiled schema (codec_internal.h) and the JSON event together,
 * fills an avro-c generic value and has avro-c write it. Every failure names
 * the field path at fault. On the hot path of ingest: no allocation per
 * field beyond avro-c's own.
 */
#include "schema/codec.h"
#include "schema/codec_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *codec_json_kind(const json_t *json)
{
    switch (json_typeof(json)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "a whole number";
    case JSON_REAL:
        return "a decimal number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "true/false";
    case JSON_NULL:
        return "null";
    }
    return "something else";
}

/* raw: the value is a schema default, in Avro's JSON form (e.g. a number for
 * a timestamp), not the plain form a sender writes. */
static int codec_encode_slot(const struct codec_slot *slot, const json_t *json, int raw,
                             avro_value_t *value, struct codec_path *path,
                             struct codec_error *error);

static int codec_encode_int(const struct codec_node *node, const json_t *json, int raw,
                            avro_value_t *value, struct codec_path *path, struct codec_error *error)
{
    if (node->logical == CODEC_DATE && !raw) {
        int32_t days;
        if (!json_is_string(json))
            return codec_error_set(error, path, "must be a date string YYYY-MM-DD, found %s",
                                   codec_json_kind(json));
        if (codec_date_parse(json_string_value(json), &days) != 0)
            return codec_error_set(error, path,
                                   "is not a valid date; expected YYYY-MM-DD such as "
                                   "1950-03-14");
        return avro_value_set_int(value, days);
    }
    if (!json_is_integer(json))
        return codec_error_set(error, path, "must be a whole number, found %s",
                               codec_json_kind(json));
    if (json_integer_value(json) < INT32_MIN || json_integer_value(json) > INT32_MAX)
        return codec_error_set(error, path, "is out of range for a 32-bit int");
    return avro_value_set_int(value, (int32_t)json_integer_value(json));
}

static int codec_encode_long(const struct codec_node *node, const json_t *json, int raw,
                             avro_value_t *value, struct codec_path *path,
                             struct codec_error *error)
{
    if (node->logical == CODEC_TIMESTAMP_MILLIS && !raw) {
        int64_t millis;
        if (!json_is_string(json))
            return codec_error_set(error, path, "must be an RFC 3339 timestamp string, found %s",
                                   codec_json_kind(json));
        if (codec_timestamp_parse(json_string_value(json), &millis) != 0)
            return codec_error_set(error, path,
                                   "is not a valid RFC 3339 timestamp; expected e.g. "
                                   "2026-11-22T10:15:30.000Z (with Z or an offset)");
        return avro_value_set_long(value, millis);
    }
    if (!json_is_integer(json))
        return codec_error_set(error, path, "must be a whole number, found %s",
                               codec_json_kind(json));
    return avro_value_set_long(value, json_integer_value(json));
}

static int codec_encode_string(const struct codec_node *node, const json_t *json,
                               avro_value_t *value, struct codec_path *path,
                               struct codec_error *error)
{
    if (!json_is_string(json))
        return codec_error_set(error, path, "must be a string, found %s", codec_json_kind(json));
    if (node->logical == CODEC_UUID) {
        if (!codec_uuid_valid(json_string_value(json)))
            return codec_error_set(error, path,
                                   "is not a UUID; expected 8-4-4-4-12 hexadecimal digits");
        /* Receivers deduplicate on ids compared as text: one spelling only. */
        char lower[37];
        for (int i = 0; i < 37; i++)
            lower[i] = (char)tolower((unsigned char)json_string_value(json)[i]);
        return avro_value_set_string_len(value, lower, sizeof lower);
    }
    /* avro-c's length includes the terminating NUL. */
    return avro_value_set_string_len(value, json_string_value(json), json_string_length(json) + 1);
}

static int codec_encode_enum(const struct codec_node *node, const json_t *json, avro_value_t *value,
                             struct codec_path *path, struct codec_error *error)
{
    if (!json_is_string(json))
        return codec_error_set(error, path, "must be one of the symbols of %s, found %s",
                               node->full_name, codec_json_kind(json));
    const char *text = json_string_value(json);
    for (size_t i = 0; i < node->symbol_count; i++)
        if (strcmp(node->symbols[i], text) == 0)
            return avro_value_set_enum(value, (int)i);
    char allowed[200] = "";
    size_t used = 0;
    for (size_t i = 0; i < node->symbol_count && used < sizeof allowed; i++) {
        int n = snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "",
                         node->symbols[i]);
        if (n > 0)
            used += (size_t)n;
    }
    return codec_error_set(error, path, "is not one of: %s", allowed);
}

static int codec_encode_array(const struct codec_node *node, const json_t *json, int raw,
                              avro_value_t *value, struct codec_path *path,
                              struct codec_error *error)
{
    if (!json_is_array(json))
        return codec_error_set(error, path, "must be a list, found %s", codec_json_kind(json));
    for (size_t i = 0; i < json_array_size(json); i++) {
        avro_value_t item;
        if (avro_value_append(value, &item, NULL) != 0)
            return codec_error_set(error, path, "cannot append: %s", avro_strerror());
        size_t saved = codec_path_push_index(path, i);
        int rc = codec_encode_slot(&node->items, json_array_get(json, i), raw, &item, path, error);
        codec_path_pop(path, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Refuses a key of json that is no field of the record. Checked before any
 * field is encoded: a misspelt optional field would otherwise be dropped
 * silently and its default sent on. */
static int codec_encode_check_keys(const struct codec_node *node, const json_t *json,
                                   struct codec_path *path, struct codec_error *error)
{
    const char *key;
    const json_t *ignored;
    json_object_foreach((json_t *)json, key, ignored)
    {
        size_t i;
        for (i = 0; i < node->field_count; i++)
            if (strcmp(node->fields[i].name, key) == 0)
                break;
        if (i == node->field_count) {
            size_t saved = codec_path_push_name(path, key);
            codec_error_set(error, path, "is not a field of %s", node->full_name);
            codec_path_pop(path, saved);
            return -1;
        }
    }
    return 0;
}

/* Each field in schema order: the value given, else the schema default
 * (raw, in Avro's JSON form), else the field is required. */
static int codec_encode_record(const struct codec_node *node, const json_t *json, int raw,
                               avro_value_t *value, struct codec_path *path,
                               struct codec_error *error)
{
    if (!json_is_object(json))
        return codec_error_set(error, path, "must be an object, found %s", codec_json_kind(json));
    if (codec_encode_check_keys(node, json, path, error) != 0)
        return -1;
    for (size_t i = 0; i < node->field_count; i++) {
        const struct codec_field *field = &node->fields[i];
        avro_value_t child;
        size_t saved = codec_path_push_name(path, field->name);
        const json_t *given = json_object_get(json, field->name);
        int rc;
        if (avro_value_get_by_index(value, i, &child, NULL) != 0)
            rc = codec_error_set(error, path, "avro-c: %s", avro_strerror());
        else if (given)
            rc = codec_encode_slot(&field->slot, given, raw, &child, path, error);
        else if (field->default_value)
            rc = codec_encode_slot(&field->slot, field->default_value, 1, &child, path, error);
        else
            rc = codec_error_set(error, path, "is required");
        codec_path_pop(path, saved);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int codec_encode_node(const struct codec_node *node, const json_t *json, int raw,
                             avro_value_t *value, struct codec_path *path,
                             struct codec_error *error)
{
    switch (node->kind) {
    case CODEC_NULL:
        if (!json_is_null(json))
            return codec_error_set(error, path, "must be null, found %s", codec_json_kind(json));
        return avro_value_set_null(value);
    case CODEC_BOOLEAN:
        if (!json_is_boolean(json))
            return codec_error_set(error, path, "must be true or false, found %s",
                                   codec_json_kind(json));
        return avro_value_set_boolean(value, json_is_true(json));
    case CODEC_INT:
        return codec_encode_int(node, json, raw, value, path, error);
    case CODEC_LONG:
        return codec_encode_long(node, json, raw, value, path, error);
    case CODEC_STRING:
        return codec_encode_string(node, json, value, path, error);
    case CODEC_ENUM:
        return codec_encode_enum(node, json, value, path, error);
    case CODEC_ARRAY:
        return codec_encode_array(node, json, raw, value, path, error);
    case CODEC_RECORD:
        return codec_encode_record(node, json, raw, value, path, error);
    }
    return codec_error_set(error, path, "unsupported type");
}

static int codec_encode_slot(const struct codec_slot *slot, const json_t *json, int raw,
                             avro_value_t *value, struct codec_path *path,
                             struct codec_error *error)
{
    if (!slot->nullable) {
        if (json_is_null(json) && slot->node->kind != CODEC_NULL)
            return codec_error_set(error, path, "must not be null");
        return codec_encode_node(slot->node, json, raw, value, path, error);
    }
    avro_value_t branch;
    int is_null = json_is_null(json);
    if (avro_value_set_branch(value, is_null ? 0 : 1, &branch) != 0)
        return codec_error_set(error, path, "avro-c: %s", avro_strerror());
    if (is_null)
        return avro_value_set_null(&branch);
    return codec_encode_node(slot->node, json, raw, &branch, path, error);
}

int codec_encode(const struct codec_schema *schema, const json_t *event, size_t prefix,
                 unsigned char **out, size_t *out_len, struct codec_error *error)
{
    struct codec_path path = {"", 0};
    avro_value_t value;
    avro_writer_t writer = NULL;
    unsigned char *buffer = NULL;
    size_t size = 0;
    int rc = -1;
    *out = NULL;
    *out_len = 0;
    memset(error, 0, sizeof *error);
    if (avro_generic_value_new(schema->iface, &value) != 0)
        return codec_error_set(error, &path, "out of memory");
    if (codec_encode_node(schema->root, event, 0, &value, &path, error) != 0)
        goto out;
    if (avro_value_sizeof(&value, &size) != 0) {
        codec_error_set(error, &path, "avro-c cannot size the value: %s", avro_strerror());
        goto out;
    }
    buffer = calloc(1, prefix + size + 1);
    if (!buffer) {
        codec_error_set(error, &path, "out of memory");
        goto out;
    }
    writer = avro_writer_memory((const char *)buffer + prefix, (int64_t)size);
    if (!writer || avro_value_write(writer, &value) != 0) {
        codec_error_set(error, &path, "avro-c cannot write the value: %s", avro_strerror());
        goto out;
    }
    *out = buffer;
    *out_len = prefix + size;
    buffer = NULL;
    rc = 0;
out:
    if (writer)
        avro_writer_free(writer);
    free(buffer);
    avro_value_decref(&value);
    return rc;
}
