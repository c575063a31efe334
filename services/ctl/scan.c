/*
 * scan.c - reads planned ranges of topics with an assign-only consumer (see
 * ctl.h). A range is fixed before reading starts (its end is the high
 * watermark, or the first offset at or after the window's end), so a scan
 * ends even while producers go on writing; --follow lifts the end.
 *
 * IMPORTANT: a time window is mapped to offsets with
 * rd_kafka_offsets_for_times, which answers "the first offset whose
 * timestamp is at or after T". Timestamps within a partition are only
 * nearly monotonic (several producers), so callers that need the window
 * exactly also compare each message's timestamp (replay does).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "ctl.h"

static volatile sig_atomic_t scan_interrupted;

static void scan_on_signal(int signal_number)
{
    (void)signal_number;
    scan_interrupted = 1;
}

static int scan_add(struct scan_plan *plan, const char *topic, int32_t partition, int64_t start,
                    int64_t end)
{
    struct scan_range *grown = realloc(plan->ranges, (plan->count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    plan->ranges = grown;
    struct scan_range *range = &plan->ranges[plan->count];
    range->topic = strdup(topic);
    if (!range->topic)
        return -1;
    range->partition = partition;
    range->start = start;
    range->end = end;
    plan->count++;
    return 0;
}

void scan_plan_free(struct scan_plan *plan)
{
    for (size_t i = 0; i < plan->count; i++)
        free(plan->ranges[i].topic);
    free(plan->ranges);
    plan->ranges = NULL;
    plan->count = 0;
}

int scan_partition_count(rd_kafka_t *consumer, const char *topic, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_topic_t *handle = rd_kafka_topic_new(consumer, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(consumer, 0, handle, &metadata, 10000);
    rd_kafka_topic_destroy(handle);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size,
                 "cannot read the metadata of topic %s: %s (is the broker running?)", topic,
                 rd_kafka_err2str(err));
        return -1;
    }
    int count = -1;
    if (metadata->topic_cnt == 1 && metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        count = metadata->topics[0].partition_cnt;
    else
        snprintf(errstr, errstr_size, "topic %s: %s", topic,
                 metadata->topic_cnt ? rd_kafka_err2str(metadata->topics[0].err) : "not found");
    rd_kafka_metadata_destroy(metadata);
    return count;
}

int scan_watermarks(rd_kafka_t *consumer, const char *topic, int32_t partition, int64_t *low,
                    int64_t *high, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(consumer, topic, partition, low, high, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "topic %s partition %d: cannot read its offsets: %s", topic,
                 (int)partition, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* The first offset of topic/partition whose timestamp is at or after
 * millis, or `none` when there is none. */
static int scan_time(rd_kafka_t *consumer, const char *topic, int32_t partition, int64_t millis,
                     int64_t none, int64_t *offset, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = millis;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(consumer, list, 10000);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
        err = list->elems[0].err;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "topic %s partition %d: cannot look offsets up by time: %s",
                 topic, (int)partition, rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(list);
        return -1;
    }
    *offset = list->elems[0].offset < 0 ? none : list->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return 0;
}

int scan_plan_times(rd_kafka_t *consumer, struct scan_plan *plan, const char *const *topics,
                    size_t topic_count, int64_t from_ms, int64_t to_ms, char *errstr,
                    size_t errstr_size)
{
    for (size_t t = 0; t < topic_count; t++) {
        int partitions = scan_partition_count(consumer, topics[t], errstr, errstr_size);
        if (partitions < 0)
            return -1;
        for (int32_t p = 0; p < partitions; p++) {
            int64_t low, high;
            if (scan_watermarks(consumer, topics[t], p, &low, &high, errstr, errstr_size) != 0)
                return -1;
            int64_t start = low, end = high;
            /* One lookup per bound: a list naming a partition twice is
             * merged into one request. -1 (RD_KAFKA_OFFSET_END) from a
             * lookup: no message at or after that time. */
            if (from_ms >= 0 &&
                scan_time(consumer, topics[t], p, from_ms, high, &start, errstr, errstr_size) != 0)
                return -1;
            if (to_ms >= 0 &&
                scan_time(consumer, topics[t], p, to_ms, high, &end, errstr, errstr_size) != 0)
                return -1;
            if (start < low)
                start = low;
            if (end > high)
                end = high;
            if (end > start && scan_add(plan, topics[t], p, start, end) != 0) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

int scan_plan_tail(rd_kafka_t *consumer, struct scan_plan *plan, const char *topic, int64_t last,
                   char *errstr, size_t errstr_size)
{
    int partitions = scan_partition_count(consumer, topic, errstr, errstr_size);
    if (partitions < 0)
        return -1;
    for (int32_t p = 0; p < partitions; p++) {
        int64_t low, high;
        if (scan_watermarks(consumer, topic, p, &low, &high, errstr, errstr_size) != 0)
            return -1;
        int64_t start = last < 0 || high - last < low ? low : high - last;
        if (scan_add(plan, topic, p, start, high) != 0) {
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
    }
    return 0;
}

int scan_plan_offsets(rd_kafka_t *consumer, struct scan_plan *plan, const char *topic,
                      int32_t partition, int64_t start, int64_t end, char *errstr,
                      size_t errstr_size)
{
    int partitions = scan_partition_count(consumer, topic, errstr, errstr_size);
    if (partitions < 0)
        return -1;
    if (partition < 0 || partition >= partitions) {
        snprintf(errstr, errstr_size, "topic %s has no partition %d (it has %d)", topic,
                 (int)partition, partitions);
        return -1;
    }
    int64_t low, high;
    if (scan_watermarks(consumer, topic, partition, &low, &high, errstr, errstr_size) != 0)
        return -1;
    if (end < 0 || end > high)
        end = high;
    if (start < low)
        start = low;
    if (end > start && scan_add(plan, topic, partition, start, end) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

static void scan_draw(int64_t done, int64_t total, int64_t began_ms, int final)
{
    enum { WIDTH = 30 };
    int filled = total > 0 ? (int)(done * WIDTH / total) : WIDTH;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    double elapsed = (double)(clock_monotonic_ms() - began_ms) / 1000.0;
    fprintf(stderr, "\r[%s] %3d%% %lld/%lld messages, %.0f/s ", bar,
            total > 0 ? (int)(done * 100 / total) : 100, (long long)done, (long long)total,
            elapsed > 0 ? (double)done / elapsed : 0.0);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* One scan under way: next[i] is the next offset expected in range i, and a
 * range is open until it reaches its end (never closed with follow). */
struct scan_state {
    const struct scan_plan *plan;
    int follow;
    int64_t *next;
    size_t open_ranges;
    int64_t total, done;
};

/* Adds every range with something to read (every range with follow) to
 * assignment, from its start, and counts what there is to read. */
static void scan_assignment(struct scan_state *state, rd_kafka_topic_partition_list_t *assignment)
{
    const struct scan_plan *plan = state->plan;
    for (size_t i = 0; i < plan->count; i++) {
        const struct scan_range *range = &plan->ranges[i];
        state->next[i] = range->start;
        if (range->end > range->start || state->follow) {
            rd_kafka_topic_partition_list_add(assignment, range->topic, range->partition)->offset =
                range->start;
            state->total += range->end - range->start;
            if (range->end > range->start)
                state->open_ranges++;
        }
    }
}

/* The end of what the partition holds: nothing more will come into range
 * without --follow, even if the range's last offset was never a message of
 * its own. */
static void scan_on_partition_end(struct scan_state *state, const rd_kafka_message_t *message)
{
    const struct scan_plan *plan = state->plan;
    for (size_t i = 0; i < plan->count && !state->follow; i++)
        if (plan->ranges[i].partition == message->partition &&
            strcmp(plan->ranges[i].topic, rd_kafka_topic_name(message->rkt)) == 0 &&
            state->next[i] < plan->ranges[i].end && message->offset >= plan->ranges[i].end - 1) {
            state->next[i] = plan->ranges[i].end;
            state->open_ranges--;
        }
}

/* Hands message to callback when it is in range and moves its range on.
 * Returns the callback's verdict (0 when not called). */
static int scan_on_message(struct scan_state *state, const rd_kafka_message_t *message,
                           scan_fn *callback, void *opaque)
{
    const struct scan_plan *plan = state->plan;
    const char *topic = rd_kafka_topic_name(message->rkt);
    size_t i = 0;
    while (i < plan->count && !(plan->ranges[i].partition == message->partition &&
                                strcmp(plan->ranges[i].topic, topic) == 0))
        i++;
    int wanted = i < plan->count && (state->follow || message->offset < plan->ranges[i].end);
    int verdict = 0;
    if (wanted) {
        state->done++;
        verdict = callback(opaque, message);
    }
    /* Offsets can skip (compaction, transaction markers): a range is
     * done once a message at or beyond its last offset was seen. */
    if (i < plan->count && !state->follow && state->next[i] < plan->ranges[i].end) {
        state->next[i] = message->offset + 1;
        if (state->next[i] >= plan->ranges[i].end)
            state->open_ranges--;
    }
    return verdict;
}

/* Polls until every range is read (with follow: until interrupted), the
 * callback stops it or the broker fails. Returns 0, 1 (stopped by the
 * callback) or -1 with errstr. */
static int scan_consume(rd_kafka_t *consumer, struct scan_state *state, int progress,
                        scan_fn *callback, void *opaque, char *errstr, size_t errstr_size)
{
    int64_t began_ms = clock_monotonic_ms(), drawn_ms = 0;
    int rc = 0;
    while ((state->follow || state->open_ranges > 0) && !scan_interrupted) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 200);
        if (progress && clock_monotonic_ms() - drawn_ms > 200) {
            scan_draw(state->done, state->total, began_ms, 0);
            drawn_ms = clock_monotonic_ms();
        }
        if (!message)
            continue;
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            scan_on_partition_end(state, message);
            rd_kafka_message_destroy(message);
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            snprintf(errstr, errstr_size, "reading %s: %s",
                     message->rkt ? rd_kafka_topic_name(message->rkt) : "Kafka",
                     rd_kafka_message_errstr(message));
            rd_kafka_message_destroy(message);
            rc = -1;
            break;
        }
        int verdict = scan_on_message(state, message, callback, opaque);
        rd_kafka_message_destroy(message);
        if (verdict < 0) {
            snprintf(errstr, errstr_size, "stopped on an error");
            rc = -1;
            break;
        }
        if (verdict > 0) {
            rc = 1;
            break;
        }
    }
    if (progress)
        scan_draw(state->done, state->total, began_ms, 1);
    return rc;
}

int scan_run(rd_kafka_t *consumer, const struct scan_plan *plan, int follow, int progress,
             scan_fn *callback, void *opaque, char *errstr, size_t errstr_size)
{
    int rc = -1;
    struct scan_state state = {.plan = plan, .follow = follow};
    state.next = calloc(plan->count ? plan->count : 1, sizeof *state.next);
    rd_kafka_topic_partition_list_t *assignment =
        rd_kafka_topic_partition_list_new((int)plan->count);
    struct sigaction action = {.sa_handler = scan_on_signal}, old_int, old_term;
    if (!state.next) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    scan_assignment(&state, assignment);
    if (!follow && state.open_ranges == 0) {
        rc = 0;
        goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(consumer, assignment);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "cannot assign partitions: %s", rd_kafka_err2str(err));
        goto out;
    }
    scan_interrupted = 0;
    sigaction(SIGINT, &action, &old_int);
    sigaction(SIGTERM, &action, &old_term);
    rc = scan_consume(consumer, &state, progress, callback, opaque, errstr, errstr_size);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    rd_kafka_assign(consumer, NULL);
out:
    rd_kafka_topic_partition_list_destroy(assignment);
    free(state.next);
    return rc;
}
