/*
 * test_objection_feed.c - the objection feed (lib/governance/objection_feed.c)
 * against librdkafka's mock cluster in this process: records produced
 * before the start are in the register once current_ms passes the time of
 * their acknowledgement; a withdrawal is after the next catch-up; and
 * current_ms never claims a time at which an acknowledged record was not
 * applied yet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <time.h>

#include "support.h"
#include "mock_cluster_support.h"
#include "core/clock.h"
#include "core/config.h"
#include "governance/objection.h"
#include "governance/objection_feed.h"

#define TOPIC "test.objections"

static int setup(void **state)
{
    struct mock_cluster *cluster = calloc(1, sizeof *cluster);
    *state = cluster;
    return cluster && mock_cluster_start(cluster, TOPIC,
                                         "governance:\n  objections_topic: " TOPIC "\n") == 0
               ? 0
               : -1;
}

static int teardown(void **state)
{
    mock_cluster_stop(*state);
    free(*state);
    return 0;
}

/* Produces a record of person for scope (state NULL: a tombstone) and waits
 * for the broker's acknowledgement. Returns the wall-clock time just after
 * it: the broker acknowledged the record before that time. */
static int64_t produce(struct mock_cluster *cluster, const char *person, const char *scope,
                       const char *state)
{
    char key[OBJECTION_KEY_SIZE], value[512];
    snprintf(key, sizeof key, "%s|%s", person, scope);
    snprintf(value, sizeof value,
             "{\"record\":\"objection\",\"person_ref\":\"%s\",\"scope\":\"%s\",\"state\":\"%s\","
             "\"changed_at\":\"2026-11-22T10:15:30.123Z\",\"recorded_by\":\"ig\",\"source\":"
             "\"ctl\"}",
             person, scope, state ? state : "");
    return mock_cluster_produce(cluster, TOPIC, RD_KAFKA_PARTITION_UA, key, state ? value : NULL);
}

static void wait_current(struct objection_register *reg, int64_t t)
{
    const int64_t deadline = clock_monotonic_ms() + 5000;
    while (objection_register_current_ms(reg) < t) {
        if (clock_monotonic_ms() >= deadline)
            fail_msg("current_ms %lld has not reached %lld within 5 s",
                     (long long)objection_register_current_ms(reg), (long long)t);
        nanosleep(&(struct timespec){0, 2 * 1000000L}, NULL);
    }
}

static void person_ref_of(int i, char *out)
{
    snprintf(out, OBJECTION_PERSON_REF_SIZE, "%032x", (unsigned)i + 0x999000u);
}

static void test_catch_up_and_withdrawal(void **state)
{
    struct mock_cluster *cluster = *state;
    char person[OBJECTION_PERSON_REF_SIZE], other[OBJECTION_PERSON_REF_SIZE];
    char reason[OBJECTION_REASON_SIZE], errstr[512];
    person_ref_of(1, person);
    person_ref_of(2, other);
    produce(cluster, other, "local:partner:homes", "recorded");
    int64_t acknowledged = produce(cluster, person, "national_data_opt_out", "recorded");

    struct objection_register *reg = objection_register_new();
    struct objection_feed *feed = NULL;
    if (objection_feed_start(cluster->config, reg, &feed, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    wait_current(reg, acknowledged);
    assert_int_equal(
        objection_register_judge(reg, person, strlen(person), "homes", 0, reason, sizeof reason),
        1);
    assert_string_equal(reason, "objection:national_data_opt_out");
    assert_int_equal(
        objection_register_judge(reg, person, strlen(person), "homes", 1, reason, sizeof reason),
        0);
    assert_int_equal(
        objection_register_judge(reg, other, strlen(other), "homes", 1, reason, sizeof reason), 1);

    /* Withdrawn, and a tombstone: no objection after the next catch-up. */
    produce(cluster, other, "local:partner:homes", NULL);
    acknowledged = produce(cluster, person, "national_data_opt_out", "withdrawn");
    wait_current(reg, acknowledged);
    assert_int_equal(
        objection_register_judge(reg, person, strlen(person), "homes", 0, reason, sizeof reason),
        0);
    assert_int_equal(
        objection_register_judge(reg, other, strlen(other), "homes", 1, reason, sizeof reason), 0);
    assert_int_equal(objection_register_person_count(reg), 0);

    /* Stopped promptly. */
    int64_t stopping = clock_monotonic_ms();
    objection_feed_stop(feed);
    assert_true(clock_monotonic_ms() - stopping < 1000);
    objection_register_destroy(reg);
}

#define RACED 25

static void test_current_never_ahead(void **state)
{
    struct mock_cluster *cluster = *state;
    char errstr[512], reason[OBJECTION_REASON_SIZE];
    char people[RACED][OBJECTION_PERSON_REF_SIZE];
    int64_t acknowledged[RACED];
    struct objection_register *reg = objection_register_new();
    struct objection_feed *feed = NULL;
    if (objection_feed_start(cluster->config, reg, &feed, errstr, sizeof errstr) != 0)
        fail_msg("%s", errstr);
    int checked = 0;
    /* Each record is acknowledged while the feed runs its rounds; whenever
     * current_ms has passed a record's acknowledgement, it must be there. */
    for (int i = 0; i < RACED; i++) {
        person_ref_of(100 + i, people[i]);
        acknowledged[i] = produce(cluster, people[i], "local:purpose:direct_care", "recorded");
        for (int look = 0; look < 20; look++) {
            int64_t current = objection_register_current_ms(reg);
            for (int j = 0; j <= i; j++)
                if (acknowledged[j] <= current) {
                    checked++;
                    if (!objection_register_judge(reg, people[j], strlen(people[j]), "homes", 1,
                                                  reason, sizeof reason))
                        fail_msg("current_ms %lld passed record %d's acknowledgement (%lld), "
                                 "which is not applied",
                                 (long long)current, j, (long long)acknowledged[j]);
                }
            nanosleep(&(struct timespec){0, 1000000L}, NULL);
        }
    }
    wait_current(reg, acknowledged[RACED - 1]);
    for (int j = 0; j < RACED; j++)
        assert_int_equal(objection_register_judge(reg, people[j], strlen(people[j]), "homes", 1,
                                                  reason, sizeof reason),
                         1);
    /* The check above must have had something to check. */
    assert_true(checked > 0);
    objection_feed_stop(feed);
    objection_register_destroy(reg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_catch_up_and_withdrawal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_current_never_ahead, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
