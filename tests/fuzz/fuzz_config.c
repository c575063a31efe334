/*
 * fuzz_config.c - the configuration loader on arbitrary YAML: it must refuse
 * or accept, never crash or leak, and an accepted config must be usable,
 * its data-sharing agreements included (each partner's are applied to a
 * fixed event for each of its topics). Partner options are templates for the
 * http connector (lib/core/template.c): each is parsed as one, its JSON
 * (a mapping written in YAML) walked for placeholders, and an http
 * partner's templates checked against its agreements (lib/delivery/templates.c).
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "governance/agreement.h"
#include "core/config.h"
#include "core/template.h"
#include "delivery/templates.h"

static const char fuzz_event[] =
    "{\"event_id\": \"d5905a32-14ab-4579-96da-1b8f530a1f03\", \"event_type\": \"ADMITTED\","
    " \"priority\": \"URGENT\", \"person\": {\"nhs_number\": \"9990123454\","
    " \"local_identifiers\": [{\"system\": \"s\", \"value\": \"v\"}],"
    " \"address\": {\"lines\": [\"1 Mill Lane\"], \"postcode\": \"SK4 9XX\"},"
    " \"gp_practice_ods_code\": \"P99001\"}, \"sharing\": {\"objected_to_non_care_sharing\":"
    " true, \"restricted_record\": false}, \"notes\": \"n\", \"ward\": \"Ward 7\","
    " \"care_needs\": [\"EQUIPMENT\"]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct placehub_connector_type placehub_connector_http;

static int fuzz_name(void *arg, const char *name, const char *path)
{
    (void)arg;
    return name[0] && path ? 0 : -1;
}

/* Every option as a template, and as a JSON template when it is JSON. */
static void fuzz_templates(const struct config *config, const struct config_partner *partner)
{
    char errstr[512];
    for (size_t i = 0; i < partner->option_count; i++) {
        struct template template;
        if (template_parse(partner->options[i].value, &template, errstr, sizeof errstr) == 0)
            template_free(&template);
        json_t *json = json_loads(partner->options[i].value, JSON_DECODE_ANY, NULL);
        if (json)
            (void)template_json_names(json, fuzz_name, NULL, errstr, sizeof errstr);
        json_decref(json);
    }
    (void)templates_check(&placehub_connector_http, config, partner, errstr, sizeof errstr);
}

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
            fuzz_templates(config, partner);
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
