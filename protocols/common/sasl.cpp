// SASL message builders over BoringSSL's base64 and HMAC. Intermediate plaintext copies of
// credentials are wiped with OPENSSL_cleanse before their memory is released, so a secret
// lingers only in the returned value the caller owns.
#include "protocols/common/sasl.h"

#include <openssl/base64.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>

#include <array>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace protocols::sasl {
namespace {

constexpr std::array<std::string_view, 5> mechanism_names = {
    "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "CRAM-MD5",
};

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i] >= 'a' && a[i] <= 'z' ? static_cast<char>(a[i] - 'a' + 'A') : a[i];
        if (x != b[i]) {
            return false;
        }
    }
    return true;
}

bool contains_any(std::string_view field, std::string_view bytes) noexcept
{
    return field.find_first_of(bytes) != std::string_view::npos;
}

// Holds a plaintext credential message and wipes it on every exit path.
class wiped_string {
public:
    wiped_string() = default;
    wiped_string(const wiped_string&) = delete;
    wiped_string& operator=(const wiped_string&) = delete;
    ~wiped_string() { OPENSSL_cleanse(m_text.data(), m_text.size()); }

    std::string& text() noexcept { return m_text; }

private:
    std::string m_text;
};

result encoded(wiped_string& message)
{
    return {base64_encode(message.text()), error::none};
}

result refuse(error e)
{
    return {std::string(), e};
}

} // namespace

std::string_view name(mechanism m) noexcept
{
    return mechanism_names[static_cast<std::size_t>(m)];
}

std::optional<mechanism> mechanism_from_name(std::string_view text) noexcept
{
    for (std::size_t i = 0; i < mechanism_names.size(); ++i) {
        if (iequals(text, mechanism_names[i])) {
            return static_cast<mechanism>(i);
        }
    }
    return std::nullopt;
}

bool is_mechanism_name(std::string_view text) noexcept
{
    if (text.empty() || text.size() > 20) {
        return false;
    }
    for (char c : text) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
            || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string_view describe(error e) noexcept
{
    switch (e) {
    case error::none: return "no error";
    case error::forbidden_character: return "a SASL field contains a forbidden character";
    case error::empty_field: return "a required SASL field is empty";
    case error::bad_base64: return "invalid base64";
    }
    return "unknown SASL error";
}

std::string base64_encode(std::string_view bytes)
{
    std::size_t with_nul = 0;
    if (EVP_EncodedLength(&with_nul, bytes.size()) == 0) {
        throw std::length_error("base64_encode: input too large");
    }
    std::string out(with_nul, '\0');
    std::size_t n = EVP_EncodeBlock(reinterpret_cast<std::uint8_t*>(out.data()),
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    out.resize(n);
    return out;
}

// base64 = *(4base64-char) [base64-terminal] (RFC 4954): the alphabet, '=' only as padding.
bool is_base64(std::string_view text) noexcept
{
    if (text.size() % 4 != 0) {
        return false;
    }
    std::size_t pad = 0;
    for (char c : text) {
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
            || c == '/';
        if (c == '=') {
            ++pad;
        } else if (!alpha || pad != 0) {
            return false;
        }
    }
    return pad <= 2;
}

result base64_decode(std::string_view text)
{
    std::size_t max_out = 0;
    if (EVP_DecodedLength(&max_out, text.size()) == 0) {
        return refuse(error::bad_base64);
    }
    std::string out(max_out, '\0');
    std::size_t n = 0;
    if (EVP_DecodeBase64(reinterpret_cast<std::uint8_t*>(out.data()), &n, out.size(),
            reinterpret_cast<const std::uint8_t*>(text.data()), text.size()) == 0) {
        return refuse(error::bad_base64);
    }
    out.resize(n);
    return {std::move(out), error::none};
}

std::string base64url_encode(std::string_view bytes)
{
    std::string s = base64_encode(bytes);
    while (!s.empty() && s.back() == '=') {
        s.pop_back();
    }
    for (char& c : s) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return s;
}

result base64url_decode(std::string_view text)
{
    std::string s(text);
    for (char& c : s) {
        if (c == '+' || c == '/' || c == '=') {
            return refuse(error::bad_base64);
        }
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    s.append((4 - s.size() % 4) % 4, '=');
    return base64_decode(s);
}

result plain(std::string_view authzid, std::string_view authcid, std::string_view password)
{
    // RFC 4616: message = [authzid] UTF8NUL authcid UTF8NUL passwd, each field 1*SAFE (no NUL).
    constexpr std::string_view nul("\0", 1);
    if (authcid.empty() || password.empty()) {
        return refuse(error::empty_field);
    }
    if (contains_any(authzid, nul) || contains_any(authcid, nul) || contains_any(password, nul)) {
        return refuse(error::forbidden_character);
    }
    wiped_string message;
    message.text().reserve(authzid.size() + authcid.size() + password.size() + 2);
    message.text().append(authzid).append(nul).append(authcid).append(nul).append(password);
    return encoded(message);
}

result login_username(std::string_view username)
{
    if (username.empty()) {
        return refuse(error::empty_field);
    }
    return {base64_encode(username), error::none};
}

result login_password(std::string_view password)
{
    if (password.empty()) {
        return refuse(error::empty_field);
    }
    return {base64_encode(password), error::none};
}

result xoauth2(std::string_view user, std::string_view access_token)
{
    // ^A separates the key=value pairs, so it may appear in neither field; NUL, CR and LF have
    // no business in a user name or a token either.
    constexpr std::string_view separators("\x01\0\r\n", 4);
    if (user.empty() || access_token.empty()) {
        return refuse(error::empty_field);
    }
    if (contains_any(user, separators) || contains_any(access_token, separators)) {
        return refuse(error::forbidden_character);
    }
    wiped_string message;
    message.text().reserve(user.size() + access_token.size() + 22);
    message.text().append("user=").append(user).append("\x01" "auth=Bearer ").append(access_token).append(
        "\x01\x01");
    return encoded(message);
}

result oauthbearer(std::string_view user, std::string_view host, std::uint16_t port,
    std::string_view access_token)
{
    // RFC 7628 section 3.1:
    //   client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep
    //   gs2-header  = "n," [ "a=" saslname ] ","      (RFC 5801; saslname escapes ',' and '=')
    //   kvpair      = key "=" value kvsep ;  kvsep = %x01
    //   value       = *(VCHAR / SP / HTAB / CR / LF)  -- we still refuse CR and LF: no server needs them
    //   auth-value  = "Bearer" 1*SP b64token
    constexpr std::string_view separators("\x01\0\r\n", 4);
    if (access_token.empty()) {
        return refuse(error::empty_field);
    }
    if (contains_any(user, separators) || contains_any(host, separators)
        || contains_any(access_token, separators)) {
        return refuse(error::forbidden_character);
    }
    wiped_string message;
    std::string& m = message.text();
    // Reserved up front so no reallocation leaves an unwiped copy of the token behind.
    m.reserve(3 * user.size() + host.size() + access_token.size() + 48);
    m.append("n,");
    if (!user.empty()) {
        m.append("a=");
        for (char c : user) {
            if (c == ',') {
                m.append("=2C");
            } else if (c == '=') {
                m.append("=3D");
            } else {
                m.push_back(c);
            }
        }
    }
    m.append(",\x01");
    if (!host.empty()) {
        m.append("host=").append(host).push_back('\x01');
    }
    if (port != 0) {
        std::array<char, 8> digits{};
        auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), port);
        m.append("port=").append(digits.data(), end).push_back('\x01');
    }
    m.append("auth=Bearer ").append(access_token).append("\x01\x01");
    return encoded(message);
}

result cram_md5(std::string_view user, std::string_view password, std::string_view challenge_base64)
{
    if (user.empty() || password.empty()) {
        return refuse(error::empty_field);
    }
    // RFC 2195 puts exactly one space between the user name and the digest; a user name with
    // a space or a line break would make the response ambiguous.
    if (contains_any(user, std::string_view(" \0\r\n", 4))) {
        return refuse(error::forbidden_character);
    }
    result challenge = base64_decode(challenge_base64);
    if (!challenge.ok()) {
        return challenge;
    }
    std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (HMAC(EVP_md5(), password.data(), password.size(),
            reinterpret_cast<const std::uint8_t*>(challenge.value.data()), challenge.value.size(),
            digest.data(), &digest_len) == nullptr) {
        throw std::runtime_error("cram_md5: HMAC-MD5 failed");
    }
    constexpr std::string_view hex = "0123456789abcdef";
    wiped_string message;
    message.text().reserve(user.size() + 1 + 2 * digest.size());
    message.text().append(user).push_back(' ');
    for (unsigned int i = 0; i < digest_len; ++i) {
        message.text().push_back(hex[digest[i] >> 4]);
        message.text().push_back(hex[digest[i] & 0x0F]);
    }
    OPENSSL_cleanse(digest.data(), digest.size());
    return encoded(message);
}

} // namespace protocols::sasl
