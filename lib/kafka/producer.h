/*
 * producer.h - writes to Kafka and waits for the broker's answer: the one
 * way placehub acknowledges anything it was given (HTTP 202, an HL7 ACK,
 * storing a consumer offset after a dead letter) is after the broker has it.
 *
 * The producer is idempotent (enable.idempotence=true, hence acks=all and
 * no duplicates or reordering from its own retries). producer_send blocks the
 * calling thread until the message's delivery report; many threads may send
 * at once. A poller thread owned by the producer serves the reports.
 */
#ifndef PLACEHUB_PRODUCER_H
#define PLACEHUB_PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"

struct producer;

struct producer_header {
    const char *name;
    const void *value;
    size_t len;
};

struct producer_result {
    /* RD_KAFKA_RESP_ERR_NO_ERROR when acknowledged at a known offset;
     * RD_KAFKA_RESP_ERR__INCONSISTENT when librdkafka inferred the write
     * without the broker naming an offset (see producer.c): not counted. */
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
};

/* A producer for config's brokers; timeout_ms bounds each send (librdkafka's
 * message.timeout.ms). client_id names it in broker logs. linger_ms is how
 * long a message may wait for others to share its produce request:
 * PRODUCER_LINGER_ACK_MS where a caller waits on the acknowledgement,
 * PRODUCER_LINGER_RECORDS_MS for records nobody waits on (each produce
 * request costs the broker and librdkafka's thread far more than one more
 * message in it). Returns 0 or -1 with errstr. */
enum { PRODUCER_LINGER_ACK_MS = 2, PRODUCER_LINGER_RECORDS_MS = 20 };

int producer_new(const struct config *config, const char *client_id, int timeout_ms, int linger_ms,
                 struct producer **producer, char *errstr, size_t errstr_size);

/* As producer_new, on conf: a configuration from kafka_conf_new to which
 * the caller added what it needs (e.g. metrics_kafka_stats). Takes
 * ownership of conf, whatever the outcome. */
int producer_new_conf(const struct config *config, rd_kafka_conf_t *conf, const char *client_id,
                      int timeout_ms, int linger_ms, struct producer **producer, char *errstr,
                      size_t errstr_size);

/* Flushes what is in flight (up to the timeout), stops the poller, frees. */
void producer_destroy(struct producer *producer);

/* Produces value to topic with key and headers, and waits until the broker
 * acknowledged it or the send failed. Takes ownership of value (a malloc'd
 * buffer), whatever the outcome. Returns 0 when acknowledged, -1 otherwise
 * with result->err saying why. */
int producer_send(struct producer *producer, const char *topic, const void *key, size_t key_len,
                  void *value, size_t value_len, const struct producer_header *headers,
                  size_t header_count, struct producer_result *result);

/* Called once per producer_send_async message with its outcome, on the
 * producer's poller thread: keep it short, and hand work to your own thread
 * (e.g. set a flag and wake it). */
typedef void producer_done_fn(void *opaque, const struct producer_result *result);

/* Produces without waiting: done(opaque, result) is called when the broker
 * acknowledged the message or the send failed (librdkafka guarantees exactly
 * one call within the timeout, also for a message refused at once). Takes
 * ownership of value, whatever the outcome. */
void producer_send_async(struct producer *producer, const char *topic, const void *key,
                         size_t key_len, void *value, size_t value_len,
                         const struct producer_header *headers, size_t header_count,
                         producer_done_fn *done, void *opaque);

/* The librdkafka handle, e.g. for admin calls such as topic creation. Borrowed. */
rd_kafka_t *producer_handle(struct producer *producer);

#endif
