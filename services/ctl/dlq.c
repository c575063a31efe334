/*
 * dlq.c - `placehub-ctl dlq list|show|redrive`: the dead letters dispatch
 * wrote (lib/delivery/record.c: the original message, the reasons in
 * placehub.* headers), and sending them again to their partner.
 *
 * A dead letter is named by its place on the dead-letter topic,
 * PARTITION:OFFSET. Once redriven successfully, a marker goes to the same
 * topic (null value, header placehub.record=redriven, placehub.dead_letter=
 * PARTITION:OFFSET, with the dead letter's key so it lands in the same
 * partition); a dead letter with a marker is no longer outstanding. The
 * topic alone thus says what is still to do, and its history stays whole.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "schema/codec.h"
#include "ctl.h"
#include "governance/ledger.h"
#include "kafka/producer.h"

static const char dlq_help[] =
    "Usage: placehub-ctl dlq list [--partner ID] [--all]\n"
    "       placehub-ctl dlq show ID [--payload]\n"
    "       placehub-ctl dlq redrive (ID... | --all) [--partner ID] [--attempts N]\n"
    "\n"
    "Dead letters are events dispatch could not deliver to a partner: refused for\n"
    "good (e.g. HTTP 4xx), unreadable, or still failing at the end of the retry\n"
    "window. Each is named ID = PARTITION:OFFSET on the dead-letter topic.\n"
    "\n"
    "  list     the outstanding dead letters (not yet redriven): partner, event type,\n"
    "           event id, when, attempts, last status, reason. --all also shows\n"
    "           those already redriven; --partner ID only that partner's\n"
    "  show     one dead letter: every detail, the partner's answer (digits masked);\n"
    "           --payload adds the event itself (personal data: handle with care)\n"
    "  redrive  once the cause is fixed, send dead letters again to THEIR partner\n"
    "           only, through its connector (no consumer group moves). A receipt\n"
    "           (\"via\": \"redrive\") goes to the audit topic; when delivered, the dead\n"
    "           letter is marked redriven. One that fails again stays outstanding.\n"
    "           One its partner has received since (redriven already, or a later\n"
    "           delivery on record in the disclosure ledger: a replay, dispatch) is\n"
    "           not sent again and nothing is written for it. Every partner is set\n"
    "           up (connector, credentials, pseudonym key) before anything is sent\n"
    "\n"
    "Options:\n"
    "      --partner ID     only this partner's dead letters\n"
    "      --all            list: include redriven ones; redrive: every outstanding one\n"
    "      --payload        show: include the decoded event\n"
    "      --attempts N     redrive: tries per dead letter on passing failures (3)\n"
    "      --actor NAME     redrive: who asked for it, recorded in each receipt\n"
    "                       (default: your login name; the console passes its user)\n"
    "      --json           JSON lines instead of a table\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 done (list: none outstanding), 1 could not do it (configuration,\n"
    "a partner's secret unset here, broker; nothing sent), 2 bad command line\n"
    "(redrive: an ID that is no dead letter; nothing sent), 3 list: dead letters\n"
    "outstanding; show: no such dead letter; redrive: some were not delivered, or\n"
    "were already delivered and not sent again.\n"
    "\n"
    "Example: placehub-ctl dlq list --partner stockport-homes\n"
    "         placehub-ctl dlq redrive --all --partner stockport-homes\n";

struct dead_letter {
    int32_t partition;
    int64_t offset;
    unsigned char *payload; /* owned copies of what was read (show, redrive) */
    size_t len;
    void *key;
    size_t key_len;
    char source_partition[16], source_offset[32];
    char partner[128], event_id[64], source_topic[128], reason[256], status[16], attempts[16],
        at[48], excerpt[256];
    int redriven;
};

struct dlq {
    struct ctl *ctl;
    struct dead_letter *letters;
    size_t count;
    const char *partner; /* filter, or NULL */
    const char *actor;   /* redrive: who asked (--actor), or NULL: the login name */
    int keep_messages;
};

static void dlq_free(struct dlq *dlq)
{
    for (size_t i = 0; i < dlq->count; i++) {
        free(dlq->letters[i].payload);
        free(dlq->letters[i].key);
    }
    free(dlq->letters);
}

static struct dead_letter *dlq_find(struct dlq *dlq, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < dlq->count; i++)
        if (dlq->letters[i].partition == partition && dlq->letters[i].offset == offset)
            return &dlq->letters[i];
    return NULL;
}

static int dlq_collect(void *opaque, const rd_kafka_message_t *message)
{
    struct dlq *dlq = opaque;
    char record[32], where[64];
    decode_header(message, "placehub.record", record, sizeof record);
    if (strcmp(record, "redriven") == 0) {
        decode_header(message, "placehub.dead_letter", where, sizeof where);
        int partition;
        long long offset;
        if (sscanf(where, "%d:%lld", &partition, &offset) == 2) {
            struct dead_letter *letter = dlq_find(dlq, partition, offset);
            if (letter)
                letter->redriven = 1;
        }
        return 0;
    }
    struct dead_letter letter = {.partition = message->partition, .offset = message->offset};
    decode_header(message, "placehub.partner", letter.partner, sizeof letter.partner);
    if (dlq->partner && strcmp(letter.partner, dlq->partner) != 0)
        return 0;
    decode_header(message, "placehub.event_id", letter.event_id, sizeof letter.event_id);
    decode_header(message, "placehub.source_topic", letter.source_topic,
                  sizeof letter.source_topic);
    decode_header(message, "placehub.reason", letter.reason, sizeof letter.reason);
    decode_header(message, "placehub.status", letter.status, sizeof letter.status);
    decode_header(message, "placehub.attempts", letter.attempts, sizeof letter.attempts);
    decode_header(message, "placehub.dead_lettered_at", letter.at, sizeof letter.at);
    decode_header(message, "placehub.response_excerpt", letter.excerpt, sizeof letter.excerpt);
    decode_header(message, "placehub.source_partition", letter.source_partition,
                  sizeof letter.source_partition);
    decode_header(message, "placehub.source_offset", letter.source_offset,
                  sizeof letter.source_offset);
    if (dlq->keep_messages) {
        /* Keep the bytes and the key: redrive sends them again. */
        letter.len = message->len;
        letter.key_len = message->key_len;
        letter.payload = malloc(message->len ? message->len : 1);
        letter.key = malloc(message->key_len ? message->key_len : 1);
        if (!letter.payload || !letter.key) {
            free(letter.payload);
            free(letter.key);
            return -1;
        }
        if (message->len)
            memcpy(letter.payload, message->payload, message->len);
        if (message->key_len)
            memcpy(letter.key, message->key, message->key_len);
    }
    struct dead_letter *grown = realloc(dlq->letters, (dlq->count + 1) * sizeof *grown);
    if (!grown)
        return -1;
    dlq->letters = grown;
    dlq->letters[dlq->count++] = letter;
    return 0;
}

static int dlq_read(struct dlq *dlq, char *errstr, size_t errstr_size)
{
    struct scan_plan plan = {0};
    int rc = -1;
    rd_kafka_t *consumer = ctl_consumer(dlq->ctl->config, NULL, errstr, errstr_size);
    if (!consumer)
        return -1;
    if (scan_plan_tail(consumer, &plan, dlq->ctl->config->dispatch.dead_letter_topic, -1, errstr,
                       errstr_size) == 0 &&
        scan_run(consumer, &plan, 0, dlq->ctl->progress, dlq_collect, dlq, errstr, errstr_size) >=
            0)
        rc = 0;
    scan_plan_free(&plan);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return rc;
}

static json_t *dlq_json(const struct dead_letter *letter)
{
    char id[48];
    snprintf(id, sizeof id, "%d:%lld", (int)letter->partition, (long long)letter->offset);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "partner",
                     letter->partner, "event_id", letter->event_id, "event_type",
                     letter->source_topic, "dead_lettered_at", letter->at, "attempts",
                     letter->attempts, "status", letter->status, "reason", letter->reason,
                     "response_excerpt", letter->excerpt, "state",
                     letter->redriven ? "redriven" : "outstanding");
}

static int dlq_list(struct dlq *dlq, int all)
{
    static const char *const headings[] = {"ID",    "PARTNER", "TYPE",  "EVENT ID", "WHEN",
                                           "TRIES", "STATUS",  "STATE", "REASON"};
    struct table *table = dlq->ctl->json ? NULL : table_new(9, headings);
    size_t outstanding = 0;
    for (size_t i = 0; i < dlq->count; i++) {
        const struct dead_letter *letter = &dlq->letters[i];
        if (!letter->redriven)
            outstanding++;
        if (letter->redriven && !all)
            continue;
        if (dlq->ctl->json) {
            output_json_line(dlq_json(letter));
            continue;
        }
        char id[48];
        snprintf(id, sizeof id, "%d:%lld", (int)letter->partition, (long long)letter->offset);
        const char *cells[] = {id,
                               letter->partner,
                               letter->source_topic,
                               letter->event_id,
                               letter->at,
                               letter->attempts,
                               letter->status,
                               letter->redriven ? "redriven" : "outstanding",
                               letter->reason};
        table_add(table, cells);
    }
    if (table) {
        table_print(table, stdout);
        printf("%zu outstanding dead letter%s%s%s\n", outstanding, outstanding == 1 ? "" : "s",
               dlq->partner ? " for " : "", dlq->partner ? dlq->partner : "");
    }
    return outstanding ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
}

static int dlq_parse_id(const char *text, int32_t *partition, int64_t *offset)
{
    int p;
    long long o;
    char extra;
    if (sscanf(text, "%d:%lld%c", &p, &o, &extra) != 2 || p < 0 || o < 0)
        return -1;
    *partition = p;
    *offset = o;
    return 0;
}

static int dlq_show(struct dlq *dlq, const char *id, int payload)
{
    int32_t partition;
    int64_t offset;
    if (dlq_parse_id(id, &partition, &offset) != 0) {
        fprintf(stderr, "placehub-ctl dlq show: ID is PARTITION:OFFSET, not '%s'\n", id);
        return CTL_EXIT_USAGE;
    }
    struct dead_letter *letter = dlq_find(dlq, partition, offset);
    if (!letter) {
        fprintf(stderr, "placehub-ctl dlq show: no dead letter %s%s%s\n", id,
                dlq->partner ? " for partner " : "", dlq->partner ? dlq->partner : "");
        return CTL_EXIT_ATTENTION;
    }
    json_t *shown = dlq_json(letter);
    if (payload && letter->payload) {
        int schema_id;
        json_object_set_new(
            shown, "event",
            decode_bytes(ctl_registry(dlq->ctl), letter->payload, letter->len, &schema_id));
    }
    if (dlq->ctl->json) {
        output_json_line(shown);
        return CTL_EXIT_OK;
    }
    const char *key;
    json_t *value;
    json_object_foreach(shown, key, value)
    {
        if (json_is_string(value)) {
            printf("%-18s %s\n", key, json_string_value(value));
        } else {
            char *text = json_dumps(value, JSON_INDENT(2));
            printf("%-18s %s\n", key, text ? text : "");
            free(text);
        }
    }
    json_decref(shown);
    return CTL_EXIT_OK;
}

static int dlq_redrive_one(struct dlq *dlq, struct dead_letter *letter, struct redeliver *redeliver,
                           int attempts)
{
    char reason[320], id[48];
    snprintf(id, sizeof id, "%d:%lld", (int)letter->partition, (long long)letter->offset);
    int schema_id;
    json_t *event = decode_bytes(ctl_registry(dlq->ctl), letter->payload, letter->len, &schema_id);
    char *body = schema_id >= 0 ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    if (!body) {
        fprintf(stderr,
                "placehub-ctl dlq redrive: %s cannot be decoded (unreadable event): "
                "it stays a dead letter\n",
                id);
        return 0;
    }
    /* The receipt's source is the original event's place, as dispatch's. */
    json_t *extra = json_pack("{s:{s:s,s:i,s:I}}", "dead_letter", "topic",
                              dlq->ctl->config->dispatch.dead_letter_topic, "partition",
                              (int)letter->partition, "offset", (json_int_t)letter->offset);
    struct redeliver_source source = {letter->source_topic, (int32_t)atoi(letter->source_partition),
                                      strtoll(letter->source_offset, NULL, 10), letter->key,
                                      letter->key_len};
    int sent = redeliver_send(redeliver, &source, letter->source_topic, letter->event_id, body,
                              "redrive", extra, attempts, reason, sizeof reason);
    json_decref(extra);
    free(body);
    if (sent <= 0) {
        fprintf(stderr, "placehub-ctl dlq redrive: %s to %s not delivered: %s\n", id,
                letter->partner, reason);
        return sent;
    }
    /* IMPORTANT: marked only after the delivery and its receipt are safe. */
    char at[48];
    codec_timestamp_format(clock_wall_ms(), at, sizeof at);
    struct producer_header headers[] = {
        {"placehub.record", "redriven", 8},
        {"placehub.dead_letter", id, strlen(id)},
        {"placehub.partner", letter->partner, strlen(letter->partner)},
        {"placehub.event_id", letter->event_id, strlen(letter->event_id)},
        {"placehub.redriven_at", at, strlen(at)},
    };
    struct producer_result result;
    if (producer_send(redeliver_producer(redeliver), dlq->ctl->config->dispatch.dead_letter_topic,
                      letter->key, letter->key_len, NULL, 0, headers, 5, &result) != 0) {
        fprintf(stderr,
                "placehub-ctl dlq redrive: %s delivered, but not marked redriven (%s): a "
                "later redrive sends it again\n",
                id, rd_kafka_err2str(result.err));
        return -1;
    }
    letter->redriven = 1;
    return 1;
}

/* The dead letters a redrive is to send: every outstanding one (--all)
 * and those named. Returns 0, or CTL_EXIT_USAGE after saying which ID is
 * not a dead letter (nothing is sent then). */
static int dlq_redrive_choose(struct dlq *dlq, char **ids, size_t id_count, int all,
                              struct dead_letter **chosen, size_t *chosen_count)
{
    *chosen_count = 0;
    if (all)
        for (size_t i = 0; i < dlq->count; i++)
            if (!dlq->letters[i].redriven)
                chosen[(*chosen_count)++] = &dlq->letters[i];
    for (size_t i = 0; i < id_count; i++) {
        int32_t partition;
        int64_t offset;
        struct dead_letter *letter = NULL;
        if (dlq_parse_id(ids[i], &partition, &offset) == 0)
            letter = dlq_find(dlq, partition, offset);
        if (!letter) {
            fprintf(stderr,
                    "placehub-ctl dlq redrive: no dead letter %s%s%s on %s (IDs are "
                    "PARTITION:OFFSET from 'placehub-ctl dlq list'): nothing sent\n",
                    ids[i], dlq->partner ? " for partner " : "", dlq->partner ? dlq->partner : "",
                    dlq->ctl->config->dispatch.dead_letter_topic);
            return CTL_EXIT_USAGE;
        }
        int twice = 0;
        for (size_t c = 0; c < *chosen_count; c++)
            twice |= chosen[c] == letter;
        if (!twice)
            chosen[(*chosen_count)++] = letter;
    }
    return 0;
}

/* One engine per partner of the chosen dead letters, all set up before
 * anything is sent: a partner that cannot be set up (a secret unset in
 * this environment, a partner gone from the configuration) stops the
 * redrive with nothing sent. */
struct dlq_engines {
    struct {
        const char *partner; /* borrowed from a dead letter */
        struct redeliver *redeliver;
    } engine[64];
    size_t count;
};

static struct redeliver *dlq_engine(struct dlq_engines *engines, const char *partner)
{
    for (size_t e = 0; e < engines->count; e++)
        if (strcmp(engines->engine[e].partner, partner) == 0)
            return engines->engine[e].redeliver;
    return NULL;
}

static int dlq_engines_new(struct dlq *dlq, struct dead_letter **chosen, size_t chosen_count,
                           struct dlq_engines *engines)
{
    char errstr[1024];
    for (size_t i = 0; i < chosen_count; i++) {
        const char *partner = chosen[i]->partner;
        if (dlq_engine(engines, partner))
            continue;
        struct redeliver *redeliver =
            engines->count < 64 ? redeliver_new(dlq->ctl->config, partner, errstr, sizeof errstr)
                                : NULL;
        if (!redeliver) {
            fprintf(stderr,
                    "placehub-ctl dlq redrive: cannot deliver to %s: %s\n"
                    "Nothing was sent. ('placehub-ctl --check-config' checks every partner.)\n",
                    partner, engines->count < 64 ? errstr : "more than 64 partners at once");
            return -1;
        }
        if (dlq->actor)
            redeliver_set_actor(redeliver, dlq->actor);
        engines->engine[engines->count].partner = partner;
        engines->engine[engines->count++].redeliver = redeliver;
    }
    return 0;
}

static void dlq_engines_destroy(struct dlq_engines *engines)
{
    for (size_t e = 0; e < engines->count; e++)
        redeliver_destroy(engines->engine[e].redeliver);
}

/* Whether the dead letter's partner has received its event since it was
 * dead-lettered: redriven already (its marker), or a later "delivered"
 * receipt in the disclosure ledger (a replay, dispatch after a restart).
 * 1 with found filled, 0, or -1 after a message. */
static int dlq_already_delivered(struct dlq *dlq, struct ledger *ledger,
                                 const struct dead_letter *letter, struct ctl_delivery *found)
{
    char errstr[1024];
    int64_t since_ms = 0;
    memset(found, 0, sizeof *found);
    if (letter->redriven) {
        snprintf(found->via, sizeof found->via, "redrive");
        return 1;
    }
    if (codec_timestamp_parse(letter->at, &since_ms) != 0)
        since_ms = 0;
    int rc = ctl_delivered_since(dlq->ctl, ledger, letter->key, letter->key_len, letter->partner,
                                 letter->event_id, since_ms, found, errstr, sizeof errstr);
    if (rc < 0)
        fprintf(stderr, "placehub-ctl dlq redrive: cannot read the disclosure ledger: %s\n",
                errstr);
    return rc;
}

static void dlq_redrive_outcome(const struct dlq *dlq, const struct dead_letter *letter,
                                const char *outcome)
{
    if (!dlq->ctl->json)
        return;
    char id[48];
    snprintf(id, sizeof id, "%d:%lld", (int)letter->partition, (long long)letter->offset);
    output_json_line(json_pack("{s:s,s:s,s:s,s:s}", "id", id, "partner", letter->partner,
                               "event_id", letter->event_id, "outcome", outcome));
}

/* Sends the chosen dead letters, skipping those delivered since. */
static int dlq_redrive_send(struct dlq *dlq, struct dead_letter **chosen, size_t chosen_count,
                            struct dlq_engines *engines, struct ledger *ledger, int attempts)
{
    size_t delivered = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < chosen_count; i++) {
        struct dead_letter *letter = chosen[i];
        struct ctl_delivery found;
        int already = dlq_already_delivered(dlq, ledger, letter, &found);
        if (already < 0)
            return CTL_EXIT_ERROR;
        if (already) {
            fprintf(stderr,
                    "placehub-ctl dlq redrive: %d:%lld (event %s) was already delivered to %s%s%s "
                    "(via %s): not sent again, nothing recorded\n",
                    (int)letter->partition, (long long)letter->offset, letter->event_id,
                    letter->partner, found.at[0] ? " at " : "", found.at, found.via);
            skipped++;
            dlq_redrive_outcome(dlq, letter, "already_delivered");
            continue;
        }
        int sent = dlq_redrive_one(dlq, letter, dlq_engine(engines, letter->partner), attempts);
        if (sent > 0)
            delivered++;
        else
            failed++;
        dlq_redrive_outcome(dlq, letter, sent > 0 ? "delivered" : "failed");
    }
    if (!dlq->ctl->json)
        printf("%zu redriven, %zu not delivered%s", delivered, failed, skipped ? ", " : "\n");
    if (!dlq->ctl->json && skipped)
        printf("%zu already delivered (not sent again)\n", skipped);
    return failed || skipped ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
}

static int dlq_redrive(struct dlq *dlq, char **ids, size_t id_count, int all, int attempts)
{
    if (!all && id_count == 0) {
        fprintf(stderr, "placehub-ctl dlq redrive: name dead letters (ID...) or --all\n");
        return CTL_EXIT_USAGE;
    }
    struct dead_letter **chosen = calloc(dlq->count + id_count + 1, sizeof *chosen);
    struct dlq_engines engines = {.count = 0};
    struct ledger *ledger = NULL;
    size_t chosen_count = 0;
    char errstr[1024];
    if (!chosen)
        return CTL_EXIT_ERROR;
    int rc = dlq_redrive_choose(dlq, ids, id_count, all, chosen, &chosen_count);
    if (rc != 0)
        goto out;
    rc = CTL_EXIT_ERROR;
    if (dlq_engines_new(dlq, chosen, chosen_count, &engines) != 0)
        goto out;
    if (chosen_count && ctl_ledger_open(dlq->ctl, NULL, &ledger, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl dlq redrive: %s: nothing sent\n", errstr);
        goto out;
    }
    rc = dlq_redrive_send(dlq, chosen, chosen_count, &engines, ledger, attempts);
out:
    ledger_close(ledger);
    dlq_engines_destroy(&engines);
    free(chosen);
    return rc;
}

int ctl_dlq(struct ctl *ctl, int argc, char **argv)
{
    enum { PARTNER = 1000, ALL, PAYLOAD, ATTEMPTS, ACTOR };
    static const struct option options[] = {CTL_COMMON_LONG,
                                            {"partner", required_argument, NULL, PARTNER},
                                            {"all", no_argument, NULL, ALL},
                                            {"payload", no_argument, NULL, PAYLOAD},
                                            {"attempts", required_argument, NULL, ATTEMPTS},
                                            {"actor", required_argument, NULL, ACTOR},
                                            {NULL, 0, NULL, 0}};
    struct dlq dlq = {.ctl = ctl};
    int all = 0, payload = 0, attempts = 3, option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1) {
        if (option == PARTNER)
            dlq.partner = optarg;
        else if (option == ALL)
            all = 1;
        else if (option == PAYLOAD)
            payload = 1;
        else if (option == ATTEMPTS)
            attempts = atoi(optarg) > 0 ? atoi(optarg) : 1;
        else if (option == ACTOR)
            dlq.actor = optarg;
        else
            ctl_common_option(ctl, option, dlq_help);
    }
    if (optind >= argc) {
        fputs(dlq_help, stderr);
        return CTL_EXIT_USAGE;
    }
    size_t actor_len = dlq.actor ? strlen(dlq.actor) : 0;
    if (dlq.actor &&
        (actor_len == 0 || actor_len > 64 ||
         strspn(dlq.actor, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") !=
             actor_len)) {
        fprintf(stderr, "placehub-ctl dlq: --actor: 1 to 64 letters, digits, '.', '_', '@' or "
                        "'-'\n");
        return CTL_EXIT_USAGE;
    }
    const char *action = argv[optind++];
    int is_list = strcmp(action, "list") == 0, is_show = strcmp(action, "show") == 0,
        is_redrive = strcmp(action, "redrive") == 0;
    if (!is_list && !is_show && !is_redrive) {
        fprintf(stderr, "placehub-ctl dlq: list, show or redrive, not '%s'\n", action);
        return CTL_EXIT_USAGE;
    }
    if ((is_list && optind != argc) || (is_show && optind + 1 != argc)) {
        fprintf(stderr, "placehub-ctl dlq %s: unexpected arguments. Try --help.\n", action);
        return CTL_EXIT_USAGE;
    }
    if (ctl_load(ctl) != 0 || ((is_show || is_redrive) && !ctl_registry(ctl)))
        return CTL_EXIT_ERROR;
    if (dlq.partner && !config_partner_find(ctl->config, dlq.partner))
        fprintf(stderr, "placehub-ctl dlq: note: no partner %s in the configuration now\n",
                dlq.partner);
    dlq.keep_messages = is_show || is_redrive;
    char errstr[512];
    int rc;
    if (dlq_read(&dlq, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl dlq: %s\n", errstr);
        rc = CTL_EXIT_ERROR;
    } else if (is_list) {
        rc = dlq_list(&dlq, all);
    } else if (is_show) {
        rc = dlq_show(&dlq, argv[optind], payload);
    } else {
        rc = dlq_redrive(&dlq, argv + optind, (size_t)(argc - optind), all, attempts);
    }
    dlq_free(&dlq);
    return rc;
}

int dlq_outstanding(struct ctl *ctl, json_t *counts, char *errstr, size_t errstr_size)
{
    struct dlq dlq = {.ctl = ctl};
    int progress = ctl->progress;
    ctl->progress = 0;
    int rc = dlq_read(&dlq, errstr, errstr_size);
    ctl->progress = progress;
    for (size_t i = 0; rc == 0 && i < dlq.count; i++)
        if (!dlq.letters[i].redriven) {
            const char *partner = dlq.letters[i].partner;
            json_int_t now = json_integer_value(json_object_get(counts, partner));
            json_object_set_new(counts, partner, json_integer(now + 1));
        }
    dlq_free(&dlq);
    return rc;
}
