/*
 * test_config.c - the YAML configuration (lib/core/config.c): the example
 * config/placehub.yaml loads with the values it states; every class of
 * mistake (unknown or duplicate key, wrong type, bad number, missing section,
 * dangling reference, invalid YAML, empty file) is refused with
 * "name:line:column:" pointing at the culprit and a hint (did you mean, what
 * is allowed, what to write instead); data-sharing agreements and the
 * governance section, their shape and their refusals (the field paths are
 * checked against the schemas in test_agreement.c); lookups and
 * config_resolve_path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "core/config.h"

#define KAFKA "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
#define TOPICS "topics:\n  - name: admission\n"

static struct config *load_ok(const char *text)
{
    struct config *config = NULL;
    char errstr[1024] = "";
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    assert_non_null(config);
    return config;
}

/* Asserts text is refused with a message starting "test.yaml:<where>: "
 * and containing hint. */
static void expect_error(const char *text, const char *where, const char *hint)
{
    struct config *config = (struct config *)&config; /* must be reset to NULL */
    char errstr[1024] = "";
    char prefix[64];
    int rc = config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr);
    if (rc != -1)
        fail_msg("accepted:\n%s", text);
    assert_null(config);
    snprintf(prefix, sizeof prefix, "test.yaml:%s: ", where);
    assert_starts_with(errstr, prefix);
    assert_contains(errstr, hint);
}

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

    assert_int_equal(config->partner_count, 3);
    /* The demo's sender publishes only: no connector, no topics. */
    const struct config_partner *sender = config_partner_find(config, "demo-publisher");
    assert_ptr_equal(sender, &config->partners[2]);
    assert_null(sender->connector);
    assert_non_null(sender->ingest);
    assert_int_equal(sender->ingest->publish_count, 4);
    assert_string_equal(sender->ingest->api_key_hashes_file,
                        "config/../.run/demo/demo-publisher.hashes");
    assert_int_equal(config_publisher_count(config), 1);
    const struct config_partner *homes = config_partner_find(config, "stockport-homes");
    assert_ptr_equal(homes, &config->partners[0]);
    assert_string_equal(homes->name, "Stockport Homes (simulated housing provider)");
    assert_string_equal(homes->connector, "webhook");
    assert_int_equal(homes->line, 107);
    assert_int_equal(homes->topic_count, 2);
    assert_string_equal(homes->topics[0], "admission");
    assert_string_equal(homes->topics[1], "discharge");
    assert_int_equal(homes->option_count, 2);
    assert_string_equal(config_partner_option(homes, "url"),
                        "http://127.0.0.1:9101/placehub/events");
    assert_string_equal(config_partner_option(homes, "timeout_ms"), "10000"); /* as text */
    assert_null(config_partner_option(homes, "URL"));

    const struct config_partner *leisure = config_partner_find(config, "life-leisure");
    assert_ptr_equal(leisure, &config->partners[1]);
    assert_int_equal(leisure->line, 152);
    assert_int_equal(leisure->topic_count, 2);
    assert_string_equal(leisure->topics[0], "referral");
    assert_string_equal(leisure->topics[1], "employment-support");
    assert_string_equal(config_partner_option(leisure, "url"),
                        "http://127.0.0.1:9102/placehub/events");
    assert_null(config_partner_find(config, "stockport"));

    /* The demo's agreements: one for the housing provider, two for the
     * leisure trust, sharing one pseudonym key. */
    assert_int_equal(homes->agreement_count, 1);
    const struct config_agreement *stays = &homes->agreements[0];
    assert_string_equal(stays->id, "stockport-homes-hospital-stays-2026");
    assert_int_equal(stays->line, 115);
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
    assert_string_equal(stays->pseudonym_key, "env:PLACEHUB_DEMO_HOMES_PSEUDONYM_KEY");
    assert_int_equal(leisure->agreement_count, 2);
    assert_true(leisure->agreements[0].match_any);
    assert_string_equal(leisure->agreements[0].pseudonym_key, leisure->agreements[1].pseudonym_key);
    assert_null(config->governance.person_key);
    config_destroy(config);
}

static void test_defaults_and_options(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA "  properties:\n"
                                          "    security.protocol: \"SSL\"\n"
                                          "    linger.ms: 5\n" TOPICS "  - name: discharge\n"
                                          "    partitions: 12\n"
                                          "    retention_ms: 604800000\n");
    assert_int_equal(config->kafka.property_count, 2);
    assert_string_equal(config->kafka.properties[0].key, "security.protocol");
    assert_string_equal(config->kafka.properties[0].value, "SSL");
    assert_int_equal(config->kafka.properties[0].line, 4);
    assert_string_equal(config->kafka.properties[1].value, "5");
    /* Defaults from config_defaults() when sections are left out. */
    assert_string_equal(config->schema_registry.mode, "embedded");
    assert_string_equal(config->schema_registry.schemas_dir, "../schemas");
    assert_string_equal(config->ingest.listen, "127.0.0.1:8080");
    assert_true(config->ingest.max_body_bytes == 65536);
    assert_int_equal(config->dispatch.retry_backoff_ms, 200);
    assert_int_equal(config->topics[0].partitions, 6);
    assert_int_equal(config->topics[0].replication_factor, 1);
    assert_true(config->topics[0].retention_ms == -1);
    assert_int_equal(config->topics[1].partitions, 12);
    assert_true(config->topics[1].retention_ms == 604800000LL);
    assert_int_equal(config->partner_count, 0);
    config_destroy(config);

    config = load_ok(KAFKA TOPICS "schema_registry:\n"
                                  "  mode: external\n"
                                  "  url: \"http://registry:8081\"\n");
    assert_string_equal(config->schema_registry.mode, "external");
    assert_string_equal(config->schema_registry.url, "http://registry:8081");
    config_destroy(config);
}

static void test_unknown_key(void **state)
{
    (void)state;
    expect_error("kafka:\n  bootstrap_server: \"127.0.0.1:9092\"\n" TOPICS, "2:3",
                 "unknown key 'bootstrap_server' in kafka; did you mean 'bootstrap_servers'?");
    expect_error(KAFKA TOPICS "partner:\n  - id: homes\n", "5:1",
                 "unknown key 'partner' in the top level; did you mean 'partners'?");
    expect_error(KAFKA TOPICS "    partition: 6\n", "5:5",
                 "unknown key 'partition' in topics[0]; did you mean 'partitions'?");
    /* Nothing close: the known keys are listed instead. */
    expect_error(KAFKA TOPICS "colour: blue\n", "5:1",
                 "unknown key 'colour' in the top level (known keys: kafka, schema_registry, "
                 "topics, ingest, dispatch, mllp, partners, operations, governance)");
    expect_error(KAFKA TOPICS "operations:\n  dispatch_listn: \"127.0.0.1:9181\"\n", "6:3",
                 "unknown key 'dispatch_listn' in operations; did you mean 'dispatch_listen'?");
}

static void test_duplicate_key(void **state)
{
    (void)state;
    /* libyaml accepts duplicate keys; the first would silently win, so the
     * "never delete" retention below would hide the mistaken 0. */
    expect_error(KAFKA TOPICS "    retention_ms: -1\n    retention_ms: 0\n", "6:5",
                 "key 'retention_ms' appears twice in topics[0] (first on line 5); keep one");
    expect_error(KAFKA TOPICS "kafka:\n  bootstrap_servers: \"10.0.0.1:9092\"\n", "5:1",
                 "key 'kafka' appears twice in the top level (first on line 1)");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: [admission]\n    options:\n"
                              "      url: \"http://a\"\n      url: \"http://b\"\n",
                 "11:7", "key 'url' appears twice in partners[0].options (first on line 10)");
}

static void test_wrong_type(void **state)
{
    (void)state;
    expect_error("kafka:\n  - bootstrap_servers\n" TOPICS, "2:3",
                 "kafka must be a mapping, found a list");
    expect_error(KAFKA "topics:\n  name: admission\n", "4:3",
                 "topics must be a list, found a mapping");
    expect_error(KAFKA "topics:\n  - admission\n", "4:5",
                 "topics[0] must be a mapping, found a single value");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: admission\n",
                 "8:13", "partners[0].topics must be a list, found a single value");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: [admission]\n    options:\n      url:\n        a: b\n",
                 "11:9", "partners[0].options.url must be a single value, found a mapping");
    expect_error("- kafka\n", "1:1", "the top level must be a mapping, found a list");
}

static void test_numbers(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "    partitions: six\n", "5:17",
                 "topics[0].partitions must be a whole number, found 'six'");
    expect_error(KAFKA TOPICS "    partitions: 6.5\n", "5:17",
                 "topics[0].partitions must be a whole number, found '6.5'");
    expect_error(KAFKA TOPICS "    retention_ms: 99999999999999999999\n", "5:19",
                 "must be a whole number, found '99999999999999999999'");
    expect_error(KAFKA TOPICS "    partitions: 0\n", "5:17",
                 "topics[0].partitions must be between 1 and 10000, found 0");
    expect_error(KAFKA TOPICS "    partitions: 10001\n", "5:17",
                 "must be between 1 and 10000, found 10001");
    expect_error(KAFKA TOPICS "    replication_factor: 33\n", "5:25",
                 "topics[0].replication_factor must be between 1 and 32, found 33");
    expect_error(KAFKA TOPICS "ingest:\n  max_body_bytes: 100\n", "6:19",
                 "ingest.max_body_bytes must be between 256 and 67108864, found 100");
    expect_error(KAFKA TOPICS "    retention_ms: -2\n", "5:19", "must be between -1 and");
    expect_error(KAFKA TOPICS "dispatch:\n  retry_backoff_ms: 500\n  retry_backoff_max_ms: 100\n",
                 "6:3", "retry_backoff_max_ms must not be below retry_backoff_ms");
}

static void test_missing_sections(void **state)
{
    (void)state;
    expect_error(TOPICS, "1:1", "a 'kafka' section with bootstrap_servers is required");
    expect_error("kafka:\n  properties: {}\n" TOPICS, "2:3", "kafka needs 'bootstrap_servers'");
    expect_error("kafka:\n  bootstrap_servers: \"\"\n" TOPICS, "2:22",
                 "kafka.bootstrap_servers must not be empty");
    expect_error(KAFKA, "1:1", "a 'topics' list is required");
    expect_error(KAFKA "topics: []\n", "3:9", "topics must declare at least one topic");
}

static void test_topics(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "  - name: discharge\n  - name: admission\n", "6:5",
                 "topic 'admission' is declared twice");
    expect_error(KAFKA TOPICS "    retention_ms: 0\n", "5:19",
                 "topics[0].retention_ms 0 would delete events at once; use -1");
    expect_error(KAFKA "topics:\n  - name: admission events\n", "4:11",
                 "topic name 'admission events' is not valid for Kafka");
}

static void test_partners(void **state)
{
    (void)state;
    /* The culprit is the topic entry itself, on line 8 column 25. */
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n"
                              "    topics: [admission, discharge]\n",
                 "8:25",
                 "partners[0].topics names topic 'discharge', which is not declared under topics");
    expect_error(KAFKA TOPICS "partners:\n"
                              "  - id: homes\n    connector: webhook\n    topics: [admission]\n"
                              "  - id: homes\n    connector: webhook\n    topics: [admission]\n",
                 "9:5", "partner id 'homes' is used twice");
    expect_error(KAFKA TOPICS "partners:\n  - id: Homes!\n    connector: webhook\n"
                              "    topics: [admission]\n",
                 "6:9", "partner id 'Homes!' must be 1-64 lower-case letters, digits");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n", "6:5",
                 "partners[0] needs 'topics'");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    connector: webhook\n    topics: []\n",
                 "8:13", "partners[0].topics is empty");
    expect_error(KAFKA TOPICS "partners:\n  - id: homes\n    topics: [admission]\n", "6:5",
                 "partners[0] needs 'connector'");
}

#define PARTNER                                                                                    \
    "  - name: discharge\n  - name: referral\n"                                                    \
    "partners:\n  - id: homes\n    connector: webhook\n    topics: [admission, discharge]\n"       \
    "    agreements:\n"
/* Line 12 onwards: the agreement under test. */
#define AGREEMENT                                                                                  \
    "      - id: homes-stays\n        purpose: Homes ready\n        legal_basis: 6(1)(e)\n"        \
    "        event_types: [admission]\n"

static void test_agreements(void **state)
{
    (void)state;
    struct config *config =
        load_ok(KAFKA TOPICS PARTNER AGREEMENT
                "        fields: [person.address.postcode, ward]\n"
                "        direct_care: true\n        restricted_records: true\n"
                "        conditions:\n          gp_practices: [P99001]\n"
                "          postcode_districts: [SK4, M20, W1A]\n          match: any\n"
                "        pseudonym_key: \"file:/run/secrets/homes\"\n"
                "      - id: homes-discharges\n        purpose: p\n        legal_basis: b\n"
                "        event_types: [discharge, admission]\n        fields: []\n"
                "governance:\n  person_key: \"env:PLACEHUB_PERSON_KEY\"\n");
    const struct config_partner *homes = &config->partners[0];
    assert_int_equal(homes->agreement_count, 2);
    const struct config_agreement *a = &homes->agreements[0];
    assert_string_equal(a->id, "homes-stays");
    assert_int_equal(a->line, 12);
    assert_int_equal(a->field_count, 2);
    assert_string_equal(a->fields[1].text, "ward");
    assert_int_equal(a->fields[1].line, 16);
    assert_int_equal(a->fields[1].column, 43);
    assert_true(a->direct_care);
    assert_true(a->restricted_records);
    assert_string_equal(a->gp_practices[0].text, "P99001");
    assert_int_equal(a->postcode_district_count, 3);
    assert_true(a->match_any);
    assert_string_equal(a->pseudonym_key, "file:/run/secrets/homes");
    const struct config_agreement *b = &homes->agreements[1];
    assert_int_equal(b->field_count, 0);
    assert_false(b->direct_care); /* defaults: the narrow way */
    assert_false(b->restricted_records);
    assert_null(b->pseudonym_key);
    assert_int_equal(b->event_type_count, 2);
    assert_string_equal(config->governance.person_key, "env:PLACEHUB_PERSON_KEY");
    config_destroy(config);

    /* Shape. */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        field: [ward]\n", "16:9",
                 "unknown key 'field' in partners[0].agreements[0]; did you mean 'fields'?");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT, "12:9",
                 "partners[0].agreements[0] needs 'fields': the allow-list");
    expect_error(
        KAFKA TOPICS PARTNER
        "      - id: homes-stays\n        legal_basis: b\n        event_types: [admission]\n"
        "        fields: []\n",
        "12:9", "partners[0].agreements[0] needs 'purpose'");
    expect_error(KAFKA TOPICS PARTNER
                 "      - id: homes-stays\n        purpose: p\n        legal_basis: b\n"
                 "        fields: []\n",
                 "12:9", "partners[0].agreements[0] needs 'event_types'");
    expect_error(
        KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward]\n        direct_care: yes\n",
        "17:22", "partners[0].agreements[0].direct_care must be true or false, found 'yes'");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward, Person.Address]\n", "16:24",
                 "partners[0].agreements[0].fields: 'Person.Address' is not a field path");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward, ward]\n", "16:24",
                 "partners[0].agreements[0].fields names 'ward' twice");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: ward\n", "16:17",
                 "partners[0].agreements[0].fields must be a list, found a single value");
    /* References. */
    expect_error(KAFKA TOPICS PARTNER
                 "      - id: homes-stays\n        purpose: p\n        legal_basis: b\n"
                 "        event_types: [admission, referral]\n        fields: []\n",
                 "15:34",
                 "partners[0].agreements[0].event_types names 'referral', which homes does not "
                 "subscribe to (its topics: admission, discharge)");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: []\n" AGREEMENT
                                                "        fields: []\n",
                 "17:13", "agreement id 'homes-stays' is used twice (first on line 12)");
    expect_error(KAFKA TOPICS PARTNER
                 "      - id: Homes Stays\n        purpose: p\n        legal_basis: b\n"
                 "        event_types: [admission]\n        fields: []\n",
                 "12:13", "agreement id 'Homes Stays' must be 1-64 lower-case letters");
    /* Conditions. */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        conditions:\n          postcode_district: [SK4]\n",
                 "18:11",
                 "unknown key 'postcode_district' in partners[0].agreements[0].conditions; did "
                 "you mean 'postcode_districts'?");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        conditions:\n          postcode_districts: []\n",
                 "18:31", "conditions.postcode_districts is empty, which no one would match");
    expect_error(
        KAFKA TOPICS PARTNER AGREEMENT
        "        fields: []\n        conditions:\n          postcode_districts: [SK4, sk5]\n",
        "18:37", "'sk5' is not a postcode district (the outward code in capitals");
    expect_error(
        KAFKA TOPICS PARTNER AGREEMENT
        "        fields: []\n        conditions:\n          postcode_districts: [SK4 1AB]\n",
        "18:32", "'SK4 1AB' is not a postcode district");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        conditions:\n          gp_practices: [p99001]\n",
                 "18:26", "'p99001' is not an ODS code");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        conditions:\n          gp_practices: [P99001]\n"
                 "          match: either\n",
                 "19:18",
                 "conditions.match must be 'all' (every condition given must hold) or "
                 "'any'");
    /* Keys: named, never written; no pseudonym beside the NHS number; one
     * key per partner. */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        pseudonym_key: \"c2VjcmV0LXNlY3JldA==\"\n",
                 "17:24", "pseudonym_key must name the key as env:VARIABLE or file:/path");
    struct config *refused = NULL;
    char errstr[1024] = "";
    const char *inline_key = KAFKA TOPICS PARTNER AGREEMENT
        "        fields: []\n        pseudonym_key: \"c2VjcmV0LXNlY3JldA==\"\n";
    config_load_string("test.yaml", inline_key, strlen(inline_key), &refused, errstr,
                       sizeof errstr);
    assert_not_contains(errstr, "c2VjcmV0"); /* the message never repeats a secret */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: [person]\n        pseudonym_key: \"env:HOMES_KEY\"\n",
                 "17:24", "the agreement discloses the NHS number (fields names 'person')");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        pseudonym_key: \"env:HOMES_KEY\"\n"
                 "      - id: homes-two\n        purpose: p\n        legal_basis: b\n"
                 "        event_types: [discharge]\n        fields: []\n"
                 "        pseudonym_key: \"env:OTHER_KEY\"\n",
                 "23:24",
                 "homes's agreements must share one pseudonym key (line 12 names another)");
    expect_error(KAFKA TOPICS "governance:\n  person_key: \"0123456789abcdef0123456789abcdef\"\n",
                 "6:15", "governance.person_key must name the key as env:VARIABLE or file:/path");
    /* An empty section, as written by hand or by a YAML library. */
    config = load_ok(KAFKA TOPICS "governance:\n");
    assert_null(config->governance.person_key);
    config_destroy(config);
    config = load_ok(KAFKA TOPICS "governance: null\n");
    config_destroy(config);
    expect_error(KAFKA TOPICS "governance: key\n", "5:13", "governance must be a mapping");
    expect_error(KAFKA TOPICS "governance:\n  person_keys: \"env:K\"\n", "6:3",
                 "unknown key 'person_keys' in governance; did you mean 'person_key'?");
}

static void test_registry(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "schema_registry:\n  mode: external\n", "6:3",
                 "schema_registry.mode is 'external' but no url is given (add url:");
    expect_error(KAFKA TOPICS "schema_registry:\n  mode: internal\n", "6:9",
                 "schema_registry.mode must be 'embedded' or 'external', found 'internal'");
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
        cmocka_unit_test(test_example_loads),    cmocka_unit_test(test_defaults_and_options),
        cmocka_unit_test(test_unknown_key),      cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_wrong_type),       cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_missing_sections), cmocka_unit_test(test_topics),
        cmocka_unit_test(test_partners),         cmocka_unit_test(test_agreements),
        cmocka_unit_test(test_registry),         cmocka_unit_test(test_invalid_yaml),
        cmocka_unit_test(test_empty_file),       cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_resolve_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
