/*
 * test_ledger_record.c - the audit-record reader of the disclosure ledger
 * (lib/governance/ledger_record.c): the scanner reads the records the hub
 * writes itself (were it to decline them, every record would cost a
 * jansson tree, some 16 us, on every dispatch), declines what it leaves to
 * jansson, and agrees with jansson wherever it reads (fuzz_ledger_record.c
 * fuzzes that agreement).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "support.h"
#include "governance/ledger_record.h"

static const char receipt[] =
    "{\"record\":\"delivery\",\"partner\":\"stockport-homes\","
    "\"event_id\":\"d5905a32-14ab-4579-96da-1b8f530a1f03\",\"event_type\":\"admission\","
    "\"source\":{\"topic\":\"admission\",\"partition\":4,\"offset\":17},\"outcome\":"
    "\"delivered\",\"status\":200,\"attempts\":1,\"latency_ms\":412,\"completed_at\":"
    "\"2026-11-20T08:42:04.002Z\",\"person_ref\":\"802db7211da387da49feb1a00bfb81a9\","
    "\"agreement\":\"stockport-homes-hospital-stays-2026\",\"agreement_version\":"
    "\"3fa4c2d90b1e\",\"fields\":[\"event_id\",\"person.pseudonym\"],\"pseudonymised\":true,"
    "\"cancels_event_id\":\"6fa486a5-e7ae-4022-8760-6138e1075522\"}";

static int text_is(struct ledger_text text, const char *expected)
{
    return text.text && text.len == strlen(expected) && memcmp(text.text, expected, text.len) == 0;
}

/* Both readers, which must agree; returns the scanner's verdict. */
static int read_both(const char *text, struct ledger_record *record)
{
    struct ledger_record tree;
    int scanned = ledger_record_scan(text, strlen(text), record);
    assert_int_equal(ledger_record_read_tree(text, strlen(text), &tree), 0);
    if (scanned == 0)
        assert_true(ledger_record_equal(record, &tree));
    ledger_record_clear(&tree);
    return scanned;
}

static void test_the_hubs_own_records_are_scanned(void **state)
{
    (void)state;
    struct ledger_record record;
    assert_int_equal(read_both(receipt, &record), 0);
    assert_null(record.tree); /* no jansson tree was built */
    assert_true(text_is(record.record, "delivery"));
    assert_true(text_is(record.partner, "stockport-homes"));
    assert_true(text_is(record.person_ref, "802db7211da387da49feb1a00bfb81a9"));
    assert_true(text_is(record.agreement_version, "3fa4c2d90b1e"));
    assert_true(text_is(record.completed_at, "2026-11-20T08:42:04.002Z"));
    assert_true(text_is(record.cancels_event_id, "6fa486a5-e7ae-4022-8760-6138e1075522"));
    assert_true(text_is(record.fields, "[\"event_id\",\"person.pseudonym\"]"));
    assert_true(record.has_source);
    assert_true(text_is(record.source_topic, "admission"));
    assert_int_equal(record.source_partition, 4);
    assert_int_equal(record.source_offset, 17);
    assert_null(record.source.text); /* an object, not the objection change's string */
    assert_null(record.supersedes_event_id.text);

    const char *change = "{\"record\":\"objection_change\",\"person_ref\":\"5f3c\",\"scope\":"
                         "\"national_data_opt_out\",\"state\":\"recorded\",\"changed_at\":"
                         "\"2026-11-22T10:15:30.123Z\",\"recorded_by\":\"ig-officer.7\","
                         "\"source\":\"api:demo-publisher\"}";
    assert_int_equal(read_both(change, &record), 0);
    assert_false(record.has_source);
    assert_true(text_is(record.source, "api:demo-publisher"));
    assert_true(text_is(record.scope, "national_data_opt_out"));
}

static void test_what_it_leaves_to_jansson(void **state)
{
    (void)state;
    struct ledger_record record;
    const char *declined[] = {
        "{\"record\":\"delivery\",\"reason\":\"HTTP 422: \\\"no\\\"\"}", /* an escape */
        "{\"record\":\"delivery\",\"partner\":\"caf\xc3\xa9\"}",         /* UTF-8 */
        "{\"record\":\"delivery\",\"status\":2.5}",                      /* a fraction */
        "{\"record\":\"delivery\",\"status\":1e3}",                      /* an exponent */
        "{\"record\":\"delivery\",\"fields\":[ \"a\" ]}",                /* not compact */
        "{\"record\":\"delivery\",\"fields\":[1]}",                      /* not strings */
        "{\"record\":\"delivery\",\"status\":1234567890123456789}",      /* 19 digits */
    };
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        assert_int_equal(read_both(declined[i], &record), -1);
        /* ... and ledger_record_parse still reads it, with jansson. */
        assert_int_equal(ledger_record_parse(declined[i], strlen(declined[i]), &record), 0);
        assert_non_null(record.tree);
        assert_true(text_is(record.record, "delivery"));
        ledger_record_clear(&record);
    }
}

static void test_it_reads_json_as_jansson_does(void **state)
{
    (void)state;
    struct ledger_record record;
    /* White space anywhere, a member given twice (the last wins), other
     * values skipped, null and non-string values of kept members as none. */
    const char *spaced = " { \"record\" : \"delivery\" , \"partner\" : 7 , \"outcome\":null,"
                         " \"x\" : [ { \"y\" : [ true , false , null , -0 ] } ] ,"
                         " \"record\" : \"suppression\" , \"source\" : {\"offset\": 3} } ";
    assert_int_equal(read_both(spaced, &record), 0);
    assert_true(text_is(record.record, "suppression"));
    assert_null(record.partner.text);
    assert_null(record.outcome.text);
    assert_true(record.has_source);
    assert_int_equal(record.source_offset, 3);
    assert_null(record.source_topic.text);

    /* Not JSON, or not an object: neither reader takes it. */
    const char *refused[] = {"",           "[]",   "{\"record\":\"delivery\"",
                             "{\"a\":01}", "{} x", "{\"a\":tru}"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        assert_int_equal(ledger_record_scan(refused[i], strlen(refused[i]), &record), -1);
        assert_int_equal(ledger_record_parse(refused[i], strlen(refused[i]), &record), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_hubs_own_records_are_scanned),
        cmocka_unit_test(test_what_it_leaves_to_jansson),
        cmocka_unit_test(test_it_reads_json_as_jansson_does),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
