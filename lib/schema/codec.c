/*
 * codec.c - plain JSON <-> Avro binary for placehub's event schemas (see
 * codec.h for the JSON conventions): the schema's public API and its
 * compilation.
 *
 * codec_schema_new compiles the .avsc JSON into a small tree of nodes
 * (codec_internal.h) that knows what avro-c does not (logical types,
 * defaults as written). codec_encode.c walks that tree and the JSON event
 * together and fills an avro-c generic value; codec_decode.c checks the
 * bytes against the tree, reads an avro-c value and rebuilds JSON;
 * codec_time.c converts dates, timestamps and uuids. Every node is owned by
 * the schema (schema->nodes) and freed with it; names and defaults are
 * borrowed from the schema's JSON document, which the schema keeps alive.
 */
#include "schema/codec.h"
#include "schema/codec_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct codec_compiler {
    struct codec_schema *schema;
    char *errstr;
    size_t errstr_size;
};

/* ---- compiling the .avsc ---------------------------------------------- */

static int codec_compile_fail(struct codec_compiler *compiler, const char *path, const char *fmt,
                              ...) __attribute__((format(printf, 3, 4)));

static int codec_compile_fail(struct codec_compiler *compiler, const char *path, const char *fmt,
                              ...)
{
    char message[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    snprintf(compiler->errstr, compiler->errstr_size, "schema at %s: %s", path[0] ? path : "top",
             message);
    return -1;
}

static struct codec_node *codec_node_add(struct codec_schema *schema, enum codec_kind kind)
{
    if (schema->node_count == schema->node_capacity) {
        size_t capacity = schema->node_capacity ? schema->node_capacity * 2 : 32;
        struct codec_node **nodes = realloc(schema->nodes, capacity * sizeof *nodes);
        if (!nodes)
            return NULL;
        schema->nodes = nodes;
        schema->node_capacity = capacity;
    }
    struct codec_node *node = calloc(1, sizeof *node);
    if (!node)
        return NULL;
    node->kind = kind;
    schema->nodes[schema->node_count++] = node;
    return node;
}

static struct codec_node *codec_named_find(const struct codec_schema *schema, const char *full_name)
{
    for (size_t i = 0; i < schema->node_count; i++)
        if (schema->nodes[i]->full_name && strcmp(schema->nodes[i]->full_name, full_name) == 0)
            return schema->nodes[i];
    return NULL;
}

/* Full name of a named type per the Avro rules: a dotted name is already
 * full; otherwise it takes the given or enclosing namespace. */
static char *codec_full_name(const char *name, const char *namespace)
{
    char buffer[512];
    if (strchr(name, '.') || !namespace || !namespace[0])
        snprintf(buffer, sizeof buffer, "%s", name);
    else
        snprintf(buffer, sizeof buffer, "%s.%s", namespace, name);
    return strdup(buffer);
}

static int codec_compile_slot(struct codec_compiler *compiler, const json_t *type,
                              const char *namespace, const char *path, struct codec_slot *slot);
static int codec_compile_type(struct codec_compiler *compiler, const json_t *type,
                              const char *namespace, const char *path, struct codec_node **out);

/* A type given by name: a primitive (a new node) or a named type defined
 * earlier, looked up by its full name, then (for a plain name) as written. */
static int codec_compile_name(struct codec_compiler *compiler, const char *name,
                              const char *namespace, const char *path, struct codec_node **out)
{
    static const struct {
        const char *name;
        enum codec_kind kind;
    } primitives[] = {{"null", CODEC_NULL},
                      {"boolean", CODEC_BOOLEAN},
                      {"int", CODEC_INT},
                      {"long", CODEC_LONG},
                      {"string", CODEC_STRING}};
    struct codec_schema *schema = compiler->schema;

    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(name, primitives[i].name) == 0) {
            *out = codec_node_add(schema, primitives[i].kind);
            return *out ? 0 : codec_compile_fail(compiler, path, "out of memory");
        }
    char *full = codec_full_name(name, namespace);
    *out = full ? codec_named_find(schema, full) : NULL;
    if (!*out && full && !strchr(name, '.'))
        *out = codec_named_find(schema, name);
    free(full);
    if (!*out)
        return codec_compile_fail(compiler, path,
                                  "type '%s' is not supported by placehub or not defined "
                                  "before use",
                                  name);
    return 0;
}

static int codec_compile_enum_symbols(struct codec_compiler *compiler, const json_t *type,
                                      const char *path, struct codec_node *node)
{
    const json_t *symbols = json_object_get(type, "symbols");
    if (!json_is_array(symbols) || json_array_size(symbols) == 0)
        return codec_compile_fail(compiler, path, "enum %s needs symbols", node->full_name);
    node->symbol_count = json_array_size(symbols);
    node->symbols = calloc(node->symbol_count, sizeof *node->symbols);
    if (!node->symbols)
        return codec_compile_fail(compiler, path, "out of memory");
    for (size_t i = 0; i < node->symbol_count; i++) {
        node->symbols[i] = json_string_value(json_array_get(symbols, i));
        if (!node->symbols[i])
            return codec_compile_fail(compiler, path, "enum %s: symbol %zu is not a string",
                                      node->full_name, i);
    }
    return 0;
}

/* nested_namespace: the record's own, which its fields' named types take. */
static int codec_compile_record_fields(struct codec_compiler *compiler, const json_t *type,
                                       const char *nested_namespace, const char *path,
                                       struct codec_node *node)
{
    const json_t *fields = json_object_get(type, "fields");
    if (!json_is_array(fields))
        return codec_compile_fail(compiler, path, "record %s needs a fields list", node->full_name);
    node->field_count = json_array_size(fields);
    node->fields = calloc(node->field_count ? node->field_count : 1, sizeof *node->fields);
    if (!node->fields)
        return codec_compile_fail(compiler, path, "out of memory");
    for (size_t i = 0; i < node->field_count; i++) {
        const json_t *field = json_array_get(fields, i);
        struct codec_field *target = &node->fields[i];
        target->name = json_string_value(json_object_get(field, "name"));
        if (!target->name)
            return codec_compile_fail(compiler, path, "record %s: field %zu has no name",
                                      node->full_name, i);
        char child[512];
        snprintf(child, sizeof child, "%s%s%s", path, path[0] ? "." : "", target->name);
        target->default_value = json_object_get(field, "default");
        if (codec_compile_slot(compiler, json_object_get(field, "type"), nested_namespace, child,
                               &target->slot) != 0)
            return -1;
    }
    return 0;
}

/* A record or an enum definition (kind is "record" or "enum"): registers its
 * full name, refusing a second definition, then compiles its body. */
static int codec_compile_named(struct codec_compiler *compiler, const json_t *type,
                               const char *kind, const char *namespace, const char *path,
                               struct codec_node **out)
{
    struct codec_schema *schema = compiler->schema;
    const char *name = json_string_value(json_object_get(type, "name"));
    if (!name)
        return codec_compile_fail(compiler, path, "a %s needs a name", kind);
    const char *own_namespace = json_string_value(json_object_get(type, "namespace"));
    if (own_namespace)
    namespace = own_namespace;
    struct codec_node *node =
        codec_node_add(schema, strcmp(kind, "record") == 0 ? CODEC_RECORD : CODEC_ENUM);
    char *full = codec_full_name(name, namespace);
    if (!node || !full) {
        free(full);
        return codec_compile_fail(compiler, path, "out of memory");
    }
    if (codec_named_find(schema, full)) {
        int rc = codec_compile_fail(compiler, path, "type %s is defined twice", full);
        free(full);
        return rc;
    }
    node->full_name = full;
    *out = node;
    if (node->kind == CODEC_ENUM)
        return codec_compile_enum_symbols(compiler, type, path, node);

    /* The namespace of nested definitions is this type's own. */
    const char *dot = strrchr(full, '.');
    char nested_namespace[512] = "";
    if (dot)
        snprintf(nested_namespace, sizeof nested_namespace, "%.*s", (int)(dot - full), full);
    return codec_compile_record_fields(compiler, type, nested_namespace, path, node);
}

static int codec_compile_array(struct codec_compiler *compiler, const json_t *type,
                               const char *namespace, const char *path, struct codec_node **out)
{
    struct codec_node *node = codec_node_add(compiler->schema, CODEC_ARRAY);
    if (!node)
        return codec_compile_fail(compiler, path, "out of memory");
    *out = node;
    char child[512];
    snprintf(child, sizeof child, "%s[]", path);
    return codec_compile_slot(compiler, json_object_get(type, "items"), namespace, child,
                              &node->items);
}

/* A primitive written as an object, possibly with a logical type. */
static int codec_compile_annotated(struct codec_compiler *compiler, const json_t *type,
                                   const char *namespace, const char *path, struct codec_node **out)
{
    struct codec_node *node = NULL;
    if (codec_compile_type(compiler, json_object_get(type, "type"), namespace, path, &node) != 0)
        return -1;
    const char *logical = json_string_value(json_object_get(type, "logicalType"));
    if (logical) {
        /* A named type is shared: give the logical type its own node. */
        struct codec_node *copy = codec_node_add(compiler->schema, node->kind);
        if (!copy)
            return codec_compile_fail(compiler, path, "out of memory");
        node = copy;
        if (strcmp(logical, "uuid") == 0 && node->kind == CODEC_STRING)
            node->logical = CODEC_UUID;
        else if (strcmp(logical, "timestamp-millis") == 0 && node->kind == CODEC_LONG)
            node->logical = CODEC_TIMESTAMP_MILLIS;
        else if (strcmp(logical, "date") == 0 && node->kind == CODEC_INT)
            node->logical = CODEC_DATE;
        else
            return codec_compile_fail(compiler, path,
                                      "logical type '%s' on this type is not "
                                      "supported",
                                      logical);
    }
    *out = node;
    return 0;
}

static int codec_compile_type(struct codec_compiler *compiler, const json_t *type,
                              const char *namespace, const char *path, struct codec_node **out)
{
    if (json_is_string(type))
        return codec_compile_name(compiler, json_string_value(type), namespace, path, out);
    if (!json_is_object(type))
        return codec_compile_fail(compiler, path, "a type must be a name or an object");

    const char *kind = json_string_value(json_object_get(type, "type"));
    if (!kind)
        return codec_compile_fail(compiler, path, "\"type\" must be a string here");
    if (strcmp(kind, "record") == 0 || strcmp(kind, "enum") == 0)
        return codec_compile_named(compiler, type, kind, namespace, path, out);
    if (strcmp(kind, "array") == 0)
        return codec_compile_array(compiler, type, namespace, path, out);
    return codec_compile_annotated(compiler, type, namespace, path, out);
}

static int codec_compile_slot(struct codec_compiler *compiler, const json_t *type,
                              const char *namespace, const char *path, struct codec_slot *slot)
{
    slot->nullable = 0;
    if (json_is_array(type)) {
        const char *first = json_string_value(json_array_get(type, 0));
        if (json_array_size(type) != 2 || !first || strcmp(first, "null") != 0)
            return codec_compile_fail(compiler, path,
                                      "only [\"null\", T] unions are supported (null first)");
        slot->nullable = 1;
        type = json_array_get(type, 1);
        if (json_is_array(type))
            return codec_compile_fail(compiler, path, "nested unions are not allowed");
    }
    if (!type)
        return codec_compile_fail(compiler, path, "missing type");
    return codec_compile_type(compiler, type, namespace, path, &slot->node);
}

int codec_schema_new(const char *text, size_t len, struct codec_schema **out, char *errstr,
                     size_t errstr_size)
{
    json_error_t json_error;
    struct codec_schema *schema = calloc(1, sizeof *schema);
    struct codec_compiler compiler = {schema, errstr, errstr_size};
    *out = NULL;
    if (!schema) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    schema->document = json_loadb(text, len, JSON_REJECT_DUPLICATES, &json_error);
    if (!schema->document) {
        snprintf(errstr, errstr_size, "schema is not valid JSON: line %d column %d: %s",
                 json_error.line, json_error.column, json_error.text);
        goto fail;
    }
    schema->text = strndup(text, len);
    if (!schema->text) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (codec_compile_type(&compiler, schema->document, NULL, "", &schema->root) != 0)
        goto fail;
    if (schema->root->kind != CODEC_RECORD) {
        snprintf(errstr, errstr_size, "an event schema must be a record");
        goto fail;
    }
    if (avro_schema_from_json_length(schema->text, len, &schema->avro) != 0) {
        snprintf(errstr, errstr_size, "avro-c refused the schema: %s", avro_strerror());
        goto fail;
    }
    schema->iface = avro_generic_class_from_schema(schema->avro);
    if (!schema->iface) {
        snprintf(errstr, errstr_size, "avro-c cannot build a value class: %s", avro_strerror());
        goto fail;
    }
    *out = schema;
    return 0;
fail:
    codec_schema_destroy(schema);
    return -1;
}

void codec_schema_destroy(struct codec_schema *schema)
{
    if (!schema)
        return;
    for (size_t i = 0; i < schema->node_count; i++) {
        free((char *)schema->nodes[i]->full_name);
        free(schema->nodes[i]->symbols);
        free(schema->nodes[i]->fields);
        free(schema->nodes[i]);
    }
    free(schema->nodes);
    if (schema->iface)
        avro_value_iface_decref(schema->iface);
    if (schema->avro)
        avro_schema_decref(schema->avro);
    json_decref(schema->document);
    free(schema->text);
    free(schema);
}

/* Depth-first over the fields under node; prefix is the path so far. */
static void codec_paths_walk(const struct codec_node *node, char *prefix, size_t prefix_len,
                             size_t prefix_size, int depth,
                             void (*visit)(void *opaque, const char *path), void *opaque)
{
    /* Arrays are looked through: a path names the fields of their items. */
    while (node && node->kind == CODEC_ARRAY)
        node = node->items.node;
    if (!node || node->kind != CODEC_RECORD || depth > 16)
        return;
    for (size_t i = 0; i < node->field_count; i++) {
        int n = snprintf(prefix + prefix_len, prefix_size - prefix_len, "%s%s",
                         prefix_len ? "." : "", node->fields[i].name);
        if (n < 0 || (size_t)n >= prefix_size - prefix_len)
            continue;
        visit(opaque, prefix);
        codec_paths_walk(node->fields[i].slot.node, prefix, prefix_len + (size_t)n, prefix_size,
                         depth + 1, visit, opaque);
        prefix[prefix_len] = '\0';
    }
}

void codec_schema_paths(const struct codec_schema *schema,
                        void (*visit)(void *opaque, const char *path), void *opaque)
{
    char prefix[512] = "";
    codec_paths_walk(schema->root, prefix, 0, sizeof prefix, 0, visit, opaque);
}

const char *codec_schema_name(const struct codec_schema *schema)
{
    return schema->root->full_name;
}

avro_schema_t codec_schema_avro(const struct codec_schema *schema)
{
    return schema->avro;
}

const char *codec_schema_text(const struct codec_schema *schema)
{
    return schema->text;
}

/* ---- errors ------------------------------------------------------------ */

int codec_error_set(struct codec_error *error, const struct codec_path *path, const char *fmt, ...)
{
    snprintf(error->field, sizeof error->field, "%s", path->text);
    va_list args;
    va_start(args, fmt);
    vsnprintf(error->message, sizeof error->message, fmt, args);
    va_end(args);
    return -1;
}
