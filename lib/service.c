/*
 * service.c - start-up and shutdown shared by the programs (see service.h).
 */
#include "service.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "registry.h"

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
