/*
 * fuzz_partner_response.c - what placehub-dispatch does with a partner's
 * answer, which may be anything: the OAuth2 token endpoint's answer (a
 * token, or an error code to log) in lib/delivery/oauth2.c, the FHIR
 * connector's reading of an OperationOutcome, and the redacted excerpt that
 * is logged and dead-lettered (lib/delivery/record.c). The first two input
 * bytes are the HTTP status, the rest the body.
 *
 * lib/delivery/oauth2.c is compiled in, as the unit tests do, to reach its
 * static parsers.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/delivery/oauth2.c"
#include "delivery/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const struct placehub_connector_type placehub_connector_fhir;

static void fuzz_token(const char *body, size_t len)
{
    struct oauth2_settings settings = {0};
    char host[] = "auth.example.org";
    char *header = NULL, errstr[512], code[65];
    long long lifetime = 0;
    settings.partner_id = "housing";
    settings.token_host = host;
    if (oauth2_parse_token(&settings, body, len, &header, &lifetime, errstr, sizeof errstr) == 0) {
        /* A token that made it into a header line cannot split the header. */
        if (!header || strchr(header, '\r') || strchr(header, '\n') || lifetime < 1 ||
            lifetime > OAUTH2_MAX_LIFETIME_SECONDS)
            abort();
        free(header);
    }
    oauth2_error_code(body, len, code, sizeof code);
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
    struct placehub_outcome outcome = {.result = PLACEHUB_REJECTED, .reason = "HTTP 4xx"};
    placehub_connector_fhir.classify(NULL, NULL, &response, &outcome);
    if (memchr(outcome.reason, '\0', sizeof outcome.reason) == NULL)
        abort();
    free(body);
    return 0;
}
