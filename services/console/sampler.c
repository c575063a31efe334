/*
 * sampler.c - the console's overview figures: a thread reads the services'
 * /metrics (the same series Prometheus scrapes) and dispatch's /partners
 * every console.sample_interval_ms, and keeps an hour of them per partner
 * (lag, and the delivered, dead-lettered and suppressed counters, from
 * which rates follow) plus the last five minutes of the delivery latency
 * histogram (for p50 and p99 over that window).
 *
 * Counters are cumulative since a service started; a restart resets them,
 * so a rate is never taken across a fall (it reads 0 for that step).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "core/clock.h"
#include "kafka/kafka.h"
#include "kafka/lag.h"

#define SAMPLER_PARTNERS 64
#define SAMPLER_BUCKETS 24
#define SAMPLER_LATENCY_MS (5 * 60 * 1000)

struct sampler_point {
    double lag, delivered, dead, suppressed;
};

struct sampler_partner {
    const char *id; /* the configuration's */
    const struct config_partner *configured;
    struct sampler_point *history;
    double (*buckets)[SAMPLER_BUCKETS]; /* latency histogram per sample */
    /* the latest sample */
    double in, delivered, dead, retries, suppressed;
    int circuit;
    json_t *lag_by_topic, *suppressed_by_reason;
};

struct console_sampler {
    const struct config *config;
    rd_kafka_t *kafka; /* the broker's view of each group's lag (kafka/lag.h) */
    char token[256];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stop, woken;
    int capacity;    /* samples in an hour */
    int count, next; /* samples held; where the next goes */
    int64_t *times;  /* each sample's wall time */
    double bucket_le[SAMPLER_BUCKETS];
    int bucket_count;
    struct sampler_partner partner[SAMPLER_PARTNERS];
    int partner_count;
    json_t *services, *ingest, *mllp, *partners; /* the latest of each */
};

/* ---- the Prometheus text format, as the services write it --------------- */

/* The value of label name in labels ("a=\"x\",b=\"y\""), unescaped into
 * out; 0, or -1 when absent. */
static int sampler_label(const char *labels, size_t len, const char *name, char *out,
                         size_t out_size)
{
    size_t name_len = strlen(name), i = 0;
    while (i < len) {
        const char *key = labels + i;
        const char *equals = memchr(key, '=', len - i);
        if (!equals || equals[1] != '"')
            return -1;
        int match = (size_t)(equals - key) == name_len && memcmp(key, name, name_len) == 0;
        size_t o = 0, j = (size_t)(equals - labels) + 2;
        for (; j < len && labels[j] != '"'; j++) {
            char c = labels[j];
            if (c == '\\' && j + 1 < len)
                c = labels[++j] == 'n' ? '\n' : labels[j];
            if (match && o + 1 < out_size)
                out[o++] = c;
        }
        if (match) {
            out[o] = '\0';
            return 0;
        }
        i = j + 2; /* past '"' and ',' */
    }
    return -1;
}

typedef void sampler_series_fn(struct console_sampler *sampler, const char *name,
                               const char *labels, size_t labels_len, double value);

static void sampler_parse(struct console_sampler *sampler, const char *text,
                          sampler_series_fn *each)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char name[128];
        size_t name_len = strcspn(line, "{ ");
        if (line[0] != '#' && name_len > 0 && name_len < sizeof name && name_len < len) {
            memcpy(name, line, name_len);
            name[name_len] = '\0';
            const char *labels = "", *value = line + name_len;
            size_t labels_len = 0;
            if (*value == '{') {
                const char *close = memchr(value, '}', len - name_len);
                if (close) {
                    labels = value + 1;
                    labels_len = (size_t)(close - labels);
                    value = close + 1;
                }
            }
            each(sampler, name, labels, labels_len, strtod(value, NULL));
        }
        line += len + (end ? 1 : 0);
    }
}

static struct sampler_partner *sampler_partner(struct console_sampler *sampler, const char *labels,
                                               size_t len)
{
    char id[128];
    if (sampler_label(labels, len, "partner", id, sizeof id) != 0)
        return NULL;
    for (int i = 0; i < sampler->partner_count; i++)
        if (strcmp(sampler->partner[i].id, id) == 0)
            return &sampler->partner[i];
    return NULL;
}

static void sampler_add(json_t *object, const char *key, double value)
{
    json_t *old = json_object_get(object, key);
    json_object_set_new(object, key, json_real((old ? json_number_value(old) : 0) + value));
}

static void sampler_latency_bucket(struct console_sampler *sampler, struct sampler_partner *partner,
                                   const char *labels, size_t len, double value)
{
    char le[32];
    if (sampler_label(labels, len, "le", le, sizeof le) != 0)
        return;
    double bound = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
    int i = 0;
    while (i < sampler->bucket_count && sampler->bucket_le[i] != bound)
        i++;
    if (i == sampler->bucket_count) {
        if (i == SAMPLER_BUCKETS)
            return;
        sampler->bucket_le[sampler->bucket_count++] = bound;
    }
    partner->buckets[sampler->next][i] = value;
}

static void sampler_dispatch_series(struct console_sampler *sampler, const char *name,
                                    const char *labels, size_t len, double value)
{
    struct sampler_partner *partner = sampler_partner(sampler, labels, len);
    char text[128];
    if (!partner)
        return;
    if (strcmp(name, "placehub_dispatch_events_in_total") == 0) {
        partner->in += value;
    } else if (strcmp(name, "placehub_dispatch_events_out_total") == 0) {
        if (sampler_label(labels, len, "outcome", text, sizeof text) == 0 &&
            strcmp(text, "delivered") == 0)
            partner->delivered += value;
    } else if (strcmp(name, "placehub_dispatch_dead_letters_total") == 0) {
        partner->dead += value;
    } else if (strcmp(name, "placehub_dispatch_retries_total") == 0) {
        partner->retries += value;
    } else if (strcmp(name, "placehub_dispatch_suppressed_total") == 0) {
        partner->suppressed += value;
        if (sampler_label(labels, len, "reason", text, sizeof text) == 0)
            sampler_add(partner->suppressed_by_reason, text, value);
    } else if (strcmp(name, "placehub_dispatch_consumer_lag") == 0) {
        if (sampler_label(labels, len, "topic", text, sizeof text) == 0)
            sampler_add(partner->lag_by_topic, text, value);
    } else if (strcmp(name, "placehub_dispatch_circuit_state") == 0) {
        partner->circuit = (int)value;
    } else if (strcmp(name, "placehub_dispatch_delivery_latency_seconds_bucket") == 0) {
        sampler_latency_bucket(sampler, partner, labels, len, value);
    }
}

/* Counters of ingest and mllp: every series summed by its outcome label. */
static void sampler_intake_series(struct console_sampler *sampler, const char *name,
                                  const char *labels, size_t len, double value)
{
    char outcome[64];
    json_t *into = strncmp(name, "placehub_mllp_", 14) == 0 ? sampler->mllp : sampler->ingest;
    if (strcmp(name, "placehub_ingest_events_total") == 0)
        sampler_add(into, "events", value);
    else if ((strcmp(name, "placehub_ingest_requests_total") == 0 ||
              strcmp(name, "placehub_mllp_messages_total") == 0) &&
             sampler_label(labels, len, "outcome", outcome, sizeof outcome) == 0)
        sampler_add(into, outcome, value);
}

/* ---- one sample ----------------------------------------------------------- */

/* GETs path on a service's operations port; the body (caller frees) or
 * NULL, with its state in services[name]. */
static char *sampler_get(struct console_sampler *sampler, const char *name, const char *service,
                         const char *path, json_t *services)
{
    char url[512], errstr[512];
    char *body = NULL;
    if (console_service_url(sampler->config, service, path, url, sizeof url) != 0) {
        json_object_set_new(services, name, json_pack("{s:s}", "state", "not configured"));
        return NULL;
    }
    int status = console_http("GET", url, sampler->token, NULL, &body, errstr, sizeof errstr);
    if (status == 200) {
        json_object_set_new(services, name, json_pack("{s:s}", "state", "up"));
        return body;
    }
    if (status > 0)
        snprintf(errstr, sizeof errstr, "%s answered HTTP %d", url, status);
    json_object_set_new(services, name, json_pack("{s:s,s:s}", "state", "down", "error", errstr));
    free(body);
    return NULL;
}

/* The partner's lag per topic from the broker (its group's committed
 * offsets against the high watermarks): a JSON object, or NULL when the
 * broker did not answer (the metric from dispatch's statistics is used). */
static json_t *sampler_broker_lag(struct console_sampler *sampler,
                                  const struct sampler_partner *partner)
{
    const struct config_partner *configured = partner->configured;
    struct kafka_lag lags[32];
    size_t count = configured->topic_count < 32 ? configured->topic_count : 32;
    char group[300], errstr[512];
    if (!sampler->kafka)
        return NULL;
    for (size_t t = 0; t < count; t++)
        lags[t].topic = configured->topics[t];
    snprintf(group, sizeof group, "%s.%s", sampler->config->dispatch.group_prefix, partner->id);
    if (kafka_group_lag(sampler->kafka, group, lags, count, 5000, errstr, sizeof errstr) != 0)
        return NULL;
    json_t *by_topic = json_object();
    for (size_t t = 0; t < count; t++)
        json_object_set_new(by_topic, lags[t].topic, json_real((double)lags[t].lag));
    return by_topic;
}

static void sampler_take(struct console_sampler *sampler)
{
    json_t *broker_lag[SAMPLER_PARTNERS] = {NULL};
    for (int i = 0; i < sampler->partner_count; i++)
        broker_lag[i] = sampler_broker_lag(sampler, &sampler->partner[i]);
    json_t *services = json_object();
    char *dispatch = sampler_get(sampler, "dispatch", "dispatch", "/metrics", services);
    char *partners =
        dispatch ? sampler_get(sampler, "dispatch_partners", "dispatch", "/partners", services)
                 : NULL;
    char *ingest = sampler_get(sampler, "ingest", "ingest", "/metrics", services);
    char *mllp = sampler_get(sampler, "mllp", "mllp", "/metrics", services);
    json_object_del(services, "dispatch_partners");
    pthread_mutex_lock(&sampler->lock);
    int at = sampler->next;
    sampler->times[at] = clock_wall_ms();
    for (int i = 0; i < sampler->partner_count; i++) {
        struct sampler_partner *partner = &sampler->partner[i];
        partner->in = partner->delivered = partner->dead = partner->retries = 0;
        partner->suppressed = 0;
        partner->circuit = 0;
        json_object_clear(partner->lag_by_topic);
        json_object_clear(partner->suppressed_by_reason);
        memset(partner->buckets[at], 0, sizeof partner->buckets[at]);
    }
    json_object_clear(sampler->ingest);
    json_object_clear(sampler->mllp);
    if (dispatch)
        sampler_parse(sampler, dispatch, sampler_dispatch_series);
    if (ingest)
        sampler_parse(sampler, ingest, sampler_intake_series);
    if (mllp)
        sampler_parse(sampler, mllp, sampler_intake_series);
    for (int i = 0; i < sampler->partner_count; i++) {
        struct sampler_partner *partner = &sampler->partner[i];
        if (broker_lag[i]) { /* the broker's figure over the statistics' */
            json_object_clear(partner->lag_by_topic);
            json_object_update(partner->lag_by_topic, broker_lag[i]);
            json_decref(broker_lag[i]);
        }
        double lag = 0;
        const char *topic;
        json_t *value;
        json_object_foreach(partner->lag_by_topic, topic, value) lag += json_number_value(value);
        partner->history[at] = dispatch ? (struct sampler_point){lag, partner->delivered,
                                                                 partner->dead, partner->suppressed}
                                        : (struct sampler_point){NAN, NAN, NAN, NAN};
    }
    json_decref(sampler->partners);
    sampler->partners = partners ? json_loads(partners, 0, NULL) : NULL;
    json_decref(sampler->services);
    sampler->services = services;
    sampler->next = (at + 1) % sampler->capacity;
    if (sampler->count < sampler->capacity)
        sampler->count++;
    pthread_mutex_unlock(&sampler->lock);
    free(dispatch);
    free(partners);
    free(ingest);
    free(mllp);
}

static void *sampler_main(void *opaque)
{
    struct console_sampler *sampler = opaque;
    pthread_mutex_lock(&sampler->lock);
    while (!sampler->stop) {
        pthread_mutex_unlock(&sampler->lock);
        sampler_take(sampler);
        pthread_mutex_lock(&sampler->lock);
        int64_t until = clock_wall_ms() + sampler->config->console.sample_interval_ms;
        while (!sampler->stop && !sampler->woken && clock_wall_ms() < until) {
            struct timespec deadline = {(time_t)(until / 1000), (long)(until % 1000) * 1000000};
            pthread_cond_timedwait(&sampler->wake, &sampler->lock, &deadline);
        }
        sampler->woken = 0;
    }
    pthread_mutex_unlock(&sampler->lock);
    return NULL;
}

/* ---- the overview ------------------------------------------------------- */

/* The index of the i-th sample held, oldest first. */
static int sampler_index(const struct console_sampler *sampler, int i)
{
    return (sampler->next - sampler->count + i + sampler->capacity) % sampler->capacity;
}

/* The q-quantile (ms) of the deliveries in the histogram difference newest
 * - oldest (Prometheus' histogram_quantile: linear within a bucket), or a
 * JSON null when there were none. */
static json_t *sampler_quantile(const struct console_sampler *sampler,
                                const struct sampler_partner *partner, int newest, int oldest,
                                double q)
{
    double count[SAMPLER_BUCKETS], total = 0;
    int order[SAMPLER_BUCKETS], n = sampler->bucket_count;
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++) /* bounds in ascending order: few, insertion sort */
        for (int j = i; j > 0 && sampler->bucket_le[order[j]] < sampler->bucket_le[order[j - 1]];
             j--) {
            int swap = order[j];
            order[j] = order[j - 1];
            order[j - 1] = swap;
        }
    for (int i = 0; i < n; i++) {
        double now = partner->buckets[newest][order[i]], then = partner->buckets[oldest][order[i]];
        count[i] = newest == oldest || now < then ? now : now - then;
    }
    total = n ? count[n - 1] : 0;
    if (total <= 0)
        return json_null();
    double rank = q * total, lower = 0, below = 0;
    for (int i = 0; i < n; i++) {
        double upper = sampler->bucket_le[order[i]];
        if (count[i] >= rank) {
            if (isinf(upper))
                return json_real(lower * 1000);
            double inside = count[i] - below;
            double share = inside > 0 ? (rank - below) / inside : 1;
            return json_real((lower + (upper - lower) * share) * 1000);
        }
        lower = upper;
        below = count[i];
    }
    return json_null();
}

static json_t *sampler_number(double value)
{
    return isnan(value) ? json_null() : json_real(value);
}

/* Per-second rate between two samples of a counter; null across a gap or
 * a restart. */
static json_t *sampler_rate(double now, double then, int64_t now_ms, int64_t then_ms)
{
    if (isnan(now) || isnan(then) || now < then || now_ms <= then_ms)
        return json_null();
    return json_real((now - then) * 1000.0 / (double)(now_ms - then_ms));
}

static json_t *sampler_partner_json(const struct console_sampler *sampler,
                                    const struct sampler_partner *partner)
{
    json_t *lag = json_array(), *delivered = json_array(), *dead = json_array();
    int newest = sampler_index(sampler, sampler->count - 1), oldest = newest;
    for (int i = 0; i < sampler->count; i++) {
        int at = sampler_index(sampler, i), before = sampler_index(sampler, i > 0 ? i - 1 : 0);
        const struct sampler_point *point = &partner->history[at],
                                   *last = &partner->history[before];
        json_array_append_new(lag, sampler_number(point->lag));
        json_array_append_new(delivered,
                              i == 0 ? json_null()
                                     : sampler_rate(point->delivered, last->delivered,
                                                    sampler->times[at], sampler->times[before]));
        json_array_append_new(dead, i == 0
                                        ? json_null()
                                        : sampler_rate(point->dead, last->dead, sampler->times[at],
                                                       sampler->times[before]));
        if (sampler->times[newest] - sampler->times[at] <= SAMPLER_LATENCY_MS && oldest == newest)
            oldest = at;
    }
    const struct sampler_point *now = &partner->history[newest];
    return json_pack("{s:s,s:f,s:o,s:o,s:f,s:o,s:f,s:i,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o}}", "id",
                     partner->id, "in", partner->in, "delivered", sampler_number(now->delivered),
                     "dead_lettered", sampler_number(now->dead), "retries", partner->retries,
                     "suppressed", sampler_number(now->suppressed), "lag",
                     isnan(now->lag) ? 0 : now->lag, "circuit", partner->circuit, "lag_by_topic",
                     json_deep_copy(partner->lag_by_topic), "suppressed_by_reason",
                     json_deep_copy(partner->suppressed_by_reason), "p50_ms",
                     sampler_quantile(sampler, partner, newest, oldest, 0.5), "p99_ms",
                     sampler_quantile(sampler, partner, newest, oldest, 0.99), "series", "lag", lag,
                     "delivered_per_s", delivered, "dead_lettered_per_s", dead);
}

json_t *console_sampler_overview(struct console_sampler *sampler)
{
    pthread_mutex_lock(&sampler->lock);
    json_t *times = json_array(), *partners = json_array();
    for (int i = 0; i < sampler->count; i++)
        json_array_append_new(times, json_integer(sampler->times[sampler_index(sampler, i)]));
    for (int i = 0; sampler->count > 0 && i < sampler->partner_count; i++)
        json_array_append_new(partners, sampler_partner_json(sampler, &sampler->partner[i]));
    json_t *overview = json_pack(
        "{s:I,s:i,s:o,s:o,s:O,s:O,s:O,s:O}", "updated_at",
        (json_int_t)(sampler->count ? sampler->times[sampler_index(sampler, sampler->count - 1)]
                                    : 0),
        "interval_ms", sampler->config->console.sample_interval_ms, "times", times, "partners",
        partners, "services", sampler->services ? sampler->services : json_object(), "ingest",
        sampler->ingest, "mllp", sampler->mllp, "dispatch_partners",
        sampler->partners ? sampler->partners : json_null());
    pthread_mutex_unlock(&sampler->lock);
    return overview;
}

json_t *console_sampler_partners(struct console_sampler *sampler)
{
    pthread_mutex_lock(&sampler->lock);
    json_t *partners = sampler->partners ? json_deep_copy(sampler->partners) : NULL;
    pthread_mutex_unlock(&sampler->lock);
    return partners;
}

void console_sampler_wake(struct console_sampler *sampler)
{
    pthread_mutex_lock(&sampler->lock);
    sampler->woken = 1;
    pthread_cond_signal(&sampler->wake);
    pthread_mutex_unlock(&sampler->lock);
}

/* ---- life ----------------------------------------------------------------- */

static void sampler_free(struct console_sampler *sampler)
{
    for (int i = 0; i < sampler->partner_count; i++) {
        free(sampler->partner[i].history);
        free(sampler->partner[i].buckets);
        json_decref(sampler->partner[i].lag_by_topic);
        json_decref(sampler->partner[i].suppressed_by_reason);
    }
    free(sampler->times);
    if (sampler->kafka)
        rd_kafka_destroy(sampler->kafka);
    json_decref(sampler->services);
    json_decref(sampler->ingest);
    json_decref(sampler->mllp);
    json_decref(sampler->partners);
    pthread_cond_destroy(&sampler->wake);
    pthread_mutex_destroy(&sampler->lock);
    free(sampler);
}

struct console_sampler *console_sampler_start(const struct config *config, const char *token,
                                              char *errstr, size_t errstr_size)
{
    struct console_sampler *sampler = calloc(1, sizeof *sampler);
    if (!sampler) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&sampler->lock, NULL);
    pthread_cond_init(&sampler->wake, NULL);
    sampler->config = config;
    snprintf(sampler->token, sizeof sampler->token, "%s", token);
    sampler->capacity = 3600 * 1000 / config->console.sample_interval_ms + 1;
    sampler->times = calloc((size_t)sampler->capacity, sizeof *sampler->times);
    sampler->ingest = json_object();
    sampler->mllp = json_object();
    int failed = !sampler->times || !sampler->ingest || !sampler->mllp;
    for (size_t i = 0; i < config->partner_count && !failed; i++) {
        const struct config_partner *configured = &config->partners[i];
        if (!configured->connector || sampler->partner_count == SAMPLER_PARTNERS)
            continue; /* a publisher only: nothing is delivered to it */
        struct sampler_partner *partner = &sampler->partner[sampler->partner_count++];
        partner->id = configured->id;
        partner->configured = configured;
        partner->history = calloc((size_t)sampler->capacity, sizeof *partner->history);
        partner->buckets = calloc((size_t)sampler->capacity, sizeof *partner->buckets);
        partner->lag_by_topic = json_object();
        partner->suppressed_by_reason = json_object();
        failed = !partner->history || !partner->buckets || !partner->lag_by_topic ||
                 !partner->suppressed_by_reason;
    }
    errstr[0] = '\0';
    rd_kafka_conf_t *conf = failed ? NULL : kafka_conf_new(config, errstr, errstr_size);
    if (conf && kafka_conf_set(conf, "client.id", "placehub-console", errstr, errstr_size) == 0)
        sampler->kafka = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (conf && !sampler->kafka)
        rd_kafka_conf_destroy(conf); /* rd_kafka_new took it only on success */
    if (failed || !sampler->kafka ||
        pthread_create(&sampler->thread, NULL, sampler_main, sampler) != 0) {
        if (!errstr[0]) /* Kafka's set-up says why itself */
            snprintf(errstr, errstr_size, "cannot start the sampler: out of memory or threads");
        sampler_free(sampler);
        return NULL;
    }
    pthread_setname_np(sampler->thread, "console-sampler");
    return sampler;
}

void console_sampler_stop(struct console_sampler *sampler)
{
    if (!sampler)
        return;
    pthread_mutex_lock(&sampler->lock);
    sampler->stop = 1;
    pthread_cond_signal(&sampler->wake);
    pthread_mutex_unlock(&sampler->lock);
    pthread_join(sampler->thread, NULL);
    sampler_free(sampler);
}
