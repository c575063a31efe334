/*
 * connector.h (internal) - the host side of the connector ABI: finds
 * connector types (built in, or a shared object named by path), checks a
 * partner's options against what its connector and the host declare, and
 * lends host services (log, clock, HMAC, base64, secrets) to connectors.
 */
#ifndef PLACEHUB_CONNECTOR_HOST_H
#define PLACEHUB_CONNECTOR_HOST_H

#include <stddef.h>
#include "core/config.h"
#include "placehub/connector.h"

/* The connector type called name: a built-in one ("webhook", ...), or, when
 * name contains a '/', a shared object at that path, loaded with
 * dlopen(RTLD_NOW | RTLD_LOCAL) and refused when the file (or its folder) is
 * group- or world-writable or connector_type_check refuses it. Returns NULL
 * with errstr. Loaded objects stay loaded for the life of the process, and
 * the type with them (borrowed). */
const struct placehub_connector_type *connector_find(const char *name, char *errstr,
                                                     size_t errstr_size);

/* Checks the version and shape of a connector type: refused, with errstr
 * naming where (a path, or a built-in name), both versions and what to do,
 * when it is a version 1 type (`unsigned abi_version` first), of another
 * major version, of a later minor version than this host's, smaller than
 * its version's struct, without a name, create, prepare or destroy, or
 * declaring an option of no known type. type may point to a version 1
 * struct: only its first 4 bytes are read then. Returns 0 or -1. */
int connector_type_check(const struct placehub_connector_type *type, const char *where,
                         char *errstr, size_t errstr_size);

/* Checks partner's `options:` (from config, for the file name) against the
 * keys type declares and the host's own (lib/delivery/options.h), before
 * create() is called. Refused, -1 with "file:line: partner ID: options.KEY:
 * ..." in errstr:
 *   - a key neither declares, at the line of that option, with a "did you
 *     mean" naming the nearest declared key (config_distance) when one is
 *     near, else the connector's keys;
 *   - a secret option (secret, or type SECRET_REFERENCE) whose value (any
 *     item, for a LIST) is not env:NAME or file:/path; the value is never
 *     repeated;
 *   - a value of the wrong shape for its type (INTEGER, BOOLEAN, URL);
 *   - a key the connector declares required that is absent, at the
 *     partner's line.
 * Returns 0 when all pass. Reads nothing but its arguments (no secret is
 * resolved, no file opened), so --check-config can run it; the meaning of
 * each value is still create()'s and the host readers' to check. */
int connector_options_check(const struct placehub_connector_type *type, const struct config *config,
                            const struct config_partner *partner, char *errstr, size_t errstr_size);

/* The type's next() (ABI 2.1), or NULL when it has none or was built for
 * 2.0 (its struct_size does not cover the field). */
typedef int (*connector_next_fn)(void *instance, const struct placehub_delivery *delivery,
                                 const struct placehub_response *response,
                                 struct placehub_request *request,
                                 struct placehub_outcome *outcome);
connector_next_fn connector_next(const struct placehub_connector_type *type);

/* Names of the built-in connectors, comma-separated, for messages. */
const char *connector_builtin_names(void);

/* The host services lent to every connector. */
const struct placehub_host *connector_host(void);

#endif
