/*
 * nhs.c - NHS number validation, and the forms in which people type them
 * (see nhs.h). Messages never contain the number itself: callers may log
 * them and send them back.
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

/* Where the text as typed starts and ends, without surrounding blanks. */
static void nhs_number_trim(const char *text, size_t *start, size_t *end)
{
    size_t len = strlen(text);
    *start = strspn(text, " \t");
    while (len > *start && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    *end = len;
}

int nhs_number_normalise(const char *text, char *out, size_t out_size, char *errstr,
                         size_t errstr_size)
{
    size_t start, end, digits = 0;
    char separator = '\0', number[11];
    if (out_size > 0)
        out[0] = '\0';
    if (out_size < sizeof number) {
        snprintf(errstr, errstr_size, "internal error: no room for the 10 digits");
        return -1;
    }
    nhs_number_trim(text, &start, &end);
    if (start == end) {
        snprintf(errstr, errstr_size, "is empty: an NHS number has 10 digits");
        return -1;
    }
    /* First any character that has no place in a number, by position. */
    for (size_t i = start; i < end; i++) {
        unsigned char c = (unsigned char)text[i];
        if (isdigit(c) || c == ' ' || c == '-')
            continue;
        snprintf(errstr, errstr_size,
                 "has %s at position %zu: an NHS number has only digits (grouped 3-3-4 "
                 "by single spaces or hyphens, if at all)",
                 isalpha(c) ? "a letter" : "a character that is not a digit", i + 1);
        return -1;
    }
    for (size_t i = start; i < end; i++) {
        char c = text[i];
        if (c != ' ' && c != '-') {
            if (digits < 10)
                number[digits] = c;
            digits++;
            continue;
        }
        if (separator && c != separator) {
            snprintf(errstr, errstr_size,
                     "mixes spaces and hyphens: group it 3-3-4 with one or the other "
                     "(NNN NNN NNNN or NNN-NNN-NNNN), or give the 10 digits alone");
            return -1;
        }
        separator = c;
    }
    if (digits != 10) {
        snprintf(errstr, errstr_size, "has %zu digits: an NHS number has exactly 10", digits);
        return -1;
    }
    /* Ten digits and two separators, at the two group breaks. */
    if (separator &&
        (end - start != 12 || text[start + 3] != separator || text[start + 7] != separator)) {
        snprintf(errstr, errstr_size,
                 "is grouped wrongly: separators go only between the groups of 3, 3 and 4 "
                 "digits, one each (NNN NNN NNNN or NNN-NNN-NNNN)");
        return -1;
    }
    number[10] = '\0';
    int rc = nhs_number_check(number, errstr, errstr_size);
    if (rc == 0)
        memcpy(out, number, sizeof number);
    explicit_bzero(number, sizeof number);
    return rc;
}
