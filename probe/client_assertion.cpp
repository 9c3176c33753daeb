// Client assertions signed with a certificate's key; see client_assertion.h.
#include "probe/client_assertion.h"

#include "protocols/common/sanitize.h"
#include "protocols/common/sasl.h"

#include <fmt/format.h>
#include <openssl/bio.h>
#include <openssl/digest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace probe {

using engine::errc;
using engine::make_error;
using engine::stage;
namespace sasl = protocols::sasl;

namespace {

// A PEM certificate and key are a few KiB; a bigger file is the wrong file.
constexpr std::size_t max_pem_bytes = 64 * 1024;

template <class T, void (*F)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { F(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

engine::error failure(std::string message)
{
    // BoringSSL's queue may name the key file's contents; it is not quoted, only cleared.
    ERR_clear_error();
    return make_error(stage::auth, errc::invalid_argument, std::move(message));
}

bio_ptr bio_of(std::string_view pem)
{
    return bio_ptr(BIO_new_mem_buf(pem.data(), pem.size()));
}

engine::result<std::string> read_pem(const std::string& path, std::string_view key)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return failure(fmt::format("cannot read {} {}: {}", key, path, std::strerror(errno)));
    }
    std::string text(max_pem_bytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > max_pem_bytes) {
        return failure(fmt::format("{} {} is larger than {} bytes", key, path, max_pem_bytes));
    }
    return text;
}

} // namespace

engine::result<std::string> make_client_assertion(std::string_view cert_pem, std::string_view key_pem,
    std::string_view client_id, std::string_view audience, std::int64_t now)
{
    auto cb = bio_of(cert_pem);
    x509_ptr cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        return failure("the client certificate is not a PEM certificate");
    }
    auto kb = bio_of(key_pem);
    pkey_ptr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    if (!key) {
        return failure("no PEM private key for the client certificate");
    }
    if (EVP_PKEY_id(key.get()) != EVP_PKEY_RSA) {
        return failure("the client certificate's key is not RSA (client assertions are signed RS256)");
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        return failure("the private key does not belong to the client certificate");
    }
    std::uint8_t* der = nullptr;
    int der_len = i2d_X509(cert.get(), &der);
    if (der_len <= 0) {
        return failure("cannot encode the client certificate");
    }
    std::uint8_t sha1[SHA_DIGEST_LENGTH];
    std::uint8_t sha256[SHA256_DIGEST_LENGTH];
    SHA1(der, static_cast<std::size_t>(der_len), sha1);
    SHA256(der, static_cast<std::size_t>(der_len), sha256);
    OPENSSL_free(der);
    auto bytes = [](const std::uint8_t* p, std::size_t n) { return std::string_view(reinterpret_cast<const char*>(p), n); };

    std::uint8_t jti[16];
    RAND_bytes(jti, sizeof jti);
    std::string jti_hex;
    for (auto b : jti) {
        jti_hex += fmt::format("{:02x}", b);
    }
    std::string header = fmt::format(R"({{"alg":"RS256","typ":"JWT","x5t":"{}","x5t#S256":"{}"}})",
        sasl::base64url_encode(bytes(sha1, sizeof sha1)), sasl::base64url_encode(bytes(sha256, sizeof sha256)));
    std::string claims = fmt::format(R"({{"aud":{},"iss":{},"sub":{},"jti":"{}","iat":{},"nbf":{},"exp":{}}})",
        protocols::json_quoted(audience), protocols::json_quoted(client_id), protocols::json_quoted(client_id), jti_hex, now, now,
        now + client_assertion_lifetime.count());
    std::string signing_input = sasl::base64url_encode(header) + "." + sasl::base64url_encode(claims);

    md_ctx_ptr ctx(EVP_MD_CTX_new());
    std::size_t sig_len = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1
        || EVP_DigestSign(ctx.get(), nullptr, &sig_len, nullptr, 0) != 1) {
        return failure("cannot sign the client assertion");
    }
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<std::uint8_t*>(sig.data()), &sig_len,
            reinterpret_cast<const std::uint8_t*>(signing_input.data()), signing_input.size()) != 1) {
        return failure("cannot sign the client assertion");
    }
    sig.resize(sig_len);
    return signing_input + "." + sasl::base64url_encode(sig);
}

engine::result<std::string> make_client_assertion_from_files(const std::string& certificate_file,
    const std::string& private_key_file, std::string_view client_id, std::string_view audience, std::int64_t now)
{
    auto cert = read_pem(certificate_file, "certificate_file");
    if (!cert) {
        return std::move(cert).err();
    }
    if (private_key_file.empty()) {
        return make_client_assertion(*cert, *cert, client_id, audience, now);
    }
    auto key = read_pem(private_key_file, "private_key_file");
    if (!key) {
        return std::move(key).err();
    }
    return make_client_assertion(*cert, *key, client_id, audience, now);
}

} // namespace probe
