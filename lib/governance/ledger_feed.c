/*
 * ledger_feed.c - keeps the disclosure ledger current from the audit topic
 * (kafka/feed.h): from the positions the ledger stored (the beginning of
 * every partition when the file is new, which is how a deleted ledger is
 * rebuilt), every record is added, and each round's caught_up(t0) is
 * ledger_round: it publishes ledger_current_ms = t0 and commits the rows
 * with the positions now and then (see ledger.h for why not every round,
 * and what a failed commit does to current_ms).
 */
#include "governance/ledger.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "kafka/feed.h"

/* Between rounds that found nothing new. */
#define LEDGER_FEED_ROUND_MS 50

struct ledger_feed {
    struct ledger *ledger; /* borrowed */
    struct feed *feed;
};

static int64_t ledger_feed_start_at(void *opaque, int partition)
{
    int64_t next = ledger_position(opaque, partition);
    return next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
}

static int ledger_feed_apply(void *opaque, const rd_kafka_message_t *message)
{
    char errstr[256];
    int result = ledger_add(opaque, message->partition, message->offset, message->payload,
                            message->payload ? message->len : 0, errstr, sizeof errstr);
    if (result < 0)
        log_debug("disclosure ledger: %s", errstr);
    return result < 0 ? -1 : 0;
}

static int ledger_feed_caught_up(void *opaque, int64_t t0, const int64_t *position,
                                 int partition_count)
{
    char errstr[512];
    if (ledger_round(opaque, t0, position, partition_count, errstr, sizeof errstr) != 0) {
        log_error("%s", errstr);
        return -1;
    }
    return 0;
}

static const struct feed_handlers ledger_feed_handlers = {
    .start = ledger_feed_start_at,
    .apply = ledger_feed_apply,
    .caught_up = ledger_feed_caught_up,
};

static struct feed_options ledger_feed_options(const struct config *config)
{
    const struct feed_options options = {
        .name = "disclosure ledger",
        .topic = config->dispatch.audit_topic,
        .group_id = "placehub.ledger-feed",
        .round_ms = LEDGER_FEED_ROUND_MS,
    };
    return options;
}

int ledger_feed_start(const struct config *config, struct ledger *ledger, struct ledger_feed **out,
                      char *errstr, size_t errstr_size)
{
    struct ledger_feed *ledger_feed = calloc(1, sizeof *ledger_feed);
    *out = NULL;
    if (!ledger_feed) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    ledger_feed->ledger = ledger;
    const struct feed_options options = ledger_feed_options(config);
    if (feed_start(config, &options, &ledger_feed_handlers, ledger, &ledger_feed->feed, errstr,
                   errstr_size) != 0) {
        free(ledger_feed);
        return -1;
    }
    *out = ledger_feed;
    return 0;
}

void ledger_feed_stop(struct ledger_feed *ledger_feed)
{
    if (!ledger_feed)
        return;
    feed_stop(ledger_feed->feed);
    free(ledger_feed);
}

int ledger_catch_up(const struct config *config, struct ledger *ledger, feed_progress_fn progress,
                    void *opaque, int timeout_ms, char *errstr, size_t errstr_size)
{
    const struct feed_options options = ledger_feed_options(config);
    if (feed_catch_up(config, &options, &ledger_feed_handlers, ledger, progress, opaque,
                      timeout_ms, errstr, errstr_size) != 0)
        return -1;
    /* The last round may have left its rows uncommitted (ledger_round):
     * a catch-up ends with the file complete. */
    return ledger_commit(ledger, NULL, 0, errstr, errstr_size);
}
