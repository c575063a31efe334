/*
 * redeliver.c - placehub-ctl sends an event again to ONE partner, itself,
 * through that partner's connector, transport settings and credentials
 * (the same lib/connector + lib/transfer + lib/auth that dispatch uses),
 * one request at a time.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "governance/agreement.h"
#include "delivery/auth.h"
#include "schema/codec.h"
#include "delivery/connector.h"
#include "ctl.h"
#include "kafka/producer.h"
#include "delivery/transfer.h"

struct redeliver {
    const struct config *config;
    const struct config_partner *partner;
    const struct placehub_connector_type *type;
    void *instance;
    struct placehub_options options;
    struct transfer_settings settings;
    struct auth *auth;
    struct producer *producer;
    CURL *easy;
    unsigned char pseudonym_key[512]; /* when an agreement names one; wiped on destroy */
    size_t pseudonym_key_len;
};

static const char *redeliver_option(const struct placehub_options *options, const char *key)
{
    return config_partner_option(options->opaque, key);
}

static int64_t redeliver_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

struct redeliver *redeliver_new(const struct config *config, const char *partner_id, char *errstr,
                                size_t errstr_size)
{
    struct redeliver *redeliver = calloc(1, sizeof *redeliver);
    if (!redeliver) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    redeliver->config = config;
    redeliver->partner = config_partner_find(config, partner_id);
    if (!redeliver->partner) {
        snprintf(errstr, errstr_size, "no partner %s in %s", partner_id, config->path);
        goto fail;
    }
    if (!redeliver->partner->connector) {
        snprintf(errstr, errstr_size,
                 "partner %s only publishes (it has no connector): nothing is delivered to it",
                 partner_id);
        goto fail;
    }
    if (agreement_load_key(config, redeliver->partner, redeliver->pseudonym_key,
                           sizeof redeliver->pseudonym_key, &redeliver->pseudonym_key_len, errstr,
                           errstr_size) != 0)
        goto fail;
    redeliver->options.opaque = redeliver->partner;
    redeliver->options.get = redeliver_option;
    char message[512];
    redeliver->type = connector_find(redeliver->partner->connector, message, sizeof message);
    if (!redeliver->type) {
        snprintf(errstr, errstr_size, "partner %s: %s", partner_id, message);
        goto fail;
    }
    if (transfer_settings_load(partner_id, &redeliver->options, &redeliver->settings, errstr,
                               errstr_size) != 0 ||
        auth_new(partner_id, &redeliver->options, &redeliver->auth, errstr, errstr_size) != 0 ||
        redeliver->type->create(connector_host(), partner_id, &redeliver->options,
                                &redeliver->instance, errstr, errstr_size) != 0)
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
    if (redeliver->instance)
        redeliver->type->destroy(redeliver->instance);
    auth_destroy(redeliver->auth);
    transfer_settings_free(&redeliver->settings);
    explicit_bzero(redeliver->pseudonym_key, sizeof redeliver->pseudonym_key);
    free(redeliver);
}

/* One attempt. Returns the connector's judgement, reason and status filled. */
static enum placehub_result redeliver_attempt(struct redeliver *redeliver,
                                              const struct placehub_delivery *delivery, int *status,
                                              long *retry_after_ms, char *reason,
                                              size_t reason_size)
{
    struct placehub_request request;
    struct transfer transfer;
    char errstr[300], auth_line[AUTH_HEADER_MAX];
    memset(&request, 0, sizeof request);
    memset(&transfer, 0, sizeof transfer);
    *status = 0;
    *retry_after_ms = 0;
    if (redeliver->type->prepare(redeliver->instance, delivery, &request, errstr, sizeof errstr) !=
        0) {
        snprintf(reason, reason_size, "connector refused the event: %s", errstr);
        return PLACEHUB_REJECTED;
    }
    enum placehub_result result = PLACEHUB_RETRY;
    if (auth_header(redeliver->auth, auth_line, sizeof auth_line, errstr, sizeof errstr) != 0) {
        snprintf(reason, reason_size, "no credentials: %s", errstr);
        goto out;
    }
    if (transfer_setup(&transfer, redeliver->easy, &redeliver->settings, delivery, &request,
                       auth_line, errstr, sizeof errstr) != 0) {
        snprintf(reason, reason_size, "cannot set the request up: %s", errstr);
        goto out;
    }
    CURLcode code = curl_easy_perform(redeliver->easy);
    struct placehub_response response;
    struct placehub_outcome outcome;
    transfer_finish(&transfer, code, &response, &outcome, retry_after_ms);
    if (redeliver->type->classify)
        redeliver->type->classify(redeliver->instance, delivery, &response, &outcome);
    if (response.status == 401 && outcome.result == PLACEHUB_REJECTED) {
        auth_invalidate(redeliver->auth);
        outcome.result = PLACEHUB_RETRY;
        snprintf(outcome.reason, sizeof outcome.reason, "HTTP 401: credentials refused");
    }
    *status = response.status;
    result = outcome.result;
    snprintf(reason, reason_size, "%s", outcome.reason);
out:
    transfer_cleanup(&transfer);
    if (redeliver->type->release)
        redeliver->type->release(redeliver->instance, &request);
    return result;
}

/* Writes a record to the audit topic with the event's person key; 0 once
 * the broker acknowledged it. Takes record over. */
static int redeliver_record(struct redeliver *redeliver, const struct redeliver_source *source,
                            json_t *record, char *reason, size_t reason_size)
{
    char *text = json_dumps(record, JSON_COMPACT);
    json_decref(record);
    struct producer_result produced;
    if (!text ||
        producer_send(redeliver->producer, redeliver->config->dispatch.audit_topic, source->key,
                      source->key_len, text, strlen(text), NULL, 0, &produced) != 0) {
        snprintf(reason, reason_size, "the audit record was not written to %s",
                 redeliver->config->dispatch.audit_topic);
        return -1;
    }
    return 0;
}

int redeliver_send(struct redeliver *redeliver, const struct redeliver_source *source,
                   const char *event_type, const char *event_id, const char *body, const char *via,
                   json_t *extra, int attempts, char *reason, size_t reason_size)
{
    char person_ref[128];
    snprintf(person_ref, sizeof person_ref, "%.*s",
             (int)(source->key_len < 127 ? source->key_len : 127),
             source->key ? (const char *)source->key : "");
    /* The partner's agreements, as dispatch applies them: what may go, cut
     * to what the agreement allows, or nothing and a suppression record. */
    struct agreement_decision decision;
    json_t *event = json_loads(body, 0, NULL);
    if (!event || agreement_decide(redeliver->partner, event_type,
                                   redeliver->pseudonym_key_len ? redeliver->pseudonym_key : NULL,
                                   redeliver->pseudonym_key_len, event, &decision) != 0) {
        json_decref(event);
        snprintf(reason, reason_size, "the event could not be read or judged");
        return -1;
    }
    json_decref(event);
    if (decision.reason) {
        char at[48];
        codec_timestamp_format(redeliver_now(), at, sizeof at);
        json_t *record =
            json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:s,s:s?,s:s,s:s,s:s,s:s}", "record",
                      "suppression", "partner", redeliver->partner->id, "event_id", event_id,
                      "event_type", event_type, "source", "topic", source->topic, "partition",
                      (int)source->partition, "offset", (json_int_t)source->offset, "person_ref",
                      person_ref, "agreement", decision.agreement ? decision.agreement->id : NULL,
                      "reason", decision.reason, "detail", decision.detail, "at", at, "via", via);
        snprintf(reason, reason_size, "not sent: the partner's agreements refuse it (%s: %s)",
                 decision.reason, decision.detail);
        agreement_decision_clear(&decision);
        if (!record) {
            snprintf(reason, reason_size, "out of memory");
            return -1;
        }
        return redeliver_record(redeliver, source, record, reason, reason_size) == 0 ? 0 : -1;
    }
    char *disclosed = json_dumps(decision.event, JSON_COMPACT);
    if (!disclosed) {
        agreement_decision_clear(&decision);
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    struct placehub_delivery delivery = {
        .partner_id = redeliver->partner->id,
        .event_id = event_id,
        .event_type = event_type,
        .body = disclosed,
        .body_len = strlen(disclosed),
    };
    int64_t began = redeliver_now();
    int status = 0, attempt = 0;
    enum placehub_result result = PLACEHUB_RETRY;
    long delay_ms = 500;
    reason[0] = '\0';
    while (attempt < attempts) {
        delivery.attempt = ++attempt;
        long retry_after_ms = 0;
        result =
            redeliver_attempt(redeliver, &delivery, &status, &retry_after_ms, reason, reason_size);
        if (result != PLACEHUB_RETRY || attempt == attempts)
            break;
        long wait_ms = retry_after_ms > delay_ms ? retry_after_ms : delay_ms;
        if (wait_ms > 30000)
            wait_ms = 30000;
        struct timespec pause = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
        nanosleep(&pause, NULL);
        delay_ms *= 2;
    }
    free(disclosed);
    int delivered = result == PLACEHUB_DELIVERED;
    int64_t now = redeliver_now();
    char completed[48];
    codec_timestamp_format(now, completed, sizeof completed);
    json_t *receipt =
        json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:i,s:I},s:s,s:i,s:i,s:I,s:s,s:s}", "record", "delivery",
                  "partner", redeliver->partner->id, "event_id", event_id, "event_type", event_type,
                  "source", "topic", source->topic, "partition", (int)source->partition, "offset",
                  (json_int_t)source->offset, "outcome", delivered ? "delivered" : "failed",
                  "status", status, "attempts", attempt, "latency_ms", (json_int_t)(now - began),
                  "completed_at", completed, "via", via);
    if (!receipt) {
        agreement_decision_clear(&decision);
        snprintf(reason, reason_size, "out of memory");
        return -1;
    }
    if (!delivered)
        json_object_set_new(receipt, "reason", json_string(reason));
    json_object_set_new(receipt, "agreement", json_string(decision.agreement->id));
    json_object_set_new(receipt, "fields", delivered ? json_incref(decision.fields) : json_array());
    json_object_set_new(receipt, "pseudonymised", json_boolean(decision.pseudonymised));
    json_object_set_new(receipt, "person_ref", json_string(person_ref));
    agreement_decision_clear(&decision);
    if (extra)
        json_object_update(receipt, extra);
    char keep[512];
    snprintf(keep, sizeof keep, "%s", reason);
    if (redeliver_record(redeliver, source, receipt, reason, reason_size) != 0)
        return -1;
    snprintf(reason, reason_size, "%s", keep);
    return delivered;
}
