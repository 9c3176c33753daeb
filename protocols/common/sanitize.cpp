#include "protocols/common/sanitize.h"

#include <fmt/format.h>

namespace protocols {
namespace {

// Length of the valid UTF-8 sequence at s[0], or 0 when it is not one (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence(std::string_view s) noexcept
{
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
    unsigned char c = b(0);
    if (c >= 0xC2 && c <= 0xDF) {
        return cont(1) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(1) || !cont(2)) {
            return 0;
        }
        if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F)) {
            return 0;
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(1) || !cont(2) || !cont(3)) {
            return 0;
        }
        if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

} // namespace

std::string printable(std::string_view text, std::size_t max_bytes)
{
    // Every input byte becomes exactly one output byte, so the output is as long as the input
    // and the cut can be decided up front.
    constexpr std::string_view ellipsis = "...";
    bool cut = text.size() > max_bytes;
    std::size_t limit = !cut ? text.size() : (max_bytes > ellipsis.size() ? max_bytes - ellipsis.size() : 0);
    std::string out;
    out.reserve(cut ? max_bytes : text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        std::size_t n = 1;
        bool keep = c >= 0x20 && c < 0x7F;
        if (c >= 0x80) {
            n = utf8_sequence(text.substr(i));
            keep = n != 0;
            n = keep ? n : 1;
        }
        if (out.size() + n > limit) {
            break;  // never leave half a UTF-8 sequence before the cut
        }
        if (keep) {
            out.append(text.substr(i, n));
        } else {
            out.push_back(c == '\r' || c == '\n' || c == '\t' ? ' ' : '?');
        }
        i += n;
    }
    if (cut) {
        out += ellipsis.substr(0, max_bytes - out.size());
    }
    return out;
}

std::string json_quoted(std::string_view text)
{
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

} // namespace protocols
