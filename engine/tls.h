// TLS as a byte transform: a BoringSSL client session over a BIO pair. The connection
// feeds it ciphertext from the socket and sends what it produces; nothing here does I/O.
// That is what lets STARTTLS upgrade a live connection in place.
//
// Verification is on by default: the chain must lead to the system CA store (or the CA file
// given for the server), and the certificate must name the host (or IP) we verify.
// TLS 1.2 is the minimum. `insecure` turns verification off and is reported in every result.
#pragma once

#include "engine/result.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace engine {

struct tls_options {
    std::string ca_file;        // empty: the system CA store
    bool insecure = false;      // no chain or name verification (loudly reported)
};

/// What a handshake established, for results and certificate-expiry warnings.
struct tls_info {
    std::string version;        // "TLSv1.3"
    std::string cipher;         // "TLS_AES_128_GCM_SHA256"
    std::int64_t cert_not_after = 0;   // peer certificate expiry, unix seconds (0: none)
    std::string cert_subject;   // the peer certificate's subject, one line
    bool verified = false;      // chain and name verified
    bool insecure = false;      // verification was switched off for this server
};

/// A client SSL_CTX for one set of options: shared by every connection to the servers that
/// use those options, because loading a CA store per connection would dominate the cost.
class tls_context {
public:
    static result<tls_context> client(const tls_options& options);
    /// A server context (for the built-in server and test peers) from PEM text.
    static result<tls_context> server(std::string_view cert_chain_pem, std::string_view key_pem);

    tls_context(const tls_context&);
    tls_context& operator=(const tls_context&);
    tls_context(tls_context&&) noexcept;
    tls_context& operator=(tls_context&&) noexcept;
    ~tls_context();

    ssl_ctx_st* native() const noexcept { return m_ctx; }
    bool insecure() const noexcept { return m_insecure; }

private:
    tls_context(ssl_ctx_st* ctx, bool insecure) noexcept : m_ctx(ctx), m_insecure(insecure) {}
    ssl_ctx_st* m_ctx = nullptr;
    bool m_insecure = false;
};

/// One client TLS session. Protocol:
///   feed(ciphertext) -> step() -> take_output() to send; repeat until handshake_done();
///   then write(plaintext) / read(into) and take_output() after each.
class tls_session {
public:
    /// `verify_name` is the DNS name or IP literal the certificate must match; it is also
    /// sent as SNI when it is a name.
    static result<std::unique_ptr<tls_session>> create(const tls_context& ctx, std::string_view verify_name);
    /// The server side of a handshake, with the context's certificate.
    static result<std::unique_ptr<tls_session>> accept(const tls_context& ctx);
    ~tls_session();
    tls_session(const tls_session&) = delete;
    tls_session& operator=(const tls_session&) = delete;

    /// Accepts ciphertext from the socket; returns how much was taken (the BIO may be full:
    /// call read()/step() and feed the rest).
    std::size_t feed(const char* data, std::size_t size) noexcept;

    enum class progress { done, want_read, failed };
    /// Advances the handshake.
    progress step();
    bool handshake_done() const noexcept { return m_done; }

    /// Decrypts into `out`; returns bytes produced, 0 when it needs more ciphertext, or an
    /// error (closed on close_notify).
    result<std::size_t> read(char* out, std::size_t size);
    /// Encrypts all of `plain` into the output queue.
    result<void> write(std::string_view plain);
    /// Queues a close_notify alert.
    void shutdown() noexcept;

    /// Ciphertext waiting to be sent, appended to `out`. Returns false when there is none.
    bool take_output(std::string& out);

    /// The error of a failed step(), as specific as BoringSSL can tell.
    error failure() const;
    tls_info info() const;

private:
    tls_session() = default;
    error last_error(int rc, stage where) const;

    ssl_st* m_ssl = nullptr;
    bio_st* m_net = nullptr;      // our end of the BIO pair
    bool m_done = false;
    bool m_insecure = false;
    std::string m_verify_name;
    error m_failure;
};

} // namespace engine
