/*
 * apikey.c - minting, hashing and comparing ingest API keys (see apikey.h).
 *
 * IMPORTANT: a key is a secret: it is never logged, never put in an error
 * message, and buffers that held one are wiped by their owner.
 */
#include "governance/apikey.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

void apikey_digest(const char *key, size_t len, unsigned char digest[APIKEY_DIGEST_SIZE])
{
    unsigned int digest_len = APIKEY_DIGEST_SIZE;
    /* EVP_Digest with SHA-256 fails only when out of memory; a zero digest
     * then matches no configured hash (none can be all zeros by chance). */
    if (EVP_Digest(key, len, digest, &digest_len, EVP_sha256(), NULL) != 1)
        memset(digest, 0, APIKEY_DIGEST_SIZE);
}

static void apikey_format_digest(const unsigned char digest[APIKEY_DIGEST_SIZE], char *out)
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < APIKEY_DIGEST_SIZE; i++) {
        out[7 + 2 * i] = hex[digest[i] >> 4];
        out[7 + 2 * i + 1] = hex[digest[i] & 0xf];
    }
    out[7 + 2 * APIKEY_DIGEST_SIZE] = '\0';
}

int apikey_hash_text(const char *key, size_t len, char *out, size_t out_size)
{
    unsigned char digest[APIKEY_DIGEST_SIZE];
    if (out_size < APIKEY_HASH_TEXT_SIZE)
        return -1;
    apikey_digest(key, len, digest);
    apikey_format_digest(digest, out);
    return 0;
}

int apikey_new(char *key, size_t key_size, char *hash, size_t hash_size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char random[32];
    if (key_size < APIKEY_TEXT_SIZE || hash_size < APIKEY_HASH_TEXT_SIZE)
        return -1;
    if (RAND_bytes(random, sizeof random) != 1)
        return -1;
    /* base64url without padding: 32 bytes -> 43 characters. */
    size_t used = 0;
    memcpy(key, APIKEY_PREFIX, sizeof APIKEY_PREFIX - 1);
    used = sizeof APIKEY_PREFIX - 1;
    unsigned int bits = 0, bit_count = 0;
    for (size_t i = 0; i < sizeof random; i++) {
        bits = (bits << 8) | random[i];
        bit_count += 8;
        while (bit_count >= 6) {
            bit_count -= 6;
            key[used++] = alphabet[(bits >> bit_count) & 0x3f];
        }
    }
    if (bit_count > 0)
        key[used++] = alphabet[(bits << (6 - bit_count)) & 0x3f];
    key[used] = '\0';
    OPENSSL_cleanse(random, sizeof random);
    return apikey_hash_text(key, used, hash, hash_size);
}

int apikey_parse_hash(const char *text, unsigned char digest[APIKEY_DIGEST_SIZE])
{
    if (!text || strncmp(text, "sha256:", 7) != 0 || strlen(text) != 7 + 2 * APIKEY_DIGEST_SIZE)
        return -1;
    for (size_t i = 0; i < APIKEY_DIGEST_SIZE; i++) {
        int high = text_hex_digit(text[7 + 2 * i]);
        int low = text_hex_digit(text[7 + 2 * i + 1]);
        if (high < 0 || low < 0)
            return -1;
        digest[i] = (unsigned char)(high << 4 | low);
    }
    return 0;
}

int apikey_digest_equal(const unsigned char a[APIKEY_DIGEST_SIZE],
                        const unsigned char b[APIKEY_DIGEST_SIZE])
{
    return CRYPTO_memcmp(a, b, APIKEY_DIGEST_SIZE) == 0;
}

int apikey_plausible(const char *text)
{
    size_t len = 0;
    if (!text)
        return 0;
    for (; text[len]; len++) {
        unsigned char c = (unsigned char)text[len];
        if (c <= 0x20 || c >= 0x7f || len >= APIKEY_MAX_LENGTH)
            return 0;
    }
    return len > 0;
}
