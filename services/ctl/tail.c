/*
 * tail.c - `placehub-ctl tail TOPIC`: the latest messages of a topic, one
 * readable line each (the default) or decoded JSON lines (--json).
 *
 * IMPORTANT: the readable line is what an operator's screen, a terminal
 * log or a support ticket ends up holding, so it carries nothing that
 * identifies a person: no NHS number, name, date of birth, address, ward,
 * notes or free text, and no partner's answer. A person appears only as
 * the first digits of the message key (the person reference, a keyed hash:
 * enough to see which lines are about one person). The decoded event, with
 * everything in it, is for --json, asked for on purpose.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "schema/codec.h"

static const char tail_help[] =
    "Usage: placehub-ctl tail TOPIC [-n COUNT] [--from-beginning] [--follow] [--json]\n"
    "\n"
    "Prints the latest messages of TOPIC, one line each: when the broker got it,\n"
    "where it is (topic/partition@offset), its type, its event id and a summary\n"
    "without personal data (events: source organisation, priority, the first\n"
    "digits of the person reference, the type's status fields; audit records:\n"
    "partner, outcome or reason, agreement; dead letters: partner, status,\n"
    "reason; HL7 messages: their type and size). No NHS number, name, address or\n"
    "note is printed. --json prints the messages decoded instead (events from\n"
    "Avro to plain JSON, with headers): personal data, for when it is needed.\n"
    "Reads without a consumer group: no one's progress moves.\n"
    "\n"
    "Options:\n"
    "  -n, --lines COUNT     the last COUNT messages of each partition (default 10)\n"
    "      --from-beginning  every message the topic holds\n"
    "  -f, --follow          then wait for new messages until Ctrl-C\n"
    "      --json            one decoded JSON document per message\n"
    "  -c, --config FILE     configuration (default config/placehub.yaml)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 done, 1 error (broker, unknown topic), 2 bad command line.\n"
    "\n"
    "Examples: placehub-ctl tail discharge -n 5\n"
    "          placehub-ctl tail placehub.audit --follow\n"
    "          placehub-ctl topics      # the topics there are\n";

/* A summary being written into a fixed buffer: parts joined by ", ". */
struct tail_summary {
    char text[400];
    size_t used;
};

static void tail_add(struct tail_summary *summary, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void tail_add(struct tail_summary *summary, const char *format, ...)
{
    size_t left = sizeof summary->text - summary->used;
    if (left < 3)
        return;
    if (summary->used) {
        memcpy(summary->text + summary->used, ", ", 3);
        summary->used += 2;
        left -= 2;
    }
    va_list args;
    va_start(args, format);
    int n = vsnprintf(summary->text + summary->used, left, format, args);
    va_end(args);
    if (n > 0)
        summary->used += (size_t)n < left ? (size_t)n : left - 1;
}

/* Adds "label value" when object has the string member name. */
static void tail_member(struct tail_summary *summary, const json_t *object, const char *label,
                        const char *name)
{
    const char *value = json_string_value(json_object_get(object, name));
    if (value && value[0])
        tail_add(summary, "%s%s%s", label, label[0] ? " " : "", value);
}

/* An event: who sent it, how urgent, whose (pseudonymously), and the
 * type's own status fields, none of which describes the person. */
static void tail_event(struct tail_summary *summary, const json_t *event,
                       const rd_kafka_message_t *message)
{
    static const char *const status_fields[] = {
        "admission_method", "site_ods_code", "discharge_destination",
        "urgency",          "programme",     "stage"};
    tail_member(summary, event, "from", "source_ods_code");
    tail_member(summary, event, "", "priority");
    if (message->key_len >= 8)
        tail_add(summary, "person %.8s...", (const char *)message->key);
    for (size_t i = 0; i < sizeof status_fields / sizeof *status_fields; i++)
        tail_member(summary, event, "", status_fields[i]);
    tail_member(summary, event, "cancels", "cancels_event_id");
    tail_member(summary, event, "supersedes", "supersedes_event_id");
}

/* An audit record or an objection change (JSON documents). */
static void tail_record(struct tail_summary *summary, const json_t *record)
{
    tail_member(summary, record, "partner", "partner");
    tail_member(summary, record, "", "outcome");
    tail_member(summary, record, "reason", "reason");
    tail_member(summary, record, "agreement", "agreement");
    tail_member(summary, record, "via", "via");
    tail_member(summary, record, "scope", "scope");
    tail_member(summary, record, "", "state");
    tail_member(summary, record, "by", "recorded_by");
    const char *person = json_string_value(json_object_get(record, "person_ref"));
    if (person && strlen(person) >= 8)
        tail_add(summary, "person %.8s...", person);
}

/* A dead letter or a redrive marker, from its headers. */
static void tail_dead_letter(struct tail_summary *summary, const rd_kafka_message_t *message,
                             char *type, size_t type_size)
{
    static const struct {
        const char *label, *header;
    } shown[] = {{"partner", "placehub.partner"}, {"was", "placehub.source_topic"},
                 {"HTTP", "placehub.status"},     {"tries", "placehub.attempts"},
                 {"reason", "placehub.reason"},   {"dead letter", "placehub.dead_letter"},
                 {"at", "placehub.redriven_at"}};
    char value[256];
    decode_header(message, "placehub.record", value, sizeof value);
    snprintf(type, type_size, "%s", value[0] ? value : "dead letter");
    for (size_t i = 0; i < sizeof shown / sizeof *shown; i++)
        if (decode_header(message, shown[i].header, value, sizeof value)[0] &&
            strcmp(value, "0") != 0)
            tail_add(summary, "%s %s", shown[i].label, value);
}

/* An HL7 v2 message as received: its type (MSH-9), sender (MSH-4) and size. */
static void tail_hl7(struct tail_summary *summary, const rd_kafka_message_t *message, char *type,
                     size_t type_size)
{
    const char *data = message->payload;
    size_t field = 0, start = 0;
    char sender[64] = "";
    for (size_t i = 0; data && message->len >= 8 && memcmp(data, "MSH|", 4) == 0 &&
                       i <= message->len && field <= 8;
         i++) {
        if (i < message->len && data[i] != '|' && data[i] != '\r')
            continue;
        /* Fields split on '|': MSH-1 is the separator itself, so the
         * 4th piece is MSH-4 and the 9th MSH-9. */
        if (field == 3)
            snprintf(sender, sizeof sender, "%.*s", (int)(i - start), data + start);
        if (field == 8)
            snprintf(type, type_size, "%.*s", (int)(i - start), data + start);
        field++;
        start = i + 1;
        if (i < message->len && data[i] == '\r')
            break;
    }
    if (!type[0])
        snprintf(type, type_size, "message");
    if (sender[0])
        tail_add(summary, "from %s", sender);
    tail_add(summary, "%zu bytes", message->len);
}

static int tail_line(void *opaque, const rd_kafka_message_t *message)
{
    struct ctl *ctl = opaque;
    struct tail_summary summary = {.used = 0};
    char when[48] = "-", type[64] = "", event_id[64] = "";
    rd_kafka_timestamp_type_t timestamp_type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &timestamp_type);
    if (timestamp >= 0)
        codec_timestamp_format(timestamp, when, sizeof when);
    decode_header(message, "placehub.event_id", event_id, sizeof event_id);
    if (!event_id[0])
        decode_header(message, "event_id", event_id, sizeof event_id);
    const char *topic = rd_kafka_topic_name(message->rkt);
    int schema_id = -1;
    json_t *value = message->payload ? decode_value(ctl->registry, message, &schema_id) : NULL;
    const char *record = json_string_value(json_object_get(value, "record"));
    if (decode_header(message, "placehub.partner", type, sizeof type)[0]) {
        type[0] = '\0';
        tail_dead_letter(&summary, message, type, sizeof type);
    } else if (!message->payload) {
        snprintf(type, sizeof type, "tombstone"); /* a compacted topic's deletion */
        tail_add(&summary, "no value");
    } else if (schema_id >= 0) {
        snprintf(type, sizeof type, "%s",
                 json_string_value(json_object_get(value, "event_type"))
                     ? json_string_value(json_object_get(value, "event_type"))
                     : topic);
        tail_event(&summary, value, message);
    } else if (record) {
        snprintf(type, sizeof type, "%s", record);
        tail_record(&summary, value);
    } else if (message->len >= 4 && memcmp(message->payload, "MSH|", 4) == 0) {
        tail_hl7(&summary, message, type, sizeof type);
    } else {
        snprintf(type, sizeof type, "-");
        tail_add(&summary, "%zu bytes", message->len);
    }
    if (!event_id[0])
        snprintf(event_id, sizeof event_id, "%s",
                 json_string_value(json_object_get(value, "event_id"))
                     ? json_string_value(json_object_get(value, "event_id"))
                     : "-");
    json_decref(value);
    printf("%s  %s/%d@%lld  %-18s  %-36s  %s\n", when, topic, (int)message->partition,
           (long long)message->offset, type, event_id, summary.text);
    fflush(stdout);
    return 0;
}

static int tail_json(void *opaque, const rd_kafka_message_t *message)
{
    struct ctl *ctl = opaque;
    output_json_line(decode_message(ctl->registry, message));
    fflush(stdout);
    return 0;
}

int ctl_tail(struct ctl *ctl, int argc, char **argv)
{
    static const struct option options[] = {CTL_COMMON_LONG,
                                            {"lines", required_argument, NULL, 'n'},
                                            {"from-beginning", no_argument, NULL, 'B'},
                                            {"follow", no_argument, NULL, 'f'},
                                            {NULL, 0, NULL, 0}};
    long long last = 10;
    int follow = 0, option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT "n:f", options, NULL)) != -1) {
        if (option == 'n') {
            char *end;
            last = strtoll(optarg, &end, 10);
            if (*end || last < 0) {
                fprintf(stderr, "placehub-ctl tail: --lines must be a count, not '%s'\n", optarg);
                return CTL_EXIT_USAGE;
            }
        } else if (option == 'B') {
            last = -1;
        } else if (option == 'f') {
            follow = 1;
        } else {
            ctl_common_option(ctl, option, tail_help);
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "placehub-ctl tail: name one topic (placehub-ctl topics lists them). "
                        "Try 'placehub-ctl tail --help'.\n");
        return CTL_EXIT_USAGE;
    }
    if (ctl_load(ctl) != 0 || !ctl_registry(ctl))
        return CTL_EXIT_ERROR;
    char errstr[512];
    struct scan_plan plan = {0};
    int rc = CTL_EXIT_ERROR;
    rd_kafka_t *consumer = ctl_consumer(ctl->config, NULL, errstr, sizeof errstr);
    if (!consumer || scan_plan_tail(consumer, &plan, argv[optind], last, errstr, sizeof errstr) ||
        scan_run(consumer, &plan, follow, 0, ctl->json ? tail_json : tail_line, ctl, errstr,
                 sizeof errstr) < 0)
        fprintf(stderr, "placehub-ctl tail: %s\n", errstr);
    else
        rc = CTL_EXIT_OK;
    scan_plan_free(&plan);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    return rc;
}
