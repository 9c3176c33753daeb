// Builds the probe message: a complete RFC 5322 message with CRLF line ends, every line
// shorter than 78 characters, ready for SMTP DATA (the caller dot-stuffs it; no line here
// starts with a dot). Fields: Date, From, To, Subject (readable: probe name and id),
// Message-ID <id@domain>, MIME-Version, Content-Type text/plain; charset=utf-8,
// Content-Transfer-Encoding 7bit, X-Mailprobe, then a short plain-text body saying what the
// message is, because filters quarantine empty bodies.
// It refuses (build_error) what could inject fields or break the layout: addresses that are
// not a plain dot-atom local@domain, domains that are not LDH labels, probe names outside
// the safe charset, offsets beyond +-18 h, and anything that would need a line of 78+
// characters.
//
//   date         = "Date:" date-time CRLF                 (RFC 5322 3.6.1)
//   from / to    = "From:" mailbox-list CRLF / "To:" address-list CRLF   (3.6.2, 3.6.3)
//   addr-spec    = local-part "@" domain                   (only dot-atom forms are written)
//   message-id   = "Message-ID:" msg-id CRLF               msg-id = "<" id-left "@" id-right ">"
#pragma once

#include "protocols/message/probe_header.h"
#include "protocols/message/probe_id.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace protocols::message {

struct message_spec {
    std::string_view from;           // addr-spec, e.g. "probe@example.org"
    std::string_view to;             // addr-spec
    std::string_view message_id_domain;  // id-right of Message-ID; empty: the From domain
    std::string_view probe_name;
    probe_id id;
    std::uint64_t sent_unix_ms = 0;  // also the Date (floored to seconds)
    int utc_offset_minutes = 0;      // the Date's zone, minutes east of UTC
};

enum class build_error : std::uint8_t {
    none,
    bad_from,
    bad_to,
    bad_domain,
    bad_probe_name,
    bad_offset,
    line_too_long,  // an input is too long to fit in a line under 78 characters
};

std::string_view describe(build_error e) noexcept;

struct built_message {
    build_error error = build_error::none;
    std::string text;  // the whole message when error is none; empty otherwise
};

/// Lays out the message described by `spec`, signing the X-Mailprobe field with `key`.
built_message build_message(const message_spec& spec, const mac_key& key);

/// True for a dot-atom "local@domain" of printable ASCII atext with an LDH domain.
bool is_plain_address(std::string_view address) noexcept;

/// True for dot-separated labels of letters, digits and inner hyphens (1-63 each, 253 total).
bool is_ldh_domain(std::string_view domain) noexcept;

} // namespace protocols::message
