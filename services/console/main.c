/*
 * placehub-console: the operators' and auditors' web console (console.h
 * says where each page's facts come from). main() parses options, adds a
 * user (--add-user) or loads the configuration, starts the ledger feed,
 * the sampler and the listener, and serves until SIGINT/SIGTERM.
 */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console.h"
#include "core/log.h"
#include "core/secret.h"
#include "governance/ledger.h"
#include "kafka/producer.h"
#include "service/service.h"

static const char help[] =
    "Usage: placehub-console [-c CONFIG] [--check-config]\n"
    "       placehub-console --add-user NAME --role operator|auditor [-c CONFIG]\n"
    "\n"
    "The web console for the people who run the hub (console.listen, by default\n"
    "only on this machine: http://127.0.0.1:9190/). After logging in:\n"
    "  Overview      each partner: delivering, paused or circuit open (since when,\n"
    "                and the last error), lag, delivered / suppressed (by reason) /\n"
    "                dead-lettered / retrying, p50 and p99 delivery latency, and\n"
    "                an hour of lag and throughput\n"
    "  Trace         where an event is now: its intake, and at every partner\n"
    "                delivered, suppressed (why), retrying or dead-lettered\n"
    "  Dead letters  browse, inspect as the partner would receive it, redrive\n"
    "  Partners      pause, resume, probe now (close an open circuit at once)\n"
    "  Subject access  (auditors) what was disclosed about a person\n"
    "\n"
    "Roles: operator (operates; never sees personal data: event ids and person\n"
    "references only) and auditor (reads; may see personal data, and every such\n"
    "view is written to the audit topic first).\n"
    "\n"
    "Users live in console.users_file as salted PBKDF2 hashes. Add one with\n"
    "  placehub-console --add-user alice --role operator\n"
    "which asks for the password twice (or reads one line from standard input\n"
    "when that is not a terminal); the same command with a new password\n"
    "replaces it. Remove a user by deleting their line.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE   configuration (default config/placehub.yaml)\n"
    "      --check-config  check the configuration and the users file, then exit\n"
    "      --add-user NAME add or replace a user (with --role)\n"
    "      --role ROLE     operator or auditor\n"
    "  -h, --help          this text\n"
    "\n"
    "docs/operations.md, \"The console\", shows each page.\n";

struct console_options {
    const char *config_path;
    const char *add_user;
    const char *role;
    int check_config;
};

static void console_parse(int argc, char **argv, struct console_options *options)
{
    static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},   {"check-config", no_argument, NULL, 'k'},
        {"add-user", required_argument, NULL, 'u'}, {"role", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *options = (struct console_options){"config/placehub.yaml", NULL, NULL, 0};
    int c;
    while ((c = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            options->config_path = optarg;
            break;
        case 'k':
            options->check_config = 1;
            break;
        case 'u':
            options->add_user = optarg;
            break;
        case 'r':
            options->role = optarg;
            break;
        case 'h':
            fputs(help, stdout);
            exit(0);
        default:
            fputs("Try 'placehub-console --help'.\n", stderr);
            exit(2);
        }
    }
    if (optind < argc || (options->role && !options->add_user)) {
        fprintf(stderr, "placehub-console: %s. Try 'placehub-console --help'.\n",
                optind < argc ? "unexpected argument" : "--role goes with --add-user");
        exit(2);
    }
}

/* One line from standard input; without echo, after prompt, on a terminal. */
static int console_read_password(const char *prompt, char *out, size_t out_size)
{
    struct termios before, quiet;
    int terminal = isatty(0) && tcgetattr(0, &before) == 0;
    if (terminal) {
        fputs(prompt, stderr);
        quiet = before;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    int rc = fgets(out, (int)out_size, stdin) ? 0 : -1;
    if (terminal) {
        tcsetattr(0, TCSAFLUSH, &before);
        fputs("\n", stderr);
    }
    out[strcspn(out, "\r\n")] = '\0';
    return rc;
}

static int console_add_user(const struct config *config, const char *users_file,
                            const struct console_options *options)
{
    char password[256], again[256], errstr[512];
    int role = options->role ? console_role_parse(options->role) : -1;
    if (role < 0) {
        fprintf(stderr, "placehub-console: --role operator or --role auditor, not '%s'\n",
                options->role ? options->role : "(none)");
        return 2;
    }
    if (console_read_password("Password: ", password, sizeof password) != 0 ||
        (isatty(0) && (console_read_password("Again: ", again, sizeof again) != 0 ||
                       strcmp(password, again) != 0))) {
        fprintf(stderr, "placehub-console: the passwords differ (or none was given)\n");
        return 2;
    }
    int rc = console_users_add(users_file, options->add_user, (enum console_role)role, password,
                               errstr, sizeof errstr);
    explicit_bzero(password, sizeof password);
    explicit_bzero(again, sizeof again);
    (void)config;
    if (rc != 0) {
        fprintf(stderr, "placehub-console: --add-user: %s\n", errstr);
        return strstr(errstr, "user name") || strstr(errstr, "password:") ? 2 : 1;
    }
    printf("%s: %s %s\n", users_file, options->add_user,
           console_role_name((enum console_role)role));
    return 0;
}

/* The paths and secrets the console needs, or a message saying what to
 * set; 0 or -1 with errstr. */
static int console_prepare(struct console *console, char *errstr, size_t errstr_size)
{
    const struct config *config = console->config;
    if (!config->console.users_file) {
        snprintf(errstr, errstr_size,
                 "%s: console.users_file is not set: name the file placehub-console "
                 "--add-user writes (e.g. users_file: \"../var/console-users\")",
                 config->path);
        return -1;
    }
    if (config_resolve_path(config, config->console.users_file, console->users_file,
                            sizeof console->users_file) != 0 ||
        config_resolve_path(config, config->console.ledger, console->ledger_path,
                            sizeof console->ledger_path) != 0) {
        snprintf(errstr, errstr_size, "%s: console paths too long", config->path);
        return -1;
    }
    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf(errstr, errstr_size, "cannot find this program's folder (/proc/self/exe)");
        return -1;
    }
    self[len] = '\0';
    snprintf(console->ctl_path, sizeof console->ctl_path, "%s/placehub-ctl", dirname(self));
    if (access(console->ctl_path, X_OK) != 0) {
        snprintf(errstr, errstr_size,
                 "%s is missing: the console runs placehub-ctl from its own folder (make, or "
                 "make install, puts them together)",
                 console->ctl_path);
        return -1;
    }
    if (config->operations.token_file) {
        char reference[1100], path[1024];
        if (config_resolve_path(config, config->operations.token_file, path, sizeof path) != 0)
            path[0] = '\0';
        snprintf(reference, sizeof reference, "file:%s", path);
        if (secret_read(reference, console->token, sizeof console->token, errstr, errstr_size))
            return -1;
    }
    return 0;
}

static int console_serve(struct console *console)
{
    const struct config *config = console->config;
    char errstr[1024];
    struct ledger_feed *feed = NULL;
    struct httpd *httpd = NULL;
    int rc = 1;
    if (ledger_open(console->ledger_path, config->dispatch.audit_topic, LEDGER_KEEPER,
                    &console->ledger, errstr, sizeof errstr) != 0 ||
        ledger_index_events(console->ledger, errstr, sizeof errstr) != 0 ||
        ledger_feed_start(config, console->ledger, &feed, errstr, sizeof errstr) != 0 ||
        producer_new(config, "placehub-console", 10000, PRODUCER_LINGER_ACK_MS, &console->audit,
                     errstr, sizeof errstr) != 0 ||
        !(console->sessions = console_sessions_new(config->console.session_idle_minutes)) ||
        !(console->sampler =
              console_sampler_start(config, console->token, errstr, sizeof errstr)) ||
        !(httpd = httpd_new(config->console.listen, 64 * 1024, console_handle, console, errstr,
                            sizeof errstr))) {
        fprintf(stderr, "placehub-console: %s\n", errstr[0] ? errstr : "out of memory");
        goto out;
    }
    log_info("serving url=http://%s/ port=%d ledger=%s", config->console.listen, httpd_port(httpd),
             console->ledger_path);
    service_wait_for_signal();
    rc = 0;
out:
    httpd_destroy(httpd);
    console_sampler_stop(console->sampler);
    console_sessions_destroy(console->sessions);
    if (console->audit)
        producer_destroy(console->audit);
    if (feed)
        ledger_feed_stop(feed);
    ledger_close(console->ledger);
    return rc;
}

int main(int argc, char **argv)
{
    struct console_options options;
    struct console console = {0};
    char errstr[1024];
    log_init("placehub-console", -1);
    service_block_signals();
    console_parse(argc, argv, &options);
    struct service_options service = {options.config_path, 0};
    struct config *config = service_load_config("placehub-console", &service);
    console.config = config;
    int rc = 1;
    if (options.add_user) {
        if (!config->console.users_file ||
            config_resolve_path(config, config->console.users_file, console.users_file,
                                sizeof console.users_file) != 0) {
            fprintf(stderr, "placehub-console: console.users_file is not set in %s\n",
                    config->path);
            goto out;
        }
        rc = console_add_user(config, console.users_file, &options);
        goto out;
    }
    if (console_prepare(&console, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "placehub-console: %s\n", errstr);
        goto out;
    }
    service_load_person_key("placehub-console", config);
    if (options.check_config) {
        enum console_role role;
        if (console_users_check(console.users_file, "-", "-", &role, errstr, sizeof errstr) < 0) {
            fprintf(stderr, "placehub-console: %s\n", errstr);
            goto out;
        }
        printf("%s: configuration OK; console on %s, users in %s\n", config->path,
               config->console.listen, console.users_file);
        rc = 0;
        goto out;
    }
    rc = console_serve(&console);
out:
    config_destroy(config);
    return rc;
}
