/*
 * feed.c - a topic read whole, in rounds that end at watermarks asked after
 * a moment t0 (see feed.h for the rule the hub's derived state relies on).
 *
 * IMPORTANT: caught_up(t0) is called only after the consumer's position
 * reached every partition's high watermark as asked *after* t0 was taken.
 * Taking the time after the watermarks, or passing the time of the end of
 * the round, would let a record acknowledged in between count as applied.
 */
#include "kafka/feed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "kafka/kafka.h"

struct feed {
    struct feed_options options;
    const struct feed_handlers *handlers; /* borrowed */
    void *opaque;
    char *topic;
    rd_kafka_t *consumer;
    int partition_count;
    int64_t *position; /* per partition: the next offset to read (-1: unknown) */
    int64_t *high;     /* per partition: the watermark of this round (-1: nothing to read) */
    pthread_t thread;
    int started;
    atomic_int stop;
    long long applied; /* records applied since the start */
    long long refused; /* records skipped as unreadable */
};

static int feed_partitions(struct feed *feed, char *errstr, size_t errstr_size)
{
    const int64_t deadline = clock_monotonic_ms() + 10000;
    rd_kafka_topic_t *topic = rd_kafka_topic_new(feed->consumer, feed->topic, NULL);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    int count = 0;
    while (topic && count == 0 && clock_monotonic_ms() < deadline) {
        const struct rd_kafka_metadata *metadata = NULL;
        err = rd_kafka_metadata(feed->consumer, 0, topic, &metadata, 2000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
                count = metadata->topics[0].partition_cnt;
            else if (metadata->topic_cnt == 1)
                err = metadata->topics[0].err;
            rd_kafka_metadata_destroy(metadata);
        }
    }
    if (topic)
        rd_kafka_topic_destroy(topic);
    feed->partition_count = count;
    if (count > 0)
        return 0;
    snprintf(errstr, errstr_size,
             "%s: topic %s has no partitions in the cluster's metadata (%s); it is created by "
             "every program's start-up (kafka_topics_ensure)",
             feed->options.name, feed->topic, err ? rd_kafka_err2str(err) : "not listed");
    return -1;
}

/* Assigns every partition at the owner's start positions. */
static int feed_assign(struct feed *feed, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *assignment =
        rd_kafka_topic_partition_list_new(feed->partition_count);
    if (!assignment) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (int p = 0; p < feed->partition_count; p++) {
        int64_t start = feed->handlers->start ? feed->handlers->start(feed->opaque, p)
                                              : RD_KAFKA_OFFSET_BEGINNING;
        feed->position[p] = start >= 0 ? start : -1;
        rd_kafka_topic_partition_list_add(assignment, feed->topic, p)->offset = start;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(feed->consumer, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
    if (err) {
        snprintf(errstr, errstr_size, "%s: cannot assign %s: %s", feed->options.name, feed->topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* Applies message, or moves the position past an end of partition. */
static void feed_take(struct feed *feed, const rd_kafka_message_t *message)
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
        log_warning("%s: consumer error topic=%s error=%s", feed->options.name, feed->topic,
                    rd_kafka_message_errstr(message));
        return;
    }
    if (feed->handlers->apply(feed->opaque, message) == 0) {
        feed->applied++;
    } else {
        feed->refused++;
        log_warning("%s: unreadable record skipped topic=%s partition=%d offset=%lld",
                    feed->options.name, feed->topic, p, (long long)message->offset);
    }
    if (message->offset + 1 > feed->position[p])
        feed->position[p] = message->offset + 1;
}

/* Polls for up to timeout_ms; returns how many records were taken. */
static int feed_poll(struct feed *feed, int timeout_ms)
{
    int taken = 0;
    rd_kafka_message_t *message = rd_kafka_consumer_poll(feed->consumer, timeout_ms);
    while (message) {
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            taken++;
        feed_take(feed, message);
        rd_kafka_message_destroy(message);
        message = rd_kafka_consumer_poll(feed->consumer, 0);
    }
    return taken;
}

/* Records between the positions and this round's watermarks. */
static long long feed_behind(const struct feed *feed)
{
    long long behind = 0;
    for (int p = 0; p < feed->partition_count; p++)
        if (feed->high[p] >= 0 && feed->position[p] < feed->high[p])
            behind += feed->high[p] - (feed->position[p] >= 0 ? feed->position[p] : 0);
    return behind;
}

/* One round: 1 when caught_up took it (taken set to the records consumed),
 * 0 when a watermark could not be had, the owner refused the round, or the
 * feed is stopping. */
static int feed_round(struct feed *feed, int *taken, feed_progress_fn progress,
                      void *progress_opaque)
{
    const int64_t t0 = clock_wall_ms();
    *taken = 0;
    for (int p = 0; p < feed->partition_count; p++) {
        int64_t low, high;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(feed->consumer, feed->topic, p, &low, &high, 1000);
        if (err) {
            log_debug("%s: no watermark topic=%s partition=%d error=%s", feed->options.name,
                      feed->topic, p, rd_kafka_err2str(err));
            return 0;
        }
        /* Nothing left below the high watermark: nothing to read. */
        feed->high[p] = low >= high ? -1 : high;
        if (feed->high[p] >= 0 && feed->position[p] >= 0 && feed->position[p] < low)
            feed->position[p] = -1; /* deleted by retention: read from what is left */
    }
    const long long total = feed_behind(feed);
    long long reported = 0;
    while (feed_behind(feed) > 0) {
        if (atomic_load(&feed->stop))
            return 0;
        *taken += feed_poll(feed, 100);
        if (progress && *taken - reported >= 5000) {
            reported = *taken;
            progress(progress_opaque, reported, total);
        }
    }
    if (progress && total > 0)
        progress(progress_opaque, total, total);
    if (feed->handlers->caught_up(feed->opaque, t0, feed->position, feed->partition_count) != 0) {
        char errstr[256];
        log_warning("%s: the round's records could not be kept; reading them again",
                    feed->options.name);
        if (feed_assign(feed, errstr, sizeof errstr) != 0)
            log_warning("%s", errstr);
        return 0;
    }
    return 1;
}

static void *feed_run(void *opaque)
{
    struct feed *feed = opaque;
    const int64_t started = clock_monotonic_ms();
    int caught_up = 0;
    while (!atomic_load(&feed->stop)) {
        int taken = 0;
        int published = feed_round(feed, &taken, NULL, NULL);
        if (published && !caught_up) {
            caught_up = 1;
            log_info("%s caught up topic=%s records=%lld skipped=%lld ms=%lld", feed->options.name,
                     feed->topic, feed->applied, feed->refused,
                     (long long)(clock_monotonic_ms() - started));
        }
        /* Records that arrive meanwhile are taken as they come; the next
         * round only asks for the watermarks again. IMPORTANT: not at once
         * after a round that took records: on a busy topic (the audit
         * topic, a record per delivery) that would ask the broker for every
         * partition's watermark hundreds of times a second. */
        (void)taken;
        const int64_t next_round = clock_monotonic_ms() + feed->options.round_ms;
        for (int64_t left = feed->options.round_ms; left > 0 && !atomic_load(&feed->stop);
             left = next_round - clock_monotonic_ms())
            feed_poll(feed, (int)left);
    }
    return NULL;
}

static void feed_free(struct feed *feed)
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

/* The consumer, its partitions and their assignment. */
static struct feed *feed_new(const struct config *config, const struct feed_options *options,
                             const struct feed_handlers *handlers, void *opaque, char *errstr,
                             size_t errstr_size)
{
    char message[512];
    struct feed *feed = calloc(1, sizeof *feed);
    if (!feed || !(feed->topic = strdup(options->topic))) {
        snprintf(errstr, errstr_size, "out of memory");
        free(feed);
        return NULL;
    }
    feed->options = *options;
    feed->handlers = handlers;
    feed->opaque = opaque;
    atomic_init(&feed->stop, 0);
    char fetch_wait[16], fetch_min[16];
    snprintf(fetch_wait, sizeof fetch_wait, "%d",
             options->fetch_wait_ms > 0 ? options->fetch_wait_ms : 50);
    snprintf(fetch_min, sizeof fetch_min, "%d",
             options->fetch_min_bytes > 0 ? options->fetch_min_bytes : 1);
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    /* Assigned, never subscribed: the group never joins and nothing is
     * committed (librdkafka's rd_kafka_assign needs a group.id all the
     * same). read_uncommitted, so the position can reach the high
     * watermark. */
    if (!conf || kafka_conf_set(conf, "group.id", options->group_id, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "isolation.level", "read_uncommitted", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "fetch.wait.max.ms", fetch_wait, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "fetch.min.bytes", fetch_min, errstr, errstr_size) != 0) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        goto fail;
    }
    feed->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, message, sizeof message);
    if (!feed->consumer) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "%s consumer: %s", options->name, message);
        goto fail;
    }
    if (feed_partitions(feed, errstr, errstr_size) != 0)
        goto fail;
    feed->position = calloc((size_t)feed->partition_count, sizeof *feed->position);
    feed->high = calloc((size_t)feed->partition_count, sizeof *feed->high);
    if (!feed->position || !feed->high) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (feed_assign(feed, errstr, errstr_size) != 0)
        goto fail;
    return feed;
fail:
    feed_free(feed);
    return NULL;
}

int feed_start(const struct config *config, const struct feed_options *options,
               const struct feed_handlers *handlers, void *opaque, struct feed **out, char *errstr,
               size_t errstr_size)
{
    *out = NULL;
    struct feed *feed = feed_new(config, options, handlers, opaque, errstr, errstr_size);
    if (!feed)
        return -1;
    if (pthread_create(&feed->thread, NULL, feed_run, feed) != 0) {
        snprintf(errstr, errstr_size, "%s: cannot start its thread", options->name);
        feed_free(feed);
        return -1;
    }
    feed->started = 1;
    if (options->thread)
        pthread_setname_np(feed->thread, options->thread);
    *out = feed;
    return 0;
}

void feed_stop(struct feed *feed)
{
    if (!feed)
        return;
    atomic_store(&feed->stop, 1);
    if (feed->started)
        pthread_join(feed->thread, NULL);
    feed_free(feed);
}

int feed_catch_up(const struct config *config, const struct feed_options *options,
                  const struct feed_handlers *handlers, void *opaque, feed_progress_fn progress,
                  void *progress_opaque, int timeout_ms, char *errstr, size_t errstr_size)
{
    struct feed *feed = feed_new(config, options, handlers, opaque, errstr, errstr_size);
    if (!feed)
        return -1;
    const int64_t deadline = clock_monotonic_ms() + timeout_ms;
    int taken = 0, published = 0;
    while (!(published = feed_round(feed, &taken, progress, progress_opaque)) &&
           clock_monotonic_ms() < deadline)
        feed_poll(feed, 100);
    if (!published)
        snprintf(errstr, errstr_size,
                 "%s: the broker did not give the ends of topic %s within %d ms; is it "
                 "running (kafka.bootstrap_servers)?",
                 options->name, options->topic, timeout_ms);
    feed_free(feed);
    return published ? 0 : -1;
}
