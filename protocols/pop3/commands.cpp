// POP3 command builders: see commands.h for the contract.
//
// RFC 1939 section 3 and RFC 2449 section 3:
//
//   command  = keyword *(SP param) CRLF    ; 255 octets maximum (RFC 2449)
//   keyword  = 3*4VCHAR
//   param    = 1*VCHAR                     ; up to 40 octets in RFC 1939
//
// RFC 5034 section 4:
//
//   auth-command      = "AUTH" SP sasl-mech [SP (base64 / "=")] CRLF
//   client-response   = base64 / "*" CRLF  ; "*" cancels
//   sasl-mech         = 1*20mech-char      ; RFC 4422: A-Z 0-9 - _
//
// The 40-octet parameter limit of RFC 1939 is not enforced: user names are e-mail addresses
// today and servers accept them. The 255-octet limit is enforced only where RFC 5034 gives the
// client a fallback (the AUTH initial response).
#include "protocols/pop3/commands.h"

#include "protocols/common/sasl.h"

#include <openssl/md5.h>
#ifndef OPENSSL_IS_BORINGSSL
#error "protocols/pop3 must see BoringSSL's headers, not OpenSSL 3's"
#endif

#include <array>
#include <charconv>

namespace protocols::pop3 {

namespace {

constexpr std::size_t max_auth_line = 255;

command_error check_word(std::string_view s) noexcept
{
    if (s.empty()) {
        return command_error::empty_argument;
    }
    if (has_line_breaker(s) || s.find(' ') != std::string_view::npos) {
        return command_error::forbidden_character;
    }
    return command_error::none;
}

command_error check_mechanism(std::string_view mechanism) noexcept
{
    return sasl::is_mechanism_name(mechanism) ? command_error::none : command_error::bad_mechanism;
}

void append_number(std::string& out, std::uint32_t n)
{
    std::array<char, 10> digits{};
    const auto r = std::to_chars(digits.data(), digits.data() + digits.size(), n);
    out.append(digits.data(), r.ptr);
}

command_error append_numbered(std::string& out, std::string_view keyword, std::uint32_t msgno)
{
    if (msgno == 0) {
        return command_error::bad_message_number;
    }
    out.append(keyword);
    out.push_back(' ');
    append_number(out, msgno);
    out.append("\r\n");
    return command_error::none;
}

command_error append_word_command(std::string& out, std::string_view keyword, std::string_view arg)
{
    if (const command_error e = check_word(arg); e != command_error::none) {
        return e;
    }
    out.append(keyword);
    out.push_back(' ');
    out.append(arg);
    out.append("\r\n");
    return command_error::none;
}

} // namespace

command_error append_user(std::string& out, std::string_view name)
{
    return append_word_command(out, "USER", name);
}

command_error append_pass(std::string& out, std::string_view password)
{
    if (password.empty()) {
        return command_error::empty_argument;
    }
    if (has_line_breaker(password)) {
        return command_error::forbidden_character;
    }
    out.append("PASS ");
    out.append(password);
    out.append("\r\n");
    return command_error::none;
}

command_error append_apop(std::string& out, std::string_view name, std::string_view timestamp,
                          std::string_view secret)
{
    if (const command_error e = check_word(name); e != command_error::none) {
        return e;
    }
    if (timestamp.size() < 2 || timestamp.front() != '<' || timestamp.back() != '>'
        || check_word(timestamp) != command_error::none) {
        return command_error::bad_timestamp;
    }
    MD5_CTX ctx;
    MD5_Init(&ctx);
    MD5_Update(&ctx, timestamp.data(), timestamp.size());
    MD5_Update(&ctx, secret.data(), secret.size());
    std::array<std::uint8_t, MD5_DIGEST_LENGTH> digest{};
    MD5_Final(digest.data(), &ctx);

    static constexpr char hex[] = "0123456789abcdef";
    out.append("APOP ");
    out.append(name);
    out.push_back(' ');
    for (std::uint8_t b : digest) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 0x0F]);
    }
    out.append("\r\n");
    return command_error::none;
}

command_error append_auth(std::string& out, std::string_view mechanism)
{
    if (const command_error e = check_mechanism(mechanism); e != command_error::none) {
        return e;
    }
    out.append("AUTH ");
    out.append(mechanism);
    out.append("\r\n");
    return command_error::none;
}

command_error append_auth(std::string& out, std::string_view mechanism, std::string_view initial_response)
{
    if (const command_error e = check_mechanism(mechanism); e != command_error::none) {
        return e;
    }
    const std::string_view response = initial_response.empty() ? std::string_view("=") : initial_response;
    if (const command_error e = check_word(response); e != command_error::none) {
        return e;
    }
    // "AUTH" SP mech SP response CRLF
    if (4 + 1 + mechanism.size() + 1 + response.size() + 2 > max_auth_line) {
        return command_error::too_long;
    }
    out.append("AUTH ");
    out.append(mechanism);
    out.push_back(' ');
    out.append(response);
    out.append("\r\n");
    return command_error::none;
}

command_error append_sasl_response(std::string& out, std::string_view base64)
{
    if (has_line_breaker(base64) || base64.find(' ') != std::string_view::npos) {
        return command_error::forbidden_character;
    }
    out.append(base64);
    out.append("\r\n");
    return command_error::none;
}

void append_capa(std::string& out)
{
    out.append("CAPA\r\n");
}

void append_stls(std::string& out)
{
    out.append("STLS\r\n");
}

void append_stat(std::string& out)
{
    out.append("STAT\r\n");
}

void append_list(std::string& out)
{
    out.append("LIST\r\n");
}

command_error append_list(std::string& out, std::uint32_t msgno)
{
    return append_numbered(out, "LIST", msgno);
}

void append_uidl(std::string& out)
{
    out.append("UIDL\r\n");
}

command_error append_uidl(std::string& out, std::uint32_t msgno)
{
    return append_numbered(out, "UIDL", msgno);
}

command_error append_top(std::string& out, std::uint32_t msgno, std::uint32_t lines)
{
    if (msgno == 0) {
        return command_error::bad_message_number;
    }
    out.append("TOP ");
    append_number(out, msgno);
    out.push_back(' ');
    append_number(out, lines);
    out.append("\r\n");
    return command_error::none;
}

command_error append_retr(std::string& out, std::uint32_t msgno)
{
    return append_numbered(out, "RETR", msgno);
}

command_error append_dele(std::string& out, std::uint32_t msgno)
{
    return append_numbered(out, "DELE", msgno);
}

} // namespace protocols::pop3
