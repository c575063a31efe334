/*
 * fuzz_config.c - the configuration loader on arbitrary YAML: it must refuse
 * or accept, never crash or leak, and an accepted config must be usable,
 * its data-sharing agreements included (each partner's are applied to a
 * fixed event for each of its topics).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "governance/agreement.h"
#include "core/config.h"

static const char fuzz_event[] =
    "{\"event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\", \"event_type\": \"ADMITTED\","
    " \"priority\": \"URGENT\", \"person\": {\"nhs_number\": \"9990123454\","
    " \"local_identifiers\": [{\"system\": \"s\", \"value\": \"v\"}],"
    " \"address\": {\"lines\": [\"1 Mill Lane\"], \"postcode\": \"SK4 9XX\"},"
    " \"gp_practice_ods_code\": \"P99001\"}, \"sharing\": {\"objected_to_non_care_sharing\":"
    " true, \"restricted_record\": false}, \"notes\": \"n\", \"ward\": \"Ward 7\","
    " \"care_needs\": [\"EQUIPMENT\"]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *config = NULL;
    char errstr[1024];
    if (config_load_string("fuzz.yaml", (const char *)data, size, &config, errstr, sizeof errstr) ==
        0) {
        json_t *event = json_loads(fuzz_event, 0, NULL);
        for (size_t i = 0; i < config->partner_count; i++) {
            const struct config_partner *partner = &config->partners[i];
            (void)config_partner_option(partner, "url");
            for (size_t t = 0; event && t < partner->topic_count; t++) {
                struct agreement_decision decision;
                if (agreement_decide(partner, partner->topics[t],
                                     "0123456789abcdef0123456789abcdef", 32, event, &decision) == 0)
                    agreement_decision_clear(&decision);
            }
        }
        json_decref(event);
        config_destroy(config);
    }
    return 0;
}
