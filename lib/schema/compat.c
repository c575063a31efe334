/*
 * compat.c - backward compatibility of Avro schemas (see compat.h): can a
 * reader holding the new schema read everything written with the old one?
 *
 * Why not avro-c: avro_resolved_writer_new(writer, reader) in avro-c 1.11.1
 * implements only part of Avro schema resolution. Tried on the fixtures in
 * tests/data/evolution/, it accepts a reader enum that lost a writer's
 * symbol and a changed logical type (it ignores logicalType), and it
 * refuses a field the reader adds even with a default ("Reader field ...
 * doesn't appear in writer": avro-c keeps no field defaults) - when that
 * field sits in a nested record, it crashes instead (SIGSEGV on the
 * compatible v2 fixture). Those are exactly the cases this check exists for,
 * so the rules are implemented here over the .avsc JSON (jansson), after the
 * "Schema Resolution" section of the Avro 1.11 specification:
 *   - records match by unqualified name; each reader field is read from the
 *     writer field of the same name, or needs a default valid for its type
 *     (for a union: valid for its first branch); writer fields the reader
 *     lacks are skipped;
 *   - enums match by unqualified name; every writer symbol must be a reader
 *     symbol, unless the reader enum has a default;
 *   - arrays and maps match when their items or values do; fixed when name
 *     and size do;
 *   - primitives match when equal or promotable: int to long, float, double;
 *     long to float, double; float to double; string and bytes both ways;
 *   - unions: each branch a writer may use must match a reader branch; a
 *     reader union takes a non-union writer in its first matching branch;
 *   - logical types (and decimal precision and scale) must agree: the bytes
 *     would resolve, but their meaning would not.
 * Aliases are not honoured (placehub does not use them, see
 * docs/schemas.md): a renamed field counts as one removed and one added.
 *
 * Everything here is borrowed from the two parsed documents, which live
 * until compat_check_backward returns.
 */
#include "schema/compat.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/catalogue.h"
#include "schema/codec.h"

/* A named type (record, enum, fixed) by its full name. */
struct compat_named {
    char *full_name;
    const json_t *definition;
    char *namespace; /* the namespace of names used inside the definition */
};

struct compat_schema {
    json_t *document;
    struct compat_named *named;
    size_t named_count, named_capacity;
};

/* A type with names resolved: kind is a primitive name, "record", "enum",
 * "fixed", "array", "map" or "union". */
struct compat_type {
    const char *kind;
    const json_t *json;    /* the definition (object), or the union (array) */
    const char *logical;   /* logicalType, NULL when none */
    const char *namespace; /* for resolving names inside */
    const char *name;      /* full name of a named type */
};

/* A record pair being checked, so recursive types end. */
struct compat_pair {
    const json_t *writer, *reader;
};

struct compat_checker {
    const struct compat_schema *writer, *reader;
    struct compat_pair *seen;
    size_t seen_count, seen_capacity;
    char *errstr;
    size_t errstr_size;
};

enum { COMPAT_MAX_DEPTH = 64 };

static const char *const compat_primitives[] = {"null",  "boolean", "int",   "long",
                                                "float", "double",  "bytes", "string"};

static int compat_is_primitive(const char *name)
{
    for (size_t i = 0; i < sizeof compat_primitives / sizeof compat_primitives[0]; i++)
        if (strcmp(name, compat_primitives[i]) == 0)
            return 1;
    return 0;
}

static int compat_is_named_kind(const char *kind)
{
    return strcmp(kind, "record") == 0 || strcmp(kind, "error") == 0 || strcmp(kind, "enum") == 0 ||
           strcmp(kind, "fixed") == 0;
}

static int compat_fail(char *errstr, size_t errstr_size, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int compat_fail(char *errstr, size_t errstr_size, const char *path, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    snprintf(errstr, errstr_size, "%s: %s", path[0] ? path : "top level", message);
    return -1;
}

/* The full name of name in namespace, per the Avro rules: a dotted name is
 * already full. */
static void compat_full_name(const char *name, const char *namespace, char *out, size_t size)
{
    if (strchr(name, '.') || !namespace || !namespace[0])
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "%s.%s", namespace, name);
}

static const char *compat_short_name(const char *full_name)
{
    const char *dot = strrchr(full_name, '.');
    return dot ? dot + 1 : full_name;
}

static const struct compat_named *compat_named_find(const struct compat_schema *schema,
                                                    const char *full_name)
{
    for (size_t i = 0; i < schema->named_count; i++)
        if (strcmp(schema->named[i].full_name, full_name) == 0)
            return &schema->named[i];
    return NULL;
}

/* ---- reading a schema -------------------------------------------------- */

/* Records every named type defined in type (and below) with its full name. */
static int compat_collect(struct compat_schema *schema, const json_t *type, const char *namespace,
                          const char *label, char *errstr, size_t errstr_size, int depth)
{
    if (depth > COMPAT_MAX_DEPTH)
        return compat_fail(errstr, errstr_size, "", "%s schema nests too deeply", label);
    if (json_is_array(type)) {
        size_t i;
        const json_t *branch;
        json_array_foreach(type, i, branch)
        {
            if (compat_collect(schema, branch, namespace, label, errstr, errstr_size, depth + 1))
                return -1;
        }
        return 0;
    }
    if (!json_is_object(type))
        return 0;
    const json_t *inner = json_object_get(type, "type");
    const char *kind = json_string_value(inner);
    if (!kind)
        return compat_collect(schema, inner, namespace, label, errstr, errstr_size, depth + 1);
    if (strcmp(kind, "array") == 0)
        return compat_collect(schema, json_object_get(type, "items"), namespace, label, errstr,
                              errstr_size, depth + 1);
    if (strcmp(kind, "map") == 0)
        return compat_collect(schema, json_object_get(type, "values"), namespace, label, errstr,
                              errstr_size, depth + 1);
    if (!compat_is_named_kind(kind))
        return 0;

    const char *name = json_string_value(json_object_get(type, "name"));
    if (!name)
        return compat_fail(errstr, errstr_size, "", "%s schema: a %s without a name", label, kind);
    const char *own_namespace = json_string_value(json_object_get(type, "namespace"));
    char full[512];
    compat_full_name(name, own_namespace ? own_namespace : namespace, full, sizeof full);
    if (compat_named_find(schema, full))
        return compat_fail(errstr, errstr_size, "", "%s schema defines %s twice", label, full);
    if (schema->named_count == schema->named_capacity) {
        size_t capacity = schema->named_capacity ? schema->named_capacity * 2 : 16;
        struct compat_named *named = realloc(schema->named, capacity * sizeof *named);
        if (!named)
            return compat_fail(errstr, errstr_size, "", "out of memory");
        schema->named = named;
        schema->named_capacity = capacity;
    }
    struct compat_named *entry = &schema->named[schema->named_count];
    const char *dot = strrchr(full, '.');
    entry->full_name = strdup(full);
    entry->namespace = strndup(full, dot ? (size_t)(dot - full) : 0);
    entry->definition = type;
    if (!entry->full_name || !entry->namespace) {
        free(entry->full_name);
        free(entry->namespace);
        return compat_fail(errstr, errstr_size, "", "out of memory");
    }
    schema->named_count++;

    if (strcmp(kind, "record") == 0 || strcmp(kind, "error") == 0) {
        const json_t *fields = json_object_get(type, "fields");
        if (!json_is_array(fields))
            return compat_fail(errstr, errstr_size, "", "%s schema: record %s has no fields list",
                               label, full);
        size_t i;
        const json_t *field;
        json_array_foreach(fields, i, field)
        {
            if (!json_string_value(json_object_get(field, "name")))
                return compat_fail(errstr, errstr_size, "",
                                   "%s schema: field %zu of %s has no name", label, i, full);
            if (compat_collect(schema, json_object_get(field, "type"), entry->namespace, label,
                               errstr, errstr_size, depth + 1) != 0)
                return -1;
        }
    }
    return 0;
}

static void compat_schema_free(struct compat_schema *schema)
{
    for (size_t i = 0; i < schema->named_count; i++) {
        free(schema->named[i].full_name);
        free(schema->named[i].namespace);
    }
    free(schema->named);
    json_decref(schema->document);
}

static int compat_schema_load(struct compat_schema *schema, const char *text, const char *label,
                              char *errstr, size_t errstr_size)
{
    json_error_t error;
    memset(schema, 0, sizeof *schema);
    schema->document = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!schema->document)
        return compat_fail(errstr, errstr_size, "", "%s schema is not valid JSON: line %d: %s",
                           label, error.line, error.text);
    return compat_collect(schema, schema->document, NULL, label, errstr, errstr_size, 0);
}

/* Resolves type (a name, a union or a definition) into *out. Returns 0, or
 * -1 when it names an unknown type or is not a type at all. */
static int compat_resolve(const struct compat_schema *schema, const json_t *type,
                          const char *namespace, struct compat_type *out, int depth)
{
    memset(out, 0, sizeof *out);
    out->namespace = namespace;
    if (depth > COMPAT_MAX_DEPTH)
        return -1;
    if (json_is_array(type)) {
        out->kind = "union";
        out->json = type;
        return 0;
    }
    const char *name = json_string_value(type);
    if (!name && json_is_object(type)) {
        const json_t *inner = json_object_get(type, "type");
        const char *kind = json_string_value(inner);
        if (!kind) /* {"type": {...}} */
            return compat_resolve(schema, inner, namespace, out, depth + 1);
        if (compat_is_named_kind(kind)) {
            const char *own_namespace = json_string_value(json_object_get(type, "namespace"));
            const char *short_name = json_string_value(json_object_get(type, "name"));
            char full[512];
            if (!short_name)
                return -1;
            compat_full_name(short_name, own_namespace ? own_namespace : namespace, full,
                             sizeof full);
            const struct compat_named *named = compat_named_find(schema, full);
            if (!named)
                return -1;
            out->kind = strcmp(kind, "error") == 0 ? "record" : kind;
            out->json = named->definition;
            out->namespace = named->namespace;
            out->name = named->full_name;
            out->logical = json_string_value(json_object_get(type, "logicalType"));
            return 0;
        }
        if (strcmp(kind, "array") == 0 || strcmp(kind, "map") == 0 || compat_is_primitive(kind)) {
            out->kind = kind;
            out->json = type;
            out->logical = json_string_value(json_object_get(type, "logicalType"));
            return 0;
        }
        /* {"type": "SomeName"}: a reference written as an object. */
        const char *logical = json_string_value(json_object_get(type, "logicalType"));
        if (compat_resolve(schema, inner, namespace, out, depth + 1) != 0)
            return -1;
        if (logical)
            out->logical = logical;
        return 0;
    }
    if (!name)
        return -1;
    if (compat_is_primitive(name)) {
        out->kind = name;
        return 0;
    }
    char full[512];
    compat_full_name(name, namespace, full, sizeof full);
    const struct compat_named *named = compat_named_find(schema, full);
    if (!named && !strchr(name, '.'))
        named = compat_named_find(schema, name);
    if (!named)
        return -1;
    const char *kind = json_string_value(json_object_get(named->definition, "type"));
    out->kind = strcmp(kind, "error") == 0 ? "record" : kind;
    out->json = named->definition;
    out->namespace = named->namespace;
    out->name = named->full_name;
    out->logical = json_string_value(json_object_get(named->definition, "logicalType"));
    return 0;
}

/* A short description for messages: "string", "int (date)", "enum Priority". */
static const char *compat_describe(const struct compat_type *type, char *out, size_t size)
{
    if (type->name)
        snprintf(out, size, "%s %s", type->kind, compat_short_name(type->name));
    else if (type->logical)
        snprintf(out, size, "%s (%s)", type->kind, type->logical);
    else
        snprintf(out, size, "%s", type->kind);
    return out;
}

/* ---- defaults ---------------------------------------------------------- */

/* 1 when value is a valid default for type (Avro's JSON encoding of it). */
static int compat_default_valid(const struct compat_schema *schema, const json_t *type,
                                const char *namespace, const json_t *value, int depth)
{
    struct compat_type resolved;
    if (depth > COMPAT_MAX_DEPTH || compat_resolve(schema, type, namespace, &resolved, depth) != 0)
        return 0;
    const char *kind = resolved.kind;
    if (strcmp(kind, "union") == 0) /* the first branch's type (Avro 1.11) */
        return json_array_size(resolved.json) > 0 &&
               compat_default_valid(schema, json_array_get(resolved.json, 0), namespace, value,
                                    depth + 1);
    if (strcmp(kind, "null") == 0)
        return json_is_null(value);
    if (strcmp(kind, "boolean") == 0)
        return json_is_boolean(value);
    if (strcmp(kind, "int") == 0)
        return json_is_integer(value) && json_integer_value(value) >= INT32_MIN &&
               json_integer_value(value) <= INT32_MAX;
    if (strcmp(kind, "long") == 0)
        return json_is_integer(value);
    if (strcmp(kind, "float") == 0 || strcmp(kind, "double") == 0)
        return json_is_number(value);
    if (strcmp(kind, "string") == 0 || strcmp(kind, "bytes") == 0 || strcmp(kind, "fixed") == 0)
        return json_is_string(value);
    if (strcmp(kind, "enum") == 0) {
        const char *symbol = json_string_value(value);
        size_t i;
        const json_t *candidate;
        if (!symbol)
            return 0;
        json_array_foreach(json_object_get(resolved.json, "symbols"), i, candidate)
        {
            if (json_is_string(candidate) && strcmp(json_string_value(candidate), symbol) == 0)
                return 1;
        }
        return 0;
    }
    if (strcmp(kind, "array") == 0) {
        size_t i;
        const json_t *item;
        if (!json_is_array(value))
            return 0;
        json_array_foreach(value, i, item)
        {
            if (!compat_default_valid(schema, json_object_get(resolved.json, "items"),
                                      resolved.namespace, item, depth + 1))
                return 0;
        }
        return 1;
    }
    if (strcmp(kind, "map") == 0) {
        const char *key;
        const json_t *item;
        if (!json_is_object(value))
            return 0;
        json_object_foreach((json_t *)value, key, item)
        {
            if (!compat_default_valid(schema, json_object_get(resolved.json, "values"),
                                      resolved.namespace, item, depth + 1))
                return 0;
        }
        return 1;
    }
    if (strcmp(kind, "record") == 0) {
        size_t i;
        const json_t *field;
        if (!json_is_object(value))
            return 0;
        json_array_foreach(json_object_get(resolved.json, "fields"), i, field)
        {
            const json_t *given =
                json_object_get(value, json_string_value(json_object_get(field, "name")));
            if (!given)
                given = json_object_get(field, "default");
            if (!given || !compat_default_valid(schema, json_object_get(field, "type"),
                                                resolved.namespace, given, depth + 1))
                return 0;
        }
        return 1;
    }
    return 0;
}

/* ---- resolution -------------------------------------------------------- */

/* Whether a writer's value of one type can be read as another, looking no
 * deeper than the types themselves (what the specification calls "match"). */
static int compat_match(const struct compat_type *writer, const struct compat_type *reader)
{
    static const struct {
        const char *from, *to;
    } promotions[] = {{"int", "long"},     {"int", "float"},   {"int", "double"},
                      {"long", "float"},   {"long", "double"}, {"float", "double"},
                      {"string", "bytes"}, {"bytes", "string"}};
    if (strcmp(writer->kind, reader->kind) == 0) {
        if (writer->name && reader->name)
            return strcmp(compat_short_name(writer->name), compat_short_name(reader->name)) == 0;
        return 1;
    }
    for (size_t i = 0; i < sizeof promotions / sizeof promotions[0]; i++)
        if (strcmp(writer->kind, promotions[i].from) == 0 &&
            strcmp(reader->kind, promotions[i].to) == 0)
            return 1;
    return 0;
}

static int compat_check(struct compat_checker *checker, const struct compat_type *writer,
                        const struct compat_type *reader, const char *path, int depth);

static int compat_check_json(struct compat_checker *checker, const json_t *writer_json,
                             const char *writer_namespace, const json_t *reader_json,
                             const char *reader_namespace, const char *path, int depth)
{
    struct compat_type writer, reader;
    if (compat_resolve(checker->writer, writer_json, writer_namespace, &writer, 0) != 0)
        return compat_fail(checker->errstr, checker->errstr_size, path,
                           "the old schema's type here is unknown or malformed");
    if (compat_resolve(checker->reader, reader_json, reader_namespace, &reader, 0) != 0)
        return compat_fail(checker->errstr, checker->errstr_size, path,
                           "the new schema's type here is unknown or malformed");
    return compat_check(checker, &writer, &reader, path, depth + 1);
}

static int compat_check_record(struct compat_checker *checker, const struct compat_type *writer,
                               const struct compat_type *reader, const char *path, int depth)
{
    for (size_t i = 0; i < checker->seen_count; i++)
        if (checker->seen[i].writer == writer->json && checker->seen[i].reader == reader->json)
            return 0; /* a recursive type: already being checked further up */
    if (checker->seen_count == checker->seen_capacity) {
        size_t capacity = checker->seen_capacity ? checker->seen_capacity * 2 : 16;
        struct compat_pair *seen = realloc(checker->seen, capacity * sizeof *seen);
        if (!seen)
            return compat_fail(checker->errstr, checker->errstr_size, path, "out of memory");
        checker->seen = seen;
        checker->seen_capacity = capacity;
    }
    checker->seen[checker->seen_count].writer = writer->json;
    checker->seen[checker->seen_count].reader = reader->json;
    checker->seen_count++;

    const json_t *writer_fields = json_object_get(writer->json, "fields");
    size_t i;
    const json_t *field;
    json_array_foreach(json_object_get(reader->json, "fields"), i, field)
    {
        const char *name = json_string_value(json_object_get(field, "name"));
        char child[512];
        snprintf(child, sizeof child, "%s%s%s", path, path[0] ? "." : "", name);
        const json_t *match = NULL;
        size_t k;
        const json_t *candidate;
        json_array_foreach(writer_fields, k, candidate)
        {
            const char *candidate_name = json_string_value(json_object_get(candidate, "name"));
            if (candidate_name && strcmp(candidate_name, name) == 0) {
                match = candidate;
                break;
            }
        }
        if (!match) {
            const json_t *default_value = json_object_get(field, "default");
            if (!default_value)
                return compat_fail(checker->errstr, checker->errstr_size, child,
                                   "added without a default, so data written with the old "
                                   "schema has no value for it (add \"default\": null to a "
                                   "nullable field)");
            if (!compat_default_valid(checker->reader, json_object_get(field, "type"),
                                      reader->namespace, default_value, 0))
                return compat_fail(checker->errstr, checker->errstr_size, child,
                                   "added with a default that does not match its type (for a "
                                   "union, its first branch)");
            continue;
        }
        if (compat_check_json(checker, json_object_get(match, "type"), writer->namespace,
                              json_object_get(field, "type"), reader->namespace, child, depth) != 0)
            return -1;
    }
    /* Writer fields the reader lacks are skipped when reading: nothing to check. */
    return 0;
}

static int compat_check_enum(struct compat_checker *checker, const struct compat_type *writer,
                             const struct compat_type *reader, const char *path)
{
    const json_t *reader_symbols = json_object_get(reader->json, "symbols");
    int reader_has_default = json_is_string(json_object_get(reader->json, "default"));
    size_t i;
    const json_t *symbol;
    json_array_foreach(json_object_get(writer->json, "symbols"), i, symbol)
    {
        const char *text = json_string_value(symbol);
        size_t k;
        const json_t *candidate;
        int found = 0;
        json_array_foreach(reader_symbols, k, candidate)
        {
            if (text && json_is_string(candidate) &&
                strcmp(json_string_value(candidate), text) == 0)
                found = 1;
        }
        if (!found && !reader_has_default)
            return compat_fail(checker->errstr, checker->errstr_size, path,
                               "enum symbol %s was removed from %s, which has no default for "
                               "symbols it does not know",
                               text ? text : "?", compat_short_name(reader->name));
    }
    return 0;
}

static int compat_logical_agree(struct compat_checker *checker, const struct compat_type *writer,
                                const struct compat_type *reader, const char *path)
{
    const char *old_logical = writer->logical ? writer->logical : "none";
    const char *new_logical = reader->logical ? reader->logical : "none";
    if (strcmp(old_logical, new_logical) != 0)
        return compat_fail(checker->errstr, checker->errstr_size, path,
                           "logical type changed from %s to %s", old_logical, new_logical);
    if (strcmp(new_logical, "decimal") == 0) {
        const char *keys[] = {"precision", "scale"};
        for (size_t i = 0; i < 2; i++) {
            const json_t *old_value = json_object_get(writer->json, keys[i]);
            const json_t *new_value = json_object_get(reader->json, keys[i]);
            json_int_t old_number = old_value ? json_integer_value(old_value) : 0;
            json_int_t new_number = new_value ? json_integer_value(new_value) : 0;
            if (old_number != new_number)
                return compat_fail(checker->errstr, checker->errstr_size, path,
                                   "decimal %s changed from %lld to %lld", keys[i],
                                   (long long)old_number, (long long)new_number);
        }
    }
    return 0;
}

/* The writer's value is a union: each branch the writer may have used must
 * be readable. */
static int compat_check_writer_union(struct compat_checker *checker,
                                     const struct compat_type *writer,
                                     const struct compat_type *reader, const char *path, int depth)
{
    char old_text[160], new_text[160];
    size_t i;
    const json_t *branch_json;
    json_array_foreach(writer->json, i, branch_json)
    {
        struct compat_type branch;
        if (compat_resolve(checker->writer, branch_json, writer->namespace, &branch, 0) != 0)
            return compat_fail(checker->errstr, checker->errstr_size, path,
                               "the old schema's union branch %zu is unknown or malformed", i);
        if (strcmp(reader->kind, "union") != 0 && !compat_match(&branch, reader))
            return compat_fail(
                checker->errstr, checker->errstr_size, path,
                "old values of type %s cannot be read as %s%s",
                compat_describe(&branch, old_text, sizeof old_text),
                compat_describe(reader, new_text, sizeof new_text),
                strcmp(branch.kind, "null") == 0 ? " (the field is no longer nullable)" : "");
        if (compat_check(checker, &branch, reader, path, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/* No reader branch can take the writer's value: for a nullable field, name
 * the type it now has. */
static int compat_reader_union_refuses(struct compat_checker *checker,
                                       const struct compat_type *writer,
                                       const struct compat_type *reader, const char *path)
{
    char old_text[160], new_text[160];
    struct compat_type only;
    size_t non_null = 0, i;
    const json_t *branch_json;
    json_array_foreach(reader->json, i, branch_json)
    {
        struct compat_type branch;
        if (compat_resolve(checker->reader, branch_json, reader->namespace, &branch, 0) == 0 &&
            strcmp(branch.kind, "null") != 0) {
            only = branch;
            non_null++;
        }
    }
    if (non_null == 1)
        return compat_fail(checker->errstr, checker->errstr_size, path,
                           "type changed from %s to %s",
                           compat_describe(writer, old_text, sizeof old_text),
                           compat_describe(&only, new_text, sizeof new_text));
    return compat_fail(checker->errstr, checker->errstr_size, path,
                       "type changed from %s to a union without a branch that can read it",
                       compat_describe(writer, old_text, sizeof old_text));
}

/* The reader's type is a union (the writer's is not): the first reader
 * branch that matches takes the value. */
static int compat_check_reader_union(struct compat_checker *checker,
                                     const struct compat_type *writer,
                                     const struct compat_type *reader, const char *path, int depth)
{
    size_t i;
    const json_t *branch_json;
    json_array_foreach(reader->json, i, branch_json)
    {
        struct compat_type branch;
        if (compat_resolve(checker->reader, branch_json, reader->namespace, &branch, 0) != 0)
            return compat_fail(checker->errstr, checker->errstr_size, path,
                               "the new schema's union branch %zu is unknown or malformed", i);
        if (strcmp(branch.kind, "union") != 0 && compat_match(writer, &branch))
            return compat_check(checker, writer, &branch, path, depth + 1);
    }
    return compat_reader_union_refuses(checker, writer, reader, path);
}

/* Neither is a union and they do not match: say whether the name or the
 * type changed. */
static int compat_mismatch(struct compat_checker *checker, const struct compat_type *writer,
                           const struct compat_type *reader, const char *path)
{
    char old_text[160], new_text[160];
    if (writer->name && reader->name && strcmp(writer->kind, reader->kind) == 0)
        return compat_fail(checker->errstr, checker->errstr_size, path,
                           "%s name changed from %s to %s (records and enums are matched "
                           "by name)",
                           writer->kind, compat_short_name(writer->name),
                           compat_short_name(reader->name));
    return compat_fail(checker->errstr, checker->errstr_size, path, "type changed from %s to %s",
                       compat_describe(writer, old_text, sizeof old_text),
                       compat_describe(reader, new_text, sizeof new_text));
}

/* Writer and reader match: compare what their kind carries. */
static int compat_check_matched(struct compat_checker *checker, const struct compat_type *writer,
                                const struct compat_type *reader, const char *path, int depth)
{
    if (strcmp(reader->kind, "record") == 0)
        return compat_check_record(checker, writer, reader, path, depth);
    if (strcmp(reader->kind, "enum") == 0)
        return compat_check_enum(checker, writer, reader, path);
    if (strcmp(reader->kind, "array") == 0 || strcmp(reader->kind, "map") == 0) {
        int array = strcmp(reader->kind, "array") == 0;
        const char *key = array ? "items" : "values";
        char child[512];
        snprintf(child, sizeof child, "%s%s", path, array ? "[]" : "{}");
        return compat_check_json(checker, json_object_get(writer->json, key), writer->namespace,
                                 json_object_get(reader->json, key), reader->namespace, child,
                                 depth);
    }
    if (strcmp(reader->kind, "fixed") == 0) {
        json_int_t old_size = json_integer_value(json_object_get(writer->json, "size"));
        json_int_t new_size = json_integer_value(json_object_get(reader->json, "size"));
        if (old_size != new_size)
            return compat_fail(checker->errstr, checker->errstr_size, path,
                               "fixed size changed from %lld to %lld", (long long)old_size,
                               (long long)new_size);
    }
    return 0;
}

static int compat_check(struct compat_checker *checker, const struct compat_type *writer,
                        const struct compat_type *reader, const char *path, int depth)
{
    if (depth > COMPAT_MAX_DEPTH)
        return compat_fail(checker->errstr, checker->errstr_size, path, "schema nests too deeply");
    if (strcmp(writer->kind, "union") == 0)
        return compat_check_writer_union(checker, writer, reader, path, depth);
    if (strcmp(reader->kind, "union") == 0)
        return compat_check_reader_union(checker, writer, reader, path, depth);
    if (!compat_match(writer, reader))
        return compat_mismatch(checker, writer, reader, path);
    if (compat_logical_agree(checker, writer, reader, path) != 0)
        return -1;
    return compat_check_matched(checker, writer, reader, path, depth);
}

int compat_check_backward(const char *old_text, const char *new_text, char *errstr,
                          size_t errstr_size)
{
    struct compat_schema writer, reader;
    int rc = -1;
    memset(&reader, 0, sizeof reader);
    if (compat_schema_load(&writer, old_text, "the old", errstr, errstr_size) != 0)
        goto out;
    if (compat_schema_load(&reader, new_text, "the new", errstr, errstr_size) != 0)
        goto out;
    struct compat_checker checker = {&writer, &reader, NULL, 0, 0, errstr, errstr_size};
    rc = compat_check_json(&checker, writer.document, NULL, reader.document, NULL, "", 0);
    free(checker.seen);
out:
    compat_schema_free(&writer);
    compat_schema_free(&reader);
    return rc;
}

int compat_check_catalogue(const struct catalogue *catalogue, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        if (entry->version <= 1)
            continue;
        const struct catalogue_entry *previous =
            catalogue_find_subject(catalogue, entry->subject, entry->version - 1);
        if (!previous) {
            snprintf(errstr, errstr_size, "%s version %d (%s): version %d is missing",
                     entry->subject, entry->version, entry->file, entry->version - 1);
            return -1;
        }
        char message[768];
        if (compat_check_backward(codec_schema_text(previous->schema),
                                  codec_schema_text(entry->schema), message, sizeof message) != 0) {
            snprintf(errstr, errstr_size,
                     "%s version %d (%s) cannot read data written with version %d (%s): %s",
                     entry->subject, entry->version, entry->file, previous->version, previous->file,
                     message);
            return -1;
        }
    }
    return 0;
}
