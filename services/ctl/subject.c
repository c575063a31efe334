/*
 * subject.c - `placehub-ctl subject-access --nhs N`: everything the
 * partnership disclosed about a person, to whom, when and under which
 * agreement, what it withheld and why, every objection change and every
 * correction sent (UK GDPR Article 15; docs/operations.md).
 *
 * It reads the disclosure ledger (lib/governance/ledger.h), not the audit
 * topic: first the ledger is brought up to the end of the audit topic (the
 * records since it was last fed, usually a few; the whole topic when the
 * file is new, with a progress bar), then one index range gives the
 * person's rows in time order. The NHS number is typed by the auditor,
 * turned into the person reference, and printed only in the report itself
 * (never logged).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/text.h"
#include "ctl.h"
#include "governance/ledger.h"
#include "schema/codec.h"
#include "schema/event.h"
#include "service/service.h"

static const char subject_help[] =
    "Usage: placehub-ctl subject-access --nhs N [--from TIME] [--to TIME]\n"
    "                                   [--format text|json|csv] [--ledger FILE]\n"
    "\n"
    "A subject access report (UK GDPR Article 15): what the partnership did with\n"
    "one person's information, in time order:\n"
    "  disclosed     an event delivered to a partner: the event type and id, the\n"
    "                agreement it went under (and the agreement's version), the\n"
    "                fields the partner was sent\n"
    "  withheld      an event kept from a partner, and why (no agreement, an\n"
    "                agreement's condition, restricted record, an objection, or\n"
    "                not_disclosed: a correction of an event the partner never had)\n"
    "  not received  a delivery that failed for good (dead-lettered), with the\n"
    "                fields its attempts carried\n"
    "  cancellation sent / correction sent\n"
    "                a cancellation or correction delivered because the partner\n"
    "                had received the original\n"
    "  objection recorded / objection withdrawn\n"
    "                a change on the objection register, its scope, by whom\n"
    "\n"
    "It reads the disclosure ledger (governance.ledger, the file placehub-dispatch\n"
    "keeps), first bringing it up to the end of the audit topic. A new or deleted\n"
    "ledger is rebuilt from the whole audit topic (a progress bar shows it).\n"
    "\n"
    "Options:\n"
    "      --nhs N          the NHS number: 10 digits, or grouped 3-3-4 with spaces\n"
    "                       or hyphens (\"999 012 3454\"); checked (Modulus 11)\n"
    "      --from TIME      only what happened at or after TIME\n"
    "      --to TIME        only what happened before TIME\n"
    "                       (TIME: 2026-11-22, 2026-11-22T10:15:30Z, or epoch ms)\n"
    "      --format FORMAT  text (default), json (one document) or csv; --json is json\n"
    "      --ledger FILE    the ledger file (default: governance.ledger); made and\n"
    "                       filled from the audit topic when missing\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -q, --quiet          no progress bar\n"
    "  -h, --help           this text\n"
    "\n"
    "Examples:\n"
    "  placehub-ctl subject-access --nhs \"999 012 3454\"\n"
    "  placehub-ctl subject-access --nhs 9990123454 --from 2026-01-01 --format csv \\\n"
    "      > subject-access.csv\n"
    "\n"
    "Exit codes: 0 done, 1 error (configuration, broker, ledger file), 2 bad\n"
    "command line or NHS number, 3 nothing on record about this person.\n"
    "\n"
    "The report holds personal data (the NHS number and what was shared): keep it\n"
    "where the request says it belongs.\n";

enum subject_format { SUBJECT_TEXT, SUBJECT_JSON, SUBJECT_CSV };

struct subject_options {
    const char *nhs;
    const char *ledger;
    enum subject_format format;
    int64_t from_ms, to_ms;
};

/* One report being written. */
struct subject {
    enum subject_format format;
    struct table *table; /* text */
    json_t *entries;     /* json */
    int64_t drawn_ms, began_ms;
    int progress;
};

static int subject_parse(struct ctl *ctl, int argc, char **argv, struct subject_options *options)
{
    static const struct option long_options[] = {{"nhs", required_argument, NULL, 'n'},
                                                 {"from", required_argument, NULL, 'f'},
                                                 {"to", required_argument, NULL, 't'},
                                                 {"format", required_argument, NULL, 'F'},
                                                 {"ledger", required_argument, NULL, 'L'},
                                                 CTL_COMMON_LONG,
                                                 {NULL, 0, NULL, 0}};
    int option;
    memset(options, 0, sizeof *options);
    options->to_ms = INT64_MAX;
    optind = 1;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, long_options, NULL)) != -1) {
        const char *time_option = option == 'f' ? "--from" : "--to";
        switch (option) {
        case 'n':
            options->nhs = optarg;
            break;
        case 'L':
            options->ledger = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "text") == 0)
                options->format = SUBJECT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                options->format = SUBJECT_JSON;
            else if (strcmp(optarg, "csv") == 0)
                options->format = SUBJECT_CSV;
            else {
                fprintf(stderr,
                        "placehub-ctl subject-access: --format '%s': give text, json or csv\n",
                        optarg);
                return -1;
            }
            break;
        case 'f':
        case 't':
            if (ctl_parse_time(optarg, option == 'f' ? &options->from_ms : &options->to_ms) != 0) {
                fprintf(stderr,
                        "placehub-ctl subject-access: %s '%s' is not a time: give 2026-11-22, "
                        "2026-11-22T10:15:30Z or milliseconds since 1970\n",
                        time_option, optarg);
                return -1;
            }
            break;
        default:
            ctl_common_option(ctl, option, subject_help);
        }
    }
    if (ctl->json)
        options->format = SUBJECT_JSON;
    if (optind < argc) {
        fprintf(stderr, "placehub-ctl subject-access: unexpected argument '%s'%s\n", argv[optind],
                strspn(argv[optind], "0123456789 -") == strlen(argv[optind])
                    ? " (give the NHS number as --nhs N)"
                    : "");
        return -1;
    }
    if (!options->nhs) {
        fprintf(stderr, "placehub-ctl subject-access: --nhs N is required (see --help)\n");
        return -1;
    }
    if (options->from_ms >= options->to_ms) {
        fprintf(stderr, "placehub-ctl subject-access: --from must be before --to\n");
        return -1;
    }
    return 0;
}

static void subject_progress(void *opaque, long long done, long long total)
{
    struct subject *subject = opaque;
    enum { WIDTH = 30 };
    int64_t now = clock_monotonic_ms();
    if (!subject->progress || (done < total && now - subject->drawn_ms < 200))
        return;
    subject->drawn_ms = now;
    int filled = total > 0 ? (int)(done * WIDTH / total) : WIDTH;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    double elapsed = (double)(now - subject->began_ms) / 1000.0;
    fprintf(stderr, "\rledger: [%s] %3d%% %lld/%lld audit records, %.0f/s ", bar,
            total > 0 ? (int)(done * 100 / total) : 100, done, total,
            elapsed > 0 ? (double)done / elapsed : 0.0);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

/* What a row is, in the report's words. */
static const char *subject_what(const struct ledger_entry *entry)
{
    if (strcmp(entry->record, "objection_change") == 0)
        return entry->state && strcmp(entry->state, "withdrawn") == 0 ? "objection withdrawn"
                                                                      : "objection recorded";
    if (strcmp(entry->record, "suppression") == 0)
        return "withheld";
    if (!entry->outcome || strcmp(entry->outcome, "delivered") != 0)
        return "not received";
    if (entry->correction)
        return strcmp(entry->correction, "cancellation") == 0 ? "cancellation sent"
                                                              : "correction sent";
    return "disclosed";
}

/* The fields as "a; b; c" (the ledger keeps them as a JSON array). Caller
 * frees; NULL when none or out of memory. */
static char *subject_fields(const char *fields)
{
    json_error_t error;
    json_t *list = fields ? json_loads(fields, 0, &error) : NULL;
    struct text text = {0};
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        const char *path = json_string_value(item);
        if (i)
            text_append(&text, "; ", 2);
        if (path)
            text_append(&text, path, strlen(path));
    }
    json_decref(list);
    if (text.failed || !text.data) {
        free(text.data);
        return NULL;
    }
    return text.data;
}

static json_t *subject_json(const struct ledger_entry *entry, const char *at)
{
    json_t *row = json_object();
    json_error_t error;
    json_object_set_new(row, "at", json_string(at));
    json_object_set_new(row, "what", json_string(subject_what(entry)));
    json_object_set_new(row, "record", json_string(entry->record));
    const struct {
        const char *name, *value;
    } members[] = {{"partner", entry->partner},
                   {"event_id", entry->event_id},
                   {"event_type", entry->event_type},
                   {"outcome", entry->outcome},
                   {"agreement", entry->agreement},
                   {"agreement_version", entry->agreement_version},
                   {"reason", entry->reason},
                   {"correction", entry->correction},
                   {"corrects_event_id", entry->corrects},
                   {"via", entry->via},
                   {"scope", entry->scope},
                   {"recorded_by", entry->recorded_by},
                   {"source", entry->source}};
    for (size_t i = 0; i < sizeof members / sizeof *members; i++)
        if (members[i].value)
            json_object_set_new(row, members[i].name, json_string(members[i].value));
    if (entry->fields)
        json_object_set_new(row, "fields", json_loads(entry->fields, 0, &error));
    if (entry->source_topic)
        json_object_set_new(row, "kafka",
                            json_pack("{s:s,s:i,s:I}", "topic", entry->source_topic, "partition",
                                      (int)entry->source_partition, "offset",
                                      (json_int_t)entry->source_offset));
    json_object_set_new(row, "audit",
                        json_pack("{s:i,s:I}", "partition", (int)entry->audit_partition, "offset",
                                  (json_int_t)entry->audit_offset));
    return row;
}

/* A CSV cell: quoted, quotes doubled. */
static void subject_csv_cell(const char *value, int last)
{
    putchar('"');
    for (const char *c = value ? value : ""; *c; c++) {
        if (*c == '"')
            putchar('"');
        putchar(*c);
    }
    putchar('"');
    putchar(last ? '\n' : ',');
}

static int subject_row(void *opaque, const struct ledger_entry *entry)
{
    struct subject *subject = opaque;
    char at[48], agreement[128];
    codec_timestamp_format(entry->at_ms, at, sizeof at);
    if (subject->format == SUBJECT_JSON) {
        json_array_append_new(subject->entries, subject_json(entry, at));
        return 0;
    }
    char *fields = subject_fields(entry->fields);
    snprintf(agreement, sizeof agreement, "%s%s%s%s", entry->agreement ? entry->agreement : "",
             entry->agreement_version ? " (" : "",
             entry->agreement_version ? entry->agreement_version : "",
             entry->agreement_version ? ")" : "");
    const char *scope_or_reason = entry->scope ? entry->scope : entry->reason;
    char event[96] = "";
    if (entry->event_type)
        snprintf(event, sizeof event, "%s %s", entry->event_type,
                 entry->event_id ? entry->event_id : "");
    const char *partner = entry->partner ? entry->partner : entry->recorded_by;
    if (subject->format == SUBJECT_CSV) {
        const char *cells[] = {at,
                               subject_what(entry),
                               partner,
                               entry->event_type,
                               entry->event_id,
                               entry->agreement,
                               entry->agreement_version,
                               fields,
                               scope_or_reason,
                               entry->corrects};
        size_t count = sizeof cells / sizeof *cells;
        for (size_t i = 0; i < count; i++)
            subject_csv_cell(cells[i], i + 1 == count);
    } else {
        const char *cells[] = {at,
                               subject_what(entry),
                               partner,
                               event[0] ? event : NULL,
                               agreement[0] ? agreement : NULL,
                               fields && fields[0] ? fields : scope_or_reason};
        table_add(subject->table, cells);
    }
    free(fields);
    return 0;
}

/* Brings the ledger up to the end of the audit topic, then reports. */
static int subject_report(struct ctl *ctl, const struct subject_options *options,
                          const char *person_ref, const char *nhs)
{
    char errstr[1024];
    struct ledger *ledger = NULL;
    struct subject subject = {
        .format = options->format, .progress = ctl->progress, .began_ms = clock_monotonic_ms()};
    if (ctl_ledger_open(ctl, options->ledger, &ledger, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl subject-access: %s\n", errstr);
        return CTL_EXIT_ERROR;
    }
    static const char *const headings[] = {
        "WHEN", "WHAT", "PARTNER / BY", "EVENT", "AGREEMENT (VERSION)", "FIELDS / REASON"};
    if (subject.format == SUBJECT_JSON)
        subject.entries = json_array();
    else if (subject.format == SUBJECT_TEXT)
        subject.table = table_new(sizeof headings / sizeof *headings, headings);
    else
        printf("at,what,partner,event_type,event_id,agreement,agreement_version,fields,"
               "reason_or_scope,corrects_event_id\n");
    /* Dispatch keeps the file: its rows, and the audit records since, read
     * from the topic. Nobody keeps it: ctl brings it up to date itself. */
    long long rows = ledger_subject_current(ctl->config, ledger, person_ref, options->from_ms,
                                            options->to_ms, subject_row, &subject, subject_progress,
                                            &subject, 30000, errstr, sizeof errstr);
    ledger_close(ledger);
    if (subject.format == SUBJECT_TEXT) {
        printf("Subject access report: NHS number %.3s %.3s %.4s (person reference %s)\n\n", nhs,
               nhs + 3, nhs + 6, person_ref);
        table_print(subject.table, stdout);
        if (rows >= 0)
            printf("\n%lld record%s.\n", rows, rows == 1 ? "" : "s");
    } else if (subject.format == SUBJECT_JSON) {
        output_json_line(json_pack("{s:s,s:s,s:o}", "nhs_number", nhs, "person_ref", person_ref,
                                   "entries", subject.entries));
    }
    if (rows < 0) {
        fprintf(stderr, "placehub-ctl subject-access: %s\n", errstr);
        return CTL_EXIT_ERROR;
    }
    if (rows == 0)
        fprintf(stderr, "placehub-ctl subject-access: nothing on record about this person%s\n",
                options->from_ms || options->to_ms != INT64_MAX ? " in that time" : "");
    return rows == 0 ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
}

int ctl_subject_access(struct ctl *ctl, int argc, char **argv)
{
    struct subject_options options;
    if (subject_parse(ctl, argc, argv, &options) != 0)
        return CTL_EXIT_USAGE;
    char nhs[16];
    if (ctl_nhs_number("subject-access: --nhs", options.nhs, nhs, sizeof nhs) != 0)
        return CTL_EXIT_USAGE;
    if (ctl_load(ctl) != 0)
        return CTL_EXIT_ERROR;
    /* The person reference must be the one ingest and mllp key events with. */
    service_load_person_key("placehub-ctl", ctl->config);
    char person_ref[40];
    if (event_person_key_of_nhs_number(nhs, person_ref, sizeof person_ref) != 0) {
        fprintf(stderr, "placehub-ctl subject-access: cannot compute the person reference\n");
        return CTL_EXIT_ERROR;
    }
    int rc = subject_report(ctl, &options, person_ref, nhs);
    explicit_bzero(nhs, sizeof nhs);
    return rc;
}
