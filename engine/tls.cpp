#include "engine/tls.h"
#include "engine/tls_resume.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#ifndef OPENSSL_IS_BORINGSSL
#error "mailprobe links BoringSSL; OpenSSL headers were picked up instead"
#endif

#include <arpa/inet.h>

#include <array>

namespace engine {
namespace {

// Each direction of the BIO pair holds at most this much ciphertext; larger records pass
// in several rounds. Kept small because every idle TLS connection pays for both buffers.
constexpr std::size_t bio_buffer = 8 * 1024;

std::string ssl_error_text()
{
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        std::array<char, 256> buf{};
        ERR_error_string_n(e, buf.data(), buf.size());
        if (!out.empty()) {
            out += "; ";
        }
        out += buf.data();
    }
    return out;
}

bool is_ip_literal(std::string_view name)
{
    std::string s(name);
    unsigned char buf[16];
    return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

} // namespace

namespace {

/// The SSL_CTX ex_data slot holding the last session a resuming context received.
int last_session_index()
{
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr,
        [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { SSL_SESSION_free(static_cast<SSL_SESSION*>(ptr)); });
    return index;
}

int keep_last_session(SSL* ssl, SSL_SESSION* session)
{
    SSL_CTX* ctx = SSL_get_SSL_CTX(ssl);
    SSL_SESSION_free(static_cast<SSL_SESSION*>(SSL_CTX_get_ex_data(ctx, last_session_index())));
    SSL_CTX_set_ex_data(ctx, last_session_index(), session);
    return 1;   // we keep the reference
}

} // namespace

void resume_sessions(const tls_context& ctx)
{
    last_session_index();
    SSL_CTX_set_session_cache_mode(ctx.native(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx.native(), keep_last_session);
}

result<tls_context> tls_context::client(const tls_options& options)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        return make_error(stage::tls, errc::tls_handshake, "cannot create TLS context: " + ssl_error_text());
    }
    tls_context out(ctx, options.insecure);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (options.insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
        return out;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    int ok = options.ca_file.empty()
        ? SSL_CTX_set_default_verify_paths(ctx)
        : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    if (ok != 1) {
        return make_error(stage::tls, errc::invalid_argument,
            (options.ca_file.empty() ? std::string("cannot load the system CA store")
                                     : "cannot load CA file " + options.ca_file)
                + ": " + ssl_error_text());
    }
    return out;
}

result<tls_context> tls_context::server(std::string_view cert_chain_pem, std::string_view key_pem)
{
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        return make_error(stage::tls, errc::tls_handshake, "cannot create TLS context: " + ssl_error_text());
    }
    tls_context out(ctx, false);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    BIO* certs = BIO_new_mem_buf(cert_chain_pem.data(), static_cast<int>(cert_chain_pem.size()));
    X509* leaf = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
    bool ok = leaf && SSL_CTX_use_certificate(ctx, leaf) == 1;
    X509_free(leaf);
    while (ok) {
        X509* extra = PEM_read_bio_X509(certs, nullptr, nullptr, nullptr);
        if (!extra) {
            break;
        }
        ok = SSL_CTX_add1_chain_cert(ctx, extra) == 1;
        X509_free(extra);
    }
    BIO_free(certs);
    BIO* keys = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(keys, nullptr, nullptr, nullptr);
    ok = ok && key && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    BIO_free(keys);
    ERR_clear_error();   // the chain loop ends on a "no start line" error by design
    if (!ok) {
        return make_error(stage::tls, errc::invalid_argument, "unusable server certificate or key");
    }
    return out;
}

tls_context::tls_context(const tls_context& o) : m_ctx(o.m_ctx), m_insecure(o.m_insecure)
{
    if (m_ctx) {
        SSL_CTX_up_ref(m_ctx);
    }
}

tls_context& tls_context::operator=(const tls_context& o)
{
    tls_context copy(o);
    std::swap(m_ctx, copy.m_ctx);
    std::swap(m_insecure, copy.m_insecure);
    return *this;
}

tls_context::tls_context(tls_context&& o) noexcept
    : m_ctx(std::exchange(o.m_ctx, nullptr)), m_insecure(o.m_insecure)
{
}

tls_context& tls_context::operator=(tls_context&& o) noexcept
{
    std::swap(m_ctx, o.m_ctx);
    std::swap(m_insecure, o.m_insecure);
    return *this;
}

tls_context::~tls_context()
{
    if (m_ctx) {
        SSL_CTX_free(m_ctx);
    }
}

result<std::unique_ptr<tls_session>> tls_session::create(const tls_context& ctx, std::string_view verify_name)
{
    std::unique_ptr<tls_session> s(new tls_session());
    s->m_insecure = ctx.insecure();
    s->m_verify_name = std::string(verify_name);
    s->m_ssl = SSL_new(ctx.native());
    BIO* internal = nullptr;
    if (!s->m_ssl || BIO_new_bio_pair(&internal, bio_buffer, &s->m_net, bio_buffer) != 1) {
        return make_error(stage::tls, errc::tls_handshake, "cannot create TLS session: " + ssl_error_text());
    }
    SSL_set_bio(s->m_ssl, internal, internal);
    SSL_set_connect_state(s->m_ssl);
    if (auto* last = static_cast<SSL_SESSION*>(SSL_CTX_get_ex_data(ctx.native(), last_session_index()))) {
        SSL_set_session(s->m_ssl, last);
    }
    bool ip = is_ip_literal(verify_name);
    if (!ip && !verify_name.empty()) {
        SSL_set_tlsext_host_name(s->m_ssl, s->m_verify_name.c_str());
    }
    if (!ctx.insecure()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(s->m_ssl);
        // BoringSSL treats a 0 length as an error (not strlen), so pass the real one.
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, s->m_verify_name.c_str())
                    : X509_VERIFY_PARAM_set1_host(param, s->m_verify_name.data(), s->m_verify_name.size());
        if (ok != 1 || verify_name.empty()) {
            return make_error(stage::tls, errc::invalid_argument,
                "cannot verify a certificate against the name '" + s->m_verify_name + "'");
        }
    }
    return s;
}

result<std::unique_ptr<tls_session>> tls_session::accept(const tls_context& ctx)
{
    std::unique_ptr<tls_session> s(new tls_session());
    s->m_ssl = SSL_new(ctx.native());
    BIO* internal = nullptr;
    if (!s->m_ssl || BIO_new_bio_pair(&internal, bio_buffer, &s->m_net, bio_buffer) != 1) {
        return make_error(stage::tls, errc::tls_handshake, "cannot create TLS session: " + ssl_error_text());
    }
    SSL_set_bio(s->m_ssl, internal, internal);
    SSL_set_accept_state(s->m_ssl);
    s->m_insecure = true;   // a server does not verify clients here
    return s;
}

tls_session::~tls_session()
{
    if (m_ssl) {
        SSL_free(m_ssl);   // frees the internal BIO too
    }
    if (m_net) {
        BIO_free(m_net);
    }
}

std::size_t tls_session::feed(const char* data, std::size_t size) noexcept
{
    std::size_t room = BIO_ctrl_get_write_guarantee(m_net);
    std::size_t n = size < room ? size : room;
    if (n == 0) {
        return 0;
    }
    int w = BIO_write(m_net, data, static_cast<int>(n));
    return w > 0 ? static_cast<std::size_t>(w) : 0;
}

tls_session::progress tls_session::step()
{
    if (m_done) {
        return progress::done;
    }
    int rc = SSL_do_handshake(m_ssl);
    if (rc == 1) {
        m_done = true;
        return progress::done;
    }
    int e = SSL_get_error(m_ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        // WANT_WRITE means our end of the pair is full: the caller drains it and steps again.
        return progress::want_read;
    }
    m_failure = last_error(rc, stage::tls);
    return progress::failed;
}

error tls_session::last_error(int rc, stage where) const
{
    long verify = SSL_get_verify_result(m_ssl);
    // X509_V_ERR_INVALID_CALL: no certificate was verified yet (the handshake broke before
    // the peer sent one, e.g. a bad record); that is a handshake failure, not an untrusted CA.
    if (!m_insecure && verify != X509_V_OK && verify != X509_V_ERR_INVALID_CALL) {
        std::string why = X509_verify_cert_error_string(verify);
        errc code = errc::cert_untrusted;
        switch (verify) {
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            code = errc::cert_name_mismatch;
            why += " (verified against '" + m_verify_name + "')";
            break;
        case X509_V_ERR_CERT_HAS_EXPIRED: code = errc::cert_expired; break;
        case X509_V_ERR_CERT_NOT_YET_VALID: code = errc::cert_not_yet_valid; break;
        default: break;
        }
        ERR_clear_error();
        return make_error(where, code, "certificate verification failed: " + why);
    }
    std::string text = ssl_error_text();
    if (text.empty()) {
        text = "TLS error " + std::to_string(SSL_get_error(m_ssl, rc));
    }
    return make_error(where, m_done ? errc::tls_protocol : errc::tls_handshake, text);
}

error tls_session::failure() const { return m_failure; }

result<std::size_t> tls_session::read(char* out, std::size_t size)
{
    int cap = size > INT32_MAX ? INT32_MAX : static_cast<int>(size);
    int rc = SSL_read(m_ssl, out, cap);
    if (rc > 0) {
        return static_cast<std::size_t>(rc);
    }
    int e = SSL_get_error(m_ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return std::size_t{0};
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        return make_error(stage::none, errc::closed, "the server closed the TLS session");
    }
    return last_error(rc, stage::none);
}

result<void> tls_session::write(std::string_view plain)
{
    // The caller drains take_output() after this; with a small BIO a large write needs
    // several rounds, which write_all in the connection does.
    int rc = SSL_write(m_ssl, plain.data(), static_cast<int>(plain.size()));
    if (rc > 0) {
        return {};
    }
    int e = SSL_get_error(m_ssl, rc);
    if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        return make_error(stage::none, errc::buffer_full, "TLS output buffer full");
    }
    return last_error(rc, stage::none);
}

void tls_session::shutdown() noexcept
{
    SSL_shutdown(m_ssl);
    ERR_clear_error();
}

bool tls_session::take_output(std::string& out)
{
    std::size_t pending = BIO_ctrl_pending(m_net);
    if (pending == 0) {
        return false;
    }
    std::size_t at = out.size();
    out.resize(at + pending);
    int n = BIO_read(m_net, out.data() + at, static_cast<int>(pending));
    out.resize(at + (n > 0 ? static_cast<std::size_t>(n) : 0));
    return n > 0;
}

tls_info tls_session::info() const
{
    tls_info i;
    i.version = SSL_get_version(m_ssl);
    if (const SSL_CIPHER* c = SSL_get_current_cipher(m_ssl)) {
        i.cipher = SSL_CIPHER_standard_name(c);
    }
    i.insecure = m_insecure;
    i.verified = !m_insecure && SSL_get_verify_result(m_ssl) == X509_V_OK;
    if (X509* cert = SSL_get_peer_certificate(m_ssl)) {
        int days = 0;
        int secs = 0;
        if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) == 1) {
            i.cert_not_after = static_cast<std::int64_t>(::time(nullptr)) + std::int64_t{days} * 86400 + secs;
        }
        std::array<char, 256> subject{};
        X509_NAME_oneline(X509_get_subject_name(cert), subject.data(), static_cast<int>(subject.size()));
        // X509_NAME_oneline escapes control bytes itself, so server bytes arrive printable.
        i.cert_subject = subject.data();
        X509_free(cert);
    }
    return i;
}

} // namespace engine
