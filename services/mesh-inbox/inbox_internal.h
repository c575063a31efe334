/*
 * inbox_internal.h - what the files of placehub-mesh-inbox share: the inbox
 * (inbox.c: the loop and the acknowledgement) and the judgement of one
 * message and the records of a refusal (judge.c). Not for other programs.
 */
#ifndef PLACEHUB_MESH_INBOX_INTERNAL_H
#define PLACEHUB_MESH_INBOX_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "client.h"
#include "core/config.h"
#include "governance/publisher.h"
#include "governance/submission.h"
#include "kafka/producer.h"
#include "schema/registry.h"

#define INBOX_BATCH 500 /* message ids asked for at once */

struct inbox {
    const struct config *config;
    struct registry *registry;
    struct mesh_client *client;
    struct producer *producer;
    struct publishers *publishers;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping;
    int64_t handshake_ms; /* monotonic; 0: none yet */
    char ids[INBOX_BATCH][MESH_MESSAGE_ID_MAX];
};

/* The judgement of one message. */
struct inbox_verdict {
    const char *code;       /* refused: why, as a keyword (unknown_sender, invalid_event, ...) */
    char reason[768];       /* refused: in words, free of the message's values */
    const char *partner_id; /* the sending partner; "-" when unknown */
    char type[64];          /* the event type (topic), when known */
};

enum inbox_judgement {
    INBOX_ACCEPTED = 0, /* *submission holds the event, ready to produce */
    INBOX_REFUSED = 1,  /* never an event: dead-letter it, with verdict's reason */
    INBOX_LATER = -1    /* a passing failure (the schema registry): leave it for later */
};

/* Judges message id as placehub-ingest judges a POST: sender, workflow,
 * type, JSON, schema, NHS number, source organisation. */
enum inbox_judgement inbox_judge(struct inbox *inbox, const char *id,
                                 const struct mesh_message *message, struct inbox_verdict *verdict,
                                 struct submission *submission);

/* Dead-letters refused message id (its bytes as received, the reason in
 * placehub.* headers) and writes the audit record saying why. Returns 0
 * once the broker acknowledged both, else -1 (then it must not be
 * acknowledged to MESH). */
int inbox_refuse(struct inbox *inbox, const char *id, const struct mesh_message *message,
                 const struct inbox_verdict *verdict);

#endif
