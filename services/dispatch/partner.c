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
 * Who does what: lib/delivery/window.h keeps the pending events in
 * consumption order, per-person order and which offsets may be stored;
 * lib/delivery/breaker.h decides when attempts may go out;
 * lib/kafka/consumer.h is the consumer (configuration, rebalances,
 * pausing, storing offsets). This file drives them, the connector and curl.
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
#include "delivery/auth.h"
#include "delivery/breaker.h"
#include "delivery/connector.h"
#include "delivery/transfer.h"
#include "delivery/window.h"
#include "governance/agreement.h"
#include "kafka/consumer.h"
#include "kafka/kafka.h"
#include "net/metrics.h"
#include "delivery/record.h"
#include "schema/codec.h"
#include "schema/framing.h"

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
    struct transfer transfer;
    struct placehub_request request;
    struct placehub_delivery delivery;
    /* what the agreement decided */
    const struct config_agreement *agreement; /* used, or the one that refused; NULL: none */
    char *fields; /* field paths in body (sorted), as a compact JSON array: the text is a
                   * third of the size of the jansson array */
    int pseudonymised;
    int suppressed;            /* kept from the partner: a suppression record, no delivery */
    const char *suppression;   /* why (AGREEMENT_OBJECTION, ...) */
    char detail[192];          /* why, in words, without personal data */
    char cancels_event_id[40]; /* a cancellation's target, for the suppression record */
    int sent;                  /* an attempt reached the transport: the body may have gone */
    /* the final outcome */
    int delivered;
    int status;
    char reason[256];
    char excerpt[256];
    atomic_int records_outstanding;
    atomic_int record_failed;
};

struct partner {
    const struct partner_shared *shared;
    const struct config_partner *config;
    const struct placehub_connector_type *type;
    void *instance;
    struct placehub_options options;
    struct transfer_settings settings;
    struct auth *auth;
    unsigned char pseudonym_key[512]; /* when an agreement names one; wiped on destroy */
    size_t pseudonym_key_len;
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
};

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

static struct pending *pending_of(struct window_entry *entry)
{
    return (struct pending *)((char *)entry - offsetof(struct pending, entry));
}

static const char *partner_option(const struct placehub_options *options, const char *key)
{
    return config_partner_option(options->opaque, key);
}

/* ---- circuit breaker ---------------------------------------------------- */

/* Acts on what the breaker did: open pauses the partner's partitions,
 * closed resumes them; each is counted and said. reason: what failed. */
static void partner_circuit(struct partner *partner, enum breaker_transition transition,
                            const char *reason)
{
    const char *id = partner->config->id;
    switch (transition) {
    case BREAKER_OPENED:
        consumer_pause(partner->consumer, 1);
        metrics_dispatch_circuit(id, METRICS_CIRCUIT_OPEN);
        log_warning("circuit open partner=%s failures=%d probe_in_ms=%d reason=%.100s", id,
                    partner->breaker.failures, partner->breaker.open_ms, reason ? reason : "");
        break;
    case BREAKER_HALF_OPENED:
        metrics_dispatch_circuit(id, METRICS_CIRCUIT_HALF_OPEN);
        log_info("circuit half-open partner=%s: sending a probe", id);
        break;
    case BREAKER_CLOSED_AGAIN:
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

/* ---- intake ------------------------------------------------------------- */

static void partner_final(struct partner *partner, struct pending *pending, int delivered,
                          const char *reason);
static void partner_suppress(struct partner *partner, struct pending *pending);

/* Decodes a message's bytes into plain JSON. NULL with errstr when
 * unreadable, and then *unavailable is set when the schema registry did not
 * answer (the bytes may be fine). */
static json_t *partner_decode(struct partner *partner, const unsigned char *data, size_t len,
                              int *unavailable, char *errstr, size_t errstr_size)
{
    int32_t schema_id;
    const unsigned char *payload;
    size_t payload_len;
    const struct codec_schema *schema;
    struct codec_error error;
    json_t *event = NULL;
    *unavailable = 0;
    if (framing_parse(data, len, &schema_id, &payload, &payload_len, errstr, errstr_size) != 0)
        return NULL;
    int found = registry_reader(partner->shared->registry, schema_id, &schema, errstr, errstr_size);
    if (found != 0) {
        *unavailable = found == REGISTRY_UNAVAILABLE;
        return NULL;
    }
    if (codec_decode(schema, payload, payload_len, &event, &error) != 0) {
        snprintf(errstr, errstr_size, "schema %d: %s %s", (int)schema_id, error.field,
                 error.message);
        return NULL;
    }
    return event;
}

/* The event id from the header ingest sets; "unknown" without one (the
 * event's own field may say, once decoded). */
static void partner_event_id(const rd_kafka_message_t *message, char *id, size_t id_size)
{
    rd_kafka_headers_t *headers = NULL;
    const void *value = NULL;
    size_t size = 0;
    snprintf(id, id_size, "unknown");
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, "event_id", &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        value && size < id_size)
        snprintf(id, id_size, "%.*s", (int)size, (const char *)value);
}

/* Applies the partner's agreements to event: fills pending's body with what
 * the partner may see, or marks it suppressed. Returns 0, or -1 when out of
 * memory. */
static int partner_govern(struct partner *partner, struct pending *pending, const json_t *event)
{
    struct agreement_decision decision;
    if (agreement_decide(partner->config, pending->source.topic,
                         partner->pseudonym_key_len ? partner->pseudonym_key : NULL,
                         partner->pseudonym_key_len, event, &decision) != 0)
        return -1;
    pending->agreement = decision.agreement;
    if (decision.reason) {
        pending->suppressed = 1;
        pending->suppression = decision.reason;
        snprintf(pending->detail, sizeof pending->detail, "%s", decision.detail);
        const char *cancels = json_string_value(json_object_get(event, "cancels_event_id"));
        if (cancels)
            snprintf(pending->cancels_event_id, sizeof pending->cancels_event_id, "%.36s", cancels);
        agreement_decision_clear(&decision);
        return 0;
    }
    pending->body = json_dumps(decision.event, JSON_COMPACT);
    pending->body_len = pending->body ? strlen(pending->body) : 0;
    pending->fields = decision.fields ? json_dumps(decision.fields, JSON_COMPACT) : NULL;
    int complete = pending->body && (pending->fields || !decision.fields);
    pending->pseudonymised = decision.pseudonymised;
    agreement_decision_clear(&decision);
    return complete ? 0 : -1;
}

/* Copies what pending keeps of message: its coordinates, key and bytes. The
 * topic is the configuration's own string (the subscription names it), so
 * that comparing topics is comparing pointers. Returns 0, or -1 when out of
 * memory. */
static int partner_keep(struct partner *partner, struct pending *pending,
                        const rd_kafka_message_t *message)
{
    const char *topic = rd_kafka_topic_name(message->rkt);
    pending->source.topic = NULL;
    for (size_t i = 0; i < partner->config->topic_count && !pending->source.topic; i++)
        if (strcmp(partner->config->topics[i], topic) == 0)
            pending->source.topic = partner->config->topics[i];
    if (!pending->source.topic) {
        pending->topic_copy = strdup(topic);
        pending->source.topic = pending->topic_copy;
    }
    pending->source.partition = message->partition;
    pending->source.offset = message->offset;
    if (message->key && message->key_len) {
        pending->key = malloc(message->key_len);
        if (pending->key)
            memcpy(pending->key, message->key, message->key_len);
        pending->source.key = pending->key;
        pending->source.key_len = message->key_len;
    }
    pending->payload = malloc(message->len ? message->len : 1);
    if (pending->payload && message->len)
        memcpy(pending->payload, message->payload, message->len);
    pending->payload_len = message->len;
    int64_t timestamp = rd_kafka_message_timestamp(message, NULL);
    pending->timestamp_ms = timestamp > 0 ? timestamp : 0;
    return pending->source.topic && pending->payload &&
                   (pending->key || !message->key || !message->key_len)
               ? 0
               : -1;
}

static void partner_free_pending(struct pending *pending)
{
    free(pending->key);
    free(pending->topic_copy);
    free(pending->payload);
    free(pending->body);
    free(pending->fields);
    free(pending);
}

static int64_t partner_backoff(struct partner *partner, int attempts);

/* Decodes pending's bytes and applies the agreements: the event is then
 * ready to send, suppressed (final, a suppression record), or unreadable
 * (final, dead-lettered). When the schema registry does not answer, the
 * event stays waiting, undecoded, and is tried again after a backoff: a
 * registry outage is not the event's fault, and dead-lettering would keep it
 * from the partner. Events after it of the same person wait behind it, and
 * its partition's offset is not stored past it. */
static void partner_prepare(struct partner *partner, struct pending *pending, int64_t now)
{
    char errstr[512];
    int unavailable;
    json_t *event = partner_decode(partner, pending->payload, pending->payload_len, &unavailable,
                                   errstr, sizeof errstr);
    if (!event && unavailable) {
        partner->registry_failures++;
        partner->registry_retry_ms = now + partner_backoff(partner, partner->registry_failures);
        pending->undecoded = 1;
        pending->next_attempt_ms = partner->registry_retry_ms;
        if (partner->registry_failures == 1)
            log_warning("events wait for the schema registry partner=%s event_id=%s: %s; "
                        "trying again, nothing is dead-lettered for it",
                        partner->config->id, pending->event_id, errstr);
        else
            log_info("schema registry still not answering partner=%s attempts=%d "
                     "retry_in_ms=%lld",
                     partner->config->id, partner->registry_failures,
                     (long long)(partner->registry_retry_ms - now));
        return;
    }
    if (partner->registry_failures) {
        log_info("schema registry answers again partner=%s", partner->config->id);
        partner->registry_failures = 0;
    }
    if (pending->undecoded) {
        /* The retry window is for the partner's failures; it starts now. */
        pending->undecoded = 0;
        pending->first_attempt_ms = pending->next_attempt_ms = now;
    }
    const char *from_event = json_string_value(json_object_get(event, "event_id"));
    if (from_event && strcmp(pending->event_id, "unknown") == 0)
        snprintf(pending->event_id, sizeof pending->event_id, "%.63s", from_event);
    int readable = event != NULL;
    int governed = readable ? partner_govern(partner, pending, event) : -1;
    json_decref(event);
    if (!readable) {
        log_error("unreadable event partner=%s topic=%s partition=%d offset=%lld: %s",
                  partner->config->id, pending->source.topic, (int)pending->source.partition,
                  (long long)pending->source.offset, errstr);
        char reason[600];
        snprintf(reason, sizeof reason, "unreadable: %s", errstr);
        partner_final(partner, pending, 0, reason);
    } else if (governed != 0) {
        /* Nothing went to the partner; the dead letter keeps the event for a
         * redrive. */
        log_error("out of memory applying the agreements partner=%s event_id=%s",
                  partner->config->id, pending->event_id);
        partner_final(partner, pending, 0, "out of memory applying the data-sharing agreement");
    } else if (pending->suppressed) {
        partner_suppress(partner, pending);
    }
}

/* Takes message as a pending event and destroys it. Returns -1, the message
 * untouched, when out of memory: the caller holds it and tries again (an
 * event skipped here would be lost once a later offset of its partition is
 * stored). */
static int partner_take(struct partner *partner, rd_kafka_message_t *message, int64_t now)
{
    struct pending *pending = calloc(1, sizeof *pending);
    if (!pending || partner_keep(partner, pending, message) != 0) {
        if (pending)
            partner_free_pending(pending);
        return -1;
    }
    pending->partner = partner;
    pending->entry.topic = pending->source.topic;
    pending->entry.partition = pending->source.partition;
    pending->entry.offset = pending->source.offset;
    pending->entry.key_hash =
        pending->source.key ? window_key_hash(pending->source.key, pending->source.key_len) : 0;
    /* Never full here (intake takes only while there is room); were it, the
     * message would be held and taken again, never dropped. */
    if (window_push(partner->window, &pending->entry) != 0) {
        partner_free_pending(pending);
        return -1;
    }
    metrics_dispatch_in(partner->config->id, pending->source.topic);
    pending->first_attempt_ms = now;
    pending->next_attempt_ms = now;
    partner_event_id(message, pending->event_id, sizeof pending->event_id);
    rd_kafka_message_destroy(message);
    if (partner->registry_failures) {
        /* Not each new event asks the registry: one waiting event does. */
        pending->undecoded = 1;
        pending->next_attempt_ms = partner->registry_retry_ms;
    } else {
        partner_prepare(partner, pending, now);
    }
    return 0;
}

/* A message not taken for want of memory: held, tried again in a second
 * (said each time: a line a second while memory lasts out). */
static void partner_hold(struct partner *partner, rd_kafka_message_t *message, int64_t now)
{
    log_error("out of memory partner=%s topic=%s partition=%d offset=%lld: intake waits and "
              "tries the event again in a second",
              partner->config->id, rd_kafka_topic_name(message->rkt), (int)message->partition,
              (long long)message->offset);
    partner->held = message;
    partner->held_until_ms = now + 1000;
}

/* Takes messages from the consumer, at most max_in_flight of them per turn:
 * decoding a whole window at once would leave the partner's answers unread
 * (and its connections idle) for as long. Returns 1 when it stopped at that
 * bound with room left, so more may be waiting. */
static int partner_intake(struct partner *partner, int64_t now)
{
    char drain[64];
    while (read(partner->wake_pipe[0], drain, sizeof drain) > 0)
        ;
    int budget = partner->max_in_flight;
    /* While the circuit is open nothing new is taken: the partitions are
     * paused and the lag grows in Kafka, not in memory. */
    while (window_has_room(partner->window) && partner->breaker.state == BREAKER_CLOSED) {
        if (budget-- == 0)
            return 1;
        if (partner->held && now < partner->held_until_ms)
            return 0; /* nothing is taken before it */
        rd_kafka_message_t *message = partner->held;
        partner->held = NULL;
        if (!message)
            message = consumer_poll(partner->consumer, 0);
        if (!message)
            return 0;
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (partner_take(partner, message, now) != 0) {
                partner_hold(partner, message, now);
                return 0;
            }
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            log_warning("consumer partner=%s error=%s: %s", partner->config->id,
                        rd_kafka_err2name(message->err), rd_kafka_message_errstr(message));
        rd_kafka_message_destroy(message);
    }
    /* Partitions assigned since the circuit opened are paused too. */
    if (partner->breaker.state != BREAKER_CLOSED)
        consumer_pause(partner->consumer, 1);
    return 0;
}

/* ---- attempts ----------------------------------------------------------- */

static void partner_start_attempt(struct partner *partner, struct pending *pending, int64_t now)
{
    char errstr[300];
    pending->attempts++;
    pending->delivery = (struct placehub_delivery){
        .partner_id = partner->config->id,
        .event_id = pending->event_id,
        .event_type = pending->source.topic,
        .body = pending->body,
        .body_len = pending->body_len,
        .attempt = pending->attempts,
    };
    memset(&pending->request, 0, sizeof pending->request);
    memset(&pending->transfer, 0, sizeof pending->transfer);
    if (partner->type->prepare(partner->instance, &pending->delivery, &pending->request, errstr,
                               sizeof errstr) != 0) {
        char reason[320];
        snprintf(reason, sizeof reason, "connector refused the event: %s", errstr);
        partner_final(partner, pending, 0, reason);
        return;
    }
    /* The credentials for this attempt (an OAuth2 token is fetched or
     * refreshed here when due). A token endpoint that fails is a passing
     * failure of the partner's, never the event's. */
    char auth_line[AUTH_HEADER_MAX];
    if (auth_header(partner->auth, auth_line, sizeof auth_line, errstr, sizeof errstr) != 0) {
        if (partner->type->release)
            partner->type->release(partner->instance, &pending->request);
        log_warning("no credentials partner=%s: %s", partner->config->id, errstr);
        partner_circuit(partner, breaker_failure(&partner->breaker, now), "authentication");
        pending->next_attempt_ms = now + partner_backoff(partner, pending->attempts);
        return;
    }
    pending->easy = partner_easy_take(partner);
    if (!pending->easy ||
        transfer_setup(&pending->transfer, pending->easy, &partner->settings, &pending->delivery,
                       &pending->request, auth_line, errstr, sizeof errstr) != 0 ||
        curl_multi_add_handle(partner->multi, pending->easy) != CURLM_OK) {
        /* A set-up failure is ours, not the event's: try again later. */
        log_error("cannot start a transfer partner=%s event_id=%s: %s", partner->config->id,
                  pending->event_id, pending->easy ? errstr : "out of memory");
        transfer_cleanup(&pending->transfer);
        if (partner->type->release)
            partner->type->release(partner->instance, &pending->request);
        if (pending->easy)
            curl_easy_cleanup(pending->easy);
        pending->easy = NULL;
        pending->next_attempt_ms = now + 1000;
        return;
    }
    window_set_state(partner->window, &pending->entry, WINDOW_IN_FLIGHT);
    pending->sent = 1;
    breaker_started(&partner->breaker); /* the probe, when half-open */
}

/* Starts what may start; returns when the next waiting event is due. An
 * event held back by an earlier one of the same person (window.h) is not
 * looked at: it is due when that one is no longer on its way. */
static int64_t partner_start_due(struct partner *partner, int64_t now)
{
    int64_t next_due = now + 1000;
    int decode_tried = 0, held;
    struct window_walk walk;
    struct window_entry *entry;
    window_walk_begin(partner->window, &walk);
    while ((entry = window_walk_next(&walk, &held)) != NULL) {
        struct pending *pending = pending_of(entry);
        if (entry->state != WINDOW_WAITING || held)
            continue;
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

static int64_t partner_backoff(struct partner *partner, int attempts)
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
    struct placehub_response response;
    struct placehub_outcome outcome;
    long retry_after_ms = 0;
    transfer_finish(&pending->transfer, code, &response, &outcome, &retry_after_ms);
    if (partner->type->classify)
        partner->type->classify(partner->instance, &pending->delivery, &response, &outcome);
    if (response.status == 401 && outcome.result == PLACEHUB_REJECTED) {
        /* The hub's credentials were refused, not the event: drop a cached
         * token and retry; wrong credentials open the circuit rather than
         * dead-letter every event. */
        auth_invalidate(partner->auth);
        outcome.result = PLACEHUB_RETRY;
        snprintf(outcome.reason, sizeof outcome.reason, "HTTP 401: credentials refused");
    }
    pending->status = response.status;
    record_redact(response.body, response.body_len, pending->excerpt, sizeof pending->excerpt);
    curl_multi_remove_handle(partner->multi, pending->easy);
    transfer_cleanup(&pending->transfer);
    if (partner->type->release)
        partner->type->release(partner->instance, &pending->request);
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
        log_warning("rejected partner=%s event_id=%s status=%d reason=%.100s", partner->config->id,
                    pending->event_id, pending->status, outcome.reason);
        partner_final(partner, pending, 0, outcome.reason);
        return;
    }
    partner_circuit(partner, breaker_failure(&partner->breaker, now), outcome.reason);
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
        struct transfer *transfer = NULL;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&transfer);
        struct pending *pending =
            (struct pending *)((char *)transfer - offsetof(struct pending, transfer));
        /* The time the answer was seen, not the turn's start: a retry
         * (Retry-After above all) counts from the answer. */
        partner_complete(partner, pending, message->data.result, clock_wall_ms());
        ended++;
    }
    return ended;
}

/* ---- settling ----------------------------------------------------------- */

/* On the producer's thread: a record of pending was acknowledged or failed. */
static void partner_recorded(void *opaque, const struct producer_result *result)
{
    struct pending *pending = opaque;
    /* IMPORTANT: once the count reaches zero the partner thread may free
     * pending: take what is needed from it first. */
    struct partner *partner = pending->partner;
    if (result->err != RD_KAFKA_RESP_ERR_NO_ERROR)
        atomic_store(&pending->record_failed, 1);
    atomic_fetch_sub(&pending->records_outstanding, 1);
    atomic_fetch_add(&partner->records_done, 1);
    curl_multi_wakeup(partner->multi);
}

/* On the partner's thread: a record of pending could not even be produced. */
static void partner_record_lost(struct partner *partner, struct pending *pending)
{
    atomic_store(&pending->record_failed, 1);
    atomic_fetch_sub(&pending->records_outstanding, 1);
    atomic_fetch_add(&partner->records_done, 1);
}

static void partner_write_records(struct partner *partner, struct pending *pending)
{
    const struct config *config = partner->shared->config;
    const struct record_source *source = &pending->source;
    int64_t now = clock_wall_ms();
    atomic_store(&pending->record_failed, 0);
    if (pending->suppressed) {
        struct record_suppression suppression = {
            .partner_id = partner->config->id,
            .event_id = pending->event_id,
            .source = source,
            .agreement_id = pending->agreement ? pending->agreement->id : NULL,
            .reason = pending->suppression,
            .detail = pending->detail,
            .cancels_event_id = pending->cancels_event_id[0] ? pending->cancels_event_id : NULL,
            .at_ms = now,
        };
        size_t record_len = 0;
        char *record = record_suppression(&suppression, &record_len);
        atomic_store(&pending->records_outstanding, 1);
        if (record)
            producer_send_async(partner->shared->producer, config->dispatch.audit_topic,
                                source->key, source->key_len, record, record_len, NULL, 0,
                                partner_recorded, pending);
        else
            partner_record_lost(partner, pending);
        return;
    }
    int64_t timestamp = pending->timestamp_ms;
    struct record_outcome outcome = {
        .partner_id = partner->config->id,
        .event_id = pending->event_id,
        .source = source,
        .result = pending->delivered ? RECORD_DELIVERED : RECORD_DEAD_LETTERED,
        .status = pending->status,
        .attempts = pending->attempts,
        .latency_ms = timestamp > 0 ? now - timestamp : 0,
        .completed_ms = now,
        .reason = pending->delivered ? NULL : pending->reason,
        .response_excerpt = pending->excerpt,
        .agreement_id = pending->agreement ? pending->agreement->id : NULL,
        /* Only what reached the transport counts as disclosed. */
        .fields = pending->sent ? pending->fields : NULL,
        .pseudonymised = pending->sent && pending->pseudonymised,
    };
    size_t receipt_len = 0;
    char *receipt = record_receipt(&outcome, &receipt_len);
    atomic_store(&pending->records_outstanding, pending->delivered ? 1 : 2);
    if (!pending->delivered) {
        /* The dead letter keeps the event's own bytes, to be sent again as is. */
        struct producer_header headers[RECORD_DEAD_LETTER_HEADERS];
        char storage[1024];
        size_t count = record_dead_letter_headers(&outcome, headers, storage, sizeof storage);
        void *copy =
            pending->payload ? malloc(pending->payload_len ? pending->payload_len : 1) : NULL;
        if (copy && pending->payload_len)
            memcpy(copy, pending->payload, pending->payload_len);
        if (copy)
            producer_send_async(partner->shared->producer, config->dispatch.dead_letter_topic,
                                source->key, source->key_len, copy, pending->payload_len, headers,
                                count, partner_recorded, pending);
        else
            partner_record_lost(partner, pending);
    }
    if (receipt)
        producer_send_async(partner->shared->producer, config->dispatch.audit_topic, source->key,
                            source->key_len, receipt, receipt_len, NULL, 0, partner_recorded,
                            pending);
    else
        partner_record_lost(partner, pending);
}

static void partner_final(struct partner *partner, struct pending *pending, int delivered,
                          const char *reason)
{
    pending->delivered = delivered;
    snprintf(pending->reason, sizeof pending->reason, "%s", reason ? reason : "");
    window_set_state(partner->window, &pending->entry, WINDOW_RECORDING);
    metrics_dispatch_out(partner->config->id, pending->source.topic, delivered,
                         pending->timestamp_ms ? clock_wall_ms() - pending->timestamp_ms : 0);
    if (delivered)
        log_debug("delivered partner=%s event_id=%s attempts=%d", partner->config->id,
                  pending->event_id, pending->attempts);
    else
        log_warning("dead-lettered partner=%s event_id=%s attempts=%d reason=%.120s",
                    partner->config->id, pending->event_id, pending->attempts, pending->reason);
    /* Final: the body is not sent again. A delivered event's bytes are not
     * needed either (only a dead letter carries them). */
    free(pending->body);
    pending->body = NULL;
    if (delivered) {
        free(pending->payload);
        pending->payload = NULL;
    }
    partner_write_records(partner, pending);
}

/* The agreements keep pending from the partner: final at once, and, like a
 * delivery, its offset is stored only after its record is acknowledged. */
static void partner_suppress(struct partner *partner, struct pending *pending)
{
    window_set_state(partner->window, &pending->entry, WINDOW_RECORDING);
    log_debug("suppressed partner=%s event_id=%s reason=%s agreement=%s", partner->config->id,
              pending->event_id, pending->suppression,
              pending->agreement ? pending->agreement->id : "none");
    partner_write_records(partner, pending);
}

/* Marks recorded events settled (re-producing failed records), then stores
 * the offsets of settled runs at the head of each partition (window.h) and
 * frees them. Returns how many it freed. */
static size_t partner_settle(struct partner *partner)
{
    /* Nothing was acknowledged since the last look: nothing can settle. */
    unsigned done = atomic_load(&partner->records_done);
    if (done == partner->records_settled)
        return 0;
    partner->records_settled = done;
    for (struct window_entry *entry = window_head(partner->window); entry; entry = entry->next) {
        struct pending *pending = pending_of(entry);
        if (entry->state == WINDOW_RECORDING && atomic_load(&pending->records_outstanding) == 0) {
            if (atomic_load(&pending->record_failed)) {
                log_warning("receipt or dead letter not acknowledged partner=%s event_id=%s: "
                            "writing again",
                            partner->config->id, pending->event_id);
                partner_write_records(partner, pending);
            } else {
                window_set_state(partner->window, entry, WINDOW_SETTLED);
            }
        }
    }
    size_t freed = 0, offset_count = 0;
    struct window_entry *taken = window_settle(partner->window, &freed);
    const struct window_offset *offsets = window_offsets(partner->window, &offset_count);
    for (size_t i = 0; i < offset_count; i++) {
        char errstr[128];
        if (consumer_store(partner->consumer, offsets[i].topic, offsets[i].partition,
                           offsets[i].offset, errstr, sizeof errstr) != 0)
            /* A partition was taken away by a rebalance: its new owner
             * delivers those events again (same event ids). */
            log_warning("offsets not stored partner=%s error=%s", partner->config->id, errstr);
    }
    /* Freed only now: the offsets name the entries' topics. */
    while (taken) {
        struct window_entry *next = taken->next;
        partner_free_pending(pending_of(taken));
        taken = next;
    }
    return freed;
}

/* ---- the thread --------------------------------------------------------- */

static void *partner_run(void *arg)
{
    struct partner *partner = arg;
    struct curl_waitfd wait = {.fd = partner->wake_pipe[0], .events = CURL_WAIT_POLLIN};
    while (!atomic_load(partner->shared->stopping)) {
        int64_t now = clock_wall_ms();
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

/* Reads the partner's pseudonym key (all its agreements name the same one,
 * config.c sees to that) and warns about topics no agreement covers. */
static int partner_governance_load(struct partner *partner, char *errstr, size_t errstr_size)
{
    const struct config_partner *config = partner->config;
    if (agreement_load_key(partner->shared->config, config, partner->pseudonym_key,
                           sizeof partner->pseudonym_key - 1, &partner->pseudonym_key_len, errstr,
                           errstr_size) != 0)
        return -1;
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
    return 0;
}

const unsigned char *partner_pseudonym_key(const struct partner *partner, size_t *len)
{
    *len = partner->pseudonym_key_len;
    return partner->pseudonym_key_len ? partner->pseudonym_key : NULL;
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
    if (!partner->window || !partner->idle) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

/* The connector instance, with the partner's transfer settings and
 * credentials. */
static int partner_connector(struct partner *partner, char *errstr, size_t errstr_size)
{
    const struct config *hub = partner->shared->config;
    const struct config_partner *config = partner->config;
    char message[512];
    partner->type = connector_find(config->connector, message, sizeof message);
    if (!partner->type) {
        snprintf(errstr, errstr_size, "%s:%d: partner %s: %s", hub->path, config->line, config->id,
                 message);
        return -1;
    }
    if (transfer_settings_load(config->id, &partner->options, &partner->settings, errstr,
                               errstr_size) != 0 ||
        auth_new(config->id, &partner->options, &partner->auth, errstr, errstr_size) != 0 ||
        partner->type->create(connector_host(), config->id, &partner->options, &partner->instance,
                              errstr, errstr_size) != 0)
        return -1;
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
    partner->options.opaque = config;
    partner->options.get = partner_option;
    snprintf(group, sizeof group, "%s.%s", hub->dispatch.group_prefix, config->id);
    if (partner_limits(partner, errstr, errstr_size) != 0 ||
        partner_connector(partner, errstr, errstr_size) != 0 ||
        partner_governance_load(partner, errstr, errstr_size) != 0 ||
        partner_transfers(partner, errstr, errstr_size) != 0 ||
        partner_consumer(partner, group, errstr, errstr_size) != 0) {
        partner_destroy(partner);
        return -1;
    }
    metrics_dispatch_circuit(config->id, METRICS_CIRCUIT_CLOSED);
    log_info("partner ready partner=%s group=%s connector=%s topics=%zu max_in_flight=%d",
             config->id, group, partner->type->name, config->topic_count, partner->max_in_flight);
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
            transfer_cleanup(&pending->transfer);
            if (partner->type->release)
                partner->type->release(partner->instance, &pending->request);
            curl_easy_cleanup(pending->easy);
        }
        partner_free_pending(pending);
    }
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
    if (partner->instance)
        partner->type->destroy(partner->instance);
    transfer_settings_free(&partner->settings);
    auth_destroy(partner->auth);
    explicit_bzero(partner->pseudonym_key, sizeof partner->pseudonym_key);
    window_destroy(partner->window);
    free(partner);
}
