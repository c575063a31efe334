/*
 * dispatch.h - placehub-dispatch: for each partner, a consumer group
 * ("<group_prefix>.<partner id>") over the partner's topics; each event is
 * decoded, turned into plain JSON, cut to the partner's data-sharing
 * agreement (or suppressed, with an audit record: lib/governance/agreement.h) and
 * handed to the partner's connector.
 *
 * IMPORTANT: an event's offset is stored only after the connector reported
 * it delivered, or its dead letter or suppression was recorded
 * (enable.auto.offset.store=false). Until then the event is retried with
 * backoff, and a restart starts again from it, so a crash or a partner
 * outage never loses an event; at worst the partner sees it twice,
 * with the same event id.
 */
#ifndef PLACEHUB_DISPATCH_H
#define PLACEHUB_DISPATCH_H

#include <stddef.h>
#include "core/config.h"
#include "schema/registry.h"

struct dispatch;
struct partner;
struct partner_shared;

/* Creates the connector instances and one consumer thread per partner,
 * after the objection register and the disclosure ledger (each with its
 * feed). without_state (benchmarks only: --without-register-and-ledger)
 * runs without either: no register suppressions, and cancellations judged
 * by today's agreements. config and registry are borrowed and must outlive
 * the dispatch. Returns 0 or -1 with errstr (a bad connector option, an
 * unknown connector, a ledger that cannot be opened). */
int dispatch_new(const struct config *config, struct registry *registry, int without_state,
                 struct dispatch **dispatch, char *errstr, size_t errstr_size);

/* The partner whose id is id, or NULL when this dispatch delivers to none
 * of that id. Borrowed: lives as long as the dispatch. */
struct partner *dispatch_partner_find(struct dispatch *dispatch, const char *id);

/* The i-th partner (in the configuration's order), or NULL past the last.
 * Borrowed. */
struct partner *dispatch_partner(struct dispatch *dispatch, size_t i);

/* What the partners share: the configuration and the producer that writes
 * to the audit topic. Borrowed. */
const struct partner_shared *dispatch_shared(const struct dispatch *dispatch);

/* Stops the consumers (stored offsets are committed on close), frees. */
void dispatch_destroy(struct dispatch *dispatch);

#endif
