// HTTP/1.1 response parser (RFC 9112), for the few requests mailprobe makes itself (OAuth2
// token endpoints). One response at a time: status line, header fields, then a body framed by
// Content-Length, by chunked transfer coding, by nothing (1xx, 204, 304, a reply to HEAD) or,
// as a last resort, by the server closing the connection (finish_on_close()).
//
//   status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF
//   HTTP-version = "HTTP/" DIGIT "." DIGIT
//   field-line  = field-name ":" OWS field-value OWS CRLF
//   chunk       = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk  = 1*("0") [ chunk-ext ] CRLF ; then trailer-section CRLF
//
// Strict: lines end in CRLF; obs-fold, whitespace before the colon, NUL and bare CR/LF inside a
// line are refused. Request-smuggling shapes are refused too: Content-Length together with
// Transfer-Encoding, differing Content-Length values, a transfer coding other than a final
// "chunked". Limits: header section bytes, field count, body bytes, chunk count.
//
// Zero-copy and resumable: feed parse() the whole unconsumed buffer each time more arrived
// (its start must not move between calls unless its bytes stay the same; only offsets are
// kept). On complete, the accessors return views into the last buffer given, valid until the
// caller consumes. The body is a list of views (one piece, or one per chunk); body_text()
// copies it out.
#pragma once

#include "protocols/common/parse_status.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace protocols::http {

struct response_limits {
    std::size_t max_header_bytes = 16 * 1024;   // status line + fields (+ trailers), CRLFs included
    std::size_t max_fields = 64;                // header fields plus trailer fields
    std::size_t max_body_bytes = 1024 * 1024;   // decoded body
    std::size_t max_chunks = 1024;              // chunked: data chunks
};

struct field {
    std::string_view name;    // as sent; compare with iequals()
    std::string_view value;   // without surrounding whitespace
};

/// ASCII case-insensitive equality (field names, codings).
bool iequals(std::string_view a, std::string_view b) noexcept;

class response_parser {
public:
    explicit response_parser(response_limits limits = {});

    /// For a response to HEAD (no body whatever the fields say). Set before parsing.
    void expect_no_body() noexcept { m_no_body = true; }

    /// Parses `buffer` (the whole unconsumed input) from where the previous call stopped.
    parse_status parse(std::string_view buffer);

    /// The connection closed: completes a response whose body runs until close. Any other
    /// unfinished response is an error (bad_syntax at the end of `buffer`).
    parse_status finish_on_close(std::string_view buffer);

    /// Forgets the response, for the next one on the same connection.
    void reset() noexcept;

    // Valid after complete, until the caller consumes.
    int status() const noexcept { return m_status; }
    int minor_version() const noexcept { return m_minor; }
    std::string_view reason() const noexcept { return view(m_reason); }
    std::size_t field_count() const noexcept { return m_fields.size(); }
    field field_at(std::size_t i) const noexcept;
    /// The first field called `name` (case-insensitive), if any.
    std::optional<std::string_view> find(std::string_view name) const noexcept;
    std::size_t chunk_count() const noexcept { return m_chunks.size(); }
    std::string_view chunk_at(std::size_t i) const noexcept { return view(m_chunks[i]); }
    /// The decoded body, copied (chunks joined).
    std::string body_text() const;
    std::size_t body_size() const noexcept { return m_body_size; }

private:
    struct span {
        std::size_t off = 0;
        std::size_t len = 0;
    };
    enum class phase : std::uint8_t {
        status_line, fields, body_length, body_close, chunk_size, chunk_data, chunk_end, trailers, done
    };

    std::string_view view(span s) const noexcept { return std::string_view(m_base + s.off, s.len); }
    /// The next CRLF-ended line from m_pos: its end offset (before CRLF), or need_more/error.
    parse_status next_line(std::string_view buf, std::size_t max, std::size_t& end);
    parse_status status_line(std::string_view line, std::size_t at);
    parse_status field_line(std::string_view buf, std::size_t start, std::size_t end, bool trailer);
    parse_status start_body(std::size_t at);
    parse_status add_chunk(std::size_t off, std::size_t len, std::size_t at);
    /// The next m_remaining bytes as one body piece, then phase `next`; need_more until buffered.
    parse_status take_piece(std::string_view buf, phase next);

    response_limits m_limits;
    bool m_no_body = false;
    const char* m_base = nullptr;
    phase m_phase = phase::status_line;
    std::size_t m_pos = 0;            // next unparsed byte
    std::size_t m_header_bytes = 0;   // counted against max_header_bytes
    std::size_t m_field_count = 0;    // fields and trailers, against max_fields
    int m_status = 0;
    int m_minor = 0;
    span m_reason;
    std::vector<std::pair<span, span>> m_fields;   // name, value
    std::optional<std::uint64_t> m_content_length;
    bool m_chunked = false;
    std::uint64_t m_remaining = 0;    // body_length / chunk_data: bytes still expected
    std::size_t m_body_size = 0;
    std::vector<span> m_chunks;       // the body's pieces (one for a Content-Length body)
};

} // namespace protocols::http
