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
#include "schema/codec.h"

/* Fills, when absent, event_id (a new random UUID: it then never changes on
 * retry or replay), recorded_at (now_millis) and schema_version (the version
 * of the schema the caller writes the event with; a given one must equal
 * it); checks the person's NHS number, that the person carries an NHS
 * number or a local identifier, and that a correction (supersedes_event_id)
 * neither cancels too nor names itself. Modifies event in place. Returns 0 or -1 with *error naming
 * the field (the message never contains the personal value). */
int event_prepare(json_t *event, int schema_version, int64_t now_millis, struct codec_error *error);

/* The Kafka message key for the event's person: an HMAC-SHA256 under the
 * hub's person key (event_person_key_set) of the NHS number, or of the first
 * local identifier when there is none, as 32 hexadecimal characters (the
 * first 16 bytes). It places one person's events on one partition and is the
 * person reference of audit records, without putting the NHS number in
 * every tool that lists keys; being keyed, it cannot be reversed by trying
 * the billion possible NHS numbers without the key. Returns 0 or -1 when the
 * event has no person identifier. */
int event_person_key(const json_t *event, char *key, size_t key_size);

/* The same key for a bare NHS number (10 digits, already valid: see
 * nhs_number_normalise): equal to event_person_key of an event whose
 * person.nhs_number it is, so an objection and the person's events share
 * one person reference. Returns 0, or -1 when the number is not a valid NHS
 * number or key_size is under 33. */
int event_person_key_of_nhs_number(const char *nhs_number, char *key, size_t key_size);

/* The built-in development key, used until event_person_key_set is called.
 * Public on purpose: anyone can reverse keys made with it. */
#define EVENT_PERSON_KEY_DEVELOPMENT "placehub-development-person-key-not-for-real-data"

/* Sets the hub-wide key of event_person_key (32 to 256 bytes; copied). Call once at start-up,
 * before any thread computes keys: every program that produces events (ingest, mllp) must use the
 * same key, or one person's events would be spread over partitions. Returns 0, or -1 when key is
 * too short or too long (over 256 bytes). */
int event_person_key_set(const void *key, size_t len);

/* 1 while the development key is in use. */
int event_person_key_is_development(void);

/* The event id of a prepared event, or NULL. Borrowed from event. */
const char *event_id(const json_t *event);

#endif
