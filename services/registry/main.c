/*
 * placehub-registry: serves the embedded schema catalogue read-only over the
 * Confluent Schema Registry REST API. main() parses options, loads the
 * configuration and the catalogue, and serves until SIGINT/SIGTERM.
 */
#include <stdio.h>
#include <string.h>

#include "schema/catalogue.h"
#include "net/httpd.h"
#include "core/log.h"
#include "registry_server.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-registry [-c CONFIG] [--check-config]\n"
    "\n"
    "Serves the schemas in schemas/ (ids from schemas/catalogue.json) over the\n"
    "Confluent Schema Registry REST API, read-only, at schema_registry.listen.\n"
    "Point standard tools at it to decode placehub's topics, e.g.\n"
    "  kcat -C -b 127.0.0.1:9092 -t admission -s value=avro -r http://127.0.0.1:8081\n"
    "  curl http://127.0.0.1:8081/subjects\n"
    "  curl http://127.0.0.1:8081/schemas/ids/1\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and the catalogue, then exit\n"
    "  -h, --help          this text\n";

int main(int argc, char **argv)
{
    struct service_options options;
    char errstr[1024], directory[1024];
    struct catalogue *catalogue = NULL;
    int rc = 1;

    log_init("placehub-registry", -1);
    /* First of all: a stop asked for during start-up is then honoured
     * once start-up is done, instead of killing the process halfway. */
    service_block_signals();
    service_parse_options(argc, argv, help, &options);
    int check_only = options.check_config;
    options.check_config = 0;
    struct config *config = service_load_config("placehub-registry", &options);
    if (strcmp(config->schema_registry.mode, "embedded") != 0)
        log_warning("schema_registry.mode is '%s': serving the local catalogue anyway",
                    config->schema_registry.mode);
    if (config_resolve_path(config, config->schema_registry.schemas_dir, directory,
                            sizeof directory) != 0 ||
        catalogue_load(directory, &catalogue, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-registry: schemas: %s\n", errstr);
        goto out;
    }
    if (check_only) {
        printf("%s: configuration OK; %zu schemas in %s\n", options.config_path, catalogue->count,
               directory);
        rc = 0;
        goto out;
    }
    struct httpd *httpd = httpd_new(config->schema_registry.listen, 1024 * 1024,
                                    registry_server_handle, catalogue, errstr, sizeof errstr);
    if (!httpd) {
        fprintf(stderr, "placehub-registry: cannot listen: %s\n", errstr);
        goto out;
    }
    log_info("serving schemas=%zu port=%d", catalogue->count, httpd_port(httpd));
    service_wait_for_signal();
    httpd_destroy(httpd);
    rc = 0;
out:
    catalogue_destroy(catalogue);
    config_destroy(config);
    return rc;
}
