/*
 * text.h - a growable text buffer for documents written piece by piece
 * (delivery receipts, mail bodies). Out of memory is sticky: once an append
 * fails, text->failed is set, later appends do nothing and the caller
 * discards the text.
 */
#ifndef PLACEHUB_TEXT_H
#define PLACEHUB_TEXT_H

#include <stddef.h>

struct text {
    char *data; /* NUL-terminated once anything was appended; caller frees */
    size_t len, cap;
    int failed; /* out of memory: the text is unusable */
};

/* Appends len bytes of bytes. */
void text_append(struct text *text, const char *bytes, size_t len);

/* The value of a hexadecimal digit (either case), or -1 for any other
 * character. */
int text_hex_digit(char c);

/* Writes len bytes as 2 * len lowercase hexadecimal digits and a NUL into
 * out (at least 2 * len + 1 bytes). */
void text_hex(const unsigned char *bytes, size_t len, char *out);

#endif
