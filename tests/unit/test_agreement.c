/*
 * test_agreement.c - data-sharing agreements (lib/governance/agreement.c): field
 * minimisation (only the listed paths and the envelope, records entered
 * only as far as a listed path, arrays of records item by item; never a
 * field more), the disclosed-fields list, the rules (restricted record,
 * objection, GP practice and postcode district conditions with match
 * all/any, unknown values refused), postcode districts, pseudonyms (stable,
 * keyed, different per key, never the NHS number), the decision across
 * several agreements (first that lets the event through; default deny), and
 * the start-up check of field paths against the real schemas with its
 * "did you mean", and the version of an agreement's rules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "governance/agreement.h"
#include "schema/catalogue.h"
#include "core/config.h"

#define BASE                                                                                       \
    "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"                                            \
    "topics:\n  - name: admission\n  - name: discharge\n  - name: referral\n"                      \
    "partners:\n  - id: homes\n    connector: webhook\n    topics: [admission, discharge]\n"       \
    "    agreements:\n"

static struct config *load(const char *agreements)
{
    char text[8192], errstr[1024] = "";
    struct config *config = NULL;
    snprintf(text, sizeof text, "%s%s", BASE, agreements);
    if (config_load_string("test.yaml", text, strlen(text), &config, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    return config;
}

static json_t *sample(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "tests/data/%s.json", name);
    return support_load_json(path);
}

/* Every path (leaf or not) of value, as a set, for "never more" checks. */
static void all_paths(const json_t *value, char *path, size_t len, json_t *set)
{
    const char *key;
    json_t *child;
    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, child)
        {
            int n = snprintf(path + len, 512 - len, "%s%s", len ? "." : "", key);
            json_object_set_new(set, path, json_true());
            all_paths(child, path, len + (size_t)n, set);
            path[len] = '\0';
        }
    } else if (json_is_array(value)) {
        size_t i;
        json_array_foreach(value, i, child) all_paths(child, path, len, set);
    }
}

static void test_minimise_keeps_only_what_is_listed(void **state)
{
    (void)state;
    struct config *config =
        load("      - id: stays\n        purpose: p\n        legal_basis: b\n"
             "        event_types: [admission]\n"
             "        fields: [person.address.postcode, person.local_identifiers.value, ward]\n");
    const struct config_agreement *agreement = &config->partners[0].agreements[0];
    json_t *event = sample("admission");
    json_t *out = agreement_minimise(agreement, event);
    assert_non_null(out);
    json_t *expected = support_json(
        "{\"event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\", \"schema_version\": 1,"
        " \"occurred_at\": \"2026-11-20T08:42:00.000Z\","
        " \"recorded_at\": \"2026-11-20T08:42:03.512Z\", \"source_ods_code\": \"RXX\","
        " \"correlation_id\": \"5c2c5187-0049-4fc7-bd44-78fec1aec173\","
        " \"person\": {\"local_identifiers\": [{\"value\": \"H1234567\"}],"
        "              \"address\": {\"postcode\": \"SK4 9XX\"}},"
        " \"sharing\": {\"objected_to_non_care_sharing\": false, \"restricted_record\": false},"
        " \"event_type\": \"ADMITTED\", \"cancels_event_id\": null,"
        " \"ward\": \"Ward 7 (Acute Medical Unit)\"}");
    assert_json_equal(out, expected);
    /* Never a field more: every path of what goes out is in the event and
     * allowed (listed, under a listed one, on the way to one, or envelope). */
    char path[512] = "";
    json_t *paths = json_object();
    all_paths(out, path, 0, paths);
    const char *key;
    json_t *ignored;
    json_object_foreach(paths, key, ignored)
    {
        char top[64];
        snprintf(top, sizeof top, "%.*s", (int)strcspn(key, "."), key);
        int ok = agreement_always_disclosed(top) || strcmp(key, "person") == 0 ||
                 strcmp(key, "person.address") == 0 ||
                 strcmp(key, "person.local_identifiers") == 0 ||
                 strcmp(key, "person.address.postcode") == 0 ||
                 strcmp(key, "person.local_identifiers.value") == 0 || strcmp(key, "ward") == 0;
        if (!ok)
            fail_msg("%s went out", key);
    }
    json_decref(paths);
    json_decref(expected);
    json_decref(out);

    /* Nulls stay nulls (not known); a record that is null stays null. */
    json_object_set_new(json_object_get(event, "person"), "address", json_null());
    out = agreement_minimise(agreement, event);
    assert_true(json_is_null(json_object_get(json_object_get(out, "person"), "address")));
    json_decref(out);
    json_decref(event);
    config_destroy(config);
}

static void test_minimise_whole_records_and_nothing(void **state)
{
    (void)state;
    struct config *config = load("      - id: whole\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [admission, discharge]\n"
                                 "        fields: [person, notes, care_needs]\n"
                                 "      - id: nothing\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [discharge]\n        fields: []\n");
    json_t *event = sample("discharge");
    json_t *out = agreement_minimise(&config->partners[0].agreements[0], event);
    /* A listed record goes whole. */
    assert_json_equal(json_object_get(out, "person"), json_object_get(event, "person"));
    assert_json_equal(json_object_get(out, "care_needs"), json_object_get(event, "care_needs"));
    assert_non_null(json_object_get(out, "notes"));
    assert_null(json_object_get(out, "ward"));
    assert_null(json_object_get(out, "priority"));
    assert_null(json_object_get(out, "lives_alone"));
    json_decref(out);
    /* fields: [] is the envelope alone. */
    out = agreement_minimise(&config->partners[0].agreements[1], event);
    const char *key;
    json_t *value;
    json_object_foreach(out, key, value)
    {
        if (!agreement_always_disclosed(key))
            fail_msg("%s went out under an empty allow-list", key);
    }
    assert_int_equal(json_object_size(out), 9);
    json_decref(out);
    json_decref(event);
    config_destroy(config);
}

static void test_disclosed_fields(void **state)
{
    (void)state;
    json_t *event = support_json(
        "{\"event_id\": \"x\", \"correlation_id\": null, \"care_needs\": [\"EQUIPMENT\"],"
        " \"empty\": [], \"person\": {\"nhs_number\": null, \"address\": {\"lines\": [],"
        " \"postcode\": \"SK4 9XX\"}, \"local_identifiers\": [{\"system\": \"s\", \"value\": "
        "\"v\"},"
        " {\"system\": \"t\", \"value\": null}]}, \"sharing\": {\"restricted_record\": false}}");
    json_t *fields = agreement_fields(event);
    json_t *expected = support_json("[\"care_needs\", \"event_id\", \"person.address.postcode\","
                                    " \"person.local_identifiers.system\","
                                    " \"person.local_identifiers.value\","
                                    " \"sharing.restricted_record\"]");
    assert_json_equal(fields, expected);
    json_decref(expected);
    json_decref(fields);
    json_decref(event);
}

static void test_postcode_district(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"SK4 1AB", "SK4"}, {"sk41ab", "SK4"},     {"M1 1AA", "M1"},
        {"M20 2AB", "M20"}, {"W1A 0AX", "W1A"},    {"EC1A 1BB", "EC1A"},
        {"B33 8TH", "B33"}, {" CR2  6XH ", "CR2"}, {"DN55 1PT", "DN55"}};
    char district[8];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (agreement_postcode_district(cases[i][0], district, sizeof district) != 0)
            fail_msg("refused %s", cases[i][0]);
        assert_string_equal(district, cases[i][1]);
    }
    static const char *const bad[] = {"",        "SK4",     "SK4 1A",    "1SK 1AB", "SKA4 1AB",
                                      "SK4 AAB", "SK4-1AB", "SK4 1AB X", "S 1AB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (agreement_postcode_district(bad[i], district, sizeof district) == 0)
            fail_msg("accepted '%s' as %s", bad[i], district);
    assert_int_equal(agreement_postcode_district("EC1A 1BB", district, 4), -1);
}

/* The sample admission (SK4 9XX, P99001, no flags) with changes. */
static const char *judge(const struct config_agreement *agreement, const char *change_json,
                         char *detail, size_t detail_size)
{
    json_t *event = sample("admission");
    json_t *change = support_json(change_json);
    const char *key;
    json_t *value;
    json_object_foreach(change, key, value)
    {
        json_t *target = strcmp(key, "sharing") == 0 ? json_object_get(event, "sharing")
                                                     : json_object_get(event, "person");
        json_object_update(target, value);
    }
    detail[0] = '\0';
    const char *reason = agreement_judge(agreement, event, detail, detail_size);
    json_decref(change);
    json_decref(event);
    return reason;
}

static void test_rules(void **state)
{
    (void)state;
    struct config *config = load("      - id: area\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [admission]\n        fields: []\n"
                                 "        conditions:\n          postcode_districts: [SK4, SK5]\n"
                                 "      - id: both\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [admission]\n        fields: []\n"
                                 "        conditions:\n          postcode_districts: [SK4]\n"
                                 "          gp_practices: [P99002]\n"
                                 "      - id: either\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [admission]\n        fields: []\n"
                                 "        conditions:\n          postcode_districts: [SK4]\n"
                                 "          gp_practices: [P99002]\n          match: any\n"
                                 "      - id: care\n        purpose: p\n        legal_basis: b\n"
                                 "        event_types: [admission]\n        fields: []\n"
                                 "        direct_care: true\n        restricted_records: true\n");
    const struct config_agreement *area = &config->partners[0].agreements[0];
    const struct config_agreement *both = &config->partners[0].agreements[1];
    const struct config_agreement *either = &config->partners[0].agreements[2];
    const struct config_agreement *care = &config->partners[0].agreements[3];
    char detail[192];

    assert_null(judge(area, "{}", detail, sizeof detail));
    assert_null(judge(area, "{\"person\": {\"address\": {\"postcode\": \"sk5 1ab\"}}}", detail,
                      sizeof detail));
    assert_string_equal(judge(area, "{\"person\": {\"address\": {\"postcode\": \"M20 2AB\"}}}",
                              detail, sizeof detail),
                        AGREEMENT_CONDITION);
    assert_string_equal(detail, "postcode district not among the agreement's postcode_districts");
    /* Not known is not in the area: the hub cannot show it is. */
    assert_string_equal(judge(area, "{\"person\": {\"address\": null}}", detail, sizeof detail),
                        AGREEMENT_CONDITION);
    assert_string_equal(detail, "postcode not known");
    assert_string_equal(
        judge(area, "{\"person\": {\"address\": {\"postcode\": \"SK\"}}}", detail, sizeof detail),
        AGREEMENT_CONDITION);
    assert_string_equal(detail, "postcode not recognised");

    /* match all (the default): both must hold; any: one is enough. */
    assert_string_equal(judge(both, "{}", detail, sizeof detail), AGREEMENT_CONDITION);
    assert_string_equal(detail, "GP practice not among the agreement's gp_practices");
    assert_null(
        judge(both, "{\"person\": {\"gp_practice_ods_code\": \"P99002\"}}", detail, sizeof detail));
    assert_null(judge(either, "{}", detail, sizeof detail));
    assert_null(judge(either,
                      "{\"person\": {\"gp_practice_ods_code\": \"P99002\", \"address\": null}}",
                      detail, sizeof detail));
    assert_string_equal(judge(either,
                              "{\"person\": {\"gp_practice_ods_code\": null, \"address\": "
                              "{\"postcode\": \"M1 1AA\"}}}",
                              detail, sizeof detail),
                        AGREEMENT_CONDITION);
    assert_string_equal(detail, "GP practice not known; postcode district not among the "
                                "agreement's postcode_districts");

    /* Objection and restriction come before the conditions. */
    assert_string_equal(judge(area, "{\"sharing\": {\"objected_to_non_care_sharing\": true}}",
                              detail, sizeof detail),
                        AGREEMENT_OBJECTION);
    assert_contains(detail, "objected");
    assert_string_equal(
        judge(area, "{\"sharing\": {\"restricted_record\": true}}", detail, sizeof detail),
        AGREEMENT_RESTRICTED);
    assert_null(judge(care,
                      "{\"sharing\": {\"objected_to_non_care_sharing\": true, "
                      "\"restricted_record\": true}, \"person\": {\"address\": null}}",
                      detail, sizeof detail));
    /* Details never carry the person's values. */
    judge(area, "{\"person\": {\"address\": {\"postcode\": \"M20 2AB\"}}}", detail, sizeof detail);
    assert_not_contains(detail, "M20");
    config_destroy(config);
}

static void test_pseudonym(void **state)
{
    (void)state;
    static const char key[] = "0123456789abcdef0123456789abcdef";
    static const char other_key[] = "fedcba9876543210fedcba9876543210";
    char first[AGREEMENT_PSEUDONYM_SIZE], again[AGREEMENT_PSEUDONYM_SIZE],
        other[AGREEMENT_PSEUDONYM_SIZE], person[AGREEMENT_PSEUDONYM_SIZE];
    assert_int_equal(agreement_pseudonym(key, 32, "9990123454", first, sizeof first), 0);
    assert_int_equal(agreement_pseudonym(key, 32, "9990123454", again, sizeof again), 0);
    assert_int_equal(agreement_pseudonym(other_key, 32, "9990123454", other, sizeof other), 0);
    assert_int_equal(agreement_pseudonym(key, 32, "9990633177", person, sizeof person), 0);
    assert_string_equal(first, again);      /* stable */
    assert_string_not_equal(first, other);  /* per partner */
    assert_string_not_equal(first, person); /* per person */
    assert_int_equal(strlen(first), 64);
    assert_int_equal(strspn(first, "0123456789abcdef"), 64);
    assert_not_contains(first, "9990123454");
    /* HMAC-SHA256(key, "9990123454"), as any HMAC tool computes it. */
    assert_string_equal(first, "c1f7654b76b9b14c5e4df99685ae74c28261bd679ba94208bdafd28a51b32180");
    assert_int_equal(agreement_pseudonym(NULL, 0, "9990123454", first, sizeof first), -1);
    assert_int_equal(agreement_pseudonym(key, 32, "9990123454", first, 64), -1);
}

static void test_decide(void **state)
{
    (void)state;
    static const char key[] = "0123456789abcdef0123456789abcdef";
    struct config *config =
        load("      - id: stays-area\n        purpose: p\n        legal_basis: b\n"
             "        event_types: [admission]\n        fields: [ward]\n"
             "        conditions:\n          postcode_districts: [M20]\n"
             "        pseudonym_key: \"env:HOMES\"\n"
             "      - id: stays-practice\n        purpose: p\n        legal_basis: b\n"
             "        event_types: [admission]\n        fields: [person.given_name]\n"
             "        conditions:\n          gp_practices: [P99001]\n"
             "        pseudonym_key: \"env:HOMES\"\n");
    const struct config_partner *partner = &config->partners[0];
    json_t *event = sample("admission");
    struct agreement_decision decision;

    /* The first agreement refuses (area), the second lets it through. */
    assert_int_equal(agreement_decide(partner, "admission", key, 32, event, &decision), 0);
    assert_null(decision.reason);
    assert_ptr_equal(decision.agreement, &partner->agreements[1]);
    assert_true(decision.pseudonymised);
    const json_t *person = json_object_get(decision.event, "person");
    assert_string_equal(json_string_value(json_object_get(person, "given_name")), "Margaret Ann");
    assert_null(json_object_get(person, "nhs_number"));
    char pseudonym[AGREEMENT_PSEUDONYM_SIZE];
    agreement_pseudonym(key, 32, "9990123454", pseudonym, sizeof pseudonym);
    assert_string_equal(json_string_value(json_object_get(person, "pseudonym")), pseudonym);
    assert_null(json_object_get(decision.event, "ward")); /* the first agreement's field */
    /* What went out, by name: the envelope (cancels_event_id is null, so
     * not counted), the one field and the pseudonym. */
    json_t *expected = support_json(
        "[\"correlation_id\", \"event_id\", \"event_type\", \"occurred_at\","
        " \"person.given_name\", \"person.pseudonym\", \"recorded_at\", \"schema_version\","
        " \"sharing.objected_to_non_care_sharing\", \"sharing.restricted_record\","
        " \"source_ods_code\"]");
    assert_json_equal(decision.fields, expected);
    json_decref(expected);
    agreement_decision_clear(&decision);

    /* Both refuse: the first refusal is reported, nothing is disclosed. */
    json_object_set_new(json_object_get(event, "person"), "gp_practice_ods_code",
                        json_string("P99009"));
    assert_int_equal(agreement_decide(partner, "admission", key, 32, event, &decision), 0);
    assert_string_equal(decision.reason, AGREEMENT_CONDITION);
    assert_ptr_equal(decision.agreement, &partner->agreements[0]);
    assert_null(decision.event);
    assert_null(decision.fields);
    agreement_decision_clear(&decision);

    /* Default deny: nothing covers discharge. */
    assert_int_equal(agreement_decide(partner, "discharge", key, 32, event, &decision), 0);
    assert_string_equal(decision.reason, AGREEMENT_NO_AGREEMENT);
    assert_null(decision.agreement);
    assert_string_equal(decision.detail, "no agreement of the partner covers discharge events");
    agreement_decision_clear(&decision);

    /* No NHS number: no pseudonym, nothing made up. */
    json_object_set_new(json_object_get(event, "person"), "gp_practice_ods_code",
                        json_string("P99001"));
    json_object_set_new(json_object_get(event, "person"), "nhs_number", json_null());
    assert_int_equal(agreement_decide(partner, "admission", key, 32, event, &decision), 0);
    assert_null(decision.reason);
    assert_false(decision.pseudonymised);
    assert_null(json_object_get(json_object_get(decision.event, "person"), "pseudonym"));
    agreement_decision_clear(&decision);
    json_decref(event);
    config_destroy(config);

    /* A partner without agreements receives nothing. */
    config = load("      []\n");
    event = sample("admission");
    assert_int_equal(agreement_decide(&config->partners[0], "admission", NULL, 0, event, &decision),
                     0);
    assert_string_equal(decision.reason, AGREEMENT_NO_AGREEMENT);
    agreement_decision_clear(&decision);
    json_decref(event);
    config_destroy(config);
}

static void expect_check_error(const char *agreements, const char *where, const char *hint)
{
    struct config *config = load(agreements);
    struct catalogue *catalogue = NULL;
    char errstr[1024] = "", prefix[64];
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    if (agreement_check(config, catalogue, errstr, sizeof errstr) == 0)
        fail_msg("accepted:\n%s", agreements);
    snprintf(prefix, sizeof prefix, "test.yaml:%s: ", where);
    assert_starts_with(errstr, prefix);
    assert_contains(errstr, hint);
    catalogue_destroy(catalogue);
    config_destroy(config);
}

static void test_check_against_the_schemas(void **state)
{
    (void)state;
    struct catalogue *catalogue = NULL;
    char errstr[1024] = "";
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    /* Every kind of path: top level, nested, through a nullable record,
     * through an array of records, an envelope field, a field of one of the
     * two event types only. */
    struct config *config =
        load("      - id: ok\n        purpose: p\n        legal_basis: b\n"
             "        event_types: [admission, discharge]\n"
             "        fields: [priority, person.address.postcode, person.local_identifiers.system,"
             " event_id, admitting_specialty, care_needs, sharing]\n");
    if (agreement_check(config, catalogue, errstr, sizeof errstr) != 0)
        fail_msg("refused: %s", errstr);
    config_destroy(config);
    /* The real example configuration passes too. */
    if (config_load("config/placehub.yaml", &config, errstr, sizeof errstr) != 0 ||
        agreement_check(config, catalogue, errstr, sizeof errstr) != 0)
        fail_msg("config/placehub.yaml: %s", errstr);
    config_destroy(config);
    catalogue_destroy(catalogue);

    expect_check_error("      - id: a\n        purpose: p\n        legal_basis: b\n"
                       "        event_types: [admission]\n"
                       "        fields: [ward, person.adress.postcode]\n",
                       "16:24",
                       "partners[0].agreements[0].fields: 'person.adress.postcode' is not a field "
                       "of admission; did you mean 'person.address.postcode'?");
    expect_check_error("      - id: a\n        purpose: p\n        legal_basis: b\n"
                       "        event_types: [admission, discharge]\n"
                       "        fields: [referral_id]\n",
                       "16:18", "'referral_id' is not a field of admission or discharge");
    expect_check_error("      - id: a\n        purpose: p\n        legal_basis: b\n"
                       "        event_types: [discharge]\n        fields: [expected_discharge]\n",
                       "16:18", "did you mean 'expected_discharge_date'?");
}

/* An agreement for the version test: its words and its rules. */
struct version_case {
    const char *id, *purpose, *legal_basis; /* decide nothing */
    const char *event_types, *fields, *gp_practice, *direct_care, *restricted_records, *key;
};

/* The version of the one agreement c describes, into out. */
static void version_of(const struct version_case *c, char *out, size_t out_size)
{
    char text[1024];
    snprintf(text, sizeof text,
             "      - id: %s\n        purpose: %s\n        legal_basis: %s\n"
             "        event_types: %s\n        fields: %s\n"
             "        conditions:\n          gp_practices: [%s]\n"
             "        direct_care: %s\n        restricted_records: %s\n"
             "        pseudonym_key: \"%s\"\n",
             c->id, c->purpose, c->legal_basis, c->event_types, c->fields, c->gp_practice,
             c->direct_care, c->restricted_records, c->key);
    struct config *config = load(text);
    memset(out, 'x', out_size);
    agreement_version(&config->partners[0].agreements[0], out, out_size);
    config_destroy(config);
}

static void test_version(void **state)
{
    (void)state;
    /* The first two differ only in words; each after them changes one rule. */
    static const struct version_case cases[] = {
        {"stays", "p", "b", "[admission]", "[ward, encounter_id]", "P99001", "false", "false",
         "env:HOMES"},
        {"stays-renamed", "another purpose", "UK GDPR 6(1)(e)", "[admission]",
         "[ward, encounter_id]", "P99001", "false", "false", "env:HOMES"},
        {"a-field", "p", "b", "[admission]", "[ward]", "P99001", "false", "false", "env:HOMES"},
        {"an-event-type", "p", "b", "[admission, discharge]", "[ward, encounter_id]", "P99001",
         "false", "false", "env:HOMES"},
        {"a-condition", "p", "b", "[admission]", "[ward, encounter_id]", "P99002", "false", "false",
         "env:HOMES"},
        {"direct-care", "p", "b", "[admission]", "[ward, encounter_id]", "P99001", "true", "false",
         "env:HOMES"},
        {"restricted", "p", "b", "[admission]", "[ward, encounter_id]", "P99001", "false", "true",
         "env:HOMES"},
        {"another-key", "p", "b", "[admission]", "[ward, encounter_id]", "P99001", "false", "false",
         "env:OTHER"},
    };
    enum { CASES = sizeof cases / sizeof *cases };
    char versions[CASES][AGREEMENT_VERSION_SIZE];
    for (size_t i = 0; i < CASES; i++) {
        version_of(&cases[i], versions[i], sizeof versions[i]);
        assert_int_equal(strlen(versions[i]), 12);
        assert_int_equal(strspn(versions[i], "0123456789abcdef"), 12);
    }
    /* The same rules, whatever the id, purpose and legal basis say; and
     * the same again. */
    assert_string_equal(versions[0], versions[1]);
    char again[AGREEMENT_VERSION_SIZE];
    version_of(&cases[0], again, sizeof again);
    assert_string_equal(again, versions[0]);
    /* Any rule changed: another version, and no two of them alike. */
    for (size_t i = 2; i < CASES; i++) {
        if (strcmp(versions[i], versions[0]) == 0)
            fail_msg("agreement %s has the version of the unchanged rules", cases[i].id);
        for (size_t j = i + 1; j < CASES; j++)
            assert_string_not_equal(versions[i], versions[j]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimise_keeps_only_what_is_listed),
        cmocka_unit_test(test_minimise_whole_records_and_nothing),
        cmocka_unit_test(test_disclosed_fields),
        cmocka_unit_test(test_postcode_district),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_pseudonym),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_check_against_the_schemas),
        cmocka_unit_test(test_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
