/*
 * fuzz_avro_decode.c - what placehub-dispatch does with a message from
 * Kafka: strip the Confluent framing and decode the Avro body against the
 * schema its id names. No input may crash it or make it allocate without
 * bound (the codec checks every length against the bytes left first).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "schema/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct catalogue *catalogue;
    char errstr[512];
    if (!catalogue && catalogue_load("schemas", &catalogue, errstr, sizeof errstr) != 0)
        abort(); /* run from the repository root */
    int32_t id;
    const unsigned char *payload;
    size_t payload_len;
    if (framing_parse(data, size, &id, &payload, &payload_len, errstr, sizeof errstr) != 0)
        return 0;
    const struct catalogue_entry *entry = catalogue_find_id(catalogue, id);
    if (!entry)
        entry = &catalogue->entries[(uint32_t)id % catalogue->count];
    json_t *event = NULL;
    struct codec_error error;
    if (codec_decode(entry->schema, payload, payload_len, &event, &error) == 0)
        json_decref(event);
    return 0;
}
