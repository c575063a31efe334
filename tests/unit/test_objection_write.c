/*
 * test_objection_write.c - the checks of the one objection writer
 * (lib/governance/objection_write.c) that need no broker: every typed form
 * of an NHS number gives one person_ref, the one events of that person are
 * keyed with (event_person_key_of_nhs_number against event_person_key);
 * each refusal names its field and code and never repeats the number. The
 * writing itself, on a real broker, is tests/integration/test_objections.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

#include <jansson.h>

#include "governance/objection_write.h"
#include "schema/event.h"

static struct config *write_config(void)
{
    return load_ok(KAFKA TOPICS "partners:\n  - id: housing\n    ingest:\n"
                                "      api_key_hashes: [\"sha256:00112233445566778899aabbccddeeff"
                                "00112233445566778899aabbccddeeff\"]\n"
                                "      publishes: [admission]\n"
                                "      source_ods_codes: [Y02494]\n");
}

static void request_ok(const struct config *config, const char *nhs, const char *scope,
                       int withdraw, struct objection_change *change)
{
    struct objection_write_request request = {nhs, scope, "gp-reception", withdraw, "ctl"};
    struct objection_write_refusal refusal;
    if (objection_write_check(config, &request, change, &refusal) != 0)
        fail_msg("\"%s\" %s refused: %s", nhs, scope, refusal.message);
}

static void test_forms_give_one_person_ref(void **state)
{
    (void)state;
    struct config *config = write_config();
    struct objection_change plain, spaced, hyphenated;
    request_ok(config, "9990123454", "national_data_opt_out", 0, &plain);
    request_ok(config, "999 012 3454", "national_data_opt_out", 0, &spaced);
    request_ok(config, "999-012-3454", "local:partner:housing", 1, &hyphenated);
    assert_string_equal(plain.person_ref, spaced.person_ref);
    assert_string_equal(plain.person_ref, hyphenated.person_ref);
    assert_int_equal(strlen(plain.person_ref), 32);
    assert_int_equal(plain.withdrawn, 0);
    assert_int_equal(hyphenated.withdrawn, 1);
    assert_int_equal(hyphenated.scope.kind, OBJECTION_LOCAL_PARTNER);
    assert_string_equal(hyphenated.scope.partner_id, "housing");
    assert_string_equal(plain.recorded_by, "gp-reception");
    assert_string_equal(plain.source, "ctl");

    /* The key the person's events carry. */
    json_t *event = json_pack("{s:{s:s}}", "person", "nhs_number", "9990123454");
    char key[65];
    assert_int_equal(event_person_key(event, key, sizeof key), 0);
    assert_string_equal(key, plain.person_ref);
    json_decref(event);
    /* Another person, another reference. */
    struct objection_change other;
    request_ok(config, "9990633177", "national_data_opt_out", 0, &other);
    assert_string_not_equal(other.person_ref, plain.person_ref);
    /* The helper takes only valid numbers, and needs room for 32 digits. */
    assert_int_equal(event_person_key_of_nhs_number("9990123455", key, sizeof key), -1);
    assert_int_equal(event_person_key_of_nhs_number("999 012 3454", key, sizeof key), -1);
    assert_int_equal(event_person_key_of_nhs_number("9990123454", key, 32), -1);
    config_destroy(config);
}

static void expect_refused(const struct config *config, const char *nhs, const char *scope,
                           const char *by, const char *field, const char *code, const char *hint)
{
    struct objection_write_request request = {nhs, scope, by, 0, "api:housing"};
    struct objection_write_refusal refusal;
    struct objection_change change;
    if (objection_write_check(config, &request, &change, &refusal) != -1)
        fail_msg("accepted: %s %s %s", nhs ? nhs : "(none)", scope ? scope : "(none)",
                 by ? by : "(none)");
    assert_string_equal(refusal.field, field);
    assert_string_equal(refusal.code, code);
    assert_contains(refusal.message, hint);
    assert_not_contains(refusal.message, "0123454");
    assert_not_contains(refusal.message, "012 345");
}

static void test_refusals(void **state)
{
    (void)state;
    struct config *config = write_config();
    const char *scope = "national_data_opt_out";
    expect_refused(config, "9990123455", scope, "gp", "nhs_number", "invalid_nhs_number",
                   "check digit");
    expect_refused(config, "999 012 345X", scope, "gp", "nhs_number", "invalid_nhs_number",
                   "a letter at position 12");
    expect_refused(config, "999 012-3454", scope, "gp", "nhs_number", "invalid_nhs_number",
                   "mixes spaces and hyphens");
    expect_refused(config, NULL, scope, "gp", "nhs_number", "invalid_nhs_number", "missing");
    expect_refused(config, "9990123454", "opt_out", "gp", "scope", "unknown_scope",
                   "national_data_opt_out");
    expect_refused(config, "9990123454", "opt_out", "gp", "scope", "unknown_scope",
                   "local:purpose:direct_care");
    expect_refused(config, "9990123454", "local:partner:leisure", "gp", "scope", "unknown_scope",
                   "housing");
    expect_refused(config, "9990123454", NULL, "gp", "scope", "unknown_scope", "missing");
    expect_refused(config, "9990123454", scope, "", "recorded_by", "invalid_recorded_by",
                   "1 to 64");
    expect_refused(config, "9990123454", scope, "Jane Example", "recorded_by",
                   "invalid_recorded_by", "a space at position 5");
    expect_refused(config, "9990123454", scope, "jane@example.org", "recorded_by",
                   "invalid_recorded_by", "an @ at position 5");
    expect_refused(config, "9990123454", scope, NULL, "recorded_by", "invalid_recorded_by",
                   "1 to 64");
    config_destroy(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forms_give_one_person_ref),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
