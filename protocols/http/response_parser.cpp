// HTTP/1.1 response parser; see response_parser.h for the grammar and what it refuses.
#include "protocols/http/response_parser.h"

#include <algorithm>

namespace protocols::http {

namespace {

// A chunk-size line is a hex number and perhaps extensions we ignore; nothing legitimate is
// longer, and an endless one would otherwise be read up to the body limit.
constexpr std::size_t max_chunk_line = 1024;
// 16 hex digits overflow 64 bits; the body limit is far below anyway.
constexpr std::size_t max_chunk_digits = 15;

bool is_tchar(char c) noexcept
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// field-value and reason-phrase bytes: HTAB, SP, VCHAR, obs-text.
bool is_text(char c) noexcept
{
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || u >= 0x20 ? u != 0x7f : false;
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

int hex_value(char c) noexcept
{
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::string_view trim_ows(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept
{
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        return lower(x) == lower(y);
    });
}

response_parser::response_parser(response_limits limits) : m_limits(limits) {}

void response_parser::reset() noexcept
{
    bool no_body = m_no_body;
    *this = response_parser(m_limits);
    m_no_body = no_body;
}

field response_parser::field_at(std::size_t i) const noexcept
{
    return {view(m_fields[i].first), view(m_fields[i].second)};
}

std::optional<std::string_view> response_parser::find(std::string_view name) const noexcept
{
    for (const auto& f : m_fields) {
        if (iequals(view(f.first), name)) {
            return view(f.second);
        }
    }
    return std::nullopt;
}

std::string response_parser::body_text() const
{
    std::string out;
    out.reserve(m_body_size);
    for (const auto& c : m_chunks) {
        out.append(view(c));
    }
    return out;
}

parse_status response_parser::next_line(std::string_view buf, std::size_t max, std::size_t& end)
{
    for (std::size_t i = m_pos; i < buf.size(); ++i) {
        if (i - m_pos + 1 > max) {
            bool in_header = m_phase == phase::status_line || m_phase == phase::fields || m_phase == phase::trailers;
            return parse_status::fail(in_header ? parse_error::header_too_big : parse_error::line_too_long, i);
        }
        char c = buf[i];
        if (c == '\n') {
            if (i == m_pos || buf[i - 1] != '\r') {
                return parse_status::fail(parse_error::bad_character, i);   // a bare LF
            }
            end = i - 1;
            return parse_status::done(i + 1);
        }
        if (c == '\r' && i + 1 < buf.size() && buf[i + 1] != '\n') {
            return parse_status::fail(parse_error::bad_character, i);       // a bare CR
        }
        if (c == '\0') {
            return parse_status::fail(parse_error::bad_character, i);
        }
    }
    return parse_status::more();
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]
parse_status response_parser::status_line(std::string_view line, std::size_t at)
{
    if (line.size() < 12 || !line.starts_with("HTTP/1.") || !is_digit(line[7]) || line[8] != ' ') {
        return parse_status::fail(parse_error::bad_syntax, at);
    }
    m_minor = line[7] - '0';
    if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) || line[9] < '1' || line[9] > '5') {
        return parse_status::fail(parse_error::bad_syntax, at + 9);
    }
    m_status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    // The SP before an empty reason-phrase is required, but some servers omit it.
    if (line.size() > 12 && line[12] != ' ') {
        return parse_status::fail(parse_error::bad_syntax, at + 12);
    }
    std::size_t reason = std::min<std::size_t>(13, line.size());
    for (std::size_t i = reason; i < line.size(); ++i) {
        if (!is_text(line[i])) {
            return parse_status::fail(parse_error::bad_character, at + i);
        }
    }
    m_reason = {at + reason, line.size() - reason};
    return parse_status::more();
}

// field-line = field-name ":" OWS field-value OWS
parse_status response_parser::field_line(std::string_view buf, std::size_t start, std::size_t end, bool trailer)
{
    std::string_view line = buf.substr(start, end - start);
    if (line.front() == ' ' || line.front() == '\t') {
        return parse_status::fail(parse_error::bad_syntax, start);   // obs-fold (RFC 9112 5.2)
    }
    std::size_t colon = 0;
    while (colon < line.size() && is_tchar(line[colon])) {
        ++colon;
    }
    // Whitespace before the colon is a smuggling vector (RFC 9112 section 5.1).
    if (colon == 0 || colon == line.size() || line[colon] != ':') {
        return parse_status::fail(parse_error::bad_syntax, start + colon);
    }
    for (std::size_t i = colon + 1; i < line.size(); ++i) {
        if (!is_text(line[i])) {
            return parse_status::fail(parse_error::bad_character, start + i);
        }
    }
    if (++m_field_count > m_limits.max_fields) {
        return parse_status::fail(parse_error::too_many_fields, start);
    }
    if (trailer) {
        // Trailers carry nothing we use; they only count against the limits.
        return parse_status::more();
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    std::size_t value_off = value.empty() ? end : static_cast<std::size_t>(value.data() - buf.data());
    if (iequals(name, "content-length")) {
        if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), is_digit)) {
            return parse_status::fail(parse_error::bad_syntax, value_off);
        }
        std::uint64_t n = 0;
        for (char c : value) {
            n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (m_content_length && *m_content_length != n) {
            return parse_status::fail(parse_error::bad_syntax, value_off);
        }
        m_content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
        // Only a single "chunked" is understood; anything else would be read wrongly.
        if (m_chunked || !iequals(value, "chunked")) {
            return parse_status::fail(parse_error::bad_syntax, value_off);
        }
        m_chunked = true;
    }
    m_fields.push_back({span{start, colon}, span{value_off, value.size()}});
    return parse_status::more();
}

parse_status response_parser::start_body(std::size_t at)
{
    if (m_chunked && m_content_length) {
        return parse_status::fail(parse_error::bad_syntax, at);
    }
    if (m_no_body || m_status < 200 || m_status == 204 || m_status == 304) {
        m_phase = phase::done;
    } else if (m_chunked) {
        m_phase = phase::chunk_size;
    } else if (m_content_length) {
        if (*m_content_length > m_limits.max_body_bytes) {
            return parse_status::fail(parse_error::body_too_big, at);
        }
        m_remaining = *m_content_length;
        m_phase = phase::body_length;
    } else {
        m_phase = phase::body_close;
    }
    return parse_status::more();
}

parse_status response_parser::add_chunk(std::size_t off, std::size_t len, std::size_t at)
{
    if (m_chunks.size() >= m_limits.max_chunks) {
        return parse_status::fail(parse_error::too_many_lines, at);
    }
    m_chunks.push_back({off, len});
    m_body_size += len;
    return parse_status::more();
}

// A body or chunk is handed out as one view, so all its bytes must be buffered first.
parse_status response_parser::take_piece(std::string_view buf, phase next)
{
    if (buf.size() - m_pos < m_remaining) {
        return parse_status::more();
    }
    auto len = static_cast<std::size_t>(m_remaining);
    if (auto s = add_chunk(m_pos, len, m_pos); s.failed()) {
        return s;
    }
    m_pos += len;
    m_phase = next;
    return parse_status::done(m_pos);
}

parse_status response_parser::parse(std::string_view buf)
{
    m_base = buf.data();
    for (;;) {
        std::size_t end = 0;
        switch (m_phase) {
        case phase::status_line:
        case phase::fields:
        case phase::trailers: {
            auto line = next_line(buf, m_limits.max_header_bytes - m_header_bytes, end);
            if (!line.complete()) {
                return line;
            }
            std::size_t start = m_pos;
            m_header_bytes += line.consumed - start;
            m_pos = line.consumed;
            parse_status s;
            if (m_phase == phase::status_line) {
                s = status_line(buf.substr(start, end - start), start);
                m_phase = phase::fields;
            } else if (end == start) {
                s = m_phase == phase::fields ? start_body(start) : parse_status::more();
                if (m_phase == phase::trailers) {
                    m_phase = phase::done;
                }
            } else {
                s = field_line(buf, start, end, m_phase == phase::trailers);
            }
            if (s.failed()) {
                return s;
            }
            break;
        }
        case phase::body_length:
        case phase::chunk_data: {
            auto s = take_piece(buf, m_phase == phase::body_length ? phase::done : phase::chunk_end);
            if (!s.complete()) {
                return s;
            }
            break;
        }
        case phase::body_close:
            if (buf.size() - m_pos > m_limits.max_body_bytes) {
                return parse_status::fail(parse_error::body_too_big, m_pos + m_limits.max_body_bytes);
            }
            return parse_status::more();
        case phase::chunk_size: {
            auto line = next_line(buf, max_chunk_line, end);
            if (!line.complete()) {
                return line;
            }
            std::uint64_t size = 0;
            std::size_t i = m_pos;
            for (; i < end && hex_value(buf[i]) >= 0; ++i) {
                if (i - m_pos >= max_chunk_digits) {
                    return parse_status::fail(parse_error::body_too_big, i);
                }
                size = size * 16 + static_cast<std::uint64_t>(hex_value(buf[i]));
            }
            if (i == m_pos) {
                return parse_status::fail(parse_error::bad_syntax, i);
            }
            // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): skipped, but
            // only after a ';' and without control bytes.
            while (i < end && (buf[i] == ' ' || buf[i] == '\t')) {
                ++i;
            }
            if (i < end && buf[i] != ';') {
                return parse_status::fail(parse_error::bad_syntax, i);
            }
            for (; i < end; ++i) {
                if (!is_text(buf[i])) {
                    return parse_status::fail(parse_error::bad_character, i);
                }
            }
            if (size > m_limits.max_body_bytes - m_body_size) {
                return parse_status::fail(parse_error::body_too_big, m_pos);
            }
            m_pos = line.consumed;
            m_remaining = size;
            m_phase = size == 0 ? phase::trailers : phase::chunk_data;
            break;
        }
        case phase::chunk_end:
            if (buf.size() - m_pos < 2) {
                if (buf.size() > m_pos && buf[m_pos] != '\r') {
                    return parse_status::fail(parse_error::bad_syntax, m_pos);
                }
                return parse_status::more();
            }
            if (buf[m_pos] != '\r' || buf[m_pos + 1] != '\n') {
                return parse_status::fail(parse_error::bad_syntax, m_pos);
            }
            m_pos += 2;
            m_phase = phase::chunk_size;
            break;
        case phase::done:
            return parse_status::done(m_pos);
        }
    }
}

parse_status response_parser::finish_on_close(std::string_view buf)
{
    m_base = buf.data();
    if (m_phase == phase::body_close) {
        if (auto s = parse(buf); s.failed()) {
            return s;
        }
        if (auto s = add_chunk(m_pos, buf.size() - m_pos, m_pos); s.failed()) {
            return s;
        }
        m_pos = buf.size();
        m_phase = phase::done;
    }
    if (m_phase == phase::done) {
        return parse_status::done(m_pos);
    }
    return parse_status::fail(parse_error::bad_syntax, buf.size());
}

} // namespace protocols::http
