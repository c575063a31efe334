/*
 * lag.h - how far a consumer group is behind, as the broker sees it: the
 * group's committed offsets (Admin API ListConsumerGroupOffsets) against
 * each partition's high watermark, asked of the broker each time.
 *
 * Why not librdkafka's own consumer_lag statistic: its high watermark is
 * the one the consumer last fetched, and a consumer whose partitions are
 * paused (a partner's open circuit, an operator's pause) fetches nothing,
 * so the figure stands still, often at 0, while the backlog grows.
 */
#ifndef PLACEHUB_KAFKA_LAG_H
#define PLACEHUB_KAFKA_LAG_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct kafka_lag {
    const char *topic; /* in: borrowed */
    long long lag;     /* out: messages after the group's committed offset */
    int partitions;    /* out: how many the topic has (0: the topic is missing) */
};

/* Fills topics[i].lag for group, using handle (any client type) for the
 * admin request, the metadata and the watermarks, each bounded by
 * timeout_ms. A partition the group never committed counts from its low
 * watermark. Returns 0, or -1 with errstr (broker unreachable, group
 * offsets refused). */
int kafka_group_lag(rd_kafka_t *handle, const char *group, struct kafka_lag *topics,
                    size_t topic_count, int timeout_ms, char *errstr, size_t errstr_size);

#endif
