/*
 * partner_sim_records.c - what the simulated partner received: each partner
 * request recorded as JSON text (serialised once on arrival, without its
 * sequence number, so listing is a copy even with a million records held),
 * a ring capped at max_records, the counters of /_sim/stats and
 * /_sim/requests. Guarded by store_lock.
 */
#include "partner_sim_internal.h"

#include "schema/codec.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Strict unsigned decimal: no sign, no spaces, no trailing text. */
static int partner_sim_parse_u64(const char *text, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long parsed = strtoull(text, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return -1;
    *value = (uint64_t)parsed;
    return 0;
}

static char *partner_sim_base64(const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

struct partner_sim_collect {
    json_t *object;
    char *text; /* for the query string */
    size_t len;
    size_t capacity;
    bool failed;
};

/* Repeated headers are joined with ", " as HTTP allows. */
static enum MHD_Result partner_sim_collect_header(void *cls, enum MHD_ValueKind kind,
                                                  const char *key, const char *value)
{
    struct partner_sim_collect *collect = cls;
    (void)kind;
    if (!key || !value)
        return MHD_YES;
    json_t *previous = json_object_get(collect->object, key);
    if (!previous) {
        /* Not valid UTF-8: json_string refuses it, and the header is left out
         * rather than written as invalid JSON. */
        json_object_set_new(collect->object, key, json_string(value));
        return MHD_YES;
    }
    size_t previous_len = json_string_length(previous);
    size_t value_len = strlen(value);
    char *joined = malloc(previous_len + 2 + value_len + 1);
    if (!joined)
        return MHD_YES;
    memcpy(joined, json_string_value(previous), previous_len);
    memcpy(joined + previous_len, ", ", 2);
    memcpy(joined + previous_len + 2, value, value_len + 1);
    json_object_set_new(collect->object, key, json_string(joined));
    free(joined);
    return MHD_YES;
}

static void partner_sim_collect_append(struct partner_sim_collect *collect, const char *data,
                                       size_t len)
{
    if (collect->failed)
        return;
    if (collect->len + len + 1 > collect->capacity) {
        size_t capacity = collect->capacity ? collect->capacity : 128;
        while (capacity < collect->len + len + 1)
            capacity *= 2;
        char *grown = realloc(collect->text, capacity);
        if (!grown) {
            collect->failed = true;
            return;
        }
        collect->text = grown;
        collect->capacity = capacity;
    }
    memcpy(collect->text + collect->len, data, len);
    collect->len += len;
    collect->text[collect->len] = '\0';
}

static void partner_sim_collect_encoded(struct partner_sim_collect *collect, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            partner_sim_collect_append(collect, (const char *)p, 1);
        } else {
            char escaped[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            partner_sim_collect_append(collect, escaped, sizeof escaped);
        }
    }
}

/* httpd hands over the decoded arguments only, so the query string is
 * rebuilt from them: same names, values and order, percent-encoded anew. */
static enum MHD_Result partner_sim_collect_argument(void *cls, enum MHD_ValueKind kind,
                                                    const char *key, const char *value)
{
    struct partner_sim_collect *collect = cls;
    (void)kind;
    if (!key)
        return MHD_YES;
    if (collect->len > 0)
        partner_sim_collect_append(collect, "&", 1);
    partner_sim_collect_encoded(collect, key);
    if (value) {
        partner_sim_collect_append(collect, "=", 1);
        partner_sim_collect_encoded(collect, value);
    }
    return MHD_YES;
}

/* Builds the record of request (answered status) as JSON text without its
 * opening brace. Returns a record the caller stores or frees, NULL when out of
 * memory. */
struct partner_sim_record *partner_sim_record_new(const struct httpd_request *request,
                                                  int64_t received_ms, int status, long drip_ms)
{
    struct partner_sim_record *record = NULL;
    char *text = NULL;
    char received_at[32];
    struct partner_sim_collect headers = {.object = json_object()};
    struct partner_sim_collect query = {0};
    json_t *json = json_object();
    if (!json || !headers.object)
        goto out;

    codec_timestamp_format(received_ms, received_at, sizeof received_at);
    /* httpd.c: request->connection is the libmicrohttpd connection. httpd.h
     * has no call to list all headers or the raw query, which this recorder
     * needs, so it asks libmicrohttpd directly. */
    struct MHD_Connection *connection = request->connection;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, &partner_sim_collect_header, &headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &partner_sim_collect_argument,
                              &query);
    if (query.failed)
        goto out;

    json_object_set_new(json, "received_at", json_string(received_at));
    json_object_set_new(json, "method", json_string(request->method));
    json_object_set_new(json, "path", json_string(request->path));
    json_object_set_new(json, "query", json_string(query.text ? query.text : ""));
    json_object_set_new(json, "headers", headers.object);
    headers.object = NULL;
    json_object_set_new(json, "status", json_integer(status));
    if (drip_ms > 0)
        json_object_set_new(json, "drip_ms", json_integer(drip_ms));

    json_t *body = json_stringn(request->body, request->body_len);
    if (body) {
        json_object_set_new(json, "body", body);
    } else {
        /* Not UTF-8 text: JSON strings cannot carry it, base64 can. */
        char *encoded = partner_sim_base64((const unsigned char *)request->body, request->body_len);
        if (!encoded)
            goto out;
        json_object_set_new(json, "body", json_null());
        json_object_set_new(json, "body_base64", json_string(encoded));
        free(encoded);
    }
    if (request->body_len > 0) {
        json_t *parsed = json_loadb(request->body, request->body_len, JSON_DECODE_ANY, NULL);
        if (parsed)
            json_object_set_new(json, "json", parsed);
    }

    text = json_dumps(json, JSON_COMPACT);
    if (!text || text[0] != '{')
        goto out;
    size_t len = strlen(text + 1);
    record = malloc(sizeof *record + len + 1);
    if (!record)
        goto out;
    record->seq = 0;
    record->len = len;
    memcpy(record->text, text + 1, len + 1);
out:
    free(text);
    free(query.text);
    json_decref(headers.object);
    json_decref(json);
    return record;
}

/* Stores record (takes ownership) and counts status; assigns the sequence
 * number. Drops the oldest record when the cap is reached. */
void partner_sim_store(struct partner_sim *sim, struct partner_sim_record *record, int status)
{
    pthread_mutex_lock(&sim->store_lock);
    if (status >= 0 && status <= PARTNER_SIM_STATUS_MAX)
        sim->by_status[status]++;
    if (!record) {
        /* Out of memory building it: keep the numbering honest anyway. */
        sim->next_seq++;
        sim->dropped++;
        goto out;
    }
    if (sim->record_count == sim->options->max_records) {
        free(sim->records[sim->record_head]);
        sim->records[sim->record_head] = NULL;
        sim->record_head = (sim->record_head + 1) % sim->record_capacity;
        sim->record_count--;
        sim->dropped++;
    }
    if (sim->record_count == sim->record_capacity) {
        /* Grow by doubling up to the cap, unrolling the ring into the front
         * of the new array. */
        size_t capacity = sim->record_capacity ? sim->record_capacity * 2 : 1024;
        if (capacity > sim->options->max_records)
            capacity = sim->options->max_records;
        struct partner_sim_record **grown = malloc(capacity * sizeof *grown);
        if (!grown) {
            free(record);
            sim->next_seq++;
            sim->dropped++;
            goto out;
        }
        for (size_t i = 0; i < sim->record_count; i++)
            grown[i] = sim->records[(sim->record_head + i) % sim->record_capacity];
        free(sim->records);
        sim->records = grown;
        sim->record_capacity = capacity;
        sim->record_head = 0;
    }
    record->seq = sim->next_seq++;
    sim->records[(sim->record_head + sim->record_count) % sim->record_capacity] = record;
    sim->record_count++;
out:
    pthread_mutex_unlock(&sim->store_lock);
}

void partner_sim_store_clear_locked(struct partner_sim *sim)
{
    for (size_t i = 0; i < sim->record_count; i++)
        free(sim->records[(sim->record_head + i) % sim->record_capacity]);
    free(sim->records);
    sim->records = NULL;
    sim->record_capacity = 0;
    sim->record_head = 0;
    sim->record_count = 0;
    sim->next_seq = 1;
    sim->dropped = 0;
    memset(sim->by_status, 0, sizeof sim->by_status);
    sim->tokens_issued = 0;
    sim->token_requests_refused = 0;
}

/* {"count":N,"dropped":D,"requests":[...]}: the records with seq > since, at
 * most limit of them, oldest first. Returns malloc'd text or NULL. */
static char *partner_sim_store_list(struct partner_sim *sim, uint64_t since, uint64_t limit,
                                    size_t *out_len)
{
    char *text = NULL;
    pthread_mutex_lock(&sim->store_lock);
    uint64_t recorded = sim->next_seq - 1;
    /* Sequence numbers of held records are contiguous, which makes finding
     * the first one after since an index computation. */
    uint64_t first_seq = sim->next_seq - sim->record_count;
    size_t start = 0;
    if (since >= first_seq)
        start = since - first_seq + 1 > sim->record_count ? sim->record_count
                                                          : (size_t)(since - first_seq + 1);
    size_t count = sim->record_count - start;
    if (count > limit)
        count = (size_t)limit;

    size_t size = 96 + 2;
    for (size_t i = 0; i < count; i++) {
        const struct partner_sim_record *record =
            sim->records[(sim->record_head + start + i) % sim->record_capacity];
        size += 32 + record->len;
    }
    text = malloc(size);
    if (!text)
        goto out;
    int n = snprintf(text, size, "{\"count\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"requests\":[",
                     recorded, sim->dropped);
    size_t len = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < count; i++) {
        const struct partner_sim_record *record =
            sim->records[(sim->record_head + start + i) % sim->record_capacity];
        n = snprintf(text + len, size - len, "%s{\"seq\":%" PRIu64 ",", i ? "," : "", record->seq);
        len += n > 0 ? (size_t)n : 0;
        memcpy(text + len, record->text, record->len);
        len += record->len;
    }
    memcpy(text + len, "]}", 3);
    len += 2;
    *out_len = len;
out:
    pthread_mutex_unlock(&sim->store_lock);
    return text;
}

json_t *partner_sim_stats_to_json(struct partner_sim *sim)
{
    json_t *by_status = json_object();
    pthread_mutex_lock(&sim->store_lock);
    for (int status = 0; status <= PARTNER_SIM_STATUS_MAX; status++) {
        if (sim->by_status[status] == 0)
            continue;
        char key[8];
        snprintf(key, sizeof key, "%d", status);
        json_object_set_new(by_status, key, json_integer((json_int_t)sim->by_status[status]));
    }
    json_t *stats =
        json_pack("{s:s,s:I,s:I,s:I,s:I,s:o,s:I,s:I}", "name", sim->options->name, "recorded",
                  (json_int_t)(sim->next_seq - 1), "held", (json_int_t)sim->record_count, "dropped",
                  (json_int_t)sim->dropped, "max_records", (json_int_t)sim->options->max_records,
                  "by_status", by_status, "tokens_issued", (json_int_t)sim->tokens_issued,
                  "token_requests_refused", (json_int_t)sim->token_requests_refused);
    pthread_mutex_unlock(&sim->store_lock);
    return stats;
}

void partner_sim_handle_requests(struct partner_sim *sim, const struct httpd_request *request,
                                 struct httpd_response *response)
{
    if (strcmp(request->method, "DELETE") == 0) {
        pthread_mutex_lock(&sim->store_lock);
        partner_sim_store_clear_locked(sim);
        pthread_mutex_unlock(&sim->store_lock);
        httpd_response_json(response, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (strcmp(request->method, "GET") != 0) {
        partner_sim_method_not_allowed(response, "GET, DELETE");
        return;
    }
    uint64_t since = 0;
    uint64_t limit = PARTNER_SIM_LIST_DEFAULT_LIMIT;
    const char *text = httpd_request_query(request, "since");
    if (text && partner_sim_parse_u64(text, &since) != 0) {
        httpd_response_error(response, 400, "invalid_query", "since",
                             "since must be a sequence number (0 or more)");
        return;
    }
    text = httpd_request_query(request, "limit");
    if (text && partner_sim_parse_u64(text, &limit) != 0) {
        httpd_response_error(response, 400, "invalid_query", "limit",
                             "limit must be a number (0 or more)");
        return;
    }
    size_t len = 0;
    char *list = partner_sim_store_list(sim, since, limit, &len);
    if (!list) {
        httpd_response_error(response, 500, "out_of_memory", NULL, "cannot list requests");
        return;
    }
    /* Handed over as is: the list can be large, copying it again is waste. */
    free(response->body);
    response->status = 200;
    response->body = list;
    response->body_len = len;
    snprintf(response->content_type, sizeof response->content_type, "application/json");
}
