// Interpreters for the contents of POP3 replies: STAT's drop listing, LIST's scan listings,
// UIDL's unique-id listings, the CAPA capability list and the APOP timestamp of a greeting.
//
// They work on text the reply parser has already split into lines (reply::text, body lines),
// so they never see line endings. Each returns its result with an error value instead of
// guessing: message numbers of 0, numbers that overflow, unique-ids outside RFC 1939's 1-70
// bytes of 0x21-0x7E, and capability lines outside RFC 2449's grammar are refused.
#pragma once

#include "protocols/pop3/reply_parser.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::pop3 {

enum class listing_error : std::uint8_t {
    none,
    missing_field,   // a field the grammar requires is absent
    bad_number,      // not 1*DIGIT, a message number of 0, or too large
    bad_uid,         // a unique-id that is empty or has a byte outside 0x21-0x7E
    uid_too_long,    // a unique-id longer than 70 bytes
    bad_capability,  // a CAPA line outside RFC 2449's capability grammar
    no_timestamp,    // the greeting carries no <...> timestamp: APOP is not offered
    bad_timestamp,   // a "<" that does not start a well-formed <local@domain> timestamp
};

constexpr std::string_view describe(listing_error e) noexcept
{
    switch (e) {
    case listing_error::none: return "no error";
    case listing_error::missing_field: return "missing field";
    case listing_error::bad_number: return "malformed or out-of-range number";
    case listing_error::bad_uid: return "malformed unique-id";
    case listing_error::uid_too_long: return "unique-id longer than 70 characters";
    case listing_error::bad_capability: return "malformed capability line";
    case listing_error::no_timestamp: return "greeting has no APOP timestamp";
    case listing_error::bad_timestamp: return "malformed APOP timestamp";
    }
    return "unknown listing error";
}

/// STAT's "+OK nn mm" (RFC 1939 section 5: drop listing; anything after mm is ignored).
struct drop_listing {
    std::uint32_t count = 0;
    std::uint64_t octets = 0;
    listing_error error = listing_error::none;
};

/// One LIST line, or the text of "+OK n size" to LIST n (scan listing; anything after the
/// size is ignored, as RFC 1939 allows).
struct scan_listing {
    std::uint32_t msgno = 0;
    std::uint64_t octets = 0;
    listing_error error = listing_error::none;
};

/// One UIDL line, or the text of "+OK n uid" to UIDL n. `uid` views the given text.
struct uid_listing {
    std::uint32_t msgno = 0;
    std::string_view uid;
    listing_error error = listing_error::none;
};

/// `text` is reply::text of the STAT reply.
drop_listing parse_drop_listing(std::string_view text) noexcept;
/// `line` is a body line of LIST or reply::text of LIST n.
scan_listing parse_scan_listing(std::string_view line) noexcept;
/// `line` is a body line of UIDL or reply::text of UIDL n; the uid views `line`.
uid_listing parse_uid_listing(std::string_view line) noexcept;

/// EXPIRE: how long the server keeps messages (RFC 2449 section 6.7).
struct expire_policy {
    bool never = false;       // "EXPIRE NEVER"
    std::uint32_t days = 0;   // 0: messages are deleted once retrieved
    bool per_user = false;    // "USER": the value may change after login
};

/// LOGIN-DELAY: minimum seconds between logins (RFC 2449 section 6.5).
struct login_delay_policy {
    std::uint32_t seconds = 0;
    bool per_user = false;
};

/// What a CAPA reply announced. Owns its strings: it outlives the reply's buffer.
struct capabilities {
    bool top = false;
    bool uidl = false;
    bool user = false;
    bool stls = false;
    bool pipelining = false;
    bool resp_codes = false;
    bool auth_resp_code = false;
    bool sasl = false;
    std::vector<std::string> sasl_mechanisms;  // as announced, e.g. {"PLAIN", "XOAUTH2"}
    std::optional<expire_policy> expire;
    std::optional<login_delay_policy> login_delay;
    std::string implementation;  // server text: show it through printable()
    /// The first malformed line, 1-based; the other lines are still interpreted, because a
    /// probe can use the capabilities it understood.
    listing_error error = listing_error::none;
    std::size_t error_line = 0;

    /// ASCII case-insensitive: SASL mechanism names are case-insensitive (RFC 4422).
    bool has_sasl_mechanism(std::string_view mechanism) const noexcept;
};

/// Interprets the body of a +OK reply to CAPA. Unknown capabilities are ignored (RFC 2449
/// section 5); capability names are matched case-insensitively.
capabilities parse_capabilities(const body_lines& lines);

/// The APOP timestamp, "<" and ">" included, found in a greeting's reply::text.
struct apop_timestamp {
    std::string_view value;  // views the given text
    listing_error error = listing_error::none;
};

apop_timestamp find_apop_timestamp(std::string_view greeting_text) noexcept;

} // namespace protocols::pop3
