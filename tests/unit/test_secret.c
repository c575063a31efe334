/*
 * test_secret.c - secrets named by reference (lib/core/secret.c) and the
 * clocks (lib/core/clock.c).
 *
 * secret_read: env: and file: references, an unset or empty variable, a
 * missing, empty or blank file, a value or a first line too long for the
 * caller's buffer, CRLF line ends, and a value that is not a reference at
 * all. Every refusal names the reference and never repeats the secret.
 *
 * clock: the wall clock reads near time(), the monotonic clock never goes
 * back and moves with real time, clock_now reads an injected clock, and a
 * NULL clock is the wall clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/secret.h"

#define VARIABLE "PLACEHUB_TEST_SECRET_VALUE"
/* Invented; long enough that a refusal quoting it would be noticed. */
#define SECRET "s3cret-for-tests-only"

/* ---- helpers ------------------------------------------------------------ */

/* Writes contents (len bytes) to a new temporary file; its reference
 * ("file:/tmp/...") goes into reference. Caller unlinks reference + 5. */
static void temporary_file(const char *contents, size_t len, char *reference, size_t size)
{
    char path[] = "/tmp/placehub-test-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, contents, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
    snprintf(reference, size, "file:%s", path);
}

/* Asserts reference is refused, with a message containing hint (when not
 * NULL) and never SECRET, and that out holds no part of the secret. */
static void expect_refused(const char *reference, size_t out_size, const char *hint)
{
    char out[256];
    char errstr[512] = "";
    assert_true(out_size <= sizeof out);
    memset(out, 0, sizeof out);
    if (secret_read(reference, out, out_size, errstr, sizeof errstr) != -1)
        fail_msg("%s was accepted as \"%s\" (expected \"%s\")", reference, out, hint);
    assert_true(errstr[0] != '\0');
    if (hint)
        assert_contains(errstr, hint);
    assert_not_contains(errstr, SECRET);
    assert_not_contains(errstr, "s3cret");
    assert_not_contains(out, "s3cret");
}

/* ---- secret_read ---------------------------------------------------------- */

static void test_environment_variable(void **state)
{
    (void)state;
    char out[64] = "";
    char errstr[256] = "";
    assert_int_equal(setenv(VARIABLE, SECRET, 1), 0);
    assert_int_equal(secret_read("env:" VARIABLE, out, sizeof out, errstr, sizeof errstr), 0);
    assert_string_equal(out, SECRET);
    /* Exactly as long as the buffer takes. */
    assert_int_equal(secret_read("env:" VARIABLE, out, sizeof SECRET, errstr, sizeof errstr), 0);
    assert_string_equal(out, SECRET);
    unsetenv(VARIABLE);
}

static void test_environment_variable_unset_or_empty(void **state)
{
    (void)state;
    unsetenv(VARIABLE);
    expect_refused("env:" VARIABLE, 64, "env:" VARIABLE);
    expect_refused("env:" VARIABLE, 64, "not set");
    assert_int_equal(setenv(VARIABLE, "", 1), 0);
    expect_refused("env:" VARIABLE, 64, "not set");
    expect_refused("env:", 64, "not set");
    unsetenv(VARIABLE);
}

static void test_environment_variable_too_long(void **state)
{
    (void)state;
    assert_int_equal(setenv(VARIABLE, SECRET, 1), 0);
    /* One byte short of what the secret and its NUL need. */
    expect_refused("env:" VARIABLE, sizeof SECRET - 1, "longer than");
    expect_refused("env:" VARIABLE, sizeof SECRET - 1, "env:" VARIABLE);
    unsetenv(VARIABLE);
}

static void test_file_first_line(void **state)
{
    (void)state;
    char reference[128], out[64], errstr[256] = "";
    static const char *const contents[] = {
        SECRET,                          /* no line end */
        SECRET "\n",                     /* the usual file */
        SECRET "\r\n",                   /* written on Windows */
        SECRET "\nsecond line ignored\n" /* only the first line counts */
    };
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        temporary_file(contents[i], strlen(contents[i]), reference, sizeof reference);
        memset(out, 'x', sizeof out);
        if (secret_read(reference, out, sizeof out, errstr, sizeof errstr) != 0)
            fail_msg("contents %zu refused: %s", i, errstr);
        assert_string_equal(out, SECRET);
        /* A buffer just large enough for the secret, with its line end. */
        if (secret_read(reference, out, sizeof SECRET, errstr, sizeof errstr) != 0)
            fail_msg("contents %zu refused with an exact buffer: %s", i, errstr);
        assert_string_equal(out, SECRET);
        unlink(reference + 5);
    }
}

static void test_file_missing(void **state)
{
    (void)state;
    expect_refused("file:/nonexistent/placehub-test-secret", 64,
                   "file:/nonexistent/placehub-test-secret");
    expect_refused("file:/nonexistent/placehub-test-secret", 64, "No such file");
}

static void test_file_empty_or_blank(void **state)
{
    (void)state;
    char reference[128];
    static const char *const contents[] = {"", "\n", "\r\n", "\n" SECRET "\n"};
    for (size_t i = 0; i < sizeof contents / sizeof contents[0]; i++) {
        temporary_file(contents[i], strlen(contents[i]), reference, sizeof reference);
        expect_refused(reference, 64, "empty");
        expect_refused(reference, 64, reference);
        unlink(reference + 5);
    }
}

/* A first line longer than the buffer is refused, not cut to fit: a cut
 * secret would fail later, far from its cause, as a wrong password. */
static void test_file_too_long(void **state)
{
    (void)state;
    char reference[128];
    temporary_file(SECRET "\n", strlen(SECRET "\n"), reference, sizeof reference);
    expect_refused(reference, sizeof SECRET - 1, "longer than");
    expect_refused(reference, sizeof SECRET - 1, reference);
    unlink(reference + 5);

    temporary_file(SECRET, strlen(SECRET), reference, sizeof reference);
    expect_refused(reference, sizeof SECRET - 1, "longer than");
    unlink(reference + 5);
}

static void test_not_a_reference(void **state)
{
    (void)state;
    static const char *const values[] = {SECRET,        "ENV:" VARIABLE,  "env" SECRET,
                                         "file" SECRET, " env:" VARIABLE, ""};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char errstr[512] = "";
        char out[64] = "";
        if (secret_read(values[i], out, sizeof out, errstr, sizeof errstr) != -1)
            fail_msg("\"%s\" was accepted", values[i]);
        assert_contains(errstr, "env:VARIABLE or file:/path");
        assert_not_contains(errstr, SECRET);
        assert_string_equal(out, "");
    }
}

/* ---- clock ---------------------------------------------------------------- */

static void test_wall_clock_reads_the_time_of_day(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t wall = clock_wall_ms();
    int64_t after = (int64_t)time(NULL) * 1000 + 1000;
    assert_true(wall >= before && wall <= after);
    /* Milliseconds, not seconds or microseconds: after 2020-01-01. */
    assert_true(wall > INT64_C(1577836800000));
    assert_true(wall < INT64_C(4102444800000)); /* and before 2100 */
    assert_true(clock_now(&clock_wall) >= wall);
    assert_true(clock_now(&clock_wall) <= clock_wall_ms());
    assert_true(clock_now(NULL) >= wall);
}

static void test_monotonic_clock_moves_forward(void **state)
{
    (void)state;
    int64_t start = clock_monotonic_ms();
    int64_t previous = start;
    for (int i = 0; i < 100000; i++) {
        int64_t now = clock_monotonic_ms();
        assert_true(now >= previous);
        previous = now;
    }
    /* It moves with real time, in milliseconds. */
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
    int64_t elapsed = clock_monotonic_ms() - start;
    assert_true(elapsed >= 30);
    assert_true(elapsed < 1000);
    /* It counts from an arbitrary start (boot here), not the epoch. */
    assert_true(clock_monotonic_ms() < clock_wall_ms() - INT64_C(1000000000000));
}

struct fake_clock {
    int64_t now;
    int reads;
};

static int64_t fake_clock_now(void *opaque)
{
    struct fake_clock *fake = opaque;
    fake->reads++;
    return fake->now;
}

static void test_injected_clock(void **state)
{
    (void)state;
    struct fake_clock fake = {.now = 1000, .reads = 0};
    const struct clock clock = {.now = fake_clock_now, .opaque = &fake};
    assert_int_equal(clock_now(&clock), 1000);
    fake.now += 60 * 60 * 1000;
    assert_int_equal(clock_now(&clock), 1000 + 60 * 60 * 1000);
    fake.now = -5; /* it passes on whatever the clock says */
    assert_int_equal(clock_now(&clock), -5);
    assert_int_equal(fake.reads, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_environment_variable),
        cmocka_unit_test(test_environment_variable_unset_or_empty),
        cmocka_unit_test(test_environment_variable_too_long),
        cmocka_unit_test(test_file_first_line),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_file_empty_or_blank),
        cmocka_unit_test(test_file_too_long),
        cmocka_unit_test(test_not_a_reference),
        cmocka_unit_test(test_wall_clock_reads_the_time_of_day),
        cmocka_unit_test(test_monotonic_clock_moves_forward),
        cmocka_unit_test(test_injected_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
