/*
 * config_mllp.c - placehub-mllp's mllp: section (services/mllp,
 * docs/hl7.md): the listener's limits, where the NHS number sits in PID-3,
 * and the code tables. Read after topics: the raw topic must be declared.
 */
#include "core/config_parser.h"

/* placehub-mllp (services/mllp, docs/hl7.md). The code tables are checked
 * against the schema's symbols by the service at start-up, which knows them. */
int config_parse_mllp(struct config_parser *parser, struct config *config, const yaml_node_t *node)
{
    static const char *const known[] = {"listen",
                                        "max_message_bytes",
                                        "read_timeout_ms",
                                        "produce_timeout_ms",
                                        "max_connections",
                                        "raw_topic",
                                        "default_source_ods_code",
                                        "nhs_number_repetition",
                                        "nhs_number_type",
                                        "nhs_number_authority",
                                        "identifier_systems",
                                        "discharge_destinations",
                                        "discharge_dispositions",
                                        "specialties",
                                        NULL};
    const char *where = "mllp";
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "listen", where, 0, &config->mllp.listen) != 0 ||
        config_integer(parser, node, "max_message_bytes", where, 256, 64LL * 1024 * 1024,
                       &config->mllp.max_message_bytes) != 0 ||
        config_int(parser, node, "read_timeout_ms", where, 100, 3600000,
                   &config->mllp.read_timeout_ms) != 0 ||
        config_int(parser, node, "produce_timeout_ms", where, 100, 300000,
                   &config->mllp.produce_timeout_ms) != 0 ||
        config_int(parser, node, "max_connections", where, 1, 4096,
                   &config->mllp.max_connections) != 0 ||
        config_string(parser, node, "raw_topic", where, 0, &config->mllp.raw_topic) != 0 ||
        config_string(parser, node, "default_source_ods_code", where, 0,
                      &config->mllp.default_source_ods_code) != 0 ||
        config_int(parser, node, "nhs_number_repetition", where, 0, 100,
                   &config->mllp.nhs_number_repetition) != 0 ||
        config_string(parser, node, "nhs_number_type", where, 0, &config->mllp.nhs_number_type) !=
            0 ||
        config_string(parser, node, "nhs_number_authority", where, 0,
                      &config->mllp.nhs_number_authority) != 0 ||
        config_options(parser, node, "identifier_systems", where, &config->mllp.identifier_systems,
                       &config->mllp.identifier_system_count) != 0 ||
        config_options(parser, node, "discharge_destinations", where,
                       &config->mllp.discharge_destinations,
                       &config->mllp.discharge_destination_count) != 0 ||
        config_options(parser, node, "discharge_dispositions", where,
                       &config->mllp.discharge_dispositions,
                       &config->mllp.discharge_disposition_count) != 0 ||
        config_options(parser, node, "specialties", where, &config->mllp.specialties,
                       &config->mllp.specialty_count) != 0)
        return -1;
    /* The raw messages are the auditors' record: refuse a topic nobody creates
     * (broker auto-creation is off) rather than fail on the first message. */
    if (config->mllp.nhs_number_type[0] == '\0')
        return config_fail(parser, config_get(parser, node, "nhs_number_type"),
                           "mllp.nhs_number_type must not be empty (HL7 uses NH)");
    const yaml_node_t *raw_topic = config_get(parser, node, "raw_topic");
    if (!config_topic_find(config, config->mllp.raw_topic))
        return config_fail(parser, raw_topic ? raw_topic : node,
                           "mllp.raw_topic '%s' is not declared under topics (declare it with "
                           "retention_ms: -1: it keeps every HL7 message received)",
                           config->mllp.raw_topic);
    return 0;
}
