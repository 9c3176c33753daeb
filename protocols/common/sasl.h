// SASL client messages shared by SMTP AUTH, IMAP AUTHENTICATE and POP3 AUTH: mechanism names,
// strict base64 (BoringSSL), and the initial responses of PLAIN (RFC 4616), LOGIN
// (draft-murchison-sasl-login), XOAUTH2 (Google's and Microsoft's bearer-token form),
// OAUTHBEARER (RFC 7628) and CRAM-MD5 (RFC 2195).
//
// It refuses to build a message whose fields would change its structure: a NUL inside a PLAIN
// field, a ^A inside an XOAUTH2/OAUTHBEARER field, an empty user name or password. Base64 with
// whitespace, missing padding or stray characters is refused, not repaired.
//
// SECRETS: every response built here carries a password or a bearer token, merely base64
// encoded. Nothing in this module logs, prints or formats them, and callers must not either:
// a transcript shows "AUTH PLAIN <redacted>", never the value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace protocols::sasl {

enum class mechanism : std::uint8_t { plain, login, xoauth2, oauthbearer, cram_md5 };

/// The registered name ("PLAIN", "CRAM-MD5", ...), upper case.
std::string_view name(mechanism m) noexcept;

/// The mechanism called `text` (ASCII case-insensitive), or nullopt for any other name.
std::optional<mechanism> mechanism_from_name(std::string_view text) noexcept;

/// Whether `text` can be a mechanism name: 1 to 20 letters, digits, '-' and '_' (RFC 4422
/// section 3.1 allows upper case only; servers compare case-insensitively).
bool is_mechanism_name(std::string_view text) noexcept;

/// A small set of known mechanisms, e.g. those a server advertises.
class mechanism_set {
public:
    void add(mechanism m) noexcept { m_bits = static_cast<std::uint8_t>(m_bits | bit(m)); }
    bool contains(mechanism m) const noexcept { return (m_bits & bit(m)) != 0; }
    bool empty() const noexcept { return m_bits == 0; }
    friend bool operator==(mechanism_set, mechanism_set) = default;

private:
    static constexpr std::uint8_t bit(mechanism m) noexcept
    {
        return static_cast<std::uint8_t>(1u << static_cast<unsigned>(m));
    }
    std::uint8_t m_bits = 0;
};

enum class error : std::uint8_t {
    none,
    forbidden_character,  // a field holds a byte that would split or end it (NUL, ^A, ...)
    empty_field,          // a field the mechanism requires is empty
    bad_base64,           // not canonical, padded base64 without whitespace
};

std::string_view describe(error e) noexcept;

/// A built or decoded message, or why there is none. When it was built from credentials,
/// `value` holds them (base64 is no protection): never log it.
struct result {
    std::string value;
    error code = error::none;

    bool ok() const noexcept { return code == error::none; }
};

/// Standard base64 with padding, no line breaks.
std::string base64_encode(std::string_view bytes);

/// Whether `text` is padded base64 as a SASL response carries it: only the alphabet, a length
/// that is a multiple of four, and at most two '=' at the end. The empty text is.
bool is_base64(std::string_view text) noexcept;

/// Decodes a server challenge (the text of a 334 / "+ " line). Fails with bad_base64 on any
/// character outside the alphabet, whitespace, or a length that is not a multiple of four.
/// The empty text decodes to the empty string.
result base64_decode(std::string_view text);

/// base64url without padding (RFC 4648 section 5), as JWTs carry their parts.
std::string base64url_encode(std::string_view bytes);

/// The reverse; bad_base64 on '+', '/', '=' or anything outside the url-safe alphabet.
result base64url_decode(std::string_view text);

/// PLAIN initial response, base64: [authzid] NUL authcid NUL password (RFC 4616 section 2).
/// An empty authzid means "act as authcid". SECRET.
result plain(std::string_view authzid, std::string_view authcid, std::string_view password);

/// The two LOGIN responses, base64, sent after the "Username:" and "Password:" prompts.
/// Neither may be empty. login_password() is SECRET.
result login_username(std::string_view username);
result login_password(std::string_view password);

/// XOAUTH2 initial response, base64: "user=" user ^A "auth=Bearer " token ^A ^A. SECRET.
result xoauth2(std::string_view user, std::string_view access_token);

/// OAUTHBEARER initial response, base64 (RFC 7628 section 3.1): a GS2 header naming `user`
/// (',' and '=' escaped as =2C and =3D), then host, port (omitted when 0) and the bearer token.
/// SECRET.
result oauthbearer(std::string_view user, std::string_view host, std::uint16_t port,
    std::string_view access_token);

/// CRAM-MD5 response, base64: user SP lowercase-hex(HMAC-MD5(password, challenge)), where
/// `challenge_base64` is the server's 334 text. Fails with bad_base64 if it does not decode.
/// SECRET (the digest allows offline guessing of the password).
result cram_md5(std::string_view user, std::string_view password, std::string_view challenge_base64);

} // namespace protocols::sasl
