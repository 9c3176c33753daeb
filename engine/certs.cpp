#include "engine/certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

namespace engine {
namespace {

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;

error failure(const std::string& what)
{
    ERR_clear_error();
    return make_error(stage::tls, errc::invalid_argument, "cannot make certificate: " + what);
}

pkey_ptr new_key()
{
    EC_KEY* ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    if (!ec || EC_KEY_generate_key(ec) != 1) {
        EC_KEY_free(ec);
        return nullptr;
    }
    pkey_ptr key(EVP_PKEY_new());
    if (!key || EVP_PKEY_assign_EC_KEY(key.get(), ec) != 1) {
        EC_KEY_free(ec);
        return nullptr;
    }
    return key;
}

pkey_ptr new_rsa_key()
{
    RSA* rsa = RSA_new();
    BIGNUM* e = BN_new();
    bool ok = rsa && e && BN_set_word(e, RSA_F4) == 1 && RSA_generate_key_ex(rsa, 2048, e, nullptr) == 1;
    BN_free(e);
    pkey_ptr key(ok ? EVP_PKEY_new() : nullptr);
    if (!key || EVP_PKEY_assign_RSA(key.get(), rsa) != 1) {
        RSA_free(rsa);
        return nullptr;
    }
    return key;
}

std::string to_pem(X509* cert)
{
    bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(b.get(), cert);
    const std::uint8_t* data = nullptr;
    std::size_t len = 0;
    BIO_mem_contents(b.get(), &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
}

std::string to_pem(EVP_PKEY* key)
{
    bio_ptr b(BIO_new(BIO_s_mem()));
    PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
    const std::uint8_t* data = nullptr;
    std::size_t len = 0;
    BIO_mem_contents(b.get(), &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) {
        return false;
    }
    bool ok = X509_add_ext(cert, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/// A certificate with a random serial, the given validity and subject CN.
x509_ptr new_cert(const std::string& cn, std::int64_t not_before, std::int64_t not_after, EVP_PKEY* key)
{
    x509_ptr cert(X509_new());
    std::uint8_t serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7F;   // positive
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    bool ok = cert && bn && X509_set_version(cert.get(), X509_VERSION_3) == 1
        && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr
        && ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(not_before)) != nullptr
        && ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(not_after)) != nullptr
        && X509_set_pubkey(cert.get(), key) == 1
        && X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) == 1;
    BN_free(bn);
    return ok ? std::move(cert) : nullptr;
}

} // namespace

result<pem_identity> make_ca(const std::string& common_name, int days)
{
    pkey_ptr key = new_key();
    std::int64_t now = std::time(nullptr);
    x509_ptr cert = key ? new_cert(common_name, now - 3600, now + std::int64_t{days} * 86400, key.get()) : nullptr;
    if (!cert || X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1
        || !add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE")
        || !add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign")
        || !add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash")
        || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        return failure("CA " + common_name);
    }
    return pem_identity{to_pem(cert.get()), to_pem(key.get())};
}

result<pem_identity> issue_cert(const pem_identity& ca, const cert_request& req)
{
    bio_ptr cb(BIO_new_mem_buf(ca.cert.data(), static_cast<int>(ca.cert.size())));
    x509_ptr ca_cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    bio_ptr kb(BIO_new_mem_buf(ca.key.data(), static_cast<int>(ca.key.size())));
    pkey_ptr ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!ca_cert || !ca_key) {
        return failure("unreadable CA");
    }
    std::int64_t now = std::time(nullptr);
    pkey_ptr key = new_key();
    x509_ptr cert = key ? new_cert(req.common_name, req.not_before ? req.not_before : now - 3600,
                              req.not_after ? req.not_after : now + 30 * 86400, key.get())
                        : nullptr;
    std::string san;
    for (const auto& d : req.dns_names) {
        san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    }
    for (const auto& ip : req.ip_addresses) {
        san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
    }
    if (!cert || X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1
        || !add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE")
        || !add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth")
        || (!san.empty() && !add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san))
        || X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
        return failure("leaf " + req.common_name);
    }
    return pem_identity{to_pem(cert.get()), to_pem(key.get())};
}

result<pem_identity> make_rsa_self_signed(const cert_request& req)
{
    std::int64_t now = std::time(nullptr);
    pkey_ptr key = new_rsa_key();
    x509_ptr cert = key ? new_cert(req.common_name, req.not_before ? req.not_before : now - 3600,
                              req.not_after ? req.not_after : now + 30 * 86400, key.get())
                        : nullptr;
    if (!cert || X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1
        || X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
        return failure("RSA " + req.common_name);
    }
    return pem_identity{to_pem(cert.get()), to_pem(key.get())};
}

} // namespace engine
