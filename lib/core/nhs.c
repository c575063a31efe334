/*
 * nhs.c - NHS number validation (see nhs.h). Messages never contain the
 * number itself: callers may log them.
 */
#include "core/nhs.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int nhs_number_check_digit(const char *first_nine)
{
    int sum = 0;
    for (int i = 0; i < 9; i++) {
        if (!isdigit((unsigned char)first_nine[i]))
            return -1;
        sum += (first_nine[i] - '0') * (10 - i);
    }
    int check = 11 - sum % 11;
    if (check == 11)
        return 0;
    if (check == 10)
        return -1;
    return check;
}

int nhs_number_check(const char *text, char *errstr, size_t errstr_size)
{
    size_t len = strlen(text);
    size_t digits = strspn(text, "0123456789");
    if (digits != len || len != 10) {
        snprintf(errstr, errstr_size,
                 "must be exactly 10 digits with no spaces or other characters (found %zu "
                 "characters)",
                 len);
        return -1;
    }
    int expected = nhs_number_check_digit(text);
    if (expected < 0) {
        snprintf(errstr, errstr_size,
                 "is not a valid NHS number: its first nine digits give check value 10, "
                 "which no NHS number has");
        return -1;
    }
    if (text[9] - '0' != expected) {
        snprintf(errstr, errstr_size,
                 "is not a valid NHS number: the check digit (the 10th) does not match; "
                 "the number is probably mistyped");
        return -1;
    }
    return 0;
}
