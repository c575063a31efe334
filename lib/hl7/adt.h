/*
 * adt.h - turns a parsed HL7 v2 ADT message into a placehub event (the
 * plain JSON form of schemas/admission.v1.avsc or discharge.v1.avsc), field
 * by field as docs/hl7.md tables it, or says why it cannot.
 *
 * Pure: no I/O, no clock, no randomness. The event id is a name-based UUID
 * (v5) of MSH-3, MSH-4 and MSH-10, so a message sent again maps to the same
 * event.
 */
#ifndef PLACEHUB_MLLP_ADT_H
#define PLACEHUB_MLLP_ADT_H

#include <jansson.h>
#include <stddef.h>

#include "core/config.h"
#include "hl7/hl7.h"

enum adt_action {
    ADT_FORWARD, /* produce event to topic (and the raw message), then AA */
    ADT_KEEP,    /* a trigger placehub takes but has no event for: keep the raw message, AA */
    ADT_REJECT   /* answer AR with the reason; produce nothing */
};

/* HL7 table 0357 message error condition codes used in ERR-3. */
enum adt_error_code {
    ADT_ERROR_SEGMENT_SEQUENCE = 100,
    ADT_ERROR_REQUIRED_FIELD = 101,
    ADT_ERROR_DATA_TYPE = 102,
    ADT_ERROR_TABLE_VALUE = 103,
    ADT_ERROR_MESSAGE_TYPE = 200,
    ADT_ERROR_EVENT_CODE = 201,
    ADT_ERROR_VERSION = 203,
    ADT_ERROR_UNKNOWN_KEY = 204,
    ADT_ERROR_INTERNAL = 207
};

/* Where and why a message was refused, for MSA-3 and ERR. The reason names
 * positions and codes, never a value about the person: it is logged. */
struct adt_error {
    int code; /* enum adt_error_code */
    char segment[4];
    int field; /* 0: the segment as a whole */
    int repetition;
    int component;
    char reason[256];
};

struct adt_result {
    enum adt_action action;
    const char *topic; /* ADT_FORWARD: "admission" or "discharge"; static */
    /* ADT_FORWARD: the whole event. ADT_KEEP: envelope and person only (for
     * the Kafka key of the raw message); never produced. Caller releases. */
    json_t *event;
    char event_id[37]; /* "" when MSH-10 could not be read */
    char trigger[4];   /* "A01"; "" when not read */
    struct adt_error error;
};

/* Checks the mllp section's code tables against the schema's symbols
 * (discharge_destinations and discharge_dispositions must map to
 * DischargeDestination symbols). Returns 0, or -1 with
 * "file:line: ..." in errstr. */
int adt_check_config(const struct config *config, char *errstr, size_t errstr_size);

/* Maps message under config's mllp settings. Always fills *result (release
 * it with adt_result_release). */
void adt_map(const struct config *config, const struct hl7_message *message,
             struct adt_result *result);

void adt_result_release(struct adt_result *result);

/* The name-based UUID (v5) the event id and correlation id are made with,
 * in placehub's own namespace; out needs 37 bytes. */
void adt_uuid(const char *name, char *out);

/* The DischargeDestination symbols the mapping and its configuration may
 * write, NULL-terminated (the discharge schema must have every one). */
extern const char *const adt_destination_symbols[];

#endif
