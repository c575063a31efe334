/*
 * users.c - the console's users file: one line per user,
 *
 *     name:role:pbkdf2-sha256$ITERATIONS$SALT$HASH
 *
 * (salt 16 random bytes, hash 32 bytes, both hexadecimal), written by
 * placehub-console --add-user and read at every login, so a user added or
 * removed takes effect without a restart. Lines starting with '#' and
 * blank lines are skipped. The file must not be readable by others: a
 * hash is not a password, but it can be attacked offline.
 *
 * IMPORTANT: an unknown user costs the same PBKDF2 work as a known one
 * with a wrong password, and both answer the same, so a login page does
 * not tell which names exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console.h"
#include "core/text.h"

#define USERS_SALT 16
#define USERS_HASH 32
/* OWASP's 2023 figure for PBKDF2-HMAC-SHA256 is 600000; one hash then took
 * 0.22-0.24 s of CPU on the 2-core development machine (3 runs of
 * --add-user, 2026-12-07). Stored per line, so it can be raised for new
 * hashes without breaking the old. */
#define USERS_ITERATIONS 600000

int console_name_valid(const char *name)
{
    size_t len = strlen(name);
    return len >= 1 && len <= CONSOLE_NAME_MAX &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-") ==
               len;
}

const char *console_role_name(enum console_role role)
{
    return role == CONSOLE_AUDITOR ? "auditor" : "operator";
}

int console_role_parse(const char *text)
{
    if (strcmp(text, "operator") == 0)
        return CONSOLE_OPERATOR;
    if (strcmp(text, "auditor") == 0)
        return CONSOLE_AUDITOR;
    return -1;
}

static int users_unhex(const char *text, size_t text_len, unsigned char *out, size_t len)
{
    if (text_len != 2 * len)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int high = text_hex_digit(text[2 * i]), low = text_hex_digit(text[2 * i + 1]);
        if (high < 0 || low < 0)
            return -1;
        out[i] = (unsigned char)(high * 16 + low);
    }
    return 0;
}

static int users_derive(const char *password, const unsigned char *salt, long iterations,
                        unsigned char hash[USERS_HASH])
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, USERS_SALT, (int)iterations,
                             EVP_sha256(), USERS_HASH, hash) == 1
               ? 0
               : -1;
}

/* The parts of one line; 0, or -1 when it is not a user line. */
struct users_line {
    char name[CONSOLE_NAME_MAX + 1];
    int role;
    long iterations;
    unsigned char salt[USERS_SALT];
    unsigned char hash[USERS_HASH];
};

static int users_parse(char *line, struct users_line *parsed)
{
    char *role = strchr(line, ':');
    char *scheme = role ? strchr(role + 1, ':') : NULL;
    if (!scheme)
        return -1;
    *role++ = '\0';
    *scheme++ = '\0';
    if (!console_name_valid(line) || (parsed->role = console_role_parse(role)) < 0)
        return -1;
    snprintf(parsed->name, sizeof parsed->name, "%s", line);
    const char prefix[] = "pbkdf2-sha256$";
    if (strncmp(scheme, prefix, sizeof prefix - 1) != 0)
        return -1;
    char *iterations = scheme + sizeof prefix - 1, *end;
    parsed->iterations = strtol(iterations, &end, 10);
    if (*end != '$' || parsed->iterations < 1000 || parsed->iterations > 100000000)
        return -1;
    char *salt = end + 1, *hash = strchr(salt, '$');
    if (!hash || users_unhex(salt, (size_t)(hash - salt), parsed->salt, USERS_SALT) != 0 ||
        users_unhex(hash + 1, strlen(hash + 1), parsed->hash, USERS_HASH) != 0)
        return -1;
    return 0;
}

/* Reads path's lines into a list; each calls found() for a user line.
 * -1 with errstr (file:line) on a malformed one. */
static int users_read(const char *path, int (*found)(void *opaque, const struct users_line *line),
                      void *opaque, char *errstr, size_t errstr_size)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(errstr, errstr_size,
                 "console.users_file %s: %s; add a user with placehub-console --add-user NAME "
                 "--role operator|auditor",
                 path, strerror(errno));
        return -1;
    }
    char line[1024];
    int number = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, file)) {
        number++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        struct users_line parsed;
        if (users_parse(line, &parsed) != 0) {
            snprintf(errstr, errstr_size,
                     "%s:%d: not a user line (name:operator|auditor:pbkdf2-sha256$...); write "
                     "it with placehub-console --add-user",
                     path, number);
            rc = -1;
        } else {
            rc = found(opaque, &parsed);
        }
    }
    fclose(file);
    return rc < 0 ? -1 : 0;
}

struct users_match {
    const char *name;
    struct users_line line;
    int found;
};

static int users_match(void *opaque, const struct users_line *line)
{
    struct users_match *match = opaque;
    if (strcmp(line->name, match->name) == 0) {
        match->line = *line;
        match->found = 1;
    }
    return 0;
}

int console_users_check(const char *path, const char *name, const char *password,
                        enum console_role *role, char *errstr, size_t errstr_size)
{
    struct users_match match = {.name = name};
    if (users_read(path, users_match, &match, errstr, errstr_size) != 0)
        return -1;
    if (!match.found) {
        /* The same work as a real check: no timing tells a name exists. */
        match.line.iterations = USERS_ITERATIONS;
        memset(match.line.salt, 0x5a, sizeof match.line.salt);
    }
    unsigned char hash[USERS_HASH];
    if (users_derive(password, match.line.salt, match.line.iterations, hash) != 0) {
        snprintf(errstr, errstr_size, "cannot compute a password hash (OpenSSL)");
        return -1;
    }
    int same = CRYPTO_memcmp(hash, match.line.hash, USERS_HASH) == 0;
    if (!match.found || !same)
        return 0;
    *role = (enum console_role)match.line.role;
    return 1;
}

/* Copies every line of path but name's into out; -1 with errstr. */
static int users_copy_others(const char *path, const char *name, FILE *out, char *errstr,
                             size_t errstr_size)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        if (errno == ENOENT) /* the first user */
            return 0;
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    size_t name_len = strlen(name);
    while (fgets(line, sizeof line, file))
        if (!(strncmp(line, name, name_len) == 0 && line[name_len] == ':'))
            fputs(line, out);
    fclose(file);
    return 0;
}

int console_users_add(const char *path, const char *name, enum console_role role,
                      const char *password, char *errstr, size_t errstr_size)
{
    unsigned char salt[USERS_SALT], hash[USERS_HASH];
    char salt_hex[2 * USERS_SALT + 1], hash_hex[2 * USERS_HASH + 1], temporary[1100];
    if (!console_name_valid(name)) {
        snprintf(errstr, errstr_size, "user name: 1 to %d letters, digits, '.', '_', '@' or '-'",
                 CONSOLE_NAME_MAX);
        return -1;
    }
    if (strlen(password) < 12) {
        snprintf(errstr, errstr_size, "password: at least 12 characters");
        return -1;
    }
    if (RAND_bytes(salt, sizeof salt) != 1 ||
        users_derive(password, salt, USERS_ITERATIONS, hash) != 0) {
        snprintf(errstr, errstr_size, "cannot compute a password hash (OpenSSL)");
        return -1;
    }
    text_hex(salt, sizeof salt, salt_hex);
    text_hex(hash, sizeof hash, hash_hex);
    snprintf(temporary, sizeof temporary, "%s.new", path);
    int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        snprintf(errstr, errstr_size, "%s: %s", temporary, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = users_copy_others(path, name, out, errstr, errstr_size);
    if (rc == 0)
        fprintf(out, "%s:%s:pbkdf2-sha256$%d$%s$%s\n", name, console_role_name(role),
                USERS_ITERATIONS, salt_hex, hash_hex);
    if (fclose(out) != 0 && rc == 0) {
        snprintf(errstr, errstr_size, "%s: %s", temporary, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(temporary, path) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(temporary);
    return rc;
}
