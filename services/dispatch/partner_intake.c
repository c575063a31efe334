/*
 * partner_intake.c - a partner engine's intake (see partner.c): messages
 * taken from the consumer into the window, decoded, and judged by the
 * partner's agreements. An event that cannot be taken for want of memory is
 * held and taken again before anything after it: skipping it would lose it
 * once a later offset of its partition is stored.
 */
#include <jansson.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "net/metrics.h"
#include "governance/correction.h"
#include "governance/ledger.h"
#include "governance/objection.h"
#include "kafka/consumer.h"
#include "partner_internal.h"
#include "schema/codec.h"
#include "schema/framing.h"
#include "schema/registry.h"
/* ---- intake ------------------------------------------------------------- */

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
/* The objection register's judgement of an event an agreement would let
 * through: 1 when the person's standing objection applies to this partner
 * and agreement (pending->objection says which). A cancellation or
 * correction is not judged by it: it carries no more than is needed to undo
 * what was already sent, and withholding it would leave a wrong record live
 * at a partner that had the original (docs/governance.md). With the ledger
 * it never reaches here (partner_follow decides). */
static int partner_objected(struct partner *partner, struct pending *pending,
                            const struct config_agreement *agreement)
{
    struct objection_register *objections = partner->shared->objections;
    if (!objections || !pending->source.key || !pending->source.key_len ||
        pending->correction != CORRECTION_NONE)
        return 0;
    return objection_register_judge(objections, pending->source.key, pending->source.key_len,
                                    partner->config->id, agreement->direct_care, pending->objection,
                                    sizeof pending->objection);
}

/* Keeps what decision lets go as pending's body and clears decision.
 * Returns 0, or -1 when out of memory. */
static int partner_disclose(struct pending *pending, struct agreement_decision *decision)
{
    pending->body = json_dumps(decision->event, JSON_COMPACT);
    pending->body_len = pending->body ? strlen(pending->body) : 0;
    pending->fields = decision->fields ? json_dumps(decision->fields, JSON_COMPACT) : NULL;
    int complete = pending->body && (pending->fields || !decision->fields);
    pending->pseudonymised = decision->pseudonymised;
    agreement_decision_clear(decision);
    return complete ? 0 : -1;
}

static int partner_govern(struct partner *partner, struct pending *pending, const json_t *event)
{
    struct agreement_decision decision;
    if (delivery_partner_decide(partner->delivery, pending->source.topic, event, &decision) != 0)
        return -1;
    pending->agreement = decision.agreement;
    if (decision.agreement) {
        snprintf(pending->agreement_id, sizeof pending->agreement_id, "%s", decision.agreement->id);
        snprintf(pending->agreement_version, sizeof pending->agreement_version, "%s",
                 partner->agreement_versions[decision.agreement - partner->config->agreements]);
    }
    if (!decision.reason && partner_objected(partner, pending, decision.agreement)) {
        agreement_decision_clear(&decision);
        pending->suppressed = 1;
        pending->suppression = pending->objection;
        snprintf(pending->detail, sizeof pending->detail,
                 "an objection in the hub's register applies to this agreement (%s)",
                 pending->agreement->direct_care ? "direct care" : "not direct care");
        return 0;
    }
    if (decision.reason) {
        pending->suppressed = 1;
        pending->suppression = decision.reason;
        snprintf(pending->detail, sizeof pending->detail, "%s", decision.detail);
        agreement_decision_clear(&decision);
        return 0;
    }
    return partner_disclose(pending, &decision);
}

/* IMPORTANT: a cancellation or correction is judged by the ledger only once
 * the ledger holds every record of the original: it waits while an earlier
 * event of the same person is not settled (its receipt not yet
 * acknowledged), then until the ledger's feed has caught up past that
 * moment. Returns 1 while it waits (looked at again in 20 ms). */
static int partner_correction_waits(struct partner *partner, struct pending *pending, int64_t now)
{
    struct ledger *ledger = partner->shared->ledger;
    if (!pending->ledger_asked_ms) {
        if (window_earlier_unsettled(partner->window, &pending->entry))
            goto wait;
        pending->ledger_asked_ms = clock_wall_ms();
    }
    if (ledger_current_ms(ledger) >= pending->ledger_asked_ms)
        return 0;
wait:
    if (!pending->undecoded)
        log_debug("correction waits for the disclosure ledger partner=%s event_id=%s",
                  partner->config->id, pending->event_id);
    pending->undecoded = 1;
    pending->next_attempt_ms = now + 20;
    return 1;
}

/* A cancellation or correction follows the ledger, not today's agreements
 * or objections: to this partner only if it received the original, cut to
 * what it was sent then, named under the agreement it went out under
 * (docs/governance.md, "Corrections follow disclosures"). Returns 0, 1
 * when the ledger could not be read (it waits and asks again), or -1 when
 * out of memory. */
static int partner_follow(struct partner *partner, struct pending *pending, const json_t *event,
                          int64_t now)
{
    char errstr[512];
    struct ledger_disclosure disclosure;
    /* The original was about the same person: the same key (no key: no
     * person, nothing to find). */
    int found = pending->source.key ? ledger_disclosed(partner->shared->ledger, pending->source.key,
                                                       pending->source.key_len, partner->config->id,
                                                       pending->original_event_id, &disclosure,
                                                       errstr, sizeof errstr)
                                    : 0;
    if (found < 0) {
        log_warning("correction waits partner=%s event_id=%s: %s", partner->config->id,
                    pending->event_id, errstr);
        pending->undecoded = 1;
        pending->next_attempt_ms = now + 1000;
        return 1;
    }
    const char *kind = correction_kind_name(pending->correction);
    if (!found) {
        pending->suppressed = 1;
        pending->suppression = CORRECTION_NOT_DISCLOSED;
        snprintf(pending->detail, sizeof pending->detail,
                 "a %s goes only where the original went; the disclosure ledger has no "
                 "delivery of the original to this partner",
                 kind);
        return 0;
    }
    snprintf(pending->agreement_id, sizeof pending->agreement_id, "%s", disclosure.agreement);
    snprintf(pending->agreement_version, sizeof pending->agreement_version, "%s",
             disclosure.agreement_version);
    size_t key_len = 0;
    const unsigned char *key = delivery_partner_pseudonym_key(partner->delivery, &key_len);
    struct agreement_decision decision;
    int cut = correction_cut(pending->correction, event, disclosure.fields, key_len ? key : NULL,
                             key_len, &decision);
    free(disclosure.fields);
    log_debug("%s follows the ledger partner=%s event_id=%s agreement=%s", kind,
              partner->config->id, pending->event_id, pending->agreement_id);
    return cut == 0 ? partner_disclose(pending, &decision) : -1;
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

void partner_free_pending(struct pending *pending)
{
    free(pending->key);
    free(pending->topic_copy);
    free(pending->payload);
    free(pending->body);
    free(pending->fields);
    free(pending);
}

/* Decodes pending's bytes and applies the agreements: the event is then
 * ready to send, suppressed (final, a suppression record), or unreadable
 * (final, dead-lettered). When the schema registry does not answer, the
 * event stays waiting, undecoded, and is tried again after a backoff: a
 * registry outage is not the event's fault, and dead-lettering would keep it
 * from the partner. Events after it of the same person wait behind it, and
 * its partition's offset is not stored past it. */
/* IMPORTANT: an objection recorded before an event's intake is honoured
 * for that event, however far behind dispatch is: the event waits (like
 * one whose schema the registry did not give) until the register is known
 * complete up to the event's Kafka timestamp. Returns 1 when it waits. */
static int partner_register_behind(struct partner *partner, struct pending *pending, int64_t now)
{
    if (!partner->shared->objections)
        return 0;
    int64_t intake = pending->timestamp_ms ? pending->timestamp_ms : pending->first_attempt_ms;
    int64_t current = objection_register_current_ms(partner->shared->objections);
    if (current >= intake)
        return 0;
    if (!pending->undecoded)
        log_debug("event waits for the objection register partner=%s event_id=%s behind_ms=%lld",
                  partner->config->id, pending->event_id, (long long)(intake - current));
    pending->undecoded = 1;
    pending->next_attempt_ms = now + 20;
    return 1;
}

void partner_prepare(struct partner *partner, struct pending *pending, int64_t now)
{
    char errstr[512];
    int unavailable;
    if (partner_register_behind(partner, pending, now))
        return;
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
    const char *original = NULL;
    enum correction_kind correction = event ? correction_of(event, &original) : CORRECTION_NONE;
    if (correction != CORRECTION_NONE) {
        pending->correction = correction;
        snprintf(pending->original_event_id, sizeof pending->original_event_id, "%.36s", original);
        if (partner->shared->ledger && partner_correction_waits(partner, pending, now)) {
            json_decref(event);
            return;
        }
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
    int governed = -1;
    if (readable && correction != CORRECTION_NONE && partner->shared->ledger)
        governed = partner_follow(partner, pending, event, now);
    else if (readable)
        governed = partner_govern(partner, pending, event);
    json_decref(event);
    if (governed == 1)
        return; /* the ledger could not be read: it waits */
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
int partner_intake(struct partner *partner, int64_t now)
{
    char drain[64];
    while (read(partner->wake_pipe[0], drain, sizeof drain) > 0)
        ;
    int budget = partner->max_in_flight;
    /* While the circuit is open, or an operator paused the partner, nothing
     * new is taken: the partitions are paused and the lag grows in Kafka,
     * not in memory. */
    while (window_has_room(partner->window) && partner->breaker.state == BREAKER_CLOSED &&
           !partner->paused) {
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
    /* Partitions assigned since the circuit opened (or the pause) are paused too. */
    if (partner->breaker.state != BREAKER_CLOSED || partner->paused)
        consumer_pause(partner->consumer, 1);
    return 0;
}
