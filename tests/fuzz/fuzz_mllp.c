/*
 * fuzz_mllp.c - the MLLP decoder (lib/hl7/mllp.c) as placehub-mllp runs it on a
 * hospital's TCP stream: bytes arrive in pieces of any size. The first input
 * byte chooses the piece size, the rest is the stream. Every frame handed
 * out must fit the limit, and the decoder must make progress or stop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hl7/mllp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { FUZZ_LIMIT = 512 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    struct mllp_decoder decoder;
    char errstr[256];
    mllp_decoder_init(&decoder, FUZZ_LIMIT);
    int stopped = 0;
    for (size_t offset = 0; offset < size && !stopped;) {
        size_t len = size - offset < piece ? size - offset : piece;
        const unsigned char *bytes = data + offset;
        offset += len;
        while (len > 0) {
            size_t consumed = 0;
            enum mllp_result result =
                mllp_decode(&decoder, bytes, len, &consumed, errstr, sizeof errstr);
            if (consumed > len)
                abort();
            if (result == MLLP_MESSAGE) {
                size_t message_len;
                const char *message = mllp_decoder_message(&decoder, &message_len);
                if (!message || message_len > FUZZ_LIMIT ||
                    memchr(message, MLLP_START_BLOCK, message_len) != NULL)
                    abort();
            } else if (result == MLLP_FRAME_ERROR || result == MLLP_NO_MEMORY) {
                stopped = 1; /* the listener answers and closes */
                break;
            } else if (result == MLLP_NEED_MORE && consumed != len) {
                abort(); /* "all input consumed" */
            }
            bytes += consumed;
            len -= consumed;
        }
    }
    mllp_decoder_release(&decoder);

    /* What placehub-mllp frames (its ACKs) the decoder reads back whole. */
    size_t len = size < 200 ? size : 200, framed_len, message_len, consumed = 0;
    if (len == 0 || memchr(data, MLLP_START_BLOCK, len) || memchr(data, MLLP_END_BLOCK, len))
        return 0;
    unsigned char *framed = mllp_frame((const char *)data, len, &framed_len);
    if (!framed)
        return 0;
    mllp_decoder_init(&decoder, FUZZ_LIMIT);
    if (mllp_decode(&decoder, framed, framed_len, &consumed, errstr, sizeof errstr) !=
            MLLP_MESSAGE ||
        consumed != framed_len)
        abort();
    const char *message = mllp_decoder_message(&decoder, &message_len);
    if (message_len != len || memcmp(message, data, len) != 0)
        abort();
    mllp_decoder_release(&decoder);
    free(framed);
    return 0;
}
