/*
 * produce_baseline.c - the ceiling placehub-ingest is measured against: the
 * broker's own produce rate for the same payloads, through librdkafka with
 * the settings ingest uses (idempotence, so acks=all; linger.ms 2), with
 * nothing else in the way (no HTTP, no JSON, no waiting per event).
 *
 * The events are read, completed (event id, recorded-at) and encoded, and one
 * warm-up event delivered, before the clock starts, so the figure is the
 * produce path alone.
 *
 * Usage: produce_baseline BOOTSTRAP TOPIC SCHEMA_FILE SCHEMA_ID BODIES_FILE COUNT
 * Prints one JSON line: {"messages", "seconds", "per_second", "failed"}.
 */
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/codec.h"
#include "schema/event.h"
#include "schema/framing.h"

static long produce_delivered, produce_failed;

static void produce_report(rd_kafka_t *kafka, const rd_kafka_message_t *message, void *opaque)
{
    (void)kafka;
    (void)opaque;
    if (message->err)
        produce_failed++;
    produce_delivered++;
}

static double produce_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static char *produce_read(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        return NULL;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (text && fread(text, 1, (size_t)size, file) == (size_t)size) {
        text[size] = '\0';
        *len = (size_t)size;
    } else {
        free(text);
        text = NULL;
    }
    fclose(file);
    return text;
}

struct produce_payload {
    unsigned char *value;
    size_t len;
};

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC SCHEMA_FILE SCHEMA_ID BODIES_FILE COUNT\n",
                argv[0]);
        return 2;
    }
    const char *topic = argv[2];
    int32_t schema_id = (int32_t)atol(argv[4]);
    long count = atol(argv[6]);
    char errstr[512];
    size_t schema_len = 0, bodies_len = 0;
    char *schema_text = produce_read(argv[3], &schema_len);
    char *bodies = produce_read(argv[5], &bodies_len);
    struct codec_schema *schema = NULL;
    if (!schema_text || !bodies || count <= 0)
        return 1;
    if (codec_schema_new(schema_text, schema_len, &schema, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: %s\n", argv[3], errstr);
        return 1;
    }

    /* Encode every line once; the run cycles over them. */
    size_t capacity = 1024, payload_count = 0;
    struct produce_payload *payloads = malloc(capacity * sizeof *payloads);
    for (char *line = strtok(bodies, "\n"); line && payloads; line = strtok(NULL, "\n")) {
        json_error_t json_error;
        struct codec_error error;
        json_t *event = json_loads(line, 0, &json_error);
        if (!event || event_prepare(event, 1, 1763800000000LL, &error) != 0) {
            fprintf(stderr, "%s: a line is not a valid event\n", argv[5]);
            return 1;
        }
        if (payload_count == capacity) {
            capacity *= 2;
            payloads = realloc(payloads, capacity * sizeof *payloads);
            if (!payloads)
                return 1;
        }
        struct produce_payload *payload = &payloads[payload_count];
        if (codec_encode(schema, event, FRAMING_HEADER_SIZE, &payload->value, &payload->len,
                         &error) != 0) {
            fprintf(stderr, "%s: a line does not encode: %s\n", argv[5], error.field);
            return 1;
        }
        framing_write_header(payload->value, schema_id);
        payload_count++;
        json_decref(event);
    }
    if (payload_count == 0) {
        fprintf(stderr, "%s: no events\n", argv[5]);
        return 1;
    }

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "linger.ms", "2", errstr, sizeof errstr)) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, produce_report);
    rd_kafka_t *kafka = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!kafka) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    /* Ingest's producer is connected and holds its idempotent producer id
     * long before the load starts: so must this one be, or the figure
     * would include connecting (half a second with librdkafka 2.12). */
    const struct produce_payload *first = &payloads[0];
    if (rd_kafka_producev(kafka, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("warm-up", 7),
                          RD_KAFKA_V_VALUE(first->value, first->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0) {
        fprintf(stderr, "produce: cannot queue the warm-up event\n");
        return 1;
    }
    while (produce_delivered < 1)
        rd_kafka_poll(kafka, 50);
    if (produce_failed) {
        fprintf(stderr, "produce: the warm-up event was not delivered\n");
        return 1;
    }
    produce_delivered = 0;
    double begin = produce_now();
    for (long i = 0; i < count; i++) {
        const struct produce_payload *payload = &payloads[(size_t)i % payload_count];
        char key[32];
        int key_len = snprintf(key, sizeof key, "person-%ld", i % 5000);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(kafka, RD_KAFKA_V_TOPIC(topic),
                                        RD_KAFKA_V_KEY(key, (size_t)key_len),
                                        RD_KAFKA_V_VALUE(payload->value, payload->len),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(kafka, 10);
        if (err) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(err));
            return 1;
        }
        rd_kafka_poll(kafka, 0);
    }
    while (produce_delivered < count)
        rd_kafka_poll(kafka, 50);
    double seconds = produce_now() - begin;
    printf("{\"messages\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"failed\": %ld}\n", count,
           seconds, (double)count / seconds, produce_failed);
    rd_kafka_destroy(kafka);
    for (size_t i = 0; i < payload_count; i++)
        free(payloads[i].value);
    free(payloads);
    codec_schema_destroy(schema);
    free(schema_text);
    free(bodies);
    return produce_failed ? 1 : 0;
}
