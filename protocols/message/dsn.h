// Bounces: recognising delivery status notifications (RFC 3464) and tying them to the probe
// they return, and deciding whether a fetched message is our probe arriving at all.
// A bounce is never the probe itself: classify_arrival() answers "bounce" for any message
// whose headers look automatic (null Return-Path, a delivery-status report, a known bounce
// subject), even if a valid X-Mailprobe field sits at its top level.
// dsn_reader reads a whole message (bounded by max_message_bytes): the top-level parts of a
// multipart/report; report-type=delivery-status, the per-recipient fields of its
// message/delivery-status part and our field in the returned message/rfc822 or
// text/rfc822-headers part. Minimal support for non-RFC bounces: a known bounce subject and
// an "X-Mailprobe:" line anywhere in the body. It refuses to decode transfer encodings
// (base64 or quoted-printable returned headers are not searched) and does not descend into
// nested multiparts, which real bounces do not use for the parts read here.
//
//   multipart-body := [preamble CRLF] dash-boundary transport-padding CRLF body-part
//                     *encapsulation close-delimiter transport-padding [CRLF epilogue]
//   delimiter      := CRLF dash-boundary         ; dash-boundary := "--" boundary (RFC 2046)
//   delivery-status-content := per-message-fields 1*( CRLF per-recipient-fields )  ; RFC 3464
//   final-recipient-field := "Final-Recipient" ":" address-type ";" generic-address
//   action-field := "Action" ":" action-value     ; failed / delayed / delivered / relayed / expanded
//   status-field := "Status" ":" status-code      ; e.g. 5.1.1
//   diagnostic-code-field := "Diagnostic-Code" ":" diagnostic-type ";" *text
//   remote-mta-field := "Remote-MTA" ":" mta-name-type ";" mta-name
#pragma once

#include "protocols/common/parse_status.h"
#include "protocols/message/header_reader.h"
#include "protocols/message/probe_header.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace protocols::message {

/// True if the headers say the message is a bounce or another automatic reply: a null
/// Return-Path ("<>"), a multipart/report Content-Type with a delivery-status report type, or
/// a subject that known MTAs give their bounces.
bool looks_like_bounce(const message_headers& h) noexcept;

enum class arrival : std::uint8_t {
    probe,      // our probe arrived: not a bounce, and our field verified
    bounce,     // a bounce or automatic reply: read it with dsn_reader to tie it to a probe
    not_ours,   // no X-Mailprobe field
    forged,     // the field's MAC does not verify
    malformed,  // the field cannot be read, or appears twice (header.problem says which)
};

struct arrival_check {
    arrival kind = arrival::not_ours;
    header_check header;  // header.stamp is meaningful when kind is probe
};

/// What a fetched message's header block says. Views in the result point into `h`'s block.
arrival_check classify_arrival(const message_headers& h, const mac_key& key) noexcept;

struct dsn_limits {
    std::size_t max_message_bytes = 1024 * 1024;
    std::size_t max_parts = 16;
    std::size_t max_recipients = 64;
    header_limits headers;
};

/// One per-recipient block. The address-type, diagnostic-type or mta-name-type prefix (the
/// "rfc822;", "smtp;", "dns;") is dropped; values may still contain folding: use unfold().
struct dsn_recipient {
    std::string_view final_recipient;
    std::string_view original_recipient;
    std::string_view action;
    std::string_view status;
    std::string_view diagnostic_code;
    std::string_view remote_mta;
};

enum class bounce_kind : std::uint8_t {
    none,             // not a bounce this reader recognises
    delivery_status,  // an RFC 3464 multipart/report
    heuristic,        // a known bounce subject without an RFC 3464 structure
};

struct bounce_report {
    bounce_kind kind = bounce_kind::none;
    std::string_view reporting_mta;
    std::vector<dsn_recipient> recipients;
    /// The X-Mailprobe value found in the returned message (never the bounce's own top-level
    /// header); verify it with verify_probe_header before trusting the id in it.
    std::optional<std::string_view> probe_header;
};

/// Reusable: vectors keep their capacity between messages. Not thread-safe.
class dsn_reader {
public:
    explicit dsn_reader(dsn_limits limits = {}) : m_limits(limits), m_top(limits.headers), m_part(limits.headers) {}

    /// Reads a whole message: done(message.size()) with report() filled (kind none when it is
    /// not a bounce), or fail naming the broken limit or the syntax error.
    parse_status read(std::string_view message);

    /// Views point into the message given to read() and live as long as it.
    const bounce_report& report() const noexcept { return m_report; }

    /// The bounce's own top-level headers (Subject, Date, ... for display).
    const message_headers& headers() const noexcept { return m_top.headers(); }

private:
    parse_status read_report(std::string_view body, std::string_view boundary);
    parse_status read_part(std::string_view part);
    parse_status read_delivery_status(std::string_view content);
    void find_probe_header_in_text(std::string_view body);

    dsn_limits m_limits;
    header_reader m_top;
    header_reader m_part;
    bounce_report m_report;
};

} // namespace protocols::message
