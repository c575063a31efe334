/*
 * placehub-connector-test: the connector test kit. main() parses the
 * command line and runs the kit (connector_test.c; docs/connectors.md).
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_test.h"
#include "core/log.h"

static const char help[] =
    "Usage: placehub-connector-test [OPTIONS] [CONNECTOR]\n"
    "\n"
    "Tries a connector the way placehub-dispatch runs it, without Kafka: loads\n"
    "it, checks it keeps the ABI contract (include/placehub/connector.h), then\n"
    "feeds it sample events of every type and either prints each request it\n"
    "prepares (--dry-run) or sends it to the partner and reports the answer.\n"
    "\n"
    "CONNECTOR is a built-in connector (webhook, fhir, mail) or the path of a\n"
    "shared object (anything with a '/': build/connectors/example.so). It may\n"
    "be left out with -c and --partner, which take the partner's connector.\n"
    "\n"
    "Options:\n"
    "  -o, --option KEY=VALUE  a connector option, as under `options:` in the\n"
    "                          configuration; repeat for more (they override -c)\n"
    "      --url URL           short for --option url=URL\n"
    "  -c, --config FILE       take the connector and options of a partner\n"
    "  -p, --partner ID        ... this one (default connector-test)\n"
    "  -e, --events DIR        sample events: every *.json in DIR, each named\n"
    "                          <topic>*.json or carrying a known event_type\n"
    "                          (default tests/data: one of each type, and a\n"
    "                          correction of each)\n"
    "  -n, --dry-run           print the requests (bodies in full, secrets never)\n"
    "                          instead of sending them\n"
    "  -h, --help              this text\n"
    "\n"
    "What it checks:\n"
    "  - the type: ABI version, a name, create, prepare and destroy;\n"
    "  - create() refuses an empty configuration, and each required option\n"
    "    when it is missing, with a message that names the option;\n"
    "  - prepare() fills a well-formed request (header lines, body, url or mail\n"
    "    envelope), and again for a retry; a request that holds memory has a\n"
    "    release() to free it; classify() gives a valid result;\n"
    "  - without --dry-run: each request as the host performs it (TLS, timeouts,\n"
    "    the auth_* options of docs/auth.md), judged by classify() or the host's\n"
    "    rule (2xx, or 250 for a mail, is delivered).\n"
    "Leaks show under valgrind:\n"
    "  valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \\\n"
    "      --error-exitcode=3 placehub-connector-test --dry-run ...\n"
    "\n"
    "Exit status: 0 when every check passed and every event was prepared (and,\n"
    "when sent, delivered); 1 otherwise; 2 for a mistake on the command line.\n"
    "\n"
    "Examples:\n"
    "  placehub-connector-test --dry-run --url https://partner.example/in \\\n"
    "      --option signing_keys=env:HOUSING_WEBHOOK_KEY webhook\n"
    "  placehub-connector-test --url http://127.0.0.1:9101/events \\\n"
    "      build/connectors/example.so\n"
    "  placehub-connector-test -c config/placehub.yaml --partner stockport-homes\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error (the host's log,\n"
    "on stderr; the report is on stdout).\n";

static void connector_test_add(struct connector_test_settings *settings, char *pair)
{
    char *equals = strchr(pair, '=');
    if (!equals || equals == pair) {
        fprintf(stderr, "placehub-connector-test: --option wants KEY=VALUE, got '%s'\n", pair);
        exit(2);
    }
    if (settings->option_count == CONNECTOR_TEST_MAX_OPTIONS) {
        fprintf(stderr, "placehub-connector-test: at most %d --option\n",
                CONNECTOR_TEST_MAX_OPTIONS);
        exit(2);
    }
    *equals = '\0';
    settings->options[settings->option_count].key = pair;
    settings->options[settings->option_count++].value = equals + 1;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"option", required_argument, NULL, 'o'}, {"url", required_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'}, {"partner", required_argument, NULL, 'p'},
        {"events", required_argument, NULL, 'e'}, {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    static char url_option[4096];
    struct connector_test_settings settings = {
        .partner_id = "connector-test",
        .events_dir = "tests/data",
    };
    int option;
    log_init("placehub-connector-test", -1);
    while ((option = getopt_long(argc, argv, "o:c:p:e:nh", long_options, NULL)) != -1) {
        switch (option) {
        case 'o':
            connector_test_add(&settings, optarg);
            break;
        case 'u':
            snprintf(url_option, sizeof url_option, "url=%s", optarg);
            connector_test_add(&settings, url_option);
            break;
        case 'c':
            settings.config_path = optarg;
            break;
        case 'p':
            settings.partner_id = optarg;
            break;
        case 'e':
            settings.events_dir = optarg;
            break;
        case 'n':
            settings.dry_run = 1;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'placehub-connector-test --help'.\n");
            return 2;
        }
    }
    if (optind < argc)
        settings.connector = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "placehub-connector-test: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    if (!settings.connector && !settings.config_path) {
        fprintf(stderr, "placehub-connector-test: name a connector, or give -c CONFIG and "
                        "--partner ID; see --help\n");
        return 2;
    }
    /* The report and the host's log (stderr) interleave in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = connector_test_run(&settings, stdout);
    curl_global_cleanup();
    return status;
}
