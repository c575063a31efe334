/*
 * placehub-ingest: the HTTP intake. main() only parses options, loads the
 * configuration and runs the service until SIGINT/SIGTERM.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "governance/apikey.h"
#include "ingest.h"
#include "core/log.h"
#include "net/operations.h"
#include "schema/registry.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-ingest [-c CONFIG] [--check-config]\n"
    "       placehub-ingest --new-api-key | --hash-api-key\n"
    "\n"
    "Accepts events from partners over HTTP and writes them to Kafka.\n"
    "\n"
    "  POST /v1/events/{type}   type: admission, discharge, referral, employment-support\n"
    "                           body: the event as JSON (see docs/schemas.md)\n"
    "  -> 202 {\"event_id\": ...}  only after the broker acknowledged the write\n"
    "  header: Authorization: Bearer <API key>  (or X-API-Key: <API key>)\n"
    "  -> 400 malformed JSON, 422 an invalid field (named in the answer),\n"
    "     401 no or a wrong API key, 403 an event type or source_ods_code the\n"
    "     partner may not send, 429 over the partner's rate limit (Retry-After),\n"
    "     404 unknown event type, 413 body too large, 503 Kafka unavailable\n"
    "     (retry with the same event_id: it is returned in the 503 answer)\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and exit\n"
    "      --new-api-key   mint an API key for a partner: prints the key (line 1;\n"
    "                      give it to the partner, it is shown only once) and its\n"
    "                      hash (line 2; put it in the partner's ingest section)\n"
    "      --hash-api-key  read a key on standard input, print its hash\n"
    "  -h, --help          this text\n"
    "\n"
    "Environment: PLACEHUB_LOG_LEVEL=debug|info|warning|error\n"
    "\n"
    "Example (API_KEY: a key minted with --new-api-key, its hash in the sending\n"
    "partner's ingest section; under make demo, -H @.run/demo/ingest-auth.header\n"
    "sends the demo's):\n"
    "  placehub-ingest -c config/placehub.yaml &\n"
    "  curl -H 'Content-Type: application/json' -H \"Authorization: Bearer $API_KEY\" \\\n"
    "       --data @tests/data/admission.json http://127.0.0.1:8080/v1/events/admission\n";

/* --new-api-key / --hash-api-key: operator tools that need no config. */
static int ingest_key_tool(const char *option)
{
    char key[APIKEY_MAX_LENGTH + 2];
    char hash[APIKEY_HASH_TEXT_SIZE];
    int rc = 1;
    if (strcmp(option, "--new-api-key") == 0) {
        if (apikey_new(key, sizeof key, hash, sizeof hash) != 0) {
            fprintf(stderr, "placehub-ingest: cannot mint a key: no random bytes\n");
            goto out;
        }
        printf("%s\n%s\n", key, hash);
        fprintf(stderr, "line 1: the API key: give it to the partner over a safe channel; it "
                        "is not stored anywhere\n"
                        "line 2: its hash: add it to the partner's ingest.api_key_hashes (or "
                        "its api_key_hashes_file)\n");
        rc = 0;
        goto out;
    }
    if (!fgets(key, sizeof key, stdin)) {
        fprintf(stderr, "placehub-ingest: --hash-api-key reads the key on standard input\n");
        goto out;
    }
    key[strcspn(key, "\r\n")] = '\0';
    if (!apikey_plausible(key)) {
        fprintf(stderr,
                "placehub-ingest: that is not an API key (1-%d visible characters, no "
                "spaces)\n",
                APIKEY_MAX_LENGTH);
        goto out;
    }
    apikey_hash_text(key, strlen(key), hash, sizeof hash);
    printf("%s\n", hash);
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

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
    if (argc == 2 &&
        (strcmp(argv[1], "--new-api-key") == 0 || strcmp(argv[1], "--hash-api-key") == 0))
        return ingest_key_tool(argv[1]);
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
    struct operations *operations = NULL;
    if (operations_start(config, config->operations.ingest_listen, "placehub-ingest", NULL, NULL,
                         &operations, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-ingest: cannot start: %s\n", errstr);
        ingest_destroy(ingest);
        registry_destroy(registry);
        config_destroy(config);
        return 1;
    }
    service_wait_for_signal();
    operations_stop(operations);
    ingest_destroy(ingest);
    registry_destroy(registry);
    config_destroy(config);
    return 0;
}
