/*
 * run.c - what the console asks of other programs: placehub-ctl for dead
 * letters and subject access (run with an argument vector, never through a
 * shell, so nothing a user typed is ever interpreted), and the services'
 * operations ports over HTTP.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "console.h"
#include "core/clock.h"
#include "core/text.h"

extern char **environ;

/* Reads what is there from fd into text (up to max bytes; the rest is
 * read and dropped). Returns 0 at end of file, 1 when more may come. */
static int run_drain(int fd, struct text *text, size_t max)
{
    char buffer[8192];
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : 0;
    if (got == 0)
        return 0;
    if (text->len < max)
        text_append(text, buffer, (size_t)got < max - text->len ? (size_t)got : max - text->len);
    return 1;
}

static void run_last_line(const struct text *text, char *error, size_t error_size)
{
    const char *data = text->data ? text->data : "";
    size_t end = text->len;
    while (end > 0 && (data[end - 1] == '\n' || data[end - 1] == '\r'))
        end--;
    size_t start = end;
    while (start > 0 && data[start - 1] != '\n')
        start--;
    snprintf(error, error_size, "%.*s", (int)(end - start), data + start);
}

int console_run(char *const argv[], size_t max_bytes, int timeout_ms, char **out, char *error,
                size_t error_size)
{
    int output[2] = {-1, -1}, errors[2] = {-1, -1}, status = -1;
    struct text text = {0}, error_text = {0};
    posix_spawn_file_actions_t actions;
    pid_t pid;
    *out = NULL;
    error[0] = '\0';
    if (pipe2(output, O_CLOEXEC) != 0 || pipe2(errors, O_CLOEXEC) != 0) {
        snprintf(error, error_size, "cannot make a pipe: %s", strerror(errno));
        goto out;
    }
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, output[1], 1);
    posix_spawn_file_actions_adddup2(&actions, errors[1], 2);
    int rc = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(output[1]);
    close(errors[1]);
    output[1] = errors[1] = -1;
    if (rc != 0) {
        snprintf(error, error_size, "cannot run %s: %s", argv[0], strerror(rc));
        goto out;
    }
    int64_t deadline = clock_monotonic_ms() + timeout_ms;
    int open_out = 1, open_err = 1;
    while (open_out || open_err) {
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0)
            break;
        struct pollfd watch[2] = {{open_out ? output[0] : -1, POLLIN, 0},
                                  {open_err ? errors[0] : -1, POLLIN, 0}};
        if (poll(watch, 2, (int)left) < 0 && errno != EINTR)
            break;
        if (open_out && watch[0].revents)
            open_out = run_drain(output[0], &text, max_bytes);
        if (open_err && watch[1].revents)
            open_err = run_drain(errors[0], &error_text, 65536);
    }
    int killed = open_out || open_err;
    if (killed)
        kill(pid, SIGKILL);
    int wait_status;
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR)
        ;
    if (killed) {
        snprintf(error, error_size, "%s did not finish within %d s", argv[0], timeout_ms / 1000);
    } else if (WIFEXITED(wait_status)) {
        status = WEXITSTATUS(wait_status);
        run_last_line(&error_text, error, error_size);
        text_append(&text, "", 1); /* NUL-terminated for the caller */
        *out = text.data;
        text.data = NULL;
    } else {
        snprintf(error, error_size, "%s ended by signal %d", argv[0], WTERMSIG(wait_status));
    }
out:
    for (int i = 0; i < 2; i++) {
        if (output[i] >= 0)
            close(output[i]);
        if (errors[i] >= 0)
            close(errors[i]);
    }
    free(text.data);
    free(error_text.data);
    return status;
}

static size_t run_collect(char *data, size_t size, size_t count, void *opaque)
{
    struct text *text = opaque;
    if (text->len + size * count > 8 * 1024 * 1024)
        return 0; /* an operations answer is never that large */
    text_append(text, data, size * count);
    return size * count;
}

int console_http(const char *method, const char *url, const char *token, const char *actor,
                 char **body, char *errstr, size_t errstr_size)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    struct text text = {0};
    char line[512], curl_error[CURL_ERROR_SIZE] = "";
    long status = -1;
    *body = NULL;
    if (!curl) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (token && token[0]) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, line);
    }
    if (actor) {
        snprintf(line, sizeof line, "X-Placehub-Actor: %s", actor);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, run_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &text);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        text_append(&text, "", 1);
        *body = text.data;
        text.data = NULL;
    } else {
        snprintf(errstr, errstr_size, "%s: %s", url,
                 curl_error[0] ? curl_error : curl_easy_strerror(rc));
    }
    free(text.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return (int)status;
}

int console_service_url(const struct config *config, const char *service, const char *path,
                        char *out, size_t out_size)
{
    int dispatch = strcmp(service, "dispatch") == 0, ingest = strcmp(service, "ingest") == 0;
    const char *url = dispatch ? config->console.dispatch_url
                      : ingest ? config->console.ingest_url
                               : config->console.mllp_url;
    const char *listen = dispatch ? config->operations.dispatch_listen
                         : ingest ? config->operations.ingest_listen
                                  : config->operations.mllp_listen;
    if (url) {
        size_t len = strlen(url);
        while (len > 0 && url[len - 1] == '/')
            len--;
        snprintf(out, out_size, "%.*s%s", (int)len, url, path);
        return 0;
    }
    char host[256], errstr[128];
    int port;
    if (!listen || httpd_parse_listen(listen, host, sizeof host, &port, errstr, sizeof errstr) != 0)
        return -1;
    /* A wildcard address is read on loopback: the console beside the service. */
    const char *reach = strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ? "127.0.0.1"
                        : strcmp(host, "::") == 0                       ? "[::1]"
                                                                        : host;
    snprintf(out, out_size, "http://%s:%d%s", reach, port, path);
    return 0;
}
