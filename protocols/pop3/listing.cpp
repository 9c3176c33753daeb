// Interpreters for POP3 reply contents: see listing.h for the contract.
//
// RFC 1939 section 5 (STAT, LIST) and section 7 (UIDL), in ABNF:
//
//   drop-listing   = count SP octets [SP *CHAR]   ; "no requirement on what follows"
//   scan-listing   = msg SP octets [SP *CHAR]
//   uid-listing    = msg SP unique-id
//   unique-id      = 1*70(%x21-7E)
//   msg            = 1*DIGIT                      ; message numbers start at 1
//
// RFC 2449 section 9:
//
//   capa-resp      = single-line *capability "." CRLF
//   capability     = capa-tag *(SP param) CRLF    ; 512 octets maximum
//   capa-tag       = 1*cchar
//   param          = 1*pchar
//   cchar          = %x21-2D / %x2F-7F            ; printable ASCII, excluding "."
//   pchar          = %x21-7F                      ; printable ASCII
//   greeting       = "+OK" [resp-code] *gchar [timestamp] *gchar CRLF
//   timestamp      = "<" *VCHAR ">"               ; MUST conform to RFC-822 msg-id
//   gchar          = %x21-3B / %x3D-7F            ; printable ASCII, excluding "<"
//
// Since gchar excludes "<", the first "<" of a greeting starts the timestamp. RFC 822's
// msg-id is "<" addr-spec ">", so the timestamp must hold an "@" between non-empty parts.
#include "protocols/pop3/listing.h"

#include <algorithm>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace protocols::pop3 {

namespace {

struct number_field {
    std::uint64_t value;
    std::size_t length;  // digits read
    bool ok;             // at least one digit and no larger than the maximum
};

// 1*DIGIT at the start of `s`, no larger than `max`. Overflow is caught with the builtins
// rather than a division per digit, which would dominate the cost of a listing line.
number_field leading_number(std::string_view s, std::uint64_t max) noexcept
{
    std::uint64_t value = 0;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        const unsigned digit = static_cast<unsigned char>(s[i]) - unsigned{'0'};
        if (digit > 9) {
            break;
        }
        if (__builtin_mul_overflow(value, 10u, &value) || __builtin_add_overflow(value, digit, &value)
            || value > max) {
            return {0, i, false};
        }
    }
    return {value, i, i != 0};
}

// A message number: 1 to 11 digits, up to 4294967295 (a 12th digit is left unread, so the
// caller sees a bad separator). Eleven digits cannot overflow 64 bits, so the range check
// waits until the end; this keeps the per-digit chain short on the UIDL hot path.
[[gnu::always_inline]] inline number_field leading_msgno(std::string_view s) noexcept
{
    std::uint64_t value = 0;
    std::size_t i = 0;
    const std::size_t n = std::min<std::size_t>(s.size(), 11);
    for (; i < n; ++i) {
        const unsigned digit = static_cast<unsigned char>(s[i]) - unsigned{'0'};
        if (digit > 9) {
            break;
        }
        value = value * 10 + digit;
    }
    const bool ok = i != 0 && value <= std::numeric_limits<std::uint32_t>::max();
    return {ok ? value : 0, i, ok};
}

struct number_pair {
    std::uint64_t first = 0;
    std::uint64_t second = 0;
    listing_error error = listing_error::none;
};

// first SP second [SP *CHAR]
number_pair parse_number_pair(std::string_view text, bool first_may_be_zero) noexcept
{
    if (text.empty()) {
        return {0, 0, listing_error::missing_field};
    }
    const number_field first = leading_msgno(text);
    if (!first.ok || (!first_may_be_zero && first.value == 0)) {
        return {0, 0, listing_error::bad_number};
    }
    if (first.length == text.size()) {
        return {0, 0, listing_error::missing_field};
    }
    if (text[first.length] != ' ') {
        return {0, 0, listing_error::bad_number};
    }
    const std::string_view rest = text.substr(first.length + 1);
    if (rest.empty()) {
        return {0, 0, listing_error::missing_field};
    }
    const number_field second = leading_number(rest, std::numeric_limits<std::uint64_t>::max());
    if (!second.ok || (second.length < rest.size() && rest[second.length] != ' ')) {
        return {0, 0, listing_error::bad_number};
    }
    return {first.value, second.value, listing_error::none};
}

// unique-id characters, %x21-7E. UIDL listings are the hot path, so 16 bytes are checked at
// once; a last partial block is checked by reloading the final 16 bytes, never past the end.
bool all_uid_chars(std::string_view uid) noexcept
{
    const char* p = uid.data();
    const std::size_t n = uid.size();
#if defined(__SSE2__)
    if (n >= 16) {
        // Signed compares: bytes >= 0x80 are negative and fail "> 0x20".
        const __m128i low = _mm_set1_epi8(0x20);
        const __m128i high = _mm_set1_epi8(0x7F);
        auto good = [&](const char* at) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
            const __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(v, low), _mm_cmplt_epi8(v, high));
            return _mm_movemask_epi8(ok) == 0xFFFF;
        };
        for (std::size_t i = 0; i + 16 <= n; i += 16) {
            if (!good(p + i)) {
                return false;
            }
        }
        return good(p + n - 16);
    }
#endif
    bool ok = true;
    for (std::size_t i = 0; i < n; ++i) {
        ok &= static_cast<unsigned char>(static_cast<unsigned char>(p[i]) - 0x21) < 0x5E;
    }
    return ok;
}

constexpr bool is_cchar(unsigned char c) noexcept
{
    return c >= 0x21 && c <= 0x7F && c != '.';
}

constexpr bool is_pchar(unsigned char c) noexcept
{
    return c >= 0x21 && c <= 0x7F;
}

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]);
        auto y = static_cast<unsigned char>(b[i]);
        if (x >= 'a' && x <= 'z') {
            x = static_cast<unsigned char>(x - 'a' + 'A');
        }
        if (y >= 'a' && y <= 'z') {
            y = static_cast<unsigned char>(y - 'a' + 'A');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

// *(SP param), already checked: splits on single spaces.
std::vector<std::string_view> split_params(std::string_view params)
{
    std::vector<std::string_view> out;
    while (!params.empty()) {
        params.remove_prefix(1);  // SP
        const std::size_t end = std::min(params.find(' '), params.size());
        out.push_back(params.substr(0, end));
        params.remove_prefix(end);
    }
    return out;
}

// *(SP param), where `params` starts at the space after the tag: every space must be
// followed by a pchar.
bool valid_params(std::string_view params) noexcept
{
    for (std::size_t i = 0; i < params.size(); ++i) {
        const auto c = static_cast<unsigned char>(params[i]);
        if (c == ' ') {
            if (i + 1 == params.size() || params[i + 1] == ' ') {
                return false;
            }
        } else if (!is_pchar(c)) {
            return false;
        }
    }
    return true;
}

// number [SP "USER"], the arguments of EXPIRE and LOGIN-DELAY; `never` allows "NEVER".
struct policy_args {
    bool ok = false;
    bool never = false;
    std::uint32_t value = 0;
    bool per_user = false;
};

policy_args read_policy(const std::vector<std::string_view>& params, bool never_allowed) noexcept
{
    policy_args out;
    if (params.empty() || params.size() > 2) {
        return out;
    }
    if (params.size() == 2) {
        if (!equals_ignore_case(params[1], "USER")) {
            return out;
        }
        out.per_user = true;
    }
    if (never_allowed && equals_ignore_case(params[0], "NEVER")) {
        out.never = true;
        out.ok = true;
        return out;
    }
    const number_field n = leading_number(params[0], std::numeric_limits<std::uint32_t>::max());
    if (!n.ok || n.length != params[0].size()) {
        return out;
    }
    out.value = static_cast<std::uint32_t>(n.value);
    out.ok = true;
    return out;
}

// Applies one capability line; false when it breaks the grammar.
bool read_capability(capabilities& caps, std::string_view line)
{
    const std::size_t tag_end = std::min(line.find(' '), line.size());
    const std::string_view tag = line.substr(0, tag_end);
    if (tag.empty()) {
        return false;
    }
    for (char c : tag) {
        if (!is_cchar(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    const std::string_view rest = line.substr(tag_end);
    if (equals_ignore_case(tag, "IMPLEMENTATION")) {
        // Free text for humans; held to no grammar beyond the reply parser's.
        if (rest.size() < 2) {
            return false;
        }
        caps.implementation.assign(rest.substr(1));
        return true;
    }
    if (!valid_params(rest)) {
        return false;
    }
    struct flag {
        std::string_view name;
        bool capabilities::*member;
    };
    static constexpr flag flags[] = {
        {"TOP", &capabilities::top},
        {"UIDL", &capabilities::uidl},
        {"USER", &capabilities::user},
        {"STLS", &capabilities::stls},
        {"PIPELINING", &capabilities::pipelining},
        {"RESP-CODES", &capabilities::resp_codes},
        {"AUTH-RESP-CODE", &capabilities::auth_resp_code},
    };
    for (const flag& f : flags) {
        if (equals_ignore_case(tag, f.name)) {
            // Arguments are ignored: RFC 2449 defines none, and a later extension may add some.
            caps.*f.member = true;
            return true;
        }
    }
    const std::vector<std::string_view> params = split_params(rest);
    if (equals_ignore_case(tag, "SASL")) {
        if (params.empty()) {
            return false;
        }
        caps.sasl = true;
        for (std::string_view mechanism : params) {
            caps.sasl_mechanisms.emplace_back(mechanism);
        }
        return true;
    }
    if (equals_ignore_case(tag, "EXPIRE")) {
        const policy_args p = read_policy(params, true);
        if (p.ok) {
            caps.expire = expire_policy{p.never, p.value, p.per_user};
        }
        return p.ok;
    }
    if (equals_ignore_case(tag, "LOGIN-DELAY")) {
        const policy_args p = read_policy(params, false);
        if (p.ok) {
            caps.login_delay = login_delay_policy{p.value, p.per_user};
        }
        return p.ok;
    }
    return true;  // unknown capabilities are ignored (RFC 2449 section 5)
}

} // namespace

drop_listing parse_drop_listing(std::string_view text) noexcept
{
    const number_pair p = parse_number_pair(text, true);
    return {static_cast<std::uint32_t>(p.first), p.second, p.error};
}

scan_listing parse_scan_listing(std::string_view line) noexcept
{
    const number_pair p = parse_number_pair(line, false);
    return {static_cast<std::uint32_t>(p.first), p.second, p.error};
}

uid_listing parse_uid_listing(std::string_view line) noexcept
{
    if (line.empty()) {
        return {0, {}, listing_error::missing_field};
    }
    const number_field msgno = leading_msgno(line);
    if (!msgno.ok || msgno.value == 0) {
        return {0, {}, listing_error::bad_number};
    }
    if (msgno.length == line.size()) {
        return {0, {}, listing_error::missing_field};
    }
    if (line[msgno.length] != ' ') {
        return {0, {}, listing_error::bad_number};
    }
    const std::string_view uid = line.substr(msgno.length + 1);
    if (uid.empty()) {
        return {0, {}, listing_error::missing_field};
    }
    if (uid.size() > 70) {
        return {0, {}, listing_error::uid_too_long};
    }
    if (!all_uid_chars(uid)) {
        return {0, {}, listing_error::bad_uid};
    }
    return {static_cast<std::uint32_t>(msgno.value), uid, listing_error::none};
}

bool capabilities::has_sasl_mechanism(std::string_view mechanism) const noexcept
{
    for (const std::string& m : sasl_mechanisms) {
        if (equals_ignore_case(m, mechanism)) {
            return true;
        }
    }
    return false;
}

capabilities parse_capabilities(const body_lines& lines)
{
    capabilities caps;
    std::size_t number = 0;
    for (std::string_view line : lines) {
        ++number;
        if (!read_capability(caps, line) && caps.error == listing_error::none) {
            caps.error = listing_error::bad_capability;
            caps.error_line = number;
        }
    }
    return caps;
}

apop_timestamp find_apop_timestamp(std::string_view greeting_text) noexcept
{
    const std::size_t open = greeting_text.find('<');
    if (open == std::string_view::npos) {
        return {{}, listing_error::no_timestamp};
    }
    const std::size_t close = greeting_text.find('>', open);
    if (close == std::string_view::npos) {
        return {{}, listing_error::bad_timestamp};
    }
    const std::string_view inner = greeting_text.substr(open + 1, close - open - 1);
    const std::size_t at = inner.find('@');
    if (at == 0 || at == std::string_view::npos || at + 1 == inner.size()) {
        return {{}, listing_error::bad_timestamp};
    }
    for (char c : inner) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7E || u == '<') {
            return {{}, listing_error::bad_timestamp};
        }
    }
    return {greeting_text.substr(open, close - open + 1), listing_error::none};
}

} // namespace protocols::pop3
