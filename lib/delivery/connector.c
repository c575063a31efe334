/*
 * connector.c - the host side of the connector ABI (see
 * include/placehub/connector.h and docs/connectors.md).
 *
 * Shared objects run inside dispatch with its privileges and see every
 * event, so loading is strict: the ABI version must match exactly, and a
 * file another user could have replaced (group- or world-writable, or in
 * such a folder) is refused.
 */
#include "delivery/connector.h"

#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "core/secret.h"

extern const struct placehub_connector_type placehub_connector_webhook;
extern const struct placehub_connector_type placehub_connector_fhir;
extern const struct placehub_connector_type placehub_connector_mail;

static const struct placehub_connector_type *const connector_builtins[] = {
    &placehub_connector_webhook,
    &placehub_connector_fhir,
    &placehub_connector_mail,
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
    if (type->abi_version != PLACEHUB_CONNECTOR_ABI_VERSION) {
        snprintf(errstr, errstr_size,
                 "connector %s was built for ABI version %u; this placehub speaks version %d: "
                 "rebuild it against this include/placehub/connector.h",
                 path, type->abi_version, PLACEHUB_CONNECTOR_ABI_VERSION);
        dlclose(handle);
        return NULL;
    }
    if (!type->name || !type->create || !type->prepare || !type->destroy) {
        snprintf(errstr, errstr_size,
                 "connector %s lacks a name or one of create, prepare, destroy", path);
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
            return connector_builtins[i];
    snprintf(errstr, errstr_size,
             "no connector called '%s' (built in: %s; or give the path of a shared object)", name,
             connector_builtin_names());
    return NULL;
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
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
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
    .abi_version = PLACEHUB_CONNECTOR_ABI_VERSION,
    .log = connector_log,
    .now_millis = connector_now_millis,
    .hmac_sha256 = connector_hmac_sha256,
    .base64_encode = connector_base64_encode,
    .base64_decode = connector_base64_decode,
    .secret = secret_read,
};

const struct placehub_host *connector_host(void)
{
    return &connector_host_table;
}
