// POP3 reply parser: see reply_parser.h for the contract.
//
// Grammar (RFC 2449 section 9, which restates RFC 1939's reply format):
//
//   single-line  = status [SP text] CRLF       ; 512 octets maximum (we allow max_line)
//   status       = "+OK" / "-ERR"
//   text         = *schar / resp-code *CHAR
//   resp-code    = "[" resp-level *("/" resp-level) "]"
//   resp-level   = 1*rchar
//   schar        = %x21-5A / %x5C-7F           ; printable ASCII, excluding "["
//   rchar        = %x21-2E / %x30-5C / %x5E-7F ; printable ASCII, excluding "/" and "]"
//   multi-line   = single-line *dot-stuffed "." CRLF
//   dot-stuffed  = *CHAR CRLF                  ; must be dot-stuffed
//
// RFC 5034 section 4 (during AUTH only):
//
//   continue-req = "+" SP [base64] CRLF
//
// RFC 1939 section 3 on the body: "If any line begins with the termination octet, the line
// is 'byte-stuffed' by pre-pending the termination octet to that line". The client strips the
// first octet of a body line that begins with "."; a line that is only "." ends the body.
//
// Text is not held to schar: servers send UTF-8 and tabs in greetings and errors, and the text
// only ever reaches users through printable(). Text that begins with "[" but is no well-formed
// resp-code is kept as plain text, because servers that do not announce RESP-CODES may write
// anything there.
#include "protocols/pop3/reply_parser.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace protocols::pop3 {

namespace {

// First CR, LF or NUL in [p, end), or end. These are the only bytes that end a line or are
// refused, so one pass both finds the line end and validates the line. Never reads past end.
const char* find_line_special(const char* p, const char* end) noexcept
{
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n');
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i nul = _mm_setzero_si128();
    while (end - p >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)),
                                         _mm_cmpeq_epi8(v, nul));
        const int mask = _mm_movemask_epi8(hit);
        if (mask != 0) {
            return p + __builtin_ctz(static_cast<unsigned>(mask));
        }
        p += 16;
    }
#endif
    for (; p < end; ++p) {
        if (*p == '\n' || *p == '\r' || *p == '\0') {
            return p;
        }
    }
    return end;
}

enum class scan_result : std::uint8_t { line, more, error };

struct line_scan {
    scan_result result;
    std::size_t content_end;  // line: offset of the CR (or bare LF); more: where to resume
    std::size_t next;         // line: offset after the LF
    parse_error error;
    std::size_t at;
};

// Finds the end of the line that starts at `line_start`, resuming at `from`.
inline line_scan scan_line(std::string_view in, std::size_t from, std::size_t line_start,
                           std::size_t max_line, bool lenient) noexcept
{
    // The LF of an acceptable line sits before window_end.
    const std::size_t window_end = line_start + max_line;
    const std::size_t stop = std::min(in.size(), window_end);
    const char* base = in.data();
    const std::size_t at = static_cast<std::size_t>(find_line_special(base + from, base + stop) - base);
    if (at == stop) {
        if (stop == window_end) {
            return {scan_result::error, 0, 0, parse_error::line_too_long, line_start};
        }
        return {scan_result::more, stop, 0, parse_error::none, 0};
    }
    if (base[at] == '\0') {
        return {scan_result::error, 0, 0, parse_error::bad_character, at};
    }
    if (base[at] == '\n') {
        if (!lenient) {
            return {scan_result::error, 0, 0, parse_error::bad_character, at};
        }
        return {scan_result::line, at, at + 1, parse_error::none, 0};
    }
    if (at + 1 == window_end) {
        return {scan_result::error, 0, 0, parse_error::line_too_long, line_start};
    }
    if (at + 1 == in.size()) {
        // Keep the CR unscanned: the next call must see whether an LF follows it.
        return {scan_result::more, at, 0, parse_error::none, 0};
    }
    if (base[at + 1] != '\n') {
        return {scan_result::error, 0, 0, parse_error::bad_character, at};
    }
    return {scan_result::line, at, at + 2, parse_error::none, 0};
}

constexpr bool is_rchar(unsigned char c) noexcept
{
    return c >= 0x21 && c <= 0x7F && c != '/' && c != ']';
}

constexpr bool is_base64_char(unsigned char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
        || c == '/' || c == '=';
}

// ASCII case-insensitive comparison against a known upper-case name.
bool equals_upper(std::string_view a, std::string_view upper) noexcept
{
    if (a.size() != upper.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        const auto y = static_cast<unsigned char>(upper[i]);
        if (x >= 'a' && x <= 'z') {
            x = static_cast<unsigned char>(x - 'a' + 'A');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

// `code` names `known` or one of its sub-codes ("SYS/TEMP" for "SYS", "SYS/TEMP/DISK" for
// "SYS/TEMP"): RFC 2449 codes are hierarchical and a client may act on the levels it knows.
bool names(std::string_view code, std::string_view known) noexcept
{
    if (code.size() > known.size() && code[known.size()] == '/') {
        code = code.substr(0, known.size());
    }
    return equals_upper(code, known);
}

response_code classify(std::string_view code) noexcept
{
    if (names(code, "IN-USE")) {
        return response_code::in_use;
    }
    if (names(code, "LOGIN-DELAY")) {
        return response_code::login_delay;
    }
    if (names(code, "SYS/TEMP")) {
        return response_code::sys_temp;
    }
    if (names(code, "SYS/PERM")) {
        return response_code::sys_perm;
    }
    if (names(code, "AUTH")) {
        return response_code::auth;
    }
    return response_code::other;
}

// resp-code = "[" resp-level *("/" resp-level) "]": the length of the code inside the
// brackets, or 0 when `text` does not begin with one.
std::size_t resp_code_length(std::string_view text) noexcept
{
    if (text.empty() || text[0] != '[') {
        return 0;
    }
    std::size_t level = 0;  // length of the resp-level being read
    for (std::size_t i = 1; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == ']' || c == '/') {
            if (level == 0) {
                return 0;
            }
            if (c == ']') {
                return i - 1;
            }
            level = 0;
        } else if (is_rchar(c)) {
            ++level;
        } else {
            return 0;
        }
    }
    return 0;
}

} // namespace

void body_lines::iterator::load() noexcept
{
    if (m_pos == m_end) {
        return;
    }
    const auto* lf = static_cast<const char*>(std::memchr(m_pos, '\n', static_cast<std::size_t>(m_end - m_pos)));
    // The parser only hands out runs of complete lines; a caller-made body_lines whose last
    // line lacks its LF still ends at m_end rather than past it.
    const char* stop = lf != nullptr ? lf : m_end;
    m_next = lf != nullptr ? lf + 1 : m_end;
    if (stop != m_pos && stop[-1] == '\r') {
        --stop;
    }
    const char* begin = m_pos;
    if (begin != stop && *begin == '.') {
        ++begin;  // the stuffing dot
    }
    m_line = std::string_view(begin, static_cast<std::size_t>(stop - begin));
}

reply_parser::reply_parser(reply_limits limits, bool lenient_bare_lf) noexcept
    : m_limits(limits), m_lenient(lenient_bare_lf)
{
}

void reply_parser::expect(reply_kind kind) noexcept
{
    m_kind = kind;
    restart();
}

void reply_parser::restart() noexcept
{
    m_state = state::status_line;
    m_scan = 0;
    m_line_start = 0;
    m_body_start = 0;
    m_body_lines = 0;
    m_status = status_indicator::ok;
    m_code = response_code::none;
    m_text_at = m_text_len = m_code_at = m_code_len = 0;
}

bool reply_parser::read_status_line(std::string_view line) noexcept
{
    std::size_t text_at = 0;
    if (line.starts_with("+OK")) {
        m_status = status_indicator::ok;
        text_at = 3;
    } else if (line.starts_with("-ERR")) {
        m_status = status_indicator::err;
        text_at = 4;
    } else if (m_kind == reply_kind::sasl && line.starts_with('+')) {
        // RFC 5034 requires "+ "; a bare "+" (seen from some servers for an empty
        // challenge) is accepted as the same empty challenge since it cannot mean anything else.
        m_status = status_indicator::continuation;
        text_at = 1;
    } else {
        return false;
    }
    if (line.size() > text_at) {
        if (line[text_at] != ' ') {
            return false;  // "+OKAY" is not "+OK"
        }
        ++text_at;
    }
    m_text_at = text_at;
    m_text_len = line.size() - text_at;
    const std::string_view text = line.substr(text_at);
    if (m_status == status_indicator::continuation) {
        return std::all_of(text.begin(), text.end(),
                           [](char c) { return is_base64_char(static_cast<unsigned char>(c)); });
    }
    m_code_len = resp_code_length(text);
    if (m_code_len != 0) {
        m_code_at = text_at + 1;
        m_code = classify(text.substr(1, m_code_len));
    }
    return true;
}

void reply_parser::publish(std::string_view input) noexcept
{
    m_reply.status = m_status;
    m_reply.text = input.substr(m_text_at, m_text_len);
    m_reply.code = m_code;
    m_reply.code_text = m_code_len != 0 ? input.substr(m_code_at, m_code_len) : std::string_view();
}

parse_status reply_parser::parse(std::string_view input) noexcept
{
    m_reply = reply{};
    if (m_state == state::status_line) {
        const line_scan s = scan_line(input, m_scan, 0, m_limits.max_line, m_lenient);
        if (s.result == scan_result::more) {
            m_scan = s.content_end;
            return parse_status::more();
        }
        if (s.result == scan_result::error) {
            restart();
            return parse_status::fail(s.error, s.at);
        }
        if (!read_status_line(input.substr(0, s.content_end))) {
            restart();
            return parse_status::fail(parse_error::bad_syntax, 0);
        }
        // RFC 1939 section 3: a negative reply to a multi-line command is a single line.
        if (m_kind != reply_kind::multi_line || m_status != status_indicator::ok) {
            publish(input);
            restart();
            return parse_status::done(s.next);
        }
        m_state = state::body;
        m_body_start = m_line_start = m_scan = s.next;
    }

    // dot-stuffed lines until the line that is only "."
    for (;;) {
        const line_scan s = scan_line(input, m_scan, m_line_start, m_limits.max_line, m_lenient);
        if (s.result == scan_result::more) {
            m_scan = s.content_end;
            return parse_status::more();
        }
        if (s.result == scan_result::error) {
            restart();
            return parse_status::fail(s.error, s.at);
        }
        if (s.content_end == m_line_start + 1 && input[m_line_start] == '.') {
            publish(input);
            m_reply.has_body = true;
            m_reply.body = body_lines(input.substr(m_body_start, m_line_start - m_body_start), m_body_lines);
            restart();
            return parse_status::done(s.next);
        }
        if (++m_body_lines > m_limits.max_body_lines) {
            const std::size_t at = m_line_start;
            restart();
            return parse_status::fail(parse_error::too_many_lines, at);
        }
        if (s.next - m_body_start > m_limits.max_body_bytes) {
            const std::size_t at = m_line_start;
            restart();
            return parse_status::fail(parse_error::body_too_big, at);
        }
        m_line_start = m_scan = s.next;
    }
}

} // namespace protocols::pop3
