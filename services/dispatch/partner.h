/*
 * partner.h - one partner's delivery engine in placehub-dispatch: its own
 * consumer group, connector instance, curl multi handle and thread.
 *
 * IMPORTANT: an event's offset is stored only once its final outcome is
 * safe: delivered (the partner answered 2xx) or dead-lettered, and in both
 * cases its delivery receipt (and dead letter) acknowledged by the broker.
 * Offsets advance over a contiguous run of such events per partition, so a
 * crash at any point loses nothing; the partner may see an event again,
 * with the same event id.
 */
#ifndef PLACEHUB_PARTNER_H
#define PLACEHUB_PARTNER_H

#include <stdatomic.h>
#include <stddef.h>
#include "core/config.h"
#include "delivery/control.h"
#include "kafka/producer.h"
#include "schema/registry.h"

struct partner;

/* What all partners of one dispatch share. Borrowed; outlives the partners. */
struct partner_shared {
    const struct config *config;
    struct registry *registry;
    struct producer *producer; /* dead letters and receipts */
    /* The objection register, kept current by its feed (lib/governance/
     * objection_feed.h): read by every partner's thread. */
    struct objection_register *objections;
    /* The disclosure ledger, kept current by its feed (lib/governance/
     * ledger.h): asked for every cancellation and correction. NULL: none
     * (placehub-dispatch --without-register-and-ledger, for benchmarks). */
    struct ledger *ledger;
    atomic_int *stopping;
};

/* Creates the connector instance and the consumer (subscribed, not yet
 * polled). Returns 0 or -1 with errstr naming the partner and what to fix. */
int partner_new(const struct partner_shared *shared, const struct config_partner *config,
                struct partner **partner, char *errstr, size_t errstr_size);

/* The partner's pseudonym key, or NULL (and *len 0) when its agreements
 * name none. Borrowed; for the start-up check that no two partners share a
 * key (their pseudonyms could then be linked). */
const unsigned char *partner_pseudonym_key(const struct partner *partner, size_t *len);

/* The partner's id, as configured. Borrowed. */
const char *partner_id(const struct partner *partner);

/* What an operator's request to a partner came to. */
enum partner_answer {
    PARTNER_APPLIED,  /* done (or, for CONTROL_NONE, looked at); *state is the state after it */
    PARTNER_REFUSED,  /* it does not apply now (a probe of a circuit not open); message says
                       * why; *state is the state */
    PARTNER_NO_ANSWER /* the partner's thread did not answer within timeout_ms; message says so */
};

/* Asks the partner's thread to apply action (CONTROL_NONE: only look) and
 * to copy its state into *state (caller's memory), and waits for it up to
 * timeout_ms. Any thread may ask (the operations listener's do); the
 * engine's state is only ever read and changed on its own thread. A pause
 * takes no new events and starts no attempts (retries included) until a
 * resume; requests in flight finish and settle as usual. A probe half-opens
 * an open circuit at once and makes the first waiting event due now. */
enum partner_answer partner_control(struct partner *partner, enum control_action action,
                                    int timeout_ms, struct control_state *state, char *message,
                                    size_t message_size);

/* Starts the partner's thread. Returns 0 or -1 with errstr. */
int partner_start(struct partner *partner, char *errstr, size_t errstr_size);

/* Wakes the thread so it sees *stopping, and waits for it to end. Requests
 * in flight are abandoned (their events are delivered after a restart). */
void partner_stop(struct partner *partner);

/* After the shared producer was flushed: stores the offsets of events whose
 * records are now safe and closes the consumer (committing them). */
void partner_finish(struct partner *partner);

void partner_destroy(struct partner *partner);

#endif
