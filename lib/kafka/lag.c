/*
 * lag.c - a consumer group's lag from the broker (see lag.h): one admin
 * request for the group's committed offsets, then a watermark query per
 * partition. Blocking: call it from a thread that may wait (the console's
 * sampler), never from a delivery loop.
 */
#include "kafka/lag.h"

#include <stdio.h>
#include <string.h>

/* The group's committed offsets of partitions (in place), or -1. */
static int lag_committed(rd_kafka_t *handle, const char *group,
                         rd_kafka_topic_partition_list_t *partitions, int timeout_ms, char *errstr,
                         size_t errstr_size)
{
    char reason[256] = "";
    int rc = -1;
    rd_kafka_queue_t *queue = rd_kafka_queue_new(handle);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
    rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, reason, sizeof reason);
    rd_kafka_ListConsumerGroupOffsets_t *request =
        rd_kafka_ListConsumerGroupOffsets_new(group, partitions);
    rd_kafka_ListConsumerGroupOffsets(handle, &request, 1, options, queue);
    rd_kafka_ListConsumerGroupOffsets_destroy(request);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, timeout_ms + 1000);
    const rd_kafka_ListConsumerGroupOffsets_result_t *result =
        event ? rd_kafka_event_ListConsumerGroupOffsets_result(event) : NULL;
    size_t count = 0;
    const rd_kafka_group_result_t **groups =
        result ? rd_kafka_ListConsumerGroupOffsets_result_groups(result, &count) : NULL;
    if (!event || rd_kafka_event_error(event)) {
        snprintf(errstr, errstr_size, "group %s: offsets not read: %s", group,
                 event ? rd_kafka_event_error_string(event) : "no answer in time");
    } else if (count != 1 || rd_kafka_group_result_error(groups[0])) {
        snprintf(errstr, errstr_size, "group %s: offsets not read: %s", group,
                 count == 1 ? rd_kafka_error_string(rd_kafka_group_result_error(groups[0]))
                            : "no result");
    } else {
        const rd_kafka_topic_partition_list_t *offsets =
            rd_kafka_group_result_partitions(groups[0]);
        for (int i = 0; offsets && i < offsets->cnt; i++) {
            rd_kafka_topic_partition_t *mine = rd_kafka_topic_partition_list_find(
                partitions, offsets->elems[i].topic, offsets->elems[i].partition);
            if (mine)
                mine->offset = offsets->elems[i].offset;
        }
        rc = 0;
    }
    if (event)
        rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    return rc;
}

/* How many partitions each topic has, from one metadata request. */
static int lag_partitions(rd_kafka_t *handle, struct kafka_lag *topics, size_t topic_count,
                          int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(handle, 1, NULL, &metadata, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(err));
        return -1;
    }
    for (size_t t = 0; t < topic_count; t++) {
        topics[t].partitions = 0;
        for (int i = 0; i < metadata->topic_cnt; i++)
            if (strcmp(metadata->topics[i].topic, topics[t].topic) == 0 && !metadata->topics[i].err)
                topics[t].partitions = metadata->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(metadata);
    return 0;
}

int kafka_group_lag(rd_kafka_t *handle, const char *group, struct kafka_lag *topics,
                    size_t topic_count, int timeout_ms, char *errstr, size_t errstr_size)
{
    if (lag_partitions(handle, topics, topic_count, timeout_ms, errstr, errstr_size) != 0)
        return -1;
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < topic_count; t++)
        for (int p = 0; p < topics[t].partitions; p++)
            rd_kafka_topic_partition_list_add(partitions, topics[t].topic, p)->offset =
                RD_KAFKA_OFFSET_INVALID;
    int rc = partitions->cnt == 0
                 ? 0
                 : lag_committed(handle, group, partitions, timeout_ms, errstr, errstr_size);
    for (size_t t = 0; t < topic_count; t++)
        topics[t].lag = 0;
    for (int i = 0; rc == 0 && i < partitions->cnt; i++) {
        rd_kafka_topic_partition_t *entry = &partitions->elems[i];
        int64_t low, high;
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            handle, entry->topic, entry->partition, &low, &high, timeout_ms);
        if (err) {
            snprintf(errstr, errstr_size, "%s [%d]: watermarks: %s", entry->topic,
                     (int)entry->partition, rd_kafka_err2str(err));
            rc = -1;
            break;
        }
        int64_t from = entry->offset >= low ? entry->offset : low;
        for (size_t t = 0; t < topic_count; t++)
            if (strcmp(topics[t].topic, entry->topic) == 0 && high > from)
                topics[t].lag += high - from;
    }
    rd_kafka_topic_partition_list_destroy(partitions);
    return rc;
}
