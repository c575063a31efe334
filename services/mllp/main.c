/*
 * placehub-mllp: the HL7 v2 intake. main() only parses options, loads the
 * configuration and runs the service until SIGINT/SIGTERM.
 */
#include <stdio.h>
#include <stdlib.h>

#include "hl7/adt.h"
#include "intake.h"
#include "core/log.h"
#include "net/operations.h"
#include "schema/registry.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-mllp [-c CONFIG] [--check-config]\n"
    "\n"
    "Accepts HL7 v2 ADT messages over MLLP (mllp.listen) and writes them to Kafka\n"
    "as admission and discharge events (docs/hl7.md has the mapping).\n"
    "\n"
    "  A01 A02 A11 A12 -> admission;  A03 A13 A16 A25 -> discharge\n"
    "  A04 A05 A08     -> kept on the raw topic only (no event type for them)\n"
    "  every message accepted is kept as received on mllp.raw_topic\n"
    "  -> ACK AA only after the broker acknowledged; AE when it did not (send\n"
    "     again); AR with the reason (MSA-3, ERR) when the message is refused\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and exit\n"
    "  -h, --help          this text\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error\n"
    "\n"
    "Example:\n"
    "  placehub-mllp -c config/placehub.yaml &\n"
    "  python3 -c 'import hl7.client, sys; c = hl7.client.MLLPClient(\"127.0.0.1\", 2575);\n"
    "              print(c.send_message(open(sys.argv[1]).read()))' tests/data/hl7/a01.hl7\n";

int main(int argc, char **argv)
{
    struct service_options options;
    char errstr[1024];
    struct registry *registry = NULL;
    struct intake *intake = NULL;

    log_init("placehub-mllp", -1);
    /* First of all: a stop asked for during start-up is then honoured
     * once start-up is done, instead of killing the process halfway. */
    service_block_signals();
    service_parse_options(argc, argv, help, &options);
    /* The code tables are checked here, where the schema's symbols are
     * known, so --check-config waits until they are. */
    int check_only = options.check_config;
    options.check_config = 0;
    struct config *config = service_load_config("placehub-mllp", &options);
    if (adt_check_config(config, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-mllp: configuration error: %s\n", errstr);
        config_destroy(config);
        return 1;
    }
    if (check_only) {
        printf("%s: configuration OK\n", options.config_path);
        config_destroy(config);
        return 0;
    }
    service_load_person_key("placehub-mllp", config);
    registry = service_load_registry("placehub-mllp", config);
    if (intake_new(config, registry, &intake, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-mllp: cannot start: %s\n", errstr);
        registry_destroy(registry);
        config_destroy(config);
        return 1;
    }
    log_info("listening port=%d", intake_port(intake));
    struct operations *operations = NULL;
    if (operations_start(config, config->operations.mllp_listen, "placehub-mllp", NULL, NULL,
                         &operations, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-mllp: cannot start: %s\n", errstr);
        intake_destroy(intake);
        registry_destroy(registry);
        config_destroy(config);
        return 1;
    }
    service_wait_for_signal();
    operations_stop(operations);
    intake_destroy(intake);
    registry_destroy(registry);
    config_destroy(config);
    return 0;
}
