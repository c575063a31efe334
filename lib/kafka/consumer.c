/*
 * consumer.c - a consumer that stores its own offsets (see consumer.h).
 *
 * The rebalance callback needs the consumer (to pause partitions assigned
 * while paused), but the configuration's opaque belongs to whoever set the
 * statistics callback. Rebalances are served only on the thread that polls
 * or closes, inside consumer_poll and consumer_close: those calls name the
 * consumer in a thread-local pointer for the callback.
 */
#include "kafka/consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kafka/kafka.h"

struct consumer {
    rd_kafka_t *kafka;
    rd_kafka_queue_t *queue;
    int paused;
    int closed;
};

/* The consumer being polled or closed on this thread (see above). */
static _Thread_local struct consumer *consumer_serving;

int consumer_conf_set(rd_kafka_conf_t *conf, const char *group, char *errstr, size_t errstr_size)
{
    static const char *const properties[][2] = {
        {"enable.auto.offset.store", "false"},
        {"enable.auto.commit", "true"},
        {"auto.commit.interval.ms", "1000"},
        /* A new group starts from the oldest retained event. */
        {"auto.offset.reset", "earliest"},
        /* Bound what librdkafka prefetches per consumer: ten partners must
         * fit in a small footprint. A partition whose local queue is full
         * is looked at again after fetch.queue.backoff.ms; librdkafka's
         * default (a second) starved the partner between bursts once its
         * queue filled (docs/performance.md). Measured with a 20,000-event
         * backlog and one partner: 10 ms gives 7,600-8,200/s with a queue
         * of 256 KB or 1 MB alike, so the smaller queue, which keeps ten
         * backlogged partners 10 MB lower. */
        {"queued.max.messages.kbytes", "256"},
        {"fetch.queue.backoff.ms", "10"},
        {"fetch.max.bytes", "1048576"},
        {"max.partition.fetch.bytes", "131072"},
        {"fetch.error.backoff.ms", "20"},
        /* The user polls only when it has room; one held back by a long
         * outage must not be thrown out of its group for that. */
        {"max.poll.interval.ms", "86400000"},
    };
    if (kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "client.id", group, errstr, errstr_size) != 0)
        return -1;
    for (size_t i = 0; i < sizeof properties / sizeof properties[0]; i++)
        if (kafka_conf_set(conf, properties[i][0], properties[i][1], errstr, errstr_size) != 0)
            return -1;
    return 0;
}

void consumer_partitions_text(const rd_kafka_topic_partition_list_t *partitions, char *out,
                              size_t out_size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; partitions && i < partitions->cnt && len + 1 < out_size; i++) {
        const rd_kafka_topic_partition_t *entry = &partitions->elems[i];
        int same_topic = i > 0 && strcmp(partitions->elems[i - 1].topic, entry->topic) == 0;
        int more =
            i + 1 < partitions->cnt && strcmp(partitions->elems[i + 1].topic, entry->topic) == 0;
        int n = same_topic ? snprintf(out + len, out_size - len, ",%d%s", (int)entry->partition,
                                      more ? "" : "]")
                           : snprintf(out + len, out_size - len, "%s%s[%d%s", len ? " " : "",
                                      entry->topic, (int)entry->partition, more ? "" : "]");
        if (n < 0 || (size_t)n >= out_size - len) {
            if (out_size > 4)
                memcpy(out + out_size - 4, "...", 4);
            return;
        }
        len += (size_t)n;
    }
    if (len == 0)
        snprintf(out, out_size, "none");
}

/* Pauses or resumes the whole assignment; 0, or -1 when it cannot be had. */
static int consumer_pause_assignment(rd_kafka_t *kafka, int pause)
{
    rd_kafka_topic_partition_list_t *assignment = NULL;
    if (rd_kafka_assignment(kafka, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (pause)
        rd_kafka_pause_partitions(kafka, assignment);
    else
        rd_kafka_resume_partitions(kafka, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    return 0;
}

/* What librdkafka does without a rebalance callback, said in the log: which
 * partitions this consumer now holds, and which it gave up; and partitions
 * assigned while paused are paused at once. */
static void consumer_rebalance(rd_kafka_t *kafka, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *partitions, void *opaque)
{
    (void)opaque; /* the statistics callback's */
    char group[256] = "unknown", list[512];
    size_t group_size = sizeof group;
    rd_kafka_conf_get(rd_kafka_conf(kafka), "group.id", group, &group_size);
    consumer_partitions_text(partitions, list, sizeof list);
    int cooperative = strcmp(rd_kafka_rebalance_protocol(kafka), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        log_info("partitions assigned group=%s %s", group, list);
        if (cooperative)
            error = rd_kafka_incremental_assign(kafka, partitions);
        else
            rd_kafka_assign(kafka, partitions);
        struct consumer *consumer = consumer_serving;
        if (!error && consumer && consumer->kafka == kafka && consumer->paused)
            rd_kafka_pause_partitions(kafka, partitions);
    } else {
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
            log_info("partitions revoked group=%s %s: events of theirs not yet settled go to "
                     "the partner again from their next owner, with the same event ids",
                     group, list);
        else
            log_warning("rebalance failed group=%s: %s", group, rd_kafka_err2str(err));
        if (cooperative)
            error = rd_kafka_incremental_unassign(kafka, partitions);
        else
            rd_kafka_assign(kafka, NULL);
    }
    if (error) {
        log_error("rebalance group=%s: %s", group, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

static int consumer_subscribe(struct consumer *consumer, const char *const *topics,
                              size_t topic_count, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)topic_count);
    for (size_t i = 0; i < topic_count; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer->kafka, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

int consumer_new(rd_kafka_conf_t *conf, const char *const *topics, size_t topic_count, int wake_fd,
                 struct consumer **out, char *errstr, size_t errstr_size)
{
    struct consumer *consumer = calloc(1, sizeof *consumer);
    *out = NULL;
    if (!consumer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance);
    consumer->kafka = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!consumer->kafka) {
        rd_kafka_conf_destroy(conf);
        free(consumer);
        return -1;
    }
    rd_kafka_poll_set_consumer(consumer->kafka);
    consumer->queue = rd_kafka_queue_get_consumer(consumer->kafka);
    if (wake_fd >= 0)
        rd_kafka_queue_io_event_enable(consumer->queue, wake_fd, "1", 1);
    if (consumer_subscribe(consumer, topics, topic_count, errstr, errstr_size) != 0) {
        consumer_destroy(consumer);
        return -1;
    }
    *out = consumer;
    return 0;
}

rd_kafka_t *consumer_handle(const struct consumer *consumer)
{
    return consumer->kafka;
}

rd_kafka_message_t *consumer_poll(struct consumer *consumer, int timeout_ms)
{
    struct consumer *outer = consumer_serving;
    consumer_serving = consumer;
    rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer->kafka, timeout_ms);
    consumer_serving = outer;
    return message;
}

void consumer_pause(struct consumer *consumer, int pause)
{
    if (consumer_pause_assignment(consumer->kafka, pause) == 0)
        consumer->paused = pause;
}

int consumer_paused(const struct consumer *consumer)
{
    return consumer->paused;
}

int consumer_store(struct consumer *consumer, const char *topic, int32_t partition, int64_t offset,
                   char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(consumer->kafka, list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
        err = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "%s", rd_kafka_err2name(err));
        return -1;
    }
    return 0;
}

void consumer_close(struct consumer *consumer)
{
    if (!consumer || consumer->closed)
        return;
    struct consumer *outer = consumer_serving;
    consumer_serving = consumer;
    rd_kafka_consumer_close(consumer->kafka);
    consumer_serving = outer;
    consumer->closed = 1;
}

void consumer_destroy(struct consumer *consumer)
{
    if (!consumer)
        return;
    if (consumer->queue)
        rd_kafka_queue_destroy(consumer->queue);
    rd_kafka_destroy(consumer->kafka);
    free(consumer);
}
