/*
 * connector.h (internal) - the host side of the connector ABI: finds
 * connector types (built in, or a shared object named by path) and lends
 * host services (log, clock, HMAC, base64, secrets) to them.
 */
#ifndef PLACEHUB_CONNECTOR_HOST_H
#define PLACEHUB_CONNECTOR_HOST_H

#include <stddef.h>
#include "placehub/connector.h"

/* The connector type called name: a built-in one ("webhook", ...), or, when
 * name contains a '/', a shared object at that path, loaded with
 * dlopen(RTLD_NOW | RTLD_LOCAL) and refused when the file (or its folder) is
 * group- or world-writable or was built for another ABI version. Returns
 * NULL with errstr. Loaded objects stay loaded for the life of the process. */
const struct placehub_connector_type *connector_find(const char *name, char *errstr,
                                                     size_t errstr_size);

/* Names of the built-in connectors, comma-separated, for messages. */
const char *connector_builtin_names(void);

/* The host services lent to every connector. */
const struct placehub_host *connector_host(void);

#endif
