/*
 * framing.h - the Confluent wire format on every placehub topic: magic byte
 * 0, the schema id as 4 bytes big-endian, then the Avro binary body. Standard
 * Kafka tooling (confluent-kafka deserializers, kcat -s avro, Redpanda
 * Connect) reads it given the schema registry.
 */
#ifndef PLACEHUB_FRAMING_H
#define PLACEHUB_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#define FRAMING_HEADER_SIZE 5

/* Writes the 5-byte header for schema_id into header. */
void framing_write_header(unsigned char *header, int32_t schema_id);

/* Splits a framed message. *payload points into data (borrowed). Returns 0,
 * or -1 with errstr naming the byte at fault. */
int framing_parse(const unsigned char *data, size_t len, int32_t *schema_id,
                  const unsigned char **payload, size_t *payload_len, char *errstr,
                  size_t errstr_size);

#endif
