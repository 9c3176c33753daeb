// SMTP command formatting (RFC 5321 section 4.1, RFC 4954 AUTH, RFC 3207 STARTTLS, RFC 1870
// SIZE, RFC 6152 BODY=8BITMIME, RFC 6531 SMTPUTF8): each function appends one complete
// command line, CRLF included, to a caller's write buffer.
//
// No command injection: an argument holding CR, LF, NUL or another control byte, a space,
// '<' or '>' is refused with an error value and the buffer is left untouched, so a hostile
// address from a scenario file can never add a second command. Also refused: non-ASCII
// addresses without SMTPUTF8, AUTH arguments that are not base64, and lines longer than RFC
// 5321's 512 octets (12288 for AUTH and SASL responses, RFC 4954 section 4). Quoted local
// parts containing spaces ("john doe"@example.com) are therefore not supported.
#pragma once

#include "protocols/common/commands.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace protocols::smtp {

enum class command_error : std::uint8_t {
    none,
    forbidden_character,  // CR, LF, NUL, control, space, '<' or '>' in an argument
    empty_argument,       // a required argument is empty
    line_too_long,        // the command line would exceed the RFC limit
    needs_smtputf8,       // a non-ASCII address without the SMTPUTF8 option
    not_base64,           // a SASL response that is not base64 (or "=" for an empty one)
};

std::string_view describe(command_error e) noexcept;

struct mail_options {
    std::optional<std::uint64_t> size;  // SIZE=<n>, the message size in bytes
    bool body_8bitmime = false;         // BODY=8BITMIME
    bool smtputf8 = false;              // SMTPUTF8; allows UTF-8 in the address
};

struct rcpt_options {
    bool smtputf8 = false;  // the transaction's MAIL FROM carried SMTPUTF8
};

/// "EHLO <domain>\r\n" / "HELO <domain>\r\n". `domain` is a name or an address literal such
/// as "[127.0.0.1]".
[[nodiscard]] command_error append_ehlo(std::string& out, std::string_view domain);
[[nodiscard]] command_error append_helo(std::string& out, std::string_view domain);

void append_starttls(std::string& out);
void append_data(std::string& out);
using protocols::append_rset;
using protocols::append_noop;
using protocols::append_quit;

/// "AUTH <mechanism>[ <initial response>]\r\n". `initial_response` is base64 as built by
/// protocols::sasl, or "=" for an empty one. The line then holds a SECRET: a transcript must
/// show only the mechanism.
[[nodiscard]] command_error append_auth(std::string& out, std::string_view mechanism,
    std::optional<std::string_view> initial_response = std::nullopt);

/// A SASL continuation response "<base64>\r\n" (e.g. the LOGIN steps). SECRET.
[[nodiscard]] command_error append_sasl_response(std::string& out, std::string_view base64);

/// "*\r\n": abandons the SASL exchange (RFC 4954 section 4).
using protocols::append_sasl_cancel;

/// "MAIL FROM:<reverse_path>[ SIZE=n][ BODY=8BITMIME][ SMTPUTF8]\r\n". An empty reverse path
/// gives the null sender "<>".
[[nodiscard]] command_error append_mail_from(std::string& out, std::string_view reverse_path,
    const mail_options& options = {});

/// "RCPT TO:<forward_path>\r\n". The path must not be empty.
[[nodiscard]] command_error append_rcpt_to(std::string& out, std::string_view forward_path,
    const rcpt_options& options = {});

} // namespace protocols::smtp
