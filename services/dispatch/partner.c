/*
 * partner.c - one partner's delivery engine (see partner.h).
 *
 * The thread loops over four steps:
 *   1. intake: take messages from the consumer while fewer than
 *      max_pending events are pending and the circuit is not open; decode
 *      each to plain JSON (an unreadable one goes straight to dead letter)
 *      and apply the partner's data-sharing agreements (lib/governance/agreement.h):
 *      the event is cut to the agreement's fields, or suppressed - final at
 *      once, with a suppression record on the audit topic instead of a
 *      delivery;
 *   2. start: begin an attempt for every waiting event whose time has come,
 *      up to max_in_flight at once - but never while an earlier event of the
 *      same person (same Kafka key) is still unsettled, so one person's
 *      events reach the partner in order;
 *   3. complete: judge finished transfers; delivered and rejected events
 *      become final, failing ones are rescheduled with exponential backoff and
 *      jitter (or the partner's Retry-After) until the retry window ends;
 *   4. settle: produce each final event's receipt (and dead letter) without
 *      waiting; once the broker acknowledged them, store the offset of the
 *      longest settled run at the head of each partition.
 * It sleeps in curl_multi_poll, woken by transfers, by the consumer queue
 * (an io-event pipe) and by the producer's acknowledgements
 * (curl_multi_wakeup).
 *
 * The circuit breaker (lib/delivery/breaker.h): after breaker_failures
 * passing failures in a row the circuit opens, the partner's partitions are
 * paused and nothing is sent; after breaker_open_ms one probe goes out;
 * success closes the circuit and resumes the partitions, failure reopens it
 * for twice as long (up to breaker_open_max_ms). The partner's lag grows
 * meanwhile; nothing is dropped and other partners, on their own threads,
 * are not slowed.
 *
 * Operators may pause, resume and probe a partner (partner_control.c):
 * their requests are applied here, at the start of a turn, on this thread.
 *
 * Who does what: lib/delivery/window.h keeps the pending events in
 * consumption order, per-person order and which offsets may be stored;
 * lib/delivery/breaker.h decides when attempts may go out;
 * lib/kafka/consumer.h is the consumer (configuration, rebalances,
 * pausing, storing offsets); lib/delivery/delivery.h sets the partner up
 * (connector, transport, credentials, pseudonym key) and starts and judges
 * each attempt, as it does for placehub-ctl and the connector test kit;
 * lib/delivery/record.h writes the receipts, suppression records and dead
 * letters. This file drives them and curl's multi handle.
 */
#include "partner.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "governance/agreement.h"
#include "kafka/consumer.h"
#include "kafka/kafka.h"
#include "net/metrics.h"
#include "partner_internal.h"

static CURL *partner_easy_take(struct partner *partner)
{
    return partner->idle_count ? partner->idle[--partner->idle_count] : curl_easy_init();
}

/* Keeps easy (removed from the multi handle) for another transfer. */
static void partner_easy_give(struct partner *partner, CURL *easy)
{
    if (partner->idle && partner->idle_count < (size_t)partner->max_in_flight) {
        curl_easy_reset(easy);
        partner->idle[partner->idle_count++] = easy;
        return;
    }
    curl_easy_cleanup(easy);
}

/* ---- circuit breaker ---------------------------------------------------- */

/* Acts on what the breaker did: open pauses the partner's partitions,
 * closed resumes them (unless an operator paused the partner); each is
 * counted and said. reason: what failed. */
void partner_circuit(struct partner *partner, enum breaker_transition transition,
                     const char *reason)
{
    const char *id = partner->config->id;
    switch (transition) {
    case BREAKER_OPENED:
        consumer_pause(partner->consumer, 1);
        if (!partner->circuit_opened_ms) /* a failed probe reopens: still since then */
            partner->circuit_opened_ms = clock_wall_ms();
        metrics_dispatch_circuit(id, METRICS_CIRCUIT_OPEN);
        log_warning("circuit open partner=%s failures=%d probe_in_ms=%d reason=%.100s", id,
                    partner->breaker.failures, partner->breaker.open_ms, reason ? reason : "");
        break;
    case BREAKER_HALF_OPENED:
        metrics_dispatch_circuit(id, METRICS_CIRCUIT_HALF_OPEN);
        log_info("circuit half-open partner=%s: sending a probe", id);
        break;
    case BREAKER_CLOSED_AGAIN:
        partner->circuit_opened_ms = 0;
        if (!partner->paused)
            consumer_pause(partner->consumer, 0);
        metrics_dispatch_circuit(id, METRICS_CIRCUIT_CLOSED);
        log_info("circuit closed partner=%s", id);
        break;
    case BREAKER_UNCHANGED:
        break;
    }
}

/* Whether an attempt may start now; in half-open state, only one probe. */
static int partner_circuit_allows(struct partner *partner, int64_t now)
{
    enum breaker_transition transition;
    int allowed = breaker_allows(&partner->breaker, now, &transition);
    partner_circuit(partner, transition, NULL);
    return allowed;
}

/* ---- attempts ----------------------------------------------------------- */

static void partner_start_attempt(struct partner *partner, struct pending *pending, int64_t now)
{
    char reason[320];
    const struct placehub_delivery delivery = {
        .partner_id = partner->config->id,
        .event_id = pending->event_id,
        .event_type = pending->source.topic,
        .body = pending->body,
        .body_len = pending->body_len,
        .attempt = pending->attempts + 1,
    };
    pending->credentials_wait = 0;
    pending->easy = partner_easy_take(partner);
    /* Never waits: an OAuth2 token is fetched and refreshed on the
     * credentials' own thread (lib/delivery/auth.h). */
    enum delivery_start start =
        delivery_attempt_start(partner->delivery, &pending->attempt, &delivery, pending->easy,
                               DELIVERY_CREDENTIALS_NOW, reason, sizeof reason);
    if (start == DELIVERY_STARTED &&
        curl_multi_add_handle(partner->multi, pending->easy) != CURLM_OK) {
        delivery_attempt_abandon(partner->delivery, &pending->attempt);
        snprintf(reason, sizeof reason, "cannot add the transfer to the multi handle");
        start = DELIVERY_SETUP_FAILED;
    }
    if (start != DELIVERY_STARTED && pending->easy) {
        partner_easy_give(partner, pending->easy); /* for the next attempt */
        pending->easy = NULL;
    }
    switch (start) {
    case DELIVERY_STARTED:
        pending->attempts++;
        window_set_state(partner->window, &pending->entry, WINDOW_IN_FLIGHT);
        pending->sent = 1;
        breaker_started(&partner->breaker); /* the probe, when half-open */
        return;
    case DELIVERY_REFUSED:
        pending->attempts++;
        partner_final(partner, pending, 0, reason);
        return;
    case DELIVERY_WAIT_CREDENTIALS:
        /* Not a failure: the first token is on its way. The fetch's end
         * wakes the loop (partner_credentials_ready); a second is the
         * fallback. */
        pending->credentials_wait = 1;
        pending->next_attempt_ms = now + 1000;
        return;
    case DELIVERY_NO_CREDENTIALS:
        /* A token endpoint that fails is a passing failure of the
         * partner's, never the event's. */
        pending->attempts++;
        log_warning("%s partner=%s", reason, partner->config->id);
        partner_note_error(partner, pending, reason, now);
        partner_circuit(partner, breaker_failure(&partner->breaker, now), "authentication");
        pending->next_attempt_ms = now + partner_backoff(partner, pending->attempts);
        return;
    case DELIVERY_SETUP_FAILED:
        /* Ours, not the event's: try again later. */
        log_error("cannot start a transfer partner=%s event_id=%s: %s", partner->config->id,
                  pending->event_id, reason);
        pending->next_attempt_ms = now + 1000;
        return;
    }
}

/* On the credentials' fetching thread: a token fetch ended. */
static void partner_credentials_ready(void *opaque)
{
    struct partner *partner = opaque;
    atomic_store(&partner->credentials_ready, 1);
    curl_multi_wakeup(partner->multi);
}

/* Starts what may start; returns when the next waiting event is due. An
 * event held back by an earlier one of the same person (window.h) is not
 * looked at: it is due when that one is no longer on its way. */
static int64_t partner_start_due(struct partner *partner, int64_t now)
{
    int64_t next_due = now + 1000;
    /* Paused: nothing starts, no retry is due, no probe; the loop still
     * collects what is in flight and settles it. */
    if (partner->paused)
        return next_due;
    int decode_tried = 0, held;
    int credentials_ready = atomic_exchange(&partner->credentials_ready, 0);
    struct window_walk walk;
    struct window_entry *entry;
    window_walk_begin(partner->window, &walk);
    while ((entry = window_walk_next(&walk, &held)) != NULL) {
        struct pending *pending = pending_of(entry);
        if (entry->state != WINDOW_WAITING || held)
            continue;
        if (credentials_ready && pending->credentials_wait)
            pending->next_attempt_ms = now;
        /* Undecoded events (the schema registry did not answer): while it
         * still does not, one of them asks it again when the backoff ends. */
        if (pending->undecoded && pending->next_attempt_ms <= now &&
            !(partner->registry_failures && (decode_tried || now < partner->registry_retry_ms))) {
            decode_tried = 1;
            partner_prepare(partner, pending, now); /* may make it final, or leave it waiting */
            if (entry->state != WINDOW_WAITING)
                continue;
        }
        if (pending->next_attempt_ms > now) {
            if (pending->next_attempt_ms < next_due)
                next_due = pending->next_attempt_ms;
        } else if (!pending->undecoded && window_may_start(partner->window) &&
                   partner_circuit_allows(partner, now)) {
            partner_start_attempt(partner, pending, now);
        }
    }
    int64_t probe_at = breaker_probe_at(&partner->breaker);
    return probe_at < next_due ? probe_at : next_due;
}

int64_t partner_backoff(struct partner *partner, int attempts)
{
    const struct config *config = partner->shared->config;
    int64_t delay = config->dispatch.retry_backoff_ms;
    for (int i = 1; i < attempts && delay < config->dispatch.retry_backoff_max_ms; i++)
        delay *= 2;
    if (delay > config->dispatch.retry_backoff_max_ms)
        delay = config->dispatch.retry_backoff_max_ms;
    /* Equal jitter: half fixed, half random, so many failing events do not
     * come back at the partner at the same moment. */
    return delay / 2 + (int64_t)(rand_r(&partner->random_state) % (unsigned)(delay / 2 + 1));
}

static void partner_complete(struct partner *partner, struct pending *pending, CURLcode code,
                             int64_t now)
{
    /* The one judgement (lib/delivery/delivery.h): the host's rule, the
     * connector's classify(), then the 401 rule. */
    struct delivery_verdict outcome;
    curl_multi_remove_handle(partner->multi, pending->easy);
    if (delivery_attempt_finish(partner->delivery, &pending->attempt, code, &outcome) ==
        DELIVERY_CONTINUES) {
        /* The next request of a delivery made of several (a MESH upload in
         * chunks): still in flight, judged when it ends. */
        if (curl_multi_add_handle(partner->multi, pending->easy) == CURLM_OK)
            return;
        delivery_attempt_abandon(partner->delivery, &pending->attempt);
        memset(&outcome, 0, sizeof outcome);
        outcome.result = PLACEHUB_RETRY;
        snprintf(outcome.reason, sizeof outcome.reason,
                 "cannot add the next transfer to the multi handle");
    }
    pending->status = outcome.status;
    snprintf(pending->excerpt, sizeof pending->excerpt, "%s", outcome.excerpt);
    snprintf(pending->reference, sizeof pending->reference, "%s", outcome.reference);
    long retry_after_ms = outcome.retry_after_ms;
    partner_easy_give(partner, pending->easy);
    pending->easy = NULL;

    if (outcome.result == PLACEHUB_DELIVERED) {
        partner_circuit(partner, breaker_success(&partner->breaker), NULL);
        partner_final(partner, pending, 1, NULL);
        return;
    }
    if (outcome.result == PLACEHUB_REJECTED) {
        /* The partner answered: it is up, this event is what it refuses. */
        partner_circuit(partner, breaker_success(&partner->breaker), NULL);
        partner_note_error(partner, NULL, outcome.reason, now);
        log_warning("rejected partner=%s event_id=%s status=%d reason=%.100s", partner->config->id,
                    pending->event_id, pending->status, outcome.reason);
        partner_final(partner, pending, 0, outcome.reason);
        return;
    }
    partner_circuit(partner, breaker_failure(&partner->breaker, now), outcome.reason);
    partner_note_error(partner, pending, outcome.reason, now);
    int64_t delay = partner_backoff(partner, pending->attempts);
    if (retry_after_ms > delay)
        delay = retry_after_ms;
    int64_t window = partner->shared->config->dispatch.retry_window_ms;
    if (now + delay - pending->first_attempt_ms > window) {
        char reason[320];
        snprintf(reason, sizeof reason, "still failing after the %lld s retry window: %s",
                 (long long)(window / 1000), outcome.reason);
        partner_final(partner, pending, 0, reason);
        return;
    }
    metrics_dispatch_retry(partner->config->id, pending->source.topic);
    log_warning("delivery failed partner=%s event_id=%s attempt=%d reason=%.100s retry_in_ms=%lld",
                partner->config->id, pending->event_id, pending->attempts, outcome.reason,
                (long long)delay);
    window_set_state(partner->window, &pending->entry, WINDOW_WAITING);
    pending->next_attempt_ms = now + delay;
}

/* Drives the transfers; returns how many ended. */
static int partner_collect(struct partner *partner)
{
    int running = 0, left = 0, ended = 0;
    curl_multi_perform(partner->multi, &running);
    CURLMsg *message;
    while ((message = curl_multi_info_read(partner->multi, &left)) != NULL) {
        if (message->msg != CURLMSG_DONE)
            continue;
        /* transfer_setup made the transfer the handle's private pointer. */
        struct transfer *transfer = NULL;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
        struct pending *pending =
            (struct pending *)((char *)transfer - offsetof(struct pending, attempt.transfer));
        /* The time the answer was seen, not the turn's start: a retry
         * (Retry-After above all) counts from the answer. */
        partner_complete(partner, pending, message->data.result, clock_wall_ms());
        ended++;
    }
    return ended;
}

/* ---- the thread --------------------------------------------------------- */

static void *partner_run(void *arg)
{
    struct partner *partner = arg;
    struct curl_waitfd wait = {.fd = partner->wake_pipe[0], .events = CURL_WAIT_POLLIN};
    while (!atomic_load(partner->shared->stopping)) {
        int64_t now = clock_wall_ms();
        if (atomic_load(&partner->control_posted))
            partner_control_serve(partner, now); /* operators' requests (partner_control.c) */
        int more = partner_intake(partner, now);
        int64_t next_due = partner_start_due(partner, now);
        int ended = partner_collect(partner);
        size_t freed = partner_settle(partner);
        /* A transfer that ended frees a slot or schedules a retry, settled
         * events make room for more, and intake may have left some for the
         * next turn: look again at once rather than sleep. IMPORTANT: the consumer queue signals
         * the wake pipe only when it goes from empty to not empty, so room made while it was full
         * all along would otherwise wait for an unrelated wakeup (up to the second below) before
         * intake takes more. */
        int64_t timeout = ended || freed || more ? 0 : next_due - clock_wall_ms();
        if (timeout < 0)
            timeout = 0;
        if (timeout > 1000)
            timeout = 1000;
        curl_multi_poll(partner->multi, &wait, 1, (int)timeout, NULL);
    }
    return NULL;
}

/* Warns about topics no agreement covers. */
static void partner_governance_warn(const struct partner *partner)
{
    const struct config_partner *config = partner->config;
    /* Default deny, said out loud: such a topic's events are all suppressed,
     * each with an audit record, until an agreement covers them. */
    for (size_t t = 0; t < config->topic_count; t++) {
        int covered = 0;
        for (size_t i = 0; i < config->agreement_count && !covered; i++)
            covered = agreement_covers(&config->agreements[i], config->topics[t]);
        if (!covered)
            log_warning("no agreement partner=%s topic=%s: every event of it is suppressed "
                        "(reason no_agreement) until an agreement covers it",
                        config->id, config->topics[t]);
    }
}

const unsigned char *partner_pseudonym_key(const struct partner *partner, size_t *len)
{
    return delivery_partner_pseudonym_key(partner->delivery, len);
}

/* How many requests may be in flight (the hub's default, or the partner's
 * max_in_flight option) and, from that, how many events may be pending;
 * allocates what is sized by them. */
static int partner_limits(struct partner *partner, char *errstr, size_t errstr_size)
{
    const struct config *hub = partner->shared->config;
    const struct config_partner *config = partner->config;
    partner->max_in_flight = hub->dispatch.max_in_flight;
    const char *in_flight = config_partner_option(config, "max_in_flight");
    if (in_flight) {
        char *end = NULL;
        long value = strtol(in_flight, &end, 10);
        if (*end || value < 1 || value > 1024) {
            snprintf(errstr, errstr_size,
                     "%s:%d: partner %s: options.max_in_flight must be 1 to 1024", hub->path,
                     config->line, config->id);
            return -1;
        }
        partner->max_in_flight = (int)value;
    }
    /* Enough pending events to keep the pipe full while some wait behind
     * others of the same person and delivered ones wait for their receipts
     * (up to PRODUCER_LINGER_RECORDS_MS plus the broker's acknowledgement),
     * and few enough to bound memory: a pending event keeps its payload and,
     * until final, its body; the consumed message itself is not kept.
     * docs/performance.md has the measurements behind the factor. */
    partner->max_pending = partner->max_in_flight * 16 < 128 ? 128 : partner->max_in_flight * 16;
    if (partner->max_pending > 4096)
        partner->max_pending = 4096;
    partner->window = window_new((size_t)partner->max_pending, (size_t)partner->max_in_flight);
    partner->idle = calloc((size_t)partner->max_in_flight, sizeof *partner->idle);
    /* Each agreement's version, once: every record names it. */
    partner->agreement_versions = calloc(config->agreement_count ? config->agreement_count : 1,
                                         sizeof *partner->agreement_versions);
    for (size_t i = 0; partner->agreement_versions && i < config->agreement_count; i++)
        agreement_version(&config->agreements[i], partner->agreement_versions[i],
                          sizeof partner->agreement_versions[i]);
    if (!partner->window || !partner->idle || !partner->agreement_versions) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

/* The partner as the delivery host sets it up: connector instance,
 * transport settings, credentials, pseudonym key. The first OAuth2 token
 * is asked for now, so the first delivery need not wait for it. */
static int partner_connector(struct partner *partner, char *errstr, size_t errstr_size)
{
    if (delivery_partner_new(partner->shared->config, partner->config, &partner->delivery, errstr,
                             errstr_size) != 0)
        return -1;
    delivery_partner_set_notify(partner->delivery, partner_credentials_ready, partner);
    delivery_partner_warm(partner->delivery);
    return 0;
}

/* The curl multi handle and the pipe the consumer queue wakes it through. */
static int partner_transfers(struct partner *partner, char *errstr, size_t errstr_size)
{
    partner->multi = curl_multi_init();
    if (!partner->multi || pipe2(partner->wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(errstr, errstr_size, "partner %s: cannot set up: %s", partner->config->id,
                 strerror(errno));
        return -1;
    }
    curl_multi_setopt(partner->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(partner->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)partner->max_in_flight);
    curl_multi_setopt(partner->multi, CURLMOPT_MAXCONNECTS, (long)partner->max_in_flight);
    return 0;
}

/* The partner's consumer in its own group, subscribed to its topics. */
static int partner_consumer(struct partner *partner, const char *group, char *errstr,
                            size_t errstr_size)
{
    const struct config_partner *config = partner->config;
    rd_kafka_conf_t *conf = kafka_conf_new(partner->shared->config, errstr, errstr_size);
    if (!conf)
        return -1;
    if (consumer_conf_set(conf, group, errstr, errstr_size) != 0 ||
        metrics_kafka_stats(conf, config->id, config->id, 5000, errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    char message[400];
    if (consumer_new(conf, (const char *const *)config->topics, config->topic_count,
                     partner->wake_pipe[1], &partner->consumer, message, sizeof message) != 0) {
        snprintf(errstr, errstr_size, "partner %s: %s", config->id, message);
        return -1;
    }
    return 0;
}

int partner_new(const struct partner_shared *shared, const struct config_partner *config,
                struct partner **out, char *errstr, size_t errstr_size)
{
    char group[256];
    const struct config *hub = shared->config;
    struct partner *partner = calloc(1, sizeof *partner);
    *out = NULL;
    if (!partner) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    partner->shared = shared;
    partner->config = config;
    partner->wake_pipe[0] = partner->wake_pipe[1] = -1;
    const struct breaker_settings breaker = {.failures = hub->dispatch.breaker_failures,
                                             .open_ms = hub->dispatch.breaker_open_ms,
                                             .open_max_ms = hub->dispatch.breaker_open_max_ms};
    breaker_init(&partner->breaker, &breaker);
    partner->random_state = (unsigned)clock_wall_ms() ^ (unsigned)(uintptr_t)partner;
    snprintf(group, sizeof group, "%s.%s", hub->dispatch.group_prefix, config->id);
    if (partner_control_init(partner, errstr, errstr_size) != 0 ||
        partner_limits(partner, errstr, errstr_size) != 0 ||
        partner_connector(partner, errstr, errstr_size) != 0 ||
        partner_transfers(partner, errstr, errstr_size) != 0 ||
        partner_consumer(partner, group, errstr, errstr_size) != 0) {
        partner_destroy(partner);
        return -1;
    }
    partner_governance_warn(partner);
    metrics_dispatch_circuit(config->id, METRICS_CIRCUIT_CLOSED);
    metrics_dispatch_paused(config->id, 0);
    for (size_t t = 0; t < config->topic_count; t++)
        metrics_dispatch_start(config->id, config->topics[t]);
    log_info("partner ready partner=%s group=%s connector=%s topics=%zu max_in_flight=%d",
             config->id, group, delivery_partner_type(partner->delivery)->name, config->topic_count,
             partner->max_in_flight);
    *out = partner;
    return 0;
}

const char *partner_id(const struct partner *partner)
{
    return partner->config->id;
}

int partner_start(struct partner *partner, char *errstr, size_t errstr_size)
{
    if (pthread_create(&partner->thread, NULL, partner_run, partner) != 0) {
        snprintf(errstr, errstr_size, "partner %s: cannot start a thread", partner->config->id);
        return -1;
    }
    partner->started = 1;
    return 0;
}

void partner_stop(struct partner *partner)
{
    if (!partner || !partner->started)
        return;
    curl_multi_wakeup(partner->multi);
    pthread_join(partner->thread, NULL);
    partner->started = 0;
}

void partner_finish(struct partner *partner)
{
    if (!partner || !partner->consumer)
        return;
    partner->records_settled = atomic_load(&partner->records_done) - 1;
    partner_settle(partner);
    if (partner->held) {
        rd_kafka_message_destroy(partner->held);
        partner->held = NULL;
    }
    consumer_close(partner->consumer); /* commits what was stored */
}

void partner_destroy(struct partner *partner)
{
    if (!partner)
        return;
    partner_stop(partner);
    struct window_entry *entry;
    while (partner->window && (entry = window_pop(partner->window)) != NULL) {
        struct pending *pending = pending_of(entry);
        if (pending->easy) {
            curl_multi_remove_handle(partner->multi, pending->easy);
            delivery_attempt_abandon(partner->delivery, &pending->attempt);
            curl_easy_cleanup(pending->easy);
        }
        partner_free_pending(pending);
    }
    /* IMPORTANT: before the multi handle goes, since the credentials'
     * thread wakes it (partner_credentials_ready); this stops that thread. */
    delivery_partner_destroy(partner->delivery);
    if (partner->held)
        rd_kafka_message_destroy(partner->held);
    consumer_destroy(partner->consumer);
    for (size_t i = 0; i < partner->idle_count; i++)
        curl_easy_cleanup(partner->idle[i]);
    free(partner->idle);
    if (partner->multi)
        curl_multi_cleanup(partner->multi);
    for (int i = 0; i < 2; i++)
        if (partner->wake_pipe[i] >= 0)
            close(partner->wake_pipe[i]);
    window_destroy(partner->window);
    free(partner->agreement_versions);
    partner_control_fini(partner);
    free(partner);
}
