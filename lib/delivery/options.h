/*
 * options.h - the option keys the host itself reads from a partner's
 * `options:` map, whatever its connector: transport (lib/delivery/transfer.c),
 * authentication (lib/delivery/auth.c) and dispatch's own
 * (services/dispatch/partner.c). connector_options_check
 * (lib/delivery/connector.h) accepts these besides the connector's.
 *
 * IMPORTANT: a key read anywhere in the host must be listed here, or every
 * partner that sets it is refused at start-up as a misspelling.
 */
#ifndef PLACEHUB_OPTIONS_H
#define PLACEHUB_OPTIONS_H

#include "placehub/connector.h"

/* The host's keys, ended by a zeroed entry. Static, never freed. */
const struct placehub_option *options_host(void);

/* The entry called name in list (ended by a zeroed entry; NULL: empty), or
 * NULL. Borrowed from list. */
const struct placehub_option *options_find(const struct placehub_option *list, const char *name);

#endif
