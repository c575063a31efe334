/*
 * config_ingest.c - placehub-ingest's settings: the ingest: and operations:
 * sections, and each partner's ingest: section, its right to publish (API
 * key hashes, the event types and organisations it may send as, whether it
 * may record objections (default deny), its rate limit; docs/security.md). A partner's publisher is
 * owned by the partner and freed with config_publisher_free.
 */
#include "core/config_parser.h"
#include "core/mesh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int config_parse_ingest(struct config_parser *parser, struct config *config,
                        const yaml_node_t *node)
{
    static const char *const known[] = {"listen",
                                        "max_body_bytes",
                                        "max_batch_bytes",
                                        "max_batch_events",
                                        "produce_timeout_ms",
                                        "insecure_no_authentication",
                                        NULL};
    if (config_expect(parser, node, YAML_MAPPING_NODE, "ingest") != 0 ||
        config_check_keys(parser, node, known, "ingest") != 0 ||
        config_string(parser, node, "listen", "ingest", 0, &config->ingest.listen) != 0 ||
        config_integer(parser, node, "max_body_bytes", "ingest", 256, 64LL * 1024 * 1024,
                       &config->ingest.max_body_bytes) != 0 ||
        config_integer(parser, node, "max_batch_bytes", "ingest", 256, 256LL * 1024 * 1024,
                       &config->ingest.max_batch_bytes) != 0 ||
        config_int(parser, node, "max_batch_events", "ingest", 1, 100000,
                   &config->ingest.max_batch_events) != 0 ||
        config_int(parser, node, "produce_timeout_ms", "ingest", 100, 300000,
                   &config->ingest.produce_timeout_ms) != 0 ||
        config_boolean(parser, node, "insecure_no_authentication", "ingest",
                       &config->ingest.insecure_no_authentication) != 0)
        return -1;
    return 0;
}

int config_parse_operations(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node)
{
    static const char *const known[] = {"ingest_listen", "dispatch_listen", "mllp_listen",
                                        "token_file", NULL};
    const char *where = "operations";
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "ingest_listen", where, 0, &config->operations.ingest_listen) !=
            0 ||
        config_string(parser, node, "dispatch_listen", where, 0,
                      &config->operations.dispatch_listen) != 0 ||
        config_string(parser, node, "mllp_listen", where, 0, &config->operations.mllp_listen) !=
            0 ||
        config_string(parser, node, "token_file", where, 0, &config->operations.token_file) != 0)
        return -1;
    return 0;
}

/* --- a partner's publishing rights (placehub-ingest; docs/security.md) --- */

/* "sha256:" and 64 hex digits; the key itself must never be here. */
static int config_api_key_hash_valid(const char *text)
{
    if (strncmp(text, "sha256:", 7) != 0 || strlen(text) != 71)
        return 0;
    return strspn(text + 7, "0123456789abcdefABCDEF") == 64;
}

static int config_parse_rate_limit(struct config_parser *parser, struct config_publisher *publisher,
                                   const yaml_node_t *mapping, const char *where)
{
    static const char *const known[] = {"events_per_second", "burst", NULL};
    yaml_node_t *node = config_get(parser, mapping, "rate_limit");
    if (!node)
        return 0;
    char label[160];
    snprintf(label, sizeof label, "%s.rate_limit", where);
    long long rate = (long long)publisher->events_per_second;
    if (config_expect(parser, node, YAML_MAPPING_NODE, label) != 0 ||
        config_check_keys(parser, node, known, label) != 0 ||
        config_integer(parser, node, "events_per_second", label, 1, 100000, &rate) != 0 ||
        config_int(parser, node, "burst", label, 1, 100000, &publisher->burst) != 0)
        return -1;
    publisher->events_per_second = (double)rate;
    return 0;
}

int config_parse_publisher(struct config_parser *parser, struct config *config,
                           struct config_partner *partner, const yaml_node_t *node,
                           const char *partner_where)
{
    static const char *const known[] = {
        "api_key_hashes", "api_key_hashes_file", "publishes",    "source_ods_codes",
        "objections",     "rate_limit",          "mesh_mailbox", NULL};
    char where[96];
    snprintf(where, sizeof where, "%s.ingest", partner_where);
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0)
        return -1;
    struct config_publisher *publisher = calloc(1, sizeof *publisher);
    if (!publisher)
        return config_fail(parser, node, "out of memory");
    partner->ingest = publisher;
    publisher->line = (int)node->start_mark.line + 1;
    publisher->events_per_second = 50;
    publisher->burst = 100;
    if (config_string_list(parser, node, "api_key_hashes", where, &publisher->api_key_hashes,
                           &publisher->api_key_hash_count) != 0 ||
        config_string(parser, node, "api_key_hashes_file", where, 0,
                      &publisher->api_key_hashes_file) != 0 ||
        config_string_list(parser, node, "publishes", where, &publisher->publishes,
                           &publisher->publish_count) != 0 ||
        config_string_list(parser, node, "source_ods_codes", where, &publisher->source_ods_codes,
                           &publisher->source_ods_code_count) != 0 ||
        config_boolean(parser, node, "objections", where, &publisher->objections) != 0 ||
        config_parse_rate_limit(parser, publisher, node, where) != 0 ||
        config_string(parser, node, "mesh_mailbox", where, 0, &publisher->mesh_mailbox) != 0)
        return -1;
    if (publisher->mesh_mailbox) {
        const yaml_node_t *mailbox = config_get(parser, node, "mesh_mailbox");
        publisher->mesh_mailbox_line = (int)mailbox->start_mark.line + 1;
        if (!mesh_mailbox_valid(publisher->mesh_mailbox))
            return config_fail(parser, mailbox,
                               "%s.mesh_mailbox must be a MESH mailbox id (letters and digits, "
                               "e.g. X26ABC2)",
                               where);
    }
    yaml_node_t *hashes = config_get(parser, node, "api_key_hashes");
    for (size_t i = 0; i < publisher->api_key_hash_count; i++)
        if (!config_api_key_hash_valid(publisher->api_key_hashes[i]))
            return config_fail(
                parser,
                yaml_document_get_node(parser->document, hashes->data.sequence.items.start[i]),
                "%s.api_key_hashes[%zu] must be \"sha256:\" and 64 hex digits, the hash of the "
                "key (never the key itself); placehub-ingest --new-api-key makes a key and its "
                "hash",
                where, i);
    if (publisher->api_key_hashes_file) {
        char resolved[4096];
        if (config_resolve_path(config, publisher->api_key_hashes_file, resolved,
                                sizeof resolved) != 0)
            return config_fail(parser, config_get(parser, node, "api_key_hashes_file"),
                               "%s.api_key_hashes_file: path too long", where);
        char *copy = strdup(resolved);
        if (!copy)
            return config_fail(parser, node, "out of memory");
        free(publisher->api_key_hashes_file);
        publisher->api_key_hashes_file = copy;
        publisher->api_key_hashes_file_line =
            (int)config_get(parser, node, "api_key_hashes_file")->start_mark.line + 1;
    }
    if (publisher->api_key_hash_count == 0 && !publisher->api_key_hashes_file &&
        !publisher->mesh_mailbox)
        return config_fail(parser, node,
                           "%s needs api_key_hashes or api_key_hashes_file (the SHA-256 hashes "
                           "of the partner's API keys; placehub-ingest --new-api-key makes one), "
                           "or mesh_mailbox when it sends through MESH only",
                           where);
    if (publisher->publish_count == 0)
        return config_fail(parser, node,
                           "%s needs 'publishes': the event types the partner may send, e.g. "
                           "[referral]",
                           where);
    yaml_node_t *publishes = config_get(parser, node, "publishes");
    for (size_t i = 0; i < publisher->publish_count; i++)
        if (!config_topic_find(config, publisher->publishes[i]))
            return config_fail(
                parser,
                yaml_document_get_node(parser->document, publishes->data.sequence.items.start[i]),
                "%s.publishes names '%s', which is not declared under topics", where,
                publisher->publishes[i]);
    if (publisher->source_ods_code_count == 0)
        return config_fail(parser, node,
                           "%s needs 'source_ods_codes': the ODS codes of the organisations the "
                           "partner sends as (events carry one in source_ods_code)",
                           where);
    yaml_node_t *codes = config_get(parser, node, "source_ods_codes");
    for (size_t i = 0; i < publisher->source_ods_code_count; i++)
        if (!config_ods_code_valid(publisher->source_ods_codes[i]))
            return config_fail(
                parser,
                yaml_document_get_node(parser->document, codes->data.sequence.items.start[i]),
                "%s.source_ods_codes: '%s' is not an ODS code (3-8 capital letters and digits)",
                where, publisher->source_ods_codes[i]);
    return 0;
}

void config_publisher_free(struct config_publisher *publisher)
{
    if (!publisher)
        return;
    config_string_list_free(publisher->api_key_hashes, publisher->api_key_hash_count);
    free(publisher->api_key_hashes_file);
    config_string_list_free(publisher->publishes, publisher->publish_count);
    config_string_list_free(publisher->source_ods_codes, publisher->source_ods_code_count);
    free(publisher->mesh_mailbox);
    free(publisher);
}
