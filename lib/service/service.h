/*
 * service.h - what every placehub program's main() shares: options, loading
 * the configuration (fatal, with file and line, only at start-up), and
 * waiting for SIGINT/SIGTERM.
 */
#ifndef PLACEHUB_SERVICE_H
#define PLACEHUB_SERVICE_H

#include "core/config.h"

struct registry;

struct service_options {
    const char *config_path; /* -c/--config; default config/placehub.yaml */
    int check_config;        /* --check-config: load, report, exit */
};

/* Parses -c/--config, --check-config, -h/--help. help is the text printed for
 * --help (usage, what the program does, examples). Exits 0 after --help and
 * 2 on a bad option. */
void service_parse_options(int argc, char **argv, const char *help,
                           struct service_options *options);

/* Loads the configuration or exits 1 with the file, line and what to fix.
 * With --check-config, prints "configuration OK" and exits 0. */
struct config *service_load_config(const char *program, const struct service_options *options);

/* Loads the schemas (the catalogue, and the external registry client when
 * configured) or exits 1 saying what is wrong. Caller frees with
 * registry_destroy. */
struct registry *service_load_registry(const char *program, const struct config *config);

/* Checks the partners' data-sharing agreements against the schemas
 * (agreement_check, lib/governance/agreement.h) or exits 1 with the file, line and
 * what to fix. */
void service_check_agreements(const char *program, const struct config *config,
                              const struct registry *registry);

/* Finds each partner's connector (connector_find) and checks its options
 * against what the connector and the host declare (connector_options_check,
 * lib/delivery/connector.h), or exits 1 with the file, line and what to fix.
 * Partners without a connector (publishers only) are skipped. Then
 * service_check_delivery: exits 1 when anything it reports is missing. */
void service_check_connectors(const char *program, const struct config *config);

/* What delivering needs beyond the file itself, read as dispatch and
 * placehub-ctl's redelivery read it: for each partner with a connector, its
 * set-up (options, transport settings and their files, credentials) and its
 * agreements' pseudonym keys; the broker's secrets (kafka.sasl_password_env
 * and the like). Nothing is connected to. Prints each problem on stderr as
 * "program: configuration error: file:line: ..." and returns how many
 * (0: all there). For --check-config: a variable unset in this shell is
 * reported here rather than when the first event is sent. */
int service_check_delivery(const char *program, const struct config *config);

/* Sets the key of the person keys (event_person_key_set, lib/schema/event.h) from
 * governance.person_key, or exits 1 saying what is wrong. Without one, the
 * development key stays and a warning says so, loudly, at every start. */
void service_load_person_key(const char *program, const struct config *config);

/* Blocks SIGINT and SIGTERM in the calling thread (call before starting any
 * thread, so they all inherit the mask), and later waits for one. */
void service_block_signals(void);
int service_wait_for_signal(void);

#endif
