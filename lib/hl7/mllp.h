/*
 * mllp.h - the Minimal Lower Layer Protocol (HL7 v2's framing over TCP):
 * every message travels as 0x0B, the message, 0x1C 0x0D, and one connection
 * carries any number of messages one after another.
 *
 * The decoder is a pure state machine over bytes as they arrive, so it can
 * be fed from any socket code, and tested and fuzzed without one. It bounds
 * what it keeps: a frame longer than the limit is read to its end and
 * reported as too large, without keeping it, so the sender can be answered
 * and the connection stays usable.
 */
#ifndef PLACEHUB_MLLP_H
#define PLACEHUB_MLLP_H

#include <stddef.h>

#define MLLP_START_BLOCK 0x0b
#define MLLP_END_BLOCK 0x1c
#define MLLP_CARRIAGE_RETURN 0x0d

enum mllp_result {
    MLLP_NEED_MORE,   /* all input consumed, no frame complete yet */
    MLLP_MESSAGE,     /* a frame is complete: see mllp_decoder_message */
    MLLP_TOO_LARGE,   /* a frame longer than the limit ended; its content is gone */
    MLLP_FRAME_ERROR, /* the bytes are not MLLP: answer if you can, then close */
    MLLP_NO_MEMORY    /* the frame could not be kept: close */
};

struct mllp_decoder {
    size_t max_message_bytes;
    int state; /* private */
    unsigned char *buffer;
    size_t len;
    size_t capacity;
    size_t dropped; /* bytes of an oversized frame not kept */
};

/* Prepares a decoder for messages of at most max_message_bytes (between the
 * frame bytes). No allocation happens until bytes arrive. */
void mllp_decoder_init(struct mllp_decoder *decoder, size_t max_message_bytes);

/* Frees the decoder's buffer. */
void mllp_decoder_release(struct mllp_decoder *decoder);

/* Feeds len bytes. Stops at the first complete frame or error and sets
 * *consumed to the bytes used; the caller feeds the rest again after
 * handling the result. Line breaks between frames are skipped (many senders
 * write one after the trailer); anything else outside a frame, a 0x0B inside
 * one or 0x1C not followed by 0x0D is MLLP_FRAME_ERROR with the reason in
 * errstr. */
enum mllp_result mllp_decode(struct mllp_decoder *decoder, const unsigned char *data, size_t len,
                             size_t *consumed, char *errstr, size_t errstr_size);

/* After MLLP_MESSAGE: the message without its frame bytes. Borrowed; valid
 * until the next mllp_decode. */
const char *mllp_decoder_message(const struct mllp_decoder *decoder, size_t *len);

/* True while a frame has begun and not ended (for read timeouts). */
int mllp_decoder_in_frame(const struct mllp_decoder *decoder);

/* Wraps message in a frame: a new malloc'd buffer of *framed_len bytes
 * (caller frees), or NULL when out of memory. */
unsigned char *mllp_frame(const char *message, size_t len, size_t *framed_len);

#endif
