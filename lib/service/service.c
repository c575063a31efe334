/*
 * service.c - start-up and shutdown shared by the programs (see service.h).
 */
#include "service/service.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/connector.h"
#include "delivery/delivery.h"
#include "kafka/kafka.h"
#include "governance/agreement.h"
#include "schema/event.h"
#include "core/log.h"
#include "core/secret.h"
#include "schema/registry.h"

void service_parse_options(int argc, char **argv, const char *help, struct service_options *options)
{
    static const struct option long_options[] = {{"config", required_argument, NULL, 'c'},
                                                 {"check-config", no_argument, NULL, 'C'},
                                                 {"help", no_argument, NULL, 'h'},
                                                 {NULL, 0, NULL, 0}};
    options->config_path = "config/placehub.yaml";
    options->check_config = 0;
    int option;
    while ((option = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
        switch (option) {
        case 'c':
            options->config_path = optarg;
            break;
        case 'C':
            options->check_config = 1;
            break;
        case 'h':
            fputs(help, stdout);
            exit(0);
        default:
            fprintf(stderr, "Try '%s --help'.\n", argv[0]);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'. Try '%s --help'.\n", argv[0], argv[optind],
                argv[0]);
        exit(2);
    }
}

struct config *service_load_config(const char *program, const struct service_options *options)
{
    char errstr[1024];
    struct config *config = NULL;
    if (config_load(options->config_path, &config, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", program, errstr);
        exit(1);
    }
    if (options->check_config) {
        printf("%s: configuration OK\n", options->config_path);
        config_destroy(config);
        exit(0);
    }
    return config;
}

struct registry *service_load_registry(const char *program, const struct config *config)
{
    char errstr[1024];
    struct registry *registry = NULL;
    if (registry_new(config, &registry, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: schemas: %s\n", program, errstr);
        exit(1);
    }
    return registry;
}

void service_check_agreements(const char *program, const struct config *config,
                              const struct registry *registry)
{
    char errstr[1024];
    if (agreement_check(config, registry_catalogue(registry), errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: configuration error: %s\n", program, errstr);
        exit(1);
    }
}

void service_check_connectors(const char *program, const struct config *config)
{
    char errstr[1024], message[768];
    for (size_t i = 0; i < config->partner_count; i++) {
        const struct config_partner *partner = &config->partners[i];
        if (!partner->connector)
            continue; /* a publisher only */
        const struct placehub_connector_type *type =
            connector_find(partner->connector, message, sizeof message);
        if (!type) {
            fprintf(stderr, "%s: configuration error: %s:%d: partner %s: %s\n", program,
                    config->path, partner->line, partner->id, message);
            exit(1);
        }
        if (connector_options_check(type, config, partner, errstr, sizeof errstr) != 0) {
            fprintf(stderr, "%s: configuration error: %s\n", program, errstr);
            exit(1);
        }
    }
    /* Then what the partners' set-up reads from outside the file (dispatch
     * does it again when it starts them): a --check-config that passes
     * while a variable is unset in this environment would be a lie. */
    if (service_check_delivery(program, config) != 0)
        exit(1);
}

/* One problem, with the file and line: messages from the configuration's
 * own checks carry them already; the others get the line given. */
static void service_report(const char *program, const struct config *config, int line,
                           const char *message)
{
    if (strncmp(message, config->path, strlen(config->path)) == 0)
        fprintf(stderr, "%s: configuration error: %s\n", program, message);
    else
        fprintf(stderr, "%s: configuration error: %s:%d: %s\n", program, config->path, line,
                message);
}

int service_check_delivery(const char *program, const struct config *config)
{
    char errstr[1024];
    int problems = 0;
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, sizeof errstr);
    if (conf) {
        rd_kafka_conf_destroy(conf);
    } else {
        service_report(program, config, config->kafka.line, errstr);
        problems++;
    }
    for (size_t i = 0; i < config->partner_count; i++) {
        const struct config_partner *partner = &config->partners[i];
        struct delivery_partner *delivery = NULL;
        if (!partner->connector)
            continue; /* a publisher only: nothing is delivered to it */
        if (delivery_partner_new(config, partner, &delivery, errstr, sizeof errstr) != 0) {
            service_report(program, config, partner->line, errstr);
            problems++;
        }
        delivery_partner_destroy(delivery);
    }
    return problems;
}

void service_load_person_key(const char *program, const struct config *config)
{
    const char *reference = config->governance.person_key;
    if (!reference) {
        log_warning("DEVELOPMENT PERSON KEY: governance.person_key is not set, so person keys "
                    "(Kafka keys, audit person_ref) are made with the built-in key that anyone "
                    "can use to recover NHS numbers from them. Test data only; set "
                    "governance.person_key (docs/governance.md) before real data");
        return;
    }
    char secret[300], problem[256];
    if (secret_read(reference, secret, sizeof secret, problem, sizeof problem) != 0) {
        fprintf(stderr, "%s: configuration error: governance.person_key: %s\n", program, problem);
        exit(1);
    }
    size_t len = strlen(secret);
    int rc = event_person_key_set(secret, len);
    explicit_bzero(secret, sizeof secret);
    if (rc != 0) {
        fprintf(stderr,
                "%s: configuration error: governance.person_key %s holds %zu bytes; it needs 32 "
                "to 256 (e.g. the output of: openssl rand -hex 32)\n",
                program, reference, len);
        exit(1);
    }
}

void service_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    /* A partner closing a connection mid-write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
}

int service_wait_for_signal(void)
{
    sigset_t set;
    int signal_number = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &signal_number);
    log_info("stopping on signal %d", signal_number);
    return signal_number;
}
