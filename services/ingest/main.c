/*
 * placehub-ingest: the HTTP intake. main() only parses options, loads the
 * configuration and runs the service until SIGINT/SIGTERM.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ingest.h"
#include "log.h"
#include "registry.h"
#include "service.h"

static const char help[] =
    "Usage: placehub-ingest [-c CONFIG] [--check-config]\n"
    "\n"
    "Accepts events from partners over HTTP and writes them to Kafka.\n"
    "\n"
    "  POST /v1/events/{type}   type: admission, discharge, referral, employment-support\n"
    "                           body: the event as JSON (see docs/schemas.md)\n"
    "  -> 202 {\"event_id\": ...}  only after the broker acknowledged the write\n"
    "  -> 400 malformed JSON, 422 an invalid field (named in the answer),\n"
    "     404 unknown event type, 413 body too large, 503 Kafka unavailable\n"
    "     (retry with the same event_id: it is returned in the 503 answer)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and exit\n"
    "  -h, --help          this text\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error\n"
    "\n"
    "Example:\n"
    "  placehub-ingest -c config/placehub.yaml &\n"
    "  curl -X POST -H 'Content-Type: application/json' \\\n"
    "       --data @tests/data/admission.json http://127.0.0.1:8080/v1/events/admission\n";

int main(int argc, char **argv)
{
    struct service_options options;
    char errstr[1024];
    struct registry *registry = NULL;
    struct ingest *ingest = NULL;

    log_init("placehub-ingest", -1);
    /* First of all: a stop asked for during start-up is then honoured
     * once start-up is done, instead of killing the process halfway. */
    service_block_signals();
    service_parse_options(argc, argv, help, &options);
    struct config *config = service_load_config("placehub-ingest", &options);
    service_load_person_key("placehub-ingest", config);
    registry = service_load_registry("placehub-ingest", config);
    if (ingest_new(config, registry, &ingest, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ingest: cannot start: %s\n", errstr);
        registry_destroy(registry);
        config_destroy(config);
        return 1;
    }
    log_info("listening port=%d", ingest_port(ingest));
    service_wait_for_signal();
    ingest_destroy(ingest);
    registry_destroy(registry);
    config_destroy(config);
    return 0;
}
