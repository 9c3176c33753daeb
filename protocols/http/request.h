// Building the one kind of HTTP request mailprobe sends (RFC 9112): a POST of an
// application/x-www-form-urlencoded form to an https URL, as OAuth2 token endpoints expect
// (RFC 6749 section 4.4.2 and 6). Pure: no I/O.
//
// Refuses URLs that are not https:// with a host (an IP literal or a name, no user info, no
// fragment), ports outside 1-65535, and CR, LF, NUL or spaces anywhere in the URL, so nothing
// a scenario says can split the request. Form values are percent-encoded, never pasted raw.
//
// SECRETS: the body of a token request carries client secrets and refresh tokens. Nothing here
// logs it; callers must not either.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace protocols::http {

struct url {
    std::string host;         // a name or an IP literal, without brackets
    std::uint16_t port = 443;
    std::string target;       // origin-form: "/path?query", at least "/"

    /// "host" or "host:port" (IPv6 literals bracketed), for the Host field and messages.
    std::string authority() const;
};

/// Parses an https URL; nullopt when it is not one this client can use.
std::optional<url> parse_https_url(std::string_view text);

using form = std::vector<std::pair<std::string, std::string>>;

/// name=value pairs joined by '&', each percent-encoded (unreserved bytes kept, space as %20).
std::string form_encode(const form& fields);

/// The request head and body of a form POST to `to`, ready to write; "Connection: close"
/// because one request is all we make per connection.
std::string form_post(const url& to, std::string_view encoded_form);

} // namespace protocols::http
