/*
 * feed.h - reads one topic whole, every partition, and says when it has
 * read everything the broker had acknowledged by a given moment.
 *
 * The hub's derived state (the objection register, the disclosure ledger)
 * is kept from a topic this way: a consumer assigned to every partition
 * (no consumer group joins, nothing is committed), from positions the
 * owner of the state gives (the beginning, or where a stored copy ended).
 *
 * The rule the owners rely on: in rounds, the feed takes
 * t0 = clock_wall_ms(), asks each partition's high watermark, consumes
 * until its position reached every one, and only then calls caught_up(t0).
 * So every record the broker acknowledged before t0 has been given to
 * apply() before caught_up(t0). While the broker does not answer, no round
 * ends and caught_up is not called.
 *
 * Positions: a compacted topic has gaps in its offsets, so a partition's
 * position is the offset after the last message seen, or the end-of-
 * partition offset librdkafka reports (enable.partition.eof), whichever is
 * later.
 */
#ifndef PLACEHUB_FEED_H
#define PLACEHUB_FEED_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* What the owner of the state does with the topic. All are called on the
 * feed's thread (feed_start) or the caller's (feed_catch_up), never two at
 * once. */
struct feed_handlers {
    /* Where partition p starts: an offset, or RD_KAFKA_OFFSET_BEGINNING.
     * NULL: every partition from the beginning. */
    int64_t (*start)(void *opaque, int partition);
    /* A record. Returns 0 when taken, -1 when unreadable: the feed logs its
     * partition and offset (never its key or value) and goes on. */
    int (*apply)(void *opaque, const rd_kafka_message_t *message);
    /* Everything acknowledged before t0 has been applied; position[p] is
     * the next offset of partition p (-1: nothing read there yet). Returns
     * 0, or -1 when the owner could not keep what it applied (a store that
     * failed): the round does not count, and the same records are given
     * again from the owner's start() positions. */
    int (*caught_up)(void *opaque, int64_t t0, const int64_t *position, int partition_count);
};

struct feed_options {
    const char *name;     /* for logs: "objection register", "disclosure ledger" */
    const char *topic;    /* borrowed */
    const char *group_id; /* librdkafka's assign needs one; never joined */
    int round_ms;         /* the pause between rounds */
    const char *thread;   /* the thread's name in top -H, ps -T (at most 15 bytes) */
    /* A busy topic is read in fewer, larger fetches: the broker answers
     * once it has fetch_min_bytes or fetch_wait_ms passed (0, 0: at once,
     * and at most 50 ms). Each fetch costs the broker and the feed alike. */
    int fetch_min_bytes;
    int fetch_wait_ms;
};

struct feed;

/* Starts a thread that runs rounds until feed_stop. opaque and handlers
 * (borrowed) must outlive the feed, as must config. Returns 0 with *out
 * set, or -1 with errstr (the consumer could not be made, or the topic has
 * no partitions in the cluster's metadata within 10 s). The first round
 * that catches up is logged at info level with the records it applied, the
 * ones it skipped, and the time it took. */
int feed_start(const struct config *config, const struct feed_options *options,
               const struct feed_handlers *handlers, void *opaque, struct feed **out, char *errstr,
               size_t errstr_size);

/* Stops the thread (within about 100 ms), closes the consumer, frees feed.
 * NULL is ignored. */
void feed_stop(struct feed *feed);

/* Progress of a catch-up on the caller's thread: records read so far of
 * the total between the start positions and the watermarks. */
typedef void (*feed_progress_fn)(void *opaque, long long done, long long total);

/* Runs rounds on the caller's thread until one catches up (caught_up was
 * called and returned 0), then returns 0; -1 with errstr when the broker
 * did not answer within timeout_ms, or the topic is unknown. progress (may
 * be NULL) is called every few thousand records. */
int feed_catch_up(const struct config *config, const struct feed_options *options,
                  const struct feed_handlers *handlers, void *opaque, feed_progress_fn progress,
                  void *progress_opaque, int timeout_ms, char *errstr, size_t errstr_size);

#endif
