/*
 * replay.c - `placehub-ctl replay`: read events back from the topics,
 * decoded, and print, export or redeliver them (tail is in tail.c).
 *
 * It reads with an assign-only consumer in no group (ctl.h): nothing it
 * does moves a consumer group. `replay --redeliver PARTNER` sends the matching
 * events to that partner alone through redeliver.c, each with a receipt on
 * the audit topic marked "via": "replay".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/catalogue.h"
#include "schema/codec.h"
#include "ctl.h"
#include "schema/framing.h"

static const char replay_help[] =
    "Usage: placehub-ctl replay [--from TIME] [--to TIME] [--offsets T:P:START[-END]]...\n"
    "                           [--type TYPE]... [--nhs NUMBER] [--partner ID]\n"
    "                           [--format json|csv] [--output FILE]\n"
    "                           [--redeliver PARTNER [--attempts N]]\n"
    "\n"
    "Reads events back from the event topics: those written in a time window\n"
    "(Kafka timestamps, i.e. when ingest accepted them; looked up with\n"
    "rd_kafka_offsets_for_times) or in explicit offset ranges, filtered by type,\n"
    "person or partner, and prints them as JSON lines (the default), exports them\n"
    "(--format csv, --output FILE) or sends them again to ONE partner.\n"
    "\n"
    "Selection:\n"
    "      --from TIME       window start, inclusive (RFC 3339 such as\n"
    "                        2026-11-22T10:00:00Z, a date, or epoch milliseconds)\n"
    "      --to TIME         window end, exclusive (default: up to now)\n"
    "      --offsets T:P:START[-END]  topic T, partition P, offsets START to END-1\n"
    "                        (repeatable; END omitted: up to the current end)\n"
    "      --type TYPE       only this event type (topic); repeatable\n"
    "      --nhs NUMBER      only events about this person (person.nhs_number):\n"
    "                        10 digits or grouped 3-3-4 with spaces or hyphens\n"
    "                        (\"999 012 3454\"); checked (Modulus 11), exit 2 if not\n"
    "      --partner ID      only the event types partner ID subscribes to\n"
    "Output:\n"
    "      --format FORMAT   json (default: one decoded event per line) or csv\n"
    "                        (topic, partition, offset, timestamp, event_id,\n"
    "                        occurred_at, recorded_at, source_ods_code, priority,\n"
    "                        nhs_number)\n"
    "  -o, --output FILE     write there instead of stdout\n"
    "      --redeliver PARTNER  send each matching event to PARTNER only, through its\n"
    "                        connector; a receipt (\"via\": \"replay\") goes to the audit\n"
    "                        topic. No consumer group moves: the other partners' and\n"
    "                        PARTNER's own progress stay as they are\n"
    "      --attempts N      tries per event on passing failures (default 3)\n"
    "  -c, --config FILE     configuration (default config/placehub.yaml)\n"
    "  -q, --quiet           no progress bar or summary on stderr\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit codes: 0 done, 1 error (configuration, a secret the redelivery needs,\n"
    "broker), 2 bad command line or NHS number, 3 nothing matched or some\n"
    "redeliveries failed.\n"
    "\n"
    "Examples:\n"
    "  placehub-ctl replay --from 2026-11-22T09:00:00Z --to 2026-11-22T10:00:00Z\n"
    "  placehub-ctl replay --type discharge --format csv -o discharges.csv\n"
    "  placehub-ctl replay --from 2026-11-22 --redeliver stockport-homes\n";

/* ---- replay ------------------------------------------------------------- */

struct replay {
    struct ctl *ctl;
    int64_t from_ms, to_ms;
    const char *nhs; /* NULL, or number: the person to select */
    size_t nhs_len;
    char number[16]; /* --nhs, checked and reduced to its 10 digits */
    int csv;
    FILE *out;
    struct redeliver *redeliver;
    int attempts;
    long long read, matched, delivered, failed;
    int broken; /* a receipt could not be written: stop */
};

static void replay_csv_cell(FILE *out, const char *text, int last)
{
    if (!text)
        text = "";
    if (strpbrk(text, ",\"\r\n")) {
        fputc('"', out);
        for (const char *c = text; *c; c++) {
            if (*c == '"')
                fputc('"', out);
            fputc(*c, out);
        }
        fputc('"', out);
    } else {
        fputs(text, out);
    }
    fputc(last ? '\n' : ',', out);
}

static const char *replay_string(json_t *event, const char *path)
{
    return json_string_value(json_object_get(event, path));
}

/* Whether the message can be about replay->nhs, looked at without decoding:
 * decoding every event to JSON to compare one field made a scan for one
 * person some ten times slower than reading the topic. Avro writes a string
 * as its length then its UTF-8 bytes as they are, so an event whose
 * person.nhs_number equals the number holds those bytes in its framed
 * payload; one that does not hold them cannot match. The converse is not
 * true (the digits may occur elsewhere), so a message that passes is decoded
 * and compared as before: the answer stays exact. Anything not framed Avro
 * (a JSON document, text) is always decoded.
 * IMPORTANT: this relies on nhs_number being an Avro string in every event
 * schema (schemas/); a schema that carried it otherwise (a number, a nested
 * encoding) would need this changed. */
static int replay_may_match(const struct replay *replay, const rd_kafka_message_t *message)
{
    const unsigned char *data = message->payload;
    if (!replay->nhs || !data || message->len <= FRAMING_HEADER_SIZE || data[0] != 0)
        return 1;
    return memmem(data + FRAMING_HEADER_SIZE, message->len - FRAMING_HEADER_SIZE, replay->nhs,
                  replay->nhs_len) != NULL;
}

static int replay_visit(void *opaque, const rd_kafka_message_t *message)
{
    struct replay *replay = opaque;
    replay->read++;
    rd_kafka_timestamp_type_t type;
    int64_t timestamp = rd_kafka_message_timestamp(message, &type);
    /* offsets_for_times gave the range; the timestamp makes the window exact. */
    if ((replay->from_ms >= 0 && timestamp < replay->from_ms) ||
        (replay->to_ms >= 0 && timestamp >= replay->to_ms))
        return 0;
    if (!replay_may_match(replay, message))
        return 0;
    int schema_id;
    json_t *event = decode_value(replay->ctl->registry, message, &schema_id);
    if (!event)
        return 0;
    if (replay->nhs) {
        const char *nhs =
            json_string_value(json_object_get(json_object_get(event, "person"), "nhs_number"));
        if (!nhs || strcmp(nhs, replay->nhs) != 0) {
            json_decref(event);
            return 0;
        }
    }
    replay->matched++;
    if (replay->redeliver) {
        const char *event_id = replay_string(event, "event_id");
        char *body = json_dumps(event, JSON_COMPACT);
        char reason[320];
        struct redeliver_source source = {rd_kafka_topic_name(message->rkt), message->partition,
                                          message->offset, message->key, message->key_len};
        int sent = body && event_id && schema_id >= 0
                       ? redeliver_send(replay->redeliver, &source,
                                        rd_kafka_topic_name(message->rkt), event_id, body, "replay",
                                        NULL, replay->attempts, reason, sizeof reason)
                       : 0;
        free(body);
        if (sent > 0) {
            replay->delivered++;
        } else {
            replay->failed++;
            fprintf(stderr,
                    "placehub-ctl replay: not delivered topic=%s partition=%d offset=%lld%s%s\n",
                    rd_kafka_topic_name(message->rkt), (int)message->partition,
                    (long long)message->offset, sent < 0 ? ": " : "", sent < 0 ? reason : "");
            if (sent < 0)
                replay->broken = 1;
        }
        json_decref(event);
        return replay->broken ? -1 : 0;
    }
    if (replay->csv) {
        char partition[16], offset[32], when[48] = "";
        snprintf(partition, sizeof partition, "%d", (int)message->partition);
        snprintf(offset, sizeof offset, "%lld", (long long)message->offset);
        if (timestamp >= 0)
            codec_timestamp_format(timestamp, when, sizeof when);
        replay_csv_cell(replay->out, rd_kafka_topic_name(message->rkt), 0);
        replay_csv_cell(replay->out, partition, 0);
        replay_csv_cell(replay->out, offset, 0);
        replay_csv_cell(replay->out, when, 0);
        replay_csv_cell(replay->out, replay_string(event, "event_id"), 0);
        replay_csv_cell(replay->out, replay_string(event, "occurred_at"), 0);
        replay_csv_cell(replay->out, replay_string(event, "recorded_at"), 0);
        replay_csv_cell(replay->out, replay_string(event, "source_ods_code"), 0);
        replay_csv_cell(replay->out, replay_string(event, "priority"), 0);
        replay_csv_cell(
            replay->out,
            json_string_value(json_object_get(json_object_get(event, "person"), "nhs_number")), 1);
        json_decref(event);
        return 0;
    }
    json_decref(event);
    json_t *line = decode_message(replay->ctl->registry, message);
    char *text = line ? json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (text)
        fprintf(replay->out, "%s\n", text);
    free(text);
    json_decref(line);
    return 0;
}

/* Parses "topic:partition:start[-end]". */
static int replay_parse_offsets(char *text, char **topic, int32_t *partition, int64_t *start,
                                int64_t *end)
{
    char *second = strrchr(text, ':');
    if (!second || second == text)
        return -1;
    *second = '\0';
    char *first = strrchr(text, ':');
    if (!first)
        return -1;
    *first = '\0';
    *topic = text;
    char *rest;
    long value = strtol(first + 1, &rest, 10);
    if (*rest || value < 0 || rest == first + 1)
        return -1;
    *partition = (int32_t)value;
    long long from = strtoll(second + 1, &rest, 10);
    if (rest == second + 1 || from < 0)
        return -1;
    *start = from;
    *end = -1;
    if (*rest == '-') {
        char *tail;
        long long to = strtoll(rest + 1, &tail, 10);
        if (*tail || tail == rest + 1 || to < from)
            return -1;
        *end = to;
    } else if (*rest) {
        return -1;
    }
    return 0;
}

static int replay_has(const char *const *list, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* What the command line asked for, beyond struct replay: the selection
 * before it is resolved into topics and a scan plan. Strings borrowed from
 * argv and the configuration. */
struct replay_request {
    const char *types[64];
    char *offsets[64];
    size_t type_count, offset_count;
    const char *partner_id, *redeliver_id, *output;
    /* Resolved by replay_select_topics: partners[0] for --partner,
     * partners[1] for --redeliver (NULL when not given). */
    const struct config_partner *partners[2];
    const char *topics[64];
    size_t topic_count;
};

/* Reads the options into replay and request. Returns 0, or the exit code
 * after a message (bad command line). */
static int replay_parse_options(struct ctl *ctl, int argc, char **argv, struct replay *replay,
                                struct replay_request *request)
{
    enum { FROM = 1000, TO, OFFSETS, TYPE, NHS, PARTNER, FORMAT, REDELIVER, ATTEMPTS };
    static const struct option options[] = {CTL_COMMON_LONG,
                                            {"from", required_argument, NULL, FROM},
                                            {"to", required_argument, NULL, TO},
                                            {"offsets", required_argument, NULL, OFFSETS},
                                            {"type", required_argument, NULL, TYPE},
                                            {"nhs", required_argument, NULL, NHS},
                                            {"partner", required_argument, NULL, PARTNER},
                                            {"format", required_argument, NULL, FORMAT},
                                            {"output", required_argument, NULL, 'o'},
                                            {"redeliver", required_argument, NULL, REDELIVER},
                                            {"attempts", required_argument, NULL, ATTEMPTS},
                                            {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT "o:", options, NULL)) != -1) {
        switch (option) {
        case FROM:
        case TO:
            if (ctl_parse_time(optarg, option == FROM ? &replay->from_ms : &replay->to_ms) != 0) {
                fprintf(stderr,
                        "placehub-ctl replay: --%s: '%s' is not a time (e.g. "
                        "2026-11-22T10:00:00Z, 2026-11-22 or epoch milliseconds)\n",
                        option == FROM ? "from" : "to", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case OFFSETS:
            if (request->offset_count == 64)
                return CTL_EXIT_USAGE;
            request->offsets[request->offset_count++] = optarg;
            break;
        case TYPE:
            if (request->type_count == 64)
                return CTL_EXIT_USAGE;
            request->types[request->type_count++] = optarg;
            break;
        case NHS:
            /* Checked before anything is read: a mistyped number would
             * match nobody, silently. */
            if (ctl_nhs_number("replay: --nhs", optarg, replay->number, sizeof replay->number) != 0)
                return CTL_EXIT_USAGE;
            replay->nhs = replay->number;
            replay->nhs_len = strlen(replay->number);
            break;
        case PARTNER:
            request->partner_id = optarg;
            break;
        case FORMAT:
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr, "placehub-ctl replay: --format: json or csv, not '%s'\n", optarg);
                return CTL_EXIT_USAGE;
            }
            replay->csv = strcmp(optarg, "csv") == 0;
            break;
        case 'o':
            request->output = optarg;
            break;
        case REDELIVER:
            request->redeliver_id = optarg;
            break;
        case ATTEMPTS:
            replay->attempts = atoi(optarg);
            if (replay->attempts < 1) {
                fprintf(stderr, "placehub-ctl replay: --attempts must be 1 or more\n");
                return CTL_EXIT_USAGE;
            }
            break;
        default:
            ctl_common_option(ctl, option, replay_help);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "placehub-ctl replay: unexpected argument '%s'\n", argv[optind]);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* Options that exclude each other. Returns 0, or the exit code after a
 * message. */
static int replay_check_options(const struct replay *replay, const struct replay_request *request)
{
    if (request->offset_count && (replay->from_ms >= 0 || replay->to_ms >= 0)) {
        fprintf(stderr, "placehub-ctl replay: --offsets and --from/--to exclude each other\n");
        return CTL_EXIT_USAGE;
    }
    if (replay->from_ms >= 0 && replay->to_ms >= 0 && replay->to_ms <= replay->from_ms) {
        fprintf(stderr, "placehub-ctl replay: --to must be after --from\n");
        return CTL_EXIT_USAGE;
    }
    if (request->redeliver_id && (request->output || replay->csv)) {
        fprintf(stderr, "placehub-ctl replay: --redeliver sends; it does not print or export\n");
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* Which topics: the event topics (those with a schema), narrowed by --type
 * and by the partner's (or the redelivery target's) topics. Fills
 * request->partners and request->topics. Returns 0, or the exit code after
 * a message. */
static int replay_select_topics(struct ctl *ctl, struct replay_request *request)
{
    const struct catalogue *catalogue = registry_catalogue(ctl->registry);
    const char *named[2] = {request->partner_id, request->redeliver_id};
    for (int i = 0; i < 2; i++) {
        request->partners[i] = named[i] ? config_partner_find(ctl->config, named[i]) : NULL;
        if (named[i] && !request->partners[i]) {
            fprintf(stderr, "placehub-ctl replay: no partner '%s' in %s\n", named[i],
                    ctl->config->path);
            return CTL_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < request->type_count; i++)
        if (!catalogue_latest_for_topic(catalogue, request->types[i])) {
            fprintf(stderr, "placehub-ctl replay: --type: '%s' is not an event type\n",
                    request->types[i]);
            return CTL_EXIT_USAGE;
        }
    for (size_t i = 0; i < ctl->config->topic_count && request->topic_count < 64; i++) {
        const char *name = ctl->config->topics[i].name;
        if (!catalogue_latest_for_topic(catalogue, name) ||
            (request->type_count && !replay_has(request->types, request->type_count, name)))
            continue;
        int subscribed = 1;
        for (int p = 0; p < 2; p++)
            if (request->partners[p] &&
                !replay_has((const char *const *)request->partners[p]->topics,
                            request->partners[p]->topic_count, name))
                subscribed = 0;
        if (subscribed)
            request->topics[request->topic_count++] = name;
    }
    const struct config_partner *target = request->partners[1];
    if (target)
        for (size_t i = 0; i < request->type_count; i++)
            if (!replay_has((const char *const *)target->topics, target->topic_count,
                            request->types[i])) {
                fprintf(stderr,
                        "placehub-ctl replay: partner %s does not receive %s events: not sent\n",
                        request->redeliver_id, request->types[i]);
                return CTL_EXIT_USAGE;
            }
    return 0;
}

/* The scan plan: the --offsets ranges, else the time window over the
 * selected topics. Returns 0, -1 with errstr, or CTL_EXIT_USAGE after a
 * message. */
static int replay_plan(rd_kafka_t *consumer, const struct replay *replay,
                       struct replay_request *request, struct scan_plan *plan, char *errstr,
                       size_t errstr_size)
{
    if (!request->offset_count)
        return scan_plan_times(consumer, plan, request->topics, request->topic_count,
                               replay->from_ms, replay->to_ms, errstr, errstr_size);
    for (size_t i = 0; i < request->offset_count; i++) {
        char *topic;
        int32_t partition;
        int64_t start, end;
        if (replay_parse_offsets(request->offsets[i], &topic, &partition, &start, &end) != 0) {
            fprintf(stderr,
                    "placehub-ctl replay: --offsets: expected TOPIC:PARTITION:START[-END]\n");
            return CTL_EXIT_USAGE;
        }
        if (!replay_has(request->topics, request->topic_count, topic)) {
            fprintf(stderr,
                    "placehub-ctl replay: --offsets: %s is not among the selected event "
                    "types\n",
                    topic);
            return CTL_EXIT_USAGE;
        }
        if (scan_plan_offsets(consumer, plan, topic, partition, start, end, errstr, errstr_size) !=
            0)
            return -1;
    }
    return 0;
}

/* Where the events go: the redelivery target, or the output file (with the
 * CSV header). Returns 0 or -1 with errstr (replay->out left stdout). */
static int replay_open_sink(struct ctl *ctl, struct replay *replay,
                            const struct replay_request *request, char *errstr, size_t errstr_size)
{
    if (request->redeliver_id) {
        replay->redeliver = redeliver_new(ctl->config, request->redeliver_id, errstr, errstr_size);
        if (!replay->redeliver)
            return -1;
    }
    if (request->output) {
        replay->out = fopen(request->output, "w");
        if (!replay->out) {
            snprintf(errstr, errstr_size, "cannot write %s", request->output);
            replay->out = stdout;
            return -1;
        }
    }
    if (replay->csv)
        fputs("topic,partition,offset,timestamp,event_id,occurred_at,recorded_at,"
              "source_ods_code,priority,nhs_number\n",
              replay->out);
    return 0;
}

/* The summary: a JSON line or a sentence for a redelivery, the counts on
 * stderr otherwise (unless --quiet), whether or not stderr is a terminal:
 * a piped or scripted run wants to know as much. */
static void replay_report(const struct ctl *ctl, const struct replay *replay,
                          const char *redeliver_id)
{
    if (redeliver_id && ctl->json)
        output_json_line(json_pack("{s:s,s:I,s:I,s:I,s:I}", "partner", redeliver_id, "read",
                                   (json_int_t)replay->read, "matched", (json_int_t)replay->matched,
                                   "delivered", (json_int_t)replay->delivered, "failed",
                                   (json_int_t)replay->failed));
    else if (redeliver_id)
        printf("%lld events matched; %lld delivered to %s, %lld failed\n", replay->matched,
               replay->delivered, redeliver_id, replay->failed);
    else if (!ctl->quiet)
        fprintf(stderr, "%lld events matched of %lld read\n", replay->matched, replay->read);
}

int ctl_replay(struct ctl *ctl, int argc, char **argv)
{
    struct replay replay = {.ctl = ctl, .from_ms = -1, .to_ms = -1, .out = stdout, .attempts = 3};
    struct replay_request request = {0};
    int rc = replay_parse_options(ctl, argc, argv, &replay, &request);
    if (rc == 0)
        rc = replay_check_options(&replay, &request);
    if (rc != 0)
        return rc;
    if (ctl_load(ctl) != 0 || !ctl_registry(ctl))
        return CTL_EXIT_ERROR;
    rc = replay_select_topics(ctl, &request);
    if (rc != 0)
        return rc;

    char errstr[1024];
    struct scan_plan plan = {0};
    rc = CTL_EXIT_ERROR;
    rd_kafka_t *consumer = ctl_consumer(ctl->config, NULL, errstr, sizeof errstr);
    if (!consumer)
        goto fail;
    int planned = replay_plan(consumer, &replay, &request, &plan, errstr, sizeof errstr);
    if (planned == CTL_EXIT_USAGE) {
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if (planned != 0 || replay_open_sink(ctl, &replay, &request, errstr, sizeof errstr) != 0)
        goto fail;
    if (scan_run(consumer, &plan, 0, ctl->progress, replay_visit, &replay, errstr, sizeof errstr) <
        0)
        goto fail;
    if (fflush(replay.out) != 0) {
        snprintf(errstr, sizeof errstr, "cannot write the output");
        goto fail;
    }
    replay_report(ctl, &replay, request.redeliver_id);
    rc = replay.matched == 0 || replay.failed ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "placehub-ctl replay: %s\n", errstr);
out:
    if (replay.out != stdout)
        fclose(replay.out);
    redeliver_destroy(replay.redeliver);
    scan_plan_free(&plan);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    return rc;
}
