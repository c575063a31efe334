/*
 * server.c - the console's front door: login and logout, the session
 * cookie, the CSRF check every state-changing request passes, the web
 * assets, and the security headers on every answer. Everything under
 * /api/ goes on to api.c with the user it belongs to.
 *
 * IMPORTANT: a POST is accepted only with the session's CSRF token in
 * X-CSRF-Token (and, for the login form, the login cookie's value in the
 * form: a double submit), and only when a browser's Origin, if sent, is
 * this console. The cookie is HttpOnly and SameSite=Strict.
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "core/log.h"
#include "core/text.h"
#include "net/http_fields.h"

#define SESSION_COOKIE "placehub_session"
#define LOGIN_COOKIE "placehub_login"

/* Security headers on every answer: no framing, no outside scripts, no
 * referrer, no caching of what may hold personal data. */
static void server_headers(struct httpd_response *response)
{
    httpd_response_header(response, "Content-Security-Policy",
                          "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                          "script-src 'self'; frame-ancestors 'none'; form-action 'self'");
    httpd_response_header(response, "X-Frame-Options", "DENY");
    httpd_response_header(response, "X-Content-Type-Options", "nosniff");
    httpd_response_header(response, "Referrer-Policy", "no-referrer");
    httpd_response_header(response, "Cache-Control", "no-store");
}

static int server_cookie(const struct httpd_request *request, const char *name, char *out,
                         size_t out_size)
{
    return http_fields_cookie(httpd_request_header(request, "Cookie"), name, out, out_size);
}

static int server_form(const struct httpd_request *request, const char *name, char *out,
                       size_t out_size)
{
    return http_fields_form(request->body, request->body_len, name, out, out_size);
}

static void server_asset(struct httpd_response *response, const char *path)
{
    const struct console_asset *asset = console_asset_find(path);
    if (!asset) {
        httpd_response_text(response, 404, "text/plain; charset=utf-8", "not found\n", 10);
        return;
    }
    httpd_response_text(response, 200, asset->content_type, (const char *)asset->data, asset->len);
}

static void server_redirect(struct httpd_response *response, const char *to)
{
    httpd_response_text(response, 303, "text/plain; charset=utf-8", "", 0);
    httpd_response_header(response, "Location", to);
}

/* The login page, with a fresh login token in a cookie and the form, and
 * message (NULL: none) above the form. */
static void server_login_page(struct httpd_response *response, int status, const char *message)
{
    const struct console_asset *page = console_asset_find("/login.html");
    unsigned char bytes[16];
    char token[33], cookie[160];
    if (!page || RAND_bytes(bytes, sizeof bytes) != 1) {
        httpd_response_text(response, 500, "text/plain; charset=utf-8", "no login page\n", 14);
        return;
    }
    text_hex(bytes, sizeof bytes, token);
    /* The page carries two markers the server fills, in either order: the
     * token and the message (plain text from this file, never user input). */
    struct text text = {0};
    const char *data = (const char *)page->data, *end = data + page->len, *at = data;
    const char *marks[2] = {"LOGIN_TOKEN", "LOGIN_MESSAGE"};
    const char *values[2] = {token, message ? message : ""};
    while (at < end) {
        const char *next = NULL;
        int which = -1;
        for (int i = 0; i < 2; i++) {
            const char *found = strstr(at, marks[i]);
            if (found && (!next || found < next)) {
                next = found;
                which = i;
            }
        }
        if (!next) {
            text_append(&text, at, (size_t)(end - at));
            break;
        }
        text_append(&text, at, (size_t)(next - at));
        text_append(&text, values[which], strlen(values[which]));
        at = next + strlen(marks[which]);
    }
    httpd_response_text(response, status, "text/html; charset=utf-8", text.data ? text.data : "",
                        text.len);
    free(text.data);
    snprintf(cookie, sizeof cookie, LOGIN_COOKIE "=%s; Path=/login; HttpOnly; SameSite=Strict",
             token);
    httpd_response_header(response, "Set-Cookie", cookie);
}

static void server_login(struct console *console, const struct httpd_request *request,
                         struct httpd_response *response)
{
    char name[CONSOLE_NAME_MAX + 2], password[256], form_token[64], cookie_token[64];
    char errstr[512];
    if (server_cookie(request, LOGIN_COOKIE, cookie_token, sizeof cookie_token) != 0 ||
        server_form(request, "login_token", form_token, sizeof form_token) != 0 ||
        strlen(form_token) != 32 || CRYPTO_memcmp(form_token, cookie_token, 32) != 0) {
        server_login_page(response, 403,
                          "The login form had expired or came from elsewhere: try again.");
        return;
    }
    if (server_form(request, "name", name, sizeof name) != 0 || !console_name_valid(name)) {
        server_login_page(response, 400,
                          "User name: 1 to 64 letters, digits, '.', '_', '@' or '-'.");
        return;
    }
    if (server_form(request, "password", password, sizeof password) != 0 || !password[0]) {
        server_login_page(response, 400, "Password: required.");
        return;
    }
    enum console_role role;
    int rc = console_users_check(console->users_file, name, password, &role, errstr, sizeof errstr);
    OPENSSL_cleanse(password, sizeof password);
    if (rc < 0) {
        log_error("login refused: %s", errstr);
        server_login_page(response, 500, "The users file cannot be read: see the console's log.");
        return;
    }
    if (rc == 0) {
        log_warning("login failed user=%s request_id=%s", name, request->request_id);
        server_login_page(response, 401, "Wrong user name or password.");
        return;
    }
    char token[65], cookie[200];
    struct console_session session;
    if (console_sessions_open(console->sessions, name, role, token, &session) != 0) {
        server_login_page(response, 503, "Too many sessions are open: try again later.");
        return;
    }
    log_info("login user=%s role=%s", name, console_role_name(role));
    server_redirect(response, "/");
    snprintf(cookie, sizeof cookie, SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", token);
    httpd_response_header(response, "Set-Cookie", cookie);
}

/* A browser's Origin, when it sent one, must be this console. */
static int server_same_origin(const struct httpd_request *request)
{
    const char *origin = httpd_request_header(request, "Origin");
    const char *host = httpd_request_header(request, "Host");
    if (!origin)
        return 1;
    const char *after = strstr(origin, "://");
    return host && after && strcmp(after + 3, host) == 0;
}

static void server_api(struct console *console, const struct httpd_request *request,
                       struct httpd_response *response, const char *token)
{
    struct console_call call = {console, request, response, {{0}, 0, {0}}};
    if (!token || !console_sessions_find(console->sessions, token, &call.session)) {
        httpd_response_error(response, 401, "not_logged_in", NULL,
                             "log in first (your session may have ended after %d idle minutes)",
                             console->config->console.session_idle_minutes);
        return;
    }
    if (strcmp(request->method, "POST") == 0) {
        const char *csrf = httpd_request_header(request, "X-CSRF-Token");
        if (!server_same_origin(request) || !csrf || strlen(csrf) != 64 ||
            CRYPTO_memcmp(csrf, call.session.csrf, 64) != 0) {
            httpd_response_error(response, 403, "csrf", "X-CSRF-Token",
                                 "this request did not come from the console's own page: "
                                 "reload the page and try again");
            return;
        }
    }
    if (strcmp(request->method, "POST") == 0 && strcmp(request->path, "/api/logout") == 0) {
        console_sessions_close(console->sessions, token);
        log_info("logout user=%s", call.session.name);
        httpd_response_json(response, 200, json_pack("{s:b}", "logged_out", 1));
        httpd_response_header(response, "Set-Cookie",
                              SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        return;
    }
    if (console_api(&call) != 0)
        httpd_response_error(response, 404, "not_found", NULL, "no such API route: %s %s",
                             request->method, request->path);
}

void console_handle(void *context, const struct httpd_request *request,
                    struct httpd_response *response)
{
    struct console *console = context;
    char token[80];
    int has_token = server_cookie(request, SESSION_COOKIE, token, sizeof token) == 0;
    int get = strcmp(request->method, "GET") == 0, post = strcmp(request->method, "POST") == 0;
    server_headers(response);
    if (strncmp(request->path, "/api/", 5) == 0) {
        server_api(console, request, response, has_token ? token : NULL);
    } else if (get && strcmp(request->path, "/healthz") == 0) {
        httpd_response_text(response, 200, "text/plain; charset=utf-8", "ok\n", 3);
    } else if (get && strncmp(request->path, "/assets/", 8) == 0) {
        server_asset(response, request->path);
    } else if (get && strcmp(request->path, "/login") == 0) {
        server_login_page(response, 200, NULL);
    } else if (post && strcmp(request->path, "/login") == 0) {
        server_login(console, request, response);
    } else if (get && strcmp(request->path, "/") == 0) {
        struct console_session session;
        if (has_token && console_sessions_find(console->sessions, token, &session))
            server_asset(response, "/index.html");
        else
            server_redirect(response, "/login");
    } else if (!get && !post) {
        httpd_response_error(response, 405, "method", NULL, "GET or POST only");
    } else {
        httpd_response_text(response, 404, "text/plain; charset=utf-8", "not found\n", 10);
    }
}
