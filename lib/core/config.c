/*
 * config.c - loads and checks the YAML configuration (see config.h).
 *
 * The file is read with libyaml's document API so every node keeps its line
 * and column; each section is checked against a list of known keys, so a typo
 * is reported with the nearest known key instead of being silently ignored.
 * This file holds the load itself, the walk over the top level (which calls
 * each section's parser, config_*.c, in an order that lets later sections
 * refer to earlier ones), config_destroy and the lookups. The typed readers
 * are in config_parser.c. Defaults live in config_defaults(); nothing else in
 * the hub invents them.
 */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config_parser.h"

static int config_defaults(struct config *config)
{
    config->schema_registry.mode = strdup("embedded");
    config->schema_registry.schemas_dir = strdup("../schemas");
    config->schema_registry.listen = strdup("127.0.0.1:8081");
    config->ingest.listen = strdup("127.0.0.1:8080");
    config->ingest.max_body_bytes = 65536;
    config->ingest.max_batch_bytes = 8LL * 1024 * 1024;
    config->ingest.max_batch_events = 1000;
    config->ingest.produce_timeout_ms = 10000;
    config->dispatch.group_prefix = strdup("placehub.dispatch");
    config->dispatch.retry_backoff_ms = 200;
    config->dispatch.retry_backoff_max_ms = 10000;
    config->dispatch.retry_window_ms = 24LL * 3600 * 1000;
    config->dispatch.max_in_flight = 16;
    config->dispatch.dead_letter_topic = strdup("placehub.dead-letter");
    config->dispatch.audit_topic = strdup("placehub.audit");
    config->governance.objections_topic = strdup("placehub.objections");
    config->governance.ledger = strdup("../var/placehub-ledger.db");
    config->console.listen = strdup("127.0.0.1:9190");
    config->console.ledger = strdup("../var/placehub-console-ledger.db");
    config->console.session_idle_minutes = 30;
    config->console.sample_interval_ms = 5000;
    config->dispatch.breaker_failures = 5;
    config->dispatch.breaker_open_ms = 5000;
    config->dispatch.breaker_open_max_ms = 60000;
    config->mesh_inbox.poll_interval_ms = 60000;
    config->mesh_inbox.timeout_ms = 30000;
    config->mesh_inbox.produce_timeout_ms = 10000;
    config->mesh_inbox.max_message_bytes = 1024 * 1024;
    config->mesh_inbox.dead_letter_topic = strdup("placehub.mesh-inbox.dead-letter");
    if (!config->mesh_inbox.dead_letter_topic)
        return -1;
    config->mllp.listen = strdup("127.0.0.1:2575");
    config->mllp.max_message_bytes = 1024 * 1024;
    config->mllp.read_timeout_ms = 30000;
    config->mllp.produce_timeout_ms = 10000;
    config->mllp.max_connections = 64;
    config->mllp.raw_topic = strdup("hl7-raw");
    config->mllp.nhs_number_type = strdup("NH");
    config->mllp.nhs_number_authority = strdup("NHS");
    if (!config->mllp.listen || !config->mllp.raw_topic || !config->mllp.nhs_number_type ||
        !config->mllp.nhs_number_authority)
        return -1;
    if (!config->schema_registry.mode || !config->schema_registry.schemas_dir ||
        !config->schema_registry.listen || !config->ingest.listen ||
        !config->dispatch.group_prefix || !config->dispatch.dead_letter_topic ||
        !config->dispatch.audit_topic || !config->governance.objections_topic ||
        !config->governance.ledger || !config->console.ledger || !config->console.listen)
        return -1;
    return 0;
}

static int config_parse_document(struct config_parser *parser, struct config *config)
{
    static const char *const known[] = {
        "kafka",    "schema_registry", "topics",     "ingest",  "dispatch",   "mllp",
        "partners", "operations",      "governance", "console", "mesh_inbox", NULL};
    yaml_node_t *root = yaml_document_get_root_node(parser->document);
    if (!root)
        return config_fail(parser, NULL, "the file is empty; start from config/placehub.yaml");
    if (config_expect(parser, root, YAML_MAPPING_NODE, "the top level") != 0 ||
        config_check_keys(parser, root, known, "the top level") != 0)
        return -1;
    yaml_node_t *node;
    if (!(node = config_get(parser, root, "kafka")))
        return config_fail(parser, root, "a 'kafka' section with bootstrap_servers is required");
    if (config_parse_kafka(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "schema_registry")) &&
        config_parse_registry(parser, config, node) != 0)
        return -1;
    if (!(node = config_get(parser, root, "topics")))
        return config_fail(parser, root, "a 'topics' list is required (the event topics)");
    if (config_parse_topics(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "ingest")) &&
        config_parse_ingest(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "dispatch")) &&
        config_parse_dispatch(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "mllp")) && config_parse_mllp(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "mesh_inbox")) &&
        config_parse_mesh_inbox(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "operations")) &&
        config_parse_operations(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "governance")) &&
        config_parse_governance(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "console")) &&
        config_parse_console(parser, config, node) != 0)
        return -1;
    /* Partners last: their topics must refer to declared topics. */
    if ((node = config_get(parser, root, "partners")) &&
        config_parse_partners(parser, config, node) != 0)
        return -1;
    return config_check_mesh_mailboxes(parser, config);
}

int config_load_string(const char *name, const char *text, size_t len, struct config **out,
                       char *errstr, size_t errstr_size)
{
    struct config_parser parser = {name, NULL, errstr, errstr_size};
    yaml_parser_t yaml;
    yaml_document_t document;
    int rc = -1, have_document = 0;
    struct config *config = calloc(1, sizeof *config);
    *out = NULL;
    if (!config || config_defaults(config) != 0 || !(config->path = strdup(name))) {
        snprintf(errstr, errstr_size, "%s: out of memory", name);
        config_destroy(config);
        return -1;
    }
    if (!yaml_parser_initialize(&yaml)) {
        snprintf(errstr, errstr_size, "%s: cannot initialise the YAML parser", name);
        config_destroy(config);
        return -1;
    }
    yaml_parser_set_input_string(&yaml, (const unsigned char *)text, len);
    if (!yaml_parser_load(&yaml, &document)) {
        snprintf(errstr, errstr_size, "%s:%zu:%zu: not valid YAML: %s%s%s", name,
                 yaml.problem_mark.line + 1, yaml.problem_mark.column + 1,
                 yaml.problem ? yaml.problem : "syntax error", yaml.context ? " " : "",
                 yaml.context ? yaml.context : "");
        goto out;
    }
    have_document = 1;
    parser.document = &document;
    if (config_parse_document(&parser, config) != 0)
        goto out;
    *out = config;
    config = NULL;
    rc = 0;
out:
    if (have_document)
        yaml_document_delete(&document);
    yaml_parser_delete(&yaml);
    config_destroy(config);
    return rc;
}

int config_load(const char *path, struct config **config, char *errstr, size_t errstr_size)
{
    *config = NULL;
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(errstr, errstr_size,
                 "%s: cannot open: %s (pass the file with -c PATH; "
                 "config/placehub.yaml is the example)",
                 path, strerror(errno));
        return -1;
    }
    /* Configuration files are small; refuse anything absurd rather than read it all. */
    enum { CONFIG_MAX_BYTES = 4 * 1024 * 1024 };
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, file) : 0;
    int read_error = ferror(file);
    fclose(file);
    if (!text || read_error) {
        free(text);
        snprintf(errstr, errstr_size, "%s: cannot read the file", path);
        return -1;
    }
    if (len > CONFIG_MAX_BYTES) {
        free(text);
        snprintf(errstr, errstr_size, "%s: larger than %d bytes; is this the right file?", path,
                 CONFIG_MAX_BYTES);
        return -1;
    }
    int rc = config_load_string(path, text, len, config, errstr, errstr_size);
    free(text);
    return rc;
}

void config_destroy(struct config *config)
{
    if (!config)
        return;
    free(config->path);
    free(config->kafka.bootstrap_servers);
    config_options_free(config->kafka.properties, config->kafka.property_count);
    free(config->kafka.security_protocol);
    free(config->kafka.sasl_mechanism);
    free(config->kafka.sasl_username);
    free(config->kafka.sasl_password_env);
    free(config->kafka.sasl_password_file);
    free(config->kafka.ssl_ca_location);
    free(config->kafka.ssl_certificate_location);
    free(config->kafka.ssl_key_location);
    free(config->kafka.ssl_key_password_env);
    free(config->kafka.ssl_key_password_file);
    free(config->schema_registry.mode);
    free(config->schema_registry.schemas_dir);
    free(config->schema_registry.listen);
    free(config->schema_registry.url);
    free(config->ingest.listen);
    free(config->dispatch.group_prefix);
    free(config->mesh_inbox.url);
    free(config->mesh_inbox.mailbox);
    free(config->mesh_inbox.mailbox_password);
    free(config->mesh_inbox.shared_key);
    free(config->mesh_inbox.tls_ca_file);
    free(config->mesh_inbox.tls_client_cert);
    free(config->mesh_inbox.tls_client_key);
    free(config->mesh_inbox.workflow_id);
    free(config->mesh_inbox.dead_letter_topic);
    free(config->mllp.listen);
    free(config->mllp.raw_topic);
    free(config->mllp.default_source_ods_code);
    free(config->mllp.nhs_number_type);
    free(config->mllp.nhs_number_authority);
    config_options_free(config->mllp.identifier_systems, config->mllp.identifier_system_count);
    config_options_free(config->mllp.discharge_destinations,
                        config->mllp.discharge_destination_count);
    config_options_free(config->mllp.discharge_dispositions,
                        config->mllp.discharge_disposition_count);
    config_options_free(config->mllp.specialties, config->mllp.specialty_count);
    free(config->dispatch.dead_letter_topic);
    free(config->dispatch.audit_topic);
    free(config->operations.ingest_listen);
    free(config->operations.dispatch_listen);
    free(config->operations.mllp_listen);
    free(config->operations.token_file);
    for (size_t i = 0; i < config->topic_count; i++)
        free(config->topics[i].name);
    free(config->topics);
    for (size_t i = 0; i < config->partner_count; i++) {
        struct config_partner *partner = &config->partners[i];
        free(partner->id);
        free(partner->name);
        free(partner->connector);
        for (size_t k = 0; k < partner->topic_count; k++)
            free(partner->topics[k]);
        free(partner->topics);
        config_options_free(partner->options, partner->option_count);
        config_publisher_free(partner->ingest);
        for (size_t a = 0; a < partner->agreement_count; a++)
            config_agreement_free(&partner->agreements[a]);
        free(partner->agreements);
    }
    free(config->partners);
    free(config->governance.person_key);
    free(config->governance.objections_topic);
    free(config->governance.ledger);
    free(config->console.listen);
    free(config->console.users_file);
    free(config->console.ledger);
    free(config->console.ingest_url);
    free(config->console.dispatch_url);
    free(config->console.mllp_url);
    free(config);
}

const struct config_topic *config_topic_find(const struct config *config, const char *name)
{
    for (size_t i = 0; i < config->topic_count; i++)
        if (config->topics[i].name && strcmp(config->topics[i].name, name) == 0)
            return &config->topics[i];
    return NULL;
}

const struct config_partner *config_partner_find(const struct config *config, const char *id)
{
    for (size_t i = 0; i < config->partner_count; i++)
        if (config->partners[i].id && strcmp(config->partners[i].id, id) == 0)
            return &config->partners[i];
    return NULL;
}

const char *config_partner_option(const struct config_partner *partner, const char *key)
{
    for (size_t i = 0; i < partner->option_count; i++)
        if (strcmp(partner->options[i].key, key) == 0)
            return partner->options[i].value;
    return NULL;
}

int config_resolve_path(const struct config *config, const char *path, char *out, size_t out_size)
{
    int n;
    const char *slash = strrchr(config->path, '/');
    if (path[0] == '/' || !slash)
        n = snprintf(out, out_size, "%s", path);
    else
        n = snprintf(out, out_size, "%.*s/%s", (int)(slash - config->path), config->path, path);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

size_t config_publisher_count(const struct config *config)
{
    size_t count = 0;
    for (size_t i = 0; i < config->partner_count; i++)
        if (config->partners[i].ingest)
            count++;
    return count;
}
