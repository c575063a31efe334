/*
 * ctl.h - placehub-ctl, the operator's command: what the subcommands share.
 *
 * Every subcommand reads Kafka directly with its own consumer handle that
 * belongs to no consumer group (partitions are assigned, never subscribed,
 * and nothing is committed), so looking never moves anyone's progress.
 * Writing is limited to: receipts on the audit topic and "redriven" markers
 * on the dead-letter topic, both from redelivery (redeliver.c); objection
 * changes and their audit records (objection.c).
 */
#ifndef PLACEHUB_CTL_H
#define PLACEHUB_CTL_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"
#include "schema/registry.h"

/* Exit codes, documented in --help and docs/operations.md. */
enum {
    CTL_EXIT_OK = 0,          /* done; status: nothing needs attention */
    CTL_EXIT_ERROR = 1,       /* could not do it: configuration, broker, file */
    CTL_EXIT_USAGE = 2,       /* bad command line */
    CTL_EXIT_ATTENTION = 3,   /* done, but: status found a problem, nothing matched, or some
                                 redeliveries failed */
    CTL_EXIT_INCOMPATIBLE = 4 /* schemas check: the new version breaks readers */
};

/* What every subcommand gets: the options common to all of them. */
struct ctl {
    const char *config_path;
    struct config *config;     /* loaded by ctl_load */
    struct registry *registry; /* loaded by ctl_registry, on first use */
    int json;                  /* --json: machine-readable output */
    int progress;              /* stderr is a terminal and --quiet was not given */
    int quiet;                 /* --quiet: no progress bar, no summary on stderr */
};

/* Options every subcommand takes; getopt_long's short options string for
 * them is CTL_COMMON_SHORT. */
#define CTL_COMMON_SHORT "c:hq"
#define CTL_COMMON_LONG                                                                            \
    {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'J'},                    \
        {"quiet", no_argument, NULL, 'q'},                                                         \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* Handles a common option (returns 0), prints help and exits 0 for -h, or
 * says how to get help and exits 2 for an unknown one. */
int ctl_common_option(struct ctl *ctl, int option, const char *help);

/* Loads the configuration; prints the error and returns -1 on failure. */
int ctl_load(struct ctl *ctl);

/* The schema registry (loaded once). NULL after printing the error. */
struct registry *ctl_registry(struct ctl *ctl);

/* A consumer handle in no group, for assign-only reading. NULL with errstr. */
rd_kafka_t *ctl_consumer(const struct config *config, const char *group, char *errstr,
                         size_t errstr_size);

/* An NHS number from the command line, as people type it ("9990123454",
 * "999 012 3454", "999-012-3454"; nhs_number_normalise, lib/core/nhs.h),
 * into out (out_size at least 11). Returns 0, or prints "placehub-ctl
 * WHAT REASON" (e.g. "replay: --nhs" "is not a valid NHS number: the check
 * digit ...": which character, grouping or check failed, never the number)
 * and returns CTL_EXIT_USAGE. */
int ctl_nhs_number(const char *what, const char *text, char *out, size_t out_size);

/* Checks what the subcommands will need beyond the file: the schemas and
 * agreements, every partner's connector, credentials and pseudonym keys
 * (dlq redrive and replay --redeliver deliver as dispatch does), the
 * broker's secrets and governance.person_key. Prints each problem and
 * returns CTL_EXIT_ERROR, or "configuration OK" and CTL_EXIT_OK. */
int ctl_check_config(struct ctl *ctl, int argc, char **argv);

/* Parses "2026-11-22T10:15:30Z", "2026-11-22T10:15:30.000Z", "2026-11-22"
 * (midnight UTC), or milliseconds since the epoch. 0 or -1. */
int ctl_parse_time(const char *text, int64_t *millis);

/* ---- scan.c: reading ranges of topics ---------------------------------- */

struct scan_range {
    char *topic;
    int32_t partition;
    int64_t start; /* first offset to read */
    int64_t end;   /* one past the last offset to read; INT64_MAX with follow */
};

struct scan_plan {
    struct scan_range *ranges;
    size_t count;
};

/* Adds, for each partition of each topic, the range of messages whose
 * Kafka timestamp is in [from_ms, to_ms) (-1: unbounded on that side),
 * found with rd_kafka_offsets_for_times; to_ms -1 means up to the current
 * end. Returns 0 or -1 with errstr (unknown topic, broker unreachable). */
int scan_plan_times(rd_kafka_t *consumer, struct scan_plan *plan, const char *const *topics,
                    size_t topic_count, int64_t from_ms, int64_t to_ms, char *errstr,
                    size_t errstr_size);

/* Adds the last `last` messages of each partition of topic (all of them when
 * last < 0). */
int scan_plan_tail(rd_kafka_t *consumer, struct scan_plan *plan, const char *topic, int64_t last,
                   char *errstr, size_t errstr_size);

/* Adds one explicit range; end -1 means up to the current end. */
int scan_plan_offsets(rd_kafka_t *consumer, struct scan_plan *plan, const char *topic,
                      int32_t partition, int64_t start, int64_t end, char *errstr,
                      size_t errstr_size);

void scan_plan_free(struct scan_plan *plan);

/* The partition count of topic, or -1 with errstr (unknown topic, broker
 * unreachable). */
int scan_partition_count(rd_kafka_t *consumer, const char *topic, char *errstr, size_t errstr_size);

/* The low and high watermarks of topic/partition: 0, or -1 with errstr. */
int scan_watermarks(rd_kafka_t *consumer, const char *topic, int32_t partition, int64_t *low,
                    int64_t *high, char *errstr, size_t errstr_size);

/* Called for each message in range: 0 to go on, 1 to stop early, -1 on error. */
typedef int scan_fn(void *opaque, const rd_kafka_message_t *message);

/* Reads every planned range (follow: then waits for more until SIGINT or
 * SIGTERM). Partitions are read concurrently; within a partition in offset
 * order. Draws a progress bar on stderr when progress is set. Returns 0, 1
 * when the callback stopped it, or -1 with errstr. */
int scan_run(rd_kafka_t *consumer, const struct scan_plan *plan, int follow, int progress,
             scan_fn *callback, void *opaque, char *errstr, size_t errstr_size);

/* ---- decode.c: messages as JSON ----------------------------------------- */

/* The message's value as JSON: an Avro event decoded to plain JSON, a JSON
 * document as is, or {"text": ...}/{"bytes": n} otherwise. New reference;
 * *schema_id is set for Avro (else -1). */
json_t *decode_value(struct registry *registry, const rd_kafka_message_t *message, int *schema_id);

/* The same from bytes. */
json_t *decode_bytes(struct registry *registry, const unsigned char *data, size_t len,
                     int *schema_id);

/* {"topic", "partition", "offset", "timestamp", "headers"?, "value"} (new ref). */
json_t *decode_message(struct registry *registry, const rd_kafka_message_t *message);

/* A header's value as a NUL-terminated string into out ("" when absent). */
const char *decode_header(const rd_kafka_message_t *message, const char *name, char *out,
                          size_t out_size);

/* ---- redeliver.c: sending to one partner, from placehub-ctl ------------- */

struct redeliver;

/* Where the event being sent again was read: its receipt names it, and its
 * Kafka key (the person key) keys the receipt. Borrowed. */
struct redeliver_source {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
};

/* A delivery engine for one partner (its connector, transport settings,
 * credentials) and a producer for receipts. NULL with errstr. */
struct redeliver *redeliver_new(const struct config *config, const char *partner_id, char *errstr,
                                size_t errstr_size);

/* Delivers body (the event as plain JSON) to the partner, retrying passing
 * failures up to `attempts` times with backoff, and writes a receipt to the
 * audit topic (with "via": via, and the source message's coordinates).
 * Returns 1 when delivered, 0 when not (reason filled), -1 when the receipt
 * could not be written. */
int redeliver_send(struct redeliver *redeliver, const struct redeliver_source *source,
                   const char *event_type, const char *event_id, const char *body, const char *via,
                   json_t *extra, int attempts, char *reason, size_t reason_size);

/* The producer, to write other records (e.g. redrive markers). Borrowed. */
struct producer *redeliver_producer(struct redeliver *redeliver);

/* Names who asked for the redelivery in its records ("actor"): the
 * console's logged-in user, or --actor; by default the login name. */
void redeliver_set_actor(struct redeliver *redeliver, const char *actor);

void redeliver_destroy(struct redeliver *redeliver);

/* ---- delivered.c: the disclosure ledger, asked before sending again ----- */

struct ledger;

/* Opens the disclosure ledger at path (NULL: governance.ledger) as a
 * visitor (lib/governance/ledger.h). 0, or -1 with errstr. Close with
 * ledger_close. */
int ctl_ledger_open(struct ctl *ctl, const char *path, struct ledger **ledger, char *errstr,
                    size_t errstr_size);

/* A delivery found on record. */
struct ctl_delivery {
    char at[48];  /* when it completed */
    char via[16]; /* "dispatch", "redrive" or "replay" */
};

/* Whether partner has a "delivered" receipt for event_id at or after
 * since_ms, about the person whose reference is key (the event's Kafka
 * key). Returns 1 with *found filled, 0 when none (or the key is not a
 * person reference), -1 with errstr when the ledger or the audit topic
 * could not be read. */
int ctl_delivered_since(struct ctl *ctl, struct ledger *ledger, const void *key, size_t key_len,
                        const char *partner, const char *event_id, int64_t since_ms,
                        struct ctl_delivery *found, char *errstr, size_t errstr_size);

/* ---- dlq.c -------------------------------------------------------------- */

/* Counts outstanding (not redriven) dead letters per partner into counts
 * (partner id -> integer). Returns 0 or -1 with errstr. */
int dlq_outstanding(struct ctl *ctl, json_t *counts, char *errstr, size_t errstr_size);

/* ---- the subcommands ---------------------------------------------------- */

int ctl_status(struct ctl *ctl, int argc, char **argv);
int ctl_tail(struct ctl *ctl, int argc, char **argv);
int ctl_dlq(struct ctl *ctl, int argc, char **argv);
int ctl_replay(struct ctl *ctl, int argc, char **argv);
int ctl_audit(struct ctl *ctl, int argc, char **argv);
int ctl_schemas(struct ctl *ctl, int argc, char **argv);
int ctl_objection(struct ctl *ctl, int argc, char **argv);
int ctl_subject_access(struct ctl *ctl, int argc, char **argv);
int ctl_topics(struct ctl *ctl, int argc, char **argv);

/* ---- output.c: tables for people --------------------------------------- */

struct table;
struct table *table_new(size_t columns, const char *const *headings);
/* Adds a row of `columns` strings (copied; NULL prints "-"). */
void table_add(struct table *table, const char *const *cells);
/* Prints with columns aligned, then frees. */
void table_print(struct table *table, FILE *out);

/* Prints json as one compact line on stdout. Takes ownership. */
void output_json_line(json_t *json);

#endif
