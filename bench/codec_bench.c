/*
 * codec_bench.c - Avro encode and decode per second for each event schema,
 * through placehub's codec (plain JSON <-> Avro binary, as ingest and
 * dispatch use it), next to avro-c's own binary write and read of the same
 * datum (a generic value already built: no JSON on either side), which is
 * the ceiling the codec's JSON conversion is measured against.
 *
 * Usage: codec_bench SCHEMAS_DIR DATA_DIR [SECONDS_PER_FIGURE]
 * Takes the latest version of each of the four types' schemas from
 * SCHEMAS_DIR/catalogue.json (what ingest writes with) and its example,
 * DATA_DIR/<type>.json for version 1 and DATA_DIR/<type>.vN.json for a later
 * version N, and prints one JSON line per type:
 *   {"type": T, "bytes": B, "encode": E, "decode": D,
 *    "avro_write": W, "avro_read": R}   (operations per second)
 */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "schema/catalogue.h"
#include "schema/codec.h"

static double codec_bench_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static char *codec_bench_read(const char *path, size_t *len)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        return NULL;
    }
    char *text = NULL;
    if (fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        rewind(file);
        text = size >= 0 ? malloc((size_t)size + 1) : NULL;
        if (text && fread(text, 1, (size_t)size, file) == (size_t)size) {
            text[size] = '\0';
            *len = (size_t)size;
        } else {
            free(text);
            text = NULL;
        }
    }
    fclose(file);
    return text;
}

/* Runs op until at least seconds passed (checking the clock every 256
 * calls) and returns calls per second; -1 when op failed. */
#define CODEC_BENCH_RATE(seconds, op)                                                              \
    __extension__({                                                                                \
        double began_ = codec_bench_now(), elapsed_ = 0;                                           \
        long calls_ = 0;                                                                           \
        int failed_ = 0;                                                                           \
        while (!failed_ && elapsed_ < (seconds)) {                                                 \
            for (int i_ = 0; i_ < 256 && !failed_; i_++, calls_++)                                 \
                failed_ = (op) != 0;                                                               \
            elapsed_ = codec_bench_now() - began_;                                                 \
        }                                                                                          \
        failed_ ? -1.0 : (double)calls_ / elapsed_;                                                \
    })

static int codec_bench_encode(const struct codec_schema *schema, const json_t *event)
{
    unsigned char *out = NULL;
    size_t len = 0;
    struct codec_error error;
    int rc = codec_encode(schema, event, 5, &out, &len, &error);
    free(out);
    return rc;
}

static int codec_bench_decode(const struct codec_schema *schema, const unsigned char *data,
                              size_t len)
{
    json_t *event = NULL;
    struct codec_error error;
    int rc = codec_decode(schema, data, len, &event, &error);
    json_decref(event);
    return rc;
}

static int codec_bench_write(avro_value_t *value, char *buffer, size_t size)
{
    avro_writer_t writer = avro_writer_memory(buffer, (int64_t)size);
    int rc = avro_value_write(writer, value);
    avro_writer_free(writer);
    return rc;
}

static int codec_bench_read_value(avro_value_t *value, const char *data, size_t len)
{
    avro_reader_t reader = avro_reader_memory(data, (int64_t)len);
    avro_value_reset(value);
    int rc = avro_value_read(reader, value);
    avro_reader_free(reader);
    return rc;
}

static int codec_bench_type(const struct catalogue *catalogue, const char *data_dir,
                            const char *type, double seconds)
{
    char path[1024];
    size_t event_len = 0;
    int rc = -1;
    const struct catalogue_entry *entry = catalogue_latest_for_topic(catalogue, type);
    const struct codec_schema *schema = entry ? entry->schema : NULL;
    json_t *event = NULL;
    unsigned char *encoded = NULL;
    size_t encoded_len = 0;
    avro_value_iface_t *iface = NULL;
    avro_value_t value;
    int have_value = 0;
    char *buffer = NULL;

    if (!schema) {
        fprintf(stderr, "%s: no schema in the catalogue\n", type);
        return -1;
    }
    if (entry->version == 1)
        snprintf(path, sizeof path, "%s/%s.json", data_dir, type);
    else
        snprintf(path, sizeof path, "%s/%s.v%d.json", data_dir, type, entry->version);
    char *event_text = codec_bench_read(path, &event_len);
    if (!event_text)
        goto out;
    json_error_t json_error;
    event = json_loadb(event_text, event_len, 0, &json_error);
    struct codec_error error;
    if (!event || codec_encode(schema, event, 0, &encoded, &encoded_len, &error) != 0) {
        fprintf(stderr, "%s: the sample event does not encode\n", type);
        goto out;
    }
    iface = avro_generic_class_from_schema(codec_schema_avro(schema));
    if (!iface || avro_generic_value_new(iface, &value) != 0)
        goto out;
    have_value = 1;
    buffer = malloc(encoded_len * 2 + 64);
    if (!buffer || codec_bench_read_value(&value, (const char *)encoded, encoded_len) != 0)
        goto out;

    double encode = CODEC_BENCH_RATE(seconds, codec_bench_encode(schema, event));
    double decode = CODEC_BENCH_RATE(seconds, codec_bench_decode(schema, encoded, encoded_len));
    double write =
        CODEC_BENCH_RATE(seconds, codec_bench_write(&value, buffer, encoded_len * 2 + 64));
    double read = CODEC_BENCH_RATE(
        seconds, codec_bench_read_value(&value, (const char *)encoded, encoded_len));
    if (encode < 0 || decode < 0 || write < 0 || read < 0) {
        fprintf(stderr, "%s: an operation failed during the run\n", type);
        goto out;
    }
    printf("{\"type\": \"%s\", \"bytes\": %zu, \"encode\": %.0f, \"decode\": %.0f, "
           "\"avro_write\": %.0f, \"avro_read\": %.0f}\n",
           type, encoded_len, encode, decode, write, read);
    fflush(stdout);
    rc = 0;
out:
    if (have_value)
        avro_value_decref(&value);
    if (iface)
        avro_value_iface_decref(iface);
    free(buffer);
    free(encoded);
    json_decref(event);
    free(event_text);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s SCHEMAS_DIR DATA_DIR [SECONDS_PER_FIGURE]\n", argv[0]);
        return 2;
    }
    double seconds = argc == 4 ? atof(argv[3]) : 1.0;
    if (seconds <= 0)
        seconds = 1.0;
    char errstr[512];
    struct catalogue *catalogue = NULL;
    if (catalogue_load(argv[1], &catalogue, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], errstr);
        return 1;
    }
    static const char *const types[] = {"admission", "discharge", "referral", "employment-support"};
    int failed = 0;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        failed |= codec_bench_type(catalogue, argv[2], types[i], seconds) != 0;
    catalogue_destroy(catalogue);
    return failed ? 1 : 0;
}
