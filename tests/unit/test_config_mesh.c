/*
 * test_config_mesh.c - placehub-mesh-inbox's mesh_inbox: section
 * (lib/core/config_mesh.c) and a partner's ingest.mesh_mailbox
 * (lib/core/config_ingest.c): defaults, values, and refusals (a secret
 * written inline, a mailbox id that is not one, http://, half a client
 * certificate, one mailbox for two partners, a misspelt key).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "support.h"
#include "test_config_support.h"

/* Lines 1-4; mesh_inbox's keys start on line 5. */
#define INBOX                                                                                      \
    KAFKA TOPICS "mesh_inbox:\n"                                                                   \
                 "  url: \"https://mesh.example\"\n"                                               \
                 "  mailbox: X26ABC1\n"                                                            \
                 "  mailbox_password: env:MESH_PASSWORD\n"                                         \
                 "  shared_key: file:/etc/placehub/mesh-key\n"

#define PARTNER(id, mailbox)                                                                       \
    "  - id: " id "\n    name: x\n    ingest:\n      publishes: [admission]\n"                     \
    "      source_ods_codes: [RXX]\n      mesh_mailbox: " mailbox "\n"

static void test_defaults_and_values(void **state)
{
    (void)state;
    struct config *config = load_ok(KAFKA TOPICS);
    assert_null(config->mesh_inbox.url);
    assert_int_equal(config->mesh_inbox.poll_interval_ms, 60000);
    assert_string_equal(config->mesh_inbox.dead_letter_topic, "placehub.mesh-inbox.dead-letter");
    config_destroy(config);
    config = load_ok(INBOX "  poll_interval_ms: 250\n  workflow_id: PLACEHUB_EVENT\n"
                           "  tls_client_cert: /etc/hub.pem\n  tls_client_key: /etc/hub.key\n"
                           "partners:\n" PARTNER("gp", "x26abc2"));
    assert_string_equal(config->mesh_inbox.mailbox, "X26ABC1");
    assert_string_equal(config->mesh_inbox.mailbox_password, "env:MESH_PASSWORD");
    assert_int_equal(config->mesh_inbox.poll_interval_ms, 250);
    assert_string_equal(config->mesh_inbox.workflow_id, "PLACEHUB_EVENT");
    assert_string_equal(config->partners[0].ingest->mesh_mailbox, "x26abc2");
    /* A partner that sends only through MESH needs no API key. */
    assert_int_equal(config->partners[0].ingest->api_key_hash_count, 0);
    config_destroy(config);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_error(KAFKA TOPICS "mesh_inbox:\n  url: \"https://m\"\n  mailbox: X1\n"
                              "  mailbox_password: hunter2\n  shared_key: env:K\n",
                 "8:21", "mesh_inbox.mailbox_password must name the secret");
    expect_error(KAFKA TOPICS "mesh_inbox:\n  url: \"http://m\"\n  mailbox: X1\n"
                              "  mailbox_password: env:P\n  shared_key: env:K\n",
                 "6:8", "https://");
    expect_error(KAFKA TOPICS "mesh_inbox:\n  url: \"https://m\"\n  mailbox: \"X 1\"\n"
                              "  mailbox_password: env:P\n  shared_key: env:K\n",
                 "7:12", "mesh_inbox.mailbox must be a MESH mailbox id");
    expect_error(INBOX "  tls_client_cert: /etc/hub.pem\n", "6:3", "go together");
    expect_error(INBOX "  poll_intervall_ms: 5\n", "10:3", "poll_interval_ms");
    expect_error(KAFKA TOPICS "partners:\n" PARTNER("gp", "X26/2"), "11:21",
                 "partners[0].ingest.mesh_mailbox must be a MESH mailbox id");
    expect_error(KAFKA TOPICS "partners:\n" PARTNER("gp", "X26ABC2") PARTNER("care", "x26abc2"),
                 "17:1", "partners gp and care both give ingest.mesh_mailbox");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_values),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
