/*
 * framing.c - Confluent framing (see framing.h). Messages come from Kafka,
 * i.e. from outside: every length is checked before a byte is read.
 */
#include "schema/framing.h"

#include <stdio.h>

void framing_write_header(unsigned char *header, int32_t schema_id)
{
    uint32_t id = (uint32_t)schema_id;
    header[0] = 0;
    header[1] = (unsigned char)(id >> 24);
    header[2] = (unsigned char)(id >> 16);
    header[3] = (unsigned char)(id >> 8);
    header[4] = (unsigned char)id;
}

int framing_parse(const unsigned char *data, size_t len, int32_t *schema_id,
                  const unsigned char **payload, size_t *payload_len, char *errstr,
                  size_t errstr_size)
{
    if (!data || len == 0) {
        snprintf(errstr, errstr_size, "empty message: expected a 5-byte Confluent header");
        return -1;
    }
    if (data[0] != 0) {
        snprintf(errstr, errstr_size,
                 "byte 0 is 0x%02x, expected the magic byte 0x00 (not Confluent-framed Avro)",
                 data[0]);
        return -1;
    }
    if (len < FRAMING_HEADER_SIZE) {
        snprintf(errstr, errstr_size,
                 "message is %zu bytes: the header alone needs %d (magic byte and schema id)", len,
                 FRAMING_HEADER_SIZE);
        return -1;
    }
    uint32_t id = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
                  (uint32_t)data[4];
    if (id == 0 || id > INT32_MAX) {
        snprintf(errstr, errstr_size, "bytes 1-4 give schema id %u, which no registry assigns", id);
        return -1;
    }
    *schema_id = (int32_t)id;
    *payload = data + FRAMING_HEADER_SIZE;
    *payload_len = len - FRAMING_HEADER_SIZE;
    return 0;
}
