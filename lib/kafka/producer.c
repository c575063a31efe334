/*
 * producer.c - produce and wait for the broker (see producer.h).
 *
 * IMPORTANT: the caller's wait ends only with the message's delivery report.
 * librdkafka guarantees exactly one report per enqueued message, so the
 * waiter (on the caller's stack) outlives every use the report callback
 * makes of it. The report comes within message.timeout.ms plus the time
 * until the partition's leader thread next scans its queue for timeouts:
 * with the leader unreachable that thread sleeps through its reconnect
 * backoff, so reconnect.backoff.max.ms is kept short (see
 * producer_reconnect_backoff and docs/reliability.md).
 */
#include "kafka/producer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/kafka.h"
#include "core/log.h"

struct producer {
    rd_kafka_t *kafka;
    pthread_t poller;
    atomic_int stopping;
    int timeout_ms;
};

/* What a message's _private points at: whom to tell when it is settled. */
struct producer_pending {
    producer_done_fn *done;
    void *opaque;
};

struct producer_waiter {
    struct producer_pending pending; /* first: the report sees a pending */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    struct producer_result result;
};

/* IMPORTANT: a success without an offset is not taken as one. With acks=all
 * the broker names the offset of every message it wrote; librdkafka reports
 * success without one when it inferred the write: a "duplicate sequence"
 * answer, or an "implicit ack" (an earlier batch refused with "not leader",
 * a later one accepted, the earlier one then counted as written). The second
 * was seen to lose events with librdkafka 2.12.1 against Kafka 4.3: right
 * after a topic was created, the broker accepted a producer's later batch as
 * its first one, and the earlier batch was never written (docs/reliability.md).
 * Treated as not acknowledged, the sender tries again: at worst a duplicate
 * with the same event id, never a loss. */
static void producer_delivered(rd_kafka_t *kafka, const rd_kafka_message_t *message, void *opaque)
{
    (void)kafka;
    (void)opaque;
    struct producer_pending *pending = message->_private;
    if (!pending)
        return;
    struct producer_result result = {message->err, message->partition, message->offset};
    if (result.err == RD_KAFKA_RESP_ERR_NO_ERROR && result.offset < 0) {
        result.err = RD_KAFKA_RESP_ERR__INCONSISTENT;
        log_warning("broker acknowledged a message without its offset topic=%s partition=%d: "
                    "not counted as written, the sender tries again",
                    rd_kafka_topic_name(message->rkt), (int)message->partition);
    }
    pending->done(pending->opaque, &result);
}

/* The done callback of a synchronous send: wakes the waiting thread. */
static void producer_wake(void *opaque, const struct producer_result *result)
{
    struct producer_waiter *waiter = opaque;
    pthread_mutex_lock(&waiter->lock);
    waiter->result = *result;
    waiter->done = 1;
    pthread_cond_signal(&waiter->cond);
    pthread_mutex_unlock(&waiter->lock);
}

/* An asynchronous send: the caller's callback, behind a pending that frees
 * itself once the message is settled. */
struct producer_async {
    struct producer_pending pending; /* .done = producer_settle, .opaque = this */
    producer_done_fn *done;
    void *opaque;
};

static void producer_settle(void *opaque, const struct producer_result *result)
{
    struct producer_async *async = opaque;
    async->done(async->opaque, result);
    free(async);
}

static void *producer_poll(void *arg)
{
    struct producer *producer = arg;
    while (!atomic_load(&producer->stopping))
        rd_kafka_poll(producer->kafka, 100);
    return NULL;
}

/* librdkafka's default reconnect.backoff.max.ms is 10 s: an event for a
 * partition whose leader is down was then refused up to 10 s after
 * message.timeout.ms, not at it, and the sender waited that long. 1 s bounds
 * the refusal at about produce_timeout_ms + 1 s. A value set in the kafka
 * properties of the configuration (or a reconnect.backoff.ms, which must not
 * exceed it) is left alone. */
#define PRODUCER_RECONNECT_BACKOFF_MAX "1000"

static int producer_reconnect_backoff(const struct config *config, rd_kafka_conf_t *conf,
                                      char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < config->kafka.property_count; i++) {
        const char *key = config->kafka.properties[i].key;
        if (strcmp(key, "reconnect.backoff.max.ms") == 0 ||
            strcmp(key, "reconnect.backoff.ms") == 0)
            return 0;
    }
    return kafka_conf_set(conf, "reconnect.backoff.max.ms", PRODUCER_RECONNECT_BACKOFF_MAX, errstr,
                          errstr_size);
}

int producer_new(const struct config *config, const char *client_id, int timeout_ms, int linger_ms,
                 struct producer **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    if (!conf)
        return -1;
    return producer_new_conf(config, conf, client_id, timeout_ms, linger_ms, out, errstr,
                             errstr_size);
}

int producer_new_conf(const struct config *config, rd_kafka_conf_t *conf, const char *client_id,
                      int timeout_ms, int linger_ms, struct producer **out, char *errstr,
                      size_t errstr_size)
{
    char timeout[32], linger[32];
    struct producer *producer = calloc(1, sizeof *producer);
    *out = NULL;
    if (!producer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    producer->timeout_ms = timeout_ms;
    snprintf(timeout, sizeof timeout, "%d", timeout_ms);
    snprintf(linger, sizeof linger, "%d", linger_ms);
    /* Idempotence implies acks=all and ordered, deduplicated retries: a
     * retried batch cannot land twice or out of order. */
    if (kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "message.timeout.ms", timeout, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "linger.ms", linger, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "client.id", client_id, errstr, errstr_size) != 0 ||
        producer_reconnect_backoff(config, conf, errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, producer_delivered);
    producer->kafka = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!producer->kafka) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (pthread_create(&producer->poller, NULL, producer_poll, producer) != 0) {
        snprintf(errstr, errstr_size, "cannot start the delivery report thread");
        goto fail;
    }
    *out = producer;
    return 0;
fail:
    if (producer->kafka)
        rd_kafka_destroy(producer->kafka);
    free(producer);
    return -1;
}

void producer_destroy(struct producer *producer)
{
    if (!producer)
        return;
    /* Senders still waiting need the poller to get their reports. */
    rd_kafka_flush(producer->kafka, producer->timeout_ms + 1000);
    atomic_store(&producer->stopping, 1);
    pthread_join(producer->poller, NULL);
    rd_kafka_destroy(producer->kafka);
    free(producer);
}

/* Enqueues value with _private = pending. Returns the librdkafka error; on
 * an error nothing was enqueued and value has been freed. */
static rd_kafka_resp_err_t producer_enqueue(struct producer *producer, const char *topic,
                                            const void *key, size_t key_len, void *value,
                                            size_t value_len, const struct producer_header *headers,
                                            size_t header_count, struct producer_pending *pending)
{
    rd_kafka_headers_t *kafka_headers = rd_kafka_headers_new(header_count);
    for (size_t i = 0; i < header_count; i++)
        rd_kafka_header_add(kafka_headers, headers[i].name, -1, headers[i].value,
                            (ssize_t)headers[i].len);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer->kafka, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE(value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
        RD_KAFKA_V_HEADERS(kafka_headers), RD_KAFKA_V_OPAQUE(pending), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not enqueued: the value and the headers are still ours. */
        free(value);
        rd_kafka_headers_destroy(kafka_headers);
    }
    return err;
}

int producer_send(struct producer *producer, const char *topic, const void *key, size_t key_len,
                  void *value, size_t value_len, const struct producer_header *headers,
                  size_t header_count, struct producer_result *result)
{
    struct producer_waiter waiter = {.pending = {producer_wake, NULL}, .done = 0};
    waiter.pending.opaque = &waiter;
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.cond, NULL);
    rd_kafka_resp_err_t err = producer_enqueue(producer, topic, key, key_len, value, value_len,
                                               headers, header_count, &waiter.pending);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        waiter.result.err = err;
        waiter.done = 1;
    }
    pthread_mutex_lock(&waiter.lock);
    while (!waiter.done)
        pthread_cond_wait(&waiter.cond, &waiter.lock);
    pthread_mutex_unlock(&waiter.lock);
    pthread_cond_destroy(&waiter.cond);
    pthread_mutex_destroy(&waiter.lock);
    *result = waiter.result;
    return result->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

void producer_send_async(struct producer *producer, const char *topic, const void *key,
                         size_t key_len, void *value, size_t value_len,
                         const struct producer_header *headers, size_t header_count,
                         producer_done_fn *done, void *opaque)
{
    struct producer_async *async = malloc(sizeof *async);
    if (!async) {
        struct producer_result result = {RD_KAFKA_RESP_ERR__FAIL, -1, -1};
        free(value);
        done(opaque, &result);
        return;
    }
    async->pending.done = producer_settle;
    async->pending.opaque = async;
    async->done = done;
    async->opaque = opaque;
    rd_kafka_resp_err_t err = producer_enqueue(producer, topic, key, key_len, value, value_len,
                                               headers, header_count, &async->pending);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        struct producer_result result = {err, -1, -1};
        producer_settle(async, &result);
    }
}

rd_kafka_t *producer_handle(struct producer *producer)
{
    return producer->kafka;
}
