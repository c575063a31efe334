/*
 * inbox.h - placehub-mesh-inbox: reads the hub's own MESH mailbox and turns
 * each message into an event on its topic, the way placehub-ingest does for
 * a POST (the same checks: lib/governance/submission.h).
 *
 * IMPORTANT, the one rule: a MESH message is acknowledged (PUT
 * .../status/acknowledged, after which MESH forgets it) only once Kafka has
 * it: the event produced and acknowledged by the broker, or, for a message
 * refused, its dead letter on mesh_inbox.dead_letter_topic and the audit
 * record saying why. A crash in between means the message is read again:
 * a duplicate with the same event_id (the sender's, or one derived from the
 * MESH message id: mesh_event_id), never a loss.
 */
#ifndef PLACEHUB_MESH_INBOX_H
#define PLACEHUB_MESH_INBOX_H

#include <stddef.h>

#include "core/config.h"
#include "schema/registry.h"

struct inbox;

/* Sets up the MESH client, the producer and the partners' rights, and
 * creates the dead-letter and audit topics when missing. config and registry
 * are borrowed and must outlive the inbox. Returns 0 and *out, or -1 with
 * errstr. */
int inbox_new(const struct config *config, struct registry *registry, struct inbox **out,
              char *errstr, size_t errstr_size);

/* Polls until inbox_stop: every message waiting is handled; then the
 * inbox is looked at again after mesh_inbox.poll_interval_ms. Blocks. */
void inbox_run(struct inbox *inbox);

/* Asks inbox_run to return (from another thread); the message in hand is
 * finished first. */
void inbox_stop(struct inbox *inbox);

/* Frees the inbox (after inbox_run returned). NULL is ignored. */
void inbox_destroy(struct inbox *inbox);

#endif
