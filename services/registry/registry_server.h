/*
 * registry_server.h - placehub-registry: the embedded catalogue (schemas/)
 * served read-only over the Confluent Schema Registry REST API, so standard
 * tools decode placehub's topics without a separate registry running.
 */
#ifndef PLACEHUB_REGISTRY_SERVER_H
#define PLACEHUB_REGISTRY_SERVER_H

#include "schema/catalogue.h"
#include "net/httpd.h"

/* The HTTP handler; context is the struct catalogue (borrowed). */
void registry_server_handle(void *context, const struct httpd_request *request,
                            struct httpd_response *response);

#endif
