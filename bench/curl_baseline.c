/*
 * curl_baseline.c - the ceiling placehub-dispatch is measured against: plain
 * libcurl multi POSTs of the same bodies to the same endpoint, with the same
 * number in flight, and nothing else (no Kafka, no decoding, no ordering).
 *
 * Usage: curl_baseline URL BODY_FILE COUNT IN_FLIGHT
 * Prints one JSON line: {"requests": N, "seconds": S, "per_second": R, "failed": F}
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t baseline_discard(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

static double baseline_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static CURL *baseline_easy(const char *url, const char *body, long len, struct curl_slist *headers)
{
    CURL *easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, len);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, baseline_discard);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    return easy;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s URL BODY_FILE COUNT IN_FLIGHT\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    long count = atol(argv[3]), in_flight = atol(argv[4]);
    FILE *file = fopen(argv[2], "rb");
    if (!file) {
        perror(argv[2]);
        return 1;
    }
    static char body[1 << 20];
    long len = (long)fread(body, 1, sizeof body - 1, file);
    fclose(file);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, in_flight);
    long started = 0, finished = 0, failed = 0;
    double begin = baseline_now();
    while (finished < count) {
        while (started < count && started - finished < in_flight) {
            curl_multi_add_handle(multi, baseline_easy(url, body, len, headers));
            started++;
        }
        int running = 0, left = 0;
        curl_multi_perform(multi, &running);
        CURLMsg *message;
        while ((message = curl_multi_info_read(multi, &left)) != NULL) {
            if (message->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo(message->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (message->data.result != CURLE_OK || status < 200 || status >= 300)
                failed++;
            curl_multi_remove_handle(multi, message->easy_handle);
            curl_easy_cleanup(message->easy_handle);
            finished++;
        }
        if (finished < count)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    double seconds = baseline_now() - begin;
    printf("{\"requests\": %ld, \"seconds\": %.3f, \"per_second\": %.1f, \"failed\": %ld}\n", count,
           seconds, (double)count / seconds, failed);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
