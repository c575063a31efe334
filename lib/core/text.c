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
