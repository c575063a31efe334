/*
 * objection_feed.h - keeps a struct objection_register current from the
 * objections topic (docs/governance.md, "The objection register").
 *
 * A thread with its own consumer, assigned (no consumer group, nothing
 * committed) to every partition of governance.objections_topic from the
 * beginning, applies every record. The ordering rule: in rounds (every
 * ~50 ms, at once after a round that applied records) it takes
 * t0 = clock_wall_ms(), asks each partition's high watermark, consumes
 * until it reached every one, and only then publishes current_ms = t0. So
 * any objection change the broker acknowledged before t0 is in the register
 * once objection_register_current_ms() >= t0. While the broker does not
 * answer, current_ms stands still.
 */
#ifndef PLACEHUB_OBJECTION_FEED_H
#define PLACEHUB_OBJECTION_FEED_H

#include <stddef.h>

#include "core/config.h"
#include "governance/objection.h"

struct objection_feed;

/* Starts the feed of reg (borrowed: it must outlive the feed, as must
 * config). Returns 0 with *feed set, or -1 with errstr (the consumer could
 * not be made, or the topic has no partitions in the cluster's metadata
 * within 10 s). Returns before the first catch-up: current_ms is 0 until
 * then; the catch-up is logged once (records, persons, time taken). */
int objection_feed_start(const struct config *config, struct objection_register *reg,
                         struct objection_feed **feed, char *errstr, size_t errstr_size);

/* Stops the thread (within about 100 ms), closes the consumer and frees
 * feed. The register keeps what was applied. NULL is ignored. */
void objection_feed_stop(struct objection_feed *feed);

#endif
