/*
 * test_nhs.c - NHS number validation (lib/core/nhs.c): valid numbers from the
 * never-issued 999 range, wrong check digits, prefixes whose check value is
 * 10, wrong length, spaces, letters and the empty string; that no message
 * repeats the number; nhs_number_check_digit against a reference
 * implementation of the Modulus 11 rule; nhs_number_normalise, the forms
 * people type (plain, 3-3-4 with spaces or hyphens) and its refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"

#include "core/nhs.h"

/* The Modulus 11 rule written out independently of lib/core/nhs.c: -1 for a
 * check value of 10. */
static int reference_check_digit(const char *first_nine)
{
    static const int weights[9] = {10, 9, 8, 7, 6, 5, 4, 3, 2};
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += weights[i] * (first_nine[i] - '0');
    int remainder = sum % 11;
    if (remainder == 0)
        return 0;
    if (remainder == 1)
        return -1;
    return 11 - remainder;
}

/* Asserts that text is refused and that the reason mentions hint and does
 * not repeat any five consecutive characters of the input. */
static void assert_refused(const char *text, const char *hint)
{
    char message[256] = "";
    if (nhs_number_check(text, message, sizeof message) != -1)
        fail_msg("\"%s\" was accepted", text);
    assert_true(message[0] != '\0');
    assert_contains(message, hint);
    size_t len = strlen(text);
    for (size_t i = 0; i + 5 <= len; i++) {
        char window[6];
        memcpy(window, text + i, 5);
        window[5] = '\0';
        assert_not_contains(message, window);
    }
}

static void test_valid_numbers(void **state)
{
    (void)state;
    /* Worked out by hand; 9990000050 has sum mod 11 = 0, so check digit 0. */
    static const char *const valid[] = {"9990123454", "9990633177", "9990882649", "9990000018",
                                        "9990000026", "9990000034", "9990000042", "9990000050",
                                        "9990000069", "9999999999"};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        char message[256] = "untouched";
        if (nhs_number_check(valid[i], message, sizeof message) != 0)
            fail_msg("%s refused: %s", valid[i], message);
    }
}

static void test_every_prefix_in_a_range(void **state)
{
    (void)state;
    /* For each of 2000 prefixes in the 999 range exactly the number ending in
     * the reference check digit passes, and none passes when the check value
     * is 10. */
    int valid_count = 0, ten_count = 0;
    for (long prefix = 999000000; prefix < 999002000; prefix++) {
        char number[16];
        snprintf(number, sizeof number, "%ld0", prefix);
        int expected = reference_check_digit(number);
        assert_int_equal(nhs_number_check_digit(number), expected);
        if (expected < 0)
            ten_count++;
        for (int digit = 0; digit <= 9; digit++) {
            char message[256];
            number[9] = (char)('0' + digit);
            int rc = nhs_number_check(number, message, sizeof message);
            if (digit == expected) {
                if (rc != 0)
                    fail_msg("%s refused: %s", number, message);
                valid_count++;
            } else if (rc != -1) {
                fail_msg("%s accepted, expected check digit %d", number, expected);
            }
        }
    }
    /* About one prefix in eleven has check value 10. */
    assert_int_equal(valid_count + ten_count, 2000);
    assert_in_range(ten_count, 100, 260);
}

static void test_wrong_check_digit(void **state)
{
    (void)state;
    assert_refused("9990123455", "check digit");
    assert_refused("9990123450", "check digit");
    assert_refused("9990633171", "check digit");
    /* Two digits swapped: the weighting is there to catch exactly this. */
    assert_refused("9990213454", "check digit");
}

static void test_check_value_ten(void **state)
{
    (void)state;
    /* 999000000 and 999000014 give check value 10: no last digit helps. */
    for (int digit = 0; digit <= 9; digit++) {
        char number[16];
        snprintf(number, sizeof number, "999000000%d", digit);
        assert_refused(number, "check value 10");
        snprintf(number, sizeof number, "999000014%d", digit);
        assert_refused(number, "check value 10");
    }
}

static void test_wrong_length(void **state)
{
    (void)state;
    assert_refused("999012345", "exactly 10 digits");
    assert_refused("99901234540", "exactly 10 digits");
    assert_refused("9", "exactly 10 digits");
    assert_refused("99901234549990123454", "exactly 10 digits");
}

static void test_spaces_letters_empty(void **state)
{
    (void)state;
    assert_refused("999 012 3454", "no spaces");
    assert_refused(" 9990123454", "no spaces");
    assert_refused("9990123454 ", "no spaces");
    assert_refused("999-012-3454", "exactly 10 digits");
    assert_refused("999012345A", "exactly 10 digits");
    assert_refused("ABCDEFGHIJ", "exactly 10 digits");
    assert_refused("", "exactly 10 digits");
}

static void test_message_truncated_safely(void **state)
{
    (void)state;
    /* A small buffer still gets a terminated (cut) message. */
    char message[8];
    memset(message, 'x', sizeof message);
    assert_int_equal(nhs_number_check("12", message, sizeof message), -1);
    assert_int_equal(strlen(message), sizeof message - 1);
}

static void test_check_digit_values(void **state)
{
    (void)state;
    assert_int_equal(nhs_number_check_digit("999012345"), 4);
    assert_int_equal(nhs_number_check_digit("999063317"), 7);
    assert_int_equal(nhs_number_check_digit("999088264"), 9);
    assert_int_equal(nhs_number_check_digit("999000005"), 0); /* remainder 0 gives 0 */
    assert_int_equal(nhs_number_check_digit("999000001"), 8);
    assert_int_equal(nhs_number_check_digit("999000000"), -1); /* check value 10 */
    assert_int_equal(nhs_number_check_digit("999000014"), -1);
    /* Only the first nine characters count. */
    assert_int_equal(nhs_number_check_digit("9990123450"), 4);
    /* Not digits, or too short (stops at the terminating NUL). */
    assert_int_equal(nhs_number_check_digit("99901234X"), -1);
    assert_int_equal(nhs_number_check_digit("X99012345"), -1);
    assert_int_equal(nhs_number_check_digit("99901234"), -1);
    assert_int_equal(nhs_number_check_digit(""), -1);
}

/* Asserts that normalise accepts text and gives the ten digits. */
static void assert_normalised(const char *text, const char *digits)
{
    char out[16] = "untouched", message[256] = "";
    if (nhs_number_normalise(text, out, sizeof out, message, sizeof message) != 0)
        fail_msg("\"%s\" refused: %s", text, message);
    assert_string_equal(out, digits);
}

/* Asserts that normalise refuses text with a reason mentioning hint that
 * repeats no four consecutive digits of the number, and leaves out empty. */
static void assert_normalise_refused(const char *text, const char *hint)
{
    char out[16] = "untouched", message[256] = "";
    if (nhs_number_normalise(text, out, sizeof out, message, sizeof message) != -1)
        fail_msg("\"%s\" was accepted as %s", text, out);
    assert_string_equal(out, "");
    assert_contains(message, hint);
    char digits[64] = "";
    size_t count = 0;
    for (const char *c = text; *c && count + 1 < sizeof digits; c++)
        if (*c >= '0' && *c <= '9')
            digits[count++] = *c;
    for (size_t i = 0; i + 4 <= count; i++) {
        char window[5];
        memcpy(window, digits + i, 4);
        window[4] = '\0';
        assert_not_contains(message, window);
    }
}

static void test_normalise_forms(void **state)
{
    (void)state;
    assert_normalised("9990123454", "9990123454");
    assert_normalised("999 012 3454", "9990123454");
    assert_normalised("999-012-3454", "9990123454");
    /* Blanks around it, as pasted. */
    assert_normalised("  999 012 3454\t", "9990123454");
    assert_normalised(" 9990000050 ", "9990000050");
    assert_normalised("999-063-3177", "9990633177");
}

static void test_normalise_refusals(void **state)
{
    (void)state;
    assert_normalise_refused("", "empty");
    assert_normalise_refused("   ", "empty");
    /* A letter, by position as typed (1-based, counting separators). */
    assert_normalise_refused("999 012 345A", "a letter at position 12");
    assert_normalise_refused("O990123454", "a letter at position 1");
    assert_normalise_refused("999/012/3454", "not a digit at position 4");
    assert_normalise_refused("999.012.3454", "position 4");
    /* Length. */
    assert_normalise_refused("999 012 345", "has 9 digits");
    assert_normalise_refused("99901234540", "has 11 digits");
    assert_normalise_refused("999-012-34540", "has 11 digits");
    /* Grouping: one separator throughout, only at the 3-3-4 breaks. */
    assert_normalise_refused("999 012-3454", "mixes spaces and hyphens");
    assert_normalise_refused("9990 123 454", "grouped wrongly");
    assert_normalise_refused("999  012 3454", "grouped wrongly");
    assert_normalise_refused("999 0123454", "grouped wrongly");
    assert_normalise_refused("99 90 12 34 54", "grouped wrongly");
    assert_normalise_refused("-9990123454", "grouped wrongly");
    /* Modulus 11, in every form. */
    assert_normalise_refused("9990123455", "check digit");
    assert_normalise_refused("999 012 3455", "check digit");
    assert_normalise_refused("999-021-3454", "check digit");
    assert_normalise_refused("999 000 0000", "check value 10");
}

static void test_normalise_small_buffers(void **state)
{
    (void)state;
    char out[10] = "untouched", message[8];
    /* No room for ten digits and the NUL: refused, not overrun. */
    assert_int_equal(nhs_number_normalise("9990123454", out, sizeof out, message, sizeof message),
                     -1);
    assert_string_equal(out, "");
    assert_int_equal(strlen(message), sizeof message - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_numbers),
        cmocka_unit_test(test_every_prefix_in_a_range),
        cmocka_unit_test(test_wrong_check_digit),
        cmocka_unit_test(test_check_value_ten),
        cmocka_unit_test(test_wrong_length),
        cmocka_unit_test(test_spaces_letters_empty),
        cmocka_unit_test(test_message_truncated_safely),
        cmocka_unit_test(test_check_digit_values),
        cmocka_unit_test(test_normalise_forms),
        cmocka_unit_test(test_normalise_refusals),
        cmocka_unit_test(test_normalise_small_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
