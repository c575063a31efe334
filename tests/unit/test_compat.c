/*
 * test_compat.c - schema evolution checks (lib/schema/compat.c): the real
 * catalogue passes; the fixtures in tests/data/evolution/ (a base record, a
 * compatible v2, and v2s that add a field without a default, change a type,
 * remove an enum symbol or change a logical type) each give the expected
 * verdict and path; and the Avro resolution rules one by one (promotions,
 * nullable unions, arrays, maps, enum defaults, record names, defaults that
 * must match their type, recursive types, malformed schemas).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "schema/catalogue.h"
#include "schema/compat.h"

#define EVOLUTION "tests/data/evolution/"

/* Checks old against new from files; returns the verdict, message in errstr. */
static int check_files(const char *old_path, const char *new_path, char *errstr, size_t size)
{
    char *old_text = support_read_file(old_path, NULL);
    char *new_text = support_read_file(new_path, NULL);
    errstr[0] = '\0';
    int rc = compat_check_backward(old_text, new_text, errstr, size);
    free(old_text);
    free(new_text);
    return rc;
}

static void expect_files(const char *old_path, const char *new_path, const char *expected)
{
    char errstr[1024];
    int rc = check_files(old_path, new_path, errstr, sizeof errstr);
    if (!expected) {
        if (rc != 0)
            fail_msg("%s -> %s refused: %s", old_path, new_path, errstr);
        return;
    }
    if (rc != -1)
        fail_msg("%s -> %s accepted, expected \"%s\"", old_path, new_path, expected);
    assert_starts_with(errstr, expected);
}

static void test_real_catalogue_passes(void **state)
{
    (void)state;
    struct catalogue *catalogue = NULL;
    char errstr[1024];
    if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    if (compat_check_catalogue(catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    /* Every real schema reads its own data: exercises every construct they use. */
    for (size_t i = 0; i < catalogue->count; i++) {
        const char *text = codec_schema_text(catalogue->entries[i].schema);
        if (compat_check_backward(text, text, errstr, sizeof errstr) != 0)
            fail_msg("%s against itself: %s", catalogue->entries[i].file, errstr);
    }
    /* Different records are not compatible: records match by name. */
    const char *admission =
        codec_schema_text(catalogue_latest_for_topic(catalogue, "admission")->schema);
    const char *discharge =
        codec_schema_text(catalogue_latest_for_topic(catalogue, "discharge")->schema);
    assert_int_equal(compat_check_backward(admission, discharge, errstr, sizeof errstr), -1);
    assert_string_equal(errstr, "top level: record name changed from AdmissionEvent to "
                                "DischargeEvent (records and enums are matched by name)");
    catalogue_destroy(catalogue);
}

static void test_fixtures(void **state)
{
    (void)state;
    expect_files(EVOLUTION "base.avsc", EVOLUTION "base.avsc", NULL);
    expect_files(EVOLUTION "base.avsc", EVOLUTION "compatible.v2.avsc", NULL);
    expect_files(EVOLUTION "base.avsc", EVOLUTION "added-without-default.v2.avsc",
                 "person.postcode: added without a default");
    expect_files(EVOLUTION "base.avsc", EVOLUTION "changed-type.v2.avsc",
                 "site: type changed from string to int");
    expect_files(EVOLUTION "base.avsc", EVOLUTION "removed-enum-symbol.v2.avsc",
                 "status: enum symbol CANCELLED was removed from VisitStatus, which has no "
                 "default");
    expect_files(EVOLUTION "base.avsc", EVOLUTION "changed-logical-type.v2.avsc",
                 "visited_at: logical type changed from timestamp-millis to timestamp-micros");
    /* The other way round (v2 data read with v1) is not compatible: long
     * does not narrow to int (and v1 does not know DID_NOT_ATTEND). */
    expect_files(EVOLUTION "compatible.v2.avsc", EVOLUTION "base.avsc",
                 "attempts: type changed from long to int");
}

static void test_fixture_catalogues(void **state)
{
    (void)state;
    struct catalogue *catalogue = NULL;
    char errstr[1024];
    if (catalogue_load(EVOLUTION "compatible-catalogue", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    if (compat_check_catalogue(catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    catalogue_destroy(catalogue);

    /* visit v2 must be checked against visit v1, not the other subject's v2. */
    if (catalogue_load(EVOLUTION "incompatible-catalogue", &catalogue, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    assert_int_equal(compat_check_catalogue(catalogue, errstr, sizeof errstr), -1);
    assert_string_equal(errstr, "visit-value version 2 (../changed-type.v2.avsc) cannot read "
                                "data written with version 1 (../base.avsc): site: type changed "
                                "from string to int");
    catalogue_destroy(catalogue);
}

/* A record R with the given fields (JSON text without the brackets). */
#define RECORD(fields) "{\"type\": \"record\", \"name\": \"R\", \"fields\": [" fields "]}"
#define FIELD(name, type) "{\"name\": \"" name "\", \"type\": " type "}"
#define FIELD_DEFAULT(name, type, value)                                                           \
    "{\"name\": \"" name "\", \"type\": " type ", \"default\": " value "}"

struct rule_case {
    const char *what, *old_text, *new_text;
    const char *expected; /* NULL: compatible; else the start of the message */
};

static const struct rule_case rule_cases[] = {
    {"field removed", RECORD(FIELD("a", "\"string\"") ", " FIELD("b", "\"int\"")),
     RECORD(FIELD("a", "\"string\"")), NULL},
    {"fields reordered", RECORD(FIELD("a", "\"string\"") ", " FIELD("b", "\"int\"")),
     RECORD(FIELD("b", "\"int\"") ", " FIELD("a", "\"string\"")), NULL},
    {"field added with default", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT("b", "\"int\"", "0")), NULL},
    {"field added without default", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD("b", "[\"null\", \"int\"]")),
     "b: added without a default"},
    {"renamed field", RECORD(FIELD("a", "\"string\"")), RECORD(FIELD("alpha", "\"string\"")),
     "alpha: added without a default"},
    {"default of the wrong type", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT("b", "\"int\"", "\"none\"")),
     "b: added with a default that does not match its type"},
    {"int default out of range", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT("b", "\"int\"", "2147483648")),
     "b: added with a default that does not match"},
    {"union default must match the first branch", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT("b", "[\"null\", \"string\"]", "\"x\"")),
     "b: added with a default that does not match"},
    {"record default", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT(
         "b",
         "{\"type\": \"record\", \"name\": \"B\", \"fields\": [" FIELD_DEFAULT(
             "c", "{\"type\": \"array\", \"items\": \"string\"}", "[]") "]}",
         "{}")),
     NULL},
    {"record default missing a field", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT(
         "b", "{\"type\": \"record\", \"name\": \"B\", \"fields\": [" FIELD("c", "\"int\"") "]}",
         "{}")),
     "b: added with a default that does not match"},
    {"enum default symbol", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT(
         "e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"]}", "\"Y\"")),
     NULL},
    {"enum default not a symbol", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "\"string\"") ", " FIELD_DEFAULT(
         "e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"]}", "\"Z\"")),
     "e: added with a default that does not match"},
    {"int to long", RECORD(FIELD("n", "\"int\"")), RECORD(FIELD("n", "\"long\"")), NULL},
    {"int to double", RECORD(FIELD("n", "\"int\"")), RECORD(FIELD("n", "\"double\"")), NULL},
    {"long to float", RECORD(FIELD("n", "\"long\"")), RECORD(FIELD("n", "\"float\"")), NULL},
    {"string to bytes", RECORD(FIELD("n", "\"string\"")), RECORD(FIELD("n", "\"bytes\"")), NULL},
    {"long to int", RECORD(FIELD("n", "\"long\"")), RECORD(FIELD("n", "\"int\"")),
     "n: type changed from long to int"},
    {"double to float", RECORD(FIELD("n", "\"double\"")), RECORD(FIELD("n", "\"float\"")),
     "n: type changed from double to float"},
    {"boolean to string", RECORD(FIELD("n", "\"boolean\"")), RECORD(FIELD("n", "\"string\"")),
     "n: type changed from boolean to string"},
    {"made nullable", RECORD(FIELD("s", "\"string\"")),
     RECORD(FIELD_DEFAULT("s", "[\"null\", \"string\"]", "null")), NULL},
    {"made nullable with promotion", RECORD(FIELD("s", "\"int\"")),
     RECORD(FIELD_DEFAULT("s", "[\"null\", \"long\"]", "null")), NULL},
    {"no longer nullable", RECORD(FIELD_DEFAULT("s", "[\"null\", \"string\"]", "null")),
     RECORD(FIELD("s", "\"string\"")),
     "s: old values of type null cannot be read as string (the field is no longer nullable)"},
    {"nullable type changed", RECORD(FIELD_DEFAULT("s", "[\"null\", \"string\"]", "null")),
     RECORD(FIELD_DEFAULT("s", "[\"null\", \"int\"]", "null")),
     "s: type changed from string to int"},
    {"union branch dropped", RECORD(FIELD("u", "[\"null\", \"string\", \"int\"]")),
     RECORD(FIELD("u", "[\"null\", \"string\"]")), "u: type changed from int to string"},
    {"union to wider union", RECORD(FIELD("u", "[\"null\", \"string\"]")),
     RECORD(FIELD("u", "[\"null\", \"int\", \"string\"]")), NULL},
    {"array items", RECORD(FIELD("t", "{\"type\": \"array\", \"items\": \"string\"}")),
     RECORD(FIELD("t", "{\"type\": \"array\", \"items\": \"int\"}")),
     "t[]: type changed from string to int"},
    {"array items promoted", RECORD(FIELD("t", "{\"type\": \"array\", \"items\": \"int\"}")),
     RECORD(FIELD("t", "{\"type\": \"array\", \"items\": \"long\"}")), NULL},
    {"array to string", RECORD(FIELD("t", "{\"type\": \"array\", \"items\": \"string\"}")),
     RECORD(FIELD("t", "\"string\"")), "t: type changed from array to string"},
    {"map values", RECORD(FIELD("m", "{\"type\": \"map\", \"values\": \"long\"}")),
     RECORD(FIELD("m", "{\"type\": \"map\", \"values\": \"int\"}")),
     "m{}: type changed from long to int"},
    {"array of records gains a field without default",
     RECORD(FIELD("ids", "{\"type\": \"array\", \"items\": {\"type\": \"record\", \"name\": "
                         "\"Id\", \"fields\": [" FIELD("v", "\"string\"") "]}}")),
     RECORD(FIELD("ids", "{\"type\": \"array\", \"items\": {\"type\": \"record\", \"name\": "
                         "\"Id\", \"fields\": [" FIELD("v", "\"string\"") ", " FIELD(
                             "s", "\"string\"") "]}}")),
     "ids[].s: added without a default"},
    {"nested record renamed",
     RECORD(FIELD("p", "{\"type\": \"record\", \"name\": \"Person\", \"fields\": []}")),
     RECORD(FIELD("p", "{\"type\": \"record\", \"name\": \"Human\", \"fields\": []}")),
     "p: record name changed from Person to Human"},
    {"namespace moved",
     RECORD(FIELD("p", "{\"type\": \"record\", \"name\": \"Person\", \"namespace\": \"uk.a\", "
                       "\"fields\": []}")),
     RECORD(FIELD("p", "{\"type\": \"record\", \"name\": \"Person\", \"namespace\": \"uk.b\", "
                       "\"fields\": []}")),
     NULL},
    {"enum symbol added",
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": "
                       "[\"X\", \"Y\"]}")),
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\", "
                       "\"Z\"]}")),
     NULL},
    {"enum symbol removed, reader has default",
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\", "
                       "\"Z\"]}")),
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"], "
                       "\"default\": \"X\"}")),
     NULL},
    {"enum symbol removed, nullable enum without default",
     RECORD(FIELD_DEFAULT("e",
                          "[\"null\", {\"type\": \"enum\", \"name\": \"E\", \"symbols\": "
                          "[\"X\", \"Y\"]}]",
                          "null")),
     RECORD(FIELD_DEFAULT("e",
                          "[\"null\", {\"type\": \"enum\", \"name\": \"E\", \"symbols\": "
                          "[\"X\"]}]",
                          "null")),
     "e: enum symbol Y was removed from E"},
    {"enum renamed",
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": "
                       "[\"X\"]}")),
     RECORD(FIELD("e", "{\"type\": \"enum\", \"name\": \"F\", \"symbols\": [\"X\"]}")),
     "e: enum name changed from E to F"},
    {"named type used by reference",
     RECORD(FIELD(
         "a",
         "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"]}") ", " FIELD("b",
                                                                                          "\"E\"")),
     RECORD(FIELD(
         "a",
         "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\", \"Y\"]}") ", " FIELD("b",
                                                                                          "\"E\"")),
     NULL},
    {"logical type dropped", RECORD(FIELD("d", "{\"type\": \"int\", \"logicalType\": \"date\"}")),
     RECORD(FIELD("d", "\"int\"")), "d: logical type changed from date to none"},
    {"logical type added", RECORD(FIELD("d", "\"string\"")),
     RECORD(FIELD("d", "{\"type\": \"string\", \"logicalType\": \"uuid\"}")),
     "d: logical type changed from none to uuid"},
    {"date to timestamp", RECORD(FIELD("d", "{\"type\": \"int\", \"logicalType\": \"date\"}")),
     RECORD(FIELD("d", "{\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}")),
     "d: logical type changed from date to timestamp-millis"},
    {"nullable timestamp unchanged",
     RECORD(FIELD_DEFAULT("t",
                          "[\"null\", {\"type\": \"long\", \"logicalType\": "
                          "\"timestamp-millis\"}]",
                          "null")),
     RECORD(FIELD_DEFAULT("t",
                          "[\"null\", {\"type\": \"long\", \"logicalType\": "
                          "\"timestamp-millis\"}]",
                          "null")),
     NULL},
    {"decimal scale",
     RECORD(FIELD("m", "{\"type\": \"bytes\", \"logicalType\": \"decimal\", \"precision\": 9, "
                       "\"scale\": 2}")),
     RECORD(FIELD("m", "{\"type\": \"bytes\", \"logicalType\": \"decimal\", \"precision\": 9, "
                       "\"scale\": 3}")),
     "m: decimal scale changed from 2 to 3"},
    {"fixed size", RECORD(FIELD("f", "{\"type\": \"fixed\", \"name\": \"F\", \"size\": 16}")),
     RECORD(FIELD("f", "{\"type\": \"fixed\", \"name\": \"F\", \"size\": 8}")),
     "f: fixed size changed from 16 to 8"},
    {"recursive type", RECORD(FIELD_DEFAULT("next", "[\"null\", \"R\"]", "null")),
     RECORD(FIELD_DEFAULT("next", "[\"null\", \"R\"]",
                          "null") ", " FIELD_DEFAULT("label", "[\"null\", \"string\"]", "null")),
     NULL},
    {"recursive type, incompatible inside",
     RECORD(FIELD_DEFAULT("next", "[\"null\", \"R\"]", "null") ", " FIELD("n", "\"long\"")),
     RECORD(FIELD_DEFAULT("next", "[\"null\", \"R\"]", "null") ", " FIELD("n", "\"int\"")),
     "n: type changed from long to int"},
    {"top-level record renamed", RECORD(FIELD("a", "\"string\"")),
     "{\"type\": \"record\", \"name\": \"S\", \"fields\": [" FIELD("a", "\"string\"") "]}",
     "top level: record name changed from R to S"},
    {"old schema not JSON", "{\"type\": \"record\"", RECORD(FIELD("a", "\"string\"")),
     "top level: the old schema is not valid JSON"},
    {"new schema not JSON", RECORD(FIELD("a", "\"string\"")), "",
     "top level: the new schema is not valid JSON"},
    {"unknown type name", RECORD(FIELD("a", "\"string\"")), RECORD(FIELD("a", "\"Nowhere\"")),
     "a: the new schema's type here is unknown or malformed"},
    {"type defined twice", RECORD(FIELD("a", "\"string\"")),
     RECORD(FIELD("a", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\"]}") ", " FIELD(
         "b", "{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"X\"]}")),
     "top level: the new schema defines E twice"},
};

static void test_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rule_cases / sizeof rule_cases[0]; i++) {
        const struct rule_case *rule = &rule_cases[i];
        char errstr[1024] = "";
        int rc = compat_check_backward(rule->old_text, rule->new_text, errstr, sizeof errstr);
        if (!rule->expected) {
            if (rc != 0)
                fail_msg("%s: refused: %s", rule->what, errstr);
            continue;
        }
        if (rc != -1)
            fail_msg("%s: accepted, expected \"%s\"", rule->what, rule->expected);
        if (strncmp(errstr, rule->expected, strlen(rule->expected)) != 0)
            fail_msg("%s: expected \"%s\", got \"%s\"", rule->what, rule->expected, errstr);
    }
}

static void test_message_is_cut_safely(void **state)
{
    (void)state;
    char errstr[12];
    memset(errstr, 'x', sizeof errstr);
    assert_int_equal(compat_check_backward(RECORD(FIELD("a", "\"string\"")),
                                           RECORD(FIELD("a", "\"int\"")), errstr, sizeof errstr),
                     -1);
    assert_string_equal(errstr, "a: type cha");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_catalogue_passes), cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_fixture_catalogues),    cmocka_unit_test(test_rules),
        cmocka_unit_test(test_message_is_cut_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
