/*
 * partner_api.h - the partner control and state API on placehub-dispatch's
 * operations listener (docs/operations.md, "Partner controls"):
 *
 *   GET  /partners                      {"partners": [partner, ...]}
 *   GET  /partners/{id}                 partner
 *   POST /partners/{id}/pause|resume|probe   partner, after the action
 *
 * Access (token, loopback, Origin) is lib/net/operations.c's; this file
 * checks the actor (X-Placehub-Actor), asks the partner's engine
 * (partner_control), writes the partner_control audit record and answers.
 */
#ifndef PLACEHUB_PARTNER_API_H
#define PLACEHUB_PARTNER_API_H

#include <stddef.h>

#include "dispatch.h"
#include "net/operations.h"

/* Adds the routes to operations (NULL: no listener, nothing to do).
 * dispatch is borrowed and must outlive the listener (stop operations
 * first). Returns 0 or -1 with errstr. */
int partner_api_add(struct operations *operations, struct dispatch *dispatch, char *errstr,
                    size_t errstr_size);

#endif
