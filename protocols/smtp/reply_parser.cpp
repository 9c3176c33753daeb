// RFC 5321 section 4.2, the grammar this parser implements:
//
//   Reply-line  = *( Reply-code "-" [ textstring ] CRLF )
//                 Reply-code [ SP textstring ] CRLF
//   Reply-code  = %x32-35 %x30-35 %x30-39
//   textstring  = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII
//
// and RFC 3463 section 2 for the enhanced status code at the start of the text:
//
//   status-code = class "." subject "." detail
//   class       = "2" / "4" / "5"
//   subject     = 1*3digit
//   detail      = 1*3digit
//
// Deviations, all deliberate: "250 " with an empty text is accepted (common, harmless);
// textstring bytes other than NUL and CR are not checked (SMTPUTF8 servers send UTF-8, RFC
// 6531 section 3.7.4.1); we never interpret them and printable() neutralises them for display.
//
// Every check is decided by a prefix of the line, in byte order, so the same input gives the
// same verdict however it is split across reads: the line count at the line's first byte, the
// code and separator in its first four bytes, the length at max_line, the rest at its LF.
#include "protocols/smtp/reply_parser.h"

#include "protocols/common/sanitize.h"

#include <algorithm>
#include <cstring>

namespace protocols::smtp {
namespace {

constexpr std::size_t npos = static_cast<std::size_t>(-1);
constexpr std::size_t min_line = 5;  // "250\r\n", the shortest reply line

bool in_range(char c, char lo, char hi) noexcept
{
    return c >= lo && c <= hi;
}

// Parses 1*3digit at s[i...]; returns the number of digits read (0 if none or more than 3).
std::size_t parse_number(std::string_view s, std::size_t i, int& value) noexcept
{
    std::size_t n = 0;
    value = 0;
    while (i + n < s.size() && in_range(s[i + n], '0', '9')) {
        if (n == 3) {
            return 0;
        }
        value = value * 10 + (s[i + n] - '0');
        ++n;
    }
    return n;
}

} // namespace

reply_parser::reply_parser(reply_limits limits, reply_options options)
    : m_limits(limits), m_options(options)
{
    m_limits.max_line = std::max<std::size_t>(m_limits.max_line, min_line);
    m_lines.reserve(std::min<std::size_t>(m_limits.max_lines, 16));
}

void reply_parser::reset() noexcept
{
    m_lines.clear();
    m_line_start = 0;
    m_scan = 0;
    m_code = 0;
    m_enhanced.reset();
    m_buffer = {};
    m_complete = false;
    m_error = parse_status::more();
}

parse_status reply_parser::fail(parse_error e, std::size_t at) noexcept
{
    m_error = parse_status::fail(e, at);
    return m_error;
}

// Offset (within `line`) of the first byte of the first `available` (at most 4) bytes that no
// Reply-code or separator allows, or npos. Continuation lines must repeat the first line's code.
std::size_t reply_parser::check_head(const char* line, std::size_t available) const noexcept
{
    static constexpr char lo[3] = {'2', '0', '0'};
    static constexpr char hi[3] = {'5', '5', '9'};
    std::size_t n = std::min<std::size_t>(available, 4);
    for (std::size_t i = 0; i < n && i < 3; ++i) {
        bool ok = m_lines.empty() ? in_range(line[i], lo[i], hi[i]) : line[i] == m_digits[i];
        if (!ok) {
            return i;
        }
    }
    // The fourth byte is the separator, or the CR of a bare "250\r\n" last line.
    if (n == 4 && line[3] != ' ' && line[3] != '-' && line[3] != '\r') {
        return 3;
    }
    return npos;
}

parse_status reply_parser::parse(std::string_view buffer) noexcept
{
    if (m_error.failed()) {
        return m_error;
    }
    if (m_complete || m_scan > buffer.size()) {
        // A new reply (the caller consumed the last one), or a buffer that shrank, which the
        // contract forbids: start over rather than read past its end.
        reset();
    }
    const char* p = buffer.data();
    const std::size_t n = buffer.size();
    for (;;) {
        const std::size_t ls = m_line_start;
        if (ls == n) {
            return parse_status::more();
        }
        if (m_lines.size() == m_limits.max_lines) {
            return fail(parse_error::too_many_lines, ls);
        }
        const std::size_t window_end = std::min(n, ls + m_limits.max_line);
        const void* lf = m_scan < window_end ? std::memchr(p + m_scan, '\n', window_end - m_scan) : nullptr;
        if (lf == nullptr) {
            if (std::size_t bad = check_head(p + ls, n - ls); bad != npos) {
                return fail(parse_error::bad_syntax, ls + bad);
            }
            if (n - ls >= m_limits.max_line) {
                // max_line bytes and none of them the LF: the last of them is one too many.
                return fail(parse_error::line_too_long, ls + m_limits.max_line - 1);
            }
            m_scan = window_end;
            return parse_status::more();
        }
        const std::size_t eol = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
        if (std::size_t bad = check_head(p + ls, eol - ls); bad != npos) {
            return fail(parse_error::bad_syntax, ls + bad);
        }
        std::size_t end = eol;
        if (end > ls && p[end - 1] == '\r') {
            --end;
        } else if (!m_options.lenient_bare_lf) {
            return fail(parse_error::bad_character, eol);
        }
        const std::size_t len = end - ls;
        if (const void* nul = std::memchr(p + ls, '\0', len); nul != nullptr) {
            return fail(parse_error::bad_character, static_cast<std::size_t>(static_cast<const char*>(nul) - p));
        }
        if (const void* cr = std::memchr(p + ls, '\r', len); cr != nullptr) {
            return fail(parse_error::bad_character, static_cast<std::size_t>(static_cast<const char*>(cr) - p));
        }
        if (len < 3) {
            return fail(parse_error::bad_syntax, end);
        }
        if (m_lines.empty()) {
            std::memcpy(m_digits.data(), p + ls, m_digits.size());
            m_code = (p[ls] - '0') * 100 + (p[ls + 1] - '0') * 10 + (p[ls + 2] - '0');
        }
        // check_head accepted the separator byte; a bare code line ("250") is a last line.
        const bool last = len == 3 || p[ls + 3] == ' ';
        const std::size_t text = std::min(ls + 4, end);
        m_lines.push_back({text, end - text});
        m_line_start = eol + 1;
        m_scan = eol + 1;
        if (last) {
            m_complete = true;
            m_buffer = buffer;
            find_enhanced_status();
            return parse_status::done(eol + 1);
        }
    }
}

void reply_parser::find_enhanced_status() noexcept
{
    m_enhanced.reset();
    std::string_view t = line(0);
    const int klass = m_code / 100;
    if (t.size() < 5 || t[0] != static_cast<char>('0' + klass) || (klass != 2 && klass != 4 && klass != 5)
        || t[1] != '.') {
        return;
    }
    enhanced_status s{klass, 0, 0};
    std::size_t i = 2;
    std::size_t n = parse_number(t, i, s.subject);
    if (n == 0 || i + n >= t.size() || t[i + n] != '.') {
        return;
    }
    i += n + 1;
    n = parse_number(t, i, s.detail);
    if (n == 0 || (i + n < t.size() && t[i + n] != ' ')) {
        return;
    }
    m_enhanced = s;
}

std::string_view reply_parser::line(std::size_t i) const noexcept
{
    if (!m_complete || i >= m_lines.size()) {
        return {};
    }
    return m_buffer.substr(m_lines[i].offset, m_lines[i].length);
}

std::string reply_parser::printable_text(std::size_t max_bytes) const
{
    std::string joined = std::to_string(m_code);
    for (std::size_t i = 0; i < m_lines.size(); ++i) {
        std::string_view t = line(i);
        if (!t.empty()) {
            joined += ' ';
            joined += t;
        }
    }
    return printable(joined, max_bytes);
}

} // namespace protocols::smtp
