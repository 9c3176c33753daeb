// Lays out the probe message (see builder.h).
#include "protocols/message/builder.h"

#include "protocols/message/date_time.h"

#include <fmt/format.h>

namespace protocols::message {
namespace {

constexpr std::size_t max_line = 77;  // characters before CRLF; RFC 5322 2.1.1 asks for < 78

bool is_atext(char c) noexcept
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return true;
    }
    constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
    return specials.find(c) != std::string_view::npos;
}

bool is_dot_atom(std::string_view s) noexcept
{
    if (s.empty() || s.front() == '.' || s.back() == '.') {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') {
                return false;
            }
        } else if (!is_atext(s[i])) {
            return false;
        }
    }
    return true;
}

// Appends "Name: value" folded at spaces so that every line stays within max_line.
// False if a single word cannot fit on a continuation line.
bool append_field(std::string& out, std::string_view name, std::string_view value)
{
    std::size_t line_start = out.size();
    out += name;
    out += ':';
    while (!value.empty()) {
        std::size_t space = value.find(' ');
        std::string_view word = value.substr(0, space);
        value = space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
        if (out.size() - line_start + 1 + word.size() > max_line) {
            out += "\r\n";
            line_start = out.size();
            if (1 + word.size() > max_line) {
                return false;
            }
        }
        out += ' ';
        out += word;
    }
    out += "\r\n";
    return true;
}

} // namespace

bool is_ldh_domain(std::string_view domain) noexcept
{
    if (domain.empty() || domain.size() > 253) {
        return false;
    }
    std::size_t label_start = 0;
    for (std::size_t i = 0; i <= domain.size(); ++i) {
        if (i == domain.size() || domain[i] == '.') {
            std::string_view label = domain.substr(label_start, i - label_start);
            if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
                return false;
            }
            label_start = i + 1;
            continue;
        }
        char c = domain[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_plain_address(std::string_view address) noexcept
{
    auto at = address.rfind('@');
    if (at == std::string_view::npos || address.size() > 254) {
        return false;
    }
    return is_dot_atom(address.substr(0, at)) && is_ldh_domain(address.substr(at + 1));
}

std::string_view describe(build_error e) noexcept
{
    switch (e) {
    case build_error::none: return "no error";
    case build_error::bad_from: return "From is not a plain local@domain address";
    case build_error::bad_to: return "To is not a plain local@domain address";
    case build_error::bad_domain: return "Message-ID domain is not a host name";
    case build_error::bad_probe_name: return "probe name outside the allowed characters or length";
    case build_error::bad_offset: return "UTC offset beyond 18 hours";
    case build_error::line_too_long: return "a field does not fit in lines under 78 characters";
    }
    return "unknown build error";
}

built_message build_message(const message_spec& spec, const mac_key& key)
{
    built_message result;
    auto fail = [&](build_error e) {
        result.error = e;
        result.text.clear();
        return result;
    };
    if (!is_plain_address(spec.from)) {
        return fail(build_error::bad_from);
    }
    if (!is_plain_address(spec.to)) {
        return fail(build_error::bad_to);
    }
    std::string_view domain = spec.message_id_domain;
    if (domain.empty()) {
        domain = spec.from.substr(spec.from.rfind('@') + 1);
    }
    if (!is_ldh_domain(domain)) {
        return fail(build_error::bad_domain);
    }
    if (!is_valid_probe_name(spec.probe_name)) {
        return fail(build_error::bad_probe_name);
    }
    if (spec.utc_offset_minutes > max_utc_offset_minutes || spec.utc_offset_minutes < -max_utc_offset_minutes) {
        return fail(build_error::bad_offset);
    }
    const std::string id = spec.id.to_string();
    const std::string date = format_date_time(static_cast<std::int64_t>(spec.sent_unix_ms), spec.utc_offset_minutes);
    std::string& out = result.text;
    out.reserve(1024);
    const bool fits = append_field(out, "Date", date)
        && append_field(out, "From", spec.from)
        && append_field(out, "To", spec.to)
        && append_field(out, "Subject", fmt::format("mailprobe test {} {}", spec.probe_name, id))
        && append_field(out, "Message-ID", fmt::format("<{}@{}>", id, domain))
        && append_field(out, "MIME-Version", "1.0")
        && append_field(out, "Content-Type", "text/plain; charset=utf-8")
        && append_field(out, "Content-Transfer-Encoding", "7bit");
    if (!fits) {
        return fail(build_error::line_too_long);
    }
    out += probe_header_name;
    out += ':';
    out += format_probe_header(probe_stamp{spec.id, spec.probe_name, spec.sent_unix_ms}, key);
    out += "\r\n\r\n";
    out += "This is an automatic test message from mailprobe, a monitor that\r\n"
           "checks that e-mail is delivered end to end. It needs no reply and\r\n"
           "can be deleted.\r\n"
           "\r\n";
    fmt::format_to(std::back_inserter(out), "Probe: {}\r\nProbe id: {}\r\nSent: {}\r\n", spec.probe_name, id, date);
    return result;
}

} // namespace protocols::message
