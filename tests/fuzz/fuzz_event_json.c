/*
 * fuzz_event_json.c - what placehub-ingest does with a request body from
 * outside: parse JSON, fill and check the hub's fields, encode against the
 * admission schema (the input's first byte picks one of the four schemas).
 * Anything accepted must decode back to what was encoded.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "schema/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct catalogue *fuzz_catalogue(void)
{
    static struct catalogue *catalogue;
    if (!catalogue) {
        char errstr[512];
        if (catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
            abort(); /* run from the repository root */
    }
    return catalogue;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct catalogue *catalogue = fuzz_catalogue();
    const struct catalogue_entry *entry = &catalogue->entries[data[0] % catalogue->count];
    json_t *event = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!event)
        return 0;
    struct codec_error error;
    unsigned char *out = NULL;
    size_t out_len = 0;
    if (event_prepare(event, entry->version, 1795000000000, &error) == 0 &&
        codec_encode(entry->schema, event, 0, &out, &out_len, &error) == 0) {
        json_t *back = NULL;
        if (codec_decode(entry->schema, out, out_len, &back, &error) != 0)
            abort(); /* what we wrote we must be able to read */
        json_decref(back);
        free(out);
    }
    json_decref(event);
    return 0;
}
