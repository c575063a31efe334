/*
 * topics.c - `placehub-ctl topics`: the hub's topics (the configured ones,
 * the dead-letter and audit topics, the objection register) with their
 * partitions, how many messages they hold, and when the first and the last
 * of those were written.
 *
 * Cheap by construction: the counts are the partitions' watermarks (high
 * minus low: exact for the event topics, an upper bound on a compacted
 * one), and the times come from reading one message at each end of each
 * partition, never the whole topic.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "schema/codec.h"

static const char topics_help[] =
    "Usage: placehub-ctl topics [--json]\n"
    "\n"
    "The hub's topics: the event topics and the others configured under topics:,\n"
    "dispatch.dead_letter_topic, dispatch.audit_topic and\n"
    "governance.objections_topic. For each: its partitions, the messages it holds\n"
    "(from the partitions' offsets; on the compacted objections topic an upper\n"
    "bound), and when the earliest and the latest of them were written (Kafka\n"
    "timestamps; one message read at each end of each partition). A topic not\n"
    "created yet is listed as such.\n"
    "\n"
    "Options:\n"
    "      --json           one JSON document per topic\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 done, 1 error (configuration, broker unreachable), 2 bad\n"
    "command line.\n";

struct topic_row {
    const char *name; /* borrowed from the configuration */
    const char *role; /* "events", "hl7 raw", "dead letters", ... */
    int partitions;   /* -1: not created */
    long long messages;
    int64_t earliest_ms, latest_ms; /* -1: none */
};

static int topics_visit(void *opaque, const rd_kafka_message_t *message)
{
    struct topic_row *rows = opaque;
    rd_kafka_timestamp_type_t type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    const char *topic = rd_kafka_topic_name(message->rkt);
    for (struct topic_row *row = rows; row->name && timestamp >= 0; row++)
        if (strcmp(row->name, topic) == 0) {
            if (row->earliest_ms < 0 || timestamp < row->earliest_ms)
                row->earliest_ms = timestamp;
            if (timestamp > row->latest_ms)
                row->latest_ms = timestamp;
        }
    return 0;
}

/* Partitions and counts of one topic; its first messages added to
 * plans[0], its last ones to plans[1] (a consumer reads a partition at one
 * place at a time: two scans). */
static int topics_measure(rd_kafka_t *consumer, struct topic_row *row, struct scan_plan *plans,
                          char *errstr, size_t errstr_size)
{
    row->partitions = scan_partition_count(consumer, row->name, errstr, errstr_size);
    /* A topic the broker does not know is listed as not created (the
     * objections topic is made by the first objection); an unreachable
     * broker is an error (scan_partition_count says "is the broker
     * running?" only then). */
    if (row->partitions < 0)
        return strstr(errstr, "is the broker running") ? -1 : 0;
    for (int32_t p = 0; p < row->partitions; p++) {
        int64_t low, high;
        if (scan_watermarks(consumer, row->name, p, &low, &high, errstr, errstr_size) != 0)
            return -1;
        row->messages += high - low;
        if (high > low && (scan_plan_offsets(consumer, &plans[0], row->name, p, low, low + 1,
                                             errstr, errstr_size) != 0 ||
                           scan_plan_offsets(consumer, &plans[1], row->name, p, high - 1, high,
                                             errstr, errstr_size) != 0))
            return -1;
    }
    return 0;
}

static void topics_print(const struct ctl *ctl, const struct topic_row *rows)
{
    static const char *const headings[] = {"TOPIC",    "ROLE",     "PARTITIONS",
                                           "MESSAGES", "EARLIEST", "LATEST"};
    struct table *table = ctl->json ? NULL : table_new(6, headings);
    for (const struct topic_row *row = rows; row->name; row++) {
        char partitions[16], messages[32], earliest[48] = "", latest[48] = "";
        snprintf(partitions, sizeof partitions, "%d", row->partitions);
        snprintf(messages, sizeof messages, "%lld", row->messages);
        if (row->earliest_ms >= 0)
            codec_timestamp_format(row->earliest_ms, earliest, sizeof earliest);
        if (row->latest_ms >= 0)
            codec_timestamp_format(row->latest_ms, latest, sizeof latest);
        if (ctl->json) {
            output_json_line(json_pack(
                "{s:s,s:s,s:b,s:i,s:I,s:s?,s:s?}", "topic", row->name, "role", row->role, "created",
                row->partitions >= 0, "partitions", row->partitions < 0 ? 0 : row->partitions,
                "messages", (json_int_t)row->messages, "earliest", earliest[0] ? earliest : NULL,
                "latest", latest[0] ? latest : NULL));
            continue;
        }
        const char *cells[] = {row->name,
                               row->role,
                               row->partitions < 0 ? "not created" : partitions,
                               row->partitions < 0 ? NULL : messages,
                               earliest[0] ? earliest : NULL,
                               latest[0] ? latest : NULL};
        table_add(table, cells);
    }
    if (table)
        table_print(table, stdout);
}

/* The rows: every configured topic, then the hub's own, each once. */
static size_t topics_rows(const struct config *config, struct topic_row *rows, size_t max)
{
    size_t count = 0;
    const struct {
        const char *name, *role;
    } own[] = {{config->dispatch.dead_letter_topic, "dead letters"},
               {config->dispatch.audit_topic, "audit records"},
               {config->governance.objections_topic, "objection register"}};
    for (size_t i = 0; i < config->topic_count && count + 1 < max; i++) {
        const char *name = config->topics[i].name;
        int raw = config->mllp.raw_topic && strcmp(name, config->mllp.raw_topic) == 0;
        rows[count++] =
            (struct topic_row){name, raw ? "HL7 messages as received" : "events", -1, 0, -1, -1};
    }
    for (size_t i = 0; i < sizeof own / sizeof *own && count + 1 < max; i++) {
        int listed = 0;
        for (size_t r = 0; r < count; r++)
            listed |= strcmp(rows[r].name, own[i].name) == 0;
        if (!listed)
            rows[count++] = (struct topic_row){own[i].name, own[i].role, -1, 0, -1, -1};
    }
    rows[count] = (struct topic_row){0};
    return count;
}

int ctl_topics(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {CTL_COMMON_LONG, {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1)
        ctl_common_option(ctl, option, topics_help);
    if (optind != argc) {
        fprintf(stderr, "placehub-ctl topics: unexpected argument '%s'\n", argv[optind]);
        return CTL_EXIT_USAGE;
    }
    if (ctl_load(ctl) != 0)
        return CTL_EXIT_ERROR;
    struct topic_row rows[72];
    size_t count = topics_rows(ctl->config, rows, sizeof rows / sizeof *rows);
    char errstr[512];
    struct scan_plan plans[2] = {{0}, {0}};
    int rc = CTL_EXIT_ERROR;
    rd_kafka_t *consumer = ctl_consumer(ctl->config, NULL, errstr, sizeof errstr);
    if (!consumer)
        goto out;
    for (size_t i = 0; i < count; i++)
        if (topics_measure(consumer, &rows[i], plans, errstr, sizeof errstr) != 0)
            goto out;
    for (int end = 0; end < 2; end++)
        if (scan_run(consumer, &plans[end], 0, 0, topics_visit, rows, errstr, sizeof errstr) < 0)
            goto out;
    topics_print(ctl, rows);
    rc = CTL_EXIT_OK;
out:
    if (rc != CTL_EXIT_OK)
        fprintf(stderr, "placehub-ctl topics: %s\n", errstr);
    scan_plan_free(&plans[0]);
    scan_plan_free(&plans[1]);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    return rc;
}
