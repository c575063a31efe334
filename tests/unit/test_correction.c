/*
 * test_correction.c - corrections follow disclosures
 * (lib/governance/correction.c): which event an event undoes and how
 * (cancels_event_id before supersedes_event_id, empty meaning none), the
 * names the audit records use, which field paths identify, and the cut:
 * a cancellation keeps the envelope and the identifiers among what was
 * disclosed, a correction everything disclosed and never a field more, a
 * pseudonym computed again under the partner's key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "core/nhs.h"
#include "governance/agreement.h"
#include "governance/correction.h"

/* Invented person; the NHS number is in the 999 test range. */
#define NHS_NUMBER "9990123454"

static const char pseudonym_key[] = "0123456789abcdef0123456789abcdef";

/* A cancellation of an admission, as a sender writes it: every field
 * filled, so whatever is absent from a cut was cut. */
static json_t *cancelling_event(void)
{
    return support_json(
        "{\"event_id\": \"0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d\", \"event_type\": \"ADMITTED\","
        " \"schema_version\": 2, \"occurred_at\": \"2026-11-20T08:42:00.000Z\","
        " \"recorded_at\": \"2026-11-20T09:10:03.512Z\", \"source_ods_code\": \"RXX\","
        " \"correlation_id\": \"5c2c5187-0049-4fc7-bd44-78fec1aec173\","
        " \"cancels_event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\","
        " \"sharing\": {\"objected_to_non_care_sharing\": false, \"restricted_record\": false},"
        " \"person\": {\"nhs_number\": \"" NHS_NUMBER "\", \"given_name\": \"Edith\","
        "  \"family_name\": \"Brindlecombe\","
        "  \"local_identifiers\": [{\"system\": \"https://example-trust.nhs.uk/hn\","
        "   \"value\": \"H7654321\"}],"
        "  \"address\": {\"postcode\": \"SK4 9XX\"}},"
        " \"encounter_id\": \"V20261120-0042\", \"site_ods_code\": \"RXX01\","
        " \"ward\": \"Ward 7\", \"notes\": \"Moved to the discharge lounge.\"}");
}

/* The envelope of cancelling_event, which every cut keeps. */
#define ENVELOPE                                                                                   \
    "\"event_id\": \"0b6f7c1e-3d2a-4f5b-9c8d-7e6f5a4b3c2d\", \"event_type\": \"ADMITTED\","        \
    " \"schema_version\": 2, \"occurred_at\": \"2026-11-20T08:42:00.000Z\","                       \
    " \"recorded_at\": \"2026-11-20T09:10:03.512Z\", \"source_ods_code\": \"RXX\","                \
    " \"correlation_id\": \"5c2c5187-0049-4fc7-bd44-78fec1aec173\","                               \
    " \"cancels_event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\","                             \
    " \"sharing\": {\"objected_to_non_care_sharing\": false, \"restricted_record\": false}"

/* decision.fields must be agreement_fields of decision.event. */
static void assert_fields_of_event(const struct agreement_decision *decision)
{
    json_t *fields = agreement_fields(decision->event);
    assert_non_null(fields);
    assert_json_equal(decision->fields, fields);
    json_decref(fields);
}

static void test_correction_of(void **state)
{
    (void)state;
    const char *original = "untouched";
    json_t *event = support_json("{\"event_id\": \"e2\", \"cancels_event_id\": \"e1\","
                                 " \"supersedes_event_id\": \"e0\"}");
    assert_int_equal(correction_of(event, &original), CORRECTION_CANCELLATION);
    assert_string_equal(original, "e1");
    json_decref(event);

    event = support_json("{\"event_id\": \"e2\", \"cancels_event_id\": null,"
                         " \"supersedes_event_id\": \"e0\"}");
    assert_int_equal(correction_of(event, &original), CORRECTION_REPLACEMENT);
    assert_string_equal(original, "e0");
    json_decref(event);

    /* An empty id counts as none: the other one decides. */
    event = support_json("{\"cancels_event_id\": \"\", \"supersedes_event_id\": \"e0\"}");
    assert_int_equal(correction_of(event, &original), CORRECTION_REPLACEMENT);
    assert_string_equal(original, "e0");
    json_decref(event);

    static const char *const none[] = {
        "{\"event_id\": \"e2\"}",
        "{\"cancels_event_id\": null, \"supersedes_event_id\": null}",
        "{\"cancels_event_id\": \"\", \"supersedes_event_id\": \"\"}",
        "{\"cancels_event_id\": 7}",
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++) {
        event = support_json(none[i]);
        original = "untouched";
        assert_int_equal(correction_of(event, &original), CORRECTION_NONE);
        assert_null(original);
        json_decref(event);
    }
}

static void test_kind_name(void **state)
{
    (void)state;
    assert_string_equal(correction_kind_name(CORRECTION_CANCELLATION), "cancellation");
    assert_string_equal(correction_kind_name(CORRECTION_REPLACEMENT), "correction");
    assert_null(correction_kind_name(CORRECTION_NONE));
}

static void test_identifies(void **state)
{
    (void)state;
    static const char *const identifying[] = {"person.nhs_number",
                                              "person.pseudonym",
                                              "person.local_identifiers",
                                              "person.local_identifiers.value",
                                              "encounter_id",
                                              "referral_id",
                                              "programme",
                                              "site_ods_code",
                                              "ward"};
    for (size_t i = 0; i < sizeof identifying / sizeof *identifying; i++)
        if (!correction_identifies(identifying[i]))
            fail_msg("%s should identify", identifying[i]);
    static const char *const other[] = {"person.given_name",
                                        "person.family_name",
                                        "person.address.postcode",
                                        "notes",
                                        "encounter_idx",
                                        "person.nhs_number_verified",
                                        "wards",
                                        "person",
                                        "nhs_number",
                                        ""};
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (correction_identifies(other[i]))
            fail_msg("%s should not identify", other[i]);
}

static void test_cancellation_keeps_envelope_and_identifiers(void **state)
{
    (void)state;
    json_t *event = cancelling_event();
    struct agreement_decision decision;
    assert_int_equal(
        correction_cut(CORRECTION_CANCELLATION, event,
                       "[\"person.given_name\",\"encounter_id\",\"person.nhs_number\"]", NULL, 0,
                       &decision),
        0);
    json_t *expected =
        support_json("{" ENVELOPE ", \"person\": {\"nhs_number\": \"" NHS_NUMBER "\"},"
                     " \"encounter_id\": \"V20261120-0042\"}");
    assert_json_equal(decision.event, expected);
    json_decref(expected);
    assert_false(decision.pseudonymised);
    assert_null(decision.agreement);
    assert_null(decision.reason);
    assert_fields_of_event(&decision);
    agreement_decision_clear(&decision);

    /* Nothing identifying was disclosed: the envelope alone. Ward is an
     * identifier, but it was not sent, so it is not sent now. */
    assert_int_equal(correction_cut(CORRECTION_CANCELLATION, event,
                                    "[\"person.given_name\",\"notes\"]", NULL, 0, &decision),
                     0);
    expected = support_json("{" ENVELOPE "}");
    assert_json_equal(decision.event, expected);
    json_decref(expected);
    assert_fields_of_event(&decision);
    agreement_decision_clear(&decision);
    json_decref(event);
}

static void test_correction_keeps_what_was_disclosed(void **state)
{
    (void)state;
    json_t *event = cancelling_event();
    json_object_del(event, "cancels_event_id");
    json_object_set_new(event, "supersedes_event_id",
                        json_string("d5905a32-14ab-4579-96da-1b8f530a1f03"));
    struct agreement_decision decision;
    assert_int_equal(correction_cut(CORRECTION_REPLACEMENT, event,
                                    "[\"encounter_id\",\"notes\",\"person.address.postcode\","
                                    "\"person.given_name\"]",
                                    NULL, 0, &decision),
                     0);
    const json_t *person = json_object_get(decision.event, "person");
    assert_string_equal(json_string_value(json_object_get(person, "given_name")), "Edith");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(person, "address"), "postcode")),
        "SK4 9XX");
    assert_string_equal(json_string_value(json_object_get(decision.event, "notes")),
                        "Moved to the discharge lounge.");
    assert_string_equal(json_string_value(json_object_get(decision.event, "supersedes_event_id")),
                        "d5905a32-14ab-4579-96da-1b8f530a1f03");
    /* In the event, not disclosed before: never added. */
    assert_null(json_object_get(decision.event, "ward"));
    assert_null(json_object_get(decision.event, "site_ods_code"));
    assert_null(json_object_get(person, "nhs_number"));
    assert_null(json_object_get(person, "family_name"));
    assert_null(json_object_get(person, "local_identifiers"));
    assert_null(json_object_get(person, "pseudonym"));
    json_t *expected = support_json(
        "[\"correlation_id\", \"encounter_id\", \"event_id\", \"event_type\", \"notes\","
        " \"occurred_at\", \"person.address.postcode\", \"person.given_name\","
        " \"recorded_at\", \"schema_version\", \"sharing.objected_to_non_care_sharing\","
        " \"sharing.restricted_record\", \"source_ods_code\", \"supersedes_event_id\"]");
    assert_json_equal(decision.fields, expected);
    json_decref(expected);
    assert_fields_of_event(&decision);
    assert_false(decision.pseudonymised);
    agreement_decision_clear(&decision);
    json_decref(event);
}

static void test_pseudonym_computed_again(void **state)
{
    (void)state;
    char errstr[128], pseudonym[AGREEMENT_PSEUDONYM_SIZE];
    assert_int_equal(nhs_number_check(NHS_NUMBER, errstr, sizeof errstr), 0);
    assert_int_equal(
        agreement_pseudonym(pseudonym_key, 32, NHS_NUMBER, pseudonym, sizeof pseudonym), 0);
    json_t *event = cancelling_event();
    static const enum correction_kind kinds[] = {CORRECTION_CANCELLATION, CORRECTION_REPLACEMENT};
    for (size_t i = 0; i < 2; i++) {
        struct agreement_decision decision;
        assert_int_equal(correction_cut(kinds[i], event, "[\"encounter_id\",\"person.pseudonym\"]",
                                        pseudonym_key, 32, &decision),
                         0);
        const json_t *person = json_object_get(decision.event, "person");
        assert_string_equal(json_string_value(json_object_get(person, "pseudonym")), pseudonym);
        assert_null(json_object_get(person, "nhs_number")); /* not disclosed */
        assert_true(decision.pseudonymised);
        assert_fields_of_event(&decision);
        json_t *expected = support_json(
            "[\"cancels_event_id\", \"correlation_id\", \"encounter_id\", \"event_id\","
            " \"event_type\", \"occurred_at\", \"person.pseudonym\", \"recorded_at\","
            " \"schema_version\", \"sharing.objected_to_non_care_sharing\","
            " \"sharing.restricted_record\", \"source_ods_code\"]");
        assert_json_equal(decision.fields, expected);
        json_decref(expected);
        agreement_decision_clear(&decision);

        /* No key any more: no pseudonym, and nothing stands in for it. */
        assert_int_equal(correction_cut(kinds[i], event, "[\"encounter_id\",\"person.pseudonym\"]",
                                        NULL, 0, &decision),
                         0);
        assert_null(json_object_get(decision.event, "person"));
        assert_false(decision.pseudonymised);
        assert_fields_of_event(&decision);
        agreement_decision_clear(&decision);
    }
    json_decref(event);
}

static void test_disclosed_not_an_array(void **state)
{
    (void)state;
    json_t *event = cancelling_event();
    static const char *const bad[] = {"{\"fields\": []}", "not json", "\"encounter_id\"", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct agreement_decision decision;
        memset(&decision, 0x5a, sizeof decision);
        assert_int_equal(correction_cut(CORRECTION_REPLACEMENT, event, bad[i], NULL, 0, &decision),
                         -1);
        assert_null(decision.event);
        assert_null(decision.fields);
        assert_false(decision.pseudonymised);
    }
    json_decref(event);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_correction_of),
        cmocka_unit_test(test_kind_name),
        cmocka_unit_test(test_identifies),
        cmocka_unit_test(test_cancellation_keeps_envelope_and_identifiers),
        cmocka_unit_test(test_correction_keeps_what_was_disclosed),
        cmocka_unit_test(test_pseudonym_computed_again),
        cmocka_unit_test(test_disclosed_not_an_array),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
