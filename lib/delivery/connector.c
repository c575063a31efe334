/*
 * connector.c - the host side of the connector ABI (see
 * include/placehub/connector.h and docs/connectors.md): finding and
 * loading connector types, checking a partner's options against what its
 * connector and the host declare, and the services lent to connectors.
 *
 * Shared objects run inside dispatch with its privileges and see every
 * event, so loading is strict: the major version must be ours and the minor
 * no later than ours, and a file another user could have replaced (group-
 * or world-writable, or in such a folder) is refused. Version 1 connectors
 * are refused too, with a message saying to rebuild (docs/connectors.md).
 */
#include "delivery/connector.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/secret.h"
#include "delivery/options.h"

/* Does a type built with struct_size have field? Fields a later minor
 * version adds are read only through this. */
#define CONNECTOR_TYPE_HAS(type, field)                                                            \
    ((type)->struct_size >= offsetof(struct placehub_connector_type, field) +                      \
                                sizeof(((struct placehub_connector_type *)0)->field))

/* Up to this, the first word of a type is not a struct size (a version 2
 * type has at least 36 bytes, 64 on LP64) but the `unsigned abi_version`
 * of a version 1 connector (1), or of a version that never was. */
#define CONNECTOR_LEGACY_VERSION_MAX 15

extern const struct placehub_connector_type placehub_connector_webhook;
extern const struct placehub_connector_type placehub_connector_fhir;
extern const struct placehub_connector_type placehub_connector_mail;
extern const struct placehub_connector_type placehub_connector_http;
extern const struct placehub_connector_type placehub_connector_mesh;

static const struct placehub_connector_type *const connector_builtins[] = {
    &placehub_connector_webhook, &placehub_connector_fhir, &placehub_connector_mail,
    &placehub_connector_http,    &placehub_connector_mesh,
};

#define CONNECTOR_BUILTIN_COUNT (sizeof connector_builtins / sizeof connector_builtins[0])

const char *connector_builtin_names(void)
{
    static char names[256];
    if (!names[0]) {
        size_t used = 0;
        for (size_t i = 0; i < CONNECTOR_BUILTIN_COUNT && used < sizeof names; i++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                             connector_builtins[i]->name);
            if (n > 0)
                used += (size_t)n;
        }
    }
    return names;
}

/* Refuses a path another user could have written to. */
static int connector_path_safe(const char *path, char *errstr, size_t errstr_size)
{
    struct stat info;
    if (stat(path, &info) != 0) {
        snprintf(errstr, errstr_size, "connector %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(info.st_mode)) {
        snprintf(errstr, errstr_size, "connector %s: not a regular file", path);
        return -1;
    }
    if (info.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(errstr, errstr_size,
                 "connector %s is group- or world-writable, so anyone could replace the code "
                 "that sees every event: refused (chmod go-w it)",
                 path);
        return -1;
    }
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *folder = dirname(copy);
    if (stat(folder, &info) == 0 && (info.st_mode & (S_IWGRP | S_IWOTH)) &&
        !(info.st_mode & S_ISVTX)) {
        snprintf(errstr, errstr_size,
                 "connector %s is in a group- or world-writable folder (%s): refused", path,
                 folder);
        return -1;
    }
    return 0;
}

int connector_type_check(const struct placehub_connector_type *type, const char *where,
                         char *errstr, size_t errstr_size)
{
    uint32_t first;
    /* Read as bytes: a version 1 struct has an unsigned here, not our
     * fields, and may be shorter than ours. */
    memcpy(&first, type, sizeof first);
    if (first <= CONNECTOR_LEGACY_VERSION_MAX) {
        snprintf(errstr, errstr_size,
                 "connector %s was built for connector ABI version %u; this placehub speaks "
                 "version %d.%d and no longer loads version 1 connectors: rebuild it against "
                 "this placehub's include/placehub/connector.h (docs/connectors.md, \"From "
                 "version 1\")",
                 where, (unsigned)first, PLACEHUB_CONNECTOR_ABI_MAJOR,
                 PLACEHUB_CONNECTOR_ABI_MINOR);
        return -1;
    }
    if (type->abi_major != PLACEHUB_CONNECTOR_ABI_MAJOR) {
        snprintf(errstr, errstr_size,
                 "connector %s was built for connector ABI version %u.%u; this placehub speaks "
                 "version %d.%d: rebuild it against this placehub's include/placehub/connector.h",
                 where, type->abi_major, type->abi_minor, PLACEHUB_CONNECTOR_ABI_MAJOR,
                 PLACEHUB_CONNECTOR_ABI_MINOR);
        return -1;
    }
    if (type->abi_minor > PLACEHUB_CONNECTOR_ABI_MINOR) {
        snprintf(errstr, errstr_size,
                 "connector %s was built for connector ABI version %u.%u, newer than this "
                 "placehub's %d.%d: upgrade placehub, or rebuild the connector against this "
                 "placehub's include/placehub/connector.h",
                 where, type->abi_major, type->abi_minor, PLACEHUB_CONNECTOR_ABI_MAJOR,
                 PLACEHUB_CONNECTOR_ABI_MINOR);
        return -1;
    }
    if (!CONNECTOR_TYPE_HAS(type, destroy)) {
        snprintf(errstr, errstr_size,
                 "connector %s says its type is %u bytes, too small for ABI version %u.%u (set "
                 "it with PLACEHUB_CONNECTOR_VERSION)",
                 where, (unsigned)type->struct_size, type->abi_major, type->abi_minor);
        return -1;
    }
    if (!type->name || !type->create || !type->prepare || !type->destroy) {
        snprintf(errstr, errstr_size,
                 "connector %s lacks a name or one of create, prepare, destroy", where);
        return -1;
    }
    for (const struct placehub_option *option = type->options; option && option->name; option++)
        if (option->type < PLACEHUB_OPTION_STRING ||
            option->type > PLACEHUB_OPTION_SECRET_REFERENCE) {
            snprintf(errstr, errstr_size, "connector %s: option '%s' has no known type (%d)", where,
                     option->name, (int)option->type);
            return -1;
        }
    return 0;
}

static const struct placehub_connector_type *connector_load(const char *path, char *errstr,
                                                            size_t errstr_size)
{
    if (connector_path_safe(path, errstr, errstr_size) != 0)
        return NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(errstr, errstr_size, "connector %s: cannot load: %s", path, dlerror());
        return NULL;
    }
    const struct placehub_connector_type *type = dlsym(handle, PLACEHUB_CONNECTOR_SYMBOL);
    if (!type) {
        snprintf(errstr, errstr_size, "connector %s exports no '%s' (see docs/connectors.md)", path,
                 PLACEHUB_CONNECTOR_SYMBOL);
        dlclose(handle);
        return NULL;
    }
    if (connector_type_check(type, path, errstr, errstr_size) != 0) {
        dlclose(handle);
        return NULL;
    }
    /* The handle is kept open on purpose: instances live until exit. */
    return type;
}

const struct placehub_connector_type *connector_find(const char *name, char *errstr,
                                                     size_t errstr_size)
{
    if (strchr(name, '/'))
        return connector_load(name, errstr, errstr_size);
    for (size_t i = 0; i < CONNECTOR_BUILTIN_COUNT; i++)
        if (strcmp(connector_builtins[i]->name, name) == 0)
            return connector_type_check(connector_builtins[i], name, errstr, errstr_size) == 0
                       ? connector_builtins[i]
                       : NULL;
    snprintf(errstr, errstr_size,
             "no connector called '%s' (built in: %s; or give the path of a shared object)", name,
             connector_builtin_names());
    return NULL;
}

/* ---- a partner's options against the declarations ---------------------- */

/* The declaration of key: the connector's first (it may make one of the
 * host's required, or describe it better), then the host's. */
static const struct placehub_option *
connector_option_find(const struct placehub_connector_type *type, const char *key)
{
    const struct placehub_option *option = options_find(type->options, key);
    return option ? option : options_find(options_host(), key);
}

static int connector_is_reference(const char *text)
{
    return strncmp(text, "env:", 4) == 0 || strncmp(text, "file:", 5) == 0;
}

/* Is every item of a secret option a reference? A single value is one item. */
static int connector_secret_valid(const struct placehub_option *option, const char *value)
{
    if (option->type != PLACEHUB_OPTION_LIST)
        return connector_is_reference(value);
    for (const char *item = value;;) {
        item += strspn(item, ", \t\r\n");
        if (!*item)
            return 1;
        if (!connector_is_reference(item))
            return 0;
        item += strcspn(item, ", \t\r\n");
    }
}

/* Does value have the shape option's type asks for? Returns what it should
 * look like when not, else NULL. */
static const char *connector_shape_problem(const struct placehub_option *option, const char *value)
{
    const char *c = value;
    switch (option->type) {
    case PLACEHUB_OPTION_INTEGER:
        if (*c == '-')
            c++;
        if (!*c)
            return "a whole number";
        for (; *c; c++)
            if (!isdigit((unsigned char)*c))
                return "a whole number";
        return NULL;
    case PLACEHUB_OPTION_BOOLEAN:
        return strcmp(value, "true") == 0 || strcmp(value, "false") == 0 ? NULL : "true or false";
    case PLACEHUB_OPTION_URL:
        if (!isalpha((unsigned char)*c))
            return "a URL such as https://host/path";
        while (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.')
            c++;
        return strncmp(c, "://", 3) == 0 && c[3] ? NULL : "a URL such as https://host/path";
    default:
        return NULL;
    }
}

/* The declared key nearest to key, or NULL when none is near enough to be
 * what was meant. */
static const char *connector_nearest(const struct placehub_connector_type *type, const char *key)
{
    const struct placehub_option *lists[2] = {type->options, options_host()};
    const char *nearest = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < 2; i++)
        for (const struct placehub_option *option = lists[i]; option && option->name; option++) {
            size_t distance = config_distance(option->name, key);
            if (distance < best) {
                best = distance;
                nearest = option->name;
            }
        }
    /* As the configuration's own keys do (lib/core/config.c), up to 3
     * edits; but not more than half of a short key. */
    return best <= 3 && best <= strlen(key) / 2 ? nearest : NULL;
}

/* The connector's own keys, comma-separated, for a message. */
static void connector_option_names(const struct placehub_connector_type *type, char *out,
                                   size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const struct placehub_option *option = type->options;
         option && option->name && used < out_size; option++) {
        int n = snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", option->name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (!out[0])
        snprintf(out, out_size, "none of its own");
}

int connector_options_check(const struct placehub_connector_type *type, const struct config *config,
                            const struct config_partner *partner, char *errstr, size_t errstr_size)
{
    const char *path = config->path ? config->path : "configuration";
    for (size_t i = 0; i < partner->option_count; i++) {
        const struct config_option *given = &partner->options[i];
        const struct placehub_option *option = connector_option_find(type, given->key);
        if (!option) {
            const char *nearest = connector_nearest(type, given->key);
            if (nearest) {
                snprintf(errstr, errstr_size,
                         "%s:%d: partner %s: options.%s: unknown option '%s' for connector %s; "
                         "did you mean '%s'?",
                         path, given->line, partner->id, given->key, given->key, type->name,
                         nearest);
            } else {
                char names[512];
                connector_option_names(type, names, sizeof names);
                snprintf(errstr, errstr_size,
                         "%s:%d: partner %s: options.%s: unknown option '%s' for connector %s "
                         "(its options: %s; the host's: docs/connectors.md, \"Configuring\")",
                         path, given->line, partner->id, given->key, given->key, type->name, names);
            }
            return -1;
        }
        if (given->structured && option->type != PLACEHUB_OPTION_STRING) {
            snprintf(errstr, errstr_size,
                     "%s:%d: partner %s: options.%s must be a single value, not a mapping or a "
                     "list (%s)",
                     path, given->line, partner->id, given->key,
                     option->description ? option->description : option->name);
            return -1;
        }
        const char *value = given->value ? given->value : "";
        /* Never repeat the value of a secret option: it may be the secret. */
        if ((option->secret || option->type == PLACEHUB_OPTION_SECRET_REFERENCE) &&
            !connector_secret_valid(option, value)) {
            snprintf(errstr, errstr_size,
                     "%s:%d: partner %s: options.%s must name the secret as env:NAME or "
                     "file:/path%s; a secret is never written in the configuration itself",
                     path, given->line, partner->id, given->key,
                     option->type == PLACEHUB_OPTION_LIST ? " (each item)" : "");
            return -1;
        }
        const char *shape = connector_shape_problem(option, value);
        if (shape) {
            snprintf(errstr, errstr_size, "%s:%d: partner %s: options.%s must be %s (%s)", path,
                     given->line, partner->id, given->key, shape,
                     option->description ? option->description : option->name);
            return -1;
        }
    }
    for (const struct placehub_option *option = type->options; option && option->name; option++)
        if (option->required && !config_partner_option(partner, option->name)) {
            snprintf(errstr, errstr_size,
                     "%s:%d: partner %s: options.%s is required by connector %s (%s)", path,
                     partner->line, partner->id, option->name, type->name,
                     option->description ? option->description : option->name);
            return -1;
        }
    return 0;
}

/* ---- services lent to connectors --------------------------------------- */

static void connector_log(enum placehub_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void connector_log(enum placehub_log_level level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    log_writev((enum log_level)level, fmt, args);
    va_end(args);
}

static int64_t connector_now_millis(void)
{
    return clock_wall_ms();
}

static int connector_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                                 unsigned char out[32])
{
    unsigned int out_len = 0;
    if (key_len > 0x7fffffff)
        return -1;
    return HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) && out_len == 32 ? 0
                                                                                            : -1;
}

static size_t connector_base64_encode(const void *data, size_t len, char *out, size_t out_size)
{
    size_t need = 4 * ((len + 2) / 3) + 1;
    if (out_size < need || len > 0x7fffffff)
        return 0;
    return (size_t)EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

static long connector_base64_decode(const char *text, unsigned char *out, size_t out_size)
{
    size_t len = strlen(text);
    if (len % 4 != 0 || out_size < len / 4 * 3 || len > 0x7fffffff)
        return -1;
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0)
        return -1;
    /* EVP_DecodeBlock counts padding as zero bytes: take them off. */
    if (len >= 1 && text[len - 1] == '=')
        n--;
    if (len >= 2 && text[len - 2] == '=')
        n--;
    return n;
}

static const struct placehub_host connector_host_table = {
    .struct_size = sizeof(struct placehub_host),
    .abi_major = PLACEHUB_CONNECTOR_ABI_MAJOR,
    .abi_minor = PLACEHUB_CONNECTOR_ABI_MINOR,
    .log = connector_log,
    .now_millis = connector_now_millis,
    .hmac_sha256 = connector_hmac_sha256,
    .base64_encode = connector_base64_encode,
    .base64_decode = connector_base64_decode,
    .secret = secret_read,
};

connector_next_fn connector_next(const struct placehub_connector_type *type)
{
    return CONNECTOR_TYPE_HAS(type, next) ? type->next : NULL;
}

const struct placehub_host *connector_host(void)
{
    return &connector_host_table;
}
