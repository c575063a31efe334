/*
 * decode.c - messages from placehub's topics as JSON, whatever topic they
 * come from: framed Avro events (the event topics, dead letters), JSON
 * documents (the audit topic), or text (hl7-raw). See ctl.h.
 */
#include <stdio.h>
#include <string.h>

#include "schema/codec.h"
#include "ctl.h"
#include "schema/framing.h"

static int decode_is_text(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (data[i] == 0 || data[i] == 0x7f ||
            (data[i] < 0x20 && data[i] != '\r' && data[i] != '\n' && data[i] != '\t'))
            return 0;
    return 1;
}

json_t *decode_value(struct registry *registry, const rd_kafka_message_t *message, int *schema_id)
{
    return decode_bytes(registry, message->payload, message->len, schema_id);
}

json_t *decode_bytes(struct registry *registry, const unsigned char *data, size_t len,
                     int *schema_id)
{
    char errstr[256];
    *schema_id = -1;
    if (!data || len == 0)
        return json_null();
    int32_t id;
    const unsigned char *payload;
    size_t payload_len;
    const struct codec_schema *schema;
    if (data[0] == 0 &&
        framing_parse(data, len, &id, &payload, &payload_len, errstr, sizeof errstr) == 0 &&
        registry && registry_reader(registry, id, &schema, errstr, sizeof errstr) == 0) {
        json_t *event = NULL;
        struct codec_error error;
        if (codec_decode(schema, payload, payload_len, &event, &error) == 0) {
            *schema_id = id;
            return event;
        }
        return json_pack("{s:s,s:s,s:i}", "undecodable", error.message, "field", error.field,
                         "schema_id", (int)id);
    }
    json_t *document = json_loadb((const char *)data, len, JSON_DISABLE_EOF_CHECK, NULL);
    if (document)
        return document;
    if (decode_is_text(data, len))
        return json_pack("{s:s%}", "text", (const char *)data, len);
    return json_pack("{s:I}", "bytes", (json_int_t)len);
}

const char *decode_header(const rd_kafka_message_t *message, const char *name, char *out,
                          size_t out_size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;
    out[0] = '\0';
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        value)
        snprintf(out, out_size, "%.*s", (int)size, (const char *)value);
    return out;
}

json_t *decode_message(struct registry *registry, const rd_kafka_message_t *message)
{
    rd_kafka_timestamp_type_t type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    char when[48] = "";
    if (timestamp >= 0)
        codec_timestamp_format(timestamp, when, sizeof when);
    int schema_id;
    json_t *value = decode_value(registry, message, &schema_id);
    json_t *out = json_pack("{s:s,s:i,s:I,s:s,s:o}", "topic", rd_kafka_topic_name(message->rkt),
                            "partition", (int)message->partition, "offset",
                            (json_int_t)message->offset, "timestamp", when, "value", value);
    if (!out)
        return NULL;
    if (schema_id >= 0)
        json_object_set_new(out, "schema_id", json_integer(schema_id));
    rd_kafka_headers_t *headers = NULL;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        json_t *object = json_object();
        const char *name;
        const void *header_value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &header_value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             i++)
            json_object_set_new(object, name,
                                header_value ? json_stringn(header_value, size) : json_null());
        json_object_set_new(out, "headers", object);
    }
    return out;
}
