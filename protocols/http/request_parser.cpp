#include "protocols/http/request_parser.h"

namespace protocols::http {

namespace {

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
//         / DIGIT / ALPHA
bool is_tchar(unsigned char c) noexcept
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-': case '.':
    case '^': case '_': case '`': case '|': case '~': return true;
    default: return false;
    }
}

bool ieq(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        unsigned char x = static_cast<unsigned char>(a[i]);
        unsigned char y = static_cast<unsigned char>(b[i]);
        if ((x | 0x20) != (y | 0x20)) {
            return false;
        }
    }
    return true;
}

} // namespace

void request_parser::reset() noexcept
{
    m_scanned = 0;
    m_error = {};
    m_method = {};
    m_target = {};
}

std::string_view request_parser::path() const noexcept
{
    return m_target.substr(0, m_target.find('?'));
}

parse_status request_parser::parse(std::string_view buf) noexcept
{
    if (m_error.failed()) {
        return m_error;
    }
    // Check only the new bytes: a slow client sending one byte at a time costs O(n) in all.
    std::size_t i = m_scanned;
    for (; i < buf.size(); ++i) {
        if (i >= m_limits.max_head_bytes) {
            return m_error = parse_status::fail(parse_error::header_too_big, i);
        }
        const char c = buf[i];
        if (c == '\0') {
            return m_error = parse_status::fail(parse_error::bad_character, i);
        }
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r') {
                return m_error = parse_status::fail(parse_error::bad_character, i);
            }
            if (i >= 3 && buf.substr(i - 3, 4) == "\r\n\r\n") {
                m_scanned = i + 1;
                auto st = parse_head(buf.substr(0, i + 1));
                if (st.failed()) {
                    m_error = st;
                }
                return st;
            }
        } else if (i > 0 && buf[i - 1] == '\r') {
            return m_error = parse_status::fail(parse_error::bad_character, i - 1);
        }
    }
    // A CR at the end may still be followed by its LF: look at it again next time.
    m_scanned = (i > 0 && buf[i - 1] == '\r') ? i - 1 : i;
    return parse_status::more();
}

parse_status request_parser::parse_head(std::string_view head) noexcept
{
    // request-line
    std::size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    std::size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) {
        return parse_status::fail(parse_error::bad_syntax, sp1 == 0 ? 0 : eol);
    }
    for (std::size_t i = 0; i < sp1; ++i) {
        if (!is_tchar(static_cast<unsigned char>(line[i]))) {
            return parse_status::fail(parse_error::bad_syntax, i);
        }
    }
    std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
        return parse_status::fail(parse_error::bad_syntax, eol);
    }
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    if (target.size() > m_limits.max_target) {
        return parse_status::fail(parse_error::line_too_long, sp1 + 1 + m_limits.max_target);
    }
    // origin-form only: this server has no proxy or OPTIONS * to offer.
    if (target.empty() || target[0] != '/') {
        return parse_status::fail(parse_error::bad_syntax, sp1 + 1);
    }
    for (std::size_t i = 0; i < target.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(target[i]);
        if (c <= 0x20 || c >= 0x7f) {
            return parse_status::fail(parse_error::bad_syntax, sp1 + 1 + i);
        }
    }
    std::string_view version = line.substr(sp2 + 1);
    if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') {
        return parse_status::fail(parse_error::bad_syntax, sp2 + 1);
    }
    // field-lines
    bool host = false;
    std::size_t fields = 0;
    std::size_t pos = eol + 2;
    while (pos < head.size()) {
        std::size_t end = head.find("\r\n", pos);
        std::string_view f = head.substr(pos, end - pos);
        if (f.empty()) {
            break;   // the empty line that ends the head
        }
        if (++fields > m_limits.max_fields) {
            return parse_status::fail(parse_error::too_many_fields, pos);
        }
        std::size_t colon = f.find(':');
        // Also refuses obs-fold (a line starting with whitespace) and "name :" (RFC 9112 5.1).
        if (colon == 0 || colon == std::string_view::npos) {
            return parse_status::fail(parse_error::bad_syntax, pos);
        }
        for (std::size_t i = 0; i < colon; ++i) {
            if (!is_tchar(static_cast<unsigned char>(f[i]))) {
                return parse_status::fail(parse_error::bad_syntax, pos + i);
            }
        }
        for (std::size_t i = colon + 1; i < f.size(); ++i) {
            unsigned char c = static_cast<unsigned char>(f[i]);
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return parse_status::fail(parse_error::bad_character, pos + i);
            }
        }
        if (ieq(f.substr(0, colon), "host")) {
            host = true;
        }
        pos = end + 2;
    }
    if (version[7] != '0' && !host) {
        return parse_status::fail(parse_error::bad_syntax, head.size());   // RFC 9112 3.2: MUST 400
    }
    m_method = line.substr(0, sp1);
    m_target = target;
    return parse_status::done(head.size());
}

} // namespace protocols::http
