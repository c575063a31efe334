/*
 * fuzz_hl7.c - everything placehub-mllp does with a hospital's bytes before
 * Kafka: MLLP framing (lib/hl7/mllp.c) over the input as a stream, the HL7
 * parser (lib/hl7/hl7.c) over it as one message, then every value read back,
 * the ADT mapping and the ACK (services/mllp/, compiled in here as in the
 * unit test). Each must refuse or accept, never crash, over-read or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "hl7/hl7.h"
#include "hl7/mllp.h"

#include "hl7/ack.h"
#include "hl7/adt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct config *fuzz_config(void)
{
    /* Loaded once and kept: the settings do not change between inputs. */
    static struct config *config;
    static const char text[] = "kafka:\n  bootstrap_servers: \"127.0.0.1:1\"\n"
                               "topics:\n  - name: hl7-raw\n"
                               "mllp:\n  raw_topic: hl7-raw\n"
                               "  identifier_systems:\n    MR: \"https://example.org/mr\"\n"
                               "  discharge_destinations:\n    NH1: NURSING_HOME\n"
                               "  specialties:\n    \"430\": \"Geriatric medicine\"\n";
    char errstr[512];
    if (!config &&
        config_load_string("fuzz.yaml", text, sizeof text - 1, &config, errstr, sizeof errstr) != 0)
        abort();
    return config;
}

static void fuzz_framing(const uint8_t *data, size_t size)
{
    struct mllp_decoder decoder;
    char errstr[256];
    mllp_decoder_init(&decoder, 256);
    while (size > 0) {
        size_t consumed = 0, len;
        enum mllp_result result =
            mllp_decode(&decoder, data, size, &consumed, errstr, sizeof errstr);
        if (result == MLLP_MESSAGE) {
            (void)mllp_decoder_message(&decoder, &len);
            if (len > 256)
                abort(); /* the decoder promised never to keep more */
        }
        if (result == MLLP_FRAME_ERROR || result == MLLP_NO_MEMORY || consumed == 0)
            break;
        data += consumed;
        size -= consumed;
    }
    mllp_decoder_release(&decoder);
}

static void fuzz_read_back(const struct hl7_message *message)
{
    char out[256];
    for (size_t segment = 0; segment < hl7_segment_count(message); segment++) {
        int fields = hl7_field_count(message, segment);
        for (int field = 1; field <= fields + 1 && field <= 40; field++) {
            int repetitions = hl7_repetition_count(message, segment, field);
            for (int repetition = 1; repetition <= repetitions + 1 && repetition <= 4; repetition++)
                for (int component = 0; component <= 4; component++)
                    for (int subcomponent = 0; subcomponent <= 2; subcomponent++)
                        hl7_value(message, segment, field, repetition, component, subcomponent, out,
                                  sizeof out);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hl7_message *message = NULL;
    struct hl7_error error;
    const struct hl7_limits limits = {64 * 1024, 200, 100};
    size_t len;

    fuzz_framing(data, size);
    if (hl7_parse((const char *)data, size, &limits, &message, &error) != 0) {
        char *ack = ack_build(NULL, ACK_REJECT, error.text, NULL, "F1", 0, &len);
        free(ack);
        return 0;
    }
    fuzz_read_back(message);
    struct adt_result result;
    adt_map(fuzz_config(), message, &result);
    char *ack = ack_build(message, result.action == ADT_REJECT ? ACK_REJECT : ACK_ACCEPT,
                          result.error.reason, &result.error, "F2", 0, &len);
    free(ack);
    adt_result_release(&result);
    hl7_message_destroy(message);
    return 0;
}
