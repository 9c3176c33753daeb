// Reads the header block of a fetched message (IMAP BODY.PEEK[HEADER], POP3 TOP n 0): fields
// unfolded lazily, our X-Mailprobe field, the Received chain as hops with delays, the
// Authentication-Results verdicts, and Subject/Message-ID/Date/From for display.
// It refuses (as parse errors) blocks over max_header_bytes or max_fields, bare CR or LF, NUL,
// continuation lines with no field and lines without a colon. Inside individual fields it is
// tolerant: a Received or Authentication-Results field it cannot fully read keeps what it
// could and is marked, because one odd relay must not hide the rest of the evidence.
//
//   fields      = *(... / optional-field)            ; RFC 5322 3.6
//   field       = field-name ":" unstructured CRLF
//   field-name  = 1*ftext                           ; ftext = %d33-57 / %d59-126
//   obs-optional= field-name *WSP ":" unstructured CRLF
//   FWS         = ([*WSP CRLF] 1*WSP)               ; folding: CRLF before WSP
//   received    = "Received:" [1*received-token / CFWS] ";" date-time CRLF
//   Stamp       = From-domain By-domain Opt-info [CFWS] ";" FWS date-time   ; RFC 5321 4.4
//   authres-header = "Authentication-Results:" [CFWS] authserv-id [ CFWS authres-version ]
//                    ( no-result / 1*resinfo ) [CFWS] CRLF                    ; RFC 8601 2.2
//   resinfo     = [CFWS] ";" methodspec [ CFWS reasonspec ] [ CFWS 1*propspec ]
//   methodspec  = [CFWS] method [CFWS] "=" [CFWS] result
//   reasonspec  = "reason" [CFWS] "=" [CFWS] value
//   propspec    = ptype [CFWS] "." [CFWS] property [CFWS] "=" pvalue
// Leniency for real senders: Exchange Online omits authserv-id and writes "action=none"
// (a property without a ptype); both are read, not rejected.
#pragma once

#include "protocols/common/parse_status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::message {

struct header_limits {
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_fields = 512;
};

/// One field. `name` and `value` view into the block; `value` has its leading and trailing
/// whitespace removed but keeps any folding (CRLF + WSP) inside it.
struct header_field {
    std::string_view name;
    std::string_view value;
    std::size_t offset = 0;  // of the field name in the block
};

/// Walks the fields of a header block without allocating. The block ends at the first empty
/// line or at the end of the view, whichever comes first.
class field_iterator {
public:
    field_iterator(std::string_view block, std::size_t max_fields) noexcept
        : m_block(block), m_max_fields(max_fields) {}

    /// The next field; nullopt at the end of the block or on an error (see status()).
    std::optional<header_field> next() noexcept;

    /// After next() returned nullopt: done(offset just past the empty line, or the block
    /// size if there was none) or fail(code, offset).
    parse_status status() const noexcept { return m_status; }

private:
    std::string_view m_block;
    std::size_t m_max_fields;
    std::size_t m_pos = 0;
    std::size_t m_count = 0;
    parse_status m_status;
};

/// "a\r\n b" -> "a b": the value as RFC 5322 3.2.2 says to read it. Allocates; for display.
std::string unfold(std::string_view value);

/// One Received field. Views into the block.
struct received_hop {
    std::string_view from;       // host after "from"; empty when the relay wrote none
    std::string_view from_info;  // the comment after it, e.g. "mail.example.org [192.0.2.10]"
    std::string_view by;         // host after "by"
    std::string_view with;       // protocol after "with", e.g. "ESMTPS"
    std::string_view date_text;  // text after the last ";" (trimmed), empty if none
    std::optional<std::int64_t> unix_ms;   // date_text parsed, if it is a valid date-time
    std::optional<std::int64_t> delay_ms;  // since the previous hop (first hop: since Date)
    bool clock_skew = false;     // delay_ms < 0: this relay's clock is behind the previous one
};

/// Reads one Received field body (hop fields only; delay_ms and clock_skew stay unset).
received_hop parse_received(std::string_view value) noexcept;

struct auth_property {
    std::string_view ptype;     // "header", "smtp", "policy"; empty for a bare key (Exchange)
    std::string_view property;  // "d", "i", "from", "mailfrom"
    std::string_view value;     // quoted values without their quotes (quoted-pairs left as is)
};

struct auth_method {
    static constexpr std::size_t max_properties = 6;

    std::string_view method;  // "spf", "dkim", "dmarc", "arc", "compauth", ...
    std::string_view result;  // "pass", "fail", "softfail", "none", ...
    std::string_view reason;
    std::array<auth_property, max_properties> properties{};
    std::size_t property_count = 0;
    bool properties_dropped = false;  // more than max_properties were given

    /// The value of ptype.property (e.g. "header", "d"), or an empty view.
    std::string_view property(std::string_view ptype, std::string_view name) const noexcept;
};

/// One Authentication-Results field; its methods are message_headers::methods(*this).
struct auth_results {
    std::string_view authserv_id;  // empty when the field has none (Exchange Online)
    std::size_t first_method = 0;
    std::size_t method_count = 0;
    bool none = false;       // "; none": the server checked nothing
    bool malformed = false;  // something was not understood; what could be read is kept
};

/// What the reader found. Every view points into the block given to parse() or read() and is
/// valid until that buffer changes (for parse(): until the caller consumes).
struct message_headers {
    std::size_t field_count = 0;
    std::optional<std::string_view> probe_header;  // the first X-Mailprobe field's value
    std::size_t probe_header_count = 0;
    std::string_view subject;
    std::string_view message_id;
    std::string_view date;
    std::optional<std::int64_t> date_unix_ms;
    std::string_view from;
    std::string_view to;
    std::string_view return_path;
    std::string_view content_type;
    std::string_view auto_submitted;
    std::vector<received_hop> hops;  // oldest first: the reverse of header order
    std::vector<auth_results> auth;
    std::vector<auth_method> auth_methods;

    std::span<const auth_method> methods(const auth_results& r) const noexcept
    {
        return std::span<const auth_method>(auth_methods).subspan(r.first_method, r.method_count);
    }

    /// The first method named `name` over all Authentication-Results fields, or nullptr.
    const auth_method* find_method(std::string_view name) const noexcept;
};

/// A header reader is reused across messages: its vectors keep their capacity, so steady
/// state does not allocate. Not thread-safe.
class header_reader {
public:
    explicit header_reader(header_limits limits = {}) : m_limits(limits) {}

    /// Parser contract (parse_status.h): `unconsumed` is the buffer tail starting at a header
    /// block; need_more until the empty line that ends it has arrived, then
    /// done(bytes up to and including that empty line).
    parse_status parse(std::string_view unconsumed);

    /// Reads a complete block (e.g. a text/rfc822-headers part): ends at the first empty line
    /// or at the end of `block`. done(consumed) or fail.
    parse_status read(std::string_view block);

    /// The last complete parse()/read(); views valid as described on message_headers.
    const message_headers& headers() const noexcept { return m_headers; }

private:
    parse_status read_fields(std::string_view block);

    header_limits m_limits;
    message_headers m_headers;
    std::size_t m_scanned = 0;  // parse(): bytes already searched for the empty line
};

} // namespace protocols::message
