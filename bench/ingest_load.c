/*
 * ingest_load.c - the load generator for placehub-ingest: libcurl multi
 * POSTs of JSON events over kept-alive connections, one body per line of a
 * file, cycled.
 *
 * Two modes:
 *   closed loop (RATE 0): COUNT requests with IN_FLIGHT always outstanding,
 *     as fast as ingest answers: its throughput;
 *   open loop (RATE > 0): COUNT requests started on a fixed schedule of
 *     RATE per second (at most IN_FLIGHT outstanding); each latency runs
 *     from the request's scheduled start, not from when a slot freed, so a
 *     stall shows in the percentiles instead of hiding in a slower offer.
 *
 * Usage: ingest_load URL BODIES_FILE COUNT IN_FLIGHT RATE [HEADER...]
 * Prints one JSON line: {"requests", "seconds", "per_second", "failed",
 * "p50_ms", "p99_ms", "first_failure"}. A request fails unless the answer is
 * 2xx; exit status 1 when any failed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct load_request {
    CURL *easy;
    double scheduled;
    int busy;
};

static size_t load_discard(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

static double load_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int load_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Splits the file's text into lines in place; returns how many. */
static size_t load_lines(char *text, size_t len, char ***lines, size_t **lengths)
{
    size_t count = 0, capacity = 1024;
    *lines = malloc(capacity * sizeof **lines);
    *lengths = malloc(capacity * sizeof **lengths);
    char *cursor = text, *end = text + len;
    while (cursor < end && *lines && *lengths) {
        char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        size_t line_len = newline ? (size_t)(newline - cursor) : (size_t)(end - cursor);
        if (line_len > 0) {
            if (count == capacity) {
                capacity *= 2;
                char **grown_lines = realloc(*lines, capacity * sizeof **lines);
                size_t *grown_lengths = realloc(*lengths, capacity * sizeof **lengths);
                if (grown_lines)
                    *lines = grown_lines;
                if (grown_lengths)
                    *lengths = grown_lengths;
                if (!grown_lines || !grown_lengths)
                    return 0;
            }
            (*lines)[count] = cursor;
            (*lengths)[count] = line_len;
            count++;
        }
        cursor += line_len + 1;
    }
    return count;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s URL BODIES_FILE COUNT IN_FLIGHT RATE [HEADER...]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long count = atol(argv[3]), in_flight = atol(argv[4]);
    double rate = atof(argv[5]);
    if (count <= 0 || in_flight <= 0 || rate < 0) {
        fprintf(stderr, "COUNT and IN_FLIGHT must be positive, RATE 0 or more\n");
        return 2;
    }
    FILE *file = fopen(argv[2], "rb");
    if (!file) {
        perror(argv[2]);
        return 1;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    char *text = size > 0 ? malloc((size_t)size) : NULL;
    if (!text || fread(text, 1, (size_t)size, file) != (size_t)size) {
        fprintf(stderr, "%s: cannot read it\n", argv[2]);
        return 1;
    }
    fclose(file);
    char **bodies = NULL;
    size_t *lengths = NULL;
    size_t body_count = load_lines(text, (size_t)size, &bodies, &lengths);
    if (body_count == 0) {
        fprintf(stderr, "%s: no bodies (one JSON event per line)\n", argv[2]);
        return 1;
    }

    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    for (int i = 6; i < argc; i++)
        headers = curl_slist_append(headers, argv[i]);
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, in_flight);
    struct load_request *slots = calloc((size_t)in_flight, sizeof *slots);
    double *latencies = malloc((size_t)count * sizeof *latencies);
    if (!slots || !latencies)
        return 1;
    for (long i = 0; i < in_flight; i++) {
        slots[i].easy = curl_easy_init();
        curl_easy_setopt(slots[i].easy, CURLOPT_URL, url);
        curl_easy_setopt(slots[i].easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(slots[i].easy, CURLOPT_WRITEFUNCTION, load_discard);
        curl_easy_setopt(slots[i].easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
    }

    long started = 0, finished = 0, failed = 0, outstanding = 0;
    char first_failure[160] = "";
    double begin = load_now();
    while (finished < count) {
        double now = load_now();
        for (long i = 0; i < in_flight && started < count; i++) {
            if (slots[i].busy)
                continue;
            double scheduled = rate > 0 ? begin + (double)started / rate : now;
            if (scheduled > now)
                break;
            size_t body = (size_t)started % body_count;
            curl_easy_setopt(slots[i].easy, CURLOPT_POSTFIELDS, bodies[body]);
            curl_easy_setopt(slots[i].easy, CURLOPT_POSTFIELDSIZE, (long)lengths[body]);
            slots[i].scheduled = scheduled;
            slots[i].busy = 1;
            curl_multi_add_handle(multi, slots[i].easy);
            started++;
            outstanding++;
        }
        int running = 0, left = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *message;
        while ((message = curl_multi_info_read(multi, &left)) != NULL) {
            if (message->msg != CURLMSG_DONE)
                continue;
            struct load_request *request = NULL;
            long status = 0;
            curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&request);
            curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (message->data.result != CURLE_OK || status < 200 || status >= 300) {
                if (failed++ == 0)
                    snprintf(first_failure, sizeof first_failure, "%s, HTTP %ld",
                             curl_easy_strerror(message->data.result), status);
            }
            latencies[finished++] = (load_now() - request->scheduled) * 1000.0;
            curl_multi_remove_handle(multi, message->easy_handle);
            request->busy = 0;
            outstanding--;
        }
        if (finished < count) {
            int wait_ms = 100;
            if (rate > 0 && started < count && outstanding < in_flight) {
                double due = begin + (double)started / rate - load_now();
                wait_ms = due <= 0 ? 0 : (int)(due * 1000.0);
            }
            curl_multi_poll(multi, NULL, 0, wait_ms, NULL);
        }
    }
    double seconds = load_now() - begin;
    qsort(latencies, (size_t)count, sizeof *latencies, load_compare);
    printf("{\"requests\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"failed\": %ld, "
           "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"first_failure\": \"%s\"}\n",
           count, seconds, (double)count / seconds, failed, latencies[count / 2],
           latencies[(size_t)((double)count * 0.99)], first_failure);
    for (long i = 0; i < in_flight; i++)
        curl_easy_cleanup(slots[i].easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(slots);
    free(latencies);
    free(bodies);
    free(lengths);
    free(text);
    return failed ? 1 : 0;
}
