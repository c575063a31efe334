/*
 * nhs.h - NHS number checks (the Modulus 11 algorithm of the NHS Data
 * Dictionary): ten digits; digits 1-9 weighted 10 down to 2, summed; the
 * check digit is 11 minus the sum mod 11, where 11 means 0 and 10 means the
 * number is invalid.
 */
#ifndef PLACEHUB_NHS_H
#define PLACEHUB_NHS_H

#include <stddef.h>

/* Returns 0 when text is a valid NHS number (exactly 10 digits, no spaces),
 * or -1 with a reason in errstr. The reason never repeats the number, so it
 * is safe to log. */
int nhs_number_check(const char *text, char *errstr, size_t errstr_size);

/* The check digit for the first nine digits, 0-9, or -1 when the nine digits
 * can never form a valid number (remainder gives 10) or are not digits. */
int nhs_number_check_digit(const char *first_nine);

#endif
