/*
 * fuzz_framing.c - the Confluent framing of every message placehub-dispatch
 * reads from Kafka (lib/schema/framing.c). A message from any producer on the topic
 * may be anything: the parser must refuse what is not magic byte 0 plus a
 * 4-byte schema id, and an accepted payload must lie inside the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t id;
    const unsigned char *payload = NULL;
    size_t payload_len = 0;
    char errstr[128];
    if (framing_parse(data, size, &id, &payload, &payload_len, errstr, sizeof errstr) != 0) {
        if (errstr[0] == '\0' || memchr(errstr, '\0', sizeof errstr) == NULL)
            abort(); /* a refusal always says why */
        return 0;
    }
    if (size < FRAMING_HEADER_SIZE || data[0] != 0 || payload != data + FRAMING_HEADER_SIZE ||
        payload_len != size - FRAMING_HEADER_SIZE)
        abort();
    unsigned char header[FRAMING_HEADER_SIZE];
    framing_write_header(header, id);
    if (memcmp(header, data, FRAMING_HEADER_SIZE) != 0)
        abort(); /* the id read back writes the same header */
    return 0;
}
