/*
 * fuzz_registry_answer.c - what the services do with an external schema
 * registry's answer in external mode (lib/schema/registry.c): a JSON body whose
 * "schema" member is an Avro schema compiled by lib/schema/codec.c, whose "id" is
 * the writer's schema id and whose "message" is quoted in errors. The
 * schema text is also tried as the whole input, as a registry could send it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_schema(const char *text, size_t len)
{
    struct codec_schema *schema = NULL;
    char errstr[256];
    if (codec_schema_new(text, len, &schema, errstr, sizeof errstr) == 0) {
        if (!codec_schema_name(schema) || !codec_schema_text(schema))
            abort();
        codec_schema_destroy(schema);
    } else if (errstr[0] == '\0') {
        abort(); /* a refusal always says why */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_schema((const char *)data, size);
    json_t *answer = json_loadb((const char *)data, size, 0, NULL);
    const char *text = json_string_value(json_object_get(answer, "schema"));
    if (text)
        fuzz_schema(text, strlen(text));
    json_decref(answer);
    return 0;
}
