/*
 * test_record.c - the audit record writer (lib/delivery/record.c) pinned
 * field by field: the receipt for each outcome (delivered, dead_lettered,
 * failed) with the exact keys docs/governance.md documents, in order; a
 * redelivery's "via" and "dead_letter"; the suppression record; JSON
 * escaping of what a partner may send back; the dead letter's headers; and
 * the redaction of a partner's answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "delivery/record.h"

static const struct record_source source = {
    .topic = "admission",
    .partition = 4,
    .offset = 17,
    .key = "802db7211da387da49feb1a00bfb81a9",
    .key_len = 32,
};

/* 2026-11-20T08:42:04.002Z */
static const int64_t completed_ms = 1795164124002LL;

static json_t *parse_receipt(const struct record_outcome *outcome, char **text_out)
{
    size_t len = 0;
    char *text = record_receipt(outcome, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_error_t error;
    json_t *record = json_loads(text, 0, &error);
    if (!record)
        fail_msg("receipt is not JSON (%s): %s", error.text, text);
    if (text_out)
        *text_out = text;
    else
        free(text);
    return record;
}

/* The keys of object, in the order written, comma-separated. */
static void keys_in_order(const char *text, char *out, size_t out_size)
{
    /* A top-level key is a string right after '{' or ',' at depth 1. */
    size_t used = 0;
    int depth = 0, in_string = 0, escaped = 0;
    const char *start = NULL;
    char previous = 0;
    out[0] = '\0';
    for (const char *p = text; *p; p++) {
        if (in_string) {
            if (escaped)
                escaped = 0;
            else if (*p == '\\')
                escaped = 1;
            else if (*p == '"') {
                in_string = 0;
                if (start && depth == 1 && p[1] == ':') {
                    int n = snprintf(out + used, out_size - used, "%s%.*s", used ? "," : "",
                                     (int)(p - start), start);
                    used += (size_t)n;
                }
                start = NULL;
            }
            continue;
        }
        if (*p == '"') {
            in_string = 1;
            start = (previous == '{' || previous == ',') ? p + 1 : NULL;
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
        previous = *p;
    }
}

static void test_a_delivered_receipt_has_every_documented_field(void **state)
{
    (void)state;
    struct record_outcome outcome = {
        .partner_id = "stockport-homes",
        .event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
        .source = &source,
        .result = RECORD_DELIVERED,
        .status = 200,
        .attempts = 1,
        .latency_ms = 412,
        .completed_ms = completed_ms,
        .reason = "ignored when delivered",
        .agreement_id = "stockport-homes-hospital-stays-2026",
        .agreement_version = "3fa4c2d90b1e",
        .fields = "[\"event_id\",\"person.pseudonym\"]",
        .pseudonymised = 1,
    };
    char *text = NULL;
    json_t *record = parse_receipt(&outcome, &text);
    json_t *expected =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:i},s:s,s:i,s:i,s:i,s:s,s:s,s:s,s:s,s:[s,s],s:b}",
                  "record", "delivery", "partner", "stockport-homes", "event_id",
                  "d5905a32-14ab-4579-96da-1b8f530a1f03", "event_type", "admission", "source",
                  "topic", "admission", "partition", 4, "offset", 17, "outcome", "delivered",
                  "status", 200, "attempts", 1, "latency_ms", 412, "completed_at",
                  "2026-11-20T08:42:04.002Z", "person_ref", "802db7211da387da49feb1a00bfb81a9",
                  "agreement", "stockport-homes-hospital-stays-2026", "agreement_version",
                  "3fa4c2d90b1e", "fields", "event_id", "person.pseudonym", "pseudonymised", 1);
    assert_json_equal(record, expected);
    char keys[512];
    keys_in_order(text, keys, sizeof keys);
    assert_string_equal(keys, "record,partner,event_id,event_type,source,outcome,status,attempts,"
                              "latency_ms,completed_at,person_ref,agreement,agreement_version,"
                              "fields,pseudonymised");
    json_decref(expected);
    json_decref(record);
    free(text);
}

/* A partner's own reference (a MESH message id, ABI 2.1's
 * outcome.reference) is kept on a delivered receipt only, after the
 * status, digits and all (it is an id, not a response to redact). */
static void test_a_partner_reference_is_kept_when_delivered(void **state)
{
    (void)state;
    struct record_outcome outcome = {
        .partner_id = "gp",
        .event_id = "e1",
        .source = &source,
        .result = RECORD_DELIVERED,
        .completed_ms = completed_ms,
        .partner_reference = "20220228174323222_ABCDEF",
    };
    char *text = NULL;
    json_t *record = parse_receipt(&outcome, &text);
    assert_string_equal(json_string_value(json_object_get(record, "partner_reference")),
                        "20220228174323222_ABCDEF");
    assert_contains(text, "\"completed_at\":\"2026-11-20T08:42:04.002Z\",\"partner_reference\"");
    json_decref(record);
    free(text);
    outcome.result = RECORD_DEAD_LETTERED;
    record = parse_receipt(&outcome, NULL);
    assert_null(json_object_get(record, "partner_reference"));
    json_decref(record);
    outcome.result = RECORD_DELIVERED;
    outcome.partner_reference = "";
    record = parse_receipt(&outcome, NULL);
    assert_null(json_object_get(record, "partner_reference"));
    json_decref(record);
}

static void test_each_outcome_is_named_as_documented(void **state)
{
    (void)state;
    assert_string_equal(record_result_name(RECORD_DELIVERED), "delivered");
    assert_string_equal(record_result_name(RECORD_DEAD_LETTERED), "dead_lettered");
    assert_string_equal(record_result_name(RECORD_FAILED), "failed");
    const enum record_result results[] = {RECORD_DEAD_LETTERED, RECORD_FAILED};
    for (size_t i = 0; i < 2; i++) {
        struct record_outcome outcome = {
            .partner_id = "leisure",
            .event_id = "e1",
            .source = &source,
            .result = results[i],
            .status = 422,
            .attempts = 3,
            .completed_ms = completed_ms,
            .reason = "HTTP 422",
        };
        json_t *record = parse_receipt(&outcome, NULL);
        assert_string_equal(json_string_value(json_object_get(record, "outcome")),
                            record_result_name(results[i]));
        assert_string_equal(json_string_value(json_object_get(record, "reason")), "HTTP 422");
        /* Nothing disclosed: an empty list and a null agreement, not absent. */
        assert_int_equal(json_array_size(json_object_get(record, "fields")), 0);
        assert_true(json_is_array(json_object_get(record, "fields")));
        assert_true(json_is_null(json_object_get(record, "agreement")));
        assert_true(json_is_false(json_object_get(record, "pseudonymised")));
        assert_null(json_object_get(record, "via"));
        assert_null(json_object_get(record, "dead_letter"));
        json_decref(record);
    }
}

/* A cancellation or correction that followed the ledger names the event it
 * undoes, under the name the events use; any other receipt has neither. */
static void test_a_correction_receipt_names_the_original(void **state)
{
    (void)state;
    struct record_outcome outcome = {
        .partner_id = "stockport-homes",
        .event_id = "6fa486a5-e7ae-4022-8760-6138e1075522",
        .source = &source,
        .result = RECORD_DELIVERED,
        .status = 200,
        .attempts = 1,
        .completed_ms = completed_ms,
        .agreement_id = "stockport-homes-hospital-stays-2026",
        .agreement_version = "3fa4c2d90b1e",
        .fields = "[\"event_id\"]",
        .cancels_event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
    };
    json_t *record = parse_receipt(&outcome, NULL);
    assert_string_equal(json_string_value(json_object_get(record, "cancels_event_id")),
                        "d5905a32-14ab-4579-96da-1b8f530a1f03");
    assert_null(json_object_get(record, "supersedes_event_id"));
    json_decref(record);
    outcome.cancels_event_id = NULL;
    outcome.supersedes_event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03";
    record = parse_receipt(&outcome, NULL);
    assert_string_equal(json_string_value(json_object_get(record, "supersedes_event_id")),
                        "d5905a32-14ab-4579-96da-1b8f530a1f03");
    assert_null(json_object_get(record, "cancels_event_id"));
    json_decref(record);
    struct record_suppression suppression = {
        .partner_id = "leisure",
        .event_id = "6fa486a5-e7ae-4022-8760-6138e1075522",
        .source = &source,
        .reason = "not_disclosed",
        .supersedes_event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
        .at_ms = completed_ms,
    };
    size_t len = 0;
    char *text = record_suppression(&suppression, &len);
    record = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(record, "supersedes_event_id")),
                        "d5905a32-14ab-4579-96da-1b8f530a1f03");
    assert_null(json_object_get(record, "cancels_event_id"));
    json_decref(record);
    free(text);
}

static void test_a_redrive_receipt_names_how_and_the_dead_letter(void **state)
{
    (void)state;
    struct record_dead_letter dead_letter = {"placehub.dead-letter", 1, 99};
    struct record_outcome outcome = {
        .partner_id = "leisure",
        .event_id = "e2",
        .source = &source,
        .result = RECORD_DELIVERED,
        .status = 202,
        .attempts = 2,
        .latency_ms = 30,
        .completed_ms = completed_ms,
        .agreement_id = "a1",
        .fields = "[]",
        .via = "redrive",
        .dead_letter = &dead_letter,
    };
    char *text = NULL;
    json_t *record = parse_receipt(&outcome, &text);
    assert_string_equal(json_string_value(json_object_get(record, "via")), "redrive");
    json_t *expected =
        json_pack("{s:s,s:i,s:i}", "topic", "placehub.dead-letter", "partition", 1, "offset", 99);
    assert_json_equal(json_object_get(record, "dead_letter"), expected);
    char keys[512];
    keys_in_order(text, keys, sizeof keys);
    assert_contains(keys, "pseudonymised,via,dead_letter");
    json_decref(expected);
    json_decref(record);
    free(text);
}

static void test_a_receipt_without_a_person_key_has_a_null_reference(void **state)
{
    (void)state;
    struct record_source keyless = {.topic = "referral", .partition = 0, .offset = 1};
    struct record_outcome outcome = {
        .partner_id = "p", .event_id = "e", .source = &keyless, .result = RECORD_DELIVERED};
    json_t *record = parse_receipt(&outcome, NULL);
    assert_true(json_is_null(json_object_get(record, "person_ref")));
    json_decref(record);
}

static void test_what_a_partner_says_is_escaped_and_valid_utf8(void **state)
{
    (void)state;
    /* Quotes, a backslash, control bytes and a byte that is not UTF-8. */
    const char reason[] = "bad \"field\" \\ tab\t nl\n bell\a \xff end \xc3\xa9";
    struct record_outcome outcome = {.partner_id = "p",
                                     .event_id = "e",
                                     .source = &source,
                                     .result = RECORD_DEAD_LETTERED,
                                     .reason = reason};
    json_t *record = parse_receipt(&outcome, NULL);
    assert_string_equal(json_string_value(json_object_get(record, "reason")),
                        "bad \"field\" \\ tab\t nl\n bell\a \xef\xbf\xbd end \xc3\xa9");
    json_decref(record);
}

static void test_a_suppression_record_has_every_documented_field(void **state)
{
    (void)state;
    struct record_suppression suppression = {
        .partner_id = "stockport-homes",
        .event_id = "6fa486a5-e7ae-4022-8760-6138e1075522",
        .source = &source,
        .agreement_id = "stockport-homes-hospital-stays-2026",
        .reason = "objection",
        .detail = "the person objected",
        .cancels_event_id = "d5905a32-14ab-4579-96da-1b8f530a1f03",
        .at_ms = completed_ms,
        .via = "replay",
    };
    size_t len = 0;
    char *text = record_suppression(&suppression, &len);
    assert_non_null(text);
    json_t *record = json_loads(text, 0, NULL);
    json_t *expected = json_pack(
        "{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:i},s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "record", "suppression",
        "partner", "stockport-homes", "event_id", "6fa486a5-e7ae-4022-8760-6138e1075522",
        "event_type", "admission", "source", "topic", "admission", "partition", 4, "offset", 17,
        "person_ref", "802db7211da387da49feb1a00bfb81a9", "agreement",
        "stockport-homes-hospital-stays-2026", "reason", "objection", "detail",
        "the person objected", "at", "2026-11-20T08:42:04.002Z", "cancels_event_id",
        "d5905a32-14ab-4579-96da-1b8f530a1f03", "via", "replay");
    assert_json_equal(record, expected);
    json_decref(expected);
    json_decref(record);
    free(text);

    /* No agreement covers it: agreement null; no cancellation, no via. */
    struct record_suppression none = {.partner_id = "p",
                                      .event_id = "e",
                                      .source = &source,
                                      .reason = "no_agreement",
                                      .at_ms = completed_ms};
    text = record_suppression(&none, &len);
    record = json_loads(text, 0, NULL);
    assert_true(json_is_null(json_object_get(record, "agreement")));
    assert_string_equal(json_string_value(json_object_get(record, "detail")), "");
    assert_null(json_object_get(record, "cancels_event_id"));
    assert_null(json_object_get(record, "via"));
    json_decref(record);
    free(text);
}

/* An operator's pause, resume or probe: who, what, which partner, when;
 * nothing about a person or an event. */
static void test_a_partner_control_record_has_every_documented_field(void **state)
{
    (void)state;
    struct record_partner_control control = {
        .partner_id = "stockport-homes",
        .action = "pause",
        .actor = "j.bloggs@council.example",
        .at_ms = completed_ms,
    };
    size_t len = 0;
    char *text = record_partner_control(&control, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_t *record = json_loads(text, 0, NULL);
    json_t *expected = json_pack("{s:s,s:s,s:s,s:s,s:s}", "record", "partner_control", "partner",
                                 "stockport-homes", "action", "pause", "actor",
                                 "j.bloggs@council.example", "at", "2026-11-20T08:42:04.002Z");
    assert_json_equal(record, expected);
    json_decref(expected);
    json_decref(record);
    free(text);
}

static void test_a_dead_letter_carries_the_failure_in_its_headers(void **state)
{
    (void)state;
    struct record_outcome outcome = {
        .partner_id = "leisure",
        .event_id = "e3",
        .source = &source,
        .result = RECORD_DEAD_LETTERED,
        .status = 400,
        .attempts = 1,
        .completed_ms = completed_ms,
        .reason = "HTTP 400",
        .response_excerpt = "no such field",
    };
    struct producer_header headers[RECORD_DEAD_LETTER_HEADERS];
    char storage[1024];
    size_t count = record_dead_letter_headers(&outcome, headers, storage, sizeof storage);
    assert_int_equal(count, RECORD_DEAD_LETTER_HEADERS);
    static const char *const expected[][2] = {
        {"placehub.partner", "leisure"},
        {"placehub.event_id", "e3"},
        {"placehub.source_topic", "admission"},
        {"placehub.source_partition", "4"},
        {"placehub.source_offset", "17"},
        {"placehub.reason", "HTTP 400"},
        {"placehub.status", "400"},
        {"placehub.attempts", "1"},
        {"placehub.response_excerpt", "no such field"},
        {"placehub.dead_lettered_at", "2026-11-20T08:42:04.002Z"},
    };
    for (size_t i = 0; i < count; i++) {
        assert_string_equal(headers[i].name, expected[i][0]);
        assert_int_equal(headers[i].len, strlen(expected[i][1]));
        assert_memory_equal(headers[i].value, expected[i][1], headers[i].len);
    }
}

static void test_a_partners_answer_is_redacted(void **state)
{
    (void)state;
    char out[64];
    const char answer[] = "NHS 9990001234 tel 0161 12345 \x01ok";
    record_redact(answer, strlen(answer), out, sizeof out);
    assert_string_equal(out, "NHS ########## tel 0161 12345 .ok");
    /* Cut to the buffer, always terminated. */
    record_redact(answer, strlen(answer), out, 6);
    assert_string_equal(out, "NHS #");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_delivered_receipt_has_every_documented_field),
        cmocka_unit_test(test_each_outcome_is_named_as_documented),
        cmocka_unit_test(test_a_partner_reference_is_kept_when_delivered),
        cmocka_unit_test(test_a_correction_receipt_names_the_original),
        cmocka_unit_test(test_a_redrive_receipt_names_how_and_the_dead_letter),
        cmocka_unit_test(test_a_receipt_without_a_person_key_has_a_null_reference),
        cmocka_unit_test(test_what_a_partner_says_is_escaped_and_valid_utf8),
        cmocka_unit_test(test_a_suppression_record_has_every_documented_field),
        cmocka_unit_test(test_a_partner_control_record_has_every_documented_field),
        cmocka_unit_test(test_a_dead_letter_carries_the_failure_in_its_headers),
        cmocka_unit_test(test_a_partners_answer_is_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
