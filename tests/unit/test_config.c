/*
 * test_config.c - the loader and the top level of the configuration
 * (lib/core/config.c): the example config/placehub.yaml loads with the
 * values it states; the defaults of sections left out; the top level's own
 * refusals (unknown or duplicate section, not a mapping, a required section
 * missing, invalid YAML, an empty file, a missing file); lookups and
 * config_resolve_path. Each section has its own test_config_<section>.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

static void test_example_loads(void **state)
{
    (void)state;
    struct config *config = NULL;
    char errstr[1024] = "";
    if (config_load("config/placehub.yaml", &config, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    assert_string_equal(config->path, "config/placehub.yaml");
    assert_string_equal(config->kafka.bootstrap_servers, "127.0.0.1:9092");
    assert_int_equal(config->kafka.property_count, 0);
    assert_string_equal(config->schema_registry.mode, "embedded");
    assert_string_equal(config->schema_registry.schemas_dir, "../schemas");
    assert_string_equal(config->schema_registry.listen, "127.0.0.1:8081");
    assert_null(config->schema_registry.url);

    static const char *const topics[] = {"admission", "discharge", "referral", "employment-support",
                                         "hl7-raw"};
    assert_int_equal(config->topic_count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(config->topics[i].name, topics[i]);
        assert_int_equal(config->topics[i].partitions, 6);
        assert_int_equal(config->topics[i].replication_factor, 1);
        assert_true(config->topics[i].retention_ms == -1);
        assert_ptr_equal(config_topic_find(config, topics[i]), &config->topics[i]);
    }
    assert_null(config_topic_find(config, "admissions"));

    assert_string_equal(config->ingest.listen, "127.0.0.1:8080");
    assert_true(config->ingest.max_body_bytes == 65536);
    assert_int_equal(config->ingest.produce_timeout_ms, 10000);
    assert_string_equal(config->dispatch.group_prefix, "placehub.dispatch");
    assert_int_equal(config->dispatch.retry_backoff_ms, 200);
    assert_int_equal(config->dispatch.retry_backoff_max_ms, 10000);
    assert_int_equal(config->dispatch.retry_window_ms, 86400000);
    assert_int_equal(config->dispatch.max_in_flight, 16);
    assert_string_equal(config->dispatch.dead_letter_topic, "placehub.dead-letter");
    assert_string_equal(config->dispatch.audit_topic, "placehub.audit");
    assert_int_equal(config->dispatch.breaker_failures, 5);
    assert_int_equal(config->dispatch.breaker_open_ms, 5000);
    assert_int_equal(config->dispatch.breaker_open_max_ms, 60000);

    assert_int_equal(config->partner_count, 4);
    /* The demo's sender publishes only: no connector, no topics. */
    const struct config_partner *sender = config_partner_find(config, "demo-publisher");
    assert_ptr_equal(sender, &config->partners[3]);
    assert_null(sender->connector);
    assert_non_null(sender->ingest);
    assert_int_equal(sender->ingest->publish_count, 4);
    assert_string_equal(sender->ingest->api_key_hashes_file,
                        "config/../.run/demo/demo-publisher.hashes");
    assert_int_equal(config_publisher_count(config), 1);
    const struct config_partner *homes = config_partner_find(config, "stockport-homes");
    assert_ptr_equal(homes, &config->partners[0]);
    assert_string_equal(homes->name, "Stockport Homes (simulated housing provider)");
    assert_string_equal(homes->connector, "http");
    assert_int_equal(homes->line, 109);
    assert_int_equal(homes->topic_count, 2);
    assert_string_equal(homes->topics[0], "admission");
    assert_string_equal(homes->topics[1], "discharge");
    assert_int_equal(homes->option_count, 5);
    assert_string_equal(config_partner_option(homes, "url"),
                        "http://127.0.0.1:9101/tenants/{pseudonym}/hospital-stays/{event_id}");
    /* A mapping, as compact JSON text (config_partner_options). */
    assert_string_equal(config_partner_option(homes, "answers"),
                        "{\"409\":\"delivered\",\"423\":\"retry\"}");
    assert_string_equal(config_partner_option(homes, "timeout_ms"), "10000"); /* as text */
    assert_null(config_partner_option(homes, "URL"));

    const struct config_partner *leisure = config_partner_find(config, "life-leisure");
    assert_ptr_equal(leisure, &config->partners[1]);
    assert_int_equal(leisure->line, 163);
    assert_int_equal(leisure->topic_count, 1);
    assert_string_equal(leisure->topics[0], "referral");
    assert_string_equal(config_partner_option(leisure, "url"),
                        "http://127.0.0.1:9102/placehub/referrals");
    /* The three partners that receive are served by the http connector. */
    const struct config_partner *works = config_partner_find(config, "stockport-works");
    assert_ptr_equal(works, &config->partners[2]);
    assert_string_equal(works->connector, "http");
    assert_string_equal(leisure->connector, "http");
    assert_int_equal(works->agreement_count, 1);
    assert_null(works->agreements[0].pseudonym_key);
    assert_null(config_partner_find(config, "stockport"));

    /* The demo's agreements: one for the housing provider, one for the
     * leisure trust, one for the employment-support provider. */
    assert_int_equal(homes->agreement_count, 1);
    const struct config_agreement *stays = &homes->agreements[0];
    assert_string_equal(stays->id, "stockport-homes-hospital-stays-2026");
    assert_int_equal(stays->line, 125);
    assert_contains(stays->purpose, "ready for their return");
    assert_contains(stays->legal_basis, "Article 9(2)(h)");
    assert_int_equal(stays->event_type_count, 2);
    assert_string_equal(stays->event_types[1].text, "discharge");
    assert_int_equal(stays->field_count, 13);
    assert_string_equal(stays->fields[0].text, "priority");
    assert_int_equal(stays->fields[0].column, 13);
    assert_false(stays->direct_care);
    assert_false(stays->restricted_records);
    assert_int_equal(stays->postcode_district_count, 8);
    assert_int_equal(stays->gp_practice_count, 0);
    assert_false(stays->match_any);
    assert_string_equal(stays->pseudonym_key, "file:.run/demo/keys/HOMES");
    /* Messages about the key cite its own line, below the agreement's. */
    assert_true(stays->pseudonym_key_line > stays->line);
    assert_int_equal(stays->pseudonym_key_column, 24);
    assert_int_equal(leisure->agreement_count, 1);
    assert_true(leisure->agreements[0].match_any);
    assert_string_equal(leisure->agreements[0].pseudonym_key, "file:.run/demo/keys/LEISURE");
    assert_null(config->governance.person_key);
    config_destroy(config);
}

static void test_defaults(void **state)
{
    (void)state;
    /* Defaults from config_defaults() when sections are left out. */
    struct config *config = load_ok(KAFKA TOPICS);
    assert_string_equal(config->schema_registry.mode, "embedded");
    assert_string_equal(config->schema_registry.schemas_dir, "../schemas");
    assert_string_equal(config->ingest.listen, "127.0.0.1:8080");
    assert_true(config->ingest.max_body_bytes == 65536);
    assert_int_equal(config->dispatch.retry_backoff_ms, 200);
    assert_int_equal(config->partner_count, 0);
    assert_null(config->partners);
    assert_int_equal(config_publisher_count(config), 0);
    assert_null(config->operations.ingest_listen);
    assert_null(config->operations.token_file);
    assert_null(config->governance.person_key);
    assert_string_equal(config->mllp.raw_topic, "hl7-raw");
    config_destroy(config);
}

static void test_top_level(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "partner:\n  - id: homes\n", "5:1",
                 "unknown key 'partner' in the top level; did you mean 'partners'?");
    /* Nothing close: the known keys are listed instead. */
    expect_error(KAFKA TOPICS "colour: blue\n", "5:1",
                 "unknown key 'colour' in the top level (known keys: kafka, schema_registry, "
                 "topics, ingest, dispatch, mllp, partners, operations, governance, console, "
                 "mesh_inbox)");
    expect_error(KAFKA TOPICS "kafka:\n  bootstrap_servers: \"10.0.0.1:9092\"\n", "5:1",
                 "key 'kafka' appears twice in the top level (first on line 1)");
    expect_error("- kafka\n", "1:1", "the top level must be a mapping, found a list");
    /* New: a lone value, and a section misspelt by one letter. */
    expect_error("kafka\n", "1:1", "the top level must be a mapping, found a single value");
    expect_error(KAFKA TOPICS "goverance:\n  person_key: \"env:K\"\n", "5:1",
                 "unknown key 'goverance' in the top level; did you mean 'governance'?");
}

static void test_missing_sections(void **state)
{
    (void)state;
    expect_error(TOPICS, "1:1", "a 'kafka' section with bootstrap_servers is required");
    expect_error(KAFKA, "1:1", "a 'topics' list is required");
}

static void test_invalid_yaml(void **state)
{
    (void)state;
    expect_error("kafka:\n  bootstrap_servers: [\"127.0.0.1:9092\"\n" TOPICS, "3:1",
                 "not valid YAML");
    expect_error("kafka:\n\tbootstrap_servers: x\n", "2:1",
                 "not valid YAML: found character "
                 "that cannot start any token");
    expect_error(KAFKA "topics:\n  - name: \"admission\n", "5:1", "not valid YAML");
}

static void test_empty_file(void **state)
{
    (void)state;
    expect_error("", "1:1", "the file is empty; start from config/placehub.yaml");
    expect_error("# nothing but a comment\n\n", "1:1", "the file is empty");
}

static void test_load_missing_file(void **state)
{
    (void)state;
    struct config *config = (struct config *)&config;
    char errstr[1024] = "";
    assert_int_equal(config_load("tests/data/no-such-file.yaml", &config, errstr, sizeof errstr),
                     -1);
    assert_null(config);
    assert_starts_with(errstr, "tests/data/no-such-file.yaml: cannot open");
    assert_contains(errstr, "-c PATH");
}

static void test_lookups(void **state)
{
    (void)state;
    struct config *config =
        load_ok(KAFKA TOPICS "  - name: discharge\n"
                             "partners:\n  - id: homes\n    connector: webhook\n"
                             "    topics: [discharge]\n    options:\n"
                             "      url: \"http://127.0.0.1:9/\"\n"
                             "  - id: sender\n    ingest:\n"
                             "      api_key_hashes_file: hashes\n"
                             "      publishes: [admission]\n"
                             "      source_ods_codes: [RXX01]\n");
    assert_ptr_equal(config_topic_find(config, "discharge"), &config->topics[1]);
    assert_null(config_topic_find(config, "Discharge"));
    assert_null(config_topic_find(config, ""));
    const struct config_partner *homes = config_partner_find(config, "homes");
    assert_ptr_equal(homes, &config->partners[0]);
    assert_string_equal(config_partner_option(homes, "url"), "http://127.0.0.1:9/");
    assert_null(config_partner_option(homes, "timeout_ms"));
    assert_ptr_equal(config_partner_find(config, "sender"), &config->partners[1]);
    assert_null(config_partner_find(config, "home"));
    assert_int_equal(config_publisher_count(config), 1);
    config_destroy(config);
}

static void test_resolve_path(void **state)
{
    (void)state;
    struct config *config = NULL;
    char errstr[1024], out[256];
    if (config_load("config/placehub.yaml", &config, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    assert_int_equal(
        config_resolve_path(config, config->schema_registry.schemas_dir, out, sizeof out), 0);
    assert_string_equal(out, "config/../schemas");
    assert_int_equal(config_resolve_path(config, "/etc/placehub/schemas", out, sizeof out), 0);
    assert_string_equal(out, "/etc/placehub/schemas");
    /* "config/../schemas" needs 18 bytes with its NUL. */
    assert_int_equal(config_resolve_path(config, "../schemas", out, 18), 0);
    assert_int_equal(config_resolve_path(config, "../schemas", out, 17), -1);
    config_destroy(config);

    /* A config named without a folder resolves against the working directory. */
    config = load_ok(KAFKA TOPICS);
    assert_int_equal(config_resolve_path(config, "../schemas", out, sizeof out), 0);
    assert_string_equal(out, "../schemas");
    config_destroy(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),     cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_top_level),         cmocka_unit_test(test_missing_sections),
        cmocka_unit_test(test_invalid_yaml),      cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_load_missing_file), cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_resolve_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
