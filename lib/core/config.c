/*
 * config.c - loads and checks the YAML configuration (see config.h).
 *
 * The file is read with libyaml's document API so every node keeps its line
 * and column; each section is checked against a list of known keys, so a typo
 * is reported with the nearest known key instead of being silently ignored.
 * Defaults live in config_defaults(); nothing else in the hub invents them.
 */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct config_parser {
    const char *name;
    yaml_document_t *document;
    char *errstr;
    size_t errstr_size;
};

static int config_fail(struct config_parser *parser, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_fail(struct config_parser *parser, const yaml_node_t *node, const char *fmt, ...)
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
static int config_fail_at(struct config_parser *parser, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int config_fail_at(struct config_parser *parser, int line, int column, const char *fmt, ...)
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

static const char *config_scalar(const yaml_node_t *node)
{
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static const char *config_node_kind(const yaml_node_t *node)
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

static int config_expect(struct config_parser *parser, const yaml_node_t *node,
                         yaml_node_type_t type, const char *where)
{
    static const char *const kinds[] = {"", "a single value", "a list", "a mapping"};
    if (node->type == type)
        return 0;
    return config_fail(parser, node, "%s must be %s, found %s", where, kinds[type],
                       config_node_kind(node));
}

/* libyaml accepts a key twice in one mapping and config_get would silently
 * use the first: refuse it, so an edit to the second copy is never ignored. */
static int config_check_duplicate(struct config_parser *parser, const yaml_node_t *mapping,
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
static int config_check_keys(struct config_parser *parser, const yaml_node_t *mapping,
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

static yaml_node_t *config_get(struct config_parser *parser, const yaml_node_t *mapping,
                               const char *name)
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

/* A string value: *out is replaced (freed first) by a copy. Missing keeps *out. */
static int config_string(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
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

static int config_integer(struct config_parser *parser, const yaml_node_t *mapping,
                          const char *name, const char *where, long long min, long long max,
                          long long *out)
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

static int config_int(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                      const char *where, int min, int max, int *out)
{
    long long value = *out;
    if (config_integer(parser, mapping, name, where, min, max, &value) != 0)
        return -1;
    *out = (int)value;
    return 0;
}

/* A mapping of plain key: value pairs (librdkafka properties, connector options). */
static int config_options(struct config_parser *parser, const yaml_node_t *mapping,
                          const char *name, const char *where, struct config_option **options,
                          size_t *count)
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
        if (!config_scalar(value))
            return config_fail(parser, value, "%s.%s must be a single value, found %s", label,
                               config_scalar(key), config_node_kind(value));
        (*options)[i].key = strdup(config_scalar(key));
        (*options)[i].value = strdup(config_scalar(value));
        (*options)[i].line = (int)key->start_mark.line + 1;
        *count = i + 1;
        if (!(*options)[i].key || !(*options)[i].value)
            return config_fail(parser, node, "out of memory");
    }
    return 0;
}

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
    config->dispatch.breaker_failures = 5;
    config->dispatch.breaker_open_ms = 5000;
    config->dispatch.breaker_open_max_ms = 60000;
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
        !config->dispatch.audit_topic)
        return -1;
    return 0;
}

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

static int config_one_of(const char *value, const char *const *allowed)
{
    for (const char *const *a = allowed; *a; a++)
        if (strcmp(value, *a) == 0)
            return 1;
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

static int config_parse_kafka(struct config_parser *parser, struct config *config,
                              const yaml_node_t *node)
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

static int config_parse_registry(struct config_parser *parser, struct config *config,
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

static int config_boolean(struct config_parser *parser, const yaml_node_t *mapping,
                          const char *name, const char *where, int *out);

static int config_parse_ingest(struct config_parser *parser, struct config *config,
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

static int config_parse_operations(struct config_parser *parser, struct config *config,
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

static int config_topic_name_valid(const char *name);

static int config_parse_dispatch(struct config_parser *parser, struct config *config,
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

/* Kafka's own rule for topic names: [a-zA-Z0-9._-]{1,249}. */
static int config_topic_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249)
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == len;
}

static int config_parse_topics(struct config_parser *parser, struct config *config,
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

/* placehub-mllp (services/mllp, docs/hl7.md). The code tables are checked
 * against the schema's symbols by the service at start-up, which knows them. */
static int config_parse_mllp(struct config_parser *parser, struct config *config,
                             const yaml_node_t *node)
{
    static const char *const known[] = {"listen",
                                        "max_message_bytes",
                                        "read_timeout_ms",
                                        "produce_timeout_ms",
                                        "max_connections",
                                        "raw_topic",
                                        "default_source_ods_code",
                                        "nhs_number_repetition",
                                        "nhs_number_type",
                                        "nhs_number_authority",
                                        "identifier_systems",
                                        "discharge_destinations",
                                        "discharge_dispositions",
                                        "specialties",
                                        NULL};
    const char *where = "mllp";
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "listen", where, 0, &config->mllp.listen) != 0 ||
        config_integer(parser, node, "max_message_bytes", where, 256, 64LL * 1024 * 1024,
                       &config->mllp.max_message_bytes) != 0 ||
        config_int(parser, node, "read_timeout_ms", where, 100, 3600000,
                   &config->mllp.read_timeout_ms) != 0 ||
        config_int(parser, node, "produce_timeout_ms", where, 100, 300000,
                   &config->mllp.produce_timeout_ms) != 0 ||
        config_int(parser, node, "max_connections", where, 1, 4096,
                   &config->mllp.max_connections) != 0 ||
        config_string(parser, node, "raw_topic", where, 0, &config->mllp.raw_topic) != 0 ||
        config_string(parser, node, "default_source_ods_code", where, 0,
                      &config->mllp.default_source_ods_code) != 0 ||
        config_int(parser, node, "nhs_number_repetition", where, 0, 100,
                   &config->mllp.nhs_number_repetition) != 0 ||
        config_string(parser, node, "nhs_number_type", where, 0, &config->mllp.nhs_number_type) !=
            0 ||
        config_string(parser, node, "nhs_number_authority", where, 0,
                      &config->mllp.nhs_number_authority) != 0 ||
        config_options(parser, node, "identifier_systems", where, &config->mllp.identifier_systems,
                       &config->mllp.identifier_system_count) != 0 ||
        config_options(parser, node, "discharge_destinations", where,
                       &config->mllp.discharge_destinations,
                       &config->mllp.discharge_destination_count) != 0 ||
        config_options(parser, node, "discharge_dispositions", where,
                       &config->mllp.discharge_dispositions,
                       &config->mllp.discharge_disposition_count) != 0 ||
        config_options(parser, node, "specialties", where, &config->mllp.specialties,
                       &config->mllp.specialty_count) != 0)
        return -1;
    /* The raw messages are the auditors' record: refuse a topic nobody creates
     * (broker auto-creation is off) rather than fail on the first message. */
    if (config->mllp.nhs_number_type[0] == '\0')
        return config_fail(parser, config_get(parser, node, "nhs_number_type"),
                           "mllp.nhs_number_type must not be empty (HL7 uses NH)");
    const yaml_node_t *raw_topic = config_get(parser, node, "raw_topic");
    if (!config_topic_find(config, config->mllp.raw_topic))
        return config_fail(parser, raw_topic ? raw_topic : node,
                           "mllp.raw_topic '%s' is not declared under topics (declare it with "
                           "retention_ms: -1: it keeps every HL7 message received)",
                           config->mllp.raw_topic);
    return 0;
}

/* --- a partner's publishing rights (placehub-ingest; docs/security.md) --- */

static int config_values(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
                         const char *where, struct config_value **out, size_t *count);

/* A list of plain values into a new array of copies: config_values without
 * the places. Missing keeps *out. */
static int config_string_list(struct config_parser *parser, const yaml_node_t *mapping,
                              const char *name, const char *where, char ***out, size_t *count)
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

static void config_string_list_free(char **list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
}

/* true/false; missing keeps *out. */
static int config_boolean(struct config_parser *parser, const yaml_node_t *mapping,
                          const char *name, const char *where, int *out)
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

/* "sha256:" and 64 hex digits; the key itself must never be here. */
static int config_api_key_hash_valid(const char *text)
{
    if (strncmp(text, "sha256:", 7) != 0 || strlen(text) != 71)
        return 0;
    return strspn(text + 7, "0123456789abcdefABCDEF") == 64;
}

/* ODS organisation codes: 3-8 capital letters and digits (as placehub-mllp). */
static int config_ods_code_valid(const char *text)
{
    size_t len = strlen(text);
    return len >= 3 && len <= 8 && strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == len;
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

static int config_parse_publisher(struct config_parser *parser, struct config *config,
                                  struct config_partner *partner, const yaml_node_t *node,
                                  const char *partner_where)
{
    static const char *const known[] = {"api_key_hashes",   "api_key_hashes_file", "publishes",
                                        "source_ods_codes", "rate_limit",          NULL};
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
        config_parse_rate_limit(parser, publisher, node, where) != 0)
        return -1;
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
    if (publisher->api_key_hash_count == 0 && !publisher->api_key_hashes_file)
        return config_fail(parser, node,
                           "%s needs api_key_hashes or api_key_hashes_file (the SHA-256 hashes "
                           "of the partner's API keys; placehub-ingest --new-api-key makes one)",
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

static void config_publisher_free(struct config_publisher *publisher)
{
    if (!publisher)
        return;
    config_string_list_free(publisher->api_key_hashes, publisher->api_key_hash_count);
    free(publisher->api_key_hashes_file);
    config_string_list_free(publisher->publishes, publisher->publish_count);
    config_string_list_free(publisher->source_ods_codes, publisher->source_ods_code_count);
    free(publisher);
}

size_t config_publisher_count(const struct config *config)
{
    size_t count = 0;
    for (size_t i = 0; i < config->partner_count; i++)
        if (config->partners[i].ingest)
            count++;
    return count;
}

/* ---- data-sharing agreements (docs/governance.md) ---------------------- */

/* A list of single values, each kept with its place. A missing key leaves
 * *count 0; "[]" is an empty list. */
static int config_values(struct config_parser *parser, const yaml_node_t *mapping, const char *name,
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

/* "env:NAME" or "file:/path" with something after the prefix. */
static int config_secret_reference(const char *text)
{
    return (strncmp(text, "env:", 4) == 0 && text[4]) ||
           (strncmp(text, "file:", 5) == 0 && text[5]);
}

/* A dotted path of snake_case field names: "person.address.postcode". */
static int config_field_path_valid(const char *path)
{
    int previous_dot = 1;
    for (const char *c = path; *c; c++) {
        if (*c == '.') {
            if (previous_dot)
                return 0;
            previous_dot = 1;
        } else if ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_') {
            previous_dot = 0;
        } else {
            return 0;
        }
    }
    return !previous_dot;
}

/* A UK postcode district (outward code): A9, A99, AA9, AA99, A9A, AA9A. */
static int config_postcode_district_valid(const char *district)
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static const char digits[] = "0123456789";
    size_t len = strlen(district);
    size_t alpha = strspn(district, letters);
    if (len < 2 || len > 4 || alpha < 1 || alpha > 2 || district[alpha] == '\0' ||
        !strchr(digits, district[alpha]))
        return 0;
    const char *rest = district + alpha + 1;
    return strlen(rest) <= 1 && strspn(rest, letters) + strspn(rest, digits) >= strlen(rest);
}

static int config_agreement_id_valid(const char *id)
{
    size_t len = strlen(id);
    return len > 0 && len <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == len;
}

static int config_parse_conditions(struct config_parser *parser, struct config_agreement *agreement,
                                   const yaml_node_t *node, const char *where)
{
    static const char *const known[] = {"gp_practices", "postcode_districts", "match", NULL};
    char label[160];
    snprintf(label, sizeof label, "%s.conditions", where);
    if (node->type == YAML_SCALAR_NODE && config_scalar(node)[0] == '\0')
        return 0; /* "conditions:" with nothing after it */
    char *match = NULL;
    if (config_expect(parser, node, YAML_MAPPING_NODE, label) != 0 ||
        config_check_keys(parser, node, known, label) != 0 ||
        config_values(parser, node, "gp_practices", label, &agreement->gp_practices,
                      &agreement->gp_practice_count) != 0 ||
        config_values(parser, node, "postcode_districts", label, &agreement->postcode_districts,
                      &agreement->postcode_district_count) != 0 ||
        config_string(parser, node, "match", label, 0, &match) != 0) {
        free(match);
        return -1;
    }
    static const char *const lists[] = {"gp_practices", "postcode_districts"};
    for (size_t i = 0; i < 2; i++) {
        yaml_node_t *list = config_get(parser, node, lists[i]);
        if (list && list->data.sequence.items.top == list->data.sequence.items.start) {
            free(match);
            return config_fail(parser, list,
                               "%s.%s is empty, which no one would match: name at least one, or "
                               "leave the condition out",
                               label, lists[i]);
        }
    }
    for (size_t i = 0; i < agreement->gp_practice_count; i++) {
        const struct config_value *code = &agreement->gp_practices[i];
        if (!config_ods_code_valid(code->text)) {
            free(match);
            return config_fail_at(parser, code->line, code->column,
                                  "%s.gp_practices: '%s' is not an ODS code (3 to 8 capital "
                                  "letters and digits, e.g. P99001)",
                                  label, code->text);
        }
    }
    for (size_t i = 0; i < agreement->postcode_district_count; i++) {
        const struct config_value *district = &agreement->postcode_districts[i];
        if (!config_postcode_district_valid(district->text)) {
            free(match);
            return config_fail_at(parser, district->line, district->column,
                                  "%s.postcode_districts: '%s' is not a postcode district (the "
                                  "outward code in capitals, e.g. SK4 or M20)",
                                  label, district->text);
        }
    }
    if (match) {
        int any = strcmp(match, "any") == 0;
        if (!any && strcmp(match, "all") != 0) {
            int rc = config_fail(parser, config_get(parser, node, "match"),
                                 "%s.match must be 'all' (every condition given must hold) or "
                                 "'any' (one is enough), found '%s'",
                                 label, match);
            free(match);
            return rc;
        }
        agreement->match_any = any;
        free(match);
    }
    return 0;
}

/* 1 when path is field or lies under it ("person" covers "person.nhs_number"). */
static int config_path_covers(const char *field, const char *path)
{
    size_t len = strlen(field);
    return strncmp(field, path, len) == 0 && (path[len] == '\0' || path[len] == '.');
}

static int config_parse_agreements(struct config_parser *parser, const struct config *config,
                                   struct config_partner *partner, const yaml_node_t *node,
                                   const char *partner_where)
{
    static const char *const known[] = {
        "id",         "purpose",     "legal_basis",        "event_types",   "fields",
        "conditions", "direct_care", "restricted_records", "pseudonym_key", NULL};
    char label[96];
    snprintf(label, sizeof label, "%s.agreements", partner_where);
    if (config_expect(parser, node, YAML_SEQUENCE_NODE, label) != 0)
        return -1;
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    partner->agreements = calloc(n ? n : 1, sizeof *partner->agreements);
    if (!partner->agreements)
        return config_fail(parser, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item =
            yaml_document_get_node(parser->document, node->data.sequence.items.start[i]);
        struct config_agreement *agreement = &partner->agreements[i];
        partner->agreement_count = i + 1;
        agreement->line = (int)item->start_mark.line + 1;
        agreement->column = (int)item->start_mark.column + 1;
        char where[128];
        snprintf(where, sizeof where, "%s[%zu]", label, i);
        if (config_expect(parser, item, YAML_MAPPING_NODE, where) != 0 ||
            config_check_keys(parser, item, known, where) != 0 ||
            config_string(parser, item, "id", where, 1, &agreement->id) != 0 ||
            config_string(parser, item, "purpose", where, 1, &agreement->purpose) != 0 ||
            config_string(parser, item, "legal_basis", where, 1, &agreement->legal_basis) != 0 ||
            config_values(parser, item, "event_types", where, &agreement->event_types,
                          &agreement->event_type_count) != 0 ||
            config_values(parser, item, "fields", where, &agreement->fields,
                          &agreement->field_count) != 0 ||
            config_boolean(parser, item, "direct_care", where, &agreement->direct_care) != 0 ||
            config_boolean(parser, item, "restricted_records", where,
                           &agreement->restricted_records) != 0)
            return -1;
        if (!config_agreement_id_valid(agreement->id))
            return config_fail(parser, config_get(parser, item, "id"),
                               "agreement id '%s' must be 1-64 lower-case letters, digits, '.', "
                               "'-' or '_' (audit records name it)",
                               agreement->id);
        for (size_t p = 0; p < config->partner_count; p++) {
            const struct config_partner *other = &config->partners[p];
            for (size_t a = 0; a < other->agreement_count; a++) {
                const struct config_agreement *earlier = &other->agreements[a];
                if (earlier != agreement && earlier->id && strcmp(earlier->id, agreement->id) == 0)
                    return config_fail(parser, config_get(parser, item, "id"),
                                       "agreement id '%s' is used twice (first on line %d): audit "
                                       "records must name one agreement",
                                       agreement->id, earlier->line);
            }
        }
        /* What it covers: some of the partner's own topics. */
        yaml_node_t *types = config_get(parser, item, "event_types");
        if (!types || agreement->event_type_count == 0)
            return config_fail(parser, types ? types : item,
                               "%s needs 'event_types': the partner's topics it covers, e.g. "
                               "[admission, discharge]",
                               where);
        for (size_t k = 0; k < agreement->event_type_count; k++) {
            const struct config_value *type = &agreement->event_types[k];
            int subscribed = 0;
            for (size_t t = 0; t < partner->topic_count && !subscribed; t++)
                subscribed = strcmp(partner->topics[t], type->text) == 0;
            if (!subscribed) {
                char topics[256] = "";
                size_t used = 0;
                for (size_t t = 0; t < partner->topic_count && used < sizeof topics; t++) {
                    int w = snprintf(topics + used, sizeof topics - used, "%s%s", t ? ", " : "",
                                     partner->topics[t]);
                    if (w > 0)
                        used += (size_t)w;
                }
                return config_fail_at(parser, type->line, type->column,
                                      "%s.event_types names '%s', which %s does not subscribe to "
                                      "(its topics: %s); add it to the partner's topics or "
                                      "remove it here",
                                      where, type->text, partner->id, topics);
            }
        }
        yaml_node_t *fields = config_get(parser, item, "fields");
        if (!fields)
            return config_fail(parser, item,
                               "%s needs 'fields': the allow-list of field paths the partner may "
                               "receive, e.g. [person.nhs_number, ward] ([] for the envelope "
                               "only)",
                               where);
        for (size_t k = 0; k < agreement->field_count; k++) {
            const struct config_value *field = &agreement->fields[k];
            if (!config_field_path_valid(field->text)) {
                return config_fail_at(parser, field->line, field->column,
                                      "%s.fields: '%s' is not a field path (snake_case names "
                                      "joined by dots, e.g. person.address.postcode)",
                                      where, field->text);
            }
        }
        yaml_node_t *conditions = config_get(parser, item, "conditions");
        if (conditions && config_parse_conditions(parser, agreement, conditions, where) != 0)
            return -1;
        /* A pseudonym key, like every secret, is named, never written here. */
        yaml_node_t *key = config_get(parser, item, "pseudonym_key");
        if (key) {
            char key_label[160];
            snprintf(key_label, sizeof key_label, "%s.pseudonym_key", where);
            if (config_expect(parser, key, YAML_SCALAR_NODE, key_label) != 0)
                return -1;
            if (!config_secret_reference(config_scalar(key)))
                return config_fail(parser, key,
                                   "%s must name the key as env:VARIABLE or file:/path; a key is "
                                   "never written in the configuration itself",
                                   key_label);
            agreement->pseudonym_key = strdup(config_scalar(key));
            if (!agreement->pseudonym_key)
                return config_fail(parser, key, "out of memory");
            for (size_t k = 0; k < agreement->field_count; k++)
                if (config_path_covers(agreement->fields[k].text, "person.nhs_number"))
                    return config_fail(parser, key,
                                       "%s: the agreement discloses the NHS number (fields names "
                                       "'%s'), so a pseudonym adds nothing: remove one of them",
                                       key_label, agreement->fields[k].text);
            /* One key per partner, so its pseudonyms are the same under
             * every agreement. */
            for (size_t a = 0; a < i; a++) {
                const char *earlier = partner->agreements[a].pseudonym_key;
                if (earlier && strcmp(earlier, agreement->pseudonym_key) != 0)
                    return config_fail(parser, key,
                                       "%s: %s's agreements must share one pseudonym key (line "
                                       "%d names another), so a person's pseudonym is the same "
                                       "under each",
                                       key_label, partner->id, partner->agreements[a].line);
            }
        }
    }
    return 0;
}

static int config_parse_governance(struct config_parser *parser, struct config *config,
                                   const yaml_node_t *node)
{
    static const char *const known[] = {"person_key", NULL};
    const char *where = "governance";
    /* "governance:" with only comments under it (null, as YAML writers
     * spell an empty section). */
    if (node->type == YAML_SCALAR_NODE &&
        (strcmp(config_scalar(node), "") == 0 || strcmp(config_scalar(node), "null") == 0 ||
         strcmp(config_scalar(node), "~") == 0))
        return 0;
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "person_key", where, 0, &config->governance.person_key) != 0)
        return -1;
    if (config->governance.person_key && !config_secret_reference(config->governance.person_key))
        return config_fail(parser, config_get(parser, node, "person_key"),
                           "governance.person_key must name the key as env:VARIABLE or "
                           "file:/path; a key is never written in the configuration itself");
    return 0;
}

static int config_partner_id_valid(const char *id)
{
    size_t len = strlen(id);
    return len > 0 && len <= 64 && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789-_") == len;
}

static int config_parse_partners(struct config_parser *parser, struct config *config,
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
            config_options(parser, item, "options", where, &partner->options,
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

static int config_parse_document(struct config_parser *parser, struct config *config)
{
    static const char *const known[] = {
        "kafka", "schema_registry", "topics",     "ingest",     "dispatch",
        "mllp",  "partners",        "operations", "governance", NULL};
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
    if ((node = config_get(parser, root, "operations")) &&
        config_parse_operations(parser, config, node) != 0)
        return -1;
    if ((node = config_get(parser, root, "governance")) &&
        config_parse_governance(parser, config, node) != 0)
        return -1;
    /* Partners last: their topics must refer to declared topics. */
    if ((node = config_get(parser, root, "partners")) &&
        config_parse_partners(parser, config, node) != 0)
        return -1;
    return 0;
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

static void config_options_free(struct config_option *options, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(options[i].key);
        free(options[i].value);
    }
    free(options);
}

static void config_values_free(struct config_value *values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(values[i].text);
    free(values);
}

static void config_agreement_free(struct config_agreement *agreement)
{
    free(agreement->id);
    free(agreement->purpose);
    free(agreement->legal_basis);
    config_values_free(agreement->event_types, agreement->event_type_count);
    config_values_free(agreement->fields, agreement->field_count);
    config_values_free(agreement->gp_practices, agreement->gp_practice_count);
    config_values_free(agreement->postcode_districts, agreement->postcode_district_count);
    free(agreement->pseudonym_key);
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
