/*
 * metrics.c - the process's Prometheus metrics (see metrics.h).
 *
 * A small open hash of series under one mutex: a count is a lookup and an
 * add, cheap next to a delivery. Each metric name has its type and help
 * text in the table below; a name not there is exported as untyped.
 */
#include "net/metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/kafka.h"
#include "kafka/producer.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

static const struct {
    const char *name;
    enum metric_type type;
    const char *help;
} metrics_known[] = {
    {"placehub_dispatch_events_in_total", METRIC_COUNTER,
     "Events dispatch took from a topic for a partner."},
    {"placehub_dispatch_events_out_total", METRIC_COUNTER,
     "Final outcomes per partner and topic: delivered, suppressed or dead_lettered."},
    {"placehub_dispatch_suppressed_total", METRIC_COUNTER,
     "Events withheld from a partner under the agreements, per reason: no_agreement, "
     "condition, restricted, objection, not_disclosed (other: a reason this build does not "
     "know)."},
    {"placehub_dispatch_delivery_latency_seconds", METRIC_HISTOGRAM,
     "From the event's Kafka timestamp to its final outcome."},
    {"placehub_dispatch_retries_total", METRIC_COUNTER, "Failed attempts that will be retried."},
    {"placehub_dispatch_dead_letters_total", METRIC_COUNTER,
     "Events written to the dead-letter topic."},
    {"placehub_dispatch_circuit_state", METRIC_GAUGE,
     "A partner's circuit: 0 closed, 1 open, 2 half-open."},
    {"placehub_dispatch_partner_paused", METRIC_GAUGE,
     "1 while an operator has paused a partner (POST /partners/{id}/pause), else 0."},
    {"placehub_dispatch_consumer_lag", METRIC_GAUGE,
     "Events on a partner's topic not yet consumed (librdkafka statistics)."},
    {"placehub_ingest_requests_total", METRIC_COUNTER,
     "Ingest requests per topic and outcome: accepted, rejected, unavailable."},
    {"placehub_ingest_events_total", METRIC_COUNTER,
     "Events acknowledged by the broker per topic (a batch counts each of its events)."},
    {"placehub_mllp_messages_total", METRIC_COUNTER,
     "HL7 messages per outcome: accepted (AA), rejected (AR), error (AE)."},
    {"placehub_kafka_queued_messages", METRIC_GAUGE,
     "Messages waiting in librdkafka's queues (msg_cnt)."},
    {"placehub_kafka_transmitted_messages_total", METRIC_COUNTER,
     "Messages sent to brokers (txmsgs)."},
    {"placehub_kafka_received_messages_total", METRIC_COUNTER,
     "Messages received from brokers (rxmsgs)."},
    {"placehub_kafka_broker_rtt_seconds", METRIC_GAUGE,
     "Average round-trip time to each broker (rtt.avg)."},
    {"placehub_kafka_brokers_up", METRIC_GAUGE,
     "A Kafka handle's broker connections in state UP (bootstrap ones included, so one "
     "broker may count twice); 0: no broker reachable."},
};

/* Delivery latency buckets, seconds. */
static const double metrics_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                         1,     2.5,  5,     10,   30,  60,   300};
enum { BUCKETS = sizeof metrics_buckets / sizeof metrics_buckets[0] };

struct series {
    char *name;
    char *labels;
    enum metric_type type;
    double value; /* counter, gauge; histogram: sum */
    uint64_t count;
    uint64_t buckets[BUCKETS];
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series **metrics_table;
static size_t metrics_slots, metrics_used;

static uint64_t metrics_hash(const char *name, const char *labels)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const char *c = name; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
    hash = (hash ^ '{') * 1099511628211ULL;
    for (const char *c = labels; *c; c++)
        hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
    return hash;
}

static enum metric_type metrics_type_of(const char *name, enum metric_type fallback)
{
    for (size_t i = 0; i < sizeof metrics_known / sizeof metrics_known[0]; i++)
        if (strcmp(metrics_known[i].name, name) == 0)
            return metrics_known[i].type;
    return fallback;
}

/* The series, created when absent; NULL when out of memory. Lock held. */
static struct series *metrics_find(const char *name, const char *labels, enum metric_type type)
{
    if (metrics_used * 2 >= metrics_slots) {
        size_t slots = metrics_slots ? metrics_slots * 2 : 256;
        struct series **table = calloc(slots, sizeof *table);
        if (!table)
            return NULL;
        for (size_t i = 0; i < metrics_slots; i++) {
            struct series *series = metrics_table[i];
            if (!series)
                continue;
            size_t slot = metrics_hash(series->name, series->labels) & (slots - 1);
            while (table[slot])
                slot = (slot + 1) & (slots - 1);
            table[slot] = series;
        }
        free(metrics_table);
        metrics_table = table;
        metrics_slots = slots;
    }
    size_t slot = metrics_hash(name, labels) & (metrics_slots - 1);
    while (metrics_table[slot]) {
        struct series *series = metrics_table[slot];
        if (strcmp(series->name, name) == 0 && strcmp(series->labels, labels) == 0)
            return series;
        slot = (slot + 1) & (metrics_slots - 1);
    }
    struct series *series = calloc(1, sizeof *series);
    if (!series)
        return NULL;
    series->name = strdup(name);
    series->labels = strdup(labels);
    if (!series->name || !series->labels) {
        free(series->name);
        free(series->labels);
        free(series);
        return NULL;
    }
    series->type = metrics_type_of(name, type);
    metrics_table[slot] = series;
    metrics_used++;
    return series;
}

void metrics_counter_add(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&metrics_lock);
    struct series *series = metrics_find(name, labels, METRIC_COUNTER);
    if (series)
        series->value += value;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_gauge_set(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&metrics_lock);
    struct series *series = metrics_find(name, labels, METRIC_GAUGE);
    if (series)
        series->value = value;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_observe(const char *name, const char *labels, double value)
{
    pthread_mutex_lock(&metrics_lock);
    struct series *series = metrics_find(name, labels, METRIC_HISTOGRAM);
    if (series) {
        series->value += value;
        series->count++;
        for (size_t i = 0; i < BUCKETS; i++)
            if (value <= metrics_buckets[i])
                series->buckets[i]++;
    }
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_label(char *out, size_t out_size, const char *name, const char *value)
{
    size_t used = 0;
    int n = snprintf(out, out_size, "%s=\"", name);
    if (n < 0 || (size_t)n >= out_size) {
        if (out_size)
            out[0] = '\0';
        return;
    }
    used = (size_t)n;
    for (const char *c = value ? value : ""; *c && used + 3 < out_size; c++) {
        if (*c == '\\' || *c == '"') {
            out[used++] = '\\';
            out[used++] = *c;
        } else if (*c == '\n') {
            out[used++] = '\\';
            out[used++] = 'n';
        } else {
            out[used++] = *c;
        }
    }
    out[used++] = '"';
    out[used] = '\0';
}

/* partner="p",topic="t" into out. */
static void metrics_labels2(char *out, size_t out_size, const char *name1, const char *value1,
                            const char *name2, const char *value2)
{
    char first[256], second[256];
    metrics_label(first, sizeof first, name1, value1);
    if (!name2) {
        snprintf(out, out_size, "%s", first);
        return;
    }
    metrics_label(second, sizeof second, name2, value2);
    snprintf(out, out_size, "%s,%s", first, second);
}

struct metrics_text {
    char *data;
    size_t len, cap;
    int failed;
};

static void metrics_append(struct metrics_text *text, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void metrics_append(struct metrics_text *text, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !text->failed; tries++) {
        va_list args;
        va_start(args, fmt);
        int n = vsnprintf(text->data + text->len, text->cap - text->len, fmt, args);
        va_end(args);
        if (n < 0) {
            text->failed = 1;
            return;
        }
        if ((size_t)n < text->cap - text->len) {
            text->len += (size_t)n;
            return;
        }
        size_t cap = text->cap * 2 + (size_t)n + 1;
        char *grown = realloc(text->data, cap);
        if (!grown) {
            text->failed = 1;
            return;
        }
        text->data = grown;
        text->cap = cap;
    }
}

static int metrics_by_name(const void *a, const void *b)
{
    const struct series *left = *(struct series *const *)a, *right = *(struct series *const *)b;
    int order = strcmp(left->name, right->name);
    return order ? order : strcmp(left->labels, right->labels);
}

char *metrics_render(size_t *len)
{
    struct metrics_text text = {malloc(4096), 0, 4096, 0};
    if (!text.data)
        return NULL;
    text.data[0] = '\0';
    pthread_mutex_lock(&metrics_lock);
    struct series **sorted = calloc(metrics_used ? metrics_used : 1, sizeof *sorted);
    size_t count = 0;
    for (size_t i = 0; sorted && i < metrics_slots; i++)
        if (metrics_table[i])
            sorted[count++] = metrics_table[i];
    if (sorted)
        qsort(sorted, count, sizeof *sorted, metrics_by_name);
    const char *previous = "";
    for (size_t i = 0; sorted && i < count; i++) {
        const struct series *series = sorted[i];
        if (strcmp(series->name, previous) != 0) {
            const char *help = NULL;
            for (size_t k = 0; k < sizeof metrics_known / sizeof metrics_known[0]; k++)
                if (strcmp(metrics_known[k].name, series->name) == 0)
                    help = metrics_known[k].help;
            static const char *const types[] = {"counter", "gauge", "histogram"};
            if (help)
                metrics_append(&text, "# HELP %s %s\n", series->name, help);
            metrics_append(&text, "# TYPE %s %s\n", series->name, types[series->type]);
            previous = series->name;
        }
        const char *comma = series->labels[0] ? "," : "";
        if (series->type == METRIC_HISTOGRAM) {
            for (size_t b = 0; b < BUCKETS; b++)
                metrics_append(&text, "%s_bucket{%s%sle=\"%g\"} %llu\n", series->name,
                               series->labels, comma, metrics_buckets[b],
                               (unsigned long long)series->buckets[b]);
            metrics_append(&text, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", series->name, series->labels,
                           comma, (unsigned long long)series->count);
            metrics_append(&text, "%s_sum{%s} %.6f\n", series->name, series->labels, series->value);
            metrics_append(&text, "%s_count{%s} %llu\n", series->name, series->labels,
                           (unsigned long long)series->count);
        } else {
            metrics_append(&text, "%s{%s} %.17g\n", series->name, series->labels, series->value);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    free(sorted);
    if (text.failed) {
        free(text.data);
        return NULL;
    }
    *len = text.len;
    return text.data;
}

void metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < metrics_slots; i++)
        if (metrics_table[i]) {
            free(metrics_table[i]->name);
            free(metrics_table[i]->labels);
            free(metrics_table[i]);
        }
    free(metrics_table);
    metrics_table = NULL;
    metrics_slots = metrics_used = 0;
    pthread_mutex_unlock(&metrics_lock);
}

/* ---- the services' hooks ------------------------------------------------ */

void metrics_dispatch_in(const char *partner, const char *topic)
{
    char labels[512];
    metrics_labels2(labels, sizeof labels, "partner", partner, "topic", topic);
    metrics_counter_add("placehub_dispatch_events_in_total", labels, 1);
}

/* partner="p",topic="t",NAME="value" into out. */
static void metrics_labels3(char *out, size_t out_size, const char *partner, const char *topic,
                            const char *name, const char *value)
{
    char pair[512], third[128];
    metrics_labels2(pair, sizeof pair, "partner", partner, "topic", topic);
    metrics_label(third, sizeof third, name, value);
    snprintf(out, out_size, "%s,%s", pair, third);
}

void metrics_dispatch_start(const char *partner, const char *topic)
{
    static const char *const outcomes[] = {"delivered", "suppressed", "dead_lettered"};
    char labels[700];
    metrics_labels2(labels, sizeof labels, "partner", partner, "topic", topic);
    metrics_counter_add("placehub_dispatch_events_in_total", labels, 0);
    metrics_counter_add("placehub_dispatch_retries_total", labels, 0);
    metrics_counter_add("placehub_dispatch_dead_letters_total", labels, 0);
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        metrics_labels3(labels, sizeof labels, partner, topic, "outcome", outcomes[i]);
        metrics_counter_add("placehub_dispatch_events_out_total", labels, 0);
    }
}

void metrics_dispatch_out(const char *partner, const char *topic, int delivered, int64_t latency_ms)
{
    char labels[700], pair[512], only[256];
    metrics_labels2(pair, sizeof pair, "partner", partner, "topic", topic);
    metrics_labels3(labels, sizeof labels, partner, topic, "outcome",
                    delivered ? "delivered" : "dead_lettered");
    metrics_counter_add("placehub_dispatch_events_out_total", labels, 1);
    if (!delivered)
        metrics_counter_add("placehub_dispatch_dead_letters_total", pair, 1);
    metrics_label(only, sizeof only, "partner", partner);
    metrics_observe("placehub_dispatch_delivery_latency_seconds", only,
                    latency_ms > 0 ? (double)latency_ms / 1000.0 : 0.0);
}

/* The reasons dispatch suppresses for (lib/governance/agreement.h,
 * correction.h); "objection:<scope>" counts as objection. Anything else is
 * "other", so a label never carries more than this fixed set. */
static const char *metrics_suppression_reason(const char *reason)
{
    static const char *const known[] = {"no_agreement", "condition", "restricted", "objection",
                                        "not_disclosed"};
    size_t len = reason ? strcspn(reason, ":") : 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (len == strlen(known[i]) && strncmp(reason, known[i], len) == 0)
            return known[i];
    return "other";
}

void metrics_dispatch_suppressed(const char *partner, const char *topic, const char *reason)
{
    char labels[700];
    metrics_labels3(labels, sizeof labels, partner, topic, "outcome", "suppressed");
    metrics_counter_add("placehub_dispatch_events_out_total", labels, 1);
    metrics_labels3(labels, sizeof labels, partner, topic, "reason",
                    metrics_suppression_reason(reason));
    metrics_counter_add("placehub_dispatch_suppressed_total", labels, 1);
}

void metrics_dispatch_retry(const char *partner, const char *topic)
{
    char labels[512];
    metrics_labels2(labels, sizeof labels, "partner", partner, "topic", topic);
    metrics_counter_add("placehub_dispatch_retries_total", labels, 1);
}

void metrics_dispatch_circuit(const char *partner, int state)
{
    char labels[256];
    metrics_label(labels, sizeof labels, "partner", partner);
    metrics_gauge_set("placehub_dispatch_circuit_state", labels, state);
}

void metrics_dispatch_paused(const char *partner, int paused)
{
    char labels[256];
    metrics_label(labels, sizeof labels, "partner", partner);
    metrics_gauge_set("placehub_dispatch_partner_paused", labels, paused ? 1 : 0);
}

void metrics_ingest(const char *topic, const char *outcome)
{
    char labels[512];
    metrics_labels2(labels, sizeof labels, "topic", topic, "outcome", outcome);
    metrics_counter_add("placehub_ingest_requests_total", labels, 1);
}

void metrics_ingest_events(const char *topic, long count)
{
    char labels[256];
    metrics_label(labels, sizeof labels, "topic", topic);
    metrics_counter_add("placehub_ingest_events_total", labels, count);
}

void metrics_mllp_start(void)
{
    static const char *const outcomes[] = {"accepted", "rejected", "error"};
    char labels[128];
    for (size_t i = 0; i < sizeof outcomes / sizeof outcomes[0]; i++) {
        metrics_label(labels, sizeof labels, "outcome", outcomes[i]);
        metrics_counter_add("placehub_mllp_messages_total", labels, 0);
    }
}

void metrics_mllp(const char *outcome)
{
    char labels[128];
    metrics_label(labels, sizeof labels, "outcome", outcome);
    metrics_counter_add("placehub_mllp_messages_total", labels, 1);
}

/* ---- librdkafka statistics ---------------------------------------------- */

struct metrics_stats_context {
    const char *client;
    const char *partner;
};

static int metrics_on_stats(rd_kafka_t *kafka, char *json, size_t json_len, void *opaque)
{
    (void)kafka;
    const struct metrics_stats_context *context = opaque;
    json_t *stats = json_loadb(json, json_len, 0, NULL);
    if (!stats)
        return 0;
    char client[256], labels[600];
    metrics_label(client, sizeof client, "client", context->client);
    metrics_gauge_set("placehub_kafka_queued_messages", client,
                      (double)json_integer_value(json_object_get(stats, "msg_cnt")));
    /* librdkafka's own totals since the handle started: export as is. */
    metrics_gauge_set("placehub_kafka_transmitted_messages_total", client,
                      (double)json_integer_value(json_object_get(stats, "txmsgs")));
    metrics_gauge_set("placehub_kafka_received_messages_total", client,
                      (double)json_integer_value(json_object_get(stats, "rxmsgs")));
    const char *name;
    json_t *broker;
    long brokers_up = 0;
    json_object_foreach(json_object_get(stats, "brokers"), name, broker)
    {
        /* Bootstrap entries count too: before the first metadata answer
         * they are the only connections there are. */
        const char *state = json_string_value(json_object_get(broker, "state"));
        if (state && strcmp(state, "UP") == 0)
            brokers_up++;
        json_int_t rtt = json_integer_value(json_object_get(json_object_get(broker, "rtt"), "avg"));
        if (json_integer_value(json_object_get(broker, "nodeid")) < 0)
            continue; /* the bootstrap entry */
        char broker_label[300];
        metrics_label(broker_label, sizeof broker_label, "broker", name);
        snprintf(labels, sizeof labels, "%s,%s", client, broker_label);
        metrics_gauge_set("placehub_kafka_broker_rtt_seconds", labels, (double)rtt / 1e6);
    }
    metrics_gauge_set("placehub_kafka_brokers_up", client, (double)brokers_up);
    if (context->partner) {
        const char *topic_name;
        json_t *topic;
        json_object_foreach(json_object_get(stats, "topics"), topic_name, topic)
        {
            long long lag = 0;
            int known = 0;
            const char *partition_name;
            json_t *partition;
            json_object_foreach(json_object_get(topic, "partitions"), partition_name, partition)
            {
                json_int_t value = json_integer_value(json_object_get(partition, "consumer_lag"));
                if (strcmp(partition_name, "-1") == 0 || value < 0)
                    continue;
                lag += value;
                known = 1;
            }
            if (!known)
                continue;
            metrics_labels2(labels, sizeof labels, "partner", context->partner, "topic",
                            topic_name);
            metrics_gauge_set("placehub_dispatch_consumer_lag", labels, (double)lag);
        }
    }
    json_decref(stats);
    return 0; /* librdkafka frees json */
}

int metrics_kafka_stats(rd_kafka_conf_t *conf, const char *client, const char *partner,
                        int interval_ms, char *errstr, size_t errstr_size)
{
    /* One context per handle, for the life of the process: handles are
     * few and made at start-up, so a fixed table does. */
    static struct metrics_stats_context contexts[1024];
    static size_t used;
    pthread_mutex_lock(&metrics_lock);
    struct metrics_stats_context *context = used < 1024 ? &contexts[used++] : NULL;
    pthread_mutex_unlock(&metrics_lock);
    char interval[32];
    if (!context) {
        snprintf(errstr, errstr_size, "too many Kafka handles for statistics");
        return -1;
    }
    context->client = client;
    context->partner = partner;
    snprintf(interval, sizeof interval, "%d", interval_ms);
    if (kafka_conf_set(conf, "statistics.interval.ms", interval, errstr, errstr_size) != 0)
        return -1;
    rd_kafka_conf_set_stats_cb(conf, metrics_on_stats);
    rd_kafka_conf_set_opaque(conf, context);
    return 0;
}

int metrics_producer_new(const struct config *config, const char *client_id, int timeout_ms,
                         int linger_ms, struct producer **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(config, errstr, errstr_size);
    if (!conf)
        return -1;
    if (metrics_kafka_stats(conf, client_id, NULL, 5000, errstr, errstr_size) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    return producer_new_conf(config, conf, client_id, timeout_ms, linger_ms, out, errstr,
                             errstr_size);
}
