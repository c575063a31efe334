/*
 * test_http_fields.c - a browser's Cookie header and urlencoded form
 * (lib/net/http_fields.c): values found among others, decoded, and every
 * malformed or oversized one refused rather than cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/http_fields.h"

static void test_cookie(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(http_fields_cookie("a=1; placehub=xyz; b=2", "placehub", out, sizeof out), 0);
    assert_string_equal(out, "xyz");
    assert_int_equal(http_fields_cookie("placehub_login=1;placehub=2", "placehub", out, sizeof out),
                     0);
    assert_string_equal(out, "2"); /* a longer name sharing the prefix is another cookie */
    /* Cleared at logout: an empty value, which finds no session. */
    assert_int_equal(http_fields_cookie("placehub=", "placehub", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(http_fields_cookie("other=1", "placehub", out, sizeof out), -1);
    assert_int_equal(http_fields_cookie(NULL, "placehub", out, sizeof out), -1);
    assert_int_equal(http_fields_cookie("placehub=abcdefghijklmnop", "placehub", out, sizeof out),
                     -1); /* 16 characters do not fit 15 and a NUL: refused, not cut */
}

static void test_form(void **state)
{
    (void)state;
    char out[32];
    const char *body = "login_token=ab&name=olive&password=p%40ss+word%21";
    assert_int_equal(http_fields_form(body, strlen(body), "password", out, sizeof out), 0);
    assert_string_equal(out, "p@ss word!");
    assert_int_equal(http_fields_form(body, strlen(body), "name", out, sizeof out), 0);
    assert_string_equal(out, "olive");
    assert_int_equal(http_fields_form(body, strlen(body), "nam", out, sizeof out), -1);
    /* The first of a repeated field; an empty value is a value. */
    assert_int_equal(http_fields_form("a=1&a=2", 7, "a", out, sizeof out), 0);
    assert_string_equal(out, "1");
    assert_int_equal(http_fields_form("a=&b=2", 6, "a", out, sizeof out), 0);
    assert_string_equal(out, "");
    /* Only len bytes are read: the rest is not part of the body. */
    assert_int_equal(http_fields_form("a=12345", 4, "a", out, sizeof out), 0);
    assert_string_equal(out, "12");
}

static void test_form_refusals(void **state)
{
    (void)state;
    char out[8];
    static const char *const bad[] = {"a=%",   "a=%4",  "a=%4g",     "a=%00",
                                      "a=% 1", "a=%+1", "a=12345678"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (http_fields_form(bad[i], strlen(bad[i]), "a", out, sizeof out) != -1)
            fail_msg("accepted %s", bad[i]);
    const char raw_nul[] = {'a', '=', 'x', '\0', 'y'};
    assert_int_equal(http_fields_form(raw_nul, sizeof raw_nul, "a", out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_form_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
