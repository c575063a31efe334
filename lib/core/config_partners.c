/*
 * config_partners.c - the partners: list: each partner's id, connector,
 * topics and connector options, with its ingest: section (config_ingest.c)
 * and agreements (config_governance.c). Read last, as partners refer to
 * the topics declared before.
 */
#include "core/config_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int config_partner_id_valid(const char *id)
{
    size_t len = strlen(id);
    return len > 0 && len <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

int config_parse_partners(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node)
{
    static const char *const known[] = {"id",      "name",   "connector",  "topics",
                                        "options", "ingest", "agreements", NULL};
    if (config_expect(parser, node, YAML_SEQUENCE_NODE, "partners") != 0)
        return -1;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    config->partners = calloc(n ? n : 1, sizeof *config->partners);
    if (!config->partners)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            yaml_document_get_node(parser->document, node->data.sequence.items.start[i]);
        struct config_partner *partner = &config->partners[i];
        config->partner_count = i + 1;
        partner->line = (int)item->start_mark.line + 1;
        char where[64];
        snprintf(where, sizeof where, "partners[%zu]", i);
        if (config_expect(parser, item, YAML_MAPPING_NODE, where) != 0 ||
            config_check_keys(parser, item, known, where) != 0 ||
            config_string(parser, item, "id", where, 1, &partner->id) != 0 ||
            config_string(parser, item, "name", where, 0, &partner->name) != 0 ||
            config_string(parser, item, "connector", where, 0, &partner->connector) != 0 ||
            config_partner_options(parser, item, "options", where, &partner->options,
                                   &partner->option_count) != 0)
            return -1;
        if (!config_partner_id_valid(partner->id))
            return config_fail(parser, config_get(parser, item, "id"),
                               "partner id '%s' must be 1-64 lower-case letters, digits, '-' "
                               "or '_' (it names the partner's consumer group)",
                               partner->id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(config->partners[j].id, partner->id) == 0)
                return config_fail(parser, item, "partner id '%s' is used twice", partner->id);
        /* A partner that only publishes (ingest:) needs no connector or topics;
         * one that receives needs both. */
        yaml_node_t *ingest = config_get(parser, item, "ingest");
        if (ingest && config_parse_publisher(parser, config, partner, ingest, where) != 0)
            return -1;
        yaml_node_t *topics = config_get(parser, item, "topics");
        if (ingest && !topics && !partner->connector)
            continue;
        if (!partner->connector)
            return config_fail(parser, item, "%s needs 'connector' (how it receives events)",
                               where);
        if (!topics)
            return config_fail(parser, item, "%s needs 'topics' (the event topics it receives)",
                               where);
        char label[96];
        snprintf(label, sizeof label, "%s.topics", where);
        if (config_expect(parser, topics, YAML_SEQUENCE_NODE, label) != 0)
            return -1;
        size_t t = (size_t)(topics->data.sequence.items.top - topics->data.sequence.items.start);
        if (t == 0)
            return config_fail(parser, topics, "%s is empty: name at least one topic", label);
        partner->topics = calloc(t, sizeof *partner->topics);
        if (!partner->topics)
            return config_fail(parser, topics, "out of memory");
        for (size_t k = 0; k < t; k++) {
            yaml_node_t *entry =
                yaml_document_get_node(parser->document, topics->data.sequence.items.start[k]);
            const char *name = config_scalar(entry);
            if (!name)
                return config_fail(parser, entry, "%s entries must be topic names", label);
            if (!config_topic_find(config, name))
                return config_fail(parser, entry,
                                   "%s names topic '%s', which is not declared under topics", label,
                                   name);
            partner->topics[k] = strdup(name);
            partner->topic_count = k + 1;
            if (!partner->topics[k])
                return config_fail(parser, entry, "out of memory");
        }
        yaml_node_t *agreements = config_get(parser, item, "agreements");
        if (agreements && config_parse_agreements(parser, config, partner, agreements, where) != 0)
            return -1;
    }
    return 0;
}
