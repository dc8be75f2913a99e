#ifndef ORCHION_COPENSSL_SHIM_H
#define ORCHION_COPENSSL_SHIM_H
// OpenSSL (libssl-dev) for Orchion's TLS: the headers, and small helpers
// for what Swift cannot call directly (macros, variadic functions, C
// callbacks) or what is far shorter in C (building certificates).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

/// ALPN on the server: http/1.1 when the client offers it (curl and
/// browsers offer h2 too, but REST, SSE and the dashboard are HTTP/1.1),
/// else h2 (gRPC clients offer only h2).
static int orchion_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                               unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1\x02h2";
    unsigned char *selected = NULL;
    if (SSL_select_next_proto(&selected, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static const char *const orchion_tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// Applies the common settings to a client or server context; 1 on success.
static inline int orchion_ctx_harden(SSL_CTX *ctx) {
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return 0;
    if (SSL_CTX_set_cipher_list(ctx, orchion_tls12_ciphers) != 1) return 0;
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) return 0;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return 1;
}

/// A server context (not yet given a certificate), or NULL.
static inline SSL_CTX *orchion_server_ctx(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) return NULL;
    if (!orchion_ctx_harden(ctx)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(ctx, orchion_alpn_select, NULL);
    return ctx;
}

/// A client context offering ALPN `h2`; it verifies the server against
/// `ca_pem` when given (else it verifies nothing: the caller checks a pin).
static inline SSL_CTX *orchion_client_ctx(const char *ca_pem, size_t ca_len) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) return NULL;
    if (!orchion_ctx_harden(ctx) || SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (ca_pem != NULL) {
        BIO *bio = BIO_new_mem_buf(ca_pem, (int)ca_len);
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        int added = 0;
        X509 *cert = NULL;
        while (bio != NULL && (cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (X509_STORE_add_cert(store, cert) == 1) added++;
            X509_free(cert);
        }
        BIO_free(bio);
        ERR_clear_error();
        if (added == 0) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

/// Gives `ctx` the certificate chain (leaf first) and key in PEM; 1 on
/// success, 0 when a part is missing, unreadable or the key does not match.
static inline int orchion_ctx_use_pem(SSL_CTX *ctx, const char *chain, size_t chain_len, const char *key,
                                      size_t key_len) {
    BIO *bio = BIO_new_mem_buf(chain, (int)chain_len);
    if (bio == NULL) return 0;
    X509 *leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    X509 *extra = NULL;
    while (ok && (extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
            X509_free(extra);
            ok = 0;
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    if (!ok) return 0;
    bio = BIO_new_mem_buf(key, (int)key_len);
    if (bio == NULL) return 0;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ok = pkey != NULL && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

/// A connection over two memory BIOs: ciphertext in through `*in`, out through `*out`.
static inline SSL *orchion_ssl_new(SSL_CTX *ctx, int server, BIO **in, BIO **out) {
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL) return NULL;
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (rbio == NULL || wbio == NULL) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(ssl);
        return NULL;
    }
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    *in = rbio;
    *out = wbio;
    return ssl;
}

/// Bytes waiting in a memory BIO.
static inline size_t orchion_bio_pending(BIO *bio) { return BIO_ctrl_pending(bio); }

/// Points `*data` at a memory BIO's bytes; returns their count.
static inline long orchion_bio_mem(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

/// Makes the client check the server's name: a DNS name or an IP address.
static inline int orchion_ssl_expect_host(SSL *ssl, const char *host, int is_ip) {
    if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) return 0;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    return is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : SSL_set1_host(ssl, host);
}

/// The ALPN protocol agreed: 1 for h2, 2 for http/1.1, 0 for none.
static inline int orchion_ssl_alpn(const SSL *ssl) {
    const unsigned char *data = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &data, &len);
    if (len == 2 && memcmp(data, "h2", 2) == 0) return 1;
    if (len == 8 && memcmp(data, "http/1.1", 8) == 0) return 2;
    return 0;
}

/// The SHA-256 of a certificate's SubjectPublicKeyInfo (DER) into `out`; 1 on success.
static inline int orchion_spki_sha256(X509 *cert, unsigned char out[32]) {
    X509_PUBKEY *pub = X509_get_X509_PUBKEY(cert);
    unsigned char *der = NULL;
    int len = i2d_X509_PUBKEY(pub, &der);
    if (len <= 0) return 0;
    unsigned int outlen = 0;
    int ok = EVP_Digest(der, (size_t)len, out, &outlen, EVP_sha256(), NULL) == 1 && outlen == 32;
    OPENSSL_free(der);
    return ok;
}

/// A fresh EC P-256 key, or NULL.
static inline EVP_PKEY *orchion_ec_p256(void) { return EVP_EC_gen("P-256"); }

static inline int orchion_add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/// A certificate for `key` named `common_name`, valid from `not_before`
/// (seconds from now, may be negative) for `lifetime` seconds, signed by
/// `issuer_key` (and named after `issuer`, or self-signed when NULL). A CA
/// when `is_ca`; else a TLS server (and client) certificate whose subject
/// alternative names are `sans` ("DNS:name,IP:address,..."). NULL on failure.
static inline X509 *orchion_make_cert(EVP_PKEY *key, const char *common_name, X509 *issuer, EVP_PKEY *issuer_key,
                                      long not_before, long lifetime, int is_ca, const char *sans) {
    X509 *cert = X509_new();
    if (cert == NULL) return NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    int ok = X509_set_version(cert, 2) == 1 && RAND_bytes(serial, sizeof serial) == 1;
    if (ok) {
        serial[0] &= 0x7f;
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
        BN_free(bn);
    }
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(cert), not_before) != NULL &&
         X509_gmtime_adj(X509_getm_notAfter(cert), not_before + lifetime) != NULL &&
         X509_set_pubkey(cert, key) == 1;
    X509_NAME *name = X509_get_subject_name(cert);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Orchion", -1, -1, 0) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) == 1;
    X509 *signer = issuer != NULL ? issuer : cert;
    ok = ok && X509_set_issuer_name(cert, X509_get_subject_name(signer)) == 1;
    ok = ok && orchion_add_ext(cert, signer, NID_subject_key_identifier, "hash");
    if (issuer != NULL) ok = ok && orchion_add_ext(cert, signer, NID_authority_key_identifier, "keyid:always");
    if (is_ca) {
        ok = ok && orchion_add_ext(cert, signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             orchion_add_ext(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        ok = ok && orchion_add_ext(cert, signer, NID_basic_constraints, "critical,CA:FALSE") &&
             orchion_add_ext(cert, signer, NID_key_usage, "critical,digitalSignature") &&
             orchion_add_ext(cert, signer, NID_ext_key_usage, "serverAuth,clientAuth") &&
             (sans == NULL || sans[0] == 0 || orchion_add_ext(cert, signer, NID_subject_alt_name, sans));
    }
    ok = ok && X509_sign(cert, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(cert);
        ERR_clear_error();
        return NULL;
    }
    return cert;
}

/// `cert` in PEM into a new memory BIO (read it with orchion_bio_mem), or NULL.
static inline BIO *orchion_cert_pem(X509 *cert) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_X509(bio, cert) != 1) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

/// `key` in PEM (PKCS#8, unencrypted) into a new memory BIO, or NULL.
static inline BIO *orchion_key_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

/// The first certificate in PEM text, or NULL.
static inline X509 *orchion_read_cert(const char *pem, size_t len) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) return NULL;
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return cert;
}

/// The private key in PEM text, or NULL.
static inline EVP_PKEY *orchion_read_key(const char *pem, size_t len) {
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return key;
}

/// Seconds from now to the certificate's end of validity (negative once expired); 1 on success.
static inline int orchion_cert_seconds_left(X509 *cert, long long *seconds) {
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) != 1) return 0;
    *seconds = (long long)days * 86400 + secs;
    return 1;
}

/// Seconds from the certificate's start of validity to its end; 1 on success.
static inline int orchion_cert_lifetime(X509 *cert, long long *seconds) {
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) != 1) return 0;
    *seconds = (long long)days * 86400 + secs;
    return 1;
}

/// Whether `key` is the private key of `cert`.
static inline int orchion_cert_matches_key(X509 *cert, EVP_PKEY *key) { return X509_check_private_key(cert, key); }

/// Verifies the peer's leaf certificate against the one certificate of
/// the chain the server sent whose SPKI SHA-256 is `pin` (the cluster CA),
/// and the name the SSL was told to expect. Returns 1 when it verifies;
/// 0 when no certificate matches the pin (then `found` holds the hash of
/// the last certificate sent, the chain's top, and `*found_any` is 1 if
/// there was one); -1 when the pinned CA does not verify the leaf
/// (`*verify_error` holds the X509_V_ERR code).
static inline int orchion_verify_pinned(SSL *ssl, const unsigned char pin[32], unsigned char found[32],
                                        int *found_any, int *verify_error) {
    *found_any = 0;
    *verify_error = 0;
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    X509 *leaf = SSL_get0_peer_certificate(ssl);
    if (chain == NULL || leaf == NULL) return 0;
    X509 *ca = NULL;
    int count = sk_X509_num(chain);
    for (int i = 0; i < count; i++) {
        X509 *cert = sk_X509_value(chain, i);
        unsigned char hash[32];
        if (!orchion_spki_sha256(cert, hash)) continue;
        memcpy(found, hash, 32);
        *found_any = 1;
        if (memcmp(hash, pin, 32) == 0) {
            ca = cert;
            break;
        }
    }
    if (ca == NULL) return 0;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = store != NULL && ctx != NULL && X509_STORE_add_cert(store, ca) == 1 &&
             X509_STORE_CTX_init(ctx, store, leaf, chain) == 1;
    if (ok) {
        X509_STORE_CTX_set_default(ctx, "ssl_server");
        X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(ctx), SSL_get0_param(ssl));
        ok = X509_verify_cert(ctx) == 1;
        if (!ok) *verify_error = X509_STORE_CTX_get_error(ctx);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok ? 1 : -1;
}

#endif
