/*
 * test_config_governance.c - the governance: section and partners'
 * data-sharing agreements (lib/core/config_governance.c): their shape, the
 * references between them (topics, unique ids), their conditions and
 * pseudonym keys, and each refusal with its place and hint. The field paths
 * are checked against the schemas in test_agreement.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

#define PARTNER                                                                                    \
    "  - name: discharge\n  - name: referral\n"                                                    \
    "partners:\n  - id: homes\n    connector: webhook\n    topics: [admission, discharge]\n"       \
    "    agreements:\n"
/* Line 12 onwards: the agreement under test. */
#define AGREEMENT                                                                                  \
    "      - id: homes-stays\n        purpose: Homes ready\n        legal_basis: 6(1)(e)\n"        \
    "        event_types: [admission]\n"

static void test_agreement_values(void **state)
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
}

static void test_agreement_shape(void **state)
{
    (void)state;
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
    /* New. */
    expect_error(KAFKA TOPICS PARTNER
                 "      - id: homes-stays\n        purpose: p\n"
                 "        legal_basis: \"\"\n        event_types: [admission]\n"
                 "        fields: []\n",
                 "14:22", "partners[0].agreements[0].legal_basis must not be empty");
    expect_error(
        KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward]\n        restricted_records: 1\n",
        "17:29", "partners[0].agreements[0].restricted_records must be true or false, found '1'");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward, [person]]\n", "16:24",
                 "partners[0].agreements[0].fields entries must be single values, found a list");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: [ward, \"\"]\n", "16:24",
                 "partners[0].agreements[0].fields entries must be single values, found an empty "
                 "one");
    expect_error(KAFKA TOPICS PARTNER "      id: homes-stays\n", "12:7",
                 "partners[0].agreements must be a list, found a mapping");
    expect_error(KAFKA TOPICS PARTNER "      - homes-stays\n", "12:9",
                 "partners[0].agreements[0] must be a mapping, found a single value");
}

static void test_agreement_references(void **state)
{
    (void)state;
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
    /* New: an empty list covers nothing. */
    expect_error(KAFKA TOPICS PARTNER "      - id: homes-stays\n        purpose: p\n"
                                      "        legal_basis: b\n        event_types: []\n"
                                      "        fields: []\n",
                 "15:22", "partners[0].agreements[0] needs 'event_types'");
}

static void test_conditions(void **state)
{
    (void)state;
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
    /* New. */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT "        fields: []\n        conditions: [SK4]\n",
                 "17:21", "partners[0].agreements[0].conditions must be a mapping, found a list");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        conditions:\n          gp_practices: P99001\n",
                 "18:25",
                 "partners[0].agreements[0].conditions.gp_practices must be a list, found a "
                 "single value");
    struct config *config =
        load_ok(KAFKA TOPICS PARTNER AGREEMENT "        fields: []\n        conditions:\n");
    assert_int_equal(config->partners[0].agreements[0].postcode_district_count, 0);
    assert_false(config->partners[0].agreements[0].match_any);
    config_destroy(config);
}

static void test_pseudonym_keys(void **state)
{
    (void)state;
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
    /* New. */
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        pseudonym_key: [\"env:HOMES_KEY\"]\n",
                 "17:24",
                 "partners[0].agreements[0].pseudonym_key must be a single value, found a list");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: [person.nhs_number]\n        pseudonym_key: \"env:HOMES_KEY\"\n",
                 "17:24", "(fields names 'person.nhs_number')");
    expect_error(KAFKA TOPICS PARTNER AGREEMENT
                 "        fields: []\n        pseudonym_key: \"env:\"\n",
                 "17:24", "must name the key as env:VARIABLE or file:/path");
}

static void test_governance(void **state)
{
    (void)state;
    struct config *config;
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
    /* New. */
    expect_error(KAFKA TOPICS "governance:\n  person_key: [\"env:K\"]\n", "6:15",
                 "governance.person_key must be a single value, found a list");
    config = load_ok(KAFKA TOPICS "governance: ~\n");
    assert_null(config->governance.person_key);
    config_destroy(config);
    config = load_ok(KAFKA TOPICS "governance:\n  person_key: \"file:/run/secrets/person\"\n");
    assert_string_equal(config->governance.person_key, "file:/run/secrets/person");
    config_destroy(config);
}

static void test_objections_topic(void **state)
{
    (void)state;
    /* The default, with or without a governance section. */
    struct config *config = load_ok(KAFKA TOPICS);
    assert_string_equal(config->governance.objections_topic, "placehub.objections");
    config_destroy(config);
    config = load_ok(KAFKA TOPICS "governance:\n  person_key: \"env:K\"\n");
    assert_string_equal(config->governance.objections_topic, "placehub.objections");
    config_destroy(config);
    config = load_ok(KAFKA TOPICS "governance:\n  objections_topic: hub_objections-1\n");
    assert_string_equal(config->governance.objections_topic, "hub_objections-1");
    config_destroy(config);
    expect_error(KAFKA TOPICS "governance:\n  objections_topic: \"hub objections\"\n", "6:21",
                 "governance.objections_topic must be a valid Kafka topic name");
    expect_error(KAFKA TOPICS "governance:\n  objections_topic: \"\"\n", "6:21",
                 "governance.objections_topic must be a valid Kafka topic name");
    expect_error(KAFKA TOPICS "governance:\n  objections_topic: [a]\n", "6:21",
                 "governance.objections_topic must be a single value, found a list");
    /* Never an event topic, nor another of the hub's own. */
    expect_error(KAFKA TOPICS "governance:\n  objections_topic: admission\n", "6:21",
                 "governance.objections_topic 'admission' is already the name of another topic");
    expect_error(KAFKA TOPICS "governance:\n  objections_topic: placehub.audit\n", "6:21",
                 "'placehub.audit' is already the name of another topic");
    expect_error(KAFKA TOPICS "governance:\n  objection_topic: x\n", "6:3",
                 "did you mean 'objections_topic'?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agreement_values),     cmocka_unit_test(test_agreement_shape),
        cmocka_unit_test(test_agreement_references), cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_pseudonym_keys),       cmocka_unit_test(test_governance),
        cmocka_unit_test(test_objections_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
