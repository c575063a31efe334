/*
 * objection.c - `placehub-ctl objection record|withdraw|show`: a person's
 * objections on the register (docs/operations.md, docs/governance.md "The
 * objection register").
 *
 * record and withdraw go through lib/governance/objection_write.c, the
 * writer placehub-ingest's POST /v1/objections uses too: the same checks,
 * the same two records (the audit record, then the change), source "ctl".
 * show reads the whole objections topic (compacted: one record per person
 * and scope) and keeps the records whose key starts with the person's
 * reference. The NHS number is typed by the operator, turned into the
 * person reference and never printed or logged.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "ctl.h"
#include "governance/objection_write.h"
#include "kafka/producer.h"
#include "schema/codec.h"
#include "schema/event.h"
#include "service/service.h"

static const char objection_help[] =
    "Usage: placehub-ctl objection record   --nhs N --scope S --by WHO\n"
    "       placehub-ctl objection withdraw --nhs N --scope S --by WHO\n"
    "       placehub-ctl objection show     --nhs N [--format text|json]\n"
    "\n"
    "A person's objections to sharing, held by the hub on its objection register\n"
    "(governance.objections_topic). Dispatch withholds the person's events where\n"
    "a standing objection applies, and audits each suppression with the reason\n"
    "objection:<scope>.\n"
    "\n"
    "  record    records an objection in one scope; the change and its audit record\n"
    "            (dispatch.audit_topic) are written, and acknowledged by the broker,\n"
    "            before the command says so\n"
    "  withdraw  withdraws it (kept on the register as withdrawn: show says when)\n"
    "  show      every scope of the person with its current state, when it\n"
    "            changed, by whom and through what (ctl, or api:<partner>)\n"
    "\n"
    "Scopes:\n"
    "  national_data_opt_out         the national data opt-out: secondary use only,\n"
    "                                never direct care\n"
    "  local:purpose:secondary_use   a local objection to secondary use\n"
    "  local:purpose:direct_care     a local objection to sharing for direct care\n"
    "  local:partner:<partner id>    sharing with that partner, whatever the purpose\n"
    "\n"
    "Options:\n"
    "      --nhs N          the NHS number: 10 digits, or grouped 3-3-4 with spaces\n"
    "                       or hyphens (\"999 012 3454\", \"999-012-3454\"); checked\n"
    "                       (Modulus 11) before anything is written\n"
    "      --scope S        one of the scopes above\n"
    "      --by WHO         who records it: a staff role or system id, letters,\n"
    "                       digits and . _ - : (e.g. gp-reception); no names\n"
    "      --format FORMAT  text (default) or json; --json is json\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -h, --help           this text\n"
    "\n"
    "Examples:\n"
    "  placehub-ctl objection record --nhs \"999 012 3454\" \\\n"
    "      --scope national_data_opt_out --by gp-reception\n"
    "  placehub-ctl objection withdraw --nhs 9990123454 \\\n"
    "      --scope local:partner:housing --by ig-team\n"
    "  placehub-ctl objection show --nhs 999-012-3454 --format json\n"
    "\n"
    "Exit codes: 0 done, 1 error (configuration, broker), 2 bad command line,\n"
    "NHS number, scope or --by (nothing written), 3 show: no objection on record.\n"
    "\n"
    "Every change is on the audit topic as {\"record\": \"objection_change\", ...}.\n"
    "Neither the NHS number nor any name is written anywhere: the register holds\n"
    "the person reference (a keyed hash, governance.person_key).\n";

struct objection_options {
    const char *nhs;
    const char *scope;
    const char *by;
};

/* One person's records from the topic: scope -> the decoded record. */
struct objection_show {
    char prefix[OBJECTION_PERSON_REF_SIZE + 1]; /* "<person_ref>|" */
    json_t *scopes;
    size_t unreadable;
};

static int objection_show_record(void *opaque, const rd_kafka_message_t *message)
{
    struct objection_show *show = opaque;
    size_t prefix_len = strlen(show->prefix);
    if (!message->key || message->key_len <= prefix_len ||
        memcmp(message->key, show->prefix, prefix_len) != 0)
        return 0;
    /* The scope is the rest of the key. */
    char scope[OBJECTION_SCOPE_SIZE];
    size_t scope_len = message->key_len - prefix_len;
    if (scope_len >= sizeof scope) {
        show->unreadable++;
        return 0;
    }
    memcpy(scope, (const char *)message->key + prefix_len, scope_len);
    scope[scope_len] = '\0';
    /* A tombstone: no objection in that scope. Records of a key share a
     * partition, read in order: the last one stands. */
    if (!message->payload) {
        json_object_del(show->scopes, scope);
        return 0;
    }
    struct objection_change change;
    char errstr[256], changed_at[40];
    if (objection_change_decode(message->payload, message->len, &change, errstr, sizeof errstr) !=
        0) {
        show->unreadable++;
        return 0;
    }
    codec_timestamp_format(change.changed_at, changed_at, sizeof changed_at);
    json_object_set_new(show->scopes, scope,
                        json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I}", "scope", scope, "state",
                                  change.withdrawn ? "withdrawn" : "recorded", "changed_at",
                                  changed_at, "recorded_by", change.recorded_by, "source",
                                  change.source, "partition", (int)message->partition, "offset",
                                  (json_int_t)message->offset));
    return 0;
}

static int objection_show(struct ctl *ctl, const char *person_ref)
{
    char errstr[1024];
    struct objection_show show = {.scopes = json_object()};
    snprintf(show.prefix, sizeof show.prefix, "%s|", person_ref);
    struct scan_plan plan = {0};
    const char *topic = ctl->config->governance.objections_topic;
    rd_kafka_t *consumer = ctl_consumer(ctl->config, NULL, errstr, sizeof errstr);
    int rc = CTL_EXIT_ERROR;
    if (!consumer || scan_plan_tail(consumer, &plan, topic, -1, errstr, sizeof errstr) != 0 ||
        scan_run(consumer, &plan, 0, ctl->progress, objection_show_record, &show, errstr,
                 sizeof errstr) < 0) {
        fprintf(stderr, "placehub-ctl objection show: %s\n", errstr);
        goto out;
    }
    if (show.unreadable)
        fprintf(stderr, "placehub-ctl objection show: %zu record(s) of this person unreadable\n",
                show.unreadable);
    const char *scope;
    json_t *row, *rows = json_array();
    json_object_foreach(show.scopes, scope, row) json_array_append(rows, row);
    if (ctl->json) {
        output_json_line(json_pack("{s:s,s:s,s:o}", "person_ref", person_ref, "topic", topic,
                                   "objections", rows));
    } else {
        printf("Objections on record for person_ref %s: %zu scope(s)\n", person_ref,
               json_array_size(rows));
        static const char *const headings[] = {"SCOPE", "STATE", "CHANGED AT", "RECORDED BY",
                                               "SOURCE"};
        struct table *table = table_new(5, headings);
        size_t i;
        json_array_foreach(rows, i, row)
        {
            const char *cells[] = {json_string_value(json_object_get(row, "scope")),
                                   json_string_value(json_object_get(row, "state")),
                                   json_string_value(json_object_get(row, "changed_at")),
                                   json_string_value(json_object_get(row, "recorded_by")),
                                   json_string_value(json_object_get(row, "source"))};
            table_add(table, cells);
        }
        table_print(table, stdout);
        json_decref(rows);
    }
    rc = json_object_size(show.scopes) ? CTL_EXIT_OK : CTL_EXIT_ATTENTION;
out:
    scan_plan_free(&plan);
    if (consumer) {
        rd_kafka_consumer_close(consumer);
        rd_kafka_destroy(consumer);
    }
    json_decref(show.scopes);
    return rc;
}

/* record or withdraw. */
static int objection_change(struct ctl *ctl, const char *verb,
                            const struct objection_options *options)
{
    char errstr[1024];
    struct objection_write_request request = {.nhs_number = options->nhs,
                                              .scope = options->scope,
                                              .recorded_by = options->by,
                                              .withdraw = strcmp(verb, "withdraw") == 0,
                                              .source = "ctl"};
    struct objection_change change;
    struct objection_write_refusal refusal;
    if (objection_write_check(ctl->config, &request, &change, &refusal) != 0) {
        fprintf(stderr, "placehub-ctl objection %s: %s (nothing written)\n", verb, refusal.message);
        return CTL_EXIT_USAGE;
    }
    struct producer *producer = NULL;
    int rc = CTL_EXIT_ERROR;
    if (producer_new(ctl->config, "placehub-ctl", 30000, PRODUCER_LINGER_ACK_MS, &producer, errstr,
                     sizeof errstr) != 0 ||
        objection_write_topics_ensure(producer_handle(producer), ctl->config, 30000, errstr,
                                      sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl objection %s: %s (nothing written)\n", verb, errstr);
        goto out;
    }
    struct objection_write_result result;
    if (objection_write_send(producer, ctl->config, &change, clock_wall_ms(), &result) != 0) {
        fprintf(stderr,
                "placehub-ctl objection %s: the broker did not acknowledge the change (%s); "
                "run the command again (the same change again is harmless)\n",
                verb, rd_kafka_err2str(result.err));
        goto out;
    }
    char scope[OBJECTION_SCOPE_SIZE];
    objection_scope_format(&change.scope, scope, sizeof scope);
    if (ctl->json)
        output_json_line(json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:I}", "person_ref", change.person_ref,
                                   "scope", scope, "state", result.state, "changed_at",
                                   result.changed_at, "topic",
                                   ctl->config->governance.objections_topic, "partition",
                                   (int)result.partition, "offset", (json_int_t)result.offset));
    else
        printf("Objection %s: person %s, scope %s, at %s (%s partition %d offset %lld; audited "
               "on %s)\n",
               result.state, change.person_ref, scope, result.changed_at,
               ctl->config->governance.objections_topic, (int)result.partition,
               (long long)result.offset, ctl->config->dispatch.audit_topic);
    rc = CTL_EXIT_OK;
out:
    producer_destroy(producer);
    return rc;
}

int ctl_objection(struct ctl *ctl, int argc, char **argv)
{
    enum { OPTION_NHS = 1000, OPTION_SCOPE, OPTION_BY, OPTION_FORMAT };
    static const struct option long_options[] = {CTL_COMMON_LONG,
                                                 {"nhs", required_argument, NULL, OPTION_NHS},
                                                 {"scope", required_argument, NULL, OPTION_SCOPE},
                                                 {"by", required_argument, NULL, OPTION_BY},
                                                 {"format", required_argument, NULL, OPTION_FORMAT},
                                                 {NULL, 0, NULL, 0}};
    struct objection_options options = {0};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, long_options, NULL)) != -1) {
        switch (option) {
        case OPTION_NHS:
            options.nhs = optarg;
            break;
        case OPTION_SCOPE:
            options.scope = optarg;
            break;
        case OPTION_BY:
            options.by = optarg;
            break;
        case OPTION_FORMAT:
            if (strcmp(optarg, "json") == 0)
                ctl->json = 1;
            else if (strcmp(optarg, "text") == 0)
                ctl->json = 0;
            else {
                fprintf(stderr, "placehub-ctl objection: --format is text or json. Try --help.\n");
                return CTL_EXIT_USAGE;
            }
            break;
        default:
            ctl_common_option(ctl, option, objection_help);
        }
    }
    const char *verb = optind + 1 == argc ? argv[optind] : NULL;
    int show = verb && strcmp(verb, "show") == 0;
    if (!verb || (!show && strcmp(verb, "record") != 0 && strcmp(verb, "withdraw") != 0)) {
        fprintf(stderr, "placehub-ctl objection: expected record, withdraw or show. Try --help.\n");
        return CTL_EXIT_USAGE;
    }
    if (!options.nhs || (!show && (!options.scope || !options.by))) {
        fprintf(stderr, "placehub-ctl objection %s: needs --nhs%s. Try --help.\n", verb,
                show ? "" : ", --scope and --by");
        return CTL_EXIT_USAGE;
    }
    char nhs[16], what[64];
    snprintf(what, sizeof what, "objection %s: nothing written: --nhs", verb);
    if (ctl_nhs_number(what, options.nhs, nhs, sizeof nhs) != 0)
        return CTL_EXIT_USAGE;
    if (ctl_load(ctl) != 0)
        return CTL_EXIT_ERROR;
    /* The person reference must be the one ingest and mllp key events with. */
    service_load_person_key("placehub-ctl", ctl->config);
    if (!show)
        return objection_change(ctl, verb, &options);
    char person_ref[OBJECTION_PERSON_REF_SIZE];
    int keyed = event_person_key_of_nhs_number(nhs, person_ref, sizeof person_ref);
    explicit_bzero(nhs, sizeof nhs);
    if (keyed != 0) {
        fprintf(stderr, "placehub-ctl objection show: cannot compute the person reference\n");
        return CTL_EXIT_ERROR;
    }
    return objection_show(ctl, person_ref);
}
