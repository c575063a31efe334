/*
 * objection_feed.c - the thread that keeps the objection register current
 * (see objection_feed.h for the ordering rule dispatch relies on).
 *
 * IMPORTANT: current_ms is published only after the consumer's position
 * reached every partition's high watermark as asked *after* t0 was taken.
 * Taking the time after the watermarks, or publishing the time of the end of
 * the round, would let a change acknowledged in between count as applied.
 *
 * Positions: a compacted topic has gaps in its offsets, so the position of a
 * partition is the offset after the last message seen, or the end-of-
 * partition offset librdkafka reports (enable.partition.eof), whichever is
 * later. Records the register refuses are logged with partition and offset
 * (never their key: it holds the person reference) and skipped.
 */
#include "governance/objection_feed.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "kafka/kafka.h"

/* Between rounds that found nothing new. */
#define OBJECTION_FEED_ROUND_MS 50

struct objection_feed {
    struct objection_register *reg; /* borrowed */
    char *topic;
    rd_kafka_t *consumer;
    int partition_count;
    int64_t *position; /* per partition: the next offset to read (-1: unknown) */
    int64_t *high;     /* per partition: the watermark of this round */
    pthread_t thread;
    atomic_int stop;
    long long applied; /* records applied since the start */
    long long refused; /* records skipped as unreadable */
};

static int objection_feed_partitions(rd_kafka_t *consumer, const char *name, int *count,
                                     char *errstr, size_t errstr_size)
{
    const int64_t deadline = clock_monotonic_ms() + 10000;
    rd_kafka_topic_t *topic = rd_kafka_topic_new(consumer, name, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    *count = 0;
    while (topic && *count == 0 && clock_monotonic_ms() < deadline) {
        const struct rd_kafka_metadata *metadata = NULL;
        err = rd_kafka_metadata(consumer, 0, topic, &metadata, 2000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                *count = metadata->topics[0].partition_cnt;
            else if (metadata->topic_cnt == 1)
                err = metadata->topics[0].err;
            rd_kafka_metadata_destroy(metadata);
        }
    }
    if (topic)
        rd_kafka_topic_destroy(topic);
    if (*count > 0)
        return 0;
    snprintf(errstr, errstr_size,
             "objections topic %s has no partitions in the cluster's metadata (%s); it is "
             "created by every program's start-up (kafka_topics_ensure)",
             name, err ? rd_kafka_err2str(err) : "not listed");
    return -1;
}

/* Applies message, or moves the position past an end of partition. */
static void objection_feed_take(struct objection_feed *feed, rd_kafka_message_t *message)
{
    int p = message->partition;
    if (p < 0 || p >= feed->partition_count)
        return;
    if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (message->offset > feed->position[p])
            feed->position[p] = message->offset;
        return;
    }
    if (message->err) {
        log_warning("objection feed: consumer error topic=%s error=%s", feed->topic,
                    rd_kafka_message_errstr(message));
        return;
    }
    if (objection_register_apply(feed->reg, message->key, message->key_len, message->payload,
                                 message->payload ? message->len : 0) == 0) {
        feed->applied++;
    } else {
        feed->refused++;
        log_warning("objection feed: unreadable record skipped topic=%s partition=%d offset=%lld",
                    feed->topic, p, (long long)message->offset);
    }
    if (message->offset + 1 > feed->position[p])
        feed->position[p] = message->offset + 1;
}

/* Polls for up to timeout_ms; returns how many messages were taken. */
static int objection_feed_poll(struct objection_feed *feed, int timeout_ms)
{
    int taken = 0;
    rd_kafka_message_t *message = rd_kafka_consumer_poll(feed->consumer, timeout_ms);
    while (message) {
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            taken++;
        objection_feed_take(feed, message);
        rd_kafka_message_destroy(message);
        message = rd_kafka_consumer_poll(feed->consumer, 0);
    }
    return taken;
}

/* One round: 1 when current_ms was published (taken set to the messages
 * consumed), 0 when a watermark could not be had or the feed is stopping. */
static int objection_feed_round(struct objection_feed *feed, int *taken)
{
    const int64_t t0 = clock_wall_ms();
    *taken = 0;
    for (int p = 0; p < feed->partition_count; p++) {
        int64_t low, high;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(feed->consumer, feed->topic, p, &low, &high, 1000);
        if (err) {
            log_debug("objection feed: no watermark topic=%s partition=%d error=%s", feed->topic, p,
                      rd_kafka_err2str(err));
            return 0;
        }
        /* Nothing left below the high watermark: nothing to read. */
        feed->high[p] = low >= high ? -1 : high;
    }
    for (;;) {
        int behind = 0;
        for (int p = 0; p < feed->partition_count && !behind; p++)
            behind = feed->high[p] >= 0 && feed->position[p] < feed->high[p];
        if (!behind)
            break;
        if (atomic_load(&feed->stop))
            return 0;
        *taken += objection_feed_poll(feed, 100);
    }
    objection_register_set_current_ms(feed->reg, t0);
    return 1;
}

static void *objection_feed_run(void *opaque)
{
    struct objection_feed *feed = opaque;
    const int64_t started = clock_monotonic_ms();
    int caught_up = 0;
    while (!atomic_load(&feed->stop)) {
        int taken = 0;
        int published = objection_feed_round(feed, &taken);
        if (published && !caught_up) {
            caught_up = 1;
            log_info("objection register caught up topic=%s records=%lld persons=%zu "
                     "skipped=%lld ms=%lld",
                     feed->topic, feed->applied, objection_register_person_count(feed->reg),
                     feed->refused, (long long)(clock_monotonic_ms() - started));
        }
        /* New records may mean more behind them: go again at once. */
        if (published && taken > 0)
            continue;
        objection_feed_poll(feed, OBJECTION_FEED_ROUND_MS);
    }
    return NULL;
}

static void objection_feed_free(struct objection_feed *feed)
{
    if (feed->consumer) {
        rd_kafka_consumer_close(feed->consumer);
        rd_kafka_destroy(feed->consumer);
    }
    free(feed->position);
    free(feed->high);
    free(feed->topic);
    free(feed);
}

int objection_feed_start(const struct config *config, struct objection_register *reg,
                         struct objection_feed **out, char *errstr, size_t errstr_size)
{
    char message[512];
    struct objection_feed *feed = calloc(1, sizeof *feed);
    rd_kafka_topic_partition_list_t *assignment = NULL;
    *out = NULL;
    if (!feed || !(feed->topic = strdup(config->governance.objections_topic))) {
        snprintf(errstr, errstr_size, "out of memory");
        free(feed);
        return -1;
    }
    feed->reg = reg;
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    /* Assigned, never subscribed: the group never joins and nothing is
     * committed, so every start reads the whole topic (librdkafka's
     * rd_kafka_assign needs a group.id all the same). read_uncommitted, so
     * the position can reach the high watermark. */
    if (!conf ||
        kafka_conf_set(conf, "group.id", "placehub.objection-feed", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "isolation.level", "read_uncommitted", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "fetch.wait.max.ms", "50", errstr, errstr_size) != 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto fail;
    }
    feed->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, message, sizeof message);
    if (!feed->consumer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "objection feed consumer: %s", message);
        goto fail;
    }
    if (objection_feed_partitions(feed->consumer, feed->topic, &feed->partition_count, errstr,
                                  errstr_size) != 0)
        goto fail;
    feed->position = calloc((size_t)feed->partition_count, sizeof *feed->position);
    feed->high = calloc((size_t)feed->partition_count, sizeof *feed->high);
    assignment = rd_kafka_topic_partition_list_new(feed->partition_count);
    if (!feed->position || !feed->high || !assignment) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (int p = 0; p < feed->partition_count; p++) {
        feed->position[p] = -1;
        rd_kafka_topic_partition_list_add(assignment, feed->topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(feed->consumer, assignment);
    if (err) {
        snprintf(errstr, errstr_size, "objection feed: cannot assign %s: %s", feed->topic,
                 rd_kafka_err2str(err));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(assignment);
    assignment = NULL;
    atomic_init(&feed->stop, 0);
    if (pthread_create(&feed->thread, NULL, objection_feed_run, feed) != 0) {
        snprintf(errstr, errstr_size, "objection feed: cannot start its thread");
        goto fail;
    }
    *out = feed;
    return 0;
fail:
    if (assignment)
        rd_kafka_topic_partition_list_destroy(assignment);
    objection_feed_free(feed);
    return -1;
}

void objection_feed_stop(struct objection_feed *feed)
{
    if (!feed)
        return;
    atomic_store(&feed->stop, 1);
    pthread_join(feed->thread, NULL);
    objection_feed_free(feed);
}
