/*
 * config_kafka.c - the kafka: section (bootstrap servers, librdkafka
 * properties and broker security, docs/security.md) and schema_registry:.
 * Secrets are named (an environment variable or a file), never held: a
 * property or key that would write one into the configuration is refused
 * with what to write instead. kafka_conf_new (lib/kafka) reads the secrets.
 */
#include "core/config_parser.h"

#include <stdlib.h>
#include <string.h>

/* --- broker security (docs/security.md) --- */

/* librdkafka properties that hold a secret (always refused), and those with
 * a kafka: key of their own (refused when that key is set too, so there is
 * one place to look), with what to write instead. */
enum config_kafka_property_kind { CONFIG_KAFKA_SECRET, CONFIG_KAFKA_HAS_KEY };

static const struct {
    const char *property;
    enum config_kafka_property_kind kind;
    const char *instead;
} config_kafka_refused_properties[] = {
    {"sasl.password", CONFIG_KAFKA_SECRET, "kafka.sasl_password_env or kafka.sasl_password_file"},
    {"ssl.key.password", CONFIG_KAFKA_SECRET,
     "kafka.ssl_key_password_env or kafka.ssl_key_password_file"},
    {"ssl.keystore.password", CONFIG_KAFKA_SECRET, "a PEM key in kafka.ssl_key_location"},
    {"ssl.key.pem", CONFIG_KAFKA_SECRET, "kafka.ssl_key_location (a file)"},
    {"ssl_key", CONFIG_KAFKA_SECRET, "kafka.ssl_key_location (a file)"},
    {"sasl.oauthbearer.client.secret", CONFIG_KAFKA_SECRET,
     "SASL PLAIN or SCRAM with kafka.sasl_password_file"},
    {"sasl.oauthbearer.config", CONFIG_KAFKA_SECRET,
     "SASL PLAIN or SCRAM with kafka.sasl_password_file"},
    {"security.protocol", CONFIG_KAFKA_HAS_KEY, "kafka.security_protocol"},
    {"sasl.mechanism", CONFIG_KAFKA_HAS_KEY, "kafka.sasl_mechanism"},
    {"sasl.mechanisms", CONFIG_KAFKA_HAS_KEY, "kafka.sasl_mechanism"},
    {"sasl.username", CONFIG_KAFKA_HAS_KEY, "kafka.sasl_username"},
    {"ssl.ca.location", CONFIG_KAFKA_HAS_KEY, "kafka.ssl_ca_location"},
    {"ssl.certificate.location", CONFIG_KAFKA_HAS_KEY, "kafka.ssl_certificate_location"},
    {"ssl.key.location", CONFIG_KAFKA_HAS_KEY, "kafka.ssl_key_location"},
};

static int config_kafka_check_properties(struct config_parser *parser, struct config *config,
                                         const yaml_node_t *node)
{
    yaml_node_t *properties = config_get(parser, node, "properties");
    for (size_t i = 0; i < config->kafka.property_count; i++) {
        const char *key = config->kafka.properties[i].key;
        for (size_t k = 0;
             k < sizeof config_kafka_refused_properties / sizeof *config_kafka_refused_properties;
             k++) {
            if (strcmp(key, config_kafka_refused_properties[k].property) != 0)
                continue;
            const char *instead = config_kafka_refused_properties[k].instead;
            /* "kafka.security_protocol" -> is security_protocol set? */
            if (config_kafka_refused_properties[k].kind == CONFIG_KAFKA_HAS_KEY &&
                !config_get(parser, node, instead + strlen("kafka.")))
                continue;
            const yaml_node_t *at =
                properties && properties->type == YAML_MAPPING_NODE
                    ? yaml_document_get_node(parser->document,
                                             properties->data.mapping.pairs.start[i].key)
                    : node;
            if (config_kafka_refused_properties[k].kind == CONFIG_KAFKA_SECRET)
                return config_fail(parser, at,
                                   "kafka.properties must not set '%s' (a secret written in the "
                                   "configuration); use %s instead",
                                   key, instead);
            return config_fail(parser, at,
                               "kafka.properties sets '%s' and %s is set too; keep only %s", key,
                               instead, instead);
        }
    }
    return 0;
}

static int config_parse_kafka_security(struct config_parser *parser, struct config *config,
                                       const yaml_node_t *node)
{
    static const char *const protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL", NULL};
    static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
    const char *where = "kafka";
    if (config_string(parser, node, "security_protocol", where, 0,
                      &config->kafka.security_protocol) != 0 ||
        config_string(parser, node, "sasl_mechanism", where, 0, &config->kafka.sasl_mechanism) !=
            0 ||
        config_string(parser, node, "sasl_username", where, 0, &config->kafka.sasl_username) != 0 ||
        config_string(parser, node, "sasl_password_env", where, 0,
                      &config->kafka.sasl_password_env) != 0 ||
        config_string(parser, node, "sasl_password_file", where, 0,
                      &config->kafka.sasl_password_file) != 0 ||
        config_string(parser, node, "ssl_ca_location", where, 0, &config->kafka.ssl_ca_location) !=
            0 ||
        config_string(parser, node, "ssl_certificate_location", where, 0,
                      &config->kafka.ssl_certificate_location) != 0 ||
        config_string(parser, node, "ssl_key_location", where, 0,
                      &config->kafka.ssl_key_location) != 0 ||
        config_string(parser, node, "ssl_key_password_env", where, 0,
                      &config->kafka.ssl_key_password_env) != 0 ||
        config_string(parser, node, "ssl_key_password_file", where, 0,
                      &config->kafka.ssl_key_password_file) != 0)
        return -1;
    const char *protocol =
        config->kafka.security_protocol ? config->kafka.security_protocol : "PLAINTEXT";
    if (!config_one_of(protocol, protocols))
        return config_fail(parser, config_get(parser, node, "security_protocol"),
                           "kafka.security_protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or "
                           "SASL_SSL, found '%s'",
                           protocol);
    int sasl = strncmp(protocol, "SASL_", 5) == 0;
    int tls = strcmp(protocol, "SSL") == 0 || strcmp(protocol, "SASL_SSL") == 0;
    if (sasl) {
        if (!config->kafka.sasl_mechanism ||
            !config_one_of(config->kafka.sasl_mechanism, mechanisms))
            return config_fail(parser,
                               config_get(parser, node, "sasl_mechanism")
                                   ? config_get(parser, node, "sasl_mechanism")
                                   : node,
                               "kafka.security_protocol %s needs sasl_mechanism: PLAIN, "
                               "SCRAM-SHA-256 or SCRAM-SHA-512",
                               protocol);
        if (!config->kafka.sasl_username || !config->kafka.sasl_username[0])
            return config_fail(parser, node, "kafka.security_protocol %s needs sasl_username",
                               protocol);
        if (!config->kafka.sasl_password_env == !config->kafka.sasl_password_file)
            return config_fail(parser, node,
                               "kafka.security_protocol %s needs exactly one of "
                               "sasl_password_env (an environment variable) and "
                               "sasl_password_file",
                               protocol);
    } else if (config->kafka.sasl_mechanism || config->kafka.sasl_username ||
               config->kafka.sasl_password_env || config->kafka.sasl_password_file) {
        return config_fail(parser, node,
                           "kafka: sasl_* settings are used only with security_protocol "
                           "SASL_PLAINTEXT or SASL_SSL (it is %s)",
                           protocol);
    }
    if (!tls && (config->kafka.ssl_ca_location || config->kafka.ssl_certificate_location ||
                 config->kafka.ssl_key_location || config->kafka.ssl_key_password_env ||
                 config->kafka.ssl_key_password_file))
        return config_fail(parser, node,
                           "kafka: ssl_* settings are used only with security_protocol SSL or "
                           "SASL_SSL (it is %s)",
                           protocol);
    if (!config->kafka.ssl_certificate_location != !config->kafka.ssl_key_location)
        return config_fail(parser, node,
                           "kafka: a client certificate needs both ssl_certificate_location and "
                           "ssl_key_location");
    if (config->kafka.ssl_key_password_env && config->kafka.ssl_key_password_file)
        return config_fail(parser, node,
                           "kafka: give ssl_key_password_env or ssl_key_password_file, not both");
    if ((config->kafka.ssl_key_password_env || config->kafka.ssl_key_password_file) &&
        !config->kafka.ssl_key_location)
        return config_fail(parser, node, "kafka: a key password needs ssl_key_location");
    /* Files are relative to the configuration file, like schemas_dir. */
    char **paths[] = {&config->kafka.sasl_password_file, &config->kafka.ssl_ca_location,
                      &config->kafka.ssl_certificate_location, &config->kafka.ssl_key_location,
                      &config->kafka.ssl_key_password_file};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char resolved[4096];
        if (!*paths[i])
            continue;
        if (config_resolve_path(config, *paths[i], resolved, sizeof resolved) != 0)
            return config_fail(parser, node, "kafka: a file path is too long");
        char *copy = strdup(resolved);
        if (!copy)
            return config_fail(parser, node, "out of memory");
        free(*paths[i]);
        *paths[i] = copy;
    }
    return config_kafka_check_properties(parser, config, node);
}

int config_parse_kafka(struct config_parser *parser, struct config *config, const yaml_node_t *node)
{
    static const char *const known[] = {"bootstrap_servers",
                                        "properties",
                                        "security_protocol",
                                        "sasl_mechanism",
                                        "sasl_username",
                                        "sasl_password_env",
                                        "sasl_password_file",
                                        "ssl_ca_location",
                                        "ssl_certificate_location",
                                        "ssl_key_location",
                                        "ssl_key_password_env",
                                        "ssl_key_password_file",
                                        NULL};
    /* Checked before the key list, so the hint is about the secret. */
    if (node->type == YAML_MAPPING_NODE && config_get(parser, node, "sasl_password"))
        return config_fail(parser, config_get(parser, node, "sasl_password"),
                           "kafka.sasl_password would put a secret in the configuration; use "
                           "sasl_password_env (an environment variable) or sasl_password_file");
    if (config_expect(parser, node, YAML_MAPPING_NODE, "kafka") != 0 ||
        config_check_keys(parser, node, known, "kafka") != 0 ||
        config_string(parser, node, "bootstrap_servers", "kafka", 1,
                      &config->kafka.bootstrap_servers) != 0 ||
        config_options(parser, node, "properties", "kafka", &config->kafka.properties,
                       &config->kafka.property_count) != 0)
        return -1;
    config->kafka.line = (int)node->start_mark.line + 1;
    return config_parse_kafka_security(parser, config, node);
}

int config_parse_registry(struct config_parser *parser, struct config *config,
                          const yaml_node_t *node)
{
    static const char *const known[] = {"mode", "schemas_dir", "listen", "url", NULL};
    const char *where = "schema_registry";
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "mode", where, 1, &config->schema_registry.mode) != 0 ||
        config_string(parser, node, "schemas_dir", where, 0,
                      &config->schema_registry.schemas_dir) != 0 ||
        config_string(parser, node, "listen", where, 0, &config->schema_registry.listen) != 0 ||
        config_string(parser, node, "url", where, 0, &config->schema_registry.url) != 0)
        return -1;
    const char *mode = config->schema_registry.mode;
    if (strcmp(mode, "embedded") != 0 && strcmp(mode, "external") != 0)
        return config_fail(parser, config_get(parser, node, "mode"),
                           "schema_registry.mode must be 'embedded' or 'external', found '%s'",
                           mode);
    if (strcmp(mode, "external") == 0 && !config->schema_registry.url)
        return config_fail(parser, node,
                           "schema_registry.mode is 'external' but no url is given "
                           "(add url: \"http://host:8081\")");
    return 0;
}
