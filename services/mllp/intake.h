/*
 * intake.h - placehub-mllp: hospitals send HL7 v2 ADT over MLLP; each
 * message is parsed, mapped to an admission or discharge event (adt.h), kept
 * as received on the raw topic and produced to its event topic. The ACK is
 * AA only after the broker acknowledged both; AE when it did not (send
 * again), AR when the message can never be taken as it is.
 */
#ifndef PLACEHUB_MLLP_INTAKE_H
#define PLACEHUB_MLLP_INTAKE_H

#include <stddef.h>

#include "core/config.h"
#include "schema/registry.h"

struct intake;

/* Connects the producer, creates missing topics, starts the MLLP listener.
 * config and registry are borrowed and must outlive the intake. Returns 0
 * and a new intake, or -1 with errstr. */
int intake_new(const struct config *config, struct registry *registry, struct intake **intake,
               char *errstr, size_t errstr_size);

/* Stops listening, lets every connection finish the message in hand, waits
 * for what is in flight to Kafka, frees. */
void intake_destroy(struct intake *intake);

/* The port the MLLP listener bound. */
int intake_port(const struct intake *intake);

#endif
