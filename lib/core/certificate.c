/*
 * certificate.c - client certificates checked at start-up (see
 * certificate.h), with OpenSSL's own reading of the validity dates.
 */
#include "core/certificate.h"

#include <errno.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* An ASN.1 time as "YYYY-MM-DD HH:MM UTC" into out. */
static void certificate_date(const ASN1_TIME *when, char *out, size_t out_size)
{
    struct tm tm;
    if (ASN1_TIME_to_tm(when, &tm) != 1) {
        snprintf(out, out_size, "an unreadable date");
        return;
    }
    strftime(out, out_size, "%Y-%m-%d %H:%M UTC", &tm);
}

int certificate_check(const char *path, const char *what, time_t now, int warn_days, char *errstr,
                      size_t errstr_size)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(errstr, errstr_size, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    X509 *certificate = PEM_read_X509(file, NULL, NULL, NULL);
    fclose(file);
    if (!certificate) {
        snprintf(errstr, errstr_size, "%s %s: not a PEM certificate", what, path);
        return -1;
    }
    char date[40];
    int rc = 0;
    const ASN1_TIME *not_after = X509_get0_notAfter(certificate);
    const ASN1_TIME *not_before = X509_get0_notBefore(certificate);
    time_t soon = now + (time_t)warn_days * 86400;
    if (X509_cmp_time(not_after, &now) <= 0) {
        certificate_date(not_after, date, sizeof date);
        snprintf(errstr, errstr_size,
                 "%s %s expired on %s: renew it (the partner refuses an expired certificate, "
                 "so every delivery would fail)",
                 what, path, date);
        rc = -1;
    } else if (X509_cmp_time(not_before, &now) > 0) {
        certificate_date(not_before, date, sizeof date);
        snprintf(errstr, errstr_size, "%s %s is not valid before %s: check this machine's clock",
                 what, path, date);
        rc = -1;
    } else if (X509_cmp_time(not_after, &soon) <= 0) {
        certificate_date(not_after, date, sizeof date);
        log_warning("%s %s expires on %s: renew it before then", what, path, date);
    }
    X509_free(certificate);
    return rc;
}
