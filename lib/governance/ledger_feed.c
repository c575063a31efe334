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
#include <string.h>

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
        .thread = "ledger-feed",
        /* A record for every delivery: read in batches. A correction waits
         * for the round after its original's receipt, up to ~0.2 s. */
        .fetch_min_bytes = 256 * 1024,
        .fetch_wait_ms = 100,
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
    if (feed_catch_up(config, &options, &ledger_feed_handlers, ledger, progress, opaque, timeout_ms,
                      errstr, errstr_size) != 0)
        return -1;
    /* The last round may have left its rows uncommitted (ledger_round):
     * a catch-up ends with the file complete. */
    return ledger_commit(ledger, NULL, 0, errstr, errstr_size);
}

/* ---- subject access, complete up to now ------------------------------------ */

/* One row of the answer, its strings in storage (owned). */
struct ledger_row {
    struct ledger_entry entry;
    char *storage;
};

/* What a visitor gathers: the ledger's rows of the person, then the
 * person's records after the stored positions, read from the topic. */
struct ledger_gather {
    struct ledger *ledger;
    const char *person_ref;
    int64_t from_ms, to_ms;
    struct ledger_row *rows;
    size_t count, capacity;
    int failed; /* out of memory */
};

/* Adds a copy of entry (its strings packed into one allocation). */
static void ledger_gather_add(struct ledger_gather *gather, const struct ledger_entry *entry)
{
    if (gather->count == gather->capacity) {
        size_t capacity = gather->capacity ? gather->capacity * 2 : 64;
        struct ledger_row *grown = realloc(gather->rows, capacity * sizeof *grown);
        if (!grown) {
            gather->failed = 1;
            return;
        }
        gather->rows = grown;
        gather->capacity = capacity;
    }
    struct ledger_row *row = &gather->rows[gather->count];
    row->entry = *entry;
    const char **members[] = {&row->entry.record,       &row->entry.partner,
                              &row->entry.event_id,     &row->entry.event_type,
                              &row->entry.source_topic, &row->entry.outcome,
                              &row->entry.agreement,    &row->entry.agreement_version,
                              &row->entry.fields,       &row->entry.reason,
                              &row->entry.correction,   &row->entry.corrects,
                              &row->entry.via,          &row->entry.scope,
                              &row->entry.state,        &row->entry.recorded_by,
                              &row->entry.source};
    size_t size = 1;
    for (size_t i = 0; i < sizeof members / sizeof *members; i++)
        size += *members[i] ? strlen(*members[i]) + 1 : 0;
    char *cursor = row->storage = malloc(size);
    if (!cursor) {
        gather->failed = 1;
        return;
    }
    for (size_t i = 0; i < sizeof members / sizeof *members; i++) {
        if (!*members[i])
            continue;
        size_t len = strlen(*members[i]) + 1;
        memcpy(cursor, *members[i], len);
        *members[i] = cursor;
        cursor += len;
    }
    gather->count++;
}

static int ledger_gather_row(void *opaque, const struct ledger_entry *entry)
{
    ledger_gather_add(opaque, entry);
    return 0;
}

static int64_t ledger_gather_start(void *opaque, int partition)
{
    struct ledger_gather *gather = opaque;
    int64_t next = ledger_position(gather->ledger, partition);
    return next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
}

/* A record after the stored positions: kept when it is the person's. */
static int ledger_gather_apply(void *opaque, const rd_kafka_message_t *message)
{
    struct ledger_gather *gather = opaque;
    struct ledger_record record;
    struct ledger_entry entry;
    char errstr[256];
    size_t ref_len = strlen(gather->person_ref);
    /* The Kafka key is the person reference: most records are skipped
     * without reading them. */
    if (message->key &&
        (message->key_len != ref_len || memcmp(message->key, gather->person_ref, ref_len) != 0))
        return 0;
    if (!message->payload || ledger_record_parse(message->payload, message->len, &record) != 0)
        return -1;
    char *storage = malloc(message->len + 64);
    int rc = storage ? ledger_entry_of_record(&record, message->partition, message->offset, &entry,
                                              storage, message->len + 64, errstr, sizeof errstr)
                     : -1;
    if (rc == 0 && record.person_ref.text && record.person_ref.len == ref_len &&
        memcmp(record.person_ref.text, gather->person_ref, ref_len) == 0 &&
        entry.at_ms >= gather->from_ms && entry.at_ms < gather->to_ms)
        ledger_gather_add(gather, &entry);
    free(storage);
    ledger_record_clear(&record);
    return rc < 0 ? -1 : 0;
}

static int ledger_gather_caught_up(void *opaque, int64_t t0, const int64_t *position,
                                   int partition_count)
{
    (void)opaque;
    (void)t0;
    (void)position;
    (void)partition_count;
    return 0; /* a visitor writes nothing */
}

static const struct feed_handlers ledger_gather_handlers = {
    .start = ledger_gather_start,
    .apply = ledger_gather_apply,
    .caught_up = ledger_gather_caught_up,
};

/* Time order, audit order within a millisecond. */
static int ledger_row_compare(const void *a, const void *b)
{
    const struct ledger_entry *x = &((const struct ledger_row *)a)->entry;
    const struct ledger_entry *y = &((const struct ledger_row *)b)->entry;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    if (x->audit_partition != y->audit_partition)
        return x->audit_partition < y->audit_partition ? -1 : 1;
    return x->audit_offset < y->audit_offset ? -1 : x->audit_offset > y->audit_offset;
}

long long ledger_subject_current(const struct config *config, struct ledger *ledger,
                                 const char *person_ref, int64_t from_ms, int64_t to_ms,
                                 int (*each)(void *opaque, const struct ledger_entry *entry),
                                 void *opaque, feed_progress_fn progress, void *progress_opaque,
                                 int timeout_ms, char *errstr, size_t errstr_size)
{
    if (ledger_is_keeper(ledger)) {
        if (ledger_catch_up(config, ledger, progress, progress_opaque, timeout_ms, errstr,
                            errstr_size) != 0)
            return -1;
        return ledger_subject(ledger, person_ref, from_ms, to_ms, each, opaque, errstr,
                              errstr_size);
    }
    struct ledger_gather gather = {
        .ledger = ledger, .person_ref = person_ref, .from_ms = from_ms, .to_ms = to_ms};
    const struct feed_options options = ledger_feed_options(config);
    long long given = -1;
    /* The tail first, from the positions stored now: rows the keeper
     * commits meanwhile are in both, and given once below. */
    if (feed_catch_up(config, &options, &ledger_gather_handlers, &gather, progress, progress_opaque,
                      timeout_ms, errstr, errstr_size) != 0 ||
        ledger_subject(ledger, person_ref, from_ms, to_ms, ledger_gather_row, &gather, errstr,
                       errstr_size) < 0)
        goto out;
    if (gather.failed) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    if (gather.count) /* qsort may not be given NULL, even for nothing */
        qsort(gather.rows, gather.count, sizeof *gather.rows, ledger_row_compare);
    given = 0;
    for (size_t i = 0; i < gather.count; i++) {
        const struct ledger_entry *entry = &gather.rows[i].entry;
        if (i > 0 && entry->audit_partition == gather.rows[i - 1].entry.audit_partition &&
            entry->audit_offset == gather.rows[i - 1].entry.audit_offset)
            continue; /* in the tail and committed since */
        given++;
        if (each(opaque, entry) != 0)
            break;
    }
out:
    for (size_t i = 0; i < gather.count; i++)
        free(gather.rows[i].storage);
    free(gather.rows);
    return given;
}
