/*
 * config_console.c - placehub-console's console: section (services/console,
 * docs/operations.md "The console"): where it listens, who may log in, its
 * own disclosure ledger, and how long a session lives.
 *
 * The users file holds password hashes only; a password is never written
 * in the YAML, so the section refuses keys that look like one.
 */
#include <string.h>

#include "core/config_parser.h"

int config_parse_console(struct config_parser *parser, struct config *config,
                         const yaml_node_t *node)
{
    static const char *const known[] = {"listen",
                                        "users_file",
                                        "ledger",
                                        "ingest_url",
                                        "dispatch_url",
                                        "mllp_url",
                                        "session_idle_minutes",
                                        "sample_interval_ms",
                                        NULL};
    const char *where = "console";
    config->console.line = (int)node->start_mark.line + 1;
    if (config_expect(parser, node, YAML_MAPPING_NODE, where) != 0)
        return -1;
    for (const char *const *secret = (const char *const[]){"password", "users", "passwords", NULL};
         *secret; secret++) {
        const yaml_node_t *found = config_get(parser, node, *secret);
        if (found)
            return config_fail(parser, found,
                               "console.%s: the console never takes passwords from this file; "
                               "add users with placehub-console --add-user NAME --role ROLE, "
                               "which writes their hashes to console.users_file",
                               *secret);
    }
    if (config_check_keys(parser, node, known, where) != 0 ||
        config_string(parser, node, "listen", where, 0, &config->console.listen) != 0 ||
        config_string(parser, node, "users_file", where, 0, &config->console.users_file) != 0 ||
        config_string(parser, node, "ledger", where, 0, &config->console.ledger) != 0 ||
        config_string(parser, node, "ingest_url", where, 0, &config->console.ingest_url) != 0 ||
        config_string(parser, node, "dispatch_url", where, 0, &config->console.dispatch_url) != 0 ||
        config_string(parser, node, "mllp_url", where, 0, &config->console.mllp_url) != 0 ||
        config_int(parser, node, "session_idle_minutes", where, 1, 24 * 60,
                   &config->console.session_idle_minutes) != 0 ||
        config_int(parser, node, "sample_interval_ms", where, 1000, 60000,
                   &config->console.sample_interval_ms) != 0)
        return -1;
    const char *const urls[] = {config->console.ingest_url, config->console.dispatch_url,
                                config->console.mllp_url};
    const char *const names[] = {"ingest_url", "dispatch_url", "mllp_url"};
    for (int i = 0; i < 3; i++)
        if (urls[i] && strncmp(urls[i], "http://", 7) != 0 && strncmp(urls[i], "https://", 8) != 0)
            return config_fail(parser, config_get(parser, node, names[i]),
                               "console.%s: an http:// or https:// URL of the service's "
                               "operations port, such as \"http://dispatch:9181\"",
                               names[i]);
    return 0;
}
