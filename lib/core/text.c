/*
 * text.c - a growable text buffer (see text.h).
 */
#include "core/text.h"

#include <stdlib.h>
#include <string.h>

void text_append(struct text *text, const char *bytes, size_t len)
{
    if (text->failed)
        return;
    if (text->len + len + 1 > text->cap) {
        size_t cap = text->cap ? text->cap : 512;
        while (cap < text->len + len + 1)
            cap *= 2;
        char *grown = realloc(text->data, cap);
        if (!grown) {
            text->failed = 1;
            return;
        }
        text->data = grown;
        text->cap = cap;
    }
    memcpy(text->data + text->len, bytes, len);
    text->len += len;
    text->data[text->len] = '\0';
}

int text_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void text_hex(const unsigned char *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}
