/*
 * http_fields.c - Cookie headers and urlencoded form bodies (see
 * http_fields.h). Nothing here allocates; every write is bounded by the
 * caller's buffer.
 */
#include "net/http_fields.h"

#include <string.h>

#include "core/text.h"

int http_fields_cookie(const char *header, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name);
    while (header && *header) {
        header += strspn(header, " ;");
        size_t pair = strcspn(header, ";");
        if (pair > name_len && strncmp(header, name, name_len) == 0 && header[name_len] == '=') {
            size_t len = pair - name_len - 1;
            if (len >= out_size)
                return -1;
            memcpy(out, header + name_len + 1, len);
            out[len] = '\0';
            return 0;
        }
        header += pair;
    }
    return -1;
}

/* Decodes value (len bytes) into out; -1 when malformed or too long. */
static int http_fields_decode(const char *value, size_t len, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (c == '\0') /* raw: a browser encodes it; a value cut at it would compare as another */
            return -1;
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int high = i + 1 < len ? text_hex_digit(value[i + 1]) : -1;
            int low = i + 2 < len ? text_hex_digit(value[i + 2]) : -1;
            if (high < 0 || low < 0 || (high == 0 && low == 0))
                return -1;
            c = (char)(high * 16 + low);
            i += 2;
        }
        if (o + 1 >= out_size)
            return -1;
        out[o++] = c;
    }
    if (out_size == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

int http_fields_form(const char *body, size_t len, const char *name, char *out, size_t out_size)
{
    size_t name_len = strlen(name), at = 0;
    while (at < len) {
        const char *field = body + at;
        const char *amp = memchr(field, '&', len - at);
        size_t field_len = amp ? (size_t)(amp - field) : len - at;
        if (field_len > name_len && memcmp(field, name, name_len) == 0 && field[name_len] == '=')
            return http_fields_decode(field + name_len + 1, field_len - name_len - 1, out,
                                      out_size);
        at += field_len + 1;
    }
    return -1;
}
