/*
 * dispatch.c - placehub-dispatch: one delivery engine per partner
 * (partner.c), sharing the configuration, the schema registry and one
 * producer for dead letters and receipts (see dispatch.h).
 *
 * Shutdown order matters: partner threads stop first; then the producer is
 * flushed so every receipt and dead letter in flight is settled; then each
 * partner stores the offsets that became safe and closes its consumer
 * (committing them); only then is anything freed.
 */
#include "dispatch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/kafka.h"
#include "core/log.h"
#include "partner.h"
#include "governance/ledger.h"
#include "governance/objection_feed.h"
#include "kafka/producer.h"

struct dispatch {
    atomic_int stopping;
    struct partner_shared shared;
    struct producer *producer;
    struct objection_register *objections;
    struct objection_feed *objection_feed;
    struct ledger *ledger;
    struct ledger_feed *ledger_feed;
    struct partner **partners;
    size_t partner_count;
};

/* The dead-letter and audit topics are the hub's own: created like the
 * event topics, kept as long (their records are what auditors ask for). */
static int dispatch_topics(struct dispatch *dispatch, const struct config *config, char *errstr,
                           size_t errstr_size)
{
    int replication = config->topic_count ? config->topics[0].replication_factor : 1;
    struct config_topic topics[2] = {
        {config->dispatch.dead_letter_topic, 3, replication, -1},
        {config->dispatch.audit_topic, 3, replication, -1},
    };
    if (kafka_topics_create(producer_handle(dispatch->producer), topics, 2, 30000, errstr,
                            errstr_size) != 0 ||
        kafka_topics_ensure(producer_handle(dispatch->producer), config, 30000, errstr,
                            errstr_size) != 0)
        return -1;
    return 0;
}

/* Pseudonyms exist so that two partners cannot link their records of one
 * person: refuse two partners with the same key. */
static int dispatch_keys_distinct(const struct dispatch *dispatch, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < dispatch->partner_count; i++) {
        size_t len_i;
        const unsigned char *key_i = partner_pseudonym_key(dispatch->partners[i], &len_i);
        for (size_t j = i + 1; key_i && j < dispatch->partner_count; j++) {
            size_t len_j;
            const unsigned char *key_j = partner_pseudonym_key(dispatch->partners[j], &len_j);
            if (key_j && len_i == len_j && memcmp(key_i, key_j, len_i) == 0) {
                snprintf(errstr, errstr_size,
                         "partners %s and %s have the same pseudonym key: their pseudonyms of "
                         "one person would match; give each partner its own key",
                         partner_id(dispatch->partners[i]), partner_id(dispatch->partners[j]));
                return -1;
            }
        }
    }
    return 0;
}

/* The objection register and the disclosure ledger, each with the feed
 * that keeps it current. An event is judged only once the register is
 * known complete up to the event's intake, a cancellation only once the
 * ledger holds the original's records (partner_intake.c). */
static int dispatch_state(struct dispatch *dispatch, const struct config *config, char *errstr,
                          size_t errstr_size)
{
    char path[4096];
    dispatch->objections = objection_register_new();
    if (!dispatch->objections) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    dispatch->shared.objections = dispatch->objections;
    if (objection_feed_start(config, dispatch->objections, &dispatch->objection_feed, errstr,
                             errstr_size) != 0)
        return -1;
    if (config_resolve_path(config, config->governance.ledger, path, sizeof path) != 0) {
        snprintf(errstr, errstr_size, "governance.ledger: the path is too long");
        return -1;
    }
    if (ledger_open(path, config->dispatch.audit_topic, LEDGER_KEEPER, &dispatch->ledger, errstr,
                    errstr_size) != 0 ||
        ledger_feed_start(config, dispatch->ledger, &dispatch->ledger_feed, errstr, errstr_size) !=
            0)
        return -1;
    dispatch->shared.ledger = dispatch->ledger;
    log_info("disclosure ledger %s rows=%lld", path, ledger_count(dispatch->ledger));
    return 0;
}

int dispatch_new(const struct config *config, struct registry *registry, int without_state,
                 struct dispatch **out, char *errstr, size_t errstr_size)
{
    struct dispatch *dispatch = calloc(1, sizeof *dispatch);
    *out = NULL;
    if (!dispatch) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (config->partner_count == 0) {
        snprintf(errstr, errstr_size, "%s: no partners configured: nothing to dispatch to",
                 config->path);
        free(dispatch);
        return -1;
    }
    dispatch->shared.config = config;
    dispatch->shared.registry = registry;
    dispatch->shared.stopping = &dispatch->stopping;
    if (producer_new(config, "placehub-dispatch", 30000, PRODUCER_LINGER_RECORDS_MS,
                     &dispatch->producer, errstr, errstr_size) != 0)
        goto fail;
    dispatch->shared.producer = dispatch->producer;
    if (dispatch_topics(dispatch, config, errstr, errstr_size) != 0)
        goto fail;
    if (without_state)
        log_warning("WITHOUT THE OBJECTION REGISTER AND THE DISCLOSURE LEDGER "
                    "(--without-register-and-ledger): objections on the register are not "
                    "honoured and cancellations follow today's agreements; for benchmarks only");
    else if (dispatch_state(dispatch, config, errstr, errstr_size) != 0)
        goto fail;
    dispatch->partners = calloc(config->partner_count, sizeof *dispatch->partners);
    if (!dispatch->partners) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    /* Partners that only publish (an ingest: section, no connector) get
     * nothing from dispatch. */
    for (size_t i = 0; i < config->partner_count; i++) {
        if (!config->partners[i].connector)
            continue;
        if (partner_new(&dispatch->shared, &config->partners[i],
                        &dispatch->partners[dispatch->partner_count], errstr, errstr_size) != 0)
            goto fail;
        dispatch->partner_count++;
    }
    if (dispatch->partner_count == 0) {
        snprintf(errstr, errstr_size,
                 "%s: no partner receives events (none has a connector): nothing to dispatch to",
                 config->path);
        goto fail;
    }
    if (dispatch_keys_distinct(dispatch, errstr, errstr_size) != 0)
        goto fail;
    for (size_t i = 0; i < dispatch->partner_count; i++)
        if (partner_start(dispatch->partners[i], errstr, errstr_size) != 0)
            goto fail;
    *out = dispatch;
    return 0;
fail:
    dispatch_destroy(dispatch);
    return -1;
}

struct partner *dispatch_partner_find(struct dispatch *dispatch, const char *id)
{
    for (size_t i = 0; id && i < dispatch->partner_count; i++)
        if (strcmp(partner_id(dispatch->partners[i]), id) == 0)
            return dispatch->partners[i];
    return NULL;
}

struct partner *dispatch_partner(struct dispatch *dispatch, size_t i)
{
    return i < dispatch->partner_count ? dispatch->partners[i] : NULL;
}

const struct partner_shared *dispatch_shared(const struct dispatch *dispatch)
{
    return &dispatch->shared;
}

void dispatch_destroy(struct dispatch *dispatch)
{
    if (!dispatch)
        return;
    atomic_store(&dispatch->stopping, 1);
    for (size_t i = 0; i < dispatch->partner_count; i++)
        partner_stop(dispatch->partners[i]);
    if (dispatch->producer)
        rd_kafka_flush(producer_handle(dispatch->producer), 30000);
    for (size_t i = 0; i < dispatch->partner_count; i++)
        partner_finish(dispatch->partners[i]);
    producer_destroy(dispatch->producer);
    for (size_t i = 0; i < dispatch->partner_count; i++)
        partner_destroy(dispatch->partners[i]);
    /* After the partners: their threads read the register and the ledger. */
    objection_feed_stop(dispatch->objection_feed);
    objection_register_destroy(dispatch->objections);
    ledger_feed_stop(dispatch->ledger_feed);
    ledger_close(dispatch->ledger);
    free(dispatch->partners);
    free(dispatch);
}
