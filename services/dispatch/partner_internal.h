/*
 * partner_internal.h - what the files of one partner's delivery engine
 * share (services/dispatch/partner.c: set-up, attempts and the loop;
 * partner_intake.c: taking, decoding and governing events;
 * partner_records.c: final outcomes, their records and settling offsets).
 * Not for use outside services/dispatch/partner*.c.
 */
#ifndef PLACEHUB_PARTNER_INTERNAL_H
#define PLACEHUB_PARTNER_INTERNAL_H

#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "delivery/breaker.h"
#include "delivery/control.h"
#include "delivery/delivery.h"
#include "delivery/record.h"
#include "delivery/window.h"
#include "governance/correction.h"
#include "governance/objection.h"
#include "partner.h"

/* One consumed event until its offset may be stored. entry.state: waiting
 * (to be attempted at next_attempt_ms), in flight (a transfer is running),
 * recording (final; its records are being produced), settled (final and
 * recorded: its offset may be stored). */
struct pending {
    struct window_entry entry; /* in the partner's window, in consumption order */
    struct partner *partner;
    /* What is kept of the consumed message, which is destroyed at intake:
     * holding it would pin its whole fetch buffer (up to a megabyte) for as
     * long as the event is pending. */
    struct record_source source; /* topic (the configuration's string), partition, offset, key */
    char *key;                   /* owned; source.key */
    char *topic_copy;            /* owned, for a topic not in the configuration (never seen) */
    int64_t timestamp_ms;        /* the message's Kafka timestamp; 0: none */
    unsigned char *payload;      /* the message's bytes, for a dead letter; NULL once delivered */
    size_t payload_len;
    char *body; /* plain JSON; NULL when unreadable, not yet decoded, and once final */
    size_t body_len;
    /* The schema registry could not say which schema the bytes were written
     * with: not the event's fault, so it waits and is decoded again later. */
    int undecoded;
    char event_id[64];
    int attempts;
    int64_t first_attempt_ms, next_attempt_ms;
    /* the attempt in flight */
    CURL *easy;
    struct delivery_attempt attempt;
    int credentials_wait; /* no token yet: tried again once the fetch ends */
    /* what the agreement decided */
    const struct config_agreement *agreement; /* used, or the one that refused; NULL: none */
    /* The agreement named in the records: agreement's id and version, or
     * for a correction that follows the ledger, those the original went
     * out under (which may no longer be configured). "": none. */
    char agreement_id[72];
    char agreement_version[24];
    char *fields; /* field paths in body (sorted), as a compact JSON array: the text is a
                   * third of the size of the jansson array */
    int pseudonymised;
    int suppressed;          /* kept from the partner: a suppression record, no delivery */
    const char *suppression; /* why (AGREEMENT_OBJECTION, ...) */
    char detail[192];        /* why, in words, without personal data */
    char objection[OBJECTION_REASON_SIZE]; /* "objection:<scope>" from the register */
    /* A cancellation or correction: the earlier event it undoes. */
    enum correction_kind correction;
    char original_event_id[40];
    /* When the ledger was first asked to be complete for it (0: not yet):
     * the wall clock once no earlier event of the person was unsettled. */
    int64_t ledger_asked_ms;
    int sent; /* an attempt reached the transport: the body may have gone */
    /* Why the last attempt failed, while it waits for the next (shown by
     * GET /partners; as short as the log line has it, never a body). */
    char last_error[CONTROL_ERROR_SIZE];
    /* the final outcome */
    int delivered;
    int status;
    char reason[256];
    char excerpt[256];
    char reference[128]; /* delivered: the partner's reference (a MESH message id) */
    atomic_int records_outstanding;
    atomic_int record_failed;
};

struct partner {
    const struct partner_shared *shared;
    const struct config_partner *config;
    struct delivery_partner *delivery; /* connector, transport, credentials, pseudonym key */
    /* Set by the credentials' fetching thread when a token fetch ended:
     * events waiting for credentials are due again. */
    atomic_int credentials_ready;
    struct consumer *consumer;
    int wake_pipe[2]; /* the consumer queue writes here when messages arrive */
    CURLM *multi;
    /* Easy handles of finished transfers, reset and kept for the next
     * (up to max_in_flight): curl_easy_init per attempt costs allocations
     * on the hot path; the connections live in the multi handle anyway. */
    CURL **idle;
    size_t idle_count;
    pthread_t thread;
    int started;
    int max_in_flight, max_pending;
    struct window *window; /* the pending events, oldest first */
    struct breaker breaker;
    /* Records acknowledged (or failed) so far, counted on the producer's
     * thread; settling looks at the pending events only when it moved. */
    atomic_uint records_done;
    unsigned records_settled; /* records_done when settling last looked */
    unsigned random_state;
    /* A message intake could not take (out of memory): taken first, again,
     * from held_until_ms on, before anything after it. */
    rd_kafka_message_t *held;
    int64_t held_until_ms;
    /* Asks in a row the schema registry did not answer; while there are
     * any, events wait and one of them asks again at registry_retry_ms. */
    int registry_failures;
    int64_t registry_retry_ms;
    /* agreement_version() of each of config's agreements, in their order. */
    char (*agreement_versions)[AGREEMENT_VERSION_SIZE];
    /* Operators' controls (partner_control.c). These four are the thread's
     * own: requests from the operations listener are posted to it and
     * applied by it at the start of a turn, never touched from outside. */
    int paused;                /* no intake, no attempt starts; in-flight ones finish */
    int64_t circuit_opened_ms; /* when the circuit last opened from closed; 0: closed */
    char last_error[CONTROL_ERROR_SIZE];
    int64_t last_error_ms; /* 0: none since start */
    /* Requests waiting for the thread, under control_lock; control_posted
     * says there are some without taking the lock each turn. */
    pthread_mutex_t control_lock;
    pthread_cond_t control_done;
    int control_ready; /* the lock and condition were initialised */
    atomic_int control_posted;
    struct partner_request *requests;
};

static inline struct pending *pending_of(struct window_entry *entry)
{
    return (struct pending *)((char *)entry - offsetof(struct pending, entry));
}

/* ---- partner_intake.c ----------------------------------------------------- */

/* Takes messages from the consumer, at most max_in_flight of them per turn.
 * Returns 1 when it stopped at that bound with room left (more may wait). */
int partner_intake(struct partner *partner, int64_t now);

/* Decodes pending's bytes and applies the agreements: ready to send,
 * suppressed, unreadable (dead-lettered), or left waiting for the schema
 * registry. */
void partner_prepare(struct partner *partner, struct pending *pending, int64_t now);

void partner_free_pending(struct pending *pending);

/* ---- partner_records.c ---------------------------------------------------- */

/* pending's outcome is final: delivered, or dead-lettered with reason. Its
 * records are produced; the offset moves once they are acknowledged. */
void partner_final(struct partner *partner, struct pending *pending, int delivered,
                   const char *reason);

/* The agreements keep pending from the partner: final, with a suppression
 * record. */
void partner_suppress(struct partner *partner, struct pending *pending);

/* Marks recorded events settled, stores the offsets of settled runs and
 * frees them. Returns how many it freed. */
size_t partner_settle(struct partner *partner);

/* ---- partner_control.c ---------------------------------------------------- */

/* Sets up (partner_new) and tears down (partner_destroy) the requests'
 * lock. Returns 0 or -1 with errstr. */
int partner_control_init(struct partner *partner, char *errstr, size_t errstr_size);
void partner_control_fini(struct partner *partner);

/* On the partner's thread, at the start of a turn: applies the requests
 * posted since the last turn and answers them. */
void partner_control_serve(struct partner *partner, int64_t now);

/* On the partner's thread: an attempt failed (or was refused) with reason;
 * kept as the partner's last error, and as pending's (may be NULL) while it
 * waits for its next attempt. */
void partner_note_error(struct partner *partner, struct pending *pending, const char *reason,
                        int64_t now);

/* ---- partner.c ------------------------------------------------------------ */

/* The delay before attempt number attempts + 1: exponential, with jitter. */
int64_t partner_backoff(struct partner *partner, int attempts);

/* Acts on what the breaker did (pauses or resumes the partitions, counts,
 * logs); reason: what failed, or NULL. */
void partner_circuit(struct partner *partner, enum breaker_transition transition,
                     const char *reason);

#endif
