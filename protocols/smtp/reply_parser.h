// SMTP reply parser (RFC 5321 section 4.2): one single- or multi-line reply at a time, with
// its enhanced status code (RFC 2034, RFC 3463) when the server sends one.
//
// Strict by default: every line carries the same three-digit code, separated from the text by
// '-' (more lines follow) or ' ' (last line), or stands alone as the last line; lines end in
// CRLF. It refuses NUL and bare CR anywhere, codes outside %x32-35 %x30-35 %x30-39, lines
// longer than max_line and replies longer than max_lines. Bare LF line ends are accepted only
// with the named lenient flag. Text bytes are otherwise passed through untouched (servers send
// UTF-8 and the odd control byte); show them only through printable_text() or
// protocols::printable().
#pragma once

#include "protocols/common/parse_status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::smtp {

struct reply_limits {
    std::size_t max_line = 2048;  // bytes per line, code and CRLF included (RFC 5321 asks 512);
                                  // raised to 5 if lower, the shortest possible line
    std::size_t max_lines = 256;  // lines per reply
};

struct reply_options {
    /// Accept "250 ok\n" (no CR) as a line end. Off by default: RFC 5321 section 2.3.8 says
    /// a bare LF is not a line end, and accepting it invites request smuggling.
    bool lenient_bare_lf = false;
};

/// "class.subject.detail" at the start of the first line's text (RFC 3463 section 2).
struct enhanced_status {
    int klass = 0;    // 2, 4 or 5; always the reply code's first digit
    int subject = 0;  // 0-999
    int detail = 0;   // 0-999
    friend bool operator==(const enhanced_status&, const enhanced_status&) = default;
};

/// Parses replies from the front of a connection's read buffer. Usage, once per reply:
///
///     parse_status st = parser.parse(buffer.unconsumed());
///     if (st.need_more()) read more and call again with the grown buffer;
///     if (st.complete()) inspect code(), line(i), ... then consume st.consumed bytes;
///
/// After complete, the next parse() call starts a new reply, so consume first. An error is
/// sticky: parse() keeps returning it until reset(). Between calls the parser keeps only
/// integer offsets into the (possibly moved) buffer, so the buffer may be reallocated between
/// need_more calls as long as its content is only appended to.
///
/// Steady state allocates nothing: line offsets live in a vector whose capacity is reused.
/// Not thread-safe; one parser per connection.
class reply_parser {
public:
    explicit reply_parser(reply_limits limits = {}, reply_options options = {});

    /// Parses the reply at the front of `buffer`, the whole unconsumed tail of the read buffer.
    parse_status parse(std::string_view buffer) noexcept;

    /// Forgets any partial reply and a sticky error.
    void reset() noexcept;

    // The accessors below are valid only after parse() returned complete. Views point into the
    // buffer given to that parse() call and stay valid until the caller consumes or changes it.

    /// The three-digit reply code, e.g. 250.
    int code() const noexcept { return m_code; }
    bool positive() const noexcept { return m_code / 100 == 2; }      // 2yz
    bool intermediate() const noexcept { return m_code / 100 == 3; }  // 3yz: send more
    bool transient() const noexcept { return m_code / 100 == 4; }     // 4yz: retry later
    bool permanent() const noexcept { return m_code / 100 == 5; }     // 5yz: do not retry

    /// The enhanced status code of the first line, if it has one whose class equals the reply
    /// code's first digit (a mismatching one is treated as plain text, as Postfix does).
    std::optional<enhanced_status> enhanced() const noexcept { return m_enhanced; }

    std::size_t line_count() const noexcept { return m_lines.size(); }

    /// Line `i`'s text without code, separator and line end; may be empty. View into the buffer.
    std::string_view line(std::size_t i) const noexcept;

    /// The reply as one safe line for error reports: "535 5.7.139 Authentication unsuccessful
    /// ...", the code and every line's text joined by single spaces, passed through
    /// protocols::printable() and cut to `max_bytes`. A copy; it outlives the buffer.
    std::string printable_text(std::size_t max_bytes = 512) const;

private:
    struct line_span {
        std::size_t offset;
        std::size_t length;
    };

    parse_status fail(parse_error e, std::size_t at) noexcept;
    std::size_t check_head(const char* line, std::size_t available) const noexcept;
    void find_enhanced_status() noexcept;

    reply_limits m_limits;
    reply_options m_options;
    std::vector<line_span> m_lines;
    std::size_t m_line_start = 0;  // offset of the line being parsed
    std::size_t m_scan = 0;        // where the search for its LF resumes
    int m_code = 0;
    std::array<char, 3> m_digits{};  // the first line's code, which every later line repeats
    std::optional<enhanced_status> m_enhanced;
    std::string_view m_buffer;     // set only on complete: what line() views into
    bool m_complete = false;
    parse_status m_error;          // sticky failure, when failed()
};

} // namespace protocols::smtp
