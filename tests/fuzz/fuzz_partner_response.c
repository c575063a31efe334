/*
 * fuzz_partner_response.c - what placehub-dispatch does with a partner's
 * answer, which may be anything: the OAuth2 token endpoint's answer (a
 * token, or an error code to log) in lib/delivery/auth.c, the FHIR connector's
 * reading of an OperationOutcome, and the redacted excerpt that is logged
 * and dead-lettered (services/dispatch/record.c). The first two input bytes
 * are the HTTP status, the rest the body.
 *
 * lib/delivery/auth.c and record.c are compiled in, as the unit tests do, to reach
 * their static parsers.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/auth.c"
#include "../../services/dispatch/record.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct placehub_connector_type placehub_connector_fhir;

static void fuzz_token(const char *body, size_t len)
{
    struct auth auth = {0};
    char partner_id[] = "housing", host[] = "auth.example.org";
    char *header = NULL, errstr[512], code[65];
    long long lifetime = 0;
    auth.partner_id = partner_id;
    auth.token_host = host;
    if (auth_parse_token(&auth, body, len, &header, &lifetime, errstr, sizeof errstr) == 0) {
        /* A token that made it into a header line cannot split the header. */
        if (!header || strchr(header, '\r') || strchr(header, '\n') || lifetime < 1 ||
            lifetime > AUTH_MAX_LIFETIME_SECONDS)
            abort();
        free(header);
    }
    auth_error_code(body, len, code, sizeof code);
    for (const char *p = code; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            abort(); /* only a safe keyword is ever logged */
}

static void fuzz_redact(const char *body, size_t len)
{
    char out[256];
    record_redact(body, len, out, sizeof out);
    size_t digits = 0;
    for (const char *p = out; *p; p++) {
        digits = isdigit((unsigned char)*p) ? digits + 1 : 0;
        if (digits >= 6 || (unsigned char)*p < 0x20)
            abort(); /* a number that could identify someone, or a control byte */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int status = (data[0] << 8 | data[1]) % 600;
    /* The host hands connectors a NUL-terminated copy of what it read. */
    char *body = malloc(size - 1);
    if (!body)
        return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    size_t len = size - 2;

    fuzz_token(body, len);
    fuzz_redact(body, len);

    struct placehub_response response = {status, body, len, "application/fhir+json"};
    struct placehub_outcome outcome = {PLACEHUB_REJECTED, "HTTP 4xx"};
    placehub_connector_fhir.classify(NULL, NULL, &response, &outcome);
    if (memchr(outcome.reason, '\0', sizeof outcome.reason) == NULL)
        abort();
    free(body);
    return 0;
}
