// Writing, parsing and verifying the X-Mailprobe field (see probe_header.h).
#include "protocols/message/probe_header.h"

#include "protocols/message/field_lexer.h"

#include <fmt/format.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>

namespace protocols::message {
namespace {

constexpr std::size_t mac_size = 32;
constexpr std::size_t mac_text_size = 43;  // ceil(32 * 8 / 6), unpadded
constexpr std::size_t max_time_digits = 15;
constexpr char base64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using mac_text = std::array<char, mac_text_size>;

bool is_base64url_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

mac_text compute_mac(const probe_stamp& stamp, const mac_key& key) noexcept
{
    // Bounded by the field limits (7 + 36 + 3 + 64 + 3 + 20), so the inline buffer never
    // reaches the heap.
    fmt::memory_buffer canonical;
    auto id = stamp.id.text();
    fmt::format_to(std::back_inserter(canonical), "v=1;id={};p={};t={}",
        std::string_view(id.data(), id.size()), stamp.probe_name, stamp.sent_unix_ms);
    std::array<std::uint8_t, mac_size> mac{};
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), key.bytes().data(), key.bytes().size(),
        reinterpret_cast<const std::uint8_t*>(canonical.data()), canonical.size(), mac.data(), &mac_len);
    mac_text out{};
    std::size_t o = 0;
    for (std::size_t i = 0; i < mac_size; i += 3) {
        std::uint32_t group = static_cast<std::uint32_t>(mac[i]) << 16;
        std::size_t chars = 2;
        if (i + 1 < mac_size) {
            group |= static_cast<std::uint32_t>(mac[i + 1]) << 8;
            ++chars;
        }
        if (i + 2 < mac_size) {
            group |= mac[i + 2];
            ++chars;
        }
        for (std::size_t c = 0; c < chars; ++c) {
            out[o++] = base64url_alphabet[(group >> (18 - 6 * c)) & 0x3F];
        }
    }
    return out;
}

std::optional<std::uint64_t> parse_time(std::string_view s) noexcept
{
    if (s.empty() || s.size() > max_time_digits || (s.size() > 1 && s[0] == '0')) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return v;
}

struct parsed_header {
    header_problem problem = header_problem::none;
    probe_stamp stamp;
    std::string_view mac;
};

parsed_header parse(std::string_view value) noexcept
{
    parsed_header out;
    auto fail = [&](header_problem p) {
        out.problem = p;
        return out;
    };
    enum : unsigned { seen_v = 1, seen_id = 2, seen_p = 4, seen_t = 8, seen_mac = 16, seen_all = 31 };
    unsigned seen = 0;
    field_lexer lex(value);
    for (;;) {
        token tag = lex.next_skipping_comments();
        if (tag.kind == token_kind::end && seen != 0) {
            break;  // after a trailing ";"
        }
        token eq = lex.next_skipping_comments();
        token val = lex.next_skipping_comments();
        if (tag.kind != token_kind::word || eq.kind != token_kind::special || eq.text != "="
            || val.kind != token_kind::word) {
            return fail(header_problem::bad_syntax);
        }
        auto mark = [&](unsigned bit) {
            bool duplicate = (seen & bit) != 0;
            seen |= bit;
            return !duplicate;
        };
        if (tag.text == "v") {
            if (!mark(seen_v)) {
                return fail(header_problem::duplicate_tag);
            }
            if (val.text != "1") {
                return fail(header_problem::bad_version);
            }
        } else if (tag.text == "id") {
            if (!mark(seen_id)) {
                return fail(header_problem::duplicate_tag);
            }
            auto id = probe_id::parse(val.text);
            if (!id) {
                return fail(header_problem::bad_id);
            }
            out.stamp.id = *id;
        } else if (tag.text == "p") {
            if (!mark(seen_p)) {
                return fail(header_problem::duplicate_tag);
            }
            if (!is_valid_probe_name(val.text)) {
                return fail(header_problem::bad_probe_name);
            }
            out.stamp.probe_name = val.text;
        } else if (tag.text == "t") {
            if (!mark(seen_t)) {
                return fail(header_problem::duplicate_tag);
            }
            auto t = parse_time(val.text);
            if (!t) {
                return fail(header_problem::bad_time);
            }
            out.stamp.sent_unix_ms = *t;
        } else if (tag.text == "mac") {
            if (!mark(seen_mac)) {
                return fail(header_problem::duplicate_tag);
            }
            if (val.text.size() != mac_text_size) {
                return fail(header_problem::bad_mac);
            }
            for (char c : val.text) {
                if (!is_base64url_char(c)) {
                    return fail(header_problem::bad_mac);
                }
            }
            out.mac = val.text;
        } else {
            return fail(header_problem::unknown_tag);
        }
        token sep = lex.next_skipping_comments();
        if (sep.kind == token_kind::end) {
            break;
        }
        if (sep.kind != token_kind::special || sep.text != ";") {
            return fail(header_problem::bad_syntax);
        }
    }
    if (seen != seen_all) {
        return fail(header_problem::missing_tag);
    }
    return out;
}

} // namespace

bool is_valid_probe_name(std::string_view name) noexcept
{
    if (name.empty() || name.size() > max_probe_name) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
            || c == '_' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::optional<mac_key> mac_key::from_bytes(std::span<const std::uint8_t> bytes) noexcept
{
    if (bytes.size() < min_size || bytes.size() > max_size) {
        return std::nullopt;
    }
    mac_key key;
    std::copy(bytes.begin(), bytes.end(), key.m_bytes.begin());
    key.m_size = bytes.size();
    return key;
}

std::string format_probe_header(const probe_stamp& stamp, const mac_key& key)
{
    auto id = stamp.id.text();
    auto mac = compute_mac(stamp, key);
    // Three lines, each under 78 characters even with a 64-character name:
    // "X-Mailprobe: v=1; id=<36>;" (58), " p=<64>;" (68), " t=<15>; mac=<43>" (67).
    return fmt::format(" v=1; id={};\r\n p={};\r\n t={}; mac={}", std::string_view(id.data(), id.size()),
        stamp.probe_name, stamp.sent_unix_ms, std::string_view(mac.data(), mac.size()));
}

std::string_view describe(header_problem p) noexcept
{
    switch (p) {
    case header_problem::none: return "no problem";
    case header_problem::bad_syntax: return "not a list of tag=value pairs";
    case header_problem::unknown_tag: return "unknown tag";
    case header_problem::duplicate_tag: return "tag given twice";
    case header_problem::missing_tag: return "required tag missing";
    case header_problem::bad_version: return "unsupported version";
    case header_problem::bad_id: return "id is not a canonical UUIDv7";
    case header_problem::bad_probe_name: return "probe name outside the allowed characters or length";
    case header_problem::bad_time: return "send time is not a plain decimal number";
    case header_problem::bad_mac: return "mac is not 43 base64url characters";
    case header_problem::duplicate_header: return "more than one X-Mailprobe field";
    }
    return "unknown problem";
}

header_check verify_probe_header(std::optional<std::string_view> value, const mac_key& key) noexcept
{
    header_check check;
    if (!value) {
        return check;
    }
    parsed_header parsed = parse(*value);
    if (parsed.problem != header_problem::none) {
        check.verdict = header_verdict::malformed;
        check.problem = parsed.problem;
        return check;
    }
    mac_text expected = compute_mac(parsed.stamp, key);
    if (CRYPTO_memcmp(expected.data(), parsed.mac.data(), mac_text_size) != 0) {
        check.verdict = header_verdict::forged;
        return check;
    }
    check.verdict = header_verdict::ours;
    check.stamp = parsed.stamp;
    return check;
}

} // namespace protocols::message
