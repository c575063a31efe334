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

/* An NHS number as a person types it, checked and reduced to its 10 digits.
 * Accepted forms, with blanks (spaces, tabs) before or after ignored:
 *   "9990123454"     ten digits;
 *   "999 012 3454"   the 3-3-4 grouping of the NHS card, one space between groups;
 *   "999-012-3454"   the same with one hyphen between groups.
 * One separator throughout: "999 012-3454" is refused, as is any other
 * grouping ("9990 123 454", two spaces), since a number split elsewhere is
 * more likely two numbers run together or a mistyped one than a variant.
 * Writes the 10 digits and a NUL to out (out_size at least 11) and returns
 * 0; else -1 with the reason in errstr: a character that is not a digit (by
 * its position, 1-based, in the text as typed), the count of digits, the
 * grouping, or the check digit (Modulus 11). The reason never repeats the
 * number, so it is safe to log and to send back. out is left empty on a
 * refusal. */
int nhs_number_normalise(const char *text, char *out, size_t out_size, char *errstr,
                         size_t errstr_size);

/* The check digit for the first nine digits, 0-9, or -1 when the nine digits
 * can never form a valid number (remainder gives 10) or are not digits. */
int nhs_number_check_digit(const char *first_nine);

#endif
