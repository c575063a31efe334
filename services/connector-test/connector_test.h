/*
 * connector_test.h - the connector test kit behind placehub-connector-test:
 * loads one connector, checks it keeps the ABI contract, and feeds it sample
 * events of every type, printing each prepared request (dry run) or
 * performing it as placehub-dispatch would (lib/delivery/transfer.c, one libcurl easy
 * handle) and reporting what the partner answered. No Kafka involved.
 */
#ifndef PLACEHUB_CONNECTOR_TEST_H
#define PLACEHUB_CONNECTOR_TEST_H

#include <stddef.h>
#include <stdio.h>

#define CONNECTOR_TEST_MAX_OPTIONS 64

struct connector_test_option {
    const char *key; /* borrowed from the command line */
    const char *value;
};

struct connector_test_settings {
    const char *connector;   /* built-in name or a path with a '/'; NULL: the partner's */
    const char *config_path; /* -c: take the partner's connector and options from here */
    const char *partner_id;  /* --partner; default "connector-test" */
    const char *events_dir;  /* sample events (*.json); default tests/data */
    int dry_run;             /* print the requests instead of performing them */
    struct connector_test_option options[CONNECTOR_TEST_MAX_OPTIONS]; /* override the config's */
    size_t option_count;
};

/* Runs the kit, writing the report to out (diagnostics from the connector
 * and the host's log go to stderr). Returns the exit status: 0 when every
 * contract check passed and every event was prepared (and, when performed,
 * delivered); 1 otherwise. */
int connector_test_run(const struct connector_test_settings *settings, FILE *out);

#endif
