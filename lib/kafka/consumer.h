/*
 * consumer.h - a consumer that stores its own offsets, as a dispatch
 * partner uses one: its group configuration and fetch tuning, the
 * rebalance callback (eager and cooperative) that says in the log what was
 * assigned and revoked, pausing and resuming the whole assignment, and
 * storing offsets for the automatic commit.
 *
 * IMPORTANT: enable.auto.offset.store is off: an offset moves only when
 * the user calls consumer_store, after the event is safe. librdkafka
 * commits stored offsets every second and on consumer_close.
 *
 * One thread uses a consumer (polls it, pauses it, closes it).
 */
#ifndef PLACEHUB_CONSUMER_H
#define PLACEHUB_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

struct consumer;

/* Sets on conf what such a consumer needs: group.id and client.id (group),
 * manual offset store with a commit every second, the oldest retained event
 * for a new group, bounded prefetch (a few partners must fit in a small
 * footprint) and no eviction for polling seldom. Returns 0, or -1 with
 * errstr naming the property. */
int consumer_conf_set(rd_kafka_conf_t *conf, const char *group, char *errstr, size_t errstr_size);

/* Creates a consumer from conf (taken over, whatever the result), with the
 * rebalance callback set, subscribed to topics (borrowed). When wake_fd is
 * 0 or more, the consumer's queue writes a byte to it when messages arrive
 * into it while empty (to wake a poll(2) loop). Returns 0, or -1 with
 * errstr. */
int consumer_new(rd_kafka_conf_t *conf, const char *const *topics, size_t topic_count, int wake_fd,
                 struct consumer **consumer, char *errstr, size_t errstr_size);

/* The librdkafka handle. Borrowed. */
rd_kafka_t *consumer_handle(const struct consumer *consumer);

/* The next message or event (caller destroys it), or NULL when none came in
 * timeout_ms; serves rebalances. */
rd_kafka_message_t *consumer_poll(struct consumer *consumer, int timeout_ms);

/* Pauses (pause 1) or resumes (0) every partition of the assignment. While
 * paused, partitions assigned later are paused as they come (a rebalance
 * served by consumer_poll), and pausing again pauses the whole assignment
 * again. */
void consumer_pause(struct consumer *consumer, int pause);

/* 1 while paused. */
int consumer_paused(const struct consumer *consumer);

/* Stores offset (the next one to consume) of topic's partition for the
 * next commit. Returns 0, or -1 with errstr: a partition no longer
 * assigned (taken by a rebalance) refuses it, and its next owner consumes
 * those events again. */
int consumer_store(struct consumer *consumer, const char *topic, int32_t partition, int64_t offset,
                   char *errstr, size_t errstr_size);

/* Leaves the group, committing what was stored. The consumer is then only
 * to be destroyed. */
void consumer_close(struct consumer *consumer);

/* Destroys the consumer (without leaving the group first unless
 * consumer_close was called: the group notices after its session ends). */
void consumer_destroy(struct consumer *consumer);

/* partitions as "topic[0,2] other[1]" into out (NUL-terminated, cut short
 * with "..." to fit); "none" for an empty or NULL list. */
void consumer_partitions_text(const rd_kafka_topic_partition_list_t *partitions, char *out,
                              size_t out_size);

#endif
