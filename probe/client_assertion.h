// Client assertions: the certificate credential of the Microsoft identity platform (RFC 7523
// section 2.2, RFC 7521). Instead of a client secret, the token request carries a short-lived
// JWT signed RS256 with the private key of a certificate registered with the application:
// header {alg RS256, typ JWT, x5t, x5t#S256 (the certificate's SHA-1 and SHA-256 thumbprints,
// base64url)}, claims {aud = the token URL, iss = sub = the client ID, jti random, iat, nbf,
// exp}. The assertion is made fresh for each token request and never kept.
//
// Refuses keys that are not RSA (RS256 only), and a key that does not belong to the
// certificate (the identity provider would answer with a less helpful refusal).
#pragma once

#include "engine/result.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace probe {

/// How long an assertion is valid: one token request needs seconds, and a stolen assertion
/// should be worth little.
inline constexpr std::chrono::seconds client_assertion_lifetime{300};

/// The signed JWT for `client_id` at `audience` (the token URL), valid from `now` (unix
/// seconds) for client_assertion_lifetime. `cert_pem` holds the certificate, `key_pem` its
/// private key (PKCS#8 or traditional PEM; both may be the same text). The result is SECRET
/// while it is valid. Errors carry stage auth and never the key.
engine::result<std::string> make_client_assertion(std::string_view cert_pem, std::string_view key_pem,
    std::string_view client_id, std::string_view audience, std::int64_t now);

/// The same from files: the certificate from `certificate_file`, the key from
/// `private_key_file`, or from `certificate_file` too when that is empty. Read at each call, so
/// a renewed certificate is used from the next token request on.
engine::result<std::string> make_client_assertion_from_files(const std::string& certificate_file,
    const std::string& private_key_file, std::string_view client_id, std::string_view audience, std::int64_t now);

} // namespace probe
