/*
 * test_certificate.c - client certificates checked at start-up
 * (lib/core/certificate.c): a valid one passes, one expiring soon passes
 * with a warning, an expired one or one not valid yet is refused with the
 * file and the date, and a file that is not a certificate is refused.
 * The certificates are made here with OpenSSL, self-signed, dated
 * relative to a fixed "now".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/certificate.h"
#include "support.h"

#define NOW ((time_t)1796600000) /* 2026-12-06 */
#define DAY 86400L

/* A self-signed certificate valid from NOW + from_days to NOW + to_days,
 * written as PEM to a new file whose name goes into path. */
static void make_certificate(long from_days, long to_days, char path[64])
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *certificate = X509_new();
    assert_non_null(key);
    assert_non_null(certificate);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
    X509_time_adj_ex(X509_getm_notBefore(certificate), (int)from_days, 0, &(time_t){NOW});
    X509_time_adj_ex(X509_getm_notAfter(certificate), (int)to_days, 0, &(time_t){NOW});
    X509_NAME_add_entry_by_txt(X509_get_subject_name(certificate), "CN", MBSTRING_ASC,
                               (const unsigned char *)"placehub test", -1, -1, 0);
    X509_set_issuer_name(certificate, X509_get_subject_name(certificate));
    X509_set_pubkey(certificate, key);
    assert_true(X509_sign(certificate, key, EVP_sha256()) > 0);
    snprintf(path, 64, "/tmp/placehub-cert-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    assert_int_equal(PEM_write_X509(file, certificate), 1);
    fclose(file);
    X509_free(certificate);
    EVP_PKEY_free(key);
}

static void test_valid_and_expiring(void **state)
{
    (void)state;
    char path[64], errstr[512] = "";
    make_certificate(-30, 365, path);
    assert_int_equal(certificate_check(path, "tls_client_cert", NOW, 30, errstr, sizeof errstr), 0);
    unlink(path);
    make_certificate(-30, 10, path); /* within the 30 days: usable, a warning in the log */
    assert_int_equal(certificate_check(path, "tls_client_cert", NOW, 30, errstr, sizeof errstr), 0);
    unlink(path);
}

static void test_expired_and_not_yet_valid(void **state)
{
    (void)state;
    char path[64], errstr[512] = "";
    make_certificate(-400, -35, path);
    assert_int_equal(
        certificate_check(path, "options.tls_client_cert", NOW, 30, errstr, sizeof errstr), -1);
    assert_contains(errstr, "options.tls_client_cert /tmp/placehub-cert-");
    assert_contains(errstr, "expired on 2026-11-01");
    assert_contains(errstr, "renew it");
    unlink(path);
    make_certificate(2, 400, path);
    assert_int_equal(certificate_check(path, "tls_client_cert", NOW, 30, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "is not valid before 2026-12-08");
    unlink(path);
}

static void test_not_a_certificate(void **state)
{
    (void)state;
    char errstr[512] = "";
    assert_int_equal(certificate_check("/nonexistent/client.pem", "tls_client_cert", NOW, 30,
                                       errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "/nonexistent/client.pem: No such file or directory");
    char path[] = "/tmp/placehub-cert-XXXXXX";
    int fd = mkstemp(path);
    assert_true(write(fd, "not a certificate\n", 18) == 18);
    close(fd);
    assert_int_equal(certificate_check(path, "tls_client_cert", NOW, 30, errstr, sizeof errstr),
                     -1);
    assert_contains(errstr, "not a PEM certificate");
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_expiring),
        cmocka_unit_test(test_expired_and_not_yet_valid),
        cmocka_unit_test(test_not_a_certificate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
