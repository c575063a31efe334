/*
 * fuzz_config.c - the configuration loader on arbitrary YAML: it must refuse
 * or accept, never crash or leak, and an accepted config must be usable.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *config = NULL;
    char errstr[1024];
    if (config_load_string("fuzz.yaml", (const char *)data, size, &config, errstr, sizeof errstr) ==
        0) {
        for (size_t i = 0; i < config->partner_count; i++)
            (void)config_partner_option(&config->partners[i], "url");
        config_destroy(config);
    }
    return 0;
}
