/*
 * apikey.h - API keys with which partners authenticate to placehub-ingest
 * (docs/security.md).
 *
 * A key is "phk_" and 43 base64url characters: 32 bytes from the operating
 * system's random generator. The hub stores only "sha256:" and the
 * lower-case hex SHA-256 of the whole key text. A fast unsalted hash is
 * enough here because the key is not a password: with 256 random bits there
 * is no dictionary to try and no way to guess one in any number of attempts,
 * so a slow or salted hash (bcrypt, Argon2) would cost every request and buy
 * nothing. Comparisons of digests are in constant time.
 */
#ifndef PLACEHUB_APIKEY_H
#define PLACEHUB_APIKEY_H

#include <stddef.h>

#define APIKEY_PREFIX "phk_"
/* "phk_" + 43 base64url characters + NUL */
#define APIKEY_TEXT_SIZE 48
/* "sha256:" + 64 hex digits + NUL */
#define APIKEY_HASH_TEXT_SIZE 72
#define APIKEY_DIGEST_SIZE 32
/* Longest key text accepted from a request; anything longer is refused
 * without hashing it. */
#define APIKEY_MAX_LENGTH 256

/* Mints a new key into key (at least APIKEY_TEXT_SIZE bytes) and its hash
 * text into hash (at least APIKEY_HASH_TEXT_SIZE). Returns 0, or -1 when the
 * random generator failed or a buffer is too small. */
int apikey_new(char *key, size_t key_size, char *hash, size_t hash_size);

/* SHA-256 of the key text (len bytes) into digest. */
void apikey_digest(const char *key, size_t len, unsigned char digest[APIKEY_DIGEST_SIZE]);

/* "sha256:<hex>" of the key text into out (at least APIKEY_HASH_TEXT_SIZE).
 * Returns 0, or -1 when out is too small. */
int apikey_hash_text(const char *key, size_t len, char *out, size_t out_size);

/* Parses "sha256:" and 64 hex digits (either case) into digest. Returns 0, or
 * -1 when text is not of that form. */
int apikey_parse_hash(const char *text, unsigned char digest[APIKEY_DIGEST_SIZE]);

/* 1 when the two digests are equal, else 0; takes the same time whatever
 * the contents. */
int apikey_digest_equal(const unsigned char a[APIKEY_DIGEST_SIZE],
                        const unsigned char b[APIKEY_DIGEST_SIZE]);

/* 1 when text could be a key: 1..APIKEY_MAX_LENGTH visible ASCII characters
 * without spaces. Keys minted elsewhere are accepted as long as they fit. */
int apikey_plausible(const char *text);

#endif
