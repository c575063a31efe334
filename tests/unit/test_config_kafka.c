/*
 * test_config_kafka.c - the kafka: and schema_registry: sections
 * (lib/core/config_kafka.c): librdkafka properties kept as text with their
 * lines, the registry's modes, and their refusals (a misspelt key, a wrong
 * type, a missing or empty bootstrap_servers, an unknown mode or protocol).
 * Broker security in depth (secrets refused, SASL and TLS pairs) is in
 * test_security.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

static void test_properties(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA "  properties:\n"
                                          "    security.protocol: \"SSL\"\n"
                                          "    linger.ms: 5\n" TOPICS);
    assert_int_equal(config->kafka.property_count, 2);
    assert_string_equal(config->kafka.properties[0].key, "security.protocol");
    assert_string_equal(config->kafka.properties[0].value, "SSL");
    assert_int_equal(config->kafka.properties[0].line, 4);
    assert_string_equal(config->kafka.properties[1].value, "5");
    assert_int_equal(config->kafka.line, 2);      /* where its mapping starts: the first key */
    assert_null(config->kafka.security_protocol); /* PLAINTEXT, by librdkafka's default */
    config_destroy(config);

    /* "properties:" with nothing after it is no properties. */
    config = load_ok(KAFKA "  properties:\n" TOPICS);
    assert_int_equal(config->kafka.property_count, 0);
    config_destroy(config);
}

static void test_kafka_refusals(void **state)
{
    (void)state;
    expect_error("kafka:\n  bootstrap_server: \"127.0.0.1:9092\"\n" TOPICS, "2:3",
                 "unknown key 'bootstrap_server' in kafka; did you mean 'bootstrap_servers'?");
    expect_error("kafka:\n  - bootstrap_servers\n" TOPICS, "2:3",
                 "kafka must be a mapping, found a list");
    expect_error("kafka:\n  properties: {}\n" TOPICS, "2:3", "kafka needs 'bootstrap_servers'");
    expect_error("kafka:\n  bootstrap_servers: \"\"\n" TOPICS, "2:22",
                 "kafka.bootstrap_servers must not be empty");
    /* New. */
    expect_error("kafka:\n  bootstrap_servers: [a, b]\n" TOPICS, "2:22",
                 "kafka.bootstrap_servers must be a single value, found a list");
    expect_error(KAFKA "  properties: [linger.ms]\n" TOPICS, "3:15",
                 "kafka.properties must be a mapping, found a list");
    expect_error(KAFKA "  properties:\n    linger.ms: [5]\n" TOPICS, "4:16",
                 "kafka.properties.linger.ms must be a single value, found a list");
    expect_error(KAFKA "  security_protocl: SSL\n" TOPICS, "3:3",
                 "unknown key 'security_protocl' in kafka; did you mean 'security_protocol'?");
    expect_error(KAFKA "  security_protocol: TLS\n" TOPICS, "3:22",
                 "kafka.security_protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, "
                 "found 'TLS'");
    expect_error(KAFKA "  security_protocol: [SSL]\n" TOPICS, "3:22",
                 "kafka.security_protocol must be a single value, found a list");
}

static void test_registry(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS "schema_registry:\n"
                                                 "  mode: external\n"
                                                 "  url: \"http://registry:8081\"\n");
    assert_string_equal(config->schema_registry.mode, "external");
    assert_string_equal(config->schema_registry.url, "http://registry:8081");
    config_destroy(config);

    expect_error(KAFKA TOPICS "schema_registry:\n  mode: external\n", "6:3",
                 "schema_registry.mode is 'external' but no url is given (add url:");
    expect_error(KAFKA TOPICS "schema_registry:\n  mode: internal\n", "6:9",
                 "schema_registry.mode must be 'embedded' or 'external', found 'internal'");
    /* New. */
    expect_error(KAFKA TOPICS "schema_registry:\n  mode: embedded\n  schema_dir: /srv/s\n", "7:3",
                 "unknown key 'schema_dir' in schema_registry; did you mean 'schemas_dir'?");
    expect_error(KAFKA TOPICS "schema_registry:\n  listen: \"127.0.0.1:8081\"\n", "6:3",
                 "schema_registry needs 'mode'");
    expect_error(KAFKA TOPICS "schema_registry:\n  mode: [embedded]\n", "6:9",
                 "schema_registry.mode must be a single value, found a list");
    expect_error(KAFKA TOPICS "schema_registry: embedded\n", "5:18",
                 "schema_registry must be a mapping, found a single value");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_kafka_refusals),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
