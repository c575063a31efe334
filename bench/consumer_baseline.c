/*
 * consumer_baseline.c - the ceiling `placehub-ctl replay` is measured
 * against: a bare librdkafka consumer reading whole topics from their first
 * offset to the high watermark taken at start, and doing nothing with each
 * message but count it and its bytes (no decoding, no filtering, no output).
 *
 * It reads the way placehub-ctl does: partitions assigned explicitly, in no
 * consumer group that joins or commits, with the same fetch settings (see
 * ctl_consumer in services/ctl/main.c), so the difference between the two
 * figures is the work replay does per message.
 *
 * Usage: consumer_baseline BOOTSTRAP TOPIC...
 * Prints one JSON line: {"messages", "bytes", "seconds", "per_second"}; the
 * clock runs from the assignment to the last message.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double consumer_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int consumer_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "consumer_baseline: %s: %s\n", name, errstr);
        return -1;
    }
    return 0;
}

/* Adds every partition of topic that holds messages to assignment, from its
 * low watermark, and its high watermark to ends (same order). Returns the
 * number of messages to read, or -1. */
static long long consumer_plan(rd_kafka_t *consumer, const char *topic,
                               rd_kafka_topic_partition_list_t *assignment, int64_t *ends,
                               size_t ends_size)
{
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(consumer, 0, handle, &metadata, 10000);
    rd_kafka_topic_destroy(handle);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 ||
        metadata->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "consumer_baseline: no metadata for %s\n", topic);
        if (metadata)
            rd_kafka_metadata_destroy(metadata);
        return -1;
    }
    int partitions = metadata->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(metadata);
    long long total = 0;
    for (int32_t p = 0; p < partitions; p++) {
        int64_t low, high;
        err = rd_kafka_query_watermark_offsets(consumer, topic, p, &low, &high, 10000);
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "consumer_baseline: %s [%d]: %s\n", topic, (int)p,
                    rd_kafka_err2str(err));
            return -1;
        }
        if (high <= low)
            continue;
        if ((size_t)assignment->cnt >= ends_size) {
            fprintf(stderr, "consumer_baseline: too many partitions\n");
            return -1;
        }
        ends[assignment->cnt] = high;
        rd_kafka_topic_partition_list_add(assignment, topic, p)->offset = low;
        total += high - low;
    }
    return total;
}

int main(int argc, char **argv)
{
    enum { MAX_PARTITIONS = 1024 };
    if (argc < 3) {
        fprintf(stderr, "usage: %s BOOTSTRAP TOPIC...\n", argv[0]);
        return 2;
    }
    char errstr[512], group[64];
    /* librdkafka wants a group.id even for assign-only reading; this one
     * never joins and never commits. */
    snprintf(group, sizeof group, "consumer-baseline-%ld", (long)getpid());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (consumer_set(conf, "bootstrap.servers", argv[1]) || consumer_set(conf, "group.id", group) ||
        consumer_set(conf, "enable.auto.commit", "false") ||
        consumer_set(conf, "enable.partition.eof", "false") ||
        consumer_set(conf, "fetch.max.bytes", "52428800") ||
        consumer_set(conf, "queued.max.messages.kbytes", "65536") ||
        consumer_set(conf, "fetch.queue.backoff.ms", "10"))
        return 1;
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!consumer) {
        fprintf(stderr, "consumer_baseline: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_poll_set_consumer(consumer);

    int rc = 1;
    static int64_t ends[MAX_PARTITIONS];
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(16);
    long long expected = 0;
    for (int i = 2; i < argc; i++) {
        long long count = consumer_plan(consumer, argv[i], assignment, ends, MAX_PARTITIONS);
        if (count < 0)
            goto out;
        expected += count;
    }

    double began = consumer_now();
    if (assignment->cnt > 0 &&
        rd_kafka_assign(consumer, assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "consumer_baseline: cannot assign the partitions\n");
        goto out;
    }
    long long messages = 0, bytes = 0;
    int open = assignment->cnt;
    while (open > 0) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 1000);
        if (!message)
            continue;
        if (message->err) {
            fprintf(stderr, "consumer_baseline: %s\n", rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            goto out;
        }
        messages++;
        bytes += (long long)(message->len + message->key_len);
        /* Done with a partition once its last planned offset was seen. */
        const char *topic = rd_kafka_topic_name(message->rkt);
        for (int i = 0; i < assignment->cnt; i++) {
            rd_kafka_topic_partition_t *partition = &assignment->elems[i];
            if (partition->partition == message->partition && ends[i] > 0 &&
                message->offset >= ends[i] - 1 && strcmp(partition->topic, topic) == 0) {
                ends[i] = 0;
                open--;
            }
        }
        rd_kafka_message_destroy(message);
    }
    double seconds = consumer_now() - began;
    if (messages != expected)
        fprintf(stderr, "consumer_baseline: read %lld messages, expected %lld\n", messages,
                expected);
    printf("{\"messages\": %lld, \"bytes\": %lld, \"seconds\": %.3f, \"per_second\": %.0f}\n",
           messages, bytes, seconds, seconds > 0 ? (double)messages / seconds : 0.0);
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(assignment);
    rd_kafka_assign(consumer, NULL);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return rc;
}
