/*
 * event.h - what the hub adds to and checks in an event beyond its schema:
 * the hub-owned fields (event id, recorded-at, schema version), the NHS
 * number check digit, and the Kafka key that keeps one person's events of a
 * topic in order.
 */
#ifndef PLACEHUB_EVENT_H
#define PLACEHUB_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "codec.h"

/* Fills, when absent, event_id (a new random UUID: it then never changes on
 * retry or replay), recorded_at (now_millis) and schema_version; checks the
 * person's NHS number and that the person carries an NHS number or a local
 * identifier. Modifies event in place. Returns 0 or -1 with *error naming
 * the field (the message never contains the personal value). */
int event_prepare(json_t *event, int schema_version, int64_t now_millis, struct codec_error *error);

/* The Kafka message key for the event's person: a SHA-256 digest (hex, 32
 * characters) of the NHS number, or of the first local identifier when there
 * is none, so the key places one person's events on one partition without
 * putting the NHS number itself in every tool that lists keys. Returns 0 or
 * -1 when the event has no person identifier. */
int event_person_key(const json_t *event, char *key, size_t key_size);

/* The event id of a prepared event, or NULL. Borrowed from event. */
const char *event_id(const json_t *event);

#endif
