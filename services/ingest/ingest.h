/*
 * ingest.h - placehub-ingest: partners POST JSON events; each is checked
 * against its schema, encoded as Confluent-framed Avro and produced to the
 * event type's topic. A request is answered 202 only after the broker
 * acknowledged the write (acks=all, idempotent producer).
 */
#ifndef PLACEHUB_INGEST_H
#define PLACEHUB_INGEST_H

#include <stddef.h>
#include "core/config.h"
#include "schema/registry.h"

struct ingest;

/* Connects the producer, creates missing topics, starts the HTTP listener.
 * config and registry are borrowed and must outlive the ingest. Returns 0
 * and a new ingest, or -1 with errstr. */
int ingest_new(const struct config *config, struct registry *registry, struct ingest **ingest,
               char *errstr, size_t errstr_size);

/* Stops listening, waits for requests in flight and for every produced
 * event to be acknowledged (or to fail), then frees. */
void ingest_destroy(struct ingest *ingest);

/* The port the HTTP listener bound. */
int ingest_port(const struct ingest *ingest);

#endif
