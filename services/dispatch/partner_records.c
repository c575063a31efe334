/*
 * partner_records.c - a partner engine's final outcomes (see partner.c):
 * each delivered, dead-lettered or suppressed event gets its records
 * (lib/delivery/record.h) without waiting; once the broker acknowledged
 * them the event is settled, and the offsets of settled runs are stored.
 *
 * IMPORTANT: an offset is stored only after the event's receipt (and dead
 * letter) was acknowledged: a crash in between delivers it again, never
 * loses it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "net/metrics.h"
#include "partner_internal.h"
#include "kafka/consumer.h"
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

/* The earlier event pending cancels or corrects, when it is of kind. */
static const char *partner_original(const struct pending *pending, enum correction_kind kind)
{
    return pending->correction == kind && pending->original_event_id[0] ? pending->original_event_id
                                                                        : NULL;
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
            .cancels_event_id = partner_original(pending, CORRECTION_CANCELLATION),
            .supersedes_event_id = partner_original(pending, CORRECTION_REPLACEMENT),
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
        .partner_reference = pending->reference,
        .agreement_id = pending->agreement_id[0] ? pending->agreement_id : NULL,
        .agreement_version = pending->agreement_version[0] ? pending->agreement_version : NULL,
        /* Only what reached the transport counts as disclosed. */
        .fields = pending->sent ? pending->fields : NULL,
        .pseudonymised = pending->sent && pending->pseudonymised,
        .cancels_event_id = partner_original(pending, CORRECTION_CANCELLATION),
        .supersedes_event_id = partner_original(pending, CORRECTION_REPLACEMENT),
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

void partner_final(struct partner *partner, struct pending *pending, int delivered,
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
void partner_suppress(struct partner *partner, struct pending *pending)
{
    window_set_state(partner->window, &pending->entry, WINDOW_RECORDING);
    metrics_dispatch_suppressed(partner->config->id, pending->source.topic, pending->suppression);
    log_debug("suppressed partner=%s event_id=%s reason=%s agreement=%s", partner->config->id,
              pending->event_id, pending->suppression,
              pending->agreement ? pending->agreement->id : "none");
    partner_write_records(partner, pending);
}

/* Marks recorded events settled (re-producing failed records), then stores
 * the offsets of settled runs at the head of each partition (window.h) and
 * frees them. Returns how many it freed. */
size_t partner_settle(struct partner *partner)
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
