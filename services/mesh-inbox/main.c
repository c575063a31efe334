/*
 * placehub-mesh-inbox: the MESH intake. main() only parses options, loads
 * the configuration and runs the inbox (inbox.c) until SIGINT/SIGTERM.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "inbox.h"
#include "schema/registry.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-mesh-inbox [-c CONFIG] [--check-config]\n"
    "\n"
    "Reads the hub's own MESH mailbox (mesh_inbox: in the configuration) and\n"
    "writes each message to Kafka as the event it carries, checked as\n"
    "placehub-ingest checks a POST (docs/mesh.md):\n"
    "\n"
    "  mex-From      the sending mailbox: the partner whose ingest.mesh_mailbox it is\n"
    "  mex-Subject   the event type (admission, discharge, referral, employment-support)\n"
    "  the data      the event as JSON; without an event_id it gets one derived\n"
    "                from the MESH message id\n"
    "  -> acknowledged to MESH only after the broker acknowledged the event; a\n"
    "     message refused is dead-lettered (mesh_inbox.dead_letter_topic) with an\n"
    "     audit record saying why, then acknowledged\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and exit\n"
    "  -h, --help          this text\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error\n";

static void *main_poll(void *inbox)
{
    inbox_run(inbox);
    return NULL;
}

int main(int argc, char **argv)
{
    struct service_options options;
    char errstr[1024];
    struct inbox *inbox = NULL;
    pthread_t poller;

    log_init("placehub-mesh-inbox", -1);
    /* First of all: a stop asked for during start-up is honoured once
     * start-up is done, instead of killing the process halfway. */
    service_block_signals();
    service_parse_options(argc, argv, help, &options);
    int check_only = options.check_config;
    options.check_config = 0;
    struct config *config = service_load_config("placehub-mesh-inbox", &options);
    if (!config->mesh_inbox.url) {
        fprintf(stderr,
                "placehub-mesh-inbox: configuration error: %s has no mesh_inbox section (the "
                "hub's MESH mailbox: docs/mesh.md)\n",
                options.config_path);
        config_destroy(config);
        return 1;
    }
    if (check_only) {
        printf("%s: configuration OK\n", options.config_path);
        config_destroy(config);
        return 0;
    }
    service_load_person_key("placehub-mesh-inbox", config);
    struct registry *registry = service_load_registry("placehub-mesh-inbox", config);
    if (inbox_new(config, registry, &inbox, errstr, sizeof errstr) != 0 ||
        pthread_create(&poller, NULL, main_poll, inbox) != 0) {
        fprintf(stderr, "placehub-mesh-inbox: cannot start: %s\n", inbox ? "no thread" : errstr);
        inbox_destroy(inbox);
        registry_destroy(registry);
        config_destroy(config);
        return 1;
    }
    service_wait_for_signal();
    inbox_stop(inbox);
    pthread_join(poller, NULL);
    inbox_destroy(inbox);
    registry_destroy(registry);
    config_destroy(config);
    return 0;
}
