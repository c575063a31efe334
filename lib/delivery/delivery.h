/*
 * delivery.h - the one delivery host: a partner set up once, the same way,
 * for placehub-dispatch, placehub-ctl (redeliver, dlq redrive, replay
 * --redeliver) and the connector test kit; and one attempt to deliver an
 * event to it, judged by one rule.
 *
 * A struct delivery_partner owns everything a delivery needs: the connector
 * type and its instance, the transport settings (lib/delivery/transfer.h),
 * the credentials (lib/delivery/auth.h) and the pseudonym key its
 * agreements name. An attempt runs in three steps:
 *   delivery_attempt_start   the connector prepares the request, the
 *                            credentials are added and a libcurl easy
 *                            handle is set up (not yet performed);
 *   (the caller performs it: in a multi handle, or delivery_attempt_perform)
 *   delivery_attempt_finish  the answer is judged: the host's default rule,
 *                            then the connector's classify(), then the 401
 *                            rule (below); Retry-After and a redacted
 *                            excerpt of the answer come back too. A
 *                            connector with next() (ABI 2.1) may ask for
 *                            another request of the same delivery: then
 *                            finish sets easy up again and the caller
 *                            performs it again.
 *
 * The judgement, the same everywhere:
 *   - 2xx (250 for mail) delivered; 408, 429, 5xx and transport failures
 *     retried (honouring Retry-After); any other status rejected; the
 *     connector's classify() may change that.
 *   - IMPORTANT: a 401 judged "rejected" becomes "retry" and drops a cached
 *     OAuth2 token: the partner refused the hub's credentials, not the event.
 *     Dead-lettering would keep every event from the partner until someone
 *     redrives them; a retry with fresh credentials, or the circuit breaker
 *     opening, is the right answer.
 *   - The connector refusing to prepare an event is final for that event
 *     (DELIVERY_REFUSED); credentials that cannot be had are a passing
 *     failure of the partner's (DELIVERY_NO_CREDENTIALS).
 *
 * Threading: one partner's attempts come from one thread at a time (the
 * connector ABI promises connectors that). Different partners are
 * independent.
 */
#ifndef PLACEHUB_DELIVERY_H
#define PLACEHUB_DELIVERY_H

#include <curl/curl.h>
#include <stddef.h>
#include "core/config.h"
#include "delivery/transfer.h"
#include "governance/agreement.h"
#include "placehub/connector.h"

struct delivery_partner;

/* Sets a partner up from the configuration: finds its connector (built in,
 * or a shared object), checks its options (an unknown or misspelt key is
 * refused with the file and line), loads the transport settings and
 * credentials, creates the connector instance and reads the pseudonym key
 * its agreements name. config and partner are borrowed and must outlive the
 * result (connector_options_check, lib/delivery/connector.h, judges the
 * options). libcurl must be initialised. Returns 0 with *out (free with
 * delivery_partner_destroy), or -1 with errstr naming the file, line and
 * partner, and what to fix. */
int delivery_partner_new(const struct config *config, const struct config_partner *partner,
                         struct delivery_partner **out, char *errstr, size_t errstr_size);

/* The same without a configuration file, for the connector test kit: the
 * options come from options (borrowed; must outlive the result), the type is
 * given, and no agreement or pseudonym key applies. */
int delivery_partner_new_from_options(const char *partner_id,
                                      const struct placehub_connector_type *type,
                                      const struct placehub_options *options,
                                      struct delivery_partner **out, char *errstr,
                                      size_t errstr_size);

/* Frees the partner: connector instance, credentials (wiped), settings,
 * pseudonym key (wiped). No attempt may be in progress. NULL is ignored. */
void delivery_partner_destroy(struct delivery_partner *partner);

/* The partner's id, connector type and instance. Borrowed. */
const char *delivery_partner_id(const struct delivery_partner *partner);
const struct placehub_connector_type *delivery_partner_type(const struct delivery_partner *partner);
void *delivery_partner_instance(const struct delivery_partner *partner);

/* The partner's `url` option (where requests go unless the connector says
 * otherwise), or NULL. Borrowed. */
const char *delivery_partner_url(const struct delivery_partner *partner);

/* The pseudonym key its agreements name, or NULL (and *len 0). Borrowed. */
const unsigned char *delivery_partner_pseudonym_key(const struct delivery_partner *partner,
                                                    size_t *len);

/* Applies the partner's data-sharing agreements to event (plain JSON) of
 * topic, with its pseudonym key (lib/governance/agreement.h: clear the
 * decision with agreement_decision_clear). Returns 0, or -1 when out of
 * memory. Only for a partner set up from the configuration. */
int delivery_partner_decide(const struct delivery_partner *partner, const char *topic,
                            const json_t *event, struct agreement_decision *decision);

/* Asks to be told, from another thread, when credentials that were not
 * ready may now be (an OAuth2 token fetch ended). notify must not block.
 * Used by event loops to wake up (curl_multi_wakeup). */
void delivery_partner_set_notify(struct delivery_partner *partner, void (*notify)(void *opaque),
                                 void *opaque);

/* Starts fetching the credentials that are fetched (an OAuth2 token) in
 * the background, so the first delivery need not wait. Never blocks. */
void delivery_partner_warm(struct delivery_partner *partner);

/* One attempt in progress. Zero it before delivery_attempt_start; it must
 * stay at one address until finished (libcurl points into it). */
struct delivery_attempt {
    struct placehub_delivery delivery; /* copied by start; its strings stay the caller's */
    struct placehub_request request;
    struct transfer transfer;
    int started; /* the request is prepared and must be released */
    int steps;   /* requests performed so far for this attempt (next()) */
};

enum delivery_start {
    DELIVERY_STARTED = 0,      /* easy is set up: perform it, then delivery_attempt_finish */
    DELIVERY_REFUSED,          /* the connector will never send this event: reason; final */
    DELIVERY_NO_CREDENTIALS,   /* no credentials (token endpoint failing): reason; retry later,
                                * a failure of the partner's (counts for its circuit breaker) */
    DELIVERY_WAIT_CREDENTIALS, /* a token is being fetched: try again once notified; no failure */
    DELIVERY_SETUP_FAILED      /* ours (out of memory, libcurl): reason; try again in a second */
};

/* How a start may treat credentials not yet at hand. */
enum delivery_credentials {
    DELIVERY_CREDENTIALS_NOW, /* never block: an event loop (answers DELIVERY_WAIT_CREDENTIALS) */
    DELIVERY_CREDENTIALS_WAIT /* wait for a token fetch (placehub-ctl, the test kit) */
};

/* Starts an attempt to deliver delivery (borrowed: its strings and body
 * must live until the attempt is finished or abandoned) on easy (borrowed,
 * reset here). On DELIVERY_STARTED the caller performs easy and then calls
 * delivery_attempt_finish; on any other answer nothing is left to release
 * and reason says why. */
enum delivery_start delivery_attempt_start(struct delivery_partner *partner,
                                           struct delivery_attempt *attempt,
                                           const struct placehub_delivery *delivery, CURL *easy,
                                           enum delivery_credentials credentials, char *reason,
                                           size_t reason_size);

/* The judgement of one finished attempt. */
struct delivery_verdict {
    enum placehub_result result;
    int status;              /* the protocol status; 0 when no answer */
    long retry_after_ms;     /* the partner's Retry-After; 0 when none */
    int credentials_refused; /* the 401 rule applied (a cached token was dropped) */
    char reason[256];        /* short, free of personal data */
    char excerpt[256];       /* the partner's answer, redacted (record_redact) */
    char reference[128];     /* delivered: the partner's reference (a MESH message id), or "" */
};

enum delivery_finish {
    DELIVERY_FINISHED = 0, /* verdict filled; the attempt holds nothing any more */
    DELIVERY_CONTINUES     /* the connector asked for another request (next()): easy is set up
                            * again; perform it and call delivery_attempt_finish again */
};

/* Judges the attempt after its transfer ended with code (easy must no
 * longer be in a multi handle). DELIVERY_FINISHED: verdict is filled and
 * what the attempt held is released (the connector's request, the
 * transfer's lists; not easy). DELIVERY_CONTINUES: verdict is not filled;
 * the same easy is set up for the next request of the delivery. */
enum delivery_finish delivery_attempt_finish(struct delivery_partner *partner,
                                             struct delivery_attempt *attempt, CURLcode code,
                                             struct delivery_verdict *verdict);

/* Releases a started attempt without judging it (shutting down). */
void delivery_attempt_abandon(struct delivery_partner *partner, struct delivery_attempt *attempt);

/* One whole attempt, blocking: start (waiting for credentials), perform on
 * easy, finish. Fills verdict for every outcome: a refusal is REJECTED, no
 * credentials or a set-up failure RETRY, with the reason. Returns the start
 * answer. */
enum delivery_start delivery_attempt_perform(struct delivery_partner *partner,
                                             const struct placehub_delivery *delivery, CURL *easy,
                                             struct delivery_verdict *verdict);

#endif
