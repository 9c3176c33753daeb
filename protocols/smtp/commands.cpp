// Command formatting. The RFC 5321 section 4.1 productions built here:
//
//   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
//   helo = "HELO" SP Domain CRLF
//   mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//   rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
//          [SP Rcpt-parameters] CRLF
//   data = "DATA" CRLF ; rset = "RSET" CRLF ; noop = "NOOP" CRLF ; quit = "QUIT" CRLF
//   Reverse-path = Path / "<>" ;  Forward-path = Path ;  Path = "<" Mailbox ">"
//
// RFC 4954 section 4:
//   auth-command = "AUTH" SP sasl-mech [SP initial-response] *(CRLF [base64]) [CRLF cancel-response] CRLF
//   initial-response = base64 / "="
//
// Arguments are checked for bytes that could end or split the line (the injection risk), not
// parsed against the full Mailbox grammar: the server is the authority on what it accepts.
#include "protocols/smtp/commands.h"

#include "protocols/common/sasl.h"

#include <array>
#include <charconv>

namespace protocols::smtp {
namespace {

constexpr std::size_t max_command_line = 512;    // RFC 5321 section 4.5.3.1.4
constexpr std::size_t max_auth_line = 12288;     // RFC 4954 section 4

// CTLs, SP, DEL, '<' and '>' can end the line, split the argument or close the path early.
bool forbidden_in_argument(unsigned char c) noexcept
{
    return c <= 0x20 || c == 0x7F || c == '<' || c == '>';
}

command_error check_argument(std::string_view arg, bool allow_utf8) noexcept
{
    bool non_ascii = false;
    for (char ch : arg) {
        auto c = static_cast<unsigned char>(ch);
        if (forbidden_in_argument(c)) {
            return command_error::forbidden_character;
        }
        non_ascii = non_ascii || c >= 0x80;
    }
    return non_ascii && !allow_utf8 ? command_error::needs_smtputf8 : command_error::none;
}

command_error check_domain(std::string_view domain) noexcept
{
    if (domain.empty()) {
        return command_error::empty_argument;
    }
    // Before EHLO nothing says SMTPUTF8, so a domain goes out as ASCII (A-labels).
    for (char ch : domain) {
        auto c = static_cast<unsigned char>(ch);
        if (forbidden_in_argument(c) || c >= 0x80) {
            return command_error::forbidden_character;
        }
    }
    return domain.size() + 7 > max_command_line ? command_error::line_too_long : command_error::none;
}

// sasl-mech = 1*20(UPPER-ALPHA / DIGIT / "-" / "_") (RFC 4422 section 3.1); the error says
// which part of the rule the name breaks.
command_error check_mechanism(std::string_view m) noexcept
{
    if (m.empty()) {
        return command_error::empty_argument;
    }
    if (m.size() > 20) {
        return command_error::line_too_long;
    }
    return sasl::is_mechanism_name(m) ? command_error::none : command_error::forbidden_character;
}

command_error append_greeting(std::string& out, std::string_view verb, std::string_view domain)
{
    if (command_error e = check_domain(domain); e != command_error::none) {
        return e;
    }
    out.append(verb).append(" ").append(domain).append("\r\n");
    return command_error::none;
}

} // namespace

std::string_view describe(command_error e) noexcept
{
    switch (e) {
    case command_error::none: return "no error";
    case command_error::forbidden_character: return "argument contains a forbidden character";
    case command_error::empty_argument: return "required argument is empty";
    case command_error::line_too_long: return "command line longer than the protocol limit";
    case command_error::needs_smtputf8: return "non-ASCII address needs SMTPUTF8";
    case command_error::not_base64: return "SASL response is not base64";
    }
    return "unknown command error";
}

command_error append_ehlo(std::string& out, std::string_view domain)
{
    return append_greeting(out, "EHLO", domain);
}

command_error append_helo(std::string& out, std::string_view domain)
{
    return append_greeting(out, "HELO", domain);
}

void append_starttls(std::string& out)
{
    out.append("STARTTLS\r\n");
}

void append_data(std::string& out)
{
    out.append("DATA\r\n");
}

command_error append_auth(std::string& out, std::string_view mechanism,
    std::optional<std::string_view> initial_response)
{
    if (command_error e = check_mechanism(mechanism); e != command_error::none) {
        return e;
    }
    if (initial_response) {
        if (initial_response->empty()) {
            return command_error::empty_argument;
        }
        if (*initial_response != "=" && !sasl::is_base64(*initial_response)) {
            return command_error::not_base64;
        }
        if (mechanism.size() + initial_response->size() + 8 > max_auth_line) {
            return command_error::line_too_long;
        }
    }
    out.append("AUTH ").append(mechanism);
    if (initial_response) {
        out.append(" ").append(*initial_response);
    }
    out.append("\r\n");
    return command_error::none;
}

command_error append_sasl_response(std::string& out, std::string_view base64)
{
    // An empty response is an empty line (RFC 4954 section 4), valid base64 of nothing.
    if (!sasl::is_base64(base64)) {
        return command_error::not_base64;
    }
    if (base64.size() + 2 > max_auth_line) {
        return command_error::line_too_long;
    }
    out.append(base64).append("\r\n");
    return command_error::none;
}

command_error append_mail_from(std::string& out, std::string_view reverse_path, const mail_options& options)
{
    if (command_error e = check_argument(reverse_path, options.smtputf8); e != command_error::none) {
        return e;
    }
    // Built in place and measured, then taken back if too long: the buffer is left as it was.
    const std::size_t start = out.size();
    out.append("MAIL FROM:<").append(reverse_path).append(">");
    if (options.size) {
        std::array<char, 24> digits{};
        auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), *options.size);
        out.append(" SIZE=").append(digits.data(), end);
    }
    if (options.body_8bitmime) {
        out.append(" BODY=8BITMIME");
    }
    if (options.smtputf8) {
        out.append(" SMTPUTF8");
    }
    if (out.size() - start + 2 > max_command_line) {
        out.resize(start);
        return command_error::line_too_long;
    }
    out.append("\r\n");
    return command_error::none;
}

command_error append_rcpt_to(std::string& out, std::string_view forward_path, const rcpt_options& options)
{
    if (forward_path.empty()) {
        return command_error::empty_argument;
    }
    if (command_error e = check_argument(forward_path, options.smtputf8); e != command_error::none) {
        return e;
    }
    if (forward_path.size() + 12 > max_command_line) {
        return command_error::line_too_long;
    }
    out.append("RCPT TO:<").append(forward_path).append(">\r\n");
    return command_error::none;
}

} // namespace protocols::smtp
