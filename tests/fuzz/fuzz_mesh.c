/*
 * fuzz_mesh.c - everything placehub does with MESH's answers, which come
 * from the network (lib/core/mesh.c): the message id of a send, an inbox
 * listing, a mex-Chunk-Range value, an error's words, and the header lines
 * of a download (the input cut at each LF). Each must refuse or
 * accept, never crash, over-read or leak; what they accept must be safe in a
 * URL path, a header line and a log line.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mesh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_plain_id(const char *id)
{
    if (!mesh_message_id_valid(id))
        abort();
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char id[MESH_MESSAGE_ID_MAX], ids[8][MESH_MESSAGE_ID_MAX], words[160];
    if (mesh_send_answer_parse(body, size, id, sizeof id) == 0)
        fuzz_plain_id(id);
    int count = mesh_inbox_parse(body, size, ids, 8);
    if (count > 8)
        abort();
    for (int i = 0; i < count; i++)
        fuzz_plain_id(ids[i]);
    mesh_error_describe(body, size, words, sizeof words);
    for (const char *p = words; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
    struct mesh_message_headers headers = {0};
    for (size_t start = 0, i = 0; i <= size; i++)
        if (i == size || data[i] == '\n') {
            mesh_header_line(&headers, body + start, i - start);
            start = i + 1;
        }
    const char *fields[] = {
        headers.from,     headers.to,           headers.workflow_id, headers.subject,
        headers.local_id, headers.message_type, headers.chunk_range, headers.content_encoding};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        for (const char *p = fields[i]; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                abort(); /* kept values are safe in a log line and a header */
    /* As a header value: NUL-terminated, at most 64 bytes. */
    char range[65];
    size_t len = size < sizeof range - 1 ? size : sizeof range - 1;
    memcpy(range, data, len);
    range[len] = '\0';
    unsigned chunk = 0, total = 0;
    if (mesh_chunk_range_parse(range, 1000, &chunk, &total) == 0 &&
        (chunk < 1 || chunk > total || total > 1000))
        abort();
    return 0;
}
