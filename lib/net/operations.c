/*
 * operations.c - the operators' listener: /metrics, /healthz, /readyz and
 * the status page (see operations.h). The page is one HTML document with
 * its script inline; it reads nothing but this listener's /metrics, so the
 * figures it shows are the ones Prometheus scrapes.
 *
 * A service's own routes (operations_add_routes) are looked up first; this
 * file decides who may use them (operations_route_allowed) and the service
 * answers. The table is filled after the listener started (dispatch adds
 * /partners once its partners exist), so it is read under routes_lock.
 */
#include "net/operations.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/httpd.h"
#include "net/metrics.h"

struct operations {
    struct httpd *httpd;
    char service[64];
    char token[256]; /* "" when none */
    operations_ready_fn *ready;
    void *context;
    pthread_mutex_t routes_lock;
    struct operations_route routes[OPERATIONS_ROUTES_MAX];
    size_t route_count;
};

static const char operations_page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>placehub status</title>\n"
    "<style>\n"
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f7f8fa}\n"
    "h1{font-size:1.3em;margin:0 0 .2em}#updated{color:#5a6270;font-size:.9em}\n"
    "table{border-collapse:collapse;margin:1em 0;background:#fff}\n"
    "th,td{padding:.35em .8em;border-bottom:1px solid #dde1e6;text-align:right}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "td.closed{color:#18794e}td.open,td.half-open{color:#b42318;font-weight:bold}\n"
    "#error{color:#b42318;font-weight:bold}svg{background:#fff;border:1px solid #dde1e6}\n"
    "</style></head><body>\n"
    "<h1>placehub: <span id=\"service\">SERVICE</span></h1>\n"
    "<div id=\"updated\">loading&hellip;</div><div id=\"error\"></div>\n"
    "<table id=\"partners\"><thead><tr><th>Partner</th><th>Events in</th>"
    "<th>Delivered</th><th>Dead-lettered</th><th>Retries</th><th>Lag</th>"
    "<th>Delivered/s</th><th>Circuit</th></tr></thead><tbody></tbody></table>\n"
    "<div>Delivered per second, last 5 minutes</div>\n"
    "<svg id=\"chart\" width=\"600\" height=\"120\" viewBox=\"0 0 600 120\"></svg>\n"
    "<div id=\"legend\"></div>\n"
    "<script>\n"
    "'use strict';\n"
    "const params=new URLSearchParams(location.search);\n"
    "const token=params.get('token');\n"
    "const every=Math.max(500,Number(params.get('interval')||2000));\n"
    "const colours=['#2f6fde','#d9480f','#2b8a3e','#862e9c','#c92a2a','#0b7285','#5c940d'];\n"
    "const history={};let previous=null;\n"
    "function parse(text){const rows=[];for(const line of text.split('\\n')){\n"
    "  if(!line||line[0]==='#')continue;\n"
    "  const m=/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? (\\S+)$/.exec(line);if(!m)continue;\n"
    "  const labels={};const re=/([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"/g;let l;\n"
    "  "
    "while((l=re.exec(m[2]||''))!==null)labels[l[1]]=l[2].replace(/\\\\(.)/"
    "g,(a,c)=>c==='n'?'\\n':c);\n"
    "  rows.push({name:m[1],labels,value:Number(m[3])});}return rows;}\n"
    "function cell(row,partner,metric,text,cls){const td=document.createElement('td');\n"
    "  td.dataset.partner=partner;td.dataset.metric=metric;td.textContent=text;\n"
    "  if(cls)td.className=cls;row.appendChild(td);}\n"
    "function draw(){const svg=document.getElementById('chart');svg.replaceChildren();\n"
    "  const legend=document.getElementById('legend');legend.replaceChildren();\n"
    "  let top=1;for(const p in history)for(const v of history[p])top=Math.max(top,v);\n"
    "  Object.keys(history).sort().forEach((p,i)=>{const points=history[p];\n"
    "    const colour=colours[i%colours.length];\n"
    "    const line=document.createElementNS('http://www.w3.org/2000/svg','polyline');\n"
    "    line.setAttribute('fill','none');line.setAttribute('stroke',colour);\n"
    "    line.setAttribute('points',points.map((v,k)=>(600-(points.length-1-k)*4)+','+"
    "(115-v/top*105)).join(' '));\n"
    "    svg.appendChild(line);const key=document.createElement('span');\n"
    "    key.style.color=colour;key.textContent='\\u25a0 '+p+'  ';legend.appendChild(key);});}\n"
    "function show(rows,now){const partners={};\n"
    "  const get=p=>partners[p]||(partners[p]={in:0,delivered:0,dead:0,retries:0,lag:0,"
    "circuit:null});\n"
    "  for(const r of rows){const p=r.labels.partner;if(p===undefined)continue;\n"
    "    if(r.name==='placehub_dispatch_events_in_total')get(p).in+=r.value;\n"
    "    else if(r.name==='placehub_dispatch_events_out_total'){\n"
    "      if(r.labels.outcome==='delivered')get(p).delivered+=r.value;else "
    "get(p).dead+=r.value;}\n"
    "    else if(r.name==='placehub_dispatch_retries_total')get(p).retries+=r.value;\n"
    "    else if(r.name==='placehub_dispatch_consumer_lag')get(p).lag+=r.value;\n"
    "    else if(r.name==='placehub_dispatch_circuit_state')get(p).circuit=r.value;}\n"
    "  const body=document.querySelector('#partners tbody');body.replaceChildren();\n"
    "  for(const p of Object.keys(partners).sort()){const f=partners[p];\n"
    "    let rate=0;if(previous&&previous.partners[p]){\n"
    "      "
    "rate=Math.max(0,(f.delivered-previous.partners[p].delivered)/((now-previous.at)/1000));}\n"
    "    (history[p]=history[p]||[]).push(rate);if(history[p].length>150)history[p].shift();\n"
    "    const names=['closed','open','half-open'];\n"
    "    const circuit=f.circuit===null?'unknown':(names[f.circuit]||'unknown');\n"
    "    const row=document.createElement('tr');row.dataset.partner=p;\n"
    "    cell(row,p,'partner',p);cell(row,p,'in',String(f.in));\n"
    "    cell(row,p,'delivered',String(f.delivered));cell(row,p,'dead_lettered',String(f.dead));\n"
    "    cell(row,p,'retries',String(f.retries));cell(row,p,'lag',String(f.lag));\n"
    "    cell(row,p,'rate',rate.toFixed(1));cell(row,p,'circuit',circuit,circuit);\n"
    "    body.appendChild(row);}\n"
    "  previous={at:now,partners};draw();}\n"
    "async function refresh(){try{\n"
    "    const answer=await fetch('metrics',{headers:token?{Authorization:'Bearer '+token}:{},"
    "cache:'no-store'});\n"
    "    if(!answer.ok)throw new Error('HTTP '+answer.status);\n"
    "    const now=Date.now();show(parse(await answer.text()),now);\n"
    "    document.getElementById('error').textContent='';\n"
    "    const updated=document.getElementById('updated');\n"
    "    updated.textContent='updated '+new Date(now).toISOString();updated.dataset.ok='1';\n"
    "  }catch(e){document.getElementById('error').textContent='cannot read /metrics: "
    "'+e.message;}\n"
    "  setTimeout(refresh,every);}\n"
    "refresh();\n"
    "</script></body></html>\n";

/* Constant-time comparison of the presented token with ours. */
static int operations_authorised(const struct operations *operations,
                                 const struct httpd_request *request)
{
    if (!operations->token[0])
        return 1;
    const char *presented = NULL;
    const char *header = httpd_request_header(request, "Authorization");
    if (header && strncmp(header, "Bearer ", 7) == 0)
        presented = header + 7;
    else
        presented = httpd_request_query(request, "token");
    size_t ours = strlen(operations->token);
    return presented && strlen(presented) == ours &&
           CRYPTO_memcmp(presented, operations->token, ours) == 0;
}

/* ---- a service's own routes ---------------------------------------------- */

/* A refusal of a service route, in the routes' error shape. */
static void operations_route_refuse(struct httpd_response *response, int status,
                                    const char *message)
{
    httpd_response_json(response, status, json_pack("{s:s}", "error", message));
}

/* 1 when origin (an Origin header) is this listener itself: http(s)://Host. */
static int operations_same_origin(const struct httpd_request *request, const char *origin)
{
    const char *host = httpd_request_header(request, "Host");
    const char *rest = strncmp(origin, "http://", 7) == 0    ? origin + 7
                       : strncmp(origin, "https://", 8) == 0 ? origin + 8
                                                             : NULL;
    return host && rest && strcmp(rest, host) == 0;
}

/* Whether request may use a service's route; answers it when not. */
static int operations_route_allowed(const struct operations *operations,
                                    const struct httpd_request *request,
                                    struct httpd_response *response)
{
    const char *method = request->method;
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) {
        if (operations_authorised(operations, request))
            return 1;
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        operations_route_refuse(response, 401,
                                "the operations token is required (operations.token_file)");
        return 0;
    }
    if (strcmp(method, "POST") != 0) {
        httpd_response_header(response, "Allow", "GET, HEAD, POST");
        operations_route_refuse(response, 405, "method not allowed: GET or POST");
        return 0;
    }
    /* IMPORTANT: a page on another site can make a browser send a "simple"
     * cross-origin POST (no custom headers, no preflight) to this listener,
     * e.g. from an operator's own machine to 127.0.0.1. Browsers always name
     * the page's origin in such a POST: refuse any but our own. A request
     * carrying Authorization (or X-Placehub-Actor) cannot be made across
     * origins at all without a CORS preflight, which this listener never
     * grants (it sends no Access-Control-* headers). */
    const char *origin = httpd_request_header(request, "Origin");
    if (origin && !operations_same_origin(request, origin)) {
        operations_route_refuse(response, 403, "cross-origin request refused");
        return 0;
    }
    if (operations->token[0]) {
        /* The header only: a token in a URL ends up in histories and logs. */
        const char *header = httpd_request_header(request, "Authorization");
        size_t ours = strlen(operations->token);
        if (header && strncmp(header, "Bearer ", 7) == 0 && strlen(header + 7) == ours &&
            CRYPTO_memcmp(header + 7, operations->token, ours) == 0)
            return 1;
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        operations_route_refuse(response, 401,
                                "the operations token is required in the Authorization header "
                                "(operations.token_file)");
        return 0;
    }
    if (httpd_request_loopback(request))
        return 1;
    operations_route_refuse(response, 403,
                            "without operations.token_file, changes are taken only from this "
                            "machine (a loopback address)");
    return 0;
}

/* Serves request when a service's route takes its path: returns 1 (the
 * response is filled), else 0. */
static int operations_route_serve(struct operations *operations,
                                  const struct httpd_request *request,
                                  struct httpd_response *response)
{
    struct operations_route route = {0};
    pthread_mutex_lock(&operations->routes_lock);
    for (size_t i = 0; i < operations->route_count && !route.handle; i++) {
        size_t len = strlen(operations->routes[i].path);
        if (strncmp(request->path, operations->routes[i].path, len) == 0 &&
            (request->path[len] == '\0' || request->path[len] == '/'))
            route = operations->routes[i];
    }
    pthread_mutex_unlock(&operations->routes_lock);
    if (!route.handle)
        return 0;
    if (operations_route_allowed(operations, request, response))
        route.handle(route.context, request, response);
    return 1;
}

int operations_add_routes(struct operations *operations, const struct operations_route *routes,
                          size_t count, char *errstr, size_t errstr_size)
{
    static const char *const own[] = {"/", "/metrics", "/status", "/healthz", "/readyz"};
    if (!operations) {
        snprintf(errstr, errstr_size, "no operations listener");
        return -1;
    }
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < sizeof own / sizeof own[0]; k++)
            if (!routes[i].path || routes[i].path[0] != '/' ||
                strcmp(routes[i].path, own[k]) == 0) {
                snprintf(errstr, errstr_size, "operations route %s: not a path of its own",
                         routes[i].path ? routes[i].path : "(none)");
                return -1;
            }
    pthread_mutex_lock(&operations->routes_lock);
    int fits = count <= OPERATIONS_ROUTES_MAX - operations->route_count;
    for (size_t i = 0; fits && i < count; i++)
        operations->routes[operations->route_count++] = routes[i];
    pthread_mutex_unlock(&operations->routes_lock);
    if (!fits) {
        snprintf(errstr, errstr_size, "more than %d operations routes", OPERATIONS_ROUTES_MAX);
        return -1;
    }
    return 0;
}

/* ---- the listener's own paths --------------------------------------------- */

static void operations_handle(void *context, const struct httpd_request *request,
                              struct httpd_response *response)
{
    struct operations *operations = context;
    const char *path = request->path;
    if (operations_route_serve(operations, request, response))
        return;
    if (strcmp(request->method, "GET") != 0 && strcmp(request->method, "HEAD") != 0) {
        httpd_response_error(response, 405, "method_not_allowed", NULL, "GET only");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        httpd_response_text(response, 200, "text/plain", "ok\n", 3);
        return;
    }
    if (strcmp(path, "/readyz") == 0) {
        int ready = !operations->ready || operations->ready(operations->context);
        httpd_response_text(response, ready ? 200 : 503, "text/plain",
                            ready ? "ready\n" : "not ready\n", ready ? 6 : 10);
        return;
    }
    int is_metrics = strcmp(path, "/metrics") == 0;
    int is_status = strcmp(path, "/status") == 0 || strcmp(path, "/") == 0;
    if (!is_metrics && !is_status) {
        httpd_response_error(response, 404, "not_found", NULL,
                             "try /status, /metrics, /healthz or /readyz");
        return;
    }
    if (!operations_authorised(operations, request)) {
        httpd_response_header(response, "WWW-Authenticate", "Bearer");
        httpd_response_error(response, 401, "unauthorised", NULL,
                             "the operations token is required (operations.token_file)");
        return;
    }
    if (is_metrics) {
        size_t len = 0;
        char *text = metrics_render(&len);
        if (!text) {
            httpd_response_error(response, 500, "out_of_memory", NULL, "out of memory");
            return;
        }
        response->status = 200;
        response->body = text;
        response->body_len = len;
        snprintf(response->content_type, sizeof response->content_type,
                 "text/plain; version=0.0.4");
        return;
    }
    /* The page with the service's name in place of SERVICE. */
    const char *mark = strstr(operations_page, "SERVICE");
    size_t head = (size_t)(mark - operations_page), name = strlen(operations->service);
    size_t len = sizeof operations_page - 1 - 7 + name;
    char *page = malloc(len + 1);
    if (!page) {
        httpd_response_error(response, 500, "out_of_memory", NULL, "out of memory");
        return;
    }
    memcpy(page, operations_page, head);
    memcpy(page + head, operations->service, name);
    memcpy(page + head + name, mark + 7, sizeof operations_page - 1 - head - 7);
    page[len] = '\0';
    response->status = 200;
    response->body = page;
    response->body_len = len;
    snprintf(response->content_type, sizeof response->content_type, "text/html; charset=utf-8");
    /* Everything the page needs is in it: forbid anything from elsewhere. */
    httpd_response_header(response, "Content-Security-Policy",
                          "default-src 'none'; script-src 'unsafe-inline'; style-src "
                          "'unsafe-inline'; connect-src 'self'; img-src 'self'");
    httpd_response_header(response, "Cache-Control", "no-store");
}

static void operations_free(struct operations *operations)
{
    pthread_mutex_destroy(&operations->routes_lock);
    free(operations);
}

int operations_start(const struct config *config, const char *listen, const char *service,
                     operations_ready_fn *ready, void *context, struct operations **out,
                     char *errstr, size_t errstr_size)
{
    *out = NULL;
    if (!listen)
        return 0;
    struct operations *operations = calloc(1, sizeof *operations);
    if (!operations) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(operations->service, sizeof operations->service, "%s", service);
    operations->ready = ready;
    operations->context = context;
    pthread_mutex_init(&operations->routes_lock, NULL);
    if (config->operations.token_file) {
        char path[1024];
        FILE *file = NULL;
        if (config_resolve_path(config, config->operations.token_file, path, sizeof path) == 0)
            file = fopen(path, "r");
        if (!file || !fgets(operations->token, sizeof operations->token, file)) {
            snprintf(errstr, errstr_size, "operations.token_file %s: cannot read a token",
                     config->operations.token_file);
            if (file)
                fclose(file);
            operations_free(operations);
            return -1;
        }
        fclose(file);
        operations->token[strcspn(operations->token, "\r\n")] = '\0';
        if (strlen(operations->token) < 16) {
            snprintf(errstr, errstr_size,
                     "operations.token_file %s: the token must be at least 16 characters",
                     config->operations.token_file);
            operations_free(operations);
            return -1;
        }
    }
    char message[512];
    operations->httpd =
        httpd_new(listen, 1024, operations_handle, operations, message, sizeof message);
    if (!operations->httpd) {
        snprintf(errstr, errstr_size, "operations listener %s: %s", listen, message);
        operations_free(operations);
        return -1;
    }
    *out = operations;
    return 0;
}

int operations_port(const struct operations *operations)
{
    return operations ? httpd_port(operations->httpd) : -1;
}

void operations_stop(struct operations *operations)
{
    if (!operations)
        return;
    httpd_destroy(operations->httpd);
    operations_free(operations);
}
