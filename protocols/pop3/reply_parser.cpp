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
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace protocols::pop3 {

namespace {

// First CR, LF or NUL in [p, end), or end. These are the only bytes that end a line or are
// refused, so one pass both finds the line end and validates the line. Never reads past end.
// Inlined: it runs once per body line, and a call would cost as much as the search.
[[gnu::always_inline]] inline const char* find_line_special(const char* p, const char* end) noexcept
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

#if defined(__SSE2__)
constexpr std::size_t chunk_bytes = 64;

// Bit i set when byte i of the 64-byte chunk is that character.
struct chunk_masks {
    std::uint64_t lf = 0;
    std::uint64_t cr = 0;
    std::uint64_t nul = 0;
    std::uint64_t dot = 0;
};

// Without -mpopcnt, __builtin_popcountll is a libgcc call; this stays inline either way.
[[gnu::always_inline]] inline std::size_t count_bits(std::uint64_t x) noexcept
{
#if defined(__POPCNT__)
    return static_cast<std::size_t>(__builtin_popcountll(x));
#else
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Fu;
    return static_cast<std::size_t>((x * 0x0101010101010101u) >> 56);
#endif
}

// One 16-byte quarter of a chunk, shifted into place.
[[gnu::always_inline]] inline void classify_quarter(chunk_masks& m, const char* p, int shift) noexcept
{
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto bits = [&](char c) {
        const int mask = _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
        return static_cast<std::uint64_t>(static_cast<unsigned>(mask)) << shift;
    };
    m.lf |= bits('\n');
    m.cr |= bits('\r');
    m.nul |= bits('\0');
    m.dot |= bits('.');
}

[[gnu::always_inline]] inline chunk_masks classify_chunk(const char* p) noexcept
{
    chunk_masks m;
    classify_quarter(m, p, 0);
    classify_quarter(m, p + 16, 16);
    classify_quarter(m, p + 32, 32);
    classify_quarter(m, p + 48, 48);
    return m;
}
#endif

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

    return read_body(input);
}

// One body line [m_line_start, content_end) has ended; `next` is the offset after its LF.
// Returns true when the reply is finished (done or failed, in `status`).
bool reply_parser::end_body_line(std::string_view input, std::size_t content_end, std::size_t next,
                                 parse_status& status) noexcept
{
    const std::size_t start = m_line_start;
    if (content_end == start + 1 && input[start] == '.') {
        publish(input);
        m_reply.has_body = true;
        m_reply.body = body_lines(input.substr(m_body_start, start - m_body_start), m_body_lines);
        restart();
        status = parse_status::done(next);
        return true;
    }
    if (++m_body_lines > m_limits.max_body_lines) {
        restart();
        status = parse_status::fail(parse_error::too_many_lines, start);
        return true;
    }
    if (next - m_body_start > m_limits.max_body_bytes) {
        restart();
        status = parse_status::fail(parse_error::body_too_big, start);
        return true;
    }
    m_line_start = next;
    return false;
}

// dot-stuffed lines until the line that is only "."
parse_status reply_parser::read_body(std::string_view input) noexcept
{
    const char* base = input.data();
    const std::size_t size = input.size();
    const std::size_t max_line = m_limits.max_line;
    const std::size_t max_lines = m_limits.max_body_lines;
    // The offset a line may end at without breaking max_body_bytes (saturating).
    const std::size_t bytes_end = m_limits.max_body_bytes > SIZE_MAX - m_body_start
        ? SIZE_MAX
        : m_body_start + m_limits.max_body_bytes;
    // Three tiers, fastest first. Only the last one decides anything unusual (the terminator,
    // a broken limit, a forbidden byte, the end of the input), and it decides exactly as
    // scan_line() does, so the outcome never depends on where the input was split.
    //  1. whole 64-byte chunks of short, plain CRLF lines, accepted up to their last LF;
    //  2. one plain CRLF line at a time, with the state in locals;
    //  3. scan_line() and end_body_line().
    std::size_t line_start = m_line_start;
    std::size_t from = std::max(m_scan, line_start);  // bytes before it are known to be plain
    std::size_t lines = m_body_lines;
    parse_status status;
    for (;;) {
#if defined(__SSE2__)
        // Tier 1 needs every line of a chunk to fit the line limit, which max_line >= 64 gives.
        while (max_line >= chunk_bytes && size - line_start >= chunk_bytes) {
            const chunk_masks m = classify_chunk(base + line_start);
            if (m.lf == 0) {
                break;  // a line longer than a chunk
            }
            const int last = 63 - __builtin_clzll(m.lf);
            const std::uint64_t region = last == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (last + 1)) - 1;
            const std::uint64_t starts = 1 | (m.lf << 1);
            // NUL, CR not followed by LF, LF not preceded by CR, a line that begins with "."
            const std::uint64_t odd = (m.nul | (m.cr & ~(m.lf >> 1)) | (m.lf & ~(m.cr << 1)) | (starts & m.dot)) & region;
            const std::size_t count = count_bits(m.lf);
            const std::size_t end = line_start + static_cast<std::size_t>(last) + 1;
            if (odd != 0 || max_lines - lines < count || end > bytes_end) {
                break;
            }
            lines += count;
            line_start = end;
        }
        from = std::max(from, line_start);
#endif
        const std::size_t stop = std::min(size, line_start + max_line);
        const std::size_t at = static_cast<std::size_t>(find_line_special(base + from, base + stop) - base);
        if (at + 1 < stop && base[at] == '\r' && base[at + 1] == '\n' && lines < max_lines && at + 2 <= bytes_end
            && !(at == line_start + 1 && base[line_start] == '.')) {
            ++lines;
            line_start = from = at + 2;
            continue;
        }
        m_line_start = line_start;
        m_body_lines = lines;
        const line_scan s = scan_line(input, from, line_start, max_line, m_lenient);
        if (s.result == scan_result::more) {
            m_scan = s.content_end;
            return parse_status::more();
        }
        if (s.result == scan_result::error) {
            restart();
            return parse_status::fail(s.error, s.at);
        }
        if (end_body_line(input, s.content_end, s.next, status)) {
            return status;
        }
        line_start = from = m_line_start;
        lines = m_body_lines;
    }
}

} // namespace protocols::pop3
