// HTTP/1.1 request head parser (RFC 9112), for the small read-only server of `mailprobe run
// --listen`. It parses the request line and the header fields; a request body is never read
// (the server answers and closes).
//
//   request-line   = method SP request-target SP HTTP-version CRLF
//   method         = token
//   request-target = origin-form (absolute-path [ "?" query ])
//   HTTP-version   = "HTTP/1." DIGIT
//   field-line     = field-name ":" OWS field-value OWS CRLF ; head ends with an empty line
//
// Strict: lines end in CRLF; NUL, bare CR or LF, obs-fold, whitespace before the colon and a
// control byte in a value are refused, and so is an HTTP/1.1 request without Host. Limits:
// the whole head, the request target, the field count.
//
// Resumable and zero-copy: feed parse() the whole unconsumed buffer each time more arrived;
// bytes already checked are not checked again. On complete, method() and target() are views
// into the last buffer given, valid until the caller consumes or reads more.
#pragma once

#include "protocols/common/parse_status.h"

#include <cstddef>
#include <string_view>

namespace protocols::http {

struct request_limits {
    std::size_t max_head_bytes = 8 * 1024;   // request line + fields, CRLFs included
    std::size_t max_target = 2048;           // request-target bytes
    std::size_t max_fields = 64;
};

class request_parser {
public:
    explicit request_parser(request_limits limits = {}) noexcept : m_limits(limits) {}

    /// need_more, complete(bytes of the head) or error. Errors are sticky until reset().
    parse_status parse(std::string_view buf) noexcept;
    void reset() noexcept;

    std::string_view method() const noexcept { return m_method; }
    /// The request target as sent ("/status.json?x=1").
    std::string_view target() const noexcept { return m_target; }
    /// The target without its query.
    std::string_view path() const noexcept;

private:
    parse_status parse_head(std::string_view head) noexcept;

    request_limits m_limits;
    std::size_t m_scanned = 0;   // bytes already checked for NUL and bare CR/LF
    parse_status m_error;
    std::string_view m_method;
    std::string_view m_target;
};

} // namespace protocols::http
