/*
 * objection_feed.c - keeps the objection register current from the
 * objections topic: a kafka/feed.h feed from the beginning of every
 * partition (every start reads the whole topic), whose caught_up(t0)
 * publishes objection_register_current_ms = t0 (see objection_feed.h for
 * the ordering rule dispatch relies on). Records the register refuses are
 * logged by the feed with partition and offset (never their key: it holds
 * the person reference) and skipped.
 */
#include "governance/objection_feed.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "kafka/feed.h"

/* Between rounds that found nothing new. */
#define OBJECTION_FEED_ROUND_MS 50

struct objection_feed {
    struct objection_register *reg; /* borrowed */
    struct feed *feed;
    int caught_up;
};

static int objection_feed_apply(void *opaque, const rd_kafka_message_t *message)
{
    struct objection_feed *objection_feed = opaque;
    return objection_register_apply(objection_feed->reg, message->key, message->key_len,
                                    message->payload, message->payload ? message->len : 0);
}

static int objection_feed_caught_up(void *opaque, int64_t t0, const int64_t *position,
                                    int partition_count)
{
    struct objection_feed *objection_feed = opaque;
    (void)position;
    (void)partition_count;
    objection_register_set_current_ms(objection_feed->reg, t0);
    if (!objection_feed->caught_up) {
        objection_feed->caught_up = 1;
        log_info("objection register holds persons=%zu",
                 objection_register_person_count(objection_feed->reg));
    }
    return 0;
}

static const struct feed_handlers objection_feed_handlers = {
    .start = NULL, /* the whole topic at every start */
    .apply = objection_feed_apply,
    .caught_up = objection_feed_caught_up,
};

int objection_feed_start(const struct config *config, struct objection_register *reg,
                         struct objection_feed **out, char *errstr, size_t errstr_size)
{
    struct objection_feed *objection_feed = calloc(1, sizeof *objection_feed);
    *out = NULL;
    if (!objection_feed) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    objection_feed->reg = reg;
    const struct feed_options options = {
        .name = "objection register",
        .topic = config->governance.objections_topic,
        .group_id = "placehub.objection-feed",
        .round_ms = OBJECTION_FEED_ROUND_MS,
        .thread = "objection-feed",
    };
    if (feed_start(config, &options, &objection_feed_handlers, objection_feed,
                   &objection_feed->feed, errstr, errstr_size) != 0) {
        free(objection_feed);
        return -1;
    }
    *out = objection_feed;
    return 0;
}

void objection_feed_stop(struct objection_feed *objection_feed)
{
    if (!objection_feed)
        return;
    feed_stop(objection_feed->feed);
    free(objection_feed);
}
