/*
 * config_parser.c - the typed readers behind every section of the
 * configuration (config_parser.h): messages with their file:line:column, the
 * key check with its "did you mean", and strings, numbers, booleans, options
 * and lists read from libyaml's document nodes. Sections (config_*.c) say
 * what they expect; this file says how a value is read and how it is refused.
 * Every message here is relied on word for word by users and tests.
 */
#include "core/config_parser.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- messages ------------------------------------------------------------ */

int config_fail(struct config_parser *parser, const yaml_node_t *node, const char *fmt, ...)
{
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    /* No node: the file as a whole is at fault; point at its start so every
     * message keeps the "file:line:column:" form config.h promises. */
    if (node)
        snprintf(parser->errstr, parser->errstr_size, "%s:%zu:%zu: %s", parser->name,
                 node->start_mark.line + 1, node->start_mark.column + 1, message);
    else
        snprintf(parser->errstr, parser->errstr_size, "%s:1:1: %s", parser->name, message);
    return -1;
}

/* Same as config_fail, at a place kept from the document (list entries). */
int config_fail_at(struct config_parser *parser, int line, int column, const char *fmt, ...)
{
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    snprintf(parser->errstr, parser->errstr_size, "%s:%d:%d: %s", parser->name, line, column,
             message);
    return -1;
}

/* --- keys ---------------------------------------------------------------- */

/* Levenshtein distance, for "did you mean" hints on misspelt keys. */
size_t config_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

const char *config_scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

const char *config_node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return "a single value";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_MAPPING_NODE:
        return "a mapping";
    default:
        return "nothing";
    }
}

int config_expect(struct config_parser *parser, const yaml_node_t *node, yaml_node_type_t type,
                  const char *where)
{
    static const char *const kinds[] = {"", "a single value", "a list", "a mapping"};
    if (node->type == type)
        return 0;
    return config_fail(parser, node, "%s must be %s, found %s", where, kinds[type],
                       config_node_kind(node));
}

/* libyaml accepts a key twice in one mapping and config_get would silently
 * use the first: refuse it, so an edit to the second copy is never ignored. */
int config_check_duplicate(struct config_parser *parser, const yaml_node_t *mapping,
                           const yaml_node_pair_t *pair, const char *where)
{
    const char *text = config_scalar(yaml_document_get_node(parser->document, pair->key));
    for (const yaml_node_pair_t *earlier = mapping->data.mapping.pairs.start; earlier < pair;
         earlier++) {
        yaml_node_t *key = yaml_document_get_node(parser->document, earlier->key);
        const char *earlier_text = config_scalar(key);
        if (text && earlier_text && strcmp(text, earlier_text) == 0)
            return config_fail(parser, yaml_document_get_node(parser->document, pair->key),
                               "key '%s' appears twice in %s (first on line %zu); keep one", text,
                               where, key->start_mark.line + 1);
    }
    return 0;
}

/* Checks that every key of mapping is one of known (NULL-terminated) and
 * appears once. */
int config_check_keys(struct config_parser *parser, const yaml_node_t *mapping,
                      const char *const *known, const char *where)
{
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(parser->document, pair->key);
        const char *text = config_scalar(key);
        if (!text)
            return config_fail(parser, key, "keys in %s must be plain words", where);
        if (config_check_duplicate(parser, mapping, pair, where) != 0)
            return -1;
        const char *nearest = NULL;
        size_t nearest_distance = SIZE_MAX;
        int found = 0;
        for (const char *const *k = known; *k; k++) {
            if (strcmp(*k, text) == 0) {
                found = 1;
                break;
            }
            size_t d = config_distance(*k, text);
            if (d < nearest_distance) {
                nearest_distance = d;
                nearest = *k;
            }
        }
        if (found)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *k = known; *k && used < sizeof list; k++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *k);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        if (nearest && nearest_distance <= 3)
            return config_fail(parser, key, "unknown key '%s' in %s; did you mean '%s'?", text,
                               where, nearest);
        return config_fail(parser, key, "unknown key '%s' in %s (known keys: %s)", text, where,
                           list);
    }
    return 0;
}

yaml_node_t *config_get(struct config_parser *parser, const yaml_node_t *mapping, const char *name)
{
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(parser->document, pair->key);
        const char *text = config_scalar(key);
        if (text && strcmp(text, name) == 0)
            return yaml_document_get_node(parser->document, pair->value);
    }
    return NULL;
}

/* --- typed readers ------------------------------------------------------- */

/* A string value: *out is replaced (freed first) by a copy. Missing keeps *out. */
int config_string(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                  const char *where, int required, char **out)
{
    yaml_node_t *node = config_get(parser, mapping, name);
    if (!node) {
        if (required)
            return config_fail(parser, mapping, "%s needs '%s'", where, name);
        return 0;
    }
    char label[160];
    snprintf(label, sizeof label, "%s.%s", where, name);
    if (config_expect(parser, node, YAML_SCALAR_NODE, label) != 0)
        return -1;
    const char *text = config_scalar(node);
    if (required && text[0] == '\0')
        return config_fail(parser, node, "%s must not be empty", label);
    char *copy = strdup(text);
    if (!copy)
        return config_fail(parser, node, "out of memory");
    free(*out);
    *out = copy;
    return 0;
}

int config_integer(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, long long min, long long max, long long *out)
{
    yaml_node_t *node = config_get(parser, mapping, name);
    if (!node)
        return 0;
    char label[160];
    snprintf(label, sizeof label, "%s.%s", where, name);
    if (config_expect(parser, node, YAML_SCALAR_NODE, label) != 0)
        return -1;
    const char *text = config_scalar(node);
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE)
        return config_fail(parser, node, "%s must be a whole number, found '%s'", label, text);
    if (value < min || value > max)
        return config_fail(parser, node, "%s must be between %lld and %lld, found %lld", label, min,
                           max, value);
    *out = value;
    return 0;
}

int config_int(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
               const char *where, int min, int max, int *out)
{
    long long value = *out;
    if (config_integer(parser, mapping, name, where, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

/* A mapping of plain key: value pairs (librdkafka properties, connector options). */
static int config_options_read(struct config_parser *parser, const yaml_node_t *mapping,
                               const char *name, const char *where, int structured_allowed,
                               struct config_option **options, size_t *count)
{
    yaml_node_t *node = config_get(parser, mapping, name);
    if (!node)
        return 0;
    char label[160];
    snprintf(label, sizeof label, "%s.%s", where, name);
    if (node->type == YAML_SCALAR_NODE && config_scalar(node)[0] == '\0')
        return 0; /* "properties:" with nothing after it */
    if (config_expect(parser, node, YAML_MAPPING_NODE, label) != 0)
        return -1;
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    *options = calloc(n ? n : 1, sizeof **options);
    if (!*options)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = yaml_document_get_node(parser->document, pair->key);
        yaml_node_t *value = yaml_document_get_node(parser->document, pair->value);
        if (!config_scalar(key))
            return config_fail(parser, key, "keys in %s must be plain words", label);
        if (config_check_duplicate(parser, node, pair, label) != 0)
            return -1;
        int structured = !config_scalar(value);
        if (structured && !structured_allowed)
            return config_fail(parser, value, "%s.%s must be a single value, found %s", label,
                               config_scalar(key), config_node_kind(value));
        (*options)[i].key = strdup(config_scalar(key));
        (*options)[i].line = (int)key->start_mark.line + 1;
        (*options)[i].structured = structured;
        *count = i + 1;
        if (!(*options)[i].key)
            return config_fail(parser, node, "out of memory");
        if (structured) {
            char inner[200];
            snprintf(inner, sizeof inner, "%s.%s", label, config_scalar(key));
            (*options)[i].value = config_json_text(parser, value, inner);
            if (!(*options)[i].value)
                return -1;
        } else if (!((*options)[i].value = strdup(config_scalar(value)))) {
            return config_fail(parser, node, "out of memory");
        }
    }
    return 0;
}

int config_options(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, struct config_option **options, size_t *count)
{
    return config_options_read(parser, mapping, name, where, 0, options, count);
}

int config_partner_options(struct config_parser *parser, const yaml_node_t *mapping,
                           const char *name, const char *where, struct config_option **options,
                           size_t *count)
{
    return config_options_read(parser, mapping, name, where, 1, options, count);
}

/* A list of plain values into a new array of copies: config_values without
 * the places. Missing keeps *out. */
int config_string_list(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                       const char *where, char ***out, size_t *count)
{
    struct config_value *values = NULL;
    size_t n = 0;
    int rc = config_values(parser, mapping, name, where, &values, &n);
    if (!values)
        return rc;
    *out = calloc(n ? n : 1, sizeof **out);
    for (size_t i = 0; i < n; i++) {
        if (*out)
            (*out)[i] = values[i].text;
        else
            free(values[i].text);
    }
    free(values);
    if (!*out)
        return config_fail(parser, mapping, "out of memory");
    *count = n;
    return rc;
}

/* true/false; missing keeps *out. */
int config_boolean(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                   const char *where, int *out)
{
    yaml_node_t *node = config_get(parser, mapping, name);
    if (!node)
        return 0;
    const char *text = config_scalar(node);
    if (text && strcmp(text, "true") == 0)
        *out = 1;
    else if (text && strcmp(text, "false") == 0)
        *out = 0;
    else
        return config_fail(parser, node, "%s.%s must be true or false, found '%s'", where, name,
                           text ? text : config_node_kind(node));
    return 0;
}

/* A list of single values, each kept with its place. A missing key leaves
 * *count 0; "[]" is an empty list. */
int config_values(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                  const char *where, struct config_value **out, size_t *count)
{
    yaml_node_t *node = config_get(parser, mapping, name);
    if (!node)
        return 0;
    char label[160];
    snprintf(label, sizeof label, "%s.%s", where, name);
    if (config_expect(parser, node, YAML_SEQUENCE_NODE, label) != 0)
        return -1;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *entry =
            yaml_document_get_node(parser->document, node->data.sequence.items.start[i]);
        const char *text = config_scalar(entry);
        if (!text || !text[0])
            return config_fail(parser, entry, "%s entries must be single values, found %s", label,
                               text ? "an empty one" : config_node_kind(entry));
        for (size_t j = 0; j < i; j++)
            if (strcmp((*out)[j].text, text) == 0)
                return config_fail(parser, entry, "%s names '%s' twice (first on line %d)", label,
                                   text, (*out)[j].line);
        (*out)[i].text = strdup(text);
        (*out)[i].line = (int)entry->start_mark.line + 1;
        (*out)[i].column = (int)entry->start_mark.column + 1;
        *count = i + 1;
        if (!(*out)[i].text)
            return config_fail(parser, entry, "out of memory");
    }
    return 0;
}

/* --- freeing what the readers made --------------------------------------- */

void config_options_free(struct config_option *options, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(options[i].key);
        free(options[i].value);
    }
    free(options);
}

void config_values_free(struct config_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(values[i].text);
    free(values);
}

void config_string_list_free(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

/* --- checks shared by several sections ----------------------------------- */

int config_one_of(const char *value, const char *const *allowed)
{
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(value, *a) == 0)
            return 1;
    return 0;
}

/* Kafka's own rule for topic names: [a-zA-Z0-9._-]{1,249}. */
int config_topic_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

/* ODS organisation codes: 3-8 capital letters and digits (as placehub-mllp). */
int config_ods_code_valid(const char *text)
{
    size_t len = strlen(text);
    return len >= 3 && len <= 8 && strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == len;
}

/* "env:NAME" or "file:/path" with something after the prefix. */
int config_secret_reference(const char *text)
{
    return (strncmp(text, "env:", 4) == 0 && text[4]) ||
           (strncmp(text, "file:", 5) == 0 && text[5]);
}
