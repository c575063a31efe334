/*
 * main.c - placehub-partner-sim: parses the command line and runs the
 * simulated partner (partner_sim.c; docs/partner-sim.md).
 */
#include "partner_sim.h"

#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: placehub-partner-sim [OPTIONS]\n"
            "\n"
            "A simulated partner API. It records every request it receives outside\n"
            "/_sim/ and answers 200 {\"ok\":true}, or whatever you told it through\n"
            "/_sim/behaviour. Tests read what arrived from /_sim/requests.\n"
            "\n"
            "Options:\n"
            "  --listen HOST:PORT   address to listen on (default %s);\n"
            "                       port 0 picks a free port\n"
            "  --name NAME          name shown in the logs and in /_sim/stats\n"
            "                       (default %s)\n"
            "  --port-file PATH     once listening, write the bound port to PATH\n"
            "                       (atomically; removed again on a clean stop)\n"
            "  --max-body BYTES     largest request body accepted; larger ones are\n"
            "                       answered 413 (default %zu)\n"
            "  --max-records N      requests kept in memory; beyond it the oldest\n"
            "                       are dropped and counted (default %zu)\n"
            "  --oauth-client ID:SECRET\n"
            "                       enable the OAuth2 token endpoint (client\n"
            "                       credentials grant) for this client\n"
            "  --oauth-ttl SECONDS  expires_in of the tokens it issues (default %ld)\n"
            "  --require-auth       answer 401 to partner requests without a token\n"
            "                       issued here, the --bearer-token or the --api-key\n"
            "  --bearer-token TOKEN a static bearer token accepted by --require-auth\n"
            "  --api-key KEY        an X-API-Key accepted by --require-auth\n"
            "  -h, --help           show this help\n"
            "\n"
            "The bound port is printed on stdout once listening. SIGINT or SIGTERM\n"
            "stop it. Set PLACEHUB_LOG_LEVEL=debug to log every request (method\n"
            "and status only).\n"
            "\n"
            "Control endpoints (JSON):\n"
            "  PUT    /_sim/behaviour   replace the behaviour queue with a step (or an\n"
            "                           array of steps): {\"status\": 503,\n"
            "                           \"delay_ms\": 0, \"body\": \"...\", \"headers\":\n"
            "                           {\"Retry-After\": \"2\"}, \"times\": 2}; without\n"
            "                           times a step lasts until changed\n"
            "  POST   /_sim/behaviour   append step(s) to the queue\n"
            "  GET    /_sim/behaviour   show the queue\n"
            "  DELETE /_sim/behaviour   back to the default 200 {\"ok\":true}\n"
            "  GET    /_sim/requests?since=N&limit=M   records with seq > N\n"
            "  DELETE /_sim/requests    forget all records, restart seq at 1\n"
            "  GET    /_sim/stats       counts by status answered, dropped records\n"
            "  GET    /_sim/healthz     200 when up\n"
            "  POST   /_sim/oauth/token grant_type=client_credentials, the client by\n"
            "                           HTTP Basic or client_id/client_secret in the form\n"
            "  DELETE /_sim/oauth/tokens  revoke every token issued\n"
            "\n"
            "Examples:\n"
            "  placehub-partner-sim --name gp-surgery --listen 127.0.0.1:9101\n"
            "  placehub-partner-sim --listen 127.0.0.1:0 --port-file /tmp/sim.port &\n"
            "  curl -X PUT localhost:9101/_sim/behaviour \\\n"
            "       -d '{\"status\": 503, \"times\": 2,\n"
            "            \"headers\": {\"Retry-After\": \"2\"}}'\n"
            "  curl -d '{\"event\": \"admission\"}' localhost:9101/fhir/Encounter\n"
            "  curl 'localhost:9101/_sim/requests?since=0&limit=10'\n",
            PARTNER_SIM_DEFAULT_LISTEN, PARTNER_SIM_DEFAULT_NAME, PARTNER_SIM_DEFAULT_MAX_BODY,
            PARTNER_SIM_DEFAULT_MAX_RECORDS, PARTNER_SIM_DEFAULT_OAUTH_TTL);
}

/* A positive size in plain decimal; exits with a message otherwise. */
static size_t parse_size(const char *option, const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (errno != 0 || !end || *end != '\0' || value == 0 || value > SIZE_MAX / 2) {
        fprintf(stderr,
                "placehub-partner-sim: %s wants a positive whole number, got '%s' "
                "(see --help)\n",
                option, text);
        exit(2);
    }
    return (size_t)value;
}

int main(int argc, char **argv)
{
    static const struct option long_options[] = {
        {"listen", required_argument, NULL, 'l'},
        {"name", required_argument, NULL, 'n'},
        {"port-file", required_argument, NULL, 'p'},
        {"max-body", required_argument, NULL, 'b'},
        {"max-records", required_argument, NULL, 'r'},
        {"oauth-client", required_argument, NULL, 'o'},
        {"oauth-ttl", required_argument, NULL, 't'},
        {"require-auth", no_argument, NULL, 'a'},
        {"bearer-token", required_argument, NULL, 'B'},
        {"api-key", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct partner_sim_options options = {
        .listen = PARTNER_SIM_DEFAULT_LISTEN,
        .name = PARTNER_SIM_DEFAULT_NAME,
        .port_file = NULL,
        .max_body_bytes = PARTNER_SIM_DEFAULT_MAX_BODY,
        .max_records = PARTNER_SIM_DEFAULT_MAX_RECORDS,
        .oauth_ttl_seconds = PARTNER_SIM_DEFAULT_OAUTH_TTL,
    };
    int option;
    size_t ttl;
    while ((option = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
        switch (option) {
        case 'l':
            options.listen = optarg;
            break;
        case 'n':
            options.name = optarg;
            break;
        case 'p':
            options.port_file = optarg;
            break;
        case 'b':
            options.max_body_bytes = parse_size("--max-body", optarg);
            break;
        case 'r':
            options.max_records = parse_size("--max-records", optarg);
            break;
        case 'o':
            if (!strchr(optarg, ':') || optarg[0] == ':') {
                fprintf(stderr, "placehub-partner-sim: --oauth-client wants ID:SECRET\n");
                return 2;
            }
            options.oauth_client = optarg;
            break;
        case 't':
            /* A day at most: long enough for any test, short enough that
             * the expiry arithmetic cannot overflow. */
            ttl = parse_size("--oauth-ttl", optarg);
            if (ttl > 86400) {
                fprintf(stderr, "placehub-partner-sim: --oauth-ttl is at most 86400\n");
                return 2;
            }
            options.oauth_ttl_seconds = (long)ttl;
            break;
        case 'a':
            options.require_auth = 1;
            break;
        case 'B':
            options.bearer_token = optarg;
            break;
        case 'k':
            options.api_key = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'placehub-partner-sim --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "placehub-partner-sim: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return 2;
    }
    if (options.require_auth && !options.oauth_client && !options.bearer_token &&
        !options.api_key) {
        fprintf(stderr, "placehub-partner-sim: --require-auth needs --oauth-client, "
                        "--bearer-token or --api-key (see --help)\n");
        return 2;
    }

    /* The log shows which simulated partner speaks when several run. */
    static char program[128];
    snprintf(program, sizeof program, "partner-sim[%s]", options.name);
    log_init(program, -1);
    return partner_sim_run(&options);
}
