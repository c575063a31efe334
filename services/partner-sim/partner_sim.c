/*
 * partner_sim.c - a simulated partner API for the demo, the tests and the
 * benchmarks (docs/partner-sim.md).
 *
 * Every request outside /_sim/ is recorded in memory and answered by the
 * current behaviour: the first step of a queue set through /_sim/behaviour,
 * or 200 {"ok":true} when the queue is empty. /_sim/requests, /_sim/stats and
 * /_sim/healthz let a test see what arrived.
 *
 * The behaviour queue, delays and drips are in partner_sim_behaviour.c, the
 * records and counters in partner_sim_records.c, authentication in
 * partner_sim_auth.c (shared through partner_sim_internal.h); this file
 * routes requests and runs the server.
 *
 * Handlers run concurrently, one thread per connection (httpd.h). Three
 * locks: behaviour_lock guards the step queue, store_lock the records and
 * counters, oauth_lock the tokens issued; none is held while a request sleeps
 * in a simulated delay, and none is taken while another is held.
 *
 * Authentication (off unless asked for on the command line): an OAuth2 token
 * endpoint for the client credentials grant at /_sim/oauth/token, and with
 * --require-auth a 401 for partner requests without a token it issued, the
 * static bearer token or the API key. It exists to test placehub's side of
 * it (lib/delivery/auth.c), so it is strict where a real server would be and no more.
 *
 * Records are kept as JSON text, serialised once when the request arrives,
 * without their sequence number (assigned under store_lock when the record is
 * stored); listing them is then a copy, which keeps GET /_sim/requests cheap
 * with a million records held.
 */
#include "partner_sim_internal.h"

#include "core/clock.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void partner_sim_method_not_allowed(struct httpd_response *response, const char *allow)
{
    httpd_response_error(response, 405, "method_not_allowed", NULL, "use %s", allow);
    httpd_response_header(response, "Allow", allow);
}

/* --- request handling --------------------------------------------------- */

static void partner_sim_handle_partner(struct partner_sim *sim, const struct httpd_request *request,
                                       struct httpd_response *response)
{
    int64_t received_ms = clock_wall_ms();

    long delay_ms = 0;
    long drip_ms = 0;
    if (sim->options->require_auth && !partner_sim_authorised(sim, request)) {
        /* Refused before the behaviour queue: a step is spent only on a
         * request the partner would have accepted. */
        httpd_response_error(response, 401, "unauthorized", NULL,
                             "a valid Authorization: Bearer token or X-API-Key is needed");
        httpd_response_header(response, "WWW-Authenticate", "Bearer realm=\"partner-sim\"");
    } else {
        delay_ms = partner_sim_behaviour_take(sim, response, &drip_ms);
    }
    struct partner_sim_record *record =
        partner_sim_record_new(request, received_ms, response->status, drip_ms);
    if (!record)
        log_error("out of memory recording a request; counted as dropped");
    partner_sim_store(sim, record, response->status);
    /* Only with PLACEHUB_LOG_LEVEL=debug; no path or body, they may carry
     * personal data even in tests. */
    log_debug("request method=%s status=%d delay_ms=%ld drip_ms=%ld", request->method,
              response->status, delay_ms, drip_ms);
    if (delay_ms > 0)
        partner_sim_delay(sim, delay_ms);
}

static void partner_sim_handle(void *context, const struct httpd_request *request,
                               struct httpd_response *response)
{
    struct partner_sim *sim = context;
    const char *path = request->path;

    if (strncmp(path, "/_sim/", 6) != 0 && strcmp(path, "/_sim") != 0) {
        partner_sim_handle_partner(sim, request, response);
        return;
    }
    if (strcmp(path, "/_sim/behaviour") == 0) {
        partner_sim_handle_behaviour(sim, request, response);
    } else if (strcmp(path, "/_sim/requests") == 0) {
        partner_sim_handle_requests(sim, request, response);
    } else if (strcmp(path, "/_sim/stats") == 0) {
        if (strcmp(request->method, "GET") == 0)
            httpd_response_json(response, 200, partner_sim_stats_to_json(sim));
        else
            partner_sim_method_not_allowed(response, "GET");
    } else if (strcmp(path, "/_sim/oauth/token") == 0) {
        partner_sim_handle_token(sim, request, response);
    } else if (strcmp(path, "/_sim/oauth/tokens") == 0) {
        partner_sim_handle_tokens(sim, request, response);
    } else if (strcmp(path, "/_sim/healthz") == 0) {
        httpd_response_json(response, 200,
                            json_pack("{s:b,s:s}", "ok", 1, "name", sim->options->name));
    } else {
        httpd_response_error(response, 404, "not_found", NULL,
                             "no such control endpoint; see /_sim/behaviour, "
                             "/_sim/requests, /_sim/stats, /_sim/healthz, /_sim/oauth/token, "
                             "/_sim/oauth/tokens");
    }
}

/* --- life cycle --------------------------------------------------------- */

struct partner_sim *partner_sim_new(const struct partner_sim_options *options, char *errstr,
                                    size_t errstr_size)
{
    if (options->max_records < 1) {
        snprintf(errstr, errstr_size, "max records must be at least 1");
        return NULL;
    }
    if (options->oauth_client &&
        (!strchr(options->oauth_client, ':') || options->oauth_client[0] == ':')) {
        snprintf(errstr, errstr_size, "the OAuth2 client must be given as ID:SECRET");
        return NULL;
    }
    if (options->require_auth && !options->oauth_client && !options->api_key &&
        !options->bearer_token) {
        snprintf(errstr, errstr_size,
                 "requiring authentication needs a credential to accept: an OAuth2 client, an "
                 "API key or a bearer token");
        return NULL;
    }
    struct partner_sim *sim = calloc(1, sizeof *sim);
    if (!sim) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    sim->options = options;
    sim->next_seq = 1;
    pthread_mutex_init(&sim->behaviour_lock, NULL);
    pthread_mutex_init(&sim->store_lock, NULL);
    pthread_mutex_init(&sim->stop_lock, NULL);
    pthread_mutex_init(&sim->oauth_lock, NULL);
    /* Delays are measured on the monotonic clock: a clock step must not
     * stretch or cut a simulated delay. */
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&sim->stop_cond, &attributes);
    pthread_condattr_destroy(&attributes);
    if (options->oauth_client) {
        sim->tokens = calloc(PARTNER_SIM_TOKENS_MAX, sizeof *sim->tokens);
        if (!sim->tokens) {
            snprintf(errstr, errstr_size, "out of memory");
            partner_sim_destroy(sim);
            return NULL;
        }
    }

    sim->httpd = httpd_new(options->listen, options->max_body_bytes, &partner_sim_handle, sim,
                           errstr, errstr_size);
    if (!sim->httpd) {
        partner_sim_destroy(sim);
        return NULL;
    }
    return sim;
}

int partner_sim_port(const struct partner_sim *sim)
{
    return httpd_port(sim->httpd);
}

void partner_sim_destroy(struct partner_sim *sim)
{
    if (!sim)
        return;
    pthread_mutex_lock(&sim->stop_lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->stop_cond);
    pthread_mutex_unlock(&sim->stop_lock);
    httpd_destroy(sim->httpd); /* waits for running handlers */

    for (size_t i = 0; i < sim->step_count; i++)
        partner_sim_step_clear(&sim->steps[i]);
    free(sim->steps);
    partner_sim_store_clear_locked(sim);
    pthread_cond_destroy(&sim->stop_cond);
    pthread_mutex_destroy(&sim->stop_lock);
    pthread_mutex_destroy(&sim->store_lock);
    pthread_mutex_destroy(&sim->behaviour_lock);
    pthread_mutex_destroy(&sim->oauth_lock);
    free(sim->tokens);
    free(sim);
}

/* Writes the port to path through a temporary file and rename(2), so a test
 * polling for the file never reads it half-written. */
static int partner_sim_write_port_file(const char *path, int port, char *errstr, size_t errstr_size)
{
    char temporary[4096];
    int rc = -1;
    FILE *file = NULL;
    int n = snprintf(temporary, sizeof temporary, "%s.%ld.tmp", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof temporary) {
        snprintf(errstr, errstr_size, "port file path too long: %s", path);
        return -1;
    }
    file = fopen(temporary, "w");
    if (!file) {
        snprintf(errstr, errstr_size, "cannot write port file %s: %s", path, strerror(errno));
        goto out;
    }
    bool written = fprintf(file, "%d\n", port) > 0;
    if (fclose(file) != 0)
        written = false;
    file = NULL;
    if (!written) {
        snprintf(errstr, errstr_size, "cannot write port file %s: %s", path, strerror(errno));
        unlink(temporary);
        goto out;
    }
    if (rename(temporary, path) != 0) {
        snprintf(errstr, errstr_size, "cannot write port file %s (rename): %s", path,
                 strerror(errno));
        unlink(temporary);
        goto out;
    }
    rc = 0;
out:
    return rc;
}

int partner_sim_run(const struct partner_sim_options *options)
{
    char errstr[512];
    int status = 1;
    struct partner_sim *sim = NULL;
    sigset_t signals;

    /* Blocked before any thread starts, so every server thread inherits the
     * mask and the signals reach only sigwait() below: no handler, nothing
     * async-signal-unsafe. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    sim = partner_sim_new(options, errstr, sizeof errstr);
    if (!sim) {
        log_error("%s", errstr);
        goto out;
    }
    int port = partner_sim_port(sim);
    if (options->port_file &&
        partner_sim_write_port_file(options->port_file, port, errstr, sizeof errstr) != 0) {
        log_error("%s", errstr);
        goto out;
    }
    printf("%d\n", port);
    fflush(stdout);
    log_info("listening on %s (port %d) max_body=%zu max_records=%zu", options->listen, port,
             options->max_body_bytes, options->max_records);
    if (options->oauth_client)
        log_info("OAuth2 token endpoint on /_sim/oauth/token expires_in=%ld",
                 options->oauth_ttl_seconds > 0 ? options->oauth_ttl_seconds
                                                : PARTNER_SIM_DEFAULT_OAUTH_TTL);
    if (options->require_auth)
        log_info("partner requests need a credential (else 401)");

    int signal_number = 0;
    while (sigwait(&signals, &signal_number) != 0)
        ;
    log_info("stopping on %s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out:
    partner_sim_destroy(sim);
    if (status == 0 && options->port_file)
        unlink(options->port_file);
    return status;
}
