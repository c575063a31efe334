/*
 * codec_internal.h - what the codec's files share, and nothing outside
 * lib/schema/codec*.c may include: the compiled description of a schema
 * (struct codec_node, built by codec.c, walked by codec_encode.c and
 * codec_decode.c) and the field path that names the field at fault in an
 * error.
 *
 * The path helpers are static inline here because they run for every field
 * of every event on the encode and decode paths: they must stay inlined
 * into the walks, as they were when the codec was one file.
 */
#ifndef PLACEHUB_CODEC_INTERNAL_H
#define PLACEHUB_CODEC_INTERNAL_H

#include "schema/codec.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum codec_kind {
    CODEC_NULL,
    CODEC_BOOLEAN,
    CODEC_INT,
    CODEC_LONG,
    CODEC_STRING,
    CODEC_ENUM,
    CODEC_ARRAY,
    CODEC_RECORD
};

enum codec_logical { CODEC_PLAIN, CODEC_UUID, CODEC_TIMESTAMP_MILLIS, CODEC_DATE };

struct codec_node;

/* A place a type is used (a field or array items): nullable is a property of
 * the use, so a named type can be nullable in one place and not another. */
struct codec_slot {
    struct codec_node *node;
    int nullable;
};

struct codec_field {
    const char *name;
    struct codec_slot slot;
    const json_t *default_value; /* NULL: no default, the field is required */
};

struct codec_node {
    enum codec_kind kind;
    enum codec_logical logical;
    const char *full_name; /* named types only; malloc'd, owned by the node */
    size_t symbol_count;
    const char **symbols;
    struct codec_slot items;
    size_t field_count;
    struct codec_field *fields;
};

/* Every node is owned by the schema (nodes) and freed with it; names and
 * defaults are borrowed from document, which the schema keeps alive. */
struct codec_schema {
    json_t *document;
    char *text;
    avro_schema_t avro;
    avro_value_iface_t *iface;
    struct codec_node *root;
    struct codec_node **nodes;
    size_t node_count, node_capacity;
};

/* ---- the field path ---------------------------------------------------- */

struct codec_path {
    char text[256];
    size_t len;
};

/* The path is built for every field of every event, to name the field at
 * fault in an error, so it is appended by hand: vsnprintf here was about 4%
 * of dispatch's CPU. Text that does not fit is cut; the path stays
 * terminated. */
static inline void codec_path_append(struct codec_path *path, const char *text, size_t len)
{
    if (path->len >= sizeof path->text - 1)
        return;
    size_t room = sizeof path->text - 1 - path->len;
    if (len > room)
        len = room;
    memcpy(path->text + path->len, text, len);
    path->len += len;
    path->text[path->len] = '\0';
}

/* Appends ".name" (or "name" at the start); returns the length to pop to. */
static inline size_t codec_path_push_name(struct codec_path *path, const char *name)
{
    size_t saved = path->len;
    if (path->len)
        codec_path_append(path, ".", 1);
    codec_path_append(path, name, strlen(name));
    return saved;
}

/* Appends "[index]"; returns the length to pop to. */
static inline size_t codec_path_push_index(struct codec_path *path, uint64_t index)
{
    size_t saved = path->len;
    char text[24];
    size_t at = sizeof text;
    text[--at] = ']';
    do {
        text[--at] = (char)('0' + index % 10);
        index /= 10;
    } while (index);
    text[--at] = '[';
    codec_path_append(path, text + at, sizeof text - at);
    return saved;
}

static inline void codec_path_pop(struct codec_path *path, size_t saved)
{
    path->len = saved;
    path->text[saved] = '\0';
}

/* Fills *error with the path and the message; returns -1, so that a caller
 * can write `return codec_error_set(...)`. Only called on failure. */
int codec_error_set(struct codec_error *error, const struct codec_path *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
