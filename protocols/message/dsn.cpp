// Bounce recognition and arrival classification (see dsn.h).
#include "protocols/message/dsn.h"

#include "protocols/message/field_lexer.h"

#include <array>

namespace protocols::message {
namespace {

constexpr std::size_t max_boundary = 70;  // RFC 2046 5.1.1

// Subjects of bounces from MTAs that do not (or not always) send RFC 3464 reports:
// Postfix, Gmail, Exchange, Exim, Sendmail.
constexpr std::array<std::string_view, 6> bounce_subjects = {
    "Undelivered Mail Returned to Sender",
    "Delivery Status Notification (Failure)",
    "Undeliverable:",
    "Mail delivery failed",
    "Returned mail:",
    "Mail Delivery Failure",
};

struct content_type {
    std::string_view type;
    std::string_view subtype;
    std::string_view boundary;
    std::string_view report_type;
};

content_type parse_content_type(std::string_view value) noexcept
{
    content_type ct;
    field_lexer lex(value);
    token t = lex.next_skipping_comments();
    if (t.kind != token_kind::word) {
        return ct;
    }
    auto slash = t.text.find('/');
    if (slash == std::string_view::npos) {
        return ct;
    }
    ct.type = t.text.substr(0, slash);
    ct.subtype = t.text.substr(slash + 1);
    for (t = lex.next_skipping_comments(); t.kind == token_kind::special && t.text == ";";) {
        token name = lex.next_skipping_comments();
        token eq = lex.next_skipping_comments();
        token val = lex.next_skipping_comments();
        if (name.kind != token_kind::word || eq.kind != token_kind::special || eq.text != "="
            || (val.kind != token_kind::word && val.kind != token_kind::quoted)) {
            break;
        }
        if (iequals(name.text, "boundary")) {
            ct.boundary = val.text;
        } else if (iequals(name.text, "report-type")) {
            ct.report_type = val.text;
        }
        t = lex.next_skipping_comments();
    }
    return ct;
}

bool is_type(const content_type& ct, std::string_view type, std::string_view subtype) noexcept
{
    return iequals(ct.type, type) && iequals(ct.subtype, subtype);
}

bool is_delivery_report(const content_type& ct) noexcept
{
    return is_type(ct, "multipart", "report")
        && (iequals(ct.report_type, "delivery-status") || iequals(ct.report_type, "global-delivery-status"));
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

// "rfc822; user@example.org" -> "user@example.org"
std::string_view after_type(std::string_view value) noexcept
{
    auto semi = value.find(';');
    return semi == std::string_view::npos ? value : trim(value.substr(semi + 1));
}

struct delimiter {
    std::size_t line_start = std::string_view::npos;  // where "--boundary" begins
    std::size_t content_start = 0;                    // first byte after its line
    bool close = false;
};

// The next delimiter line at or after `from`: "--" boundary at the start of a line, then
// either "--" (the close delimiter) or optional transport padding and CRLF (or the end).
delimiter find_delimiter(std::string_view body, std::string_view boundary, std::size_t from) noexcept
{
    delimiter d;
    for (std::size_t at = body.find(boundary, from); at != std::string_view::npos; at = body.find(boundary, at + 1)) {
        if (at < 2 || body.substr(at - 2, 2) != "--") {
            continue;
        }
        const std::size_t line = at - 2;
        if (line != 0 && (line < 2 || body.substr(line - 2, 2) != "\r\n")) {
            continue;
        }
        std::size_t q = at + boundary.size();
        if (body.substr(q, 2) == "--") {
            d.line_start = line;
            d.close = true;
            d.content_start = body.size();
            return d;
        }
        while (q < body.size() && (body[q] == ' ' || body[q] == '\t')) {
            ++q;
        }
        if (q == body.size() || body.substr(q, 2) == "\r\n") {
            d.line_start = line;
            d.content_start = q == body.size() ? q : q + 2;
            return d;
        }
    }
    return d;
}

} // namespace

bool looks_like_bounce(const message_headers& h) noexcept
{
    if (trim(h.return_path) == "<>") {
        return true;
    }
    if (is_delivery_report(parse_content_type(h.content_type))) {
        return true;
    }
    const std::string_view subject = trim(h.subject);
    for (auto s : bounce_subjects) {
        if (istarts_with(subject, s)) {
            return true;
        }
    }
    return false;
}

arrival_check classify_arrival(const message_headers& h, const mac_key& key) noexcept
{
    arrival_check c;
    if (looks_like_bounce(h)) {
        c.kind = arrival::bounce;
        return c;
    }
    if (h.probe_header_count > 1) {
        c.kind = arrival::malformed;
        c.header.verdict = header_verdict::malformed;
        c.header.problem = header_problem::duplicate_header;
        return c;
    }
    c.header = verify_probe_header(h.probe_header, key);
    switch (c.header.verdict) {
    case header_verdict::ours: c.kind = arrival::probe; break;
    case header_verdict::not_ours: c.kind = arrival::not_ours; break;
    case header_verdict::forged: c.kind = arrival::forged; break;
    case header_verdict::malformed: c.kind = arrival::malformed; break;
    }
    return c;
}

parse_status dsn_reader::read(std::string_view message)
{
    m_report.kind = bounce_kind::none;
    m_report.reporting_mta = {};
    m_report.recipients.clear();
    m_report.probe_header.reset();
    if (message.size() > m_limits.max_message_bytes) {
        return parse_status::fail(parse_error::message_too_big, m_limits.max_message_bytes);
    }
    parse_status st = m_top.read(message);
    if (st.failed()) {
        return st;
    }
    const std::size_t body_start = st.consumed;
    const std::string_view body = message.substr(body_start);
    const content_type ct = parse_content_type(m_top.headers().content_type);
    auto shifted = [&](parse_status inner) {
        return inner.failed() ? parse_status::fail(inner.code, inner.offset + body_start) : inner;
    };
    if (is_delivery_report(ct)) {
        if (ct.boundary.empty() || ct.boundary.size() > max_boundary) {
            return parse_status::fail(parse_error::bad_syntax, 0);
        }
        m_report.kind = bounce_kind::delivery_status;
        st = shifted(read_report(body, ct.boundary));
        if (st.failed()) {
            return st;
        }
        return parse_status::done(message.size());
    }
    const std::string_view subject = trim(m_top.headers().subject);
    for (auto s : bounce_subjects) {
        if (istarts_with(subject, s)) {
            m_report.kind = bounce_kind::heuristic;
            find_probe_header_in_text(body);
            break;
        }
    }
    return parse_status::done(message.size());
}

parse_status dsn_reader::read_report(std::string_view body, std::string_view boundary)
{
    delimiter d = find_delimiter(body, boundary, 0);
    std::size_t parts = 0;
    while (d.line_start != std::string_view::npos && !d.close) {
        delimiter next = find_delimiter(body, boundary, d.content_start);
        // The CRLF before a delimiter belongs to the delimiter, not to the part.
        std::size_t end = next.line_start == std::string_view::npos ? body.size() : next.line_start - 2;
        if (end < d.content_start) {
            end = d.content_start;  // an empty part: its delimiters are adjacent
        }
        if (++parts > m_limits.max_parts) {
            return parse_status::fail(parse_error::too_many_items, d.line_start);
        }
        const std::string_view part = body.substr(d.content_start, end - d.content_start);
        parse_status st = read_part(part);
        if (st.failed()) {
            return parse_status::fail(st.code, st.offset + d.content_start);
        }
        d = next;
    }
    return parse_status::done(body.size());
}

parse_status dsn_reader::read_part(std::string_view part)
{
    parse_status st = m_part.read(part);
    if (st.failed()) {
        return st;
    }
    const content_type ct = parse_content_type(m_part.headers().content_type);
    const std::size_t content_start = st.consumed;
    const std::string_view content = part.substr(content_start);
    if (is_type(ct, "message", "delivery-status") || is_type(ct, "message", "global-delivery-status")) {
        st = read_delivery_status(content);
    } else if (is_type(ct, "message", "rfc822") || is_type(ct, "message", "global")
        || is_type(ct, "text", "rfc822-headers") || is_type(ct, "message", "global-headers")) {
        st = m_part.read(content);
        if (st.complete() && !m_report.probe_header) {
            m_report.probe_header = m_part.headers().probe_header;
        }
    }
    if (st.failed()) {
        return parse_status::fail(st.code, st.offset + content_start);
    }
    return parse_status::done(part.size());
}

parse_status dsn_reader::read_delivery_status(std::string_view content)
{
    std::size_t pos = 0;
    bool per_message = true;
    while (pos < content.size()) {
        // Blocks are separated by one empty line; tolerate more.
        if (content.substr(pos, 2) == "\r\n") {
            pos += 2;
            continue;
        }
        field_iterator it(content.substr(pos), m_limits.headers.max_fields);
        dsn_recipient r;
        bool any = false;
        while (auto f = it.next()) {
            any = true;
            if (per_message) {
                if (iequals(f->name, "Reporting-MTA")) {
                    m_report.reporting_mta = after_type(f->value);
                }
            } else if (iequals(f->name, "Final-Recipient")) {
                r.final_recipient = after_type(f->value);
            } else if (iequals(f->name, "Original-Recipient")) {
                r.original_recipient = after_type(f->value);
            } else if (iequals(f->name, "Action")) {
                r.action = f->value;
            } else if (iequals(f->name, "Status")) {
                r.status = f->value;
            } else if (iequals(f->name, "Diagnostic-Code")) {
                r.diagnostic_code = after_type(f->value);
            } else if (iequals(f->name, "Remote-MTA")) {
                r.remote_mta = after_type(f->value);
            }
        }
        parse_status st = it.status();
        if (st.failed()) {
            return parse_status::fail(st.code, st.offset + pos);
        }
        if (!per_message && any) {
            if (m_report.recipients.size() == m_limits.max_recipients) {
                return parse_status::fail(parse_error::too_many_items, pos);
            }
            m_report.recipients.push_back(r);
        }
        per_message = false;
        pos += st.consumed;
    }
    return parse_status::done(content.size());
}

void dsn_reader::find_probe_header_in_text(std::string_view body)
{
    for (std::size_t line = 0; line < body.size();) {
        std::size_t eol = body.find("\r\n", line);
        std::size_t next = eol == std::string_view::npos ? body.size() : eol + 2;
        if (istarts_with(body.substr(line), probe_header_name)
            && body.substr(line + probe_header_name.size(), 1) == ":") {
            field_iterator it(body.substr(line), 1);
            if (auto f = it.next()) {
                m_report.probe_header = f->value;
                return;
            }
        }
        line = next;
    }
}

} // namespace protocols::message
