// POP3 command builders (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH).
//
// Each function appends one complete command line, CRLF included, to the caller's buffer, so a
// session can batch commands (PIPELINING) into one write. Arguments come from configuration
// and from the server (the APOP timestamp), so every one is checked before anything is
// appended: CR, LF and NUL are refused everywhere (they would smuggle a second command), and
// spaces are refused wherever they would split an argument. On error the buffer is unchanged.
#pragma once

#include "protocols/common/commands.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace protocols::pop3 {

enum class command_error : std::uint8_t {
    none,
    empty_argument,       // an argument that must not be empty is
    forbidden_character,  // CR, LF or NUL, or a space inside a single-word argument
    bad_message_number,   // message numbers start at 1
    bad_mechanism,        // not a SASL mechanism name (RFC 4422: 1-20 of letters, digits, - and _)
    bad_timestamp,        // an APOP timestamp that is not "<...>"
    too_long,             // AUTH with an initial response over 255 octets (RFC 5034 section 4)
};

constexpr std::string_view describe(command_error e) noexcept
{
    switch (e) {
    case command_error::none: return "no error";
    case command_error::empty_argument: return "empty argument";
    case command_error::forbidden_character: return "argument contains CR, LF, NUL or a space";
    case command_error::bad_message_number: return "message number must be at least 1";
    case command_error::bad_mechanism: return "invalid SASL mechanism name";
    case command_error::bad_timestamp: return "invalid APOP timestamp";
    case command_error::too_long: return "command longer than 255 octets";
    }
    return "unknown command error";
}

/// USER name. The name may not contain spaces, CR, LF or NUL.
command_error append_user(std::string& out, std::string_view name);
/// PASS password. Spaces are allowed: RFC 1939 section 7 lets the server read PASS's single
/// argument to the end of the line. CR, LF and NUL are refused.
command_error append_pass(std::string& out, std::string_view password);
/// APOP name digest, where digest is the lower-case hex MD5 of timestamp followed by secret
/// (RFC 1939 section 7). `timestamp` is the greeting's "<...>" as find_apop_timestamp()
/// returns it; the secret is only hashed, never sent.
command_error append_apop(std::string& out, std::string_view name, std::string_view timestamp,
                          std::string_view secret);
/// AUTH mechanism, without an initial response.
command_error append_auth(std::string& out, std::string_view mechanism);
/// AUTH mechanism initial-response; an empty response is sent as "=" (RFC 5034 section 4).
/// too_long when the line would exceed 255 octets: the caller then sends AUTH without it and
/// answers the server's empty challenge instead.
command_error append_auth(std::string& out, std::string_view mechanism, std::string_view initial_response);
/// A base64 response to a "+ " challenge during AUTH; empty sends an empty line.
command_error append_sasl_response(std::string& out, std::string_view base64);
/// "*": abandons the AUTH exchange (RFC 5034 section 4).
using protocols::append_sasl_cancel;

void append_capa(std::string& out);
void append_stls(std::string& out);
void append_stat(std::string& out);
/// LIST (multi-line reply) and LIST n (single-line).
void append_list(std::string& out);
command_error append_list(std::string& out, std::uint32_t msgno);
/// UIDL (multi-line reply) and UIDL n (single-line).
void append_uidl(std::string& out);
command_error append_uidl(std::string& out, std::uint32_t msgno);
/// TOP n lines: the header and the first `lines` body lines (0: the header only).
command_error append_top(std::string& out, std::uint32_t msgno, std::uint32_t lines);
command_error append_retr(std::string& out, std::uint32_t msgno);
command_error append_dele(std::string& out, std::uint32_t msgno);
using protocols::append_rset;
using protocols::append_noop;
using protocols::append_quit;

} // namespace protocols::pop3
