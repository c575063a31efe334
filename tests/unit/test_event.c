/*
 * test_event.c - hub-owned fields and checks (lib/schema/event.c): event_prepare
 * fills event_id (a random UUID), recorded_at and schema_version only when
 * absent and keeps given ones, refuses a schema_version mismatch, a bad NHS
 * number (field person.nhs_number, message without the number), a person
 * without any identifier (field person) and a correction that also cancels
 * or names itself (field supersedes_event_id); event_person_key is a stable
 * keyed digest (HMAC) of the NHS number (or the first local identifier)
 * that never contains the number and changes with the hub's key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "schema/event.h"

/* 2026-11-20T10:22:03.456Z */
#define NOW_MILLIS INT64_C(1795170123456)

static json_t *load_example(void)
{
    return support_load_json("tests/data/admission.json");
}

static void test_fills_absent_fields(void **state)
{
    (void)state;
    json_t *event = load_example();
    json_object_del(event, "event_id");
    json_object_del(event, "recorded_at");
    json_object_del(event, "schema_version");
    struct codec_error error;
    assert_int_equal(event_prepare(event, 3, NOW_MILLIS, &error), 0);

    const char *id = event_id(event);
    assert_non_null(id);
    assert_true(codec_uuid_valid(id));
    assert_int_equal(id[14], '4'); /* version 4: random */
    assert_non_null(strchr("89ab", id[19]));
    for (const char *c = id; *c; c++) /* canonical lower case, as docs/schemas.md says */
        assert_null(strchr("ABCDEF", *c));
    assert_string_equal(json_string_value(json_object_get(event, "recorded_at")),
                        "2026-11-20T10:22:03.456Z");
    assert_true(json_is_integer(json_object_get(event, "schema_version")));
    assert_int_equal(json_integer_value(json_object_get(event, "schema_version")), 3);

    /* Another event gets another id. */
    json_t *other = load_example();
    json_object_del(other, "event_id");
    assert_int_equal(event_prepare(other, 1, NOW_MILLIS, &error), 0);
    assert_string_not_equal(event_id(other), id);
    json_decref(other);
    json_decref(event);
}

static void test_null_counts_as_absent(void **state)
{
    (void)state;
    json_t *event = load_example();
    json_object_set_new(event, "event_id", json_null());
    json_object_set_new(event, "recorded_at", json_null());
    json_object_set_new(event, "schema_version", json_null());
    struct codec_error error;
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), 0);
    assert_true(codec_uuid_valid(event_id(event)));
    assert_string_equal(json_string_value(json_object_get(event, "recorded_at")),
                        "2026-11-20T10:22:03.456Z");
    assert_int_equal(json_integer_value(json_object_get(event, "schema_version")), 1);
    json_decref(event);
}

static void test_keeps_given_fields(void **state)
{
    (void)state;
    json_t *event = load_example();
    json_t *original = json_deep_copy(event);
    struct codec_error error;
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), 0);
    /* Nothing changes: a retried event keeps its id and recorded_at. */
    assert_json_equal(event, original);
    assert_string_equal(event_id(event), "d5905a32-14ab-4579-96da-1b8f530a1f03");
    json_decref(original);
    json_decref(event);
}

static void test_schema_version_mismatch(void **state)
{
    (void)state;
    json_t *event = load_example();
    struct codec_error error;
    assert_int_equal(event_prepare(event, 2, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "schema_version");
    assert_contains(error.message, "must be 2");

    json_object_set_new(event, "schema_version", json_string("1"));
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "schema_version");
    assert_contains(error.message, "must be 1");
    json_decref(event);
}

/* A correction (supersedes_event_id) neither cancels too nor corrects itself. */
static void test_correction_checks(void **state)
{
    (void)state;
    json_t *event = support_load_json("tests/data/admission.v2.json");
    struct codec_error error;
    assert_int_equal(event_prepare(event, 2, NOW_MILLIS, &error), 0);

    json_object_set_new(event, "cancels_event_id",
                        json_string("5c2c5187-0049-4fc7-bd44-78fec1aec173"));
    assert_int_equal(event_prepare(event, 2, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "supersedes_event_id");
    assert_contains(error.message, "must be null when cancels_event_id is set");

    json_object_set_new(event, "cancels_event_id", json_null());
    json_object_set_new(event, "supersedes_event_id",
                        json_string("3F6C1B2E-8D4A-4E0B-9C71-5A2D6E8F0B14")); /* its own id */
    assert_int_equal(event_prepare(event, 2, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "supersedes_event_id");
    assert_contains(error.message, "names the event itself");

    /* A cancellation alone, or neither, is as before. */
    json_object_set_new(event, "supersedes_event_id", json_null());
    json_object_set_new(event, "cancels_event_id",
                        json_string("d5905a32-14ab-4579-96da-1b8f530a1f03"));
    assert_int_equal(event_prepare(event, 2, NOW_MILLIS, &error), 0);
    json_decref(event);
}

static void expect_bad_nhs_number(const char *number, const char *hint)
{
    json_t *event = load_example();
    json_object_set_new(json_object_get(event, "person"), "nhs_number", json_string(number));
    struct codec_error error;
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "person.nhs_number");
    assert_contains(error.message, hint);
    if (number[0])
        assert_not_contains(error.message, number);
    assert_not_contains(error.message, "99901234");
    json_decref(event);
}

static void test_bad_nhs_number(void **state)
{
    (void)state;
    expect_bad_nhs_number("9990123455", "check digit");
    expect_bad_nhs_number("999 012 3454", "10 digits");
    expect_bad_nhs_number("999012345", "10 digits");
    expect_bad_nhs_number("", "10 digits");
}

static void test_person_without_identifier(void **state)
{
    (void)state;
    static const char *const people[] = {
        "{}",
        "{\"nhs_number\": null, \"local_identifiers\": []}",
        "{\"given_name\": \"Margaret Ann\", \"family_name\": \"Holloway\"}",
    };
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        json_t *event = load_example();
        json_object_set_new(event, "person", support_json(people[i]));
        struct codec_error error;
        assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), -1);
        assert_string_equal(error.field, "person");
        assert_contains(error.message, "needs an nhs_number or at least one entry in "
                                       "local_identifiers");
        json_decref(event);
    }
}

static void test_local_identifier_is_enough(void **state)
{
    (void)state;
    json_t *event = load_example();
    json_object_set_new(json_object_get(event, "person"), "nhs_number", json_null());
    struct codec_error error;
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), 0);
    json_decref(event);
}

static void test_malformed_identifier_left_to_codec(void **state)
{
    (void)state;
    /* event_prepare lets the codec name the exact field of a malformed
     * identifier rather than saying "no identifier". */
    json_t *event = load_example();
    json_t *person = json_object_get(event, "person");
    json_object_set_new(person, "nhs_number", json_null());
    json_object_set_new(person, "local_identifiers",
                        support_json("[{\"system\": \"https://example.org/Id/x\"}]"));
    struct codec_error error;
    assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), 0);

    struct catalogue *catalogue = NULL;
    char errstr[512];
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    unsigned char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(codec_encode(catalogue_latest_for_topic(catalogue, "admission")->schema, event,
                                  0, &out, &out_len, &error),
                     -1);
    assert_string_equal(error.field, "person.local_identifiers[0].value");
    assert_contains(error.message, "is required");
    catalogue_destroy(catalogue);
    json_decref(event);
}

static void test_not_an_object(void **state)
{
    (void)state;
    json_t *array = json_array();
    struct codec_error error;
    assert_int_equal(event_prepare(array, 1, NOW_MILLIS, &error), -1);
    assert_string_equal(error.field, "");
    assert_contains(error.message, "JSON object");
    json_decref(array);
}

/* Ids made by the hub are version 4 uuids, all different, across more
 * than one refill of the random pool they are cut from (256 ids each). */
static void test_generated_ids(void **state)
{
    (void)state;
    enum { IDS = 700 };
    static char ids[IDS][37];
    for (int i = 0; i < IDS; i++) {
        json_t *event = support_json("{\"person\": {\"nhs_number\": \"9990123454\"}}");
        struct codec_error error;
        assert_int_equal(event_prepare(event, 1, NOW_MILLIS, &error), 0);
        const char *id = event_id(event);
        assert_non_null(id);
        assert_true(codec_uuid_valid(id));
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
        snprintf(ids[i], sizeof ids[i], "%s", id);
        json_decref(event);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(ids[j], ids[i]);
    }
}

static void key_of(const char *person_json, char *key, size_t key_size)
{
    json_t *event = json_object();
    json_object_set_new(event, "person", support_json(person_json));
    assert_int_equal(event_person_key(event, key, key_size), 0);
    json_decref(event);
}

static void test_person_key(void **state)
{
    (void)state;
    char first[65], second[65], other[65], local[65], local_again[65], other_local[65];
    key_of("{\"nhs_number\": \"9990123454\", \"given_name\": \"Margaret Ann\"}", first,
           sizeof first);
    /* Same NHS number, other details and other local identifiers: same key. */
    key_of("{\"nhs_number\": \"9990123454\", \"local_identifiers\": [{\"system\": \"s\", "
           "\"value\": \"v\"}]}",
           second, sizeof second);
    key_of("{\"nhs_number\": \"9990633177\"}", other, sizeof other);
    assert_string_equal(first, second);
    assert_string_not_equal(first, other);
    assert_int_equal(strlen(first), 32);
    assert_int_equal(strspn(first, "0123456789abcdef"), 32);
    assert_not_contains(first, "9990123454");
    assert_not_contains(first, "99901234");

    /* Stable for a given key: the same input always gives this key (the
     * first 16 bytes of HMAC-SHA256 under the development key of
     * "nhs:9990123454"). Changing it would split one person's events over
     * two partitions. */
    assert_true(event_person_key_is_development());
    assert_string_equal(first, "802db7211da387da49feb1a00bfb81a9");
    assert_string_equal(other, "3836f71885eb7f60050115456dbffdda");

    /* Without an NHS number, the first local identifier. */
    key_of("{\"nhs_number\": null, \"local_identifiers\": [{\"system\": "
           "\"https://fhir.example-trust.nhs.uk/Id/hospital-number\", \"value\": \"H1234567\"}]}",
           local, sizeof local);
    key_of("{\"local_identifiers\": [{\"system\": "
           "\"https://fhir.example-trust.nhs.uk/Id/hospital-number\", \"value\": \"H1234567\"}, "
           "{\"system\": \"s\", \"value\": \"v\"}]}",
           local_again, sizeof local_again);
    key_of("{\"local_identifiers\": [{\"system\": "
           "\"https://fhir.example-trust.nhs.uk/Id/hospital-number\", \"value\": \"H1234568\"}]}",
           other_local, sizeof other_local);
    assert_string_equal(local, local_again);
    assert_string_not_equal(local, other_local);
    assert_string_not_equal(local, first);
    assert_string_equal(local, "e1c6b60adcd0feb8a4a9764031c56e61");
    assert_not_contains(local, "H1234567");
}

/* The key is keyed: without the hub's key, trying every NHS number gives
 * nothing. Another key gives other person keys. */
static void test_person_key_is_keyed(void **state)
{
    (void)state;
    char development[65], keyed[65];
    key_of("{\"nhs_number\": \"9990123454\"}", development, sizeof development);
    /* Too short a key is refused and changes nothing. */
    assert_int_equal(event_person_key_set("short", 5), -1);
    assert_true(event_person_key_is_development());
    assert_int_equal(event_person_key_set("0123456789abcdef0123456789abcdef", 32), 0);
    assert_false(event_person_key_is_development());
    key_of("{\"nhs_number\": \"9990123454\"}", keyed, sizeof keyed);
    assert_string_not_equal(keyed, development);
    /* HMAC-SHA256("0123456789abcdef0123456789abcdef", "nhs:9990123454"). */
    assert_string_equal(keyed, "e00811c9ed9c1ed5c1a0a859f31f30f0");
    /* Keys longer than SHA-256's 64-byte block are hashed first (RFC 2104);
     * 64 bytes exactly are not. Both checked against OpenSSL's own HMAC. */
    static const size_t lengths[] = {64, 65, 100, 256};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        unsigned char long_key[256];
        for (size_t b = 0; b < lengths[i]; b++)
            long_key[b] = (unsigned char)(b * 7 + i);
        assert_int_equal(event_person_key_set(long_key, lengths[i]), 0);
        key_of("{\"nhs_number\": \"9990123454\"}", keyed, sizeof keyed);
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digest_len = 0;
        assert_non_null(HMAC(EVP_sha256(), long_key, (int)lengths[i],
                             (const unsigned char *)"nhs:9990123454", 14, digest, &digest_len));
        char expected[33];
        for (int b = 0; b < 16; b++)
            snprintf(expected + 2 * b, 3, "%02x", digest[b]);
        assert_string_equal(keyed, expected);
    }
    /* Back to the development key for the other tests. */
    assert_int_equal(
        event_person_key_set(EVENT_PERSON_KEY_DEVELOPMENT, strlen(EVENT_PERSON_KEY_DEVELOPMENT)),
        0);
}

static void test_person_key_refusals(void **state)
{
    (void)state;
    char key[65];
    json_t *event = support_json("{\"person\": {\"nhs_number\": null, \"local_identifiers\": []}}");
    assert_int_equal(event_person_key(event, key, sizeof key), -1);
    json_decref(event);
    event = support_json("{\"notes\": null}");
    assert_int_equal(event_person_key(event, key, sizeof key), -1);
    json_decref(event);
    event = support_json("{\"person\": {\"nhs_number\": \"9990123454\"}}");
    assert_int_equal(event_person_key(event, key, 32), -1); /* no room for the NUL */
    assert_int_equal(event_person_key(event, key, 33), 0);
    json_decref(event);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_absent_fields),
        cmocka_unit_test(test_generated_ids),
        cmocka_unit_test(test_null_counts_as_absent),
        cmocka_unit_test(test_keeps_given_fields),
        cmocka_unit_test(test_schema_version_mismatch),
        cmocka_unit_test(test_correction_checks),
        cmocka_unit_test(test_bad_nhs_number),
        cmocka_unit_test(test_person_without_identifier),
        cmocka_unit_test(test_local_identifier_is_enough),
        cmocka_unit_test(test_malformed_identifier_left_to_codec),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_person_key),
        cmocka_unit_test(test_person_key_is_keyed),
        cmocka_unit_test(test_person_key_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
