// Header block reading: field iteration, Received hops, Authentication-Results
// (see header_reader.h).
#include "protocols/message/header_reader.h"

#include "protocols/message/date_time.h"
#include "protocols/message/field_lexer.h"
#include "protocols/message/probe_header.h"

#include <algorithm>

namespace protocols::message {
namespace {

bool is_wsp(char c) noexcept
{
    return c == ' ' || c == '\t';
}

bool is_ftext(char c) noexcept
{
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
}

std::string_view trim(std::string_view s) noexcept
{
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

bool is_equals(const token& t) noexcept
{
    return t.kind == token_kind::special && t.text == "=";
}

bool is_semicolon(const token& t) noexcept
{
    return t.kind == token_kind::special && t.text == ";";
}

bool is_value(const token& t) noexcept
{
    return t.kind == token_kind::word || t.kind == token_kind::quoted;
}

// Reads "key = value" pairs up to the next ";" into `m`; returns the token that ended them
// (";", end or error).
token read_method_tail(field_lexer& lex, auth_method& m, bool& malformed) noexcept
{
    token t = lex.next_skipping_comments();
    while (t.kind == token_kind::word) {
        token eq = lex.next_skipping_comments();
        if (!is_equals(eq)) {
            malformed = true;
            t = eq;
            continue;
        }
        token value = lex.next_skipping_comments();
        if (!is_value(value)) {
            malformed = true;
            t = value;
            continue;
        }
        if (iequals(t.text, "reason")) {
            m.reason = value.text;
        } else if (m.property_count == auth_method::max_properties) {
            m.properties_dropped = true;
        } else {
            auth_property& p = m.properties[m.property_count++];
            auto dot = t.text.find('.');
            if (dot == std::string_view::npos) {
                p.property = t.text;
            } else {
                p.ptype = t.text.substr(0, dot);
                p.property = t.text.substr(dot + 1);
            }
            p.value = value.text;
        }
        t = lex.next_skipping_comments();
    }
    // Stray tokens (a value with an unquoted "=", say) are skipped to the next resinfo.
    while (t.kind != token_kind::end && t.kind != token_kind::error && !is_semicolon(t)) {
        malformed = true;
        t = lex.next_skipping_comments();
    }
    return t;
}

void parse_auth_results(std::string_view value, message_headers& h)
{
    auth_results r;
    r.first_method = h.auth_methods.size();
    field_lexer lex(value);
    token t = lex.next_skipping_comments();
    field_lexer peek = lex;
    token after_first = peek.next_skipping_comments();
    if (is_value(t) && !is_equals(after_first)) {
        r.authserv_id = t.text;
        t = lex.next_skipping_comments();
        bool is_version = t.kind == token_kind::word
            && std::all_of(t.text.begin(), t.text.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (is_version) {
            t = lex.next_skipping_comments();
        }
        if (t.kind == token_kind::end) {
            r.malformed = true;  // neither "none" nor a result
        } else if (!is_semicolon(t)) {
            r.malformed = true;
        } else {
            t = lex.next_skipping_comments();
        }
    }
    // t is now the first token of a methodspec.
    while (t.kind != token_kind::end && t.kind != token_kind::error) {
        if (t.kind == token_kind::word && iequals(t.text, "none") && r.method_count == 0) {
            r.none = true;
            t = lex.next_skipping_comments();
            continue;
        }
        token eq = lex.next_skipping_comments();
        token result = lex.next_skipping_comments();
        if (t.kind != token_kind::word || !is_equals(eq) || result.kind != token_kind::word) {
            r.malformed = true;
            t = result;
            while (t.kind != token_kind::end && t.kind != token_kind::error && !is_semicolon(t)) {
                t = lex.next_skipping_comments();
            }
        } else {
            auth_method m;
            m.method = t.text;
            m.result = result.text;
            t = read_method_tail(lex, m, r.malformed);
            h.auth_methods.push_back(m);
            ++r.method_count;
        }
        if (is_semicolon(t)) {
            t = lex.next_skipping_comments();
        }
    }
    if (t.kind == token_kind::error) {
        r.malformed = true;
    }
    h.auth.push_back(r);
}

} // namespace

std::optional<header_field> field_iterator::next() noexcept
{
    if (!m_status.need_more()) {
        return std::nullopt;
    }
    const std::string_view b = m_block;
    auto finish = [&](parse_status st) {
        m_status = st;
        return std::nullopt;
    };
    if (m_pos == b.size()) {
        return finish(parse_status::done(m_pos));
    }
    if (b.substr(m_pos, 2) == "\r\n") {
        return finish(parse_status::done(m_pos + 2));
    }
    if (m_count == m_max_fields) {
        return finish(parse_status::fail(parse_error::too_many_fields, m_pos));
    }
    const std::size_t start = m_pos;
    std::size_t i = m_pos;
    while (i < b.size() && is_ftext(b[i])) {
        ++i;
    }
    const std::size_t name_end = i;
    while (i < b.size() && is_wsp(b[i])) {
        ++i;  // obs-optional: WSP between the name and the colon
    }
    if (name_end == start) {
        return finish(parse_status::fail(parse_error::bad_syntax, start));
    }
    if (i == b.size() || b[i] != ':') {
        return finish(parse_status::fail(parse_error::bad_syntax, i));
    }
    const std::size_t value_start = ++i;
    std::size_t value_end = b.size();
    while (i < b.size()) {
        const char c = b[i];
        if (c == '\0' || c == '\n') {
            return finish(parse_status::fail(parse_error::bad_character, i));
        }
        if (c == '\r') {
            if (i + 1 == b.size() || b[i + 1] != '\n') {
                return finish(parse_status::fail(parse_error::bad_character, i));
            }
            if (i + 2 < b.size() && is_wsp(b[i + 2])) {
                i += 3;  // folding
                continue;
            }
            value_end = i;
            i += 2;
            break;
        }
        ++i;
    }
    m_pos = i;
    ++m_count;
    return header_field{b.substr(start, name_end - start), trim(b.substr(value_start, value_end - value_start)),
        start};
}

std::string unfold(std::string_view value)
{
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
            ++i;
            continue;
        }
        out += value[i];
    }
    return out;
}

received_hop parse_received(std::string_view value) noexcept
{
    received_hop hop;
    field_lexer lex(value);
    bool clause_open = true;  // keywords count only before the first ";"
    std::size_t last_semicolon = std::string_view::npos;
    std::string_view* expecting = nullptr;
    bool info_allowed = false;
    for (token t = lex.next(); t.kind != token_kind::end && t.kind != token_kind::error; t = lex.next()) {
        if (is_semicolon(t)) {
            last_semicolon = t.offset;
            clause_open = false;
            expecting = nullptr;
            continue;
        }
        if (!clause_open) {
            continue;
        }
        if (t.kind == token_kind::comment) {
            if (info_allowed && hop.from_info.empty()) {
                hop.from_info = trim(t.text);
            }
            info_allowed = false;
            continue;
        }
        info_allowed = false;
        if (t.kind != token_kind::word) {
            expecting = nullptr;
            continue;
        }
        if (expecting != nullptr) {
            *expecting = t.text;
            info_allowed = expecting == &hop.from;
            expecting = nullptr;
            continue;
        }
        if (iequals(t.text, "from") && hop.from.empty()) {
            expecting = &hop.from;
        } else if (iequals(t.text, "by") && hop.by.empty()) {
            expecting = &hop.by;
        } else if (iequals(t.text, "with") && hop.with.empty()) {
            expecting = &hop.with;
        }
    }
    if (last_semicolon != std::string_view::npos) {
        hop.date_text = trim(value.substr(last_semicolon + 1));
        hop.unix_ms = parse_date_time(hop.date_text);
    }
    return hop;
}

std::string_view auth_method::property(std::string_view ptype, std::string_view name) const noexcept
{
    for (std::size_t i = 0; i < property_count; ++i) {
        if (iequals(properties[i].ptype, ptype) && iequals(properties[i].property, name)) {
            return properties[i].value;
        }
    }
    return {};
}

const auth_method* message_headers::find_method(std::string_view name) const noexcept
{
    for (const auto& m : auth_methods) {
        if (iequals(m.method, name)) {
            return &m;
        }
    }
    return nullptr;
}

parse_status header_reader::parse(std::string_view unconsumed)
{
    std::size_t end = std::string_view::npos;
    if (unconsumed.substr(0, 2) == "\r\n") {
        end = 2;
    } else {
        // Resume a little before where the last search stopped: the "\r\n\r\n" may straddle.
        std::size_t from = m_scanned > 3 ? m_scanned - 3 : 0;
        std::size_t at = unconsumed.find("\r\n\r\n", from);
        if (at != std::string_view::npos) {
            end = at + 4;
        }
    }
    if (end == std::string_view::npos) {
        if (unconsumed.size() > m_limits.max_header_bytes) {
            m_scanned = 0;
            return parse_status::fail(parse_error::header_too_big, m_limits.max_header_bytes);
        }
        m_scanned = unconsumed.size();
        return parse_status::more();
    }
    m_scanned = 0;
    if (end > m_limits.max_header_bytes) {
        return parse_status::fail(parse_error::header_too_big, m_limits.max_header_bytes);
    }
    return read_fields(unconsumed.substr(0, end));
}

parse_status header_reader::read(std::string_view block)
{
    if (block.size() > m_limits.max_header_bytes) {
        // The block may end well before the limit; only the bytes it spans count.
        std::size_t end = block.find("\r\n\r\n");
        if (block.substr(0, 2) != "\r\n" && (end == std::string_view::npos || end + 4 > m_limits.max_header_bytes)) {
            return parse_status::fail(parse_error::header_too_big, m_limits.max_header_bytes);
        }
    }
    return read_fields(block);
}

parse_status header_reader::read_fields(std::string_view block)
{
    message_headers& h = m_headers;
    h.field_count = 0;
    h.probe_header.reset();
    h.probe_header_count = 0;
    h.subject = h.message_id = h.date = h.from = h.to = h.return_path = h.content_type = h.auto_submitted = {};
    h.date_unix_ms.reset();
    h.hops.clear();
    h.auth.clear();
    h.auth_methods.clear();

    field_iterator it(block, m_limits.max_fields);
    auto keep_first = [](std::string_view& slot, std::string_view value) {
        if (slot.empty()) {
            slot = value;
        }
    };
    while (auto f = it.next()) {
        ++h.field_count;
        const std::string_view n = f->name;
        if (iequals(n, probe_header_name)) {
            if (h.probe_header_count++ == 0) {
                h.probe_header = f->value;
            }
        } else if (iequals(n, "Received")) {
            h.hops.push_back(parse_received(f->value));
        } else if (iequals(n, "Authentication-Results")) {
            parse_auth_results(f->value, h);
        } else if (iequals(n, "Subject")) {
            keep_first(h.subject, f->value);
        } else if (iequals(n, "Message-ID")) {
            keep_first(h.message_id, f->value);
        } else if (iequals(n, "Date")) {
            keep_first(h.date, f->value);
        } else if (iequals(n, "From")) {
            keep_first(h.from, f->value);
        } else if (iequals(n, "To")) {
            keep_first(h.to, f->value);
        } else if (iequals(n, "Return-Path")) {
            keep_first(h.return_path, f->value);
        } else if (iequals(n, "Content-Type")) {
            keep_first(h.content_type, f->value);
        } else if (iequals(n, "Auto-Submitted")) {
            keep_first(h.auto_submitted, f->value);
        }
    }
    parse_status st = it.status();
    if (st.failed()) {
        return st;
    }
    if (!h.date.empty()) {
        h.date_unix_ms = parse_date_time(h.date);
    }
    // Relays prepend their Received field, so header order is newest first.
    std::reverse(h.hops.begin(), h.hops.end());
    std::optional<std::int64_t> previous = h.date_unix_ms;
    for (auto& hop : h.hops) {
        if (previous && hop.unix_ms) {
            hop.delay_ms = *hop.unix_ms - *previous;
            hop.clock_skew = *hop.delay_ms < 0;
        }
        previous = hop.unix_ms;
    }
    return st;
}

} // namespace protocols::message
