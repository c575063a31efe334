/*
 * connector.h (internal) - finds connector types by name for the host.
 * Built-in connectors are linked in; shared-object connectors come with the
 * connector SDK work (docs/connectors.md).
 */
#ifndef PLACEHUB_CONNECTOR_REGISTRY_H
#define PLACEHUB_CONNECTOR_REGISTRY_H

#include "placehub/connector.h"

/* The built-in connector type called name, or NULL. */
const struct placehub_connector_type *connector_find(const char *name);

/* The host services lent to every connector (log, clock). */
const struct placehub_host *connector_host(void);

#endif
