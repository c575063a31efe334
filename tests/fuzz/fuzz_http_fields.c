/*
 * fuzz_http_fields.c - the console's readers of what a browser sends
 * besides JSON (lib/net/http_fields.c): a Cookie header and a urlencoded
 * login form, both from anyone who can reach the port. The input is the
 * header or body itself; each reader must stay within its buffer, give a
 * NUL-terminated value shorter than the buffer, and never a NUL inside
 * what it decoded (a password cut short would compare as another): the
 * decoded length is checked against an independent count.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An independent count: the first field called name, its raw length less
 * two for each '%' (each %XX is one byte). (size_t)-1 when absent. */
static size_t form_decoded_len(const uint8_t *data, size_t size, const char *name)
{
    size_t name_len = strlen(name), start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i < size && data[i] != '&')
            continue;
        if (i - start > name_len && memcmp(data + start, name, name_len) == 0 &&
            data[start + name_len] == '=') {
            size_t percents = 0;
            for (size_t j = start + name_len + 1; j < i; j++)
                percents += data[j] == '%';
            return i - start - name_len - 1 - 2 * percents;
        }
        start = i + 1;
    }
    return (size_t)-1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char out[33];
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    static const char *const names[] = {"placehub_session", "name", "password", "a", NULL};
    for (const char *const *name = names; *name; name++) {
        memset(out, 'x', sizeof out);
        if (http_fields_cookie(text, *name, out, sizeof out) == 0 && strlen(out) >= sizeof out)
            abort();
        memset(out, 'x', sizeof out);
        if (http_fields_form((const char *)data, size, *name, out, sizeof out) == 0) {
            size_t len = strnlen(out, sizeof out);
            if (len >= sizeof out || len != form_decoded_len(data, size, *name))
                abort();
        }
    }
    free(text);
    return 0;
}
