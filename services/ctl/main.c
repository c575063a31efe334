/*
 * placehub-ctl: the operator's command. main() picks the subcommand; each
 * lives in its own file (status.c, topics.c, tail.c, replay.c, dlq.c,
 * audit.c, subject.c, schemas.c, objection.c) and parses its own options
 * (see ctl.h). --check-config, what every program takes, is here.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "schema/codec.h"
#include "ctl.h"
#include "kafka/kafka.h"
#include "core/log.h"
#include "core/nhs.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-ctl SUBCOMMAND [OPTIONS]\n"
    "\n"
    "Watch and operate a placehub hub: what is on the topics, how far each partner\n"
    "is, what failed and why, and who received what about a person.\n"
    "\n"
    "Subcommands (each has --help):\n"
    "  status                 brokers, topics, per-partner lag, dead letters, circuits\n"
    "  tail TOPIC             decode and print the latest events (--follow for more)\n"
    "  dlq list|show|redrive  inspect dead letters; send them again once fixed\n"
    "  replay                 events by time window or offsets, filtered; print,\n"
    "                         export (JSON lines, CSV) or redeliver to one partner\n"
    "  audit person NHS       every event about a person and who received it\n"
    "  objection record|withdraw|show\n"
    "                         a person's objections to sharing, on the register\n"
    "  subject-access --nhs N what was disclosed about a person, to whom, when and\n"
    "                         under which agreement; what was withheld and why\n"
    "                         (from the disclosure ledger: fast, time-ordered)\n"
    "  schemas list|show|check  the schema catalogue; check a new version\n"
    "  topics                 the hub's topics: partitions, messages, first and last\n"
    "\n"
    "  placehub-ctl --check-config [-c FILE]\n"
    "                         check the configuration and that every secret the\n"
    "                         subcommands need (partners' credentials, pseudonym\n"
    "                         keys, Kafka's, the person key) can be read here\n"
    "\n"
    "Options every subcommand takes:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --json          one JSON document per line instead of tables\n"
    "  -q, --quiet         no progress bar (it is drawn on stderr only when stderr\n"
    "                      is a terminal) and no summary line on stderr (printed\n"
    "                      when piped too)\n"
    "  -h, --help          help\n"
    "\n"
    "Exit codes:\n"
    "  0  done; for status: nothing needs attention\n"
    "  1  could not do it (configuration, broker unreachable, file)\n"
    "  2  bad command line (or NHS number, scope: nothing was written)\n"
    "  3  done, but needs attention: status found lag over the limit, dead letters\n"
    "     or an open circuit; nothing matched; some redeliveries failed\n"
    "  4  schemas check: the new version is not backward compatible\n"
    "\n"
    "docs/operations.md is the runbook: find a stuck partner, see why, fix, redrive;\n"
    "audit a person; replay.\n";

int ctl_common_option(struct ctl *ctl, int option, const char *subcommand_help)
{
    switch (option) {
    case 'c':
        ctl->config_path = optarg;
        return 0;
    case 'J':
        ctl->json = 1;
        return 0;
    case 'q':
        ctl->progress = 0;
        ctl->quiet = 1;
        return 0;
    case 'h':
        fputs(subcommand_help, stdout);
        exit(CTL_EXIT_OK);
    default:
        fprintf(stderr, "Try 'placehub-ctl %s --help'.\n", optind > 0 ? "SUBCOMMAND" : "");
        exit(CTL_EXIT_USAGE);
    }
}

int ctl_load(struct ctl *ctl)
{
    char errstr[1024];
    if (ctl->config)
        return 0;
    if (config_load(ctl->config_path, &ctl->config, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ctl: configuration error: %s\n", errstr);
        return -1;
    }
    return 0;
}

struct registry *ctl_registry(struct ctl *ctl)
{
    char errstr[1024];
    if (!ctl->registry && registry_new(ctl->config, &ctl->registry, errstr, sizeof errstr) != 0)
        fprintf(stderr, "placehub-ctl: cannot load the schemas: %s\n", errstr);
    return ctl->registry;
}

rd_kafka_t *ctl_consumer(const struct config *config, const char *group, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    if (!conf)
        return NULL;
    /* librdkafka wants a group.id even for assign-only reading; a
     * private one never joins (nothing subscribes) and never commits, so
     * the broker keeps nothing of it. A partner's group is given only to
     * read its committed offsets (status). */
    char private_group[64];
    snprintf(private_group, sizeof private_group, "placehub-ctl-%ld-%ld", (long)getpid(),
             (long)time(NULL));
    if (kafka_conf_set(conf, "group.id", group ? group : private_group, errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "client.id", "placehub-ctl", errstr, errstr_size) != 0 ||
        /* A replay scan reads as fast as the broker sends: large fetches, a
         * deep local queue, and a short look again once that queue is full
         * (librdkafka waits a second by default). */
        kafka_conf_set(conf, "fetch.max.bytes", "52428800", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "queued.max.messages.kbytes", "65536", errstr, errstr_size) != 0 ||
        kafka_conf_set(conf, "fetch.queue.backoff.ms", "10", errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!consumer) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(consumer);
    return consumer;
}

int ctl_nhs_number(const char *what, const char *text, char *out, size_t out_size)
{
    char reason[512];
    if (nhs_number_normalise(text, out, out_size, reason, sizeof reason) == 0)
        return 0;
    fprintf(stderr, "placehub-ctl %s %s\n", what, reason);
    return CTL_EXIT_USAGE;
}

int ctl_check_config(struct ctl *ctl, int argc, char **argv)
{
    static const char check_help[] =
        "Usage: placehub-ctl --check-config [-c FILE]\n"
        "\n"
        "Checks the configuration as the subcommands will use it: the file, the\n"
        "schemas and agreements, each partner's connector and the secrets its\n"
        "delivery reads (credentials, the agreements' pseudonym keys: dlq redrive and\n"
        "replay --redeliver need them), Kafka's secrets and governance.person_key.\n"
        "A secret named env:NAME must be set in this environment.\n"
        "\n"
        "Exit codes: 0 all there, 1 something is missing (each problem is printed\n"
        "with the file and line), 2 bad command line.\n";
    enum { CHECK = 1000 };
    static const struct option options[] = {
        CTL_COMMON_LONG, {"check-config", no_argument, NULL, CHECK}, {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1)
        if (option != CHECK)
            ctl_common_option(ctl, option, check_help);
    if (optind != argc) {
        fprintf(stderr, "placehub-ctl --check-config: unexpected argument '%s'\n", argv[optind]);
        return CTL_EXIT_USAGE;
    }
    if (ctl_load(ctl) != 0 || !ctl_registry(ctl))
        return CTL_EXIT_ERROR;
    /* Each exits 1 with the file and line of what is wrong. */
    service_check_agreements("placehub-ctl", ctl->config, ctl->registry);
    service_check_connectors("placehub-ctl", ctl->config);
    service_load_person_key("placehub-ctl", ctl->config);
    printf("%s: configuration OK\n", ctl->config_path);
    return CTL_EXIT_OK;
}

int ctl_parse_time(const char *text, int64_t *millis)
{
    char *end = NULL;
    long long number = strtoll(text, &end, 10);
    if (end != text && *end == '\0' && strlen(text) > 8) {
        *millis = number;
        return 0;
    }
    if (codec_timestamp_parse(text, millis) == 0)
        return 0;
    int32_t days;
    if (strlen(text) == 10 && codec_date_parse(text, &days) == 0) {
        *millis = (int64_t)days * 86400000;
        return 0;
    }
    return -1;
}

static const struct {
    const char *name;
    int (*run)(struct ctl *ctl, int argc, char **argv);
} subcommands[] = {
    {"status", ctl_status},
    {"tail", ctl_tail},
    {"dlq", ctl_dlq},
    {"replay", ctl_replay},
    {"audit", ctl_audit},
    {"schemas", ctl_schemas},
    {"objection", ctl_objection},
    {"subject-access", ctl_subject_access},
    {"topics", ctl_topics},
};

int main(int argc, char **argv)
{
    struct ctl ctl = {.config_path = "config/placehub.yaml", .progress = isatty(2)};
    const char *level = getenv("PLACEHUB_LOG_LEVEL");
    /* Quiet by default: the output is the point, not librdkafka's notes. */
    log_init("placehub-ctl", level ? -1 : LOG_WARNING);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--check-config") == 0) {
            int rc = ctl_check_config(&ctl, argc, argv);
            registry_destroy(ctl.registry);
            config_destroy(ctl.config);
            return rc;
        }
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            fputs(help, stdout);
            return CTL_EXIT_OK;
        }
        fputs(help, stderr);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof subcommands / sizeof subcommands[0]; i++)
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            int rc = subcommands[i].run(&ctl, argc - 1, argv + 1);
            registry_destroy(ctl.registry);
            config_destroy(ctl.config);
            return rc;
        }
    fprintf(stderr, "placehub-ctl: no subcommand '%s'. Try 'placehub-ctl --help'.\n", argv[1]);
    return CTL_EXIT_USAGE;
}
