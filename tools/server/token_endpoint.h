// builtin::token_endpoint: a small OAuth2 token endpoint (RFC 6749 sections 4.4 and 6) over
// HTTPS on loopback, the identity provider of the tests and the demo. It issues access tokens
// for the client-credentials and refresh-token grants, lets them expire after a configurable
// lifetime, rotates refresh tokens like Microsoft's platform does (the old one stops working),
// and answers refusals in the JSON shape Entra ID and Google use, with AADSTS-style text.
// A client registered with a certificate authenticates with a client assertion (RFC 7523): a
// JWT signed RS256 whose x5t#S256 (or x5t) names the certificate, checked for signature,
// aud (this endpoint's url()), iss = sub = client_id, nbf/exp and a jti not seen before.
//
// NOT AN IDENTITY PROVIDER: tokens are random strings kept in memory, there are no users or
// consent, and requests are served one at a time. It makes a throwaway CA and a certificate
// for 127.0.0.1 at start (engine/certs.h); clients trust ca_pem().
//
//   builtin::token_endpoint idp;
//   idp.add_client("probe-app", "app-secret");
//   auto refresh = idp.issue_refresh_token("probe-app");
//   if (auto r = idp.start(); !r) { ... }
//   scope.spawn(idp.run());   // until idp.stop()
#pragma once

#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace engine {
class scope;
}

namespace builtin {

class token_endpoint {
public:
    token_endpoint() = default;
    token_endpoint(const token_endpoint&) = delete;
    token_endpoint& operator=(const token_endpoint&) = delete;

    /// How long issued access tokens live (expires_in).
    std::chrono::seconds lifetime{3600};
    /// Whether a refresh grant returns a new refresh token and retires the old one.
    bool rotate_refresh_tokens = true;

    /// How the endpoint misbehaves, for the clients' failure tests. Hanging modes hold the
    /// connection for at most 10 s, or until stop().
    enum class fault : std::uint8_t {
        none,
        silent,         // accepts the TCP connection, never says a byte (not even TLS)
        trickle,        // reads the request, then sends a response head one byte per 100 ms
        garbage,        // reads the request, answers bytes that are not HTTP, closes
        huge_header,    // reads the request, answers a 200 whose header outgrows any limit
        html_502,       // reads the request, answers a proxy's "502 Bad Gateway" HTML page
        echo_secrets,   // refuses with an error_description quoting the refresh_token,
                        // client_secret and client_assertion it was sent, like a careless
                        // identity provider
    };
    fault misbehave = fault::none;

    /// Registers an application; an empty secret makes it a public client (no secret sent).
    void add_client(std::string client_id, std::string client_secret);
    /// Registers an application whose credential is a certificate (PEM): it must send a client
    /// assertion signed with the certificate's RSA key instead of a secret.
    void add_client_certificate(std::string client_id, std::string cert_pem);
    /// A refresh token for `client_id`, as a consent flow would have left it.
    std::string issue_refresh_token(const std::string& client_id);
    /// Every refresh token stops working (the user revoked the app's access).
    void revoke_refresh_tokens() noexcept { m_refresh.clear(); }
    /// Every access token issued so far stops working before its expiry (an admin revoked the
    /// app's sessions); mail servers asking accepts() then refuse them.
    void revoke_access_tokens() noexcept { m_access.clear(); }

    /// Makes the certificate and binds 127.0.0.1 on any free port. Errors carry stage tls or
    /// connect.
    engine::result<void> start();
    /// Serves until stop() (or a stop on the awaiting task). Call start() first.
    engine::task<void> run();
    void stop() noexcept;

    std::uint16_t port() const noexcept { return m_listener.port(); }
    const std::string& ca_pem() const noexcept { return m_ca_pem; }
    /// "https://127.0.0.1:<port>/<tenant>/oauth2/v2.0/token" (the tenant part is ignored).
    std::string url() const;

    /// Whether `access_token` was issued here and has not expired.
    bool accepts(std::string_view access_token) const;
    /// Token requests answered so far, granted or refused.
    std::size_t requests() const noexcept { return m_requests; }
    std::size_t granted() const noexcept { return m_granted; }

private:
    struct reply {
        int status = 200;
        std::string body;
    };
    static engine::task<void> serve_loop(token_endpoint* self);
    engine::task<void> serve(engine::connection c);
    /// Answers a request the way `misbehave` says (hanging, garbage, huge, HTML).
    engine::task<void> misbehaving(engine::connection& c, engine::deadline until);
    reply answer(std::string_view form);
    std::optional<reply> refuse_assertion(const std::string& client_id, std::string_view assertion);
    std::string new_token(std::string_view prefix) const;

    std::map<std::string, std::string, std::less<>> m_clients;    // id -> secret
    std::map<std::string, std::string, std::less<>> m_client_certs;   // id -> certificate PEM
    std::set<std::string, std::less<>> m_seen_jti;                // assertions are single-use
    std::map<std::string, std::string, std::less<>> m_refresh;    // refresh token -> client id
    std::map<std::string, engine::clock::time_point, std::less<>> m_access;   // token -> expiry
    std::optional<engine::tls_context> m_tls;
    std::string m_ca_pem;
    engine::listener m_listener;
    engine::scope* m_running = nullptr;
    bool m_stop = false;
    std::size_t m_requests = 0;
    std::size_t m_granted = 0;
};

} // namespace builtin
