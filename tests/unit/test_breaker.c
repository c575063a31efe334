/*
 * test_breaker.c - the circuit breaker (lib/delivery/breaker.c) on a clock
 * moved by hand: every transition, the open period doubling after a failed
 * probe and its cap, one probe only while half-open, a refused event (4xx)
 * closing it like a delivery, and failures of attempts that went out before
 * it opened. No sleep: each test runs in microseconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "delivery/breaker.h"

static const struct breaker_settings settings = {
    .failures = 3, .open_ms = 1000, .open_max_ms = 5000};

/* A breaker and the time, moved by the tests. */
struct fixture {
    struct breaker breaker;
    int64_t now;
};

static int setup(void **state)
{
    static struct fixture fixture;
    fixture.now = 1700000000000;
    breaker_init(&fixture.breaker, &settings);
    *state = &fixture;
    return 0;
}

/* breaker_allows, asserting the transition it reports. */
static int allows(struct fixture *fixture, enum breaker_transition expected)
{
    enum breaker_transition transition = BREAKER_CLOSED_AGAIN;
    int allowed = breaker_allows(&fixture->breaker, fixture->now, &transition);
    assert_int_equal(transition, expected);
    return allowed;
}

/* Fails settings.failures times in a row: the last one opens it. */
static void open_it(struct fixture *fixture)
{
    for (int i = 1; i < settings.failures; i++)
        assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_UNCHANGED);
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
    assert_int_equal(fixture->breaker.state, BREAKER_OPEN);
}

/* Moves the clock to the end of the open period: half-open, one probe. */
static void half_open_it(struct fixture *fixture)
{
    fixture->now = breaker_probe_at(&fixture->breaker);
    assert_true(allows(fixture, BREAKER_HALF_OPENED));
    assert_int_equal(fixture->breaker.state, BREAKER_HALF_OPEN);
}

static void test_closed_allows_and_counts(void **state)
{
    struct fixture *fixture = *state;
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
    assert_true(allows(fixture, BREAKER_UNCHANGED));
    assert_int_equal(breaker_probe_at(&fixture->breaker), INT64_MAX);
    /* Failures below the bound leave it closed; a success starts the count over. */
    for (int round = 0; round < 3; round++) {
        for (int i = 1; i < settings.failures; i++) {
            assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_UNCHANGED);
            assert_true(allows(fixture, BREAKER_UNCHANGED));
        }
        assert_int_equal(fixture->breaker.failures, settings.failures - 1);
        assert_int_equal(breaker_success(&fixture->breaker), BREAKER_UNCHANGED);
        assert_int_equal(fixture->breaker.failures, 0);
    }
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
}

static void test_failures_in_a_row_open(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    assert_int_equal(breaker_probe_at(&fixture->breaker), fixture->now + settings.open_ms);
    /* Nothing goes out during the open period, to its last millisecond. */
    assert_false(allows(fixture, BREAKER_UNCHANGED));
    fixture->now += settings.open_ms - 1;
    assert_false(allows(fixture, BREAKER_UNCHANGED));
    assert_int_equal(fixture->breaker.state, BREAKER_OPEN);
    fixture->now += 1;
    assert_true(allows(fixture, BREAKER_HALF_OPENED));
    assert_int_equal(breaker_probe_at(&fixture->breaker), INT64_MAX);
}

static void test_one_probe_only(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    half_open_it(fixture);
    /* Asking again before the probe goes out: still allowed, no new transition. */
    assert_true(allows(fixture, BREAKER_UNCHANGED));
    breaker_started(&fixture->breaker);
    for (int i = 0; i < 5; i++) {
        fixture->now += 10000;
        assert_false(allows(fixture, BREAKER_UNCHANGED));
    }
    assert_true(fixture->breaker.probe_in_flight);
    assert_int_equal(fixture->breaker.state, BREAKER_HALF_OPEN);
}

static void test_probe_success_closes(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    half_open_it(fixture);
    breaker_started(&fixture->breaker);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_CLOSED_AGAIN);
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
    assert_int_equal(fixture->breaker.failures, 0);
    assert_false(fixture->breaker.probe_in_flight);
    assert_true(allows(fixture, BREAKER_UNCHANGED));
    /* Closed again, it takes the whole count of failures to open. */
    open_it(fixture);
    assert_int_equal(breaker_probe_at(&fixture->breaker), fixture->now + settings.open_ms);
}

static void test_probe_failure_doubles_up_to_the_cap(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    /* 1000 (first), then 2000, 4000, 5000 (the cap), 5000. */
    static const int64_t expected[] = {2000, 4000, 5000, 5000};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        half_open_it(fixture);
        breaker_started(&fixture->breaker);
        fixture->now += 300; /* the probe's answer comes later */
        /* One failure reopens it: the count in a row does not matter now. */
        assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
        assert_int_equal(fixture->breaker.state, BREAKER_OPEN);
        assert_false(fixture->breaker.probe_in_flight);
        assert_int_equal(fixture->breaker.open_ms, expected[i]);
        assert_int_equal(breaker_probe_at(&fixture->breaker), fixture->now + expected[i]);
        fixture->now += expected[i] - 1;
        assert_false(allows(fixture, BREAKER_UNCHANGED));
    }
    /* Closing resets the period: the next opening waits open_ms again. */
    half_open_it(fixture);
    breaker_started(&fixture->breaker);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_CLOSED_AGAIN);
    assert_int_equal(fixture->breaker.open_ms, settings.open_ms);
    open_it(fixture);
    assert_int_equal(breaker_probe_at(&fixture->breaker), fixture->now + settings.open_ms);
}

/* A rejected event (the partner answered 4xx) is reported as a success: the
 * partner is up, so the probe's refusal closes the circuit. */
static void test_rejection_counts_as_success(void **state)
{
    struct fixture *fixture = *state;
    for (int i = 1; i < settings.failures; i++)
        breaker_failure(&fixture->breaker, fixture->now);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_UNCHANGED); /* a 400 */
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_UNCHANGED);
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
    assert_int_equal(fixture->breaker.failures, 1);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_UNCHANGED);
    open_it(fixture);
    half_open_it(fixture);
    breaker_started(&fixture->breaker);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_CLOSED_AGAIN); /* a 422 */
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
}

/* Attempts that went out before the circuit opened end while it is open:
 * their failures change nothing, a success (the partner came back) closes. */
static void test_late_answers_while_open(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    int64_t probe_at = breaker_probe_at(&fixture->breaker);
    fixture->now += 200;
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_UNCHANGED);
    assert_int_equal(breaker_probe_at(&fixture->breaker), probe_at);
    assert_int_equal(fixture->breaker.open_ms, settings.open_ms);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_CLOSED_AGAIN);
    assert_true(allows(fixture, BREAKER_UNCHANGED));
}

/* A failure before any attempt went out (no credentials) while half-open
 * reopens it, like a failed probe. */
static void test_half_open_failure_without_probe(void **state)
{
    struct fixture *fixture = *state;
    open_it(fixture);
    half_open_it(fixture);
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
    assert_int_equal(fixture->breaker.open_ms, 2 * settings.open_ms);
}

/* One failure opens when the bound is 1; an open period longer than the cap
 * from the start is cut to the cap when it doubles. */
static void test_edge_settings(void **state)
{
    struct fixture *fixture = *state;
    const struct breaker_settings odd = {.failures = 1, .open_ms = 7000, .open_max_ms = 5000};
    breaker_init(&fixture->breaker, &odd);
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
    assert_int_equal(breaker_probe_at(&fixture->breaker), fixture->now + 7000);
    half_open_it(fixture);
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
    assert_int_equal(fixture->breaker.open_ms, 5000);
}

/* An operator's probe: only an open breaker moves, to half-open at once,
 * long before its open period ends; one probe goes; a failed one reopens it
 * for twice as long, a successful one closes it. */
static void test_operator_probe(void **state)
{
    struct fixture *fixture = *state;
    assert_int_equal(breaker_probe(&fixture->breaker), BREAKER_UNCHANGED); /* closed */
    assert_int_equal(fixture->breaker.state, BREAKER_CLOSED);
    open_it(fixture);
    fixture->now += 1; /* far before the open period ends */
    assert_false(allows(fixture, BREAKER_UNCHANGED));
    assert_int_equal(breaker_probe(&fixture->breaker), BREAKER_HALF_OPENED);
    assert_int_equal(fixture->breaker.state, BREAKER_HALF_OPEN);
    assert_int_equal(breaker_probe(&fixture->breaker), BREAKER_UNCHANGED); /* half-open */
    assert_true(allows(fixture, BREAKER_UNCHANGED));
    breaker_started(&fixture->breaker);
    assert_false(allows(fixture, BREAKER_UNCHANGED)); /* one probe only */
    assert_int_equal(breaker_failure(&fixture->breaker, fixture->now), BREAKER_OPENED);
    assert_int_equal(fixture->breaker.open_ms, 2 * settings.open_ms);
    assert_int_equal(breaker_probe(&fixture->breaker), BREAKER_HALF_OPENED);
    assert_true(allows(fixture, BREAKER_UNCHANGED));
    breaker_started(&fixture->breaker);
    assert_int_equal(breaker_success(&fixture->breaker), BREAKER_CLOSED_AGAIN);
    assert_int_equal(fixture->breaker.open_ms, settings.open_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_closed_allows_and_counts, setup),
        cmocka_unit_test_setup(test_failures_in_a_row_open, setup),
        cmocka_unit_test_setup(test_one_probe_only, setup),
        cmocka_unit_test_setup(test_probe_success_closes, setup),
        cmocka_unit_test_setup(test_probe_failure_doubles_up_to_the_cap, setup),
        cmocka_unit_test_setup(test_rejection_counts_as_success, setup),
        cmocka_unit_test_setup(test_late_answers_while_open, setup),
        cmocka_unit_test_setup(test_half_open_failure_without_probe, setup),
        cmocka_unit_test_setup(test_edge_settings, setup),
        cmocka_unit_test_setup(test_operator_probe, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
