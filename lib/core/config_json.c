/*
 * config_json.c - a YAML mapping or list of a partner's options as compact
 * JSON text, so a connector that takes structure (the http connector's
 * headers, body_template and answers: docs/connectors.md) reads it through
 * the same placehub_options get() as any other option.
 *
 * Types: a plain (unquoted) scalar that reads as a JSON number, true, false
 * or null keeps that type; anything else, quoted scalars above all, is a
 * string. Mapping keys must be single values and appear once.
 *
 * IMPORTANT: the configuration is outside input (fuzz_config reads it), and
 * YAML aliases can make a small file describe a huge tree ("billion
 * laughs"): depth and the number of nodes written are bounded.
 */
#include "core/config_parser.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_JSON_MAX_DEPTH 16
#define CONFIG_JSON_MAX_NODES 4096

struct config_json {
    struct config_parser *parser;
    const char *where;
    size_t nodes;
};

static json_t *config_json_node(struct config_json *state, const yaml_node_t *node, int depth);

static json_t *config_json_scalar(const yaml_node_t *node)
{
    const char *text = config_scalar(node);
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && text[0]) {
        json_t *typed = json_loads(text, JSON_DECODE_ANY, NULL);
        if (typed && (json_is_number(typed) || json_is_boolean(typed) || json_is_null(typed)))
            return typed;
        json_decref(typed);
    }
    return json_string(text);
}

static json_t *config_json_mapping(struct config_json *state, const yaml_node_t *node, int depth)
{
    json_t *object = json_object();
    if (!object) {
        config_fail(state->parser, node, "out of memory");
        return NULL;
    }
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = yaml_document_get_node(state->parser->document, pair->key);
        yaml_node_t *value = yaml_document_get_node(state->parser->document, pair->value);
        const char *name = config_scalar(key);
        if (!name || !value) {
            config_fail(state->parser, key, "keys in %s must be single values", state->where);
            goto fail;
        }
        if (config_check_duplicate(state->parser, node, pair, state->where) != 0)
            goto fail;
        json_t *item = config_json_node(state, value, depth + 1);
        if (!item || json_object_set_new(object, name, item) != 0) {
            if (item)
                config_fail(state->parser, key, "%s: key '%s' is not valid UTF-8", state->where,
                            name);
            goto fail;
        }
    }
    return object;
fail:
    json_decref(object);
    return NULL;
}

static json_t *config_json_node(struct config_json *state, const yaml_node_t *node, int depth)
{
    if (depth > CONFIG_JSON_MAX_DEPTH || ++state->nodes > CONFIG_JSON_MAX_NODES) {
        config_fail(state->parser, node,
                    "%s is too deep or too large (at most %d levels, %d values)", state->where,
                    CONFIG_JSON_MAX_DEPTH, CONFIG_JSON_MAX_NODES);
        return NULL;
    }
    json_t *json = NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE:
        json = config_json_scalar(node);
        if (!json)
            config_fail(state->parser, node, "%s: a value is not valid UTF-8", state->where);
        return json;
    case YAML_MAPPING_NODE:
        return config_json_mapping(state, node, depth);
    case YAML_SEQUENCE_NODE:
        json = json_array();
        for (yaml_node_item_t *item = node->data.sequence.items.start;
             json && item < node->data.sequence.items.top; item++) {
            yaml_node_t *child = yaml_document_get_node(state->parser->document, *item);
            json_t *value = child ? config_json_node(state, child, depth + 1) : NULL;
            if (!value || json_array_append_new(json, value) != 0) {
                json_decref(json);
                return NULL;
            }
        }
        if (!json)
            config_fail(state->parser, node, "out of memory");
        return json;
    default:
        config_fail(state->parser, node, "%s: nothing here", state->where);
        return NULL;
    }
}

char *config_json_text(struct config_parser *parser, const yaml_node_t *node, const char *where)
{
    struct config_json state = {.parser = parser, .where = where};
    json_t *json = config_json_node(&state, node, 0);
    if (!json)
        return NULL;
    char *text = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(json);
    if (!text)
        config_fail(parser, node, "out of memory");
    return text;
}
