/*
 * http_fields.h - the two small grammars a browser sends besides JSON: a
 * Cookie header ("a=1; b=2") and an application/x-www-form-urlencoded body
 * ("name=olive&password=p%40ss"). Both are outside input: strict, bounded,
 * fuzzed (tests/fuzz/fuzz_http_fields.c).
 */
#ifndef PLACEHUB_HTTP_FIELDS_H
#define PLACEHUB_HTTP_FIELDS_H

#include <stddef.h>

/* The value of cookie name in header (may be NULL) into out. Returns 0, or
 * -1 when absent or longer than out_size - 1. */
int http_fields_cookie(const char *header, const char *name, char *out, size_t out_size);

/* The value of field name in the form body (len bytes, need not be
 * NUL-terminated), decoded ('+' is a space, %XX a byte), into out. Returns
 * 0, or -1 when absent, longer than out_size - 1, or malformed (a '%' not
 * followed by two hexadecimal digits, a NUL byte, or a %00). The
 * first field of that name wins. */
int http_fields_form(const char *body, size_t len, const char *name, char *out, size_t out_size);

#endif
