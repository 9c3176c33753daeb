// Modified UTF-7 (RFC 3501 section 5.1.3):
//
//   "&" 1*B64CHAR "-"   a shift: UTF-16BE code units in base64 with "," for "/", no padding
//   "&-"                a literal "&"
//   0x20-0x25, 0x27-0x7e   represent themselves and must not be shifted
//
// "the modified BASE64 MUST NOT be used to represent any printing US-ASCII character which
// can represent itself"; and a shift ends as soon as direct characters follow, so two shifts
// back to back ("&AOk-&AOk-") are not the minimal encoding and are refused too.
#include "protocols/imap/mutf7.h"

#include <array>
#include <cstdint>

namespace protocols::imap {

namespace {

constexpr char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

constexpr std::array<std::int8_t, 256> make_b64_values()
{
    std::array<std::int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) {
        t[static_cast<unsigned char>(b64_chars[i])] = static_cast<std::int8_t>(i);
    }
    return t;
}

constexpr std::array<std::int8_t, 256> b64_values = make_b64_values();

bool is_direct(std::uint32_t c) noexcept
{
    return c >= 0x20 && c <= 0x7e;
}

void append_utf8(std::uint32_t cp, std::string& out)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// Decodes the base64 run of one shift (between "&" and "-") into `out`.
bool decode_shift(std::string_view run, std::string& out)
{
    std::uint32_t bits = 0;
    int nbits = 0;
    std::uint32_t high = 0; // pending high surrogate
    for (char ch : run) {
        std::int8_t v = b64_values[static_cast<unsigned char>(ch)];
        if (v < 0) {
            return false;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        nbits += 6;
        if (nbits < 16) {
            continue;
        }
        nbits -= 16;
        std::uint32_t unit = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        if (high != 0) {
            if (unit < 0xdc00 || unit > 0xdfff) {
                return false;
            }
            append_utf8(0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00), out);
            high = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
            high = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return false;
        } else if (is_direct(unit)) {
            return false;
        } else {
            append_utf8(unit, out);
        }
    }
    // Leftover bits must be fewer than one base64 character's worth and all zero.
    return high == 0 && nbits < 6 && bits == 0;
}

// Reads one UTF-8 sequence at `i`; nullopt if invalid.
std::optional<std::uint32_t> next_code_point(std::string_view s, std::size_t& i)
{
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
        return std::nullopt;
    }
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xc0) != 0x80) {
            return std::nullopt;
        }
        cp = (cp << 6) | (b(i + k) & 0x3fu);
    }
    static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return std::nullopt;
    }
    i += len;
    return cp;
}

void flush_shift(const std::u16string& units, std::string& out)
{
    out += '&';
    std::uint32_t bits = 0;
    int nbits = 0;
    for (char16_t u : units) {
        bits = (bits << 16) | u;
        nbits += 16;
        while (nbits >= 6) {
            nbits -= 6;
            out += b64_chars[(bits >> nbits) & 0x3f];
        }
        bits &= (1u << nbits) - 1;
    }
    if (nbits > 0) {
        out += b64_chars[(bits << (6 - nbits)) & 0x3f];
    }
    out += '-';
}

} // namespace

std::optional<std::string> mutf7_decode(std::string_view name)
{
    std::string out;
    out.reserve(name.size());
    bool after_shift = false;
    for (std::size_t i = 0; i < name.size();) {
        const char c = name[i];
        if (!is_direct(static_cast<unsigned char>(c))) {
            return std::nullopt;
        }
        if (c != '&') {
            out += c;
            after_shift = false;
            ++i;
            continue;
        }
        std::size_t end = name.find('-', i + 1);
        if (end == std::string_view::npos) {
            return std::nullopt;
        }
        if (end == i + 1) {
            out += '&';
            after_shift = false;
        } else {
            if (after_shift || !decode_shift(name.substr(i + 1, end - i - 1), out)) {
                return std::nullopt;
            }
            after_shift = true;
        }
        i = end + 1;
    }
    return out;
}

std::optional<std::string> mutf7_encode(std::string_view utf8)
{
    std::string out;
    std::u16string pending;
    for (std::size_t i = 0; i < utf8.size();) {
        auto cp = next_code_point(utf8, i);
        if (!cp) {
            return std::nullopt;
        }
        if (is_direct(*cp)) {
            if (!pending.empty()) {
                flush_shift(pending, out);
                pending.clear();
            }
            out += static_cast<char>(*cp);
            if (*cp == '&') {
                out += '-';
            }
        } else if (*cp < 0x10000) {
            pending += static_cast<char16_t>(*cp);
        } else {
            std::uint32_t v = *cp - 0x10000;
            pending += static_cast<char16_t>(0xd800 + (v >> 10));
            pending += static_cast<char16_t>(0xdc00 + (v & 0x3ff));
        }
    }
    if (!pending.empty()) {
        flush_shift(pending, out);
    }
    return out;
}

} // namespace protocols::imap
