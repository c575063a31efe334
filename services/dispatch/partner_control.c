/*
 * partner_control.c - operators' controls of one partner's engine (see
 * partner.h, partner_control): pause, resume, probe, and its state as the
 * console reads it.
 *
 * Threads: the engine's state (window, breaker, consumer) belongs to the
 * partner's thread alone. A request from the operations listener is put on
 * partner->requests under control_lock, the thread is woken
 * (curl_multi_wakeup), and at the start of its next turn the thread applies
 * it, copies its state into the requester's struct control_state and
 * signals control_done. The requester waits with a deadline: a thread that
 * does not answer (stopping, or stuck in a slow schema registry) leaves it
 * 503, and its request is taken back under the lock, so the thread never
 * sees memory the requester gave up.
 *
 * IMPORTANT: a pause keeps the offsets honest by doing nothing to them:
 * events already in the window stay there, in-flight attempts finish and
 * settle as usual, and only settled runs are stored. It is not kept across
 * a restart (docs/operations.md).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "kafka/consumer.h"
#include "net/metrics.h"
#include "partner_internal.h"

/* One request, in the requester's memory until answered or taken back. */
struct partner_request {
    struct partner_request *next;
    enum control_action action;
    struct control_state *state;
    char *message;
    size_t message_size;
    enum partner_answer answer;
    int done;
};

int partner_control_init(struct partner *partner, char *errstr, size_t errstr_size)
{
    pthread_condattr_t attributes;
    int failed = pthread_condattr_init(&attributes) != 0;
    /* Deadlines on the monotonic clock: a wall clock step must not cut or
     * stretch a wait. */
    failed = failed || pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) != 0 ||
             pthread_cond_init(&partner->control_done, &attributes) != 0;
    pthread_condattr_destroy(&attributes);
    if (failed || pthread_mutex_init(&partner->control_lock, NULL) != 0) {
        if (!failed)
            pthread_cond_destroy(&partner->control_done);
        snprintf(errstr, errstr_size, "partner %s: cannot set up its controls",
                 partner->config->id);
        return -1;
    }
    partner->control_ready = 1;
    return 0;
}

void partner_control_fini(struct partner *partner)
{
    if (!partner->control_ready)
        return;
    pthread_cond_destroy(&partner->control_done);
    pthread_mutex_destroy(&partner->control_lock);
    partner->control_ready = 0;
}

void partner_note_error(struct partner *partner, struct pending *pending, const char *reason,
                        int64_t now)
{
    control_text_copy(partner->last_error, sizeof partner->last_error, reason);
    partner->last_error_ms = now;
    if (pending)
        control_text_copy(pending->last_error, sizeof pending->last_error, reason);
}

/* The next attempt of a waiting event: its own time, or the end of the
 * circuit's open period when that is later. */
static int64_t partner_control_next_attempt(const struct partner *partner,
                                            const struct pending *pending)
{
    int64_t probe_at = breaker_probe_at(&partner->breaker);
    return probe_at != INT64_MAX && probe_at > pending->next_attempt_ms ? probe_at
                                                                        : pending->next_attempt_ms;
}

/* Copies the engine's state into state: the retrying events (waiting after
 * at least one failed attempt) in consumption order, the first
 * CONTROL_RETRYING_MAX of them listed. */
static void partner_control_copy(struct partner *partner, struct control_state *state)
{
    state->partner_id = partner->config->id;
    state->paused = partner->paused;
    state->circuit = partner->breaker.state;
    state->circuit_open_since_ms =
        partner->breaker.state == BREAKER_CLOSED ? 0 : partner->circuit_opened_ms;
    control_text_copy(state->last_error, sizeof state->last_error, partner->last_error);
    state->last_error_ms = partner->last_error_ms;
    state->in_flight = window_in_flight(partner->window);
    state->retrying_total = state->retrying_count = 0;
    for (struct window_entry *entry = window_head(partner->window); entry; entry = entry->next) {
        struct pending *pending = pending_of(entry);
        if (entry->state != WINDOW_WAITING || pending->attempts == 0)
            continue;
        if (state->retrying_total++ >= CONTROL_RETRYING_MAX)
            continue;
        struct control_retrying *retrying = &state->retrying[state->retrying_count++];
        control_text_copy(retrying->event_id, sizeof retrying->event_id, pending->event_id);
        control_text_copy(retrying->topic, sizeof retrying->topic, entry->topic);
        retrying->partition = entry->partition;
        retrying->offset = entry->offset;
        retrying->attempt = pending->attempts;
        control_text_copy(retrying->last_error, sizeof retrying->last_error, pending->last_error);
        retrying->next_attempt_ms = partner_control_next_attempt(partner, pending);
    }
}

/* The probe goes now: the first waiting event that may start (not held
 * behind an earlier one of the same person, decoded) is due at once instead
 * of at the end of its backoff. */
static void partner_control_probe_due(struct partner *partner, int64_t now)
{
    struct window_walk walk;
    struct window_entry *entry;
    int held;
    window_walk_begin(partner->window, &walk);
    while ((entry = window_walk_next(&walk, &held)) != NULL) {
        struct pending *pending = pending_of(entry);
        if (entry->state == WINDOW_WAITING && !held && !pending->undecoded) {
            if (pending->next_attempt_ms > now)
                pending->next_attempt_ms = now;
            return;
        }
    }
}

static enum partner_answer partner_control_probe(struct partner *partner, int64_t now,
                                                 char *message, size_t message_size)
{
    const char *id = partner->config->id;
    enum breaker_transition transition = breaker_probe(&partner->breaker);
    if (transition == BREAKER_UNCHANGED) {
        snprintf(message, message_size,
                 partner->breaker.state == BREAKER_HALF_OPEN
                     ? "the circuit of partner '%s' is half-open already: its probe goes out "
                       "with the next attempt"
                     : "the circuit of partner '%s' is not open: there is nothing to probe",
                 id);
        return PARTNER_REFUSED;
    }
    partner_circuit(partner, transition, NULL);
    partner_control_probe_due(partner, now);
    if (partner->paused)
        log_info("probe asked partner=%s while paused: it goes out once resumed", id);
    return PARTNER_APPLIED;
}

/* Applies action on the partner's thread. */
static enum partner_answer partner_control_apply(struct partner *partner,
                                                 enum control_action action, int64_t now,
                                                 char *message, size_t message_size)
{
    const char *id = partner->config->id;
    switch (action) {
    case CONTROL_NONE:
        return PARTNER_APPLIED;
    case CONTROL_PAUSE:
        if (!partner->paused) {
            partner->paused = 1;
            consumer_pause(partner->consumer, 1);
            metrics_dispatch_paused(id, 1);
            log_info("partner paused partner=%s in_flight=%zu: no new events or attempts until "
                     "resumed",
                     id, window_in_flight(partner->window));
        }
        return PARTNER_APPLIED;
    case CONTROL_RESUME:
        if (partner->paused) {
            partner->paused = 0;
            /* An open circuit keeps the partitions paused until it closes. */
            if (partner->breaker.state == BREAKER_CLOSED)
                consumer_pause(partner->consumer, 0);
            metrics_dispatch_paused(id, 0);
            log_info("partner resumed partner=%s", id);
        }
        return PARTNER_APPLIED;
    case CONTROL_PROBE:
        return partner_control_probe(partner, now, message, message_size);
    }
    return PARTNER_APPLIED;
}

void partner_control_serve(struct partner *partner, int64_t now)
{
    if (!atomic_exchange(&partner->control_posted, 0))
        return;
    pthread_mutex_lock(&partner->control_lock);
    while (partner->requests) {
        struct partner_request *request = partner->requests;
        partner->requests = request->next;
        request->answer = partner_control_apply(partner, request->action, now, request->message,
                                                request->message_size);
        partner_control_copy(partner, request->state);
        request->done = 1;
    }
    pthread_cond_broadcast(&partner->control_done);
    pthread_mutex_unlock(&partner->control_lock);
}

/* Takes request off the list, if the thread has not taken it yet. */
static void partner_control_take_back(struct partner *partner, struct partner_request *request)
{
    for (struct partner_request **link = &partner->requests; *link; link = &(*link)->next)
        if (*link == request) {
            *link = request->next;
            return;
        }
}

enum partner_answer partner_control(struct partner *partner, enum control_action action,
                                    int timeout_ms, struct control_state *state, char *message,
                                    size_t message_size)
{
    struct partner_request request = {
        .action = action, .state = state, .message = message, .message_size = message_size};
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&partner->control_lock);
    struct partner_request **tail = &partner->requests;
    while (*tail)
        tail = &(*tail)->next;
    *tail = &request;
    atomic_store(&partner->control_posted, 1);
    curl_multi_wakeup(partner->multi);
    int waited = 0;
    while (!request.done && waited != ETIMEDOUT)
        waited = pthread_cond_timedwait(&partner->control_done, &partner->control_lock, &deadline);
    if (!request.done) {
        partner_control_take_back(partner, &request);
        request.answer = PARTNER_NO_ANSWER;
        snprintf(message, message_size, "partner '%s' did not answer within %d ms",
                 partner->config->id, timeout_ms);
    }
    pthread_mutex_unlock(&partner->control_lock);
    return request.answer;
}
