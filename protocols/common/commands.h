// What the line-based command builders share: the commands SMTP and POP3 spell alike (RFC
// 5321 section 4.1.1 and RFC 1939; the SASL cancel of RFC 4954 and RFC 5034 section 4), and
// the bytes no argument may hold in any of the three protocols. Each append_ function adds one
// complete line, CRLF included, to the caller's buffer.
#pragma once

#include <string>
#include <string_view>

namespace protocols {

void append_rset(std::string& out);
void append_noop(std::string& out);
void append_quit(std::string& out);
/// "*": abandons the SASL exchange.
void append_sasl_cancel(std::string& out);

/// Whether `s` holds CR, LF or NUL, which end or break a command line wherever they appear.
bool has_line_breaker(std::string_view s) noexcept;

} // namespace protocols
