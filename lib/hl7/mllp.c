/*
 * mllp.c - MLLP framing (see mllp.h).
 *
 * States: between frames (only line breaks allowed), inside a frame
 * (collecting, or counting once over the limit), and just after 0x1C
 * (expecting 0x0D). The buffer grows with the frame up to the limit and is
 * reused for the next frame, so a connection costs at most one message.
 */
#include "hl7/mllp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MLLP_STATE_BETWEEN = 0,
    MLLP_STATE_IN_FRAME,
    MLLP_STATE_AFTER_END, /* 0x1C seen, 0x0D expected */
    MLLP_STATE_DONE       /* a frame was returned; the next call starts afresh */
};

void mllp_decoder_init(struct mllp_decoder *decoder, size_t max_message_bytes)
{
    memset(decoder, 0, sizeof *decoder);
    decoder->max_message_bytes = max_message_bytes;
}

void mllp_decoder_release(struct mllp_decoder *decoder)
{
    free(decoder->buffer);
    decoder->buffer = NULL;
    decoder->len = decoder->capacity = 0;
}

static int mllp_keep(struct mllp_decoder *decoder, const unsigned char *bytes, size_t n)
{
    if (decoder->dropped || decoder->len + n > decoder->max_message_bytes) {
        /* Over the limit: count, keep nothing, answer when the frame ends. */
        decoder->dropped += n;
        return 0;
    }
    if (decoder->len + n > decoder->capacity) {
        size_t capacity = decoder->capacity ? decoder->capacity : 4096;
        while (capacity < decoder->len + n)
            capacity *= 2;
        if (capacity > decoder->max_message_bytes)
            capacity = decoder->max_message_bytes;
        unsigned char *grown = realloc(decoder->buffer, capacity + 1);
        if (!grown)
            return -1;
        decoder->buffer = grown;
        decoder->capacity = capacity;
    }
    memcpy(decoder->buffer + decoder->len, bytes, n);
    decoder->len += n;
    return 0;
}

static enum mllp_result mllp_error(char *errstr, size_t errstr_size, const char *fmt,
                                   unsigned char byte)
{
    snprintf(errstr, errstr_size, fmt, byte);
    return MLLP_FRAME_ERROR;
}

enum mllp_result mllp_decode(struct mllp_decoder *decoder, const unsigned char *data, size_t len,
                             size_t *consumed, char *errstr, size_t errstr_size)
{
    size_t i = 0;
    if (decoder->state == MLLP_STATE_DONE) {
        decoder->state = MLLP_STATE_BETWEEN;
        decoder->len = 0;
        decoder->dropped = 0;
    }
    while (i < len) {
        unsigned char byte = data[i];
        switch (decoder->state) {
        case MLLP_STATE_BETWEEN:
            i++;
            if (byte == MLLP_START_BLOCK) {
                decoder->state = MLLP_STATE_IN_FRAME;
                decoder->len = 0;
                decoder->dropped = 0;
            } else if (byte != '\r' && byte != '\n') {
                *consumed = i;
                return mllp_error(errstr, errstr_size,
                                  "byte 0x%02x outside a frame (a frame starts with 0x0b)", byte);
            }
            break;
        case MLLP_STATE_IN_FRAME: {
            /* Take everything up to the next frame byte in one go. */
            size_t run = i;
            while (run < len && data[run] != MLLP_END_BLOCK && data[run] != MLLP_START_BLOCK)
                run++;
            if (run > i && mllp_keep(decoder, data + i, run - i) != 0) {
                *consumed = i;
                snprintf(errstr, errstr_size, "out of memory for a frame");
                return MLLP_NO_MEMORY;
            }
            i = run;
            if (i == len)
                break;
            i++;
            if (data[i - 1] == MLLP_START_BLOCK) {
                *consumed = i;
                return mllp_error(errstr, errstr_size,
                                  "byte 0x%02x (start block) inside a frame: the previous frame "
                                  "never ended",
                                  MLLP_START_BLOCK);
            }
            decoder->state = MLLP_STATE_AFTER_END;
            break;
        }
        case MLLP_STATE_AFTER_END:
            i++;
            if (byte != MLLP_CARRIAGE_RETURN) {
                *consumed = i;
                return mllp_error(errstr, errstr_size,
                                  "byte 0x%02x after the end block 0x1c (0x0d expected)", byte);
            }
            decoder->state = MLLP_STATE_DONE;
            *consumed = i;
            if (decoder->dropped)
                return MLLP_TOO_LARGE;
            if (decoder->buffer)
                decoder->buffer[decoder->len] = '\0';
            return MLLP_MESSAGE;
        default:
            break;
        }
    }
    *consumed = i;
    return MLLP_NEED_MORE;
}

const char *mllp_decoder_message(const struct mllp_decoder *decoder, size_t *len)
{
    *len = decoder->len;
    return decoder->buffer ? (const char *)decoder->buffer : "";
}

int mllp_decoder_in_frame(const struct mllp_decoder *decoder)
{
    return decoder->state == MLLP_STATE_IN_FRAME || decoder->state == MLLP_STATE_AFTER_END;
}

unsigned char *mllp_frame(const char *message, size_t len, size_t *framed_len)
{
    unsigned char *framed = malloc(len + 3);
    if (!framed)
        return NULL;
    framed[0] = MLLP_START_BLOCK;
    memcpy(framed + 1, message, len);
    framed[len + 1] = MLLP_END_BLOCK;
    framed[len + 2] = MLLP_CARRIAGE_RETURN;
    *framed_len = len + 3;
    return framed;
}
