/*
 * templates.h - the host's start-up check of a connector's templates
 * against the partner's data-sharing agreements: a template naming a field
 * the agreements withhold is refused before any event flows, with the file,
 * the line and what to do, instead of failing (or sending less) at send
 * time. Today the built-in http connector is the one with templates (its
 * url, headers and body_template options: docs/connectors.md, "http").
 */
#ifndef PLACEHUB_TEMPLATES_H
#define PLACEHUB_TEMPLATES_H

#include <stddef.h>

#include "core/config.h"
#include "placehub/connector.h"

/* Names a template may use whatever the agreement: the event's envelope
 * (always disclosed, event_type among them) and these, which the http
 * connector fills itself. */
#define TEMPLATES_WELL_KNOWN "event_id, topic, partner_id, pseudonym"

/* Checks every placeholder in partner's template options, when type has
 * any: each must be a well-known name, an always-disclosed field
 * (agreement_always_disclosed), person.pseudonym (alias pseudonym) when an
 * agreement names a pseudonym key, or a path some agreement of the partner
 * allows (the field itself, something under it, or a record on the way to
 * it). Returns 0, or -1 with "file:line: partner ID: options.KEY: ..." in
 * errstr: the placeholder, what the agreements allow, a "did you mean",
 * and what to do. A syntax error in a template is refused here too. */
int templates_check(const struct placehub_connector_type *type, const struct config *config,
                    const struct config_partner *partner, char *errstr, size_t errstr_size);

#endif
