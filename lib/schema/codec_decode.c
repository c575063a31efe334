/*
 * codec_decode.c - Avro binary -> plain JSON (codec_decode, see codec.h):
 * first a walk over the bytes that checks every length against the schema
 * (codec_scan_*), then avro-c reads the value and the compiled schema
 * (codec_internal.h) turns it into JSON. On the hot path of dispatch.
 */
#include "schema/codec.h"
#include "schema/codec_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* IMPORTANT: avro-c (1.11) trusts the lengths it reads. A string length of
 * a gigabyte in a four-byte message makes it allocate a gigabyte, and when
 * the read then fails it leaks that buffer (read_string). Messages come from
 * Kafka, i.e. from outside, so codec_decode first walks the bytes with the
 * schema: every length, count, union branch and enum index is checked
 * against the bytes left and the schema before avro-c allocates anything.
 * The walk also gives the exact size of the record, so trailing bytes are
 * found without assuming the writer used the shortest encoding. */

struct codec_scan {
    const unsigned char *data;
    size_t len, pos;
};

static int codec_scan_long(struct codec_scan *scan, int64_t *value)
{
    uint64_t raw = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (scan->pos >= scan->len)
            return -1;
        unsigned char byte = scan->data[scan->pos++];
        raw |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            *value = (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
            return 0;
        }
    }
    return -1; /* longer than the 10 bytes a long can take */
}

/* 1 when a value of slot may take no bytes at all (null, or a record of
 * such fields): then an array block's count is not bounded by the bytes left. */
static int codec_slot_may_be_empty(const struct codec_slot *slot, int depth)
{
    if (slot->nullable || depth > 16)
        return 0;
    if (slot->node->kind == CODEC_NULL)
        return 1;
    if (slot->node->kind != CODEC_RECORD)
        return 0;
    for (size_t i = 0; i < slot->node->field_count; i++)
        if (!codec_slot_may_be_empty(&slot->node->fields[i].slot, depth + 1))
            return 0;
    return 1;
}

static const char codec_truncated[] =
    "the message ends in the middle of this value (truncated, or not written with this schema)";

static int codec_scan_slot(const struct codec_slot *slot, struct codec_scan *scan,
                           struct codec_path *path, struct codec_error *error);

static int codec_scan_node(const struct codec_node *node, struct codec_scan *scan,
                           struct codec_path *path, struct codec_error *error)
{
    int64_t number;
    switch (node->kind) {
    case CODEC_NULL:
        return 0;
    case CODEC_BOOLEAN:
        if (scan->pos >= scan->len)
            return codec_error_set(error, path, "%s", codec_truncated);
        if (scan->data[scan->pos] > 1)
            return codec_error_set(error, path, "a boolean must be byte 0 or 1, found %u",
                                   scan->data[scan->pos]);
        scan->pos++;
        return 0;
    case CODEC_INT:
    case CODEC_LONG:
        if (codec_scan_long(scan, &number) != 0)
            return codec_error_set(error, path, "%s", codec_truncated);
        if (node->kind == CODEC_INT && (number < INT32_MIN || number > INT32_MAX))
            return codec_error_set(error, path, "%" PRId64 " is out of range for a 32-bit int",
                                   number);
        return 0;
    case CODEC_STRING:
        if (codec_scan_long(scan, &number) != 0)
            return codec_error_set(error, path, "%s", codec_truncated);
        if (number < 0 || (uint64_t)number > scan->len - scan->pos)
            return codec_error_set(error, path,
                                   "string length %" PRId64 " does not fit in the %zu bytes left",
                                   number, scan->len - scan->pos);
        scan->pos += (size_t)number;
        return 0;
    case CODEC_ENUM:
        if (codec_scan_long(scan, &number) != 0)
            return codec_error_set(error, path, "%s", codec_truncated);
        if (number < 0 || (uint64_t)number >= node->symbol_count)
            return codec_error_set(error, path, "enum index %" PRId64 " is not a symbol of %s",
                                   number, node->full_name);
        return 0;
    case CODEC_ARRAY: {
        int items_may_be_empty = codec_slot_may_be_empty(&node->items, 0);
        uint64_t total = 0;
        for (;;) {
            int64_t count;
            if (codec_scan_long(scan, &count) != 0)
                return codec_error_set(error, path, "%s", codec_truncated);
            if (count == 0)
                return 0;
            if (count < 0) {
                /* A negative count is followed by the block's size in bytes. */
                int64_t size;
                if (count == INT64_MIN || codec_scan_long(scan, &size) != 0)
                    return codec_error_set(error, path, "%s", codec_truncated);
                if (size < 0 || (uint64_t)size > scan->len - scan->pos)
                    return codec_error_set(error, path,
                                           "array block size %" PRId64 " does not fit in the "
                                           "%zu bytes left",
                                           size, scan->len - scan->pos);
                count = -count;
            }
            /* Each item takes at least a byte, unless it may be empty: then
             * only an arbitrary cap keeps avro-c from allocating without end. */
            total += (uint64_t)count;
            if (items_may_be_empty ? total > (uint64_t)1 << 20
                                   : (uint64_t)count > scan->len - scan->pos)
                return codec_error_set(error, path,
                                       "array of %" PRId64 " items does not fit in the %zu "
                                       "bytes left",
                                       count, scan->len - scan->pos);
            for (int64_t i = 0; i < count; i++) {
                size_t saved = codec_path_push_index(path, total - (uint64_t)count + (uint64_t)i);
                int rc = codec_scan_slot(&node->items, scan, path, error);
                codec_path_pop(path, saved);
                if (rc != 0)
                    return -1;
            }
        }
    }
    case CODEC_RECORD:
        for (size_t i = 0; i < node->field_count; i++) {
            size_t saved = codec_path_push_name(path, node->fields[i].name);
            int rc = codec_scan_slot(&node->fields[i].slot, scan, path, error);
            codec_path_pop(path, saved);
            if (rc != 0)
                return -1;
        }
        return 0;
    }
    return codec_error_set(error, path, "unsupported type");
}

static int codec_scan_slot(const struct codec_slot *slot, struct codec_scan *scan,
                           struct codec_path *path, struct codec_error *error)
{
    if (!slot->nullable)
        return codec_scan_node(slot->node, scan, path, error);
    int64_t branch;
    if (codec_scan_long(scan, &branch) != 0)
        return codec_error_set(error, path, "%s", codec_truncated);
    if (branch != 0 && branch != 1)
        return codec_error_set(error, path,
                               "union branch %" PRId64 " does not exist (0 is null, 1 the value)",
                               branch);
    return branch == 0 ? 0 : codec_scan_node(slot->node, scan, path, error);
}

static json_t *codec_decode_slot(const struct codec_slot *slot, avro_value_t *value,
                                 struct codec_path *path, struct codec_error *error);

static json_t *codec_decode_node(const struct codec_node *node, avro_value_t *value,
                                 struct codec_path *path, struct codec_error *error)
{
    switch (node->kind) {
    case CODEC_NULL:
        return json_null();
    case CODEC_BOOLEAN: {
        int flag = 0;
        avro_value_get_boolean(value, &flag);
        return json_boolean(flag);
    }
    case CODEC_INT: {
        int32_t number = 0;
        avro_value_get_int(value, &number);
        if (node->logical == CODEC_DATE) {
            char text[32];
            codec_date_format(number, text, sizeof text);
            return json_string(text);
        }
        return json_integer(number);
    }
    case CODEC_LONG: {
        int64_t number = 0;
        avro_value_get_long(value, &number);
        if (node->logical == CODEC_TIMESTAMP_MILLIS) {
            char text[48];
            codec_timestamp_format(number, text, sizeof text);
            return json_string(text);
        }
        return json_integer(number);
    }
    case CODEC_STRING: {
        const char *text = NULL;
        size_t size = 0;
        if (avro_value_get_string(value, &text, &size) != 0 || !text || size == 0) {
            codec_error_set(error, path, "cannot read a string");
            return NULL;
        }
        json_t *string = json_stringn(text, size - 1);
        if (!string)
            codec_error_set(error, path, "string is not valid UTF-8");
        return string;
    }
    case CODEC_ENUM: {
        int index = -1;
        avro_value_get_enum(value, &index);
        if (index < 0 || (size_t)index >= node->symbol_count) {
            codec_error_set(error, path, "enum index %d out of range", index);
            return NULL;
        }
        return json_string(node->symbols[index]);
    }
    case CODEC_ARRAY: {
        size_t count = 0;
        avro_value_get_size(value, &count);
        json_t *array = json_array();
        for (size_t i = 0; array && i < count; i++) {
            avro_value_t item;
            size_t saved = codec_path_push_index(path, i);
            json_t *decoded = avro_value_get_by_index(value, i, &item, NULL) == 0
                                  ? codec_decode_slot(&node->items, &item, path, error)
                                  : NULL;
            codec_path_pop(path, saved);
            if (!decoded || json_array_append_new(array, decoded) != 0) {
                json_decref(array);
                return NULL;
            }
        }
        return array;
    }
    case CODEC_RECORD: {
        json_t *object = json_object();
        for (size_t i = 0; object && i < node->field_count; i++) {
            const struct codec_field *field = &node->fields[i];
            avro_value_t child;
            size_t saved = codec_path_push_name(path, field->name);
            json_t *decoded = avro_value_get_by_index(value, i, &child, NULL) == 0
                                  ? codec_decode_slot(&field->slot, &child, path, error)
                                  : NULL;
            codec_path_pop(path, saved);
            if (!decoded || json_object_set_new(object, field->name, decoded) != 0) {
                json_decref(object);
                return NULL;
            }
        }
        return object;
    }
    }
    codec_error_set(error, path, "unsupported type");
    return NULL;
}

static json_t *codec_decode_slot(const struct codec_slot *slot, avro_value_t *value,
                                 struct codec_path *path, struct codec_error *error)
{
    if (!slot->nullable)
        return codec_decode_node(slot->node, value, path, error);
    int discriminant = -1;
    avro_value_t branch;
    if (avro_value_get_discriminant(value, &discriminant) != 0 ||
        avro_value_get_current_branch(value, &branch) != 0) {
        codec_error_set(error, path, "cannot read the union branch");
        return NULL;
    }
    if (discriminant == 0)
        return json_null();
    return codec_decode_node(slot->node, &branch, path, error);
}

int codec_decode(const struct codec_schema *schema, const unsigned char *data, size_t len,
                 json_t **event, struct codec_error *error)
{
    struct codec_path path = {"", 0};
    avro_value_t value;
    int rc = -1;
    *event = NULL;
    memset(error, 0, sizeof *error);
    struct codec_scan scan = {data, len, 0};
    if (codec_scan_node(schema->root, &scan, &path, error) != 0)
        return -1;
    if (scan.pos != len) {
        codec_error_set(error, &path, "%zu trailing bytes after the %s record", len - scan.pos,
                        schema->root->full_name);
        return -1;
    }
    if (avro_generic_value_new(schema->iface, &value) != 0)
        return codec_error_set(error, &path, "out of memory");
    avro_reader_t reader = avro_reader_memory((const char *)data, (int64_t)len);
    if (!reader) {
        codec_error_set(error, &path, "out of memory");
        goto out;
    }
    if (avro_value_read(reader, &value) != 0) {
        codec_error_set(error, &path, "not valid Avro for %s: %s", schema->root->full_name,
                        avro_strerror());
        goto out;
    }
    *event = codec_decode_node(schema->root, &value, &path, error);
    rc = *event ? 0 : -1;
out:
    if (reader)
        avro_reader_free(reader);
    avro_value_decref(&value);
    return rc;
}
