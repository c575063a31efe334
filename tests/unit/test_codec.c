/*
 * test_codec.c - plain JSON <-> Avro binary (lib/schema/codec.c), driven by the real
 * schemas in schemas/catalogue.json:
 *  - every catalogue schema's example (tests/data/<topic>.json) encodes and
 *    decodes back equal; minimal events (required fields only) come back
 *    with every default filled in;
 *  - the exact Avro bytes of a small event, worked out by hand from the
 *    Avro specification (zig-zag varints, union branch indexes);
 *  - encoding errors name the field path and say what is wrong: wrong type,
 *    missing required field, unknown field (nested too), enum symbol, date,
 *    timestamp, uuid, null where not nullable, int range, array items;
 *  - decoding refuses truncated payloads, trailing bytes and garbage cleanly
 *    (no crash, no leak, no huge allocation: run it under valgrind), and
 *    accepts arrays written in several blocks or with negative block counts;
 *  - version 2's supersedes_event_id round-trips and a bad one is refused by
 *    name; events written with version 1 are still read, by their id;
 *  - the timestamp, date and uuid helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "support.h"

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "schema/framing.h"

static struct catalogue *catalogue;

static int setup(void **state)
{
    (void)state;
    char errstr[512];
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0) {
        print_error("cannot load schemas/catalogue.json: %s\n", errstr);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    catalogue_destroy(catalogue);
    return 0;
}

/* A version of a topic's schema. */
static const struct codec_schema *schema_version(const char *topic, int version)
{
    char subject[128];
    snprintf(subject, sizeof subject, "%s-value", topic);
    const struct catalogue_entry *entry = catalogue_find_subject(catalogue, subject, version);
    if (!entry)
        fail_msg("no version %d of %s in the catalogue", version, subject);
    return entry->schema;
}

/* Version 1 of a topic's schema: the byte-level tests are written for it. */
static const struct codec_schema *schema_v1(const char *topic)
{
    return schema_version(topic, 1);
}

static void encode_ok(const struct codec_schema *schema, const json_t *event, size_t prefix,
                      unsigned char **out, size_t *out_len)
{
    struct codec_error error;
    if (codec_encode(schema, event, prefix, out, out_len, &error) != 0)
        fail_msg("encode refused: %s: %s", error.field, error.message);
}

static json_t *decode_ok(const struct codec_schema *schema, const unsigned char *data, size_t len)
{
    json_t *event = NULL;
    struct codec_error error;
    if (codec_decode(schema, data, len, &event, &error) != 0)
        fail_msg("decode refused: %s: %s", error.field, error.message);
    assert_true(json_is_object(event));
    return event;
}

static json_t *round_trip(const struct codec_schema *schema, const json_t *event)
{
    unsigned char *out = NULL;
    size_t out_len = 0;
    encode_ok(schema, event, 0, &out, &out_len);
    json_t *decoded = decode_ok(schema, out, out_len);
    free(out);
    return decoded;
}

/* Asserts that encoding event (released here) fails on field with hint. */
static void expect_encode_error(const struct codec_schema *schema, json_t *event, const char *field,
                                const char *hint)
{
    unsigned char *out = (unsigned char *)&out;
    size_t out_len = 99;
    struct codec_error error;
    if (codec_encode(schema, event, 5, &out, &out_len, &error) != -1) {
        free(out);
        fail_msg("accepted, expected an error on %s", field);
    }
    assert_null(out);
    assert_int_equal(out_len, 0);
    assert_string_equal(error.field, field);
    assert_contains(error.message, hint);
    json_decref(event);
}

/* Asserts that decoding fails; field may be NULL when any field will do. */
static void expect_decode_error(const struct codec_schema *schema, const unsigned char *data,
                                size_t len, const char *field, const char *hint)
{
    json_t *event = (json_t *)&event;
    struct codec_error error;
    if (codec_decode(schema, data, len, &event, &error) != -1) {
        json_decref(event);
        fail_msg("decoded %zu bytes, expected an error on %s", len, field ? field : "?");
    }
    assert_null(event);
    assert_true(error.message[0] != '\0');
    if (field)
        assert_string_equal(error.field, field);
    if (hint)
        assert_contains(error.message, hint);
}

static json_t *admission_example(void)
{
    return support_load_json("tests/data/admission.json");
}

/* ---- examples and defaults --------------------------------------------- */

static void test_catalogue_examples_round_trip(void **state)
{
    (void)state;
    static const char *const topics[] = {"admission", "discharge", "referral",
                                         "employment-support"};
    for (size_t i = 0; i < 4; i++)
        assert_non_null(catalogue_latest_for_topic(catalogue, topics[i]));
    assert_true(catalogue->count >= 4);

    for (size_t i = 0; i < catalogue->count; i++) {
        const struct catalogue_entry *entry = &catalogue->entries[i];
        char path[256];
        if (entry->version == 1)
            snprintf(path, sizeof path, "tests/data/%s.json", entry->topic);
        else
            snprintf(path, sizeof path, "tests/data/%s.v%d.json", entry->topic, entry->version);
        if (access(path, R_OK) != 0)
            fail_msg("schema id %d (%s version %d) has no example: add %s", entry->id,
                     entry->subject, entry->version, path);
        json_t *example = support_load_json(path);
        assert_int_equal(json_integer_value(json_object_get(example, "schema_version")),
                         entry->version);

        json_t *decoded = round_trip(entry->schema, example);
        assert_json_equal(decoded, example);

        /* The prefix is room for the framing header: zero bytes, then the
         * same body. */
        unsigned char *plain = NULL, *framed = NULL;
        size_t plain_len = 0, framed_len = 0;
        static const unsigned char zeros[5] = {0};
        encode_ok(entry->schema, example, 0, &plain, &plain_len);
        encode_ok(entry->schema, example, 5, &framed, &framed_len);
        assert_int_equal(framed_len, plain_len + 5);
        assert_memory_equal(framed, zeros, 5);
        assert_memory_equal(framed + 5, plain, plain_len);
        free(plain);
        free(framed);
        json_decref(decoded);
        json_decref(example);
    }
}

#define MINIMAL_ENVELOPE                                                                           \
    "\"event_id\": \"0b5f3a52-3f4e-4d0e-9a47-1c0f1b9e2d11\", \"schema_version\": 1, "              \
    "\"occurred_at\": \"2026-11-20T08:42:00.000Z\", "                                              \
    "\"recorded_at\": \"2026-11-20T08:42:03.512Z\", \"source_ods_code\": \"RXX\", "                \
    "\"person\": {}, \"sharing\": {}, "

#define ENVELOPE_DEFAULTS                                                                          \
    "\"correlation_id\": null, \"priority\": \"ROUTINE\", \"notes\": null, "                       \
    "\"cancels_event_id\": null, "                                                                 \
    "\"person\": {\"nhs_number\": null, \"local_identifiers\": [], \"given_name\": null, "         \
    "\"family_name\": null, \"date_of_birth\": null, \"address\": null, "                          \
    "\"gp_practice_ods_code\": null}, "                                                            \
    "\"sharing\": {\"objected_to_non_care_sharing\": false, \"restricted_record\": false}, "

static void test_minimal_events_get_defaults(void **state)
{
    (void)state;
    static const struct {
        const char *topic, *minimal, *defaults;
    } cases[] = {
        {"admission", "{" MINIMAL_ENVELOPE "\"event_type\": \"ADMITTED\"}",
         "{" ENVELOPE_DEFAULTS "\"encounter_id\": null, \"admitted_at\": null, "
         "\"admission_method\": null, \"admitting_specialty\": null, \"site_ods_code\": null, "
         "\"ward\": null, \"previous_site_ods_code\": null, \"previous_ward\": null}"},
        {"discharge", "{" MINIMAL_ENVELOPE "\"event_type\": \"DISCHARGED\"}",
         "{" ENVELOPE_DEFAULTS "\"encounter_id\": null, \"site_ods_code\": null, "
         "\"ward\": null, \"expected_discharge_date\": null, \"discharged_at\": null, "
         "\"discharge_destination\": null, \"lives_alone\": null, \"care_needs\": [], "
         "\"care_package_restart_required\": null}"},
        {"referral",
         "{" MINIMAL_ENVELOPE "\"event_type\": \"REFERRAL_SENT\", \"referral_id\": \"R1\", "
         "\"referrer\": {}, \"receiving_service\": {\"name\": \"Move More\"}}",
         "{" ENVELOPE_DEFAULTS "\"referrer\": {\"ods_code\": null, \"organisation_name\": null, "
         "\"name\": null, \"role\": null, \"contact\": null}, "
         "\"receiving_service\": {\"ods_code\": null, \"service_type\": null}, "
         "\"urgency\": \"ROUTINE\", \"reason\": null, \"outcome_reason\": null}"},
        {"employment-support",
         "{" MINIMAL_ENVELOPE "\"event_type\": \"REFERRED\", \"referral_id\": \"R2\", "
         "\"programme\": \"WORKING_WELL\", \"stage\": \"REFERRED\", "
         "\"provider\": {\"name\": \"Working Well\"}}",
         "{" ENVELOPE_DEFAULTS "\"programme_name\": null, "
         "\"provider\": {\"ods_code\": null, \"service_type\": null}, \"referrer\": null, "
         "\"care_coordinator\": null, \"job_start_date\": null, \"outcome_reason\": null}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *minimal = support_json(cases[i].minimal);
        json_t *expected = json_deep_copy(minimal);
        json_t *defaults = support_json(cases[i].defaults);
        assert_int_equal(json_object_update_recursive(expected, defaults), 0);
        json_t *decoded = round_trip(schema_v1(cases[i].topic), minimal);
        assert_json_equal(decoded, expected);
        json_decref(decoded);
        json_decref(defaults);
        json_decref(expected);
        json_decref(minimal);
    }
}

static void test_missing_required_fields_of_each_topic(void **state)
{
    (void)state;
    static const struct {
        const char *topic, *event, *field;
    } cases[] = {
        {"admission", "{" MINIMAL_ENVELOPE "\"priority\": \"URGENT\"}", "event_type"},
        {"referral",
         "{" MINIMAL_ENVELOPE "\"event_type\": \"REFERRAL_SENT\", "
         "\"referral_id\": \"R1\", \"referrer\": {}, \"receiving_service\": {}}",
         "receiving_service.name"},
        {"employment-support",
         "{" MINIMAL_ENVELOPE "\"event_type\": \"REFERRED\", "
         "\"referral_id\": \"R2\", \"programme\": \"OTHER\", "
         "\"provider\": {\"name\": \"P\"}}",
         "stage"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_encode_error(schema_v1(cases[i].topic), support_json(cases[i].event), cases[i].field,
                            "is required");
}

/* ---- exact bytes ------------------------------------------------------- */

/* A small admission, and its Avro encoding worked out by hand: longs and
 * ints are zig-zag varints, strings a length then the bytes, a nullable
 * field the branch index (0 null, 1 value) then the value. */
static const char small_admission[] =
    "{\"event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\", \"schema_version\": 1, "
    "\"occurred_at\": \"1969-12-31T23:59:59.999Z\", \"recorded_at\": \"1970-01-01T00:00:01Z\", "
    "\"source_ods_code\": \"RXX\", "
    "\"person\": {\"nhs_number\": \"9990123454\", \"date_of_birth\": \"1970-01-02\"}, "
    "\"sharing\": {\"restricted_record\": true}, \"event_type\": \"TRANSFER_CANCELLED\"}";

static const char small_admission_avro[] =
    "\x48"
    "d5905a32-14ab-4579-96da-1b8f530a1f03" /* event_id: length 36 (zig-zag 72) */
    "\x02"                                 /* schema_version 1 */
    "\x01"                                 /* occurred_at -1 ms */
    "\xd0\x0f"                             /* recorded_at 1000 ms */
    "\x06"
    "RXX"  /* source_ods_code */
    "\x00" /* correlation_id: null (offset 45) */
    "\x00" /* priority: default ROUTINE (offset 46) */
    "\x02\x14"
    "9990123454"                            /* person.nhs_number: branch 1, length 10 */
    "\x00"                                  /* person.local_identifiers: no items */
    "\x00\x00"                              /* given_name, family_name: null */
    "\x02\x02"                              /* date_of_birth: branch 1, day 1 */
    "\x00\x00"                              /* address, gp_practice_ods_code: null */
    "\x00\x01"                              /* sharing: false, true (offset 66) */
    "\x00"                                  /* notes: null */
    "\x06"                                  /* event_type TRANSFER_CANCELLED, index 3 */
    "\x00\x00\x00\x00\x00\x00\x00\x00\x00"; /* the nine nullable admission fields */

#define SMALL_ADMISSION_LEN (sizeof small_admission_avro - 1)
#define ENVELOPE_LEN 69 /* bytes up to and including notes */

static void test_exact_bytes(void **state)
{
    (void)state;
    assert_int_equal(SMALL_ADMISSION_LEN, 79);
    json_t *event = support_json(small_admission);
    unsigned char *out = NULL;
    size_t out_len = 0;
    encode_ok(schema_v1("admission"), event, 0, &out, &out_len);
    assert_int_equal(out_len, SMALL_ADMISSION_LEN);
    assert_memory_equal(out, small_admission_avro, SMALL_ADMISSION_LEN);
    free(out);

    json_t *decoded = decode_ok(schema_v1("admission"), (const unsigned char *)small_admission_avro,
                                SMALL_ADMISSION_LEN);
    assert_string_equal(json_string_value(json_object_get(decoded, "occurred_at")),
                        "1969-12-31T23:59:59.999Z");
    assert_string_equal(json_string_value(json_object_get(decoded, "recorded_at")),
                        "1970-01-01T00:00:01.000Z");
    json_t *person = json_object_get(decoded, "person");
    assert_string_equal(json_string_value(json_object_get(person, "date_of_birth")), "1970-01-02");
    assert_string_equal(json_string_value(json_object_get(person, "nhs_number")), "9990123454");
    assert_string_equal(json_string_value(json_object_get(decoded, "priority")), "ROUTINE");
    assert_true(
        json_is_true(json_object_get(json_object_get(decoded, "sharing"), "restricted_record")));
    json_decref(decoded);
    json_decref(event);
}

/* ---- encoding errors --------------------------------------------------- */

static void test_wrong_type(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "priority", json_integer(5));
    expect_encode_error(schema, event, "priority",
                        "must be one of the symbols of uk.placehub.common.Priority, found a "
                        "whole number");

    event = admission_example();
    json_object_set_new(event, "schema_version", json_string("1"));
    expect_encode_error(schema, event, "schema_version", "must be a whole number, found a string");

    event = admission_example();
    json_object_set_new(event, "schema_version", json_real(1.5));
    expect_encode_error(schema, event, "schema_version", "found a decimal number");

    event = admission_example();
    json_object_set_new(event, "sharing", json_string("yes"));
    expect_encode_error(schema, event, "sharing", "must be an object, found a string");

    event = admission_example();
    json_object_set_new(json_object_get(event, "sharing"), "restricted_record",
                        json_string("false"));
    expect_encode_error(schema, event, "sharing.restricted_record",
                        "must be true or false, found a string");

    event = admission_example();
    json_object_set_new(json_object_get(event, "person"), "local_identifiers", json_object());
    expect_encode_error(schema, event, "person.local_identifiers",
                        "must be a list, found an object");

    event = admission_example();
    json_object_set_new(json_object_get(event, "person"), "nhs_number", json_integer(9990123454));
    expect_encode_error(schema, event, "person.nhs_number",
                        "must be a string, found a whole number");

    expect_encode_error(schema, json_array(), "", "must be an object, found a list");
}

static void test_missing_required(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    static const char *const required[] = {"event_id",    "schema_version",  "occurred_at",
                                           "recorded_at", "source_ods_code", "person",
                                           "sharing",     "event_type"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        json_t *event = admission_example();
        json_object_del(event, required[i]);
        expect_encode_error(schema, event, required[i], "is required");
    }
    /* Fields with a default may be left out. */
    json_t *event = admission_example();
    json_object_del(event, "priority");
    json_object_del(event, "notes");
    json_t *decoded = round_trip(schema, event);
    assert_string_equal(json_string_value(json_object_get(decoded, "priority")), "ROUTINE");
    assert_true(json_is_null(json_object_get(decoded, "notes")));
    json_decref(decoded);
    json_decref(event);
}

static void test_unknown_field(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "nickname", json_string("Peggy"));
    expect_encode_error(schema, event, "nickname",
                        "is not a field of uk.placehub.events.AdmissionEvent");

    event = admission_example();
    json_object_set_new(json_object_get(event, "person"), "nickname", json_string("Peggy"));
    expect_encode_error(schema, event, "person.nickname",
                        "is not a field of uk.placehub.common.Person");

    event = admission_example();
    json_object_set_new(json_object_get(json_object_get(event, "person"), "address"), "flat",
                        json_string("3"));
    expect_encode_error(schema, event, "person.address.flat",
                        "is not a field of uk.placehub.common.Address");

    /* A misspelt optional field is refused, not silently defaulted. */
    event = admission_example();
    json_object_del(event, "notes");
    json_object_set_new(event, "note", json_string("Daughter will collect; has keys."));
    expect_encode_error(schema, event, "note", "is not a field");
}

static void test_bad_enum_symbol(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "event_type", json_string("ADMIT"));
    expect_encode_error(schema, event, "event_type",
                        "is not one of: ADMITTED, TRANSFERRED, ADMISSION_CANCELLED, "
                        "TRANSFER_CANCELLED");

    event = admission_example();
    json_object_set_new(event, "event_type", json_string("admitted"));
    expect_encode_error(schema, event, "event_type", "is not one of");

    event = admission_example();
    json_object_set_new(event, "admission_method", json_string("URGENT"));
    expect_encode_error(schema, event, "admission_method", "is not one of: ELECTIVE, EMERGENCY");

    event = support_load_json("tests/data/discharge.json");
    json_array_set_new(json_object_get(event, "care_needs"), 1, json_string("HOVERCRAFT"));
    expect_encode_error(schema_v1("discharge"), event, "care_needs[1]", "is not one of");
}

static void test_bad_date(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    static const char *const dates[] = {
        "2026-02-30",           "2026-02-29", "1941-3-9",   "09/03/1941",
        "1941-03-09T00:00:00Z", "1941-13-01", "1941-00-10", ""};
    for (size_t i = 0; i < sizeof dates / sizeof dates[0]; i++) {
        json_t *event = admission_example();
        json_object_set_new(json_object_get(event, "person"), "date_of_birth",
                            json_string(dates[i]));
        expect_encode_error(schema, event, "person.date_of_birth",
                            "is not a valid date; expected YYYY-MM-DD");
    }
    json_t *event = admission_example();
    json_object_set_new(json_object_get(event, "person"), "date_of_birth", json_integer(-10525));
    expect_encode_error(schema, event, "person.date_of_birth",
                        "must be a date string YYYY-MM-DD, found a whole number");

    event = support_load_json("tests/data/discharge.json");
    json_object_set_new(event, "expected_discharge_date", json_string("2026-11-31"));
    expect_encode_error(schema_v1("discharge"), event, "expected_discharge_date",
                        "is not a valid date");
}

static void test_bad_timestamp(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    static const char *const times[] = {"2026-11-20T08:42:00",
                                        "2026-11-20T08:42:00.000",
                                        "garbage",
                                        "",
                                        "2026-11-20",
                                        "2026-11-20T25:00:00Z",
                                        "2026-11-20T08:42:00+0100",
                                        "2026-11-20T08:42:00Z junk"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        json_t *event = admission_example();
        json_object_set_new(event, "occurred_at", json_string(times[i]));
        expect_encode_error(schema, event, "occurred_at", "is not a valid RFC 3339 timestamp");
    }
    json_t *event = admission_example();
    json_object_set_new(event, "admitted_at", json_string("2026-11-20 08:40"));
    expect_encode_error(schema, event, "admitted_at", "is not a valid RFC 3339 timestamp");

    event = admission_example();
    json_object_set_new(event, "recorded_at", json_integer(1795170123456));
    expect_encode_error(schema, event, "recorded_at",
                        "must be an RFC 3339 timestamp string, found a whole number");

    /* An offset is converted to UTC. */
    event = admission_example();
    json_object_set_new(event, "occurred_at", json_string("2026-11-20T09:42:00.000+01:00"));
    json_t *decoded = round_trip(schema, event);
    assert_string_equal(json_string_value(json_object_get(decoded, "occurred_at")),
                        "2026-11-20T08:42:00.000Z");
    json_decref(decoded);
    json_decref(event);
}

static void test_bad_uuid(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    static const char *const ids[] = {"d5905a32-14ab-4579-96da-1b8f530a1f0",
                                      "d5905a32-14ab-4579-96da-1b8f530a1f033",
                                      "d5905a3214ab457996da1b8f530a1f03",
                                      "d5905a32-14ab-4579-96da-1b8f530a1f0g",
                                      "{d5905a32-14ab-4579-96da-1b8f530a1f0}",
                                      "",
                                      "not-a-uuid"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        json_t *event = admission_example();
        json_object_set_new(event, "event_id", json_string(ids[i]));
        expect_encode_error(schema, event, "event_id", "is not a UUID");
    }
    json_t *event = admission_example();
    json_object_set_new(event, "correlation_id", json_string("spell 42"));
    expect_encode_error(schema, event, "correlation_id", "is not a UUID");
    event = admission_example();
    json_object_set_new(event, "cancels_event_id", json_string("ADM-0042"));
    expect_encode_error(schema, event, "cancels_event_id", "is not a UUID");
}

/* ---- version 2: supersedes_event_id ------------------------------------ */

static const char *const all_topics[] = {"admission", "discharge", "referral",
                                         "employment-support"};

/* A correction names the event it replaces; the id is checked like every
 * uuid and a bad one is refused by name. Version 1 has no such field. */
static void test_supersedes_event_id(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_topics / sizeof all_topics[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/data/%s.v2.json", all_topics[i]);
        const struct codec_schema *schema = schema_version(all_topics[i], 2);
        json_t *correction = support_load_json(path);
        snprintf(path, sizeof path, "tests/data/%s.json", all_topics[i]);
        json_t *original = support_load_json(path);
        assert_string_equal(json_string_value(json_object_get(correction, "supersedes_event_id")),
                            json_string_value(json_object_get(original, "event_id")));
        json_t *decoded = round_trip(schema, correction);
        assert_json_equal(decoded, correction);
        json_decref(decoded);

        /* Absent reads as null, as in any event that corrects nothing. */
        json_object_del(correction, "supersedes_event_id");
        decoded = round_trip(schema, correction);
        assert_true(json_is_null(json_object_get(decoded, "supersedes_event_id")));
        json_decref(decoded);

        json_object_set_new(correction, "supersedes_event_id", json_string("ADM-0042"));
        expect_encode_error(schema, json_deep_copy(correction), "supersedes_event_id",
                            "is not a UUID");
        json_object_set_new(correction, "supersedes_event_id",
                            json_string("d5905a32-14ab-4579-96da-1b8f530a1f0"));
        expect_encode_error(schema, json_deep_copy(correction), "supersedes_event_id",
                            "is not a UUID");
        json_object_set_new(correction, "supersedes_event_id", json_integer(42));
        expect_encode_error(schema, correction, "supersedes_event_id", "found a whole number");

        /* Version 1 does not know the field: a version 1 writer cannot send it. */
        json_object_set_new(original, "supersedes_event_id",
                            json_string("d5905a32-14ab-4579-96da-1b8f530a1f03"));
        expect_encode_error(schema_v1(all_topics[i]), original, "supersedes_event_id",
                            "is not a field of");
    }
}

/* The codec has no reader schema: a message is decoded with the schema its
 * frame's id names (the writer's, as registry_reader gives it to dispatch),
 * so events written with version 1 before version 2 was published are read
 * as they were written. What Avro schema resolution would add - the new
 * field's default - is what the plain JSON form means by an absent field,
 * and the version 1 event is valid version 2 input once it says so. */
static void test_version_1_events_still_read(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_topics / sizeof all_topics[0]; i++) {
        char subject[128], path[128], errstr[256];
        snprintf(subject, sizeof subject, "%s-value", all_topics[i]);
        snprintf(path, sizeof path, "tests/data/%s.json", all_topics[i]);
        const struct catalogue_entry *v1 = catalogue_find_subject(catalogue, subject, 1);
        const struct catalogue_entry *v2 = catalogue_find_subject(catalogue, subject, 2);
        assert_non_null(v1);
        assert_non_null(v2);
        assert_int_not_equal(v1->id, v2->id);
        assert_ptr_equal(catalogue_latest_for_topic(catalogue, all_topics[i]), v2);
        json_t *example = support_load_json(path);

        /* Written with version 1 and framed with its id, as on Kafka... */
        unsigned char *framed = NULL;
        size_t framed_len = 0;
        encode_ok(v1->schema, example, FRAMING_HEADER_SIZE, &framed, &framed_len);
        framing_write_header(framed, v1->id);

        /* ...read back by the id, as dispatch does. */
        int32_t id = 0;
        const unsigned char *payload = NULL;
        size_t payload_len = 0;
        assert_int_equal(
            framing_parse(framed, framed_len, &id, &payload, &payload_len, errstr, sizeof errstr),
            0);
        const struct catalogue_entry *writer = catalogue_find_id(catalogue, id);
        assert_ptr_equal(writer, v1);
        json_t *decoded = decode_ok(writer->schema, payload, payload_len);
        assert_json_equal(decoded, example);
        assert_null(json_object_get(decoded, "supersedes_event_id"));

        /* The same event is a valid version 2 event with the default. */
        json_object_set_new(decoded, "schema_version", json_integer(2));
        json_t *upgraded = round_trip(v2->schema, decoded);
        assert_true(json_is_null(json_object_get(upgraded, "supersedes_event_id")));
        json_object_del(upgraded, "supersedes_event_id");
        assert_json_equal(upgraded, decoded);

        /* Version 1 bytes are not version 2 bytes: read with the wrong
         * schema the record comes out short, and the codec says so. */
        expect_decode_error(v2->schema, payload, payload_len, NULL, NULL);
        json_decref(upgraded);
        json_decref(decoded);
        json_decref(example);
        free(framed);
    }
}

static void test_null_where_not_nullable(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "source_ods_code", json_null());
    expect_encode_error(schema, event, "source_ods_code", "must not be null");

    event = admission_example();
    json_object_set_new(event, "person", json_null());
    expect_encode_error(schema, event, "person", "must not be null");

    event = admission_example();
    json_object_set_new(event, "priority", json_null());
    expect_encode_error(schema, event, "priority", "must not be null");

    event = admission_example();
    json_object_set_new(json_object_get(event, "sharing"), "restricted_record", json_null());
    expect_encode_error(schema, event, "sharing.restricted_record", "must not be null");

    event = admission_example();
    json_object_set_new(json_object_get(event, "person"), "local_identifiers", json_null());
    expect_encode_error(schema, event, "person.local_identifiers", "must not be null");
}

static void test_int_range(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "schema_version", json_integer(INT64_C(2147483648)));
    expect_encode_error(schema, event, "schema_version", "is out of range for a 32-bit int");

    event = admission_example();
    json_object_set_new(event, "schema_version", json_integer(INT64_C(-2147483649)));
    expect_encode_error(schema, event, "schema_version", "is out of range for a 32-bit int");

    /* The limits themselves fit. */
    static const json_int_t limits[] = {INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < 2; i++) {
        event = admission_example();
        json_object_set_new(event, "schema_version", json_integer(limits[i]));
        json_t *decoded = round_trip(schema, event);
        assert_true(json_integer_value(json_object_get(decoded, "schema_version")) == limits[i]);
        json_decref(decoded);
        json_decref(event);
    }
}

static void test_array_item_paths(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_t *identifiers = json_object_get(json_object_get(event, "person"), "local_identifiers");
    json_array_append_new(
        identifiers, support_json("{\"system\": \"https://example.org/Id/x\", \"value\": 42}"));
    expect_encode_error(schema, event, "person.local_identifiers[1].value",
                        "must be a string, found a whole number");

    event = admission_example();
    identifiers = json_object_get(json_object_get(event, "person"), "local_identifiers");
    json_array_append_new(identifiers, support_json("{\"value\": \"H7\"}"));
    expect_encode_error(schema, event, "person.local_identifiers[1].system", "is required");

    event = admission_example();
    json_t *lines =
        json_object_get(json_object_get(json_object_get(event, "person"), "address"), "lines");
    json_array_set_new(lines, 2, json_null());
    expect_encode_error(schema, event, "person.address.lines[2]", "must not be null");
}

/* ---- decoding ---------------------------------------------------------- */

static void test_truncated_payload(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *example = admission_example();
    unsigned char *out = NULL;
    size_t out_len = 0;
    encode_ok(schema, example, 0, &out, &out_len);
    /* Every proper prefix fails; copies are exactly sized so an over-read shows
     * under valgrind. */
    for (size_t len = 0; len < out_len; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, out, len);
        expect_decode_error(schema, copy, len, NULL, NULL);
        free(copy);
    }
    /* The last byte is the previous_ward branch. */
    expect_decode_error(schema, out, out_len - 1, "previous_ward", "ends in the middle");
    expect_decode_error(schema, NULL, 0, "event_id", "ends in the middle");
    free(out);
    json_decref(example);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    unsigned char data[SMALL_ADMISSION_LEN + 3];
    memcpy(data, small_admission_avro, SMALL_ADMISSION_LEN);
    memset(data + SMALL_ADMISSION_LEN, 0, 3);
    expect_decode_error(schema, data, SMALL_ADMISSION_LEN + 1, "", "1 trailing bytes");
    expect_decode_error(schema, data, SMALL_ADMISSION_LEN + 3, "", "3 trailing bytes");
}

/* Appends the zig-zag varint of value. */
static size_t put_long(unsigned char *out, int64_t value)
{
    uint64_t raw = ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
    size_t n = 0;
    do {
        unsigned char byte = raw & 0x7f;
        raw >>= 7;
        out[n++] = raw ? byte | 0x80 : byte;
    } while (raw);
    return n;
}

static void expect_patched_refused(size_t offset, unsigned char value, const char *field,
                                   const char *hint)
{
    unsigned char data[SMALL_ADMISSION_LEN];
    memcpy(data, small_admission_avro, sizeof data);
    data[offset] = value;
    expect_decode_error(schema_v1("admission"), data, sizeof data, field, hint);
}

static void test_crafted_payloads(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    unsigned char data[64];
    size_t len;

    /* Lengths avro-c would otherwise trust: negative, or far beyond the
     * message (avro-c allocated the length and leaked it). */
    static const int64_t lengths[] = {-1, -2, INT64_C(1000000), INT64_C(1) << 40, INT64_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        len = put_long(data, lengths[i]);
        data[len++] = 'x';
        expect_decode_error(schema, data, len, "event_id", "does not fit in the 1 bytes left");
    }
    /* A varint longer than 10 bytes. */
    memset(data, 0xff, 12);
    expect_decode_error(schema, data, 12, "event_id", "ends in the middle");

    /* schema_version beyond a 32-bit int. */
    memcpy(data, small_admission_avro, 37);
    len = 37 + put_long(data + 37, INT64_C(2147483648));
    expect_decode_error(schema, data, len, "schema_version", "out of range for a 32-bit int");

    expect_patched_refused(45, 0x04, "correlation_id", "union branch 2 does not exist");
    expect_patched_refused(45, 0x01, "correlation_id", "union branch -1 does not exist");
    expect_patched_refused(46, 0x06, "priority",
                           "enum index 3 is not a symbol of uk.placehub.common.Priority");
    expect_patched_refused(48, 0x7e, "person.nhs_number", "string length 63 does not fit");
    expect_patched_refused(67, 0x02, "sharing.restricted_record",
                           "a boolean must be byte 0 or 1, found 2");
    expect_patched_refused(69, 0x08, "event_type", "enum index 4 is not a symbol");
    expect_patched_refused(59, 0x7e, "person.local_identifiers", "array of 63 items does not fit");
}

/* A discharge whose care_needs are written with the given bytes. */
static json_t *decode_care_needs(const unsigned char *array, size_t array_len)
{
    unsigned char data[128];
    size_t len = 0;
    memcpy(data, small_admission_avro, ENVELOPE_LEN);
    len = ENVELOPE_LEN;
    data[len++] = 0x02;       /* event_type DISCHARGED */
    memset(data + len, 0, 8); /* cancels_event_id ... lives_alone: null */
    len += 8;
    memcpy(data + len, array, array_len);
    len += array_len;
    data[len++] = 0x00; /* care_package_restart_required: null */
    json_t *event = NULL;
    struct codec_error error;
    if (codec_decode(schema_v1("discharge"), data, len, &event, &error) != 0)
        return NULL;
    json_t *needs = json_incref(json_object_get(event, "care_needs"));
    json_decref(event);
    return needs;
}

static void test_array_blocks(void **state)
{
    (void)state;
    /* The Avro specification lets a writer split an array into blocks and
     * give a negative count followed by the block's size in bytes. */
    static const unsigned char one_block[] = {0x04, 0x00, 0x02, 0x00};
    static const unsigned char two_blocks[] = {0x02, 0x00, 0x02, 0x02, 0x00};
    static const unsigned char sized_block[] = {0x03, 0x04, 0x00, 0x02, 0x00};
    static const unsigned char bad_size[] = {0x03, 0x7e, 0x00, 0x02, 0x00};
    static const unsigned char unterminated[] = {0x04, 0x00, 0x02};
    json_t *expected = support_json("[\"PERSONAL_CARE\", \"MEDICATION_SUPPORT\"]");
    const unsigned char *valid[] = {one_block, two_blocks, sized_block};
    const size_t valid_len[] = {sizeof one_block, sizeof two_blocks, sizeof sized_block};
    for (size_t i = 0; i < 3; i++) {
        json_t *needs = decode_care_needs(valid[i], valid_len[i]);
        if (!needs)
            fail_msg("array form %zu refused", i);
        assert_json_equal(needs, expected);
        json_decref(needs);
    }
    assert_null(decode_care_needs(bad_size, sizeof bad_size));
    assert_null(decode_care_needs(unterminated, sizeof unterminated));
    json_decref(expected);
}

static void test_array_of_empty_items(void **state)
{
    (void)state;
    /* Items that take no bytes (null) cannot be bounded by the bytes left:
     * a count of 3 is fine, a count of 2^40 must not make avro-c allocate
     * 2^40 items. */
    static const char text[] = "{\"type\": \"record\", \"name\": \"R\", \"fields\": "
                               "[{\"name\": \"n\", \"type\": {\"type\": \"array\", "
                               "\"items\": \"null\"}}]}";
    struct codec_schema *schema = NULL;
    char errstr[256];
    if (codec_schema_new(text, strlen(text), &schema, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    static const unsigned char three[] = {0x06, 0x00};
    json_t *event = decode_ok(schema, three, sizeof three);
    json_t *expected = support_json("{\"n\": [null, null, null]}");
    assert_json_equal(event, expected);
    json_decref(expected);
    json_decref(event);
    unsigned char huge[16];
    size_t len = put_long(huge, INT64_C(1) << 40);
    huge[len++] = 0x00;
    expect_decode_error(schema, huge, len, "n", "array of 1099511627776 items");
    codec_schema_destroy(schema);
}

/* xorshift64: deterministic, so a failure can be replayed. */
static uint64_t next_random(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

static void decode_anything(const struct codec_schema *schema, const unsigned char *data,
                            size_t len, size_t field_count)
{
    json_t *event = (json_t *)&event;
    struct codec_error error;
    int rc = codec_decode(schema, data, len, &event, &error);
    if (rc == 0) {
        assert_true(json_is_object(event));
        assert_int_equal(json_object_size(event), field_count);
        json_decref(event);
    } else {
        assert_int_equal(rc, -1);
        assert_null(event);
        assert_true(error.message[0] != '\0');
    }
}

static void test_garbage(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < catalogue->count; i++) {
        const struct codec_schema *schema = catalogue->entries[i].schema;
        char path[256];
        snprintf(path, sizeof path, "tests/data/%s.json", catalogue->entries[i].topic);
        if (catalogue->entries[i].version != 1)
            continue;
        json_t *example = support_load_json(path);
        size_t field_count = json_object_size(example);
        unsigned char *valid = NULL;
        size_t valid_len = 0;
        encode_ok(schema, example, 0, &valid, &valid_len);

        unsigned char *data = malloc(valid_len > 256 ? valid_len : 256);
        assert_non_null(data);
        for (int round = 0; round < 1500; round++) {
            /* Random bytes of random length... */
            size_t len = next_random(&seed) % 256;
            for (size_t k = 0; k < len; k++)
                data[k] = (unsigned char)next_random(&seed);
            decode_anything(schema, data, len, field_count);
            /* ...and the valid payload with a few bytes changed. */
            memcpy(data, valid, valid_len);
            for (int k = 0; k < 1 + round % 3; k++)
                data[next_random(&seed) % valid_len] = (unsigned char)next_random(&seed);
            decode_anything(schema, data, valid_len, field_count);
        }
        free(data);
        free(valid);
        json_decref(example);
    }
}

/* ---- timestamps, dates, uuids ----------------------------------------- */

static void test_timestamp_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t millis;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"1970-01-01T00:00:00.000Z", 0},
        {"2026-11-22T10:15:30.000Z", INT64_C(1795342530000)},
        {"2026-11-22t10:15:30z", INT64_C(1795342530000)},
        {"2026-06-01T10:00:00+01:00", INT64_C(1780304400000)}, /* British Summer Time */
        {"2026-06-01T04:30:00-04:30", INT64_C(1780304400000)},
        {"2026-06-01T09:00:00+00:00", INT64_C(1780304400000)},
        {"2026-06-01T09:00:00-00:00", INT64_C(1780304400000)},
        {"1970-01-01T00:00:00.5Z", 500},
        {"1970-01-01T00:00:00.05Z", 50},
        {"1970-01-01T00:00:00.123456Z", 123}, /* below a millisecond is cut */
        {"1970-01-01T00:00:00.999999999Z", 999},
        {"1969-12-31T23:59:59.999Z", -1},
        {"1969-12-31T23:59:59.5Z", -500},
        {"1900-01-01T00:00:00Z", INT64_C(-2208988800000)},
        {"0001-01-01T00:00:00Z", INT64_C(-62135596800000)},
        {"2024-02-29T12:00:00Z", INT64_C(1709208000000)},
        {"2000-02-29T23:59:59.999Z", INT64_C(951868799999)},
        {"9999-12-31T23:59:59.999Z", INT64_C(253402300799999)},
        {"2016-12-31T23:59:60Z", INT64_C(1483228799000)}, /* leap second: read as :59 */
        {"1970-01-02T00:00:00+23:59", 60000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t millis = 42;
        if (codec_timestamp_parse(cases[i].text, &millis) != 0)
            fail_msg("%s refused", cases[i].text);
        if (millis != cases[i].millis)
            fail_msg("%s gave %lld, expected %lld", cases[i].text, (long long)millis,
                     (long long)cases[i].millis);
    }
}

static void test_timestamp_refused(void **state)
{
    (void)state;
    static const char *const refused[] = {"",
                                          "garbage",
                                          "2026-11-22",
                                          "2026-11-22T10:15:30",
                                          "2026-11-22T10:15:30.000",
                                          "2026-11-22T10:15Z",
                                          "2026-11-22T24:00:00Z",
                                          "2026-11-22T10:60:00Z",
                                          "2026-11-22T10:15:61Z",
                                          "2026-11-22T10:15:30.Z",
                                          "2026-11-22T10:15:30.1234567890Z",
                                          "2026-11-22T10:15:30+0100",
                                          "2026-11-22T10:15:30+01",
                                          "2026-11-22T10:15:30+24:00",
                                          "2026-11-22T10:15:30Z ",
                                          " 2026-11-22T10:15:30Z",
                                          "2026-11-22 10:15:30Z",
                                          "2023-02-29T00:00:00Z",
                                          "1900-02-29T00:00:00Z",
                                          "2026-04-31T00:00:00Z",
                                          "0000-01-01T00:00:00Z",
                                          "26-11-22T10:15:30Z",
                                          "2026-11-22T1:15:30Z",
                                          "+2026-11-22T10:15:30Z",
                                          "2026-11-22T10:15:30.5.5Z"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int64_t millis = 42;
        if (codec_timestamp_parse(refused[i], &millis) != -1)
            fail_msg("\"%s\" accepted as %lld", refused[i], (long long)millis);
    }
}

static void test_timestamp_format(void **state)
{
    (void)state;
    static const struct {
        int64_t millis;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {-86400000, "1969-12-31T00:00:00.000Z"},
        {-86400001, "1969-12-30T23:59:59.999Z"},
        {INT64_C(1795342530000), "2026-11-22T10:15:30.000Z"},
        {INT64_C(1709208000000), "2024-02-29T12:00:00.000Z"},
        {INT64_C(-2208988800000), "1900-01-01T00:00:00.000Z"},
        {INT64_C(253402300799999), "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[25]; /* the documented size */
        memset(text, 'x', sizeof text);
        codec_timestamp_format(cases[i].millis, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }
}

static void test_timestamp_round_trips(void **state)
{
    (void)state;
    /* format then parse gives the same instant, over four millennia. */
    uint64_t seed = 12345;
    for (int i = 0; i < 20000; i++) {
        int64_t millis = (int64_t)(next_random(&seed) % UINT64_C(315537897600000)) -
                         INT64_C(62135596800000); /* 0001-01-01 .. 9999-12-31 */
        char text[32];
        int64_t back = 0;
        codec_timestamp_format(millis, text, sizeof text);
        assert_int_equal(strlen(text), 24);
        if (codec_timestamp_parse(text, &back) != 0 || back != millis)
            fail_msg("%lld -> %s -> %lld", (long long)millis, text, (long long)back);
    }
    /* Parse with an offset, format in UTC, parse again. */
    int64_t millis = 0, again = 0;
    char text[32];
    assert_int_equal(codec_timestamp_parse("2026-03-29T02:30:00.250+01:00", &millis), 0);
    codec_timestamp_format(millis, text, sizeof text);
    assert_string_equal(text, "2026-03-29T01:30:00.250Z");
    assert_int_equal(codec_timestamp_parse(text, &again), 0);
    assert_true(again == millis);
}

static void test_dates(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int32_t days;
    } cases[] = {
        {"1970-01-01", 0},       {"1970-01-02", 1},       {"1969-12-31", -1},
        {"2026-11-24", 20781},   {"1941-03-09", -10525},  {"2024-02-29", 19782},
        {"2000-02-29", 11016},   {"1600-02-29", -135081}, {"0001-01-01", -719162},
        {"9999-12-31", 2932896},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int32_t days = 42;
        char text[16];
        if (codec_date_parse(cases[i].text, &days) != 0)
            fail_msg("%s refused", cases[i].text);
        assert_int_equal(days, cases[i].days);
        codec_date_format(cases[i].days, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }
    static const char *const refused[] = {"2026-02-30", "2023-02-29",  "1900-02-29", "2026-04-31",
                                          "2026-13-01", "2026-00-01",  "2026-01-00", "2026-1-01",
                                          "20261124",   "2026-11-24Z", "",           "0000-01-01"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int32_t days = 42;
        if (codec_date_parse(refused[i], &days) != -1)
            fail_msg("\"%s\" accepted", refused[i]);
    }
    /* Every day from 1600 to 2400 survives format and parse, and
     * consecutive days are consecutive dates. */
    int32_t previous = 0;
    for (int32_t day = -135140; day < 157000; day++) {
        char text[16];
        int32_t back = 0;
        codec_date_format(day, text, sizeof text);
        if (codec_date_parse(text, &back) != 0 || back != day)
            fail_msg("%d -> %s -> %d", day, text, back);
        if (day > -135140)
            assert_int_equal(back, previous + 1);
        previous = back;
    }
}

static void test_uuid_valid(void **state)
{
    (void)state;
    assert_true(codec_uuid_valid("d5905a32-14ab-4579-96da-1b8f530a1f03"));
    assert_true(codec_uuid_valid("D5905A32-14AB-4579-96DA-1B8F530A1F03"));
    assert_true(codec_uuid_valid("00000000-0000-0000-0000-000000000000"));
    static const char *const refused[] = {
        "",
        "d5905a32-14ab-4579-96da-1b8f530a1f0",
        "d5905a32-14ab-4579-96da-1b8f530a1f033",
        "d5905a3214ab457996da1b8f530a1f03",
        "d5905a32-14ab-4579-96da1-b8f530a1f03",
        "d5905a32_14ab_4579_96da_1b8f530a1f03",
        "d5905a32-14ab-4579-96da-1b8f530a1f0g",
        "{d5905a32-14ab-4579-96da-1b8f530a1f03}",
        " d5905a32-14ab-4579-96da-1b8f530a1f03",
        "urn:uuid:d5905a32-14ab-4579-96da-1b8f530a1f03",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (codec_uuid_valid(refused[i]))
            fail_msg("\"%s\" accepted", refused[i]);
}

/* ---- schemas ----------------------------------------------------------- */

/* Receivers deduplicate on event ids compared as text: an upper-case id is
 * written, and so read back, in lower case. */
static void test_uuid_written_in_lower_case(void **state)
{
    (void)state;
    const struct codec_schema *schema = schema_v1("admission");
    json_t *event = admission_example();
    json_object_set_new(event, "event_id", json_string("D5905A32-14AB-4579-96DA-1B8F530A1F03"));
    json_t *back = round_trip(schema, event);
    assert_string_equal(json_string_value(json_object_get(back, "event_id")),
                        "d5905a32-14ab-4579-96da-1b8f530a1f03");
    json_decref(back);
    json_decref(event);
}

static void test_schema_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text, *hint;
    } cases[] = {
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"a\", \"type\": "
         "[\"string\", \"null\"]}]}",
         "schema at a: only [\"null\", T] unions"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"a\", \"type\": "
         "{\"type\": \"map\", \"values\": \"string\"}}]}",
         "schema at a:"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [{\"name\": \"a\", \"type\": "
         "\"Nowhere\"}]}",
         "type 'Nowhere' is not supported by placehub or not defined before use"},
        {"{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\"]}",
         "an event schema must be a record"},
        {"{\"type\": \"record\", \"name\": \"R\", \"fields\": [", "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct codec_schema *schema = (struct codec_schema *)&schema;
        char errstr[512] = "";
        assert_int_equal(
            codec_schema_new(cases[i].text, strlen(cases[i].text), &schema, errstr, sizeof errstr),
            -1);
        assert_null(schema);
        assert_contains(errstr, cases[i].hint);
    }
    const struct codec_schema *admission = schema_v1("admission");
    assert_string_equal(codec_schema_name(admission), "uk.placehub.events.AdmissionEvent");
    assert_non_null(codec_schema_avro(admission));
    assert_non_null(strstr(codec_schema_text(admission), "\"AdmissionEvent\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalogue_examples_round_trip),
        cmocka_unit_test(test_minimal_events_get_defaults),
        cmocka_unit_test(test_missing_required_fields_of_each_topic),
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_bad_enum_symbol),
        cmocka_unit_test(test_bad_date),
        cmocka_unit_test(test_bad_timestamp),
        cmocka_unit_test(test_bad_uuid),
        cmocka_unit_test(test_uuid_written_in_lower_case),
        cmocka_unit_test(test_supersedes_event_id),
        cmocka_unit_test(test_version_1_events_still_read),
        cmocka_unit_test(test_null_where_not_nullable),
        cmocka_unit_test(test_int_range),
        cmocka_unit_test(test_array_item_paths),
        cmocka_unit_test(test_truncated_payload),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_crafted_payloads),
        cmocka_unit_test(test_array_blocks),
        cmocka_unit_test(test_array_of_empty_items),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_timestamp_parse),
        cmocka_unit_test(test_timestamp_refused),
        cmocka_unit_test(test_timestamp_format),
        cmocka_unit_test(test_timestamp_round_trips),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_schema_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
