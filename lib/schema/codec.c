/*
 * codec.c - plain JSON <-> Avro binary for placehub's event schemas (see
 * codec.h for the JSON conventions).
 *
 * codec_schema_new compiles the .avsc JSON into a small tree of nodes that
 * knows what avro-c does not (logical types, defaults as written). Encoding
 * walks that tree and the JSON event together and fills an avro-c generic
 * value; decoding reads an avro-c value and walks the tree to rebuild JSON.
 * Every node is owned by the schema (schema->nodes) and freed with it; names
 * and defaults are borrowed from the schema's JSON document, which the schema
 * keeps alive.
 */
#include "schema/codec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

struct codec_schema {
    json_t *document;
    char *text;
    avro_schema_t avro;
    avro_value_iface_t *iface;
    struct codec_node *root;
    struct codec_node **nodes;
    size_t node_count, node_capacity;
};

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
                              const char *namespace, const char *path, struct codec_node **out)
{
    struct codec_schema *schema = compiler->schema;
    static const struct {
        const char *name;
        enum codec_kind kind;
    } primitives[] = {{"null", CODEC_NULL},
                      {"boolean", CODEC_BOOLEAN},
                      {"int", CODEC_INT},
                      {"long", CODEC_LONG},
                      {"string", CODEC_STRING}};

    if (json_is_string(type)) {
        const char *name = json_string_value(type);
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
    if (!json_is_object(type))
        return codec_compile_fail(compiler, path, "a type must be a name or an object");

    const char *kind = json_string_value(json_object_get(type, "type"));
    if (!kind)
        return codec_compile_fail(compiler, path, "\"type\" must be a string here");

    if (strcmp(kind, "record") == 0 || strcmp(kind, "enum") == 0) {
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
        /* The namespace of nested definitions is this type's own. */
        const char *dot = strrchr(full, '.');
        char nested_namespace[512] = "";
        if (dot)
            snprintf(nested_namespace, sizeof nested_namespace, "%.*s", (int)(dot - full), full);
        *out = node;

        if (node->kind == CODEC_ENUM) {
            const json_t *symbols = json_object_get(type, "symbols");
            if (!json_is_array(symbols) || json_array_size(symbols) == 0)
                return codec_compile_fail(compiler, path, "enum %s needs symbols", full);
            node->symbol_count = json_array_size(symbols);
            node->symbols = calloc(node->symbol_count, sizeof *node->symbols);
            if (!node->symbols)
                return codec_compile_fail(compiler, path, "out of memory");
            for (size_t i = 0; i < node->symbol_count; i++) {
                node->symbols[i] = json_string_value(json_array_get(symbols, i));
                if (!node->symbols[i])
                    return codec_compile_fail(compiler, path, "enum %s: symbol %zu is not a string",
                                              full, i);
            }
            return 0;
        }

        const json_t *fields = json_object_get(type, "fields");
        if (!json_is_array(fields))
            return codec_compile_fail(compiler, path, "record %s needs a fields list", full);
        node->field_count = json_array_size(fields);
        node->fields = calloc(node->field_count ? node->field_count : 1, sizeof *node->fields);
        if (!node->fields)
            return codec_compile_fail(compiler, path, "out of memory");
        for (size_t i = 0; i < node->field_count; i++) {
            const json_t *field = json_array_get(fields, i);
            struct codec_field *target = &node->fields[i];
            target->name = json_string_value(json_object_get(field, "name"));
            if (!target->name)
                return codec_compile_fail(compiler, path, "record %s: field %zu has no name", full,
                                          i);
            char child[512];
            snprintf(child, sizeof child, "%s%s%s", path, path[0] ? "." : "", target->name);
            target->default_value = json_object_get(field, "default");
            if (codec_compile_slot(compiler, json_object_get(field, "type"), nested_namespace,
                                   child, &target->slot) != 0)
                return -1;
        }
        return 0;
    }

    if (strcmp(kind, "array") == 0) {
        struct codec_node *node = codec_node_add(schema, CODEC_ARRAY);
        if (!node)
            return codec_compile_fail(compiler, path, "out of memory");
        *out = node;
        char child[512];
        snprintf(child, sizeof child, "%s[]", path);
        return codec_compile_slot(compiler, json_object_get(type, "items"), namespace, child,
                                  &node->items);
    }

    /* A primitive written as an object, possibly with a logical type. */
    struct codec_node *node = NULL;
    if (codec_compile_type(compiler, json_object_get(type, "type"), namespace, path, &node) != 0)
        return -1;
    const char *logical = json_string_value(json_object_get(type, "logicalType"));
    if (logical) {
        /* A named type is shared: give the logical type its own node. */
        struct codec_node *copy = codec_node_add(schema, node->kind);
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

/* ---- dates, times and uuids ------------------------------------------- */

/* Days from 1970-01-01 to a proleptic Gregorian date (era-based arithmetic,
 * valid for any year representable here). */
static int64_t codec_days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static int codec_days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads exactly count digits at *text into *value and advances. */
static int codec_digits(const char **text, int count, int *value)
{
    *value = 0;
    for (int i = 0; i < count; i++) {
        if (!isdigit((unsigned char)(*text)[i]))
            return -1;
        *value = *value * 10 + ((*text)[i] - '0');
    }
    *text += count;
    return 0;
}

static int codec_date_prefix(const char **text, int64_t *days)
{
    int year, month, day;
    if (codec_digits(text, 4, &year) != 0 || *(*text)++ != '-' ||
        codec_digits(text, 2, &month) != 0 || *(*text)++ != '-' || codec_digits(text, 2, &day) != 0)
        return -1;
    if (year < 1 || month < 1 || month > 12 || day < 1 || day > codec_days_in_month(year, month))
        return -1;
    *days = codec_days_from_civil(year, month, day);
    return 0;
}

int codec_date_parse(const char *text, int32_t *days)
{
    int64_t value;
    if (codec_date_prefix(&text, &value) != 0 || *text != '\0')
        return -1;
    *days = (int32_t)value;
    return 0;
}

int codec_timestamp_parse(const char *text, int64_t *millis)
{
    int64_t days;
    int hour, minute, second, fraction = 0;
    if (codec_date_prefix(&text, &days) != 0)
        return -1;
    if (*text != 'T' && *text != 't')
        return -1;
    text++;
    if (codec_digits(&text, 2, &hour) != 0 || *text++ != ':' ||
        codec_digits(&text, 2, &minute) != 0 || *text++ != ':' ||
        codec_digits(&text, 2, &second) != 0)
        return -1;
    if (hour > 23 || minute > 59 || second > 60)
        return -1;
    if (*text == '.') {
        text++;
        int count = 0;
        while (isdigit((unsigned char)*text)) {
            if (count < 3)
                fraction = fraction * 10 + (*text - '0');
            count++;
            text++;
        }
        if (count == 0 || count > 9)
            return -1;
        for (; count < 3; count++)
            fraction *= 10;
    }
    int offset_minutes = 0;
    if (*text == 'Z' || *text == 'z') {
        text++;
    } else if (*text == '+' || *text == '-') {
        int sign = *text++ == '-' ? -1 : 1, offset_hour, offset_minute;
        if (codec_digits(&text, 2, &offset_hour) != 0 || *text++ != ':' ||
            codec_digits(&text, 2, &offset_minute) != 0 || offset_hour > 23 || offset_minute > 59)
            return -1;
        offset_minutes = sign * (offset_hour * 60 + offset_minute);
    } else {
        return -1; /* a time without an offset is ambiguous: refuse it */
    }
    if (*text != '\0')
        return -1;
    if (second == 60)
        second = 59; /* leap second: Avro and Unix time have no such second */
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    *millis = seconds * 1000 + fraction;
    return 0;
}

static void codec_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    *day = (int)(day_of_year - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

void codec_date_format(int32_t days, char *out, size_t out_size)
{
    int64_t year;
    int month, day;
    codec_civil_from_days(days, &year, &month, &day);
    snprintf(out, out_size, "%04" PRId64 "-%02d-%02d", year, month, day);
}

void codec_timestamp_format(int64_t millis, char *out, size_t out_size)
{
    int64_t days = millis / 86400000, rest = millis % 86400000;
    if (rest < 0) {
        rest += 86400000;
        days--;
    }
    int64_t year;
    int month, day;
    codec_civil_from_days(days, &year, &month, &day);
    snprintf(out, out_size, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month, day,
             (int)(rest / 3600000), (int)(rest / 60000 % 60), (int)(rest / 1000 % 60),
             (int)(rest % 1000));
}

int codec_uuid_valid(const char *text)
{
    for (int i = 0; i < 36; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!isxdigit((unsigned char)c)) {
            return 0;
        }
    }
    return text[36] == '\0';
}

/* ---- encoding ---------------------------------------------------------- */

struct codec_path {
    char text[256];
    size_t len;
};

/* The path is built for every field of every event, to name the field at
 * fault in an error, so it is appended by hand: vsnprintf here was about 4%
 * of dispatch's CPU. Text that does not fit is cut; the path stays
 * terminated. */
static void codec_path_append(struct codec_path *path, const char *text, size_t len)
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
static size_t codec_path_push_name(struct codec_path *path, const char *name)
{
    size_t saved = path->len;
    if (path->len)
        codec_path_append(path, ".", 1);
    codec_path_append(path, name, strlen(name));
    return saved;
}

/* Appends "[index]"; returns the length to pop to. */
static size_t codec_path_push_index(struct codec_path *path, uint64_t index)
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

static void codec_path_pop(struct codec_path *path, size_t saved)
{
    path->len = saved;
    path->text[saved] = '\0';
}

static int codec_error_set(struct codec_error *error, const struct codec_path *path,
                           const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int codec_error_set(struct codec_error *error, const struct codec_path *path,
                           const char *fmt, ...)
{
    snprintf(error->field, sizeof error->field, "%s", path->text);
    va_list args;
    va_start(args, fmt);
    vsnprintf(error->message, sizeof error->message, fmt, args);
    va_end(args);
    return -1;
}

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

    case CODEC_LONG:
        if (node->logical == CODEC_TIMESTAMP_MILLIS && !raw) {
            int64_t millis;
            if (!json_is_string(json))
                return codec_error_set(error, path,
                                       "must be an RFC 3339 timestamp string, found %s",
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

    case CODEC_STRING:
        if (!json_is_string(json))
            return codec_error_set(error, path, "must be a string, found %s",
                                   codec_json_kind(json));
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
        return avro_value_set_string_len(value, json_string_value(json),
                                         json_string_length(json) + 1);

    case CODEC_ENUM: {
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

    case CODEC_ARRAY: {
        if (!json_is_array(json))
            return codec_error_set(error, path, "must be a list, found %s", codec_json_kind(json));
        for (size_t i = 0; i < json_array_size(json); i++) {
            avro_value_t item;
            if (avro_value_append(value, &item, NULL) != 0)
                return codec_error_set(error, path, "cannot append: %s", avro_strerror());
            size_t saved = codec_path_push_index(path, i);
            int rc =
                codec_encode_slot(&node->items, json_array_get(json, i), raw, &item, path, error);
            codec_path_pop(path, saved);
            if (rc != 0)
                return -1;
        }
        return 0;
    }

    case CODEC_RECORD: {
        if (!json_is_object(json))
            return codec_error_set(error, path, "must be an object, found %s",
                                   codec_json_kind(json));
        /* Unknown keys first: a misspelt optional field would otherwise be
         * dropped silently and its default sent on. */
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

/* ---- decoding ---------------------------------------------------------- */

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
