/*
 * redeliver.c - placehub-ctl sends an event again to ONE partner, itself,
 * through the delivery host dispatch uses (lib/delivery/delivery.h: the
 * same connector set-up, credentials and judgement of the answer), one
 * request at a time, and writes its records through the same writer
 * (lib/delivery/record.h).
 *
 * Why not through dispatch: a dispatch partner engine is one consumer
 * group over the event topics; sending an old event again through it would
 * mean moving that group's offsets (which also re-sends everything after
 * it) or a side topic that every engine must learn about. Delivering from
 * here moves no consumer group at all, so no partner's progress changes,
 * the chosen partner's included.
 *
 * At-least-once: a dead letter stays on the dead-letter topic until a
 * delivery succeeded and its receipt was acknowledged by the broker; only
 * then is the "redriven" marker written. A crash in between sends it again
 * next time (same event id, the partner deduplicates on it).
 *
 * IMPORTANT: the partner's data-sharing agreements apply here exactly as
 * in dispatch (lib/governance/agreement.c): the event is cut to what the agreement
 * allows (with the partner's pseudonym) before the connector sees it, the
 * receipt names the agreement and the fields disclosed, and an event the
 * agreements now refuse is not sent: a suppression record says why.
 */
#include <curl/curl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "ctl.h"
#include "delivery/delivery.h"
#include "delivery/record.h"
#include "governance/agreement.h"
#include "kafka/producer.h"

struct redeliver {
    const struct config *config;
    char actor[65]; /* who asked: --actor, else the login name; "" unknown */
    struct delivery_partner *partner;
    struct producer *producer;
    CURL *easy;
};

struct redeliver *redeliver_new(const struct config *config, const char *partner_id, char *errstr,
                                size_t errstr_size)
{
    struct redeliver *redeliver = calloc(1, sizeof *redeliver);
    if (!redeliver) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    redeliver->config = config;
    struct passwd *user = getpwuid(getuid());
    snprintf(redeliver->actor, sizeof redeliver->actor, "%s", user ? user->pw_name : "");
    const struct config_partner *partner = config_partner_find(config, partner_id);
    if (!partner) {
        snprintf(errstr, errstr_size, "no partner %s in %s", partner_id, config->path);
        goto fail;
    }
    if (delivery_partner_new(config, partner, &redeliver->partner, errstr, errstr_size) != 0)
        goto fail;
    redeliver->easy = curl_easy_init();
    if (!redeliver->easy) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (producer_new(config, "placehub-ctl", 30000, PRODUCER_LINGER_ACK_MS, &redeliver->producer,
                     errstr, errstr_size) != 0)
        goto fail;
    return redeliver;
fail:
    redeliver_destroy(redeliver);
    return NULL;
}

void redeliver_set_actor(struct redeliver *redeliver, const char *actor)
{
    snprintf(redeliver->actor, sizeof redeliver->actor, "%s", actor);
}

struct producer *redeliver_producer(struct redeliver *redeliver)
{
    return redeliver->producer;
}

void redeliver_destroy(struct redeliver *redeliver)
{
    if (!redeliver)
        return;
    producer_destroy(redeliver->producer);
    if (redeliver->easy)
        curl_easy_cleanup(redeliver->easy);
    delivery_partner_destroy(redeliver->partner);
    free(redeliver);
}

/* Writes a record (text, taken over) to the audit topic with the event's
 * person key; 0 once the broker acknowledged it. */
static int redeliver_record(struct redeliver *redeliver, const struct redeliver_source *source,
                            char *text, size_t len, char *reason, size_t reason_size)
{
    struct producer_result produced;
    int rc = text ? producer_send(redeliver->producer, redeliver->config->dispatch.audit_topic,
                                  source->key, source->key_len, text, len, NULL, 0, &produced)
                  : -1;
    if (rc != 0)
        snprintf(reason, reason_size, "the audit record was not written to %s",
                 redeliver->config->dispatch.audit_topic);
    return rc;
}

/* The agreements refuse the event now: a suppression record, nothing sent. */
static int redeliver_suppressed(struct redeliver *redeliver, const struct redeliver_source *source,
                                const char *event_id, const struct agreement_decision *decision,
                                const char *via, char *reason, size_t reason_size)
{
    struct record_source where = {source->topic, source->partition, source->offset, source->key,
                                  source->key_len};
    struct record_suppression suppression = {
        .partner_id = delivery_partner_id(redeliver->partner),
        .event_id = event_id,
        .source = &where,
        .agreement_id = decision->agreement ? decision->agreement->id : NULL,
        .reason = decision->reason,
        .detail = decision->detail,
        .at_ms = clock_wall_ms(),
        .via = via,
        .actor = redeliver->actor[0] ? redeliver->actor : NULL,
    };
    size_t len = 0;
    char *text = record_suppression(&suppression, &len);
    snprintf(reason, reason_size, "not sent: the partner's agreements refuse it (%s: %s)",
             decision->reason, decision->detail);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", reason);
    if (redeliver_record(redeliver, source, text, len, reason, reason_size) != 0)
        return -1;
    snprintf(reason, reason_size, "%s", keep);
    return 0;
}

/* Up to attempts tries of delivery, with backoff (and the partner's
 * Retry-After, up to 30 s) between passing failures. */
static void redeliver_attempts(struct redeliver *redeliver, struct placehub_delivery *delivery,
                               int attempts, struct delivery_verdict *verdict)
{
    long delay_ms = 500;
    memset(verdict, 0, sizeof *verdict);
    verdict->result = PLACEHUB_RETRY;
    for (int attempt = 1; attempt <= attempts; attempt++) {
        delivery->attempt = attempt;
        delivery_attempt_perform(redeliver->partner, delivery, redeliver->easy, verdict);
        if (verdict->result != PLACEHUB_RETRY || attempt == attempts)
            break;
        long wait_ms = verdict->retry_after_ms > delay_ms ? verdict->retry_after_ms : delay_ms;
        if (wait_ms > 30000)
            wait_ms = 30000;
        struct timespec pause = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        nanosleep(&pause, NULL);
        delay_ms *= 2;
    }
}

/* The dead letter a redrive's receipt names, from dlq.c's extra object. */
static int redeliver_dead_letter(const json_t *extra, struct record_dead_letter *dead_letter)
{
    const json_t *place = json_object_get(extra, "dead_letter");
    if (!json_is_object(place))
        return 0;
    dead_letter->topic = json_string_value(json_object_get(place, "topic"));
    dead_letter->partition = (int32_t)json_integer_value(json_object_get(place, "partition"));
    dead_letter->offset = (int64_t)json_integer_value(json_object_get(place, "offset"));
    return dead_letter->topic != NULL;
}

int redeliver_send(struct redeliver *redeliver, const struct redeliver_source *source,
                   const char *event_type, const char *event_id, const char *body, const char *via,
                   json_t *extra, int attempts, char *reason, size_t reason_size)
{
    /* The partner's agreements, as dispatch applies them: what may go, cut
     * to what the agreement allows, or nothing and a suppression record. */
    struct agreement_decision decision;
    json_t *event = json_loads(body, 0, NULL);
    if (!event || delivery_partner_decide(redeliver->partner, event_type, event, &decision) != 0) {
        json_decref(event);
        snprintf(reason, reason_size, "the event could not be read or judged");
        return -1;
    }
    json_decref(event);
    if (decision.reason) {
        int rc =
            redeliver_suppressed(redeliver, source, event_id, &decision, via, reason, reason_size);
        agreement_decision_clear(&decision);
        return rc;
    }
    char *disclosed = json_dumps(decision.event, JSON_COMPACT);
    char *fields = json_dumps(decision.fields, JSON_COMPACT);
    if (!disclosed || !fields) {
        free(disclosed);
        free(fields);
        agreement_decision_clear(&decision);
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    struct placehub_delivery delivery = {
        .partner_id = delivery_partner_id(redeliver->partner),
        .event_id = event_id,
        .event_type = event_type,
        .body = disclosed,
        .body_len = strlen(disclosed),
    };
    int64_t began = clock_wall_ms();
    struct delivery_verdict verdict;
    redeliver_attempts(redeliver, &delivery, attempts, &verdict);
    free(disclosed);
    int delivered = verdict.result == PLACEHUB_DELIVERED;
    snprintf(reason, reason_size, "%s", verdict.reason);

    int64_t now = clock_wall_ms();
    struct record_source where = {source->topic, source->partition, source->offset, source->key,
                                  source->key_len};
    struct record_dead_letter dead_letter;
    char version[24];
    agreement_version(decision.agreement, version, sizeof version);
    struct record_outcome outcome = {
        .partner_id = delivery_partner_id(redeliver->partner),
        .event_id = event_id,
        .source = &where,
        .result = delivered ? RECORD_DELIVERED : RECORD_FAILED,
        .status = verdict.status,
        .attempts = delivery.attempt,
        .latency_ms = now - began,
        .completed_ms = now,
        .reason = delivered ? NULL : verdict.reason,
        .response_excerpt = verdict.excerpt,
        .partner_reference = verdict.reference,
        .agreement_id = decision.agreement->id,
        .agreement_version = version,
        /* Only what was delivered counts as disclosed here: a failed
         * redelivery is recorded with no fields. */
        .fields = delivered ? fields : NULL,
        .pseudonymised = decision.pseudonymised,
        .via = via,
        .actor = redeliver->actor[0] ? redeliver->actor : NULL,
        .dead_letter = redeliver_dead_letter(extra, &dead_letter) ? &dead_letter : NULL,
    };
    size_t len = 0;
    char *receipt = record_receipt(&outcome, &len);
    free(fields);
    agreement_decision_clear(&decision);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", reason);
    if (redeliver_record(redeliver, source, receipt, len, reason, reason_size) != 0)
        return -1;
    snprintf(reason, reason_size, "%s", keep);
    return delivered;
}
