// What an SMTP server offers, read from its EHLO reply (RFC 5321 section 4.1.1.1): the
// extensions a probe client needs to choose its path (STARTTLS, AUTH mechanisms, SIZE, ...).
//
// Keywords are matched ASCII case-insensitively. The pre-standard "AUTH=LOGIN PLAIN" line
// (old Microsoft and Exchange servers, sent beside or instead of "AUTH ...") is read as AUTH.
// Unknown keywords are ignored; unknown AUTH mechanisms are kept by name (at most 16, each at
// most 20 characters, RFC 4422's limit) so a report can say what the server offered. A SIZE
// parameter that is not a decimal number is ignored rather than guessed at.
#pragma once

#include "protocols/common/sasl.h"
#include "protocols/smtp/reply_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::smtp {

/// A copy of what the EHLO reply offered; independent of the read buffer.
struct capabilities {
    bool starttls = false;             // RFC 3207
    bool pipelining = false;           // RFC 2920
    bool eight_bit_mime = false;       // RFC 6152, 8BITMIME
    bool smtputf8 = false;             // RFC 6531
    bool enhanced_status_codes = false;  // RFC 2034
    bool chunking = false;             // RFC 3030
    bool dsn = false;                  // RFC 3461
    bool size = false;                 // RFC 1870: SIZE was advertised
    std::optional<std::uint64_t> max_size;  // its fixed limit in bytes; none when absent or 0
    sasl::mechanism_set auth;          // known AUTH mechanisms
    std::vector<std::string> other_auth;  // unknown AUTH mechanisms, upper-cased, in order

    /// Reads one ehlo-line (a reply line's text, e.g. "AUTH LOGIN PLAIN") into this set.
    void add_line(std::string_view ehlo_line);

    /// Reads every line of a complete 250 EHLO reply but the first (the server's domain and
    /// greeting). The reply's views are read immediately; nothing refers to them afterwards.
    static capabilities from_ehlo(const reply_parser& reply);
};

} // namespace protocols::smtp
