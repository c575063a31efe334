/*
 * config_dispatch.c - the topics: list (what the hub creates, with
 * retention) and placehub-dispatch's dispatch: section (retries, circuit
 * breaker, and the dead-letter and audit topics).
 */
#include "core/config_parser.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_parse_topics(struct config_parser *parser, struct config *config,
                        const yaml_node_t *node)
{
    static const char *const known[] = {"name", "partitions", "replication_factor", "retention_ms",
                                        NULL};
    if (config_expect(parser, node, YAML_SEQUENCE_NODE, "topics") != 0)
        return -1;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return config_fail(parser, node, "topics must declare at least one topic");
    config->topics = calloc(n, sizeof *config->topics);
    if (!config->topics)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            yaml_document_get_node(parser->document, node->data.sequence.items.start[i]);
        struct config_topic *topic = &config->topics[i];
        config->topic_count = i + 1;
        char where[64];
        snprintf(where, sizeof where, "topics[%zu]", i);
        topic->partitions = 6;
        topic->replication_factor = 1;
        topic->retention_ms = -1;
        if (config_expect(parser, item, YAML_MAPPING_NODE, where) != 0 ||
            config_check_keys(parser, item, known, where) != 0 ||
            config_string(parser, item, "name", where, 1, &topic->name) != 0 ||
            config_int(parser, item, "partitions", where, 1, 10000, &topic->partitions) != 0 ||
            config_int(parser, item, "replication_factor", where, 1, 32,
                       &topic->replication_factor) != 0 ||
            config_integer(parser, item, "retention_ms", where, -1, LLONG_MAX,
                           &topic->retention_ms) != 0)
            return -1;
        if (!config_topic_name_valid(topic->name))
            return config_fail(parser, config_get(parser, item, "name"),
                               "topic name '%s' is not valid for Kafka (letters, digits, '.', "
                               "'_', '-'; at most 249)",
                               topic->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(config->topics[j].name, topic->name) == 0)
                return config_fail(parser, item, "topic '%s' is declared twice", topic->name);
        if (topic->retention_ms == 0)
            return config_fail(parser, config_get(parser, item, "retention_ms"),
                               "%s.retention_ms 0 would delete events at once; use -1 to keep "
                               "them forever (audit replay needs them)",
                               where);
    }
    return 0;
}

int config_parse_dispatch(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node)
{
    static const char *const known[] = {"group_prefix",
                                        "retry_backoff_ms",
                                        "retry_backoff_max_ms",
                                        "retry_window_ms",
                                        "max_in_flight",
                                        "dead_letter_topic",
                                        "audit_topic",
                                        "breaker_failures",
                                        "breaker_open_ms",
                                        "breaker_open_max_ms",
                                        NULL};
    const char *where = "dispatch";
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "group_prefix", where, 0, &config->dispatch.group_prefix) !=
            0 ||
        config_int(parser, node, "retry_backoff_ms", where, 1, 600000,
                   &config->dispatch.retry_backoff_ms) != 0 ||
        config_int(parser, node, "retry_backoff_max_ms", where, 1, 3600000,
                   &config->dispatch.retry_backoff_max_ms) != 0 ||
        config_integer(parser, node, "retry_window_ms", where, 1000, 366LL * 86400 * 1000,
                       &config->dispatch.retry_window_ms) != 0 ||
        config_int(parser, node, "max_in_flight", where, 1, 1024,
                   &config->dispatch.max_in_flight) != 0 ||
        config_string(parser, node, "dead_letter_topic", where, 0,
                      &config->dispatch.dead_letter_topic) != 0 ||
        config_string(parser, node, "audit_topic", where, 0, &config->dispatch.audit_topic) != 0 ||
        config_int(parser, node, "breaker_failures", where, 1, 1000,
                   &config->dispatch.breaker_failures) != 0 ||
        config_int(parser, node, "breaker_open_ms", where, 10, 3600000,
                   &config->dispatch.breaker_open_ms) != 0 ||
        config_int(parser, node, "breaker_open_max_ms", where, 10, 3600000,
                   &config->dispatch.breaker_open_max_ms) != 0)
        return -1;
    if (config->dispatch.retry_backoff_max_ms < config->dispatch.retry_backoff_ms)
        return config_fail(parser, node,
                           "dispatch.retry_backoff_max_ms must not be below retry_backoff_ms");
    if (!config_topic_name_valid(config->dispatch.dead_letter_topic) ||
        !config_topic_name_valid(config->dispatch.audit_topic))
        return config_fail(parser, node,
                           "dispatch.dead_letter_topic and audit_topic must be valid Kafka topic "
                           "names (letters, digits, '.', '_', '-')");
    if (config->dispatch.breaker_open_max_ms < config->dispatch.breaker_open_ms)
        return config_fail(parser, node,
                           "dispatch.breaker_open_max_ms must not be below breaker_open_ms");
    return 0;
}
