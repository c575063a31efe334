/*
 * partner_sim.h - the simulated partner API (see docs/partner-sim.md): records
 * every request it receives and answers as told through /_sim/behaviour.
 */
#ifndef PLACEHUB_PARTNER_SIM_H
#define PLACEHUB_PARTNER_SIM_H

#include <stddef.h>

#define PARTNER_SIM_DEFAULT_LISTEN "127.0.0.1:9101"
#define PARTNER_SIM_DEFAULT_NAME "partner"
#define PARTNER_SIM_DEFAULT_MAX_BODY ((size_t)10 * 1024 * 1024)
#define PARTNER_SIM_DEFAULT_MAX_RECORDS ((size_t)1000000)
#define PARTNER_SIM_DEFAULT_OAUTH_TTL 3600L

struct partner_sim_options {
    const char *listen;    /* "host:port"; port 0 picks a free one */
    const char *name;      /* shown in logs and in /_sim/stats */
    const char *port_file; /* NULL, or where to write the bound port */
    size_t max_body_bytes;
    size_t max_records; /* at least 1; the oldest records are dropped beyond it */
    /* Authentication, all off when zero (docs/partner-sim.md). Secrets given
     * on the command line: this is a test double, not a place for real ones. */
    const char *oauth_client; /* "ID:SECRET": enables POST /_sim/oauth/token */
    long oauth_ttl_seconds;   /* expires_in of the tokens issued; 0 means 3600 */
    int require_auth;         /* partner requests need a credential, else 401 */
    const char *api_key;      /* accepted in X-API-Key when require_auth */
    const char *bearer_token; /* a static bearer token accepted when require_auth */
};

struct partner_sim;

/* Starts listening. Returns NULL and fills errstr on failure (address in use,
 * bad address). options and its strings are borrowed for the lifetime of the
 * simulator. */
struct partner_sim *partner_sim_new(const struct partner_sim_options *options, char *errstr,
                                    size_t errstr_size);

/* The port actually bound. */
int partner_sim_port(const struct partner_sim *sim);

/* Cuts short requests sleeping in a simulated delay, stops the server and
 * frees. A request cut short may or may not get its answer out before the
 * server closes its connection. NULL is ignored. */
void partner_sim_destroy(struct partner_sim *sim);

/* The whole program after option parsing: blocks SIGINT and SIGTERM, starts
 * the simulator, writes the port file and prints the port on stdout, waits for
 * one of those signals, stops. Returns the process exit status. */
int partner_sim_run(const struct partner_sim_options *options);

#endif
