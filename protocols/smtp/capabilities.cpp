// EHLO keyword reader. RFC 5321 section 4.1.1.1:
//
//   ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//                  / ( "250-" Domain [ SP ehlo-greet ] CRLF
//                  *( "250-" ehlo-line CRLF )
//                  "250" SP ehlo-line CRLF )
//   ehlo-line    = ehlo-keyword *( SP ehlo-param )
//   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//   ehlo-param   = 1*(%d33-126)
//
// RFC 4954 section 3: "AUTH" SP sasl-mech *(SP sasl-mech); RFC 1870: "SIZE" [SP 1*DIGIT].
// Besides SP, the old "AUTH=" form splits the keyword from its first parameter with '='.
#include "protocols/smtp/capabilities.h"

#include <charconv>

namespace protocols::smtp {
namespace {

constexpr std::size_t max_other_auth = 16;
constexpr std::size_t max_mechanism_name = 20;

char upper(char c) noexcept
{
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view upper_b) noexcept
{
    if (a.size() != upper_b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (upper(a[i]) != upper_b[i]) {
            return false;
        }
    }
    return true;
}

// Splits off the next SP-separated token; tolerates runs of spaces and a tab.
std::string_view next_token(std::string_view& rest) noexcept
{
    std::size_t b = rest.find_first_not_of(" \t");
    if (b == std::string_view::npos) {
        rest = {};
        return {};
    }
    std::size_t e = rest.find_first_of(" \t", b);
    std::string_view token = rest.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e);
    return token;
}

// sasl-mech = 1*20mech-char; mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE (RFC 4422),
// compared case-insensitively because servers do send lower case.
bool is_mechanism_name(std::string_view s) noexcept
{
    if (s.empty() || s.size() > max_mechanism_name) {
        return false;
    }
    for (char c : s) {
        char u = upper(c);
        if (!((u >= 'A' && u <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

} // namespace

void capabilities::add_line(std::string_view ehlo_line)
{
    std::string_view rest = ehlo_line;
    std::string_view keyword = next_token(rest);
    if (std::size_t eq = keyword.find('='); eq != std::string_view::npos && iequals(keyword.substr(0, eq), "AUTH")) {
        // "AUTH=LOGIN PLAIN": the first mechanism hangs on the keyword.
        rest = ehlo_line.substr(static_cast<std::size_t>(keyword.data() - ehlo_line.data()) + eq + 1);
        keyword = keyword.substr(0, eq);
    }
    if (iequals(keyword, "STARTTLS")) {
        starttls = true;
    } else if (iequals(keyword, "PIPELINING")) {
        pipelining = true;
    } else if (iequals(keyword, "8BITMIME")) {
        eight_bit_mime = true;
    } else if (iequals(keyword, "SMTPUTF8")) {
        smtputf8 = true;
    } else if (iequals(keyword, "ENHANCEDSTATUSCODES")) {
        enhanced_status_codes = true;
    } else if (iequals(keyword, "CHUNKING")) {
        chunking = true;
    } else if (iequals(keyword, "DSN")) {
        dsn = true;
    } else if (iequals(keyword, "SIZE")) {
        size = true;
        std::string_view digits = next_token(rest);
        std::uint64_t limit = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), limit);
        // RFC 1870: 0 or no parameter means "no fixed maximum".
        if (!digits.empty() && ec == std::errc() && end == digits.data() + digits.size() && limit != 0) {
            max_size = limit;
        }
    } else if (iequals(keyword, "AUTH")) {
        for (std::string_view mech = next_token(rest); !mech.empty(); mech = next_token(rest)) {
            if (auto known = sasl::mechanism_from_name(mech)) {
                auth.add(*known);
                continue;
            }
            if (!is_mechanism_name(mech) || other_auth.size() == max_other_auth) {
                continue;
            }
            std::string name(mech);
            for (char& c : name) {
                c = upper(c);
            }
            bool seen = false;
            for (const std::string& o : other_auth) {
                seen = seen || o == name;
            }
            if (!seen) {
                other_auth.push_back(std::move(name));
            }
        }
    }
}

capabilities capabilities::from_ehlo(const reply_parser& reply)
{
    capabilities caps;
    for (std::size_t i = 1; i < reply.line_count(); ++i) {
        caps.add_line(reply.line(i));
    }
    return caps;
}

} // namespace protocols::smtp
