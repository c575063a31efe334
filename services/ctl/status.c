/*
 * status.c - `placehub-ctl status`: the hub at a glance. Brokers and topics
 * from Kafka's metadata; each partner's lag from its consumer group's
 * committed offsets against the topics' end offsets; outstanding dead
 * letters from the dead-letter topic; circuit states and suppressions (by
 * reason) from dispatch's /metrics (operations.dispatch_listen), when it is
 * configured and up.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char status_help[] =
    "Usage: placehub-ctl status [--max-lag N] [--json]\n"
    "\n"
    "The hub at a glance:\n"
    "  - brokers, and each topic's partitions and end offsets (messages written);\n"
    "  - per partner: its consumer group, committed offsets, lag (events written\n"
    "    to its topics and not yet settled: delivered, suppressed or dead-lettered),\n"
    "    outstanding dead letters, and, as dispatch reports them on\n"
    "    operations.dispatch_listen (\"unknown\" when dispatch is not reachable),\n"
    "    its circuit (closed, open, half-open) and the events withheld from it under\n"
    "    the agreements since dispatch started (suppressed, by reason).\n"
    "A partner NEEDS ATTENTION when its lag exceeds --max-lag, it has outstanding\n"
    "dead letters, or its circuit is not closed. Next steps: docs/operations.md.\n"
    "\n"
    "Options:\n"
    "      --max-lag N      lag above which a partner needs attention (default 1000)\n"
    "      --json           one JSON document\n"
    "  -c, --config FILE    configuration (default config/placehub.yaml)\n"
    "  -h, --help           this text\n"
    "\n"
    "Exit codes: 0 all well, 1 error (e.g. broker unreachable), 2 bad command line,\n"
    "3 a partner needs attention.\n";

struct status_buffer {
    char *data;
    size_t len;
};

static size_t status_write(char *data, size_t size, size_t count, void *opaque)
{
    struct status_buffer *buffer = opaque;
    size_t len = size * count;
    if (buffer->len + len > (4u << 20))
        return 0;
    char *grown = realloc(buffer->data, buffer->len + len + 1);
    if (!grown)
        return 0;
    memcpy(grown + buffer->len, data, len);
    buffer->data = grown;
    buffer->len += len;
    grown[buffer->len] = '\0';
    return len;
}

/* The operations token from operations.token_file, or "" when none. */
static void status_token(const struct config *config, char *token, size_t token_size)
{
    char path[1024];
    token[0] = '\0';
    if (!config->operations.token_file ||
        config_resolve_path(config, config->operations.token_file, path, sizeof path) != 0)
        return;
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    if (fgets(token, (int)token_size, file))
        token[strcspn(token, "\r\n")] = '\0';
    fclose(file);
}

/* What dispatch's operations port answers on path (/metrics, /partners:
 * caller frees), or NULL when unreachable. */
static char *status_dispatch_get(const struct config *config, const char *path)
{
    if (!config->operations.dispatch_listen)
        return NULL;
    char url[512], token[512], header[600];
    snprintf(url, sizeof url, "http://%s%s", config->operations.dispatch_listen, path);
    status_token(config, token, sizeof token);
    struct status_buffer buffer = {0};
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    if (!easy)
        return NULL;
    if (token[0]) {
        snprintf(header, sizeof header, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, header);
    }
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, status_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &buffer);
    long code = 0;
    if (curl_easy_perform(easy) != CURLE_OK ||
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200) {
        free(buffer.data);
        buffer.data = NULL;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    return buffer.data;
}

/* The circuit state dispatch reports for partner: "closed", "open",
 * "half-open", or "unknown". */
static const char *status_circuit(const char *metrics, const char *partner)
{
    if (!metrics)
        return "unknown";
    char prefix[300];
    snprintf(prefix, sizeof prefix, "placehub_dispatch_circuit_state{partner=\"%s\"} ", partner);
    const char *line = strstr(metrics, prefix);
    if (!line)
        return "unknown";
    int state = atoi(line + strlen(prefix));
    return state == 0 ? "closed" : state == 1 ? "open" : "half-open";
}

/* The value of label name in one series' labels (a="x",b="y", up to end),
 * unescaped into out. Returns 1 when found. */
static int status_label(const char *labels, const char *end, const char *name, char *out,
                        size_t out_size)
{
    size_t name_len = strlen(name);
    for (const char *at = labels; at < end;) {
        const char *equals = memchr(at, '=', (size_t)(end - at));
        if (!equals || equals + 1 >= end || equals[1] != '"')
            return 0;
        int wanted = (size_t)(equals - at) == name_len && strncmp(at, name, name_len) == 0;
        size_t used = 0;
        const char *c = equals + 2;
        for (; c < end && *c != '"'; c++) {
            char ch = *c;
            if (ch == '\\' && c + 1 < end)
                ch = *++c == 'n' ? '\n' : *c;
            if (wanted && used + 1 < out_size)
                out[used++] = ch;
        }
        if (wanted) {
            out[used] = '\0';
            return 1;
        }
        at = c + 1 < end && c[1] == ',' ? c + 2 : end;
    }
    return 0;
}

/* Events dispatch withheld from partner, {"reason": count, ...}, from its
 * placehub_dispatch_suppressed_total series; NULL when metrics is NULL. */
static json_t *status_suppressed(const char *metrics, const char *partner)
{
    static const char prefix[] = "placehub_dispatch_suppressed_total{";
    if (!metrics)
        return NULL;
    json_t *reasons = json_object();
    for (const char *line = metrics; line && *line;) {
        const char *next = strchr(line, '\n');
        const char *close = strstr(line, "} ");
        char who[256], reason[64];
        if (strncmp(line, prefix, sizeof prefix - 1) == 0 && close && (!next || close < next) &&
            status_label(line + sizeof prefix - 1, close, "partner", who, sizeof who) &&
            strcmp(who, partner) == 0 &&
            status_label(line + sizeof prefix - 1, close, "reason", reason, sizeof reason)) {
            json_int_t count = json_integer_value(json_object_get(reasons, reason));
            json_object_set_new(reasons, reason, json_integer(count + atoll(close + 2)));
        }
        line = next ? next + 1 : NULL;
    }
    return reasons;
}

/* Reads --max-lag. Returns 0, or the exit code after a message. */
static int status_parse_options(struct ctl *ctl, int argc, char **argv, long long *max_lag)
{
    enum { MAX_LAG = 1000 };
    static const struct option options[] = {
        CTL_COMMON_LONG, {"max-lag", required_argument, NULL, MAX_LAG}, {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long(argc, argv, CTL_COMMON_SHORT, options, NULL)) != -1) {
        if (option == MAX_LAG) {
            char *end;
            *max_lag = strtoll(optarg, &end, 10);
            if (*end || *max_lag < 0) {
                fprintf(stderr, "placehub-ctl status: --max-lag must be a count\n");
                return CTL_EXIT_USAGE;
            }
        } else {
            ctl_common_option(ctl, option, status_help);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "placehub-ctl status: unexpected argument '%s'\n", argv[optind]);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* One topic's row into topics and its end offsets (one per partition, -1
 * when unknown) into ends under its name. found NULL: the topic does not
 * exist. */
static void status_topic(rd_kafka_t *consumer, const char *name,
                         const struct rd_kafka_metadata_topic *found, json_t *topics, json_t *ends)
{
    json_t *highs = json_array();
    long long total = 0;
    for (int p = 0; found && p < found->partition_cnt; p++) {
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(consumer, name, p, &low, &high, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            high = -1;
        json_array_append_new(highs, json_integer(high));
        total += high > 0 ? high : 0;
    }
    json_object_set_new(ends, name, highs);
    json_array_append_new(
        topics, json_pack("{s:s,s:b,s:i,s:I}", "topic", name, "exists", found != NULL, "partitions",
                          found ? found->partition_cnt : 0, "end_offsets", (json_int_t)total));
}

/* End offsets of every topic the hub uses: the declared ones, then its own
 * (dead letters, audit). Returns 0 or -1 with errstr. */
static int status_topics(rd_kafka_t *consumer, const struct config *config,
                         const struct rd_kafka_metadata *metadata, json_t *topics, json_t *ends,
                         char *errstr, size_t errstr_size)
{
    size_t names_count = config->topic_count + 2;
    const char **names = calloc(names_count, sizeof *names);
    if (!names) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < config->topic_count; i++)
        names[i] = config->topics[i].name;
    names[config->topic_count] = config->dispatch.dead_letter_topic;
    names[config->topic_count + 1] = config->dispatch.audit_topic;
    for (size_t i = 0; i < names_count; i++) {
        const struct rd_kafka_metadata_topic *found = NULL;
        for (int t = 0; t < metadata->topic_cnt && !found; t++)
            if (strcmp(metadata->topics[t].topic, names[i]) == 0)
                found = &metadata->topics[t];
        status_topic(consumer, names[i], found, topics, ends);
    }
    free(names);
    return 0;
}

/* The partner's committed offsets and lag on its topics, read as its
 * consumer group (reader). Returns 1 when known, 0 when the broker did not
 * say. */
static int status_committed(rd_kafka_t *reader, const struct config_partner *partner,
                            const json_t *ends, long long *committed, long long *lag)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < partner->topic_count; t++) {
        json_t *highs = json_object_get(ends, partner->topics[t]);
        for (size_t p = 0; p < json_array_size(highs); p++)
            rd_kafka_topic_partition_list_add(list, partner->topics[t], (int32_t)p);
    }
    *committed = 0;
    *lag = 0;
    int known = rd_kafka_committed(reader, list, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int e = 0; known && e < list->cnt; e++) {
        rd_kafka_topic_partition_t *entry = &list->elems[e];
        json_int_t high = json_integer_value(
            json_array_get(json_object_get(ends, entry->topic), (size_t)entry->partition));
        long long at = entry->offset >= 0 ? entry->offset : 0;
        *committed += at;
        *lag += high > at ? high - at : 0;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return known;
}

/* The row of one partner delivered to, and whether it needs attention.
 * Returns the row, or NULL with errstr. */
static json_t *status_partner(const struct config *config, const struct config_partner *partner,
                              const json_t *ends, const json_t *dead, const char *metrics,
                              long long max_lag, int *needs, char *errstr, size_t errstr_size)
{
    char group[300];
    snprintf(group, sizeof group, "%s.%s", config->dispatch.group_prefix, partner->id);
    rd_kafka_t *reader = ctl_consumer(config, group, errstr, errstr_size);
    if (!reader)
        return NULL;
    long long committed, lag;
    int known = status_committed(reader, partner, ends, &committed, &lag);
    rd_kafka_destroy(reader);
    json_int_t dead_letters = json_integer_value(json_object_get(dead, partner->id));
    const char *circuit = status_circuit(metrics, partner->id);
    *needs = !known || lag > max_lag || dead_letters > 0 ||
             (strcmp(circuit, "closed") != 0 && strcmp(circuit, "unknown") != 0);
    json_t *topic_list = json_array();
    for (size_t t = 0; t < partner->topic_count; t++)
        json_array_append_new(topic_list, json_string(partner->topics[t]));
    json_t *row = json_pack("{s:s,s:s,s:o,s:I,s:s,s:I,s:s,s:b}", "partner", partner->id, "group",
                            group, "topics", topic_list, "committed", (json_int_t)committed, "lag",
                            known ? "" : "unknown", "dead_letters", dead_letters, "circuit",
                            circuit, "attention", *needs);
    if (known)
        json_object_set_new(row, "lag", json_integer(lag));
    json_object_set_new(row, "lag_over_limit", json_boolean(!known || lag > max_lag));
    /* null when dispatch did not answer: unknown, not none. */
    json_t *suppressed = status_suppressed(metrics, partner->id);
    json_object_set_new(row, "suppressed", suppressed ? suppressed : json_null());
    return row;
}

/* Adds dispatch's view of the partner (GET /partners): its state, and the
 * last error and when, which the log alone held before. */
static void status_partner_state(json_t *row, const json_t *states, int *needs)
{
    const char *id = json_string_value(json_object_get(row, "partner"));
    size_t i;
    json_t *state;
    json_array_foreach(json_object_get(states, "partners"), i, state)
    {
        if (!json_is_string(json_object_get(state, "id")) ||
            strcmp(json_string_value(json_object_get(state, "id")), id) != 0)
            continue;
        for (const char *const *key =
                 (const char *const[]){"state", "last_error", "last_error_at", NULL};
             *key; key++)
            json_object_set(row, *key, json_object_get(state, *key));
        json_object_set(row, "retrying", json_object_get(state, "retrying_total"));
        if (json_is_true(json_object_get(state, "paused"))) {
            *needs = 1;
            json_object_set_new(row, "attention", json_true());
        }
    }
}

static void status_print_topics(const json_t *brokers, const json_t *topics)
{
    printf("Brokers:");
    size_t i;
    json_t *row;
    json_array_foreach(brokers, i, row)
        printf(" %lld at %s:%lld", (long long)json_integer_value(json_object_get(row, "id")),
               json_string_value(json_object_get(row, "host")),
               (long long)json_integer_value(json_object_get(row, "port")));
    printf("\n\n");
    static const char *const topic_headings[] = {"TOPIC", "PARTITIONS", "END OFFSETS"};
    struct table *table = table_new(3, topic_headings);
    json_array_foreach(topics, i, row)
    {
        char partitions[16], total[32];
        int exists = json_is_true(json_object_get(row, "exists"));
        snprintf(partitions, sizeof partitions, "%lld",
                 (long long)json_integer_value(json_object_get(row, "partitions")));
        snprintf(total, sizeof total, "%lld",
                 (long long)json_integer_value(json_object_get(row, "end_offsets")));
        const char *cells[] = {json_string_value(json_object_get(row, "topic")),
                               exists ? partitions : "missing", exists ? total : NULL};
        table_add(table, cells);
    }
    table_print(table, stdout);
    printf("\n");
}

/* "5 (objection 3, no_agreement 2)", "0", or "unknown" into out. */
static void status_format_suppressed(const json_t *reasons, char *out, size_t out_size)
{
    if (!json_is_object(reasons)) {
        snprintf(out, out_size, "unknown");
        return;
    }
    long long sum = 0;
    const char *reason;
    json_t *count;
    json_object_foreach((json_t *)reasons, reason, count) sum += json_integer_value(count);
    int used = snprintf(out, out_size, "%lld", sum);
    const char *separator = " (";
    json_object_foreach((json_t *)reasons, reason, count)
    {
        if (used < 0 || (size_t)used >= out_size || !json_integer_value(count))
            continue;
        used += snprintf(out + used, out_size - (size_t)used, "%s%s %lld", separator, reason,
                         (long long)json_integer_value(count));
        separator = ", ";
    }
    if (used >= 0 && (size_t)used < out_size && separator[0] == ',')
        snprintf(out + used, out_size - (size_t)used, ")");
}

static void status_print_partners(const json_t *partners)
{
    static const char *const partner_headings[] = {"PARTNER", "LAG",   "DEAD LETTERS", "SUPPRESSED",
                                                   "CIRCUIT", "STATE", "GROUP"};
    struct table *table = table_new(7, partner_headings);
    size_t i;
    json_t *row;
    json_array_foreach(partners, i, row)
    {
        char lag[32], dead_letters[32], suppressed[256];
        json_t *lag_value = json_object_get(row, "lag");
        if (json_is_integer(lag_value))
            snprintf(lag, sizeof lag, "%lld", (long long)json_integer_value(lag_value));
        else
            snprintf(lag, sizeof lag, "unknown");
        snprintf(dead_letters, sizeof dead_letters, "%lld",
                 (long long)json_integer_value(json_object_get(row, "dead_letters")));
        status_format_suppressed(json_object_get(row, "suppressed"), suppressed, sizeof suppressed);
        const char *cells[] = {json_string_value(json_object_get(row, "partner")),
                               lag,
                               dead_letters,
                               suppressed,
                               json_string_value(json_object_get(row, "circuit")),
                               json_is_true(json_object_get(row, "attention")) ? "NEEDS ATTENTION"
                                                                               : "ok",
                               json_string_value(json_object_get(row, "group"))};
        table_add(table, cells);
    }
    table_print(table, stdout);
}

/* For each partner that needs attention, why and what to do. */
static void status_print_next(const json_t *partners)
{
    size_t i;
    json_t *row;
    printf("\n");
    json_array_foreach(partners, i, row)
    {
        if (!json_is_true(json_object_get(row, "attention")))
            continue;
        const char *id = json_string_value(json_object_get(row, "partner"));
        const char *state = json_string_value(json_object_get(row, "state"));
        const char *circuit = json_string_value(json_object_get(row, "circuit"));
        const char *error = json_string_value(json_object_get(row, "last_error"));
        const char *error_at = json_string_value(json_object_get(row, "last_error_at"));
        if (state && strcmp(state, "paused") == 0)
            printf("%s: paused by an operator; resume it in the console or with POST "
                   "/partners/%s/resume on dispatch's operations port.\n",
                   id, id);
        if (circuit && strcmp(circuit, "closed") != 0 && strcmp(circuit, "unknown") != 0)
            printf("%s: circuit %s; last error: %s%s%s. Once the partner answers again, "
                   "\"probe now\" in the console (or POST /partners/%s/probe) closes it at once.\n",
                   id, circuit, error ? error : "not known (dispatch did not say)",
                   error_at ? " at " : "", error_at ? error_at : "", id);
        if (json_integer_value(json_object_get(row, "dead_letters")) > 0)
            printf("%s: dead letters outstanding: `placehub-ctl dlq list --partner %s` shows "
                   "why; redrive once fixed.\n",
                   id, id);
        if (json_is_true(json_object_get(row, "lag_over_limit")))
            printf("%s: lag %s: is dispatch running and the partner answering? (the console's "
                   "overview shows its lag over the last hour)\n",
                   id, json_is_integer(json_object_get(row, "lag")) ? "over the limit" : "unknown");
    }
    printf("docs/operations.md says what to do in each case.\n");
}

/* The report as text: brokers, topics, partners, then what to do next. */
static void status_print(const json_t *report, int attention)
{
    status_print_topics(json_object_get(report, "brokers"), json_object_get(report, "topics"));
    status_print_partners(json_object_get(report, "partners"));
    if (json_object_get(report, "dead_letter_error"))
        printf("\n(dead letters not counted: %s)\n",
               json_string_value(json_object_get(report, "dead_letter_error")));
    if (attention)
        status_print_next(json_object_get(report, "partners"));
}

int ctl_status(struct ctl *ctl, int argc, char **argv)
{
    long long max_lag = 1000;
    int rc = status_parse_options(ctl, argc, argv, &max_lag);
    if (rc != 0)
        return rc;
    if (ctl_load(ctl) != 0)
        return CTL_EXIT_ERROR;
    const struct config *config = ctl->config;
    char errstr[1024];
    rc = CTL_EXIT_ERROR;
    json_t *report = json_object(), *brokers = json_array(), *topics = json_array(),
           *partners = json_array(), *dead = json_object();
    json_object_set_new(report, "brokers", brokers);
    json_object_set_new(report, "topics", topics);
    json_object_set_new(report, "partners", partners);
    json_t *ends = json_object(); /* "topic" -> [high per partition] */
    json_object_set_new(report, "_ends", ends);
    char *metrics = NULL;
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_t *consumer = ctl_consumer(config, NULL, errstr, sizeof errstr);
    if (!consumer)
        goto fail;
    rd_kafka_resp_err_t err = rd_kafka_metadata(consumer, 1, NULL, &metadata, 10000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, sizeof errstr, "cannot reach the brokers at %s: %s",
                 config->kafka.bootstrap_servers, rd_kafka_err2str(err));
        goto fail;
    }
    for (int i = 0; i < metadata->broker_cnt; i++)
        json_array_append_new(brokers, json_pack("{s:i,s:s,s:i}", "id", metadata->brokers[i].id,
                                                 "host", metadata->brokers[i].host, "port",
                                                 metadata->brokers[i].port));
    if (status_topics(consumer, config, metadata, topics, ends, errstr, sizeof errstr) != 0)
        goto fail;

    if (dlq_outstanding(ctl, dead, errstr, sizeof errstr) != 0)
        json_object_set_new(report, "dead_letter_error", json_string(errstr));
    metrics = status_dispatch_get(config, "/metrics");
    char *states_text = metrics ? status_dispatch_get(config, "/partners") : NULL;
    json_t *states = states_text ? json_loads(states_text, 0, NULL) : NULL;
    free(states_text);
    int attention = 0;
    for (size_t i = 0; i < config->partner_count; i++) {
        const struct config_partner *partner = &config->partners[i];
        if (!partner->connector)
            continue; /* publishes only: nothing is delivered to it */
        int needs = 0;
        json_t *row = status_partner(config, partner, ends, dead, metrics, max_lag, &needs, errstr,
                                     sizeof errstr);
        if (!row) {
            json_decref(states);
            goto fail;
        }
        status_partner_state(row, states, &needs);
        attention |= needs;
        json_array_append_new(partners, row);
    }
    json_object_del(report, "_ends");
    json_decref(states);

    if (ctl->json)
        output_json_line(json_incref(report));
    else
        status_print(report, attention);
    rc = attention ? CTL_EXIT_ATTENTION : CTL_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "placehub-ctl status: %s\n", errstr);
out:
    free(metrics);
    if (metadata)
        rd_kafka_metadata_destroy(metadata);
    if (consumer)
        rd_kafka_destroy(consumer);
    json_decref(dead);
    json_decref(report);
    return rc;
}
