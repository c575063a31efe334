/*
 * audit.c - `placehub-ctl audit person NHS_NUMBER`: every event about a
 * person, and every disclosure (delivery receipt) or suppression of it.
 *
 * Two passes: the event topics are read and decoded, and the events whose
 * person.nhs_number matches give a set of event ids; then the audit topic
 * is read for records with those ids. The person key's hashing is not used
 * (it is a keyed HMAC whose key ctl need not hold), so the first pass reads
 * every event: the cost of an exact answer. Nothing here is logged.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "ctl.h"

static const char audit_help[] =
    "Usage: placehub-ctl audit person NHS_NUMBER [--json]\n"
    "\n"
    "NHS_NUMBER as 10 digits or grouped 3-3-4 with spaces or hyphens\n"
    "(\"999 012 3454\", \"999-012-3454\"; quote it when spaced).\n"
    "\n"
    "Who received what about this person, and when: every event about the person\n"
    "(person.nhs_number) on the event topics, then every record the audit topic\n"
    "holds about those events: deliveries (partner, time, outcome, agreement and\n"
    "fields disclosed, when recorded), suppressions (held back under an agreement,\n"
    "and why: the REASON column), and redeliveries by placehub-ctl (\"via\" redrive\n"
    "or replay). Both lists are in time order (events by when the hub accepted\n"
    "them, records by when they happened).\n"
    "\n"
    "A row with outcome \"delivered\" is a disclosure: the partner has the event.\n"
    "\"dead_lettered\" and \"failed\" were not received; \"suppressed\" was withheld.\n"
    "\n"
    "Options:\n"
    "      --json           one JSON document: {\"events\": [...], \"records\": [...]}\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -q, --quiet          no progress bar\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 done, 1 error, 2 bad command line or NHS number, 3 no event\n"
    "about this person.\n"
    "\n"
    "The output holds personal data (the NHS number and what was shared): keep it\n"
    "where the audit request says it belongs.\n";

struct audit {
    struct ctl *ctl;
    const char *nhs;
    json_t *events;  /* array */
    json_t *ids;     /* event id -> index in events */
    json_t *records; /* array */
};

static int audit_event(void *opaque, const rd_kafka_message_t *message)
{
    struct audit *audit = opaque;
    int schema_id;
    json_t *event = decode_value(audit->ctl->registry, message, &schema_id);
    const char *nhs =
        json_string_value(json_object_get(json_object_get(event, "person"), "nhs_number"));
    const char *event_id = json_string_value(json_object_get(event, "event_id"));
    if (schema_id >= 0 && nhs && event_id && strcmp(nhs, audit->nhs) == 0) {
        rd_kafka_timestamp_type_t type;
        char recorded[48] = "";
        int64_t timestamp = rd_kafka_message_timestamp(message, &type);
        if (timestamp >= 0)
            codec_timestamp_format(timestamp, recorded, sizeof recorded);
        json_t *row = json_pack(
            "{s:s,s:s,s:O?,s:O?,s:O?,s:s,s:{s:s,s:i,s:I}}", "event_id", event_id, "event_type",
            rd_kafka_topic_name(message->rkt), "occurred_at", json_object_get(event, "occurred_at"),
            "source_ods_code", json_object_get(event, "source_ods_code"), "priority",
            json_object_get(event, "priority"), "accepted_at", recorded, "source", "topic",
            rd_kafka_topic_name(message->rkt), "partition", (int)message->partition, "offset",
            (json_int_t)message->offset);
        if (row) {
            json_object_set_new(audit->ids, event_id, json_integer(0));
            json_array_append_new(audit->events, row);
        }
    }
    json_decref(event);
    return 0;
}

static int audit_record(void *opaque, const rd_kafka_message_t *message)
{
    struct audit *audit = opaque;
    json_t *record = json_loadb(message->payload, message->len, 0, NULL);
    const char *event_id = json_string_value(json_object_get(record, "event_id"));
    if (event_id && json_object_get(audit->ids, event_id)) {
        /* Older receipts have no "record" (delivery) or "at" field. */
        if (!json_object_get(record, "record"))
            json_object_set_new(record, "record", json_string("delivery"));
        if (!json_object_get(record, "outcome") &&
            strcmp(json_string_value(json_object_get(record, "record")), "suppression") == 0)
            json_object_set_new(record, "outcome", json_string("suppressed"));
        json_array_append(audit->records, record);
    }
    json_decref(record);
    return 0;
}

static int audit_scan(struct audit *audit, const char *const *topics, size_t count, scan_fn *fn,
                      char *errstr, size_t errstr_size)
{
    struct scan_plan plan = {0};
    rd_kafka_t *consumer = ctl_consumer(audit->ctl->config, NULL, errstr, errstr_size);
    int rc = -1;
    if (consumer &&
        scan_plan_times(consumer, &plan, topics, count, -1, -1, errstr, errstr_size) == 0 &&
        scan_run(consumer, &plan, 0, audit->ctl->progress, fn, audit, errstr, errstr_size) >= 0)
        rc = 0;
    scan_plan_free(&plan);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    return rc;
}

static const char *audit_text(json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

/* When a row happened: an audit record's completed_at (deliveries) or at
 * (suppressions), an event's accepted_at (when the hub recorded it). */
static int64_t audit_time(json_t *row)
{
    static const char *const members[] = {"completed_at", "at", "accepted_at"};
    int64_t millis;
    for (size_t i = 0; i < sizeof members / sizeof *members; i++)
        if (audit_text(row, members[i]) &&
            codec_timestamp_parse(audit_text(row, members[i]), &millis) == 0)
            return millis;
    return INT64_MAX; /* undated rows last */
}

/* Time order; rows of the same millisecond by where they were read
 * (topic, partition, offset), so the order is the same on every run. */
static int audit_by_time(const void *a, const void *b)
{
    json_t *left = *(json_t *const *)a, *right = *(json_t *const *)b;
    int64_t l = audit_time(left), r = audit_time(right);
    if (l != r)
        return l < r ? -1 : 1;
    json_t *ls = json_object_get(left, "source"), *rs = json_object_get(right, "source");
    int by_topic = strcmp(audit_text(ls, "topic") ? audit_text(ls, "topic") : "",
                          audit_text(rs, "topic") ? audit_text(rs, "topic") : "");
    if (by_topic)
        return by_topic;
    json_int_t lp = json_integer_value(json_object_get(ls, "partition")),
               rp = json_integer_value(json_object_get(rs, "partition")),
               lo = json_integer_value(json_object_get(ls, "offset")),
               ro = json_integer_value(json_object_get(rs, "offset"));
    if (lp != rp)
        return lp < rp ? -1 : 1;
    return lo < ro ? -1 : lo > ro;
}

/* Puts array (events or records: partitions are read concurrently) in
 * time order. -1 when out of memory (the array is left as it was). */
static int audit_sort(json_t *array)
{
    size_t n = json_array_size(array);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        sorted[i] = json_incref(json_array_get(array, i));
    qsort(sorted, n, sizeof *sorted, audit_by_time);
    json_array_clear(array);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(array, sorted[i]);
    free(sorted);
    return 0;
}

/* Why a row was not a disclosure: "objection: detail" for a suppression,
 * "HTTP 422" for a delivery that failed; NULL for a disclosure. */
static const char *audit_reason(json_t *row, char *out, size_t out_size)
{
    const char *reason = audit_text(row, "reason"), *detail = audit_text(row, "detail");
    if (!reason)
        return NULL;
    snprintf(out, out_size, "%s%s%s", reason, detail && detail[0] ? ": " : "",
             detail ? detail : "");
    return out;
}

static void audit_print(struct audit *audit)
{
    size_t i;
    json_t *row;
    printf("Events about NHS number %s: %zu\n", audit->nhs, json_array_size(audit->events));
    static const char *const event_headings[] = {"ACCEPTED AT", "TYPE", "EVENT ID", "OCCURRED AT",
                                                 "SOURCE ODS"};
    struct table *table = table_new(5, event_headings);
    json_array_foreach(audit->events, i, row)
    {
        const char *cells[] = {audit_text(row, "accepted_at"), audit_text(row, "event_type"),
                               audit_text(row, "event_id"), audit_text(row, "occurred_at"),
                               audit_text(row, "source_ods_code")};
        table_add(table, cells);
    }
    table_print(table, stdout);
    printf("\nDisclosures and suppressions: %zu\n", json_array_size(audit->records));
    static const char *const record_headings[] = {
        "AT", "PARTNER", "TYPE", "EVENT ID", "OUTCOME", "VIA", "AGREEMENT", "FIELDS", "REASON"};
    table = table_new(9, record_headings);
    json_array_foreach(audit->records, i, row)
    {
        const char *at = audit_text(row, "completed_at") ? audit_text(row, "completed_at")
                                                         : audit_text(row, "at");
        json_t *fields = json_object_get(row, "fields");
        char field_list[512] = "", reason[320];
        size_t f, used = 0;
        json_t *field;
        json_array_foreach(fields, f, field)
        {
            int n = snprintf(field_list + used, sizeof field_list - used, "%s%s", f ? "," : "",
                             json_string_value(field) ? json_string_value(field) : "?");
            if (n < 0 || (size_t)n >= sizeof field_list - used)
                break;
            used += (size_t)n;
        }
        const char *cells[] = {at,
                               audit_text(row, "partner"),
                               audit_text(row, "event_type"),
                               audit_text(row, "event_id"),
                               audit_text(row, "outcome"),
                               audit_text(row, "via") ? audit_text(row, "via") : "dispatch",
                               audit_text(row, "agreement"),
                               json_is_array(fields) ? field_list : NULL,
                               audit_reason(row, reason, sizeof reason)};
        table_add(table, cells);
    }
    table_print(table, stdout);
}

int ctl_audit(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {CTL_COMMON_LONG, {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1)
        ctl_common_option(ctl, option, audit_help);
    if (optind + 2 != argc || strcmp(argv[optind], "person") != 0) {
        fprintf(stderr, "placehub-ctl audit: expected 'person NHS_NUMBER'. Try --help.\n");
        return CTL_EXIT_USAGE;
    }
    char errstr[1024];
    /* As people type it: "999 012 3454" and "999-012-3454" too. */
    char nhs[16];
    if (ctl_nhs_number("audit: NHS_NUMBER", argv[optind + 1], nhs, sizeof nhs) != 0)
        return CTL_EXIT_USAGE;
    if (ctl_load(ctl) != 0 || !ctl_registry(ctl))
        return CTL_EXIT_ERROR;
    struct audit audit = {.ctl = ctl,
                          .nhs = nhs,
                          .events = json_array(),
                          .ids = json_object(),
                          .records = json_array()};
    const struct catalogue *catalogue = registry_catalogue(ctl->registry);
    const char *topics[64];
    size_t count = 0;
    for (size_t i = 0; i < ctl->config->topic_count && count < 64; i++)
        if (catalogue_latest_for_topic(catalogue, ctl->config->topics[i].name))
            topics[count++] = ctl->config->topics[i].name;
    const char *audit_topic = ctl->config->dispatch.audit_topic;
    int rc = CTL_EXIT_ERROR;
    if (audit_scan(&audit, topics, count, audit_event, errstr, sizeof errstr) != 0 ||
        (json_array_size(audit.events) &&
         audit_scan(&audit, &audit_topic, 1, audit_record, errstr, sizeof errstr) != 0)) {
        fprintf(stderr, "placehub-ctl audit: %s\n", errstr);
        goto out;
    }
    /* Partitions and topics are read concurrently: time order. */
    if (audit_sort(audit.events) != 0 || audit_sort(audit.records) != 0)
        goto out;
    if (ctl->json)
        output_json_line(json_pack("{s:s,s:O,s:O}", "nhs_number", nhs, "events", audit.events,
                                   "records", audit.records));
    else
        audit_print(&audit);
    rc = json_array_size(audit.events) ? CTL_EXIT_OK : CTL_EXIT_ATTENTION;
out:
    json_decref(audit.events);
    json_decref(audit.ids);
    json_decref(audit.records);
    return rc;
}
