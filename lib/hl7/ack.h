/*
 * ack.h - HL7 v2 acknowledgements (original mode): MSH, MSA and, for AE and
 * AR, an ERR segment saying where and why. Written with the sender's own
 * encoding characters, sending and receiving application and facility
 * swapped, MSA-2 echoing the sender's MSH-10.
 */
#ifndef PLACEHUB_MLLP_ACK_H
#define PLACEHUB_MLLP_ACK_H

#include <stddef.h>
#include <stdint.h>

#include "hl7/adt.h"
#include "hl7/hl7.h"

enum ack_code {
    ACK_ACCEPT, /* AA: the broker has it */
    ACK_ERROR,  /* AE: not taken this time (Kafka down): send it again */
    ACK_REJECT  /* AR: never taken as it is: fix it first */
};

/* Builds an ACK to message (NULL when it could not be parsed: the default
 * encoding characters are used and MSA-2 is empty). text goes to MSA-3 and
 * may be NULL; error (required for AE and AR) to ERR. control_id is the
 * ACK's own MSH-10; now_millis its MSH-7. Returns a new malloc'd message of
 * *len bytes, segments ending in \r (caller frees), or NULL when out of
 * memory. */
char *ack_build(const struct hl7_message *message, enum ack_code code, const char *text,
                const struct adt_error *error, const char *control_id, int64_t now_millis,
                size_t *len);

#endif
