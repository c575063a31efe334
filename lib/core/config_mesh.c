/*
 * config_mesh.c - placehub-mesh-inbox's mesh_inbox: section
 * (services/mesh-inbox, docs/mesh.md): the hub's own MESH mailbox, its
 * credentials (named, never written here), the client certificate, and how
 * often to poll. Which sender is which partner is each partner's
 * ingest.mesh_mailbox (config_ingest.c).
 */
#include <string.h>
#include <strings.h>

#include "core/config_parser.h"
#include "core/mesh.h"

static int config_mesh_secret(struct config_parser *parser, const yaml_node_t *node,
                              const char *name, char **out)
{
    if (config_string(parser, node, name, "mesh_inbox", 1, out) != 0)
        return -1;
    if (!config_secret_reference(*out))
        return config_fail(parser, config_get(parser, node, name),
                           "mesh_inbox.%s must name the secret as env:VARIABLE or file:/path; "
                           "a secret is never written in this file",
                           name);
    return 0;
}

int config_parse_mesh_inbox(struct config_parser *parser, struct config *config,
                            const yaml_node_t *node)
{
    static const char *const known[] = {"url",
                                        "mailbox",
                                        "mailbox_password",
                                        "shared_key",
                                        "tls_ca_file",
                                        "tls_client_cert",
                                        "tls_client_key",
                                        "workflow_id",
                                        "poll_interval_ms",
                                        "timeout_ms",
                                        "max_message_bytes",
                                        "dead_letter_topic",
                                        "produce_timeout_ms",
                                        NULL};
    const char *where = "mesh_inbox";
    config->mesh_inbox.line = (int)node->start_mark.line + 1;
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0 ||
        config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "url", where, 1, &config->mesh_inbox.url) != 0 ||
        config_string(parser, node, "mailbox", where, 1, &config->mesh_inbox.mailbox) != 0 ||
        config_mesh_secret(parser, node, "mailbox_password",
                           &config->mesh_inbox.mailbox_password) != 0 ||
        config_mesh_secret(parser, node, "shared_key", &config->mesh_inbox.shared_key) != 0 ||
        config_string(parser, node, "tls_ca_file", where, 0, &config->mesh_inbox.tls_ca_file) !=
            0 ||
        config_string(parser, node, "tls_client_cert", where, 0,
                      &config->mesh_inbox.tls_client_cert) != 0 ||
        config_string(parser, node, "tls_client_key", where, 0,
                      &config->mesh_inbox.tls_client_key) != 0 ||
        config_string(parser, node, "workflow_id", where, 0, &config->mesh_inbox.workflow_id) !=
            0 ||
        config_int(parser, node, "poll_interval_ms", where, 50, 3600000,
                   &config->mesh_inbox.poll_interval_ms) != 0 ||
        config_int(parser, node, "timeout_ms", where, 100, 600000,
                   &config->mesh_inbox.timeout_ms) != 0 ||
        config_int(parser, node, "produce_timeout_ms", where, 100, 300000,
                   &config->mesh_inbox.produce_timeout_ms) != 0 ||
        config_integer(parser, node, "max_message_bytes", where, 1024, 100LL * 1024 * 1024,
                       &config->mesh_inbox.max_message_bytes) != 0 ||
        config_string(parser, node, "dead_letter_topic", where, 0,
                      &config->mesh_inbox.dead_letter_topic) != 0)
        return -1;
    if (strncmp(config->mesh_inbox.url, "https://", 8) != 0)
        return config_fail(parser, config_get(parser, node, "url"),
                           "mesh_inbox.url must be the MESH API's https:// base URL (e.g. "
                           "https://msg.intspineservices.nhs.uk)");
    if (!mesh_mailbox_valid(config->mesh_inbox.mailbox))
        return config_fail(parser, config_get(parser, node, "mailbox"),
                           "mesh_inbox.mailbox must be a MESH mailbox id (letters and digits, "
                           "e.g. X26ABC1)");
    if (!config->mesh_inbox.tls_client_cert != !config->mesh_inbox.tls_client_key)
        return config_fail(parser, node,
                           "mesh_inbox: tls_client_cert and tls_client_key go together (MESH "
                           "asks for the mailbox's client certificate)");
    if (!config_topic_name_valid(config->mesh_inbox.dead_letter_topic))
        return config_fail(parser, config_get(parser, node, "dead_letter_topic"),
                           "mesh_inbox.dead_letter_topic is not a valid topic name");
    return 0;
}

/* Each sending mailbox names one partner: two partners with one mailbox
 * could not be told apart. Run after the partners are read. */
int config_check_mesh_mailboxes(struct config_parser *parser, const struct config *config)
{
    for (size_t i = 0; i < config->partner_count; i++) {
        const struct config_publisher *one = config->partners[i].ingest;
        if (!one || !one->mesh_mailbox)
            continue;
        for (size_t k = i + 1; k < config->partner_count; k++) {
            const struct config_publisher *other = config->partners[k].ingest;
            if (other && other->mesh_mailbox &&
                strcasecmp(one->mesh_mailbox, other->mesh_mailbox) == 0)
                return config_fail_at(parser, other->mesh_mailbox_line, 1,
                                      "partners %s and %s both give ingest.mesh_mailbox %s: a "
                                      "sending mailbox must name one partner",
                                      config->partners[i].id, config->partners[k].id,
                                      other->mesh_mailbox);
        }
    }
    return 0;
}
