/*
 * test_objection.c - the objection register (lib/governance/objection.c):
 * scopes and their refusals, records encoded and decoded (each bad field
 * named), the judge for every scope, kind of agreement and partner, and
 * readers judging while the writer applies records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>

#include "support.h"
#include "core/config.h"
#include "governance/objection.h"

/* Invented: keyed hashes as event_person_key makes them. */
#define PERSON_A "5f3c9a7e1b2d4c6e8a0f1e3d5c7b9a2e"
#define PERSON_B "fedcba9876543210fedcba9876543210"

static struct config *test_config(void)
{
    static const char text[] = "kafka:\n  bootstrap_servers: \"127.0.0.1:9092\"\n"
                               "topics:\n  - name: admission\n"
                               "partners:\n"
                               "  - id: homes\n    connector: webhook\n    topics: [admission]\n"
                               "  - id: leisure\n    connector: webhook\n    topics: [admission]\n";
    struct config *config = NULL;
    char errstr[512];
    if (config_load_string("test.yaml", text, sizeof text - 1, &config, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    return config;
}

static void test_scope_parse(void **state)
{
    (void)state;
    struct config *config = test_config();
    struct objection_scope scope;
    char errstr[512], text[OBJECTION_SCOPE_SIZE];
    static const char *const valid[] = {"national_data_opt_out", "local:purpose:secondary_use",
                                        "local:purpose:direct_care", "local:partner:homes"};
    static const enum objection_scope_kind kinds[] = {
        OBJECTION_NATIONAL_DATA_OPT_OUT, OBJECTION_LOCAL_SECONDARY_USE, OBJECTION_LOCAL_DIRECT_CARE,
        OBJECTION_LOCAL_PARTNER};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(objection_scope_parse(valid[i], config, &scope, errstr, sizeof errstr), 0);
        assert_int_equal(scope.kind, kinds[i]);
        assert_int_equal(objection_scope_format(&scope, text, sizeof text), 0);
        assert_string_equal(text, valid[i]);
    }
    assert_string_equal(scope.partner_id, "homes");
    assert_int_equal(objection_scope_format(&scope, text, 5), -1);

    static const char *const unknown[] = {
        "national", "local:purpose:research", "",
        "local:",   "NATIONAL_DATA_OPT_OUT",  "national_data_opt_out "};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        assert_int_equal(objection_scope_parse(unknown[i], config, &scope, errstr, sizeof errstr),
                         -1);
        assert_contains(errstr, "valid scopes: national_data_opt_out, local:purpose:secondary_use, "
                                "local:purpose:direct_care, local:partner:<partner id>");
    }
    /* A partner that is not configured: the configured ones are named,
     * never what was typed (it might be an NHS number). */
    assert_int_equal(
        objection_scope_parse("local:partner:9990123454", config, &scope, errstr, sizeof errstr),
        -1);
    assert_contains(errstr, "names no configured partner; configured partners: homes, leisure");
    assert_not_contains(errstr, "9990123454");
    assert_int_equal(
        objection_scope_parse("local:partner:Homes!", config, &scope, errstr, sizeof errstr), -1);
    assert_contains(errstr, "needs a partner id");
    /* Read back from the topic (no config): any well-formed partner. */
    assert_int_equal(
        objection_scope_parse("local:partner:gone-partner", NULL, &scope, errstr, sizeof errstr),
        0);
    config_destroy(config);
}

static struct objection_change sample_change(void)
{
    struct objection_change change = {
        .person_ref = PERSON_A,
        .scope = {.kind = OBJECTION_LOCAL_PARTNER, .partner_id = "homes"},
        .withdrawn = 0,
        .changed_at = 1795342530123LL,
        .recorded_by = "ig-officer.7",
        .source = "api:demo-publisher"};
    return change;
}

static void test_encode_decode(void **state)
{
    (void)state;
    char errstr[512];
    struct objection_change change = sample_change(), back;
    char *text = objection_change_encode(&change, errstr, sizeof errstr);
    assert_non_null(text);
    assert_string_equal(text, "{\"record\":\"objection\",\"person_ref\":\"" PERSON_A
                              "\",\"scope\":\"local:partner:homes\",\"state\":\"recorded\","
                              "\"changed_at\":\"2026-11-22T10:15:30.123Z\",\"recorded_by\":"
                              "\"ig-officer.7\",\"source\":\"api:demo-publisher\"}");
    assert_int_equal(objection_change_decode(text, strlen(text), &back, errstr, sizeof errstr), 0);
    assert_string_equal(back.person_ref, change.person_ref);
    assert_int_equal(back.scope.kind, OBJECTION_LOCAL_PARTNER);
    assert_string_equal(back.scope.partner_id, "homes");
    assert_false(back.withdrawn);
    assert_int_equal(back.changed_at, change.changed_at);
    assert_string_equal(back.recorded_by, change.recorded_by);
    assert_string_equal(back.source, change.source);
    free(text);

    change.withdrawn = 1;
    change.scope = (struct objection_scope){.kind = OBJECTION_NATIONAL_DATA_OPT_OUT};
    snprintf(change.source, sizeof change.source, "ctl");
    text = objection_change_encode(&change, errstr, sizeof errstr);
    assert_non_null(text);
    assert_contains(text, "\"state\":\"withdrawn\"");
    assert_int_equal(objection_change_decode(text, strlen(text), &back, errstr, sizeof errstr), 0);
    assert_true(back.withdrawn);
    assert_int_equal(back.scope.kind, OBJECTION_NATIONAL_DATA_OPT_OUT);
    assert_string_equal(back.source, "ctl");
    free(text);

    char key[OBJECTION_KEY_SIZE];
    assert_int_equal(objection_change_key(&change, key, sizeof key), 0);
    assert_string_equal(key, PERSON_A "|national_data_opt_out");
    assert_int_equal(objection_change_key(&change, key, 20), -1);

    /* Nothing invalid is written: each field named. */
    struct objection_change bad = sample_change();
    snprintf(bad.person_ref, sizeof bad.person_ref, "9990123454");
    assert_null(objection_change_encode(&bad, errstr, sizeof errstr));
    assert_starts_with(errstr, "person_ref ");
    bad = sample_change();
    bad.scope.kind = (enum objection_scope_kind)42;
    assert_null(objection_change_encode(&bad, errstr, sizeof errstr));
    assert_starts_with(errstr, "scope ");
    bad = sample_change();
    bad.changed_at = -1;
    assert_null(objection_change_encode(&bad, errstr, sizeof errstr));
    assert_starts_with(errstr, "changed_at ");
    bad = sample_change();
    snprintf(bad.recorded_by, sizeof bad.recorded_by, "Jo Bloggs");
    assert_null(objection_change_encode(&bad, errstr, sizeof errstr));
    assert_starts_with(errstr, "recorded_by ");
    bad = sample_change();
    snprintf(bad.source, sizeof bad.source, "api:");
    assert_null(objection_change_encode(&bad, errstr, sizeof errstr));
    assert_starts_with(errstr, "source ");
}

/* The sample record with one member replaced (or removed, value NULL). */
static void expect_decode_refused(const char *member, const char *value, const char *field)
{
    char errstr[512];
    struct objection_change change = sample_change(), back;
    char *text = objection_change_encode(&change, errstr, sizeof errstr);
    json_t *object = json_loads(text, 0, NULL);
    free(text);
    if (value)
        json_object_set_new(object, member, json_loads(value, JSON_DECODE_ANY, NULL));
    else
        json_object_del(object, member);
    text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    if (objection_change_decode(text, strlen(text), &back, errstr, sizeof errstr) != -1)
        fail_msg("accepted %s", text);
    free(text);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s must be ", field);
    assert_starts_with(errstr, prefix);
    assert_not_contains(errstr, "9990123454");
}

static void test_decode_refusals(void **state)
{
    (void)state;
    expect_decode_refused("record", "\"delivery\"", "record");
    expect_decode_refused("record", NULL, "record");
    expect_decode_refused("person_ref", "\"9990123454\"", "person_ref");
    expect_decode_refused("person_ref", "\"0123456789ABCDEF0123456789ABCDEF\"", "person_ref");
    expect_decode_refused("person_ref", "42", "person_ref");
    expect_decode_refused("scope", "\"local:purpose:research\"", "scope");
    expect_decode_refused("scope", NULL, "scope");
    expect_decode_refused("state", "\"deleted\"", "state");
    expect_decode_refused("state", "true", "state");
    expect_decode_refused("changed_at", "\"yesterday\"", "changed_at");
    expect_decode_refused("changed_at", "1795342530123", "changed_at");
    expect_decode_refused("recorded_by", "\"\"", "recorded_by");
    expect_decode_refused("recorded_by", "\"9990123454 Jo Bloggs\"", "recorded_by");
    expect_decode_refused("source", "\"partner\"", "source");
    expect_decode_refused("source", "null", "source");

    char errstr[256];
    struct objection_change back;
    assert_int_equal(objection_change_decode("[1]", 3, &back, errstr, sizeof errstr), -1);
    assert_string_equal(errstr, "not a JSON object");
    assert_int_equal(objection_change_decode("{\"record\":", 10, &back, errstr, sizeof errstr), -1);
    /* A member a later version may add is no reason to refuse. */
    struct objection_change change = sample_change();
    char *text = objection_change_encode(&change, errstr, sizeof errstr);
    text[strlen(text) - 1] = ',';
    char longer[1024];
    snprintf(longer, sizeof longer, "%s\"intake_offset\":7}", text);
    free(text);
    assert_int_equal(objection_change_decode(longer, strlen(longer), &back, errstr, sizeof errstr),
                     0);
}

/* Applies a record of person for scope (state "recorded"/"withdrawn", or
 * NULL for a tombstone). */
static int apply(struct objection_register *reg, const char *person, const char *scope,
                 const char *state)
{
    char key[OBJECTION_KEY_SIZE], value[512];
    snprintf(key, sizeof key, "%s|%s", person, scope);
    snprintf(value, sizeof value,
             "{\"record\":\"objection\",\"person_ref\":\"%s\",\"scope\":\"%s\",\"state\":\"%s\","
             "\"changed_at\":\"2026-11-22T10:15:30.123Z\",\"recorded_by\":\"ig\",\"source\":"
             "\"ctl\"}",
             person, scope, state ? state : "");
    return objection_register_apply(reg, key, strlen(key), state ? value : NULL,
                                    state ? strlen(value) : 0);
}

static int judge(struct objection_register *reg, const char *person, const char *partner,
                 int direct_care, char *reason)
{
    return objection_register_judge(reg, person, strlen(person), partner, direct_care, reason,
                                    OBJECTION_REASON_SIZE);
}

static void test_judge_matrix(void **state)
{
    (void)state;
    static const struct {
        const char *scope;
        /* expected at: homes secondary use, homes direct care, leisure
         * secondary use, leisure direct care */
        int expected[4];
    } cases[] = {
        {"national_data_opt_out", {1, 0, 1, 0}},
        {"local:purpose:secondary_use", {1, 0, 1, 0}},
        {"local:purpose:direct_care", {0, 1, 0, 1}},
        {"local:partner:homes", {1, 1, 0, 0}},
    };
    char reason[OBJECTION_REASON_SIZE];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct objection_register *reg = objection_register_new();
        assert_int_equal(apply(reg, PERSON_A, cases[i].scope, "recorded"), 0);
        char expected_reason[OBJECTION_REASON_SIZE];
        snprintf(expected_reason, sizeof expected_reason, "objection:%s", cases[i].scope);
        for (int at = 0; at < 4; at++) {
            const char *partner = at < 2 ? "homes" : "leisure";
            int direct_care = at % 2;
            int got = judge(reg, PERSON_A, partner, direct_care, reason);
            if (got != cases[i].expected[at])
                fail_msg("%s at %s (direct_care %d): %d", cases[i].scope, partner, direct_care,
                         got);
            assert_string_equal(reason, got ? expected_reason : "");
            /* Another person is never affected. */
            assert_int_equal(judge(reg, PERSON_B, partner, direct_care, reason), 0);
        }
        assert_int_equal(objection_register_person_count(reg), 1);
        /* Withdrawn: no objection, and the person is gone from memory. */
        assert_int_equal(apply(reg, PERSON_A, cases[i].scope, "withdrawn"), 0);
        for (int at = 0; at < 4; at++)
            assert_int_equal(judge(reg, PERSON_A, at < 2 ? "homes" : "leisure", at % 2, reason), 0);
        assert_int_equal(objection_register_person_count(reg), 0);
        /* Recorded again, then a tombstone. */
        assert_int_equal(apply(reg, PERSON_A, cases[i].scope, "recorded"), 0);
        assert_int_equal(apply(reg, PERSON_A, cases[i].scope, NULL), 0);
        for (int at = 0; at < 4; at++)
            assert_int_equal(judge(reg, PERSON_A, at < 2 ? "homes" : "leisure", at % 2, reason), 0);
        objection_register_destroy(reg);
    }
}

static void test_last_record_wins(void **state)
{
    (void)state;
    struct objection_register *reg = objection_register_new();
    char reason[OBJECTION_REASON_SIZE];
    /* Scopes are separate keys: withdrawing one leaves the other. */
    assert_int_equal(apply(reg, PERSON_A, "national_data_opt_out", "recorded"), 0);
    assert_int_equal(apply(reg, PERSON_A, "local:partner:homes", "recorded"), 0);
    assert_int_equal(apply(reg, PERSON_A, "national_data_opt_out", "withdrawn"), 0);
    assert_int_equal(judge(reg, PERSON_A, "leisure", 0, reason), 0);
    assert_int_equal(judge(reg, PERSON_A, "homes", 1, reason), 1);
    assert_string_equal(reason, "objection:local:partner:homes");
    /* Several apply: the first in scope order is named. */
    assert_int_equal(apply(reg, PERSON_A, "local:purpose:secondary_use", "recorded"), 0);
    assert_int_equal(judge(reg, PERSON_A, "homes", 0, reason), 1);
    assert_string_equal(reason, "objection:local:purpose:secondary_use");
    /* The same key again and again: the last one wins, whatever its time. */
    assert_int_equal(apply(reg, PERSON_B, "local:purpose:direct_care", "recorded"), 0);
    assert_int_equal(apply(reg, PERSON_B, "local:purpose:direct_care", "recorded"), 0);
    assert_int_equal(apply(reg, PERSON_B, "local:purpose:direct_care", "withdrawn"), 0);
    assert_int_equal(judge(reg, PERSON_B, "homes", 1, reason), 0);
    assert_int_equal(apply(reg, PERSON_B, "local:purpose:direct_care", "recorded"), 0);
    assert_int_equal(judge(reg, PERSON_B, "homes", 1, reason), 1);
    assert_int_equal(objection_register_person_count(reg), 2);

    /* Unreadable records change nothing. */
    const char *value = "{\"record\":\"objection\"}";
    assert_int_equal(objection_register_apply(reg, "nobar", 5, value, strlen(value)), -1);
    char key[OBJECTION_KEY_SIZE];
    snprintf(key, sizeof key, "%s|local:purpose:direct_care", PERSON_B);
    assert_int_equal(objection_register_apply(reg, key, strlen(key), value, strlen(value)), -1);
    assert_int_equal(judge(reg, PERSON_B, "homes", 1, reason), 1);
    /* A value that names another person or scope than its key. */
    char other[512];
    snprintf(other, sizeof other,
             "{\"record\":\"objection\",\"person_ref\":\"%s\",\"scope\":\"local:purpose:direct_"
             "care\",\"state\":\"withdrawn\",\"changed_at\":\"2026-11-22T10:15:30.123Z\","
             "\"recorded_by\":\"ig\",\"source\":\"ctl\"}",
             PERSON_A);
    assert_int_equal(objection_register_apply(reg, key, strlen(key), other, strlen(other)), -1);
    assert_int_equal(judge(reg, PERSON_B, "homes", 1, reason), 1);
    /* Not a person_ref: no objection found, nothing read out of bounds. */
    assert_int_equal(objection_register_judge(reg, PERSON_B, 10, "homes", 1, reason, sizeof reason),
                     0);

    /* current_ms never moves back. */
    assert_int_equal(objection_register_current_ms(reg), 0);
    objection_register_set_current_ms(reg, 2000);
    objection_register_set_current_ms(reg, 1000);
    assert_int_equal(objection_register_current_ms(reg), 2000);
    objection_register_destroy(reg);
}

/* Many people, so the table grows while readers look. */
#define CONCURRENT_PEOPLE 5000

static void person_ref_of(int i, char *out)
{
    snprintf(out, OBJECTION_PERSON_REF_SIZE, "%08x%024x", (unsigned)i * 2654435761u, (unsigned)i);
}

struct reader {
    struct objection_register *reg;
    int rounds;
    int wrong; /* a judgement no written state explains */
};

static void *reader_run(void *opaque)
{
    struct reader *reader = opaque;
    char ref[OBJECTION_PERSON_REF_SIZE], reason[OBJECTION_REASON_SIZE];
    for (int r = 0; r < reader->rounds; r++)
        for (int i = 0; i < CONCURRENT_PEOPLE; i += 7) {
            person_ref_of(i, ref);
            int got = objection_register_judge(reader->reg, ref, strlen(ref), "homes", 0, reason,
                                               sizeof reason);
            /* Odd people never object. */
            if (got && (i % 2 || strcmp(reason, "objection:national_data_opt_out") != 0))
                reader->wrong++;
        }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    (void)state;
    struct objection_register *reg = objection_register_new();
    struct reader readers[3];
    pthread_t threads[3];
    for (int t = 0; t < 3; t++) {
        readers[t] = (struct reader){reg, 20, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, reader_run, &readers[t]), 0);
    }
    char ref[OBJECTION_PERSON_REF_SIZE];
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < CONCURRENT_PEOPLE; i += 2) {
            person_ref_of(i, ref);
            assert_int_equal(apply(reg, ref, "national_data_opt_out",
                                   round == 0 ? "recorded" : (i % 4 ? "withdrawn" : "recorded")),
                             0);
        }
    for (int t = 0; t < 3; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(readers[t].wrong, 0);
    }
    assert_int_equal(objection_register_person_count(reg), CONCURRENT_PEOPLE / 4);
    char reason[OBJECTION_REASON_SIZE];
    person_ref_of(4, ref);
    assert_int_equal(judge(reg, ref, "homes", 0, reason), 1);
    person_ref_of(2, ref);
    assert_int_equal(judge(reg, ref, "homes", 0, reason), 0);
    objection_register_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_parse),      cmocka_unit_test(test_encode_decode),
        cmocka_unit_test(test_decode_refusals),  cmocka_unit_test(test_judge_matrix),
        cmocka_unit_test(test_last_record_wins), cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
