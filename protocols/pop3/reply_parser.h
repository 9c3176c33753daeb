// POP3 reply parser (RFC 1939, RFC 2449 extended response codes, RFC 5034 SASL continuations).
//
// Turns the bytes a POP3 server sends into one reply at a time: the status (+OK, -ERR or a
// "+ " SASL continuation), its text, an RFC 2449/3206 response code, and for multi-line replies
// the dot-terminated body, exposed as a zero-copy sequence of dot-unstuffed lines. POP3 replies
// do not say whether a body follows, so the caller tells the parser before each command which
// kind of reply it expects. The parser refuses NUL anywhere, bare CR, bare LF (unless the
// lenient flag is set), status lines that are neither +OK nor -ERR (nor "+ " during AUTH), and
// anything beyond the limits it was built with.
#pragma once

#include "protocols/common/parse_status.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace protocols::pop3 {

/// What the command just sent can be answered with. Set with reply_parser::expect().
enum class reply_kind : std::uint8_t {
    single_line,  // greeting, USER, PASS, APOP, STAT, LIST n, UIDL n, DELE, NOOP, RSET, QUIT, STLS
    multi_line,   // CAPA, LIST, UIDL, RETR, TOP: +OK is followed by a dot-terminated body
    sasl,         // AUTH and each SASL response: "+ base64" continuation or the final +OK/-ERR
};

enum class status_indicator : std::uint8_t {
    ok,            // "+OK"
    err,           // "-ERR"
    continuation,  // "+ " (only when reply_kind::sasl is expected)
};

/// RFC 2449 section 8 and RFC 3206 response codes. Codes other than these are `other`; the
/// full code text is in reply::code_text either way.
enum class response_code : std::uint8_t {
    none,         // the text does not begin with a well-formed "[...]"
    in_use,       // [IN-USE]: the maildrop is locked by another session
    login_delay,  // [LOGIN-DELAY]: logged in too recently
    sys_temp,     // [SYS/TEMP]: temporary system failure, retry later
    sys_perm,     // [SYS/PERM]: permanent system failure
    auth,         // [AUTH]: the credentials were wrong
    other,        // any other well-formed code, e.g. [LOGIN-DELAY/900] or [X-FOO]
};

/// The dot-unstuffed lines of a completed multi-line body. Iterating re-scans the body bytes,
/// so nothing is stored per line; each line is a view without its line ending, with the
/// stuffing dot removed. Views stay valid until the caller consumes the reply's bytes.
class body_lines {
public:
    class iterator {
    public:
        using value_type = std::string_view;
        using reference = std::string_view;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::forward_iterator_tag;
        using iterator_category = std::input_iterator_tag;

        iterator() = default;
        iterator(const char* pos, const char* end) noexcept : m_pos(pos), m_end(end) { load(); }

        std::string_view operator*() const noexcept { return m_line; }
        iterator& operator++() noexcept
        {
            m_pos = m_next;
            load();
            return *this;
        }
        iterator operator++(int) noexcept
        {
            iterator before = *this;
            ++*this;
            return before;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.m_pos == b.m_pos; }

    private:
        void load() noexcept;

        const char* m_pos = nullptr;   // start of the current line
        const char* m_end = nullptr;
        const char* m_next = nullptr;  // start of the line after it
        std::string_view m_line;
    };

    body_lines() = default;
    /// `raw` is a run of complete lines, each ended by CRLF (or LF when lenient), that the
    /// reply parser has already validated; `count` is how many there are.
    body_lines(std::string_view raw, std::size_t count) noexcept : m_raw(raw), m_count(count) {}

    iterator begin() const noexcept { return {m_raw.data(), m_raw.data() + m_raw.size()}; }
    iterator end() const noexcept
    {
        return {m_raw.data() + m_raw.size(), m_raw.data() + m_raw.size()};
    }
    /// The body as sent: still dot-stuffed, with line endings, without the final ".CRLF".
    std::string_view raw() const noexcept { return m_raw; }
    std::size_t size() const noexcept { return m_count; }
    bool empty() const noexcept { return m_count == 0; }

private:
    std::string_view m_raw;
    std::size_t m_count = 0;
};

/// One complete reply. Every view points into the buffer given to reply_parser::parse() and
/// stays valid until the caller consumes the reply's bytes (or calls parse() again).
struct reply {
    status_indicator status = status_indicator::ok;
    /// What follows "+OK " / "-ERR " / "+ ", without the line ending; for a continuation the
    /// base64 challenge. Includes the "[CODE]" if there is one. Server text: show it only
    /// through printable().
    std::string_view text;
    response_code code = response_code::none;
    /// The response code without brackets ("SYS/TEMP"), empty when code is none.
    std::string_view code_text;
    /// The body of a multi-line +OK reply; empty for every other reply.
    body_lines body;
    /// True when this was a multi-line +OK (a body was read, possibly with zero lines).
    bool has_body = false;

    bool ok() const noexcept { return status == status_indicator::ok; }
};

struct reply_limits {
    /// Longest line, CRLF included. RFC 1939 says 512, but servers exceed it (long greetings,
    /// message lines in RETR), so the default is generous.
    std::size_t max_line = 8192;
    std::size_t max_body_lines = 1'000'000;
    /// Bytes of a multi-line body as sent (dot-stuffed, line endings included).
    std::size_t max_body_bytes = 64u << 20;
};

/// Resumable POP3 reply parser. Use from one thread; reusable for every reply of a session:
///   parser.expect(kind);                       // after sending the command
///   while ((st = parser.parse(buf)).need_more()) { read more into buf }
///   inspect parser.result(); buf.consume(st.consumed);
/// After a complete reply the parser starts the next reply of the same kind, so a session
/// only calls expect() when the kind changes. expect() must be called at a reply boundary.
class reply_parser {
public:
    explicit reply_parser(reply_limits limits = {}, bool lenient_bare_lf = false) noexcept;

    /// Sets the kind of the next reply and forgets any partial progress.
    void expect(reply_kind kind) noexcept;
    reply_kind expected() const noexcept { return m_kind; }

    /// `input` is the whole unconsumed tail of the read buffer, starting at the reply's first
    /// byte; it may be moved between calls but must keep the bytes already shown. Never
    /// allocates, never throws. On complete, result() describes the reply.
    parse_status parse(std::string_view input) noexcept;

    /// The last completed reply; its views are valid until the caller consumes or calls parse().
    const reply& result() const noexcept { return m_reply; }

private:
    enum class state : std::uint8_t { status_line, body };

    bool read_status_line(std::string_view line) noexcept;
    parse_status read_body(std::string_view input) noexcept;
    bool end_body_line(std::string_view input, std::size_t content_end, std::size_t next, parse_status& status) noexcept;
    void publish(std::string_view input) noexcept;
    void restart() noexcept;

    reply_limits m_limits;
    bool m_lenient;
    reply_kind m_kind = reply_kind::single_line;
    state m_state = state::status_line;
    std::size_t m_scan = 0;        // bytes before this offset are validated
    std::size_t m_line_start = 0;  // offset of the line being scanned
    std::size_t m_body_start = 0;  // offset of the first body line
    std::size_t m_body_lines = 0;
    // The status line of a multi-line reply whose body is still arriving, kept as offsets
    // because the buffer may move before the body completes.
    status_indicator m_status = status_indicator::ok;
    response_code m_code = response_code::none;
    std::size_t m_text_at = 0;
    std::size_t m_text_len = 0;
    std::size_t m_code_at = 0;
    std::size_t m_code_len = 0;
    reply m_reply;
};

namespace detail {

// First LF in [p, end), or nullptr. Inline so that iterating a body compiles to one tight
// loop in the caller: for short lines (UIDL, LIST) a memchr call per line would cost more
// than the search itself.
inline const char* find_lf(const char* p, const char* end) noexcept
{
#if defined(__SSE2__)
    const __m128i lf = _mm_set1_epi8('\n');
    while (end - p >= 16) {
        const int mask = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), lf));
        if (mask != 0) {
            return p + __builtin_ctz(static_cast<unsigned>(mask));
        }
        p += 16;
    }
#endif
    return static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
}

} // namespace detail

inline void body_lines::iterator::load() noexcept
{
    if (m_pos == m_end) {
        return;
    }
    const char* lf = detail::find_lf(m_pos, m_end);
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

} // namespace protocols::pop3
