/*
 * placehub-dispatch: delivers events from Kafka to partners. main() only
 * parses options, loads the configuration and runs until SIGINT/SIGTERM.
 */
#include <curl/curl.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"
#include "core/log.h"
#include "net/operations.h"
#include "partner_api.h"
#include "schema/registry.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-dispatch [-c CONFIG] [--check-config]\n"
    "\n"
    "Delivers events from the Kafka topics to each partner named under `partners:`\n"
    "in the configuration, through the partner's connector (e.g. webhook).\n"
    "\n"
    "Each partner is its own consumer group, <group_prefix>.<partner id>, so its\n"
    "progress and lag show in standard Kafka tooling, e.g.\n"
    "  kafka-consumer-groups.sh --describe --group placehub.dispatch.stockport-homes\n"
    "\n"
    "Each event goes out only under one of the partner's data-sharing agreements\n"
    "(`agreements:`), cut to the fields it allows; otherwise it is suppressed. Either\n"
    "way a record goes to the audit topic (docs/governance.md).\n"
    "\n"
    "An event's offset is stored only after the partner accepted it (HTTP 2xx), or\n"
    "its suppression was recorded. Until then it is retried with backoff; nothing\n"
    "is skipped.\n"
    "\n"
    "Operators: with operations.dispatch_listen set, /metrics (Prometheus), /healthz,\n"
    "/readyz and /status (a status page) are served there (docs/operations.md), and\n"
    "the partner controls: GET /partners, POST /partners/ID/pause|resume|probe\n"
    "(a pause is not kept across a restart).\n"
    "\n"
    "Cancellations and corrections go where the original went: the disclosure\n"
    "ledger (governance.ledger, an SQLite file kept from the audit topic and\n"
    "rebuilt from it when deleted) says which partners received it.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and exit\n"
    "      --without-register-and-ledger\n"
    "                      for benchmarks only: no objection register, no ledger\n"
    "                      (logged as a warning); never in production\n"
    "  -h, --help          this text\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error\n";

static atomic_int dispatch_ready;

/* Takes --without-register-and-ledger out of argv (the shared option
 * parser knows only the options every program has). Returns 1 when given. */
static int dispatch_take_bench_option(int *argc, char **argv)
{
    int found = 0, kept = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--without-register-and-ledger") == 0)
            found = 1;
        else
            argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    *argc = kept;
    return found;
}

static int dispatch_is_ready(void *context)
{
    (void)context;
    return atomic_load(&dispatch_ready);
}

int main(int argc, char **argv)
{
    struct operations *operations = NULL;
    struct service_options options;
    char errstr[1024];
    struct registry *registry = NULL;
    struct dispatch *dispatch = NULL;
    int rc = 1;

    /* One malloc arena per thread (glibc's default, up to 8 per core) costs
     * megabytes per partner for no gain here: two are plenty. */
    mallopt(M_ARENA_MAX, 2);
    log_init("placehub-dispatch", -1);
    /* First of all: a stop asked for during start-up is then honoured
     * once start-up is done, instead of killing the process halfway. */
    service_block_signals();
    int without_state = dispatch_take_bench_option(&argc, argv);
    service_parse_options(argc, argv, help, &options);
    /* The agreements' field paths are checked against the schemas, so
     * --check-config waits until those are loaded. */
    int check_only = options.check_config;
    options.check_config = 0;
    struct config *config = service_load_config("placehub-dispatch", &options);
    registry = service_load_registry("placehub-dispatch", config);
    service_check_agreements("placehub-dispatch", config, registry);
    /* Unknown (misspelt) option keys, missing required ones, secrets
     * written inline: refused here, for --check-config too. */
    service_check_connectors("placehub-dispatch", config);
    if (check_only) {
        printf("%s: configuration OK\n", options.config_path);
        registry_destroy(registry);
        config_destroy(config);
        return 0;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Up first, so /readyz says 503 while the partners start. */
    if (operations_start(config, config->operations.dispatch_listen, "placehub-dispatch",
                         dispatch_is_ready, NULL, &operations, errstr, sizeof errstr) != 0 ||
        dispatch_new(config, registry, without_state, &dispatch, errstr, sizeof errstr) != 0 ||
        partner_api_add(operations, dispatch, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-dispatch: cannot start: %s\n", errstr);
        goto out;
    }
    atomic_store(&dispatch_ready, 1);
    service_wait_for_signal();
    rc = 0;
out:
    /* First: its handlers ask the partners' threads (partner_api.c). */
    operations_stop(operations);
    dispatch_destroy(dispatch);
    registry_destroy(registry);
    config_destroy(config);
    curl_global_cleanup();
    return rc;
}
