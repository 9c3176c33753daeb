// IMAP4 response framing and tokenizing. The grammar implemented (RFC 9051 section 9, which
// keeps RFC 3501's shape; productions not listed are scanned generically as tokens):
//
//   response        = *(continue-req / response-data) response-done
//   continue-req    = "+" SP (resp-text / base64) CRLF
//   response-data   = "*" SP (resp-cond-state / resp-cond-bye / mailbox-data /
//                     message-data / capability-data / enable-data) CRLF
//   response-tagged = tag SP resp-cond-state CRLF
//   resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
//   resp-cond-bye   = "BYE" SP resp-text
//   resp-cond-auth  = ("OK" / "PREAUTH") SP resp-text
//   resp-text       = ["[" resp-text-code "]" SP] [text]
//   resp-text-code  = ... / atom [SP 1*<any TEXT-CHAR except "]">]
//   message-data    = nz-number SP ("EXPUNGE" / ("FETCH" SP msg-att))
//   tag             = 1*<any ASTRING-CHAR except "+">
//   string          = quoted / literal
//   quoted          = DQUOTE *QUOTED-CHAR DQUOTE
//   QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials / UTF8-2..4
//   literal         = "{" number64 ["+"] "}" CRLF *CHAR8
//   literal8        = "~{" number64 "}" CRLF *OCTET
//   atom            = 1*ATOM-CHAR
//   ATOM-CHAR       = <any CHAR except atom-specials>
//   atom-specials   = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
//   section         = "[" [section-spec] "]"        ; after BODY, may hold SP and a list
//
// Data tokens (after the response name) are read generically: atoms (also flags, "]", list
// wildcards and BODY[...]<n> item names), numbers, NIL, strings and nested lists, each
// separated by one SP. "A1 OK" and "+" without the SP and text, and doubled or trailing
// spaces, are accepted only with lenient_whitespace.
#include "protocols/imap/response_parser.h"

#include <algorithm>
#include <array>

namespace protocols::imap {

namespace {

enum char_class : std::uint8_t {
    c_atom = 1,    // may appear in a generic data atom (ASTRING-CHAR plus "%" "*" "\")
    c_text = 2,    // TEXT-CHAR: anything but CR, LF and NUL
    c_digit = 4,
    c_control = 8, // CTL other than what a state handles itself
};

constexpr std::array<std::uint8_t, 256> make_classes()
{
    std::array<std::uint8_t, 256> t{};
    for (int c = 0; c < 256; ++c) {
        std::uint8_t v = 0;
        if (c != 0 && c != '\r' && c != '\n') {
            v |= c_text;
        }
        if (c < 0x20 || c == 0x7f) {
            v |= c_control;
        }
        if (c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"') {
            v |= c_atom;
        }
        if (c >= '0' && c <= '9') {
            v |= c_digit;
        }
        t[static_cast<std::size_t>(c)] = v;
    }
    return t;
}

constexpr std::array<std::uint8_t, 256> classes = make_classes();

inline bool is(char c, char_class k) noexcept
{
    return (classes[static_cast<unsigned char>(c)] & k) != 0;
}

bool is_condition(std::string_view word, bool tagged) noexcept
{
    if (iequals(word, "OK") || iequals(word, "NO") || iequals(word, "BAD")) {
        return true;
    }
    return !tagged && (iequals(word, "BYE") || iequals(word, "PREAUTH"));
}

bool all_digits(std::string_view s) noexcept
{
    return std::all_of(s.begin(), s.end(), [](char c) { return is(c, c_digit); });
}

} // namespace

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i];
        char y = b[i];
        if (x >= 'a' && x <= 'z') {
            x = static_cast<char>(x - 'a' + 'A');
        }
        if (y >= 'a' && y <= 'z') {
            y = static_cast<char>(y - 'a' + 'A');
        }
        if (x != y) {
            return false;
        }
    }
    return true;
}

void append_unquoted(std::string_view quoted_content, std::string& out)
{
    for (std::size_t i = 0; i < quoted_content.size(); ++i) {
        char c = quoted_content[i];
        if (c == '\\' && i + 1 < quoted_content.size()) {
            c = quoted_content[++i];
        }
        out += c;
    }
}

std::string_view response::span_view(std::size_t first, std::size_t last) const noexcept
{
    std::size_t from = m_tokens[first].offset;
    std::size_t to = m_tokens[last].offset + m_tokens[last].length;
    return m_buffer.substr(from, to - from);
}

std::size_t response::skip(std::size_t i) const noexcept
{
    if (m_tokens[i].type != token_type::list_begin) {
        return i + 1;
    }
    std::uint32_t depth = m_tokens[i].depth;
    for (std::size_t j = i + 1; j < m_tokens.size(); ++j) {
        if (m_tokens[j].type == token_type::list_end && m_tokens[j].depth == depth) {
            return j + 1;
        }
    }
    return m_tokens.size();
}

// Each state names the production it is inside of.
enum class response_parser::state : std::uint8_t {
    start,          // first byte: "+", "*" or a tag
    tag,            // tag
    after_star,     // "*" SP
    untagged_first, // a cond word, a response name, or nz-number of message-data
    message_number, // nz-number SP
    response_name,  // the atom naming the data (EXISTS, FETCH, LIST, CAPABILITY, ...)
    condition,      // OK / NO / BAD (/ BYE / PREAUTH when untagged)
    after_plus,     // "+" SP
    resp_text,      // "[" resp-text-code "]" or text
    code_name,      // resp-text-code atom
    code_args,      // 1*<any TEXT-CHAR except "]">
    after_code,     // "]" SP
    text,           // text until CRLF
    data_token,     // one generic token (after SP or "(")
    atom,           // atom / number / NIL / flag / BODY[...]
    section,        // the bracketed part of BODY[...], which may hold SP and lists
    section_quoted, // a quoted header field name inside a section
    quoted,         // quoted
    literal_size,   // "{" number64 or "~{" number64
    literal_close,  // ["+"] "}"
    literal_crlf,   // CRLF after the literal announcement
    literal_data,   // n raw bytes
    data_after,     // SP, ")" or CRLF after a token
    line_end,       // CRLF that ends the response
};

response_parser::response_parser(parser_limits limits) : m_limits(limits), m_state(state::start)
{
}

void response_parser::reset() noexcept
{
    m_tokens.clear();
    m_pos = 0;
    m_token_start = 0;
    m_line_start = 0;
    m_literal_size = 0;
    m_depth = 0;
    m_kind = response_kind::untagged;
    m_state = state::start;
    m_literal8 = false;
    m_finished = false;
    m_consumed = 0;
}

response response_parser::result(std::string_view buffer) const noexcept
{
    return response(buffer.substr(0, m_consumed), m_tokens, m_kind);
}

parse_status response_parser::fail(parse_error e, std::size_t at) noexcept
{
    m_finished = true;
    return parse_status::fail(e, at);
}

bool response_parser::push(token_type type, std::size_t offset, std::size_t length) noexcept
{
    if (m_tokens.size() >= m_limits.max_items) {
        return false;
    }
    // Growth of the reused vector may allocate until it reaches its steady-state size;
    // bad_alloc there is a process-level failure, not a parse result.
    m_tokens.push_back(token{type, m_depth, offset, length});
    return true;
}

parse_status response_parser::parse(std::string_view buffer) noexcept
{
    if (m_finished) {
        reset();
    }
    return step(buffer);
}

parse_status response_parser::step(std::string_view buffer) noexcept
{
    const char* p = buffer.data();
    const std::size_t size = buffer.size();
    if (size < m_pos) {
        return parse_status::more(); // the caller dropped bytes it had not consumed: a bug upstream
    }
    // Bytes past `stop` belong to a line longer than max_line (CRLF excluded).
    auto window = [&] {
        std::size_t room = m_limits.max_line + 2;
        return (size - m_line_start > room) ? m_line_start + room : size;
    };
    std::size_t stop = window();
    auto out_of_bytes = [&]() noexcept {
        return stop < size ? fail(parse_error::line_too_long, stop) : parse_status::more();
    };
    auto token_at = [&](token_type type, std::size_t from, std::size_t to) noexcept {
        return push(type, from, to - from);
    };

    for (;;) {
        if (m_state == state::literal_data) {
            if (size - m_pos < m_literal_size) {
                return parse_status::more();
            }
            m_pos += static_cast<std::size_t>(m_literal_size);
            m_line_start = m_pos;
            stop = window();
            m_state = state::data_after;
            continue;
        }
        if (m_pos >= stop) {
            return out_of_bytes();
        }
        const char c = p[m_pos];
        switch (m_state) {
        case state::start:
            if (c == '+') {
                m_kind = response_kind::continuation;
                if (!token_at(token_type::tag, 0, 1)) {
                    return fail(parse_error::too_many_items, 0);
                }
                ++m_pos;
                m_state = state::after_plus;
            } else if (c == '*') {
                m_kind = response_kind::untagged;
                if (!token_at(token_type::tag, 0, 1)) {
                    return fail(parse_error::too_many_items, 0);
                }
                ++m_pos;
                m_state = state::after_star;
            } else {
                m_kind = response_kind::tagged;
                m_token_start = m_pos;
                m_state = state::tag;
            }
            break;

        case state::tag:
            while (m_pos < stop && is(p[m_pos], c_atom) && p[m_pos] != '+') {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] != ' ' || m_pos == m_token_start) {
                const char t = p[m_pos];
                return fail(is(t, c_control) && t != '\r' && t != '\n' ? parse_error::bad_character
                                                                        : parse_error::bad_syntax,
                            m_pos);
            }
            if (!token_at(token_type::tag, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            ++m_pos;
            m_token_start = m_pos;
            m_state = state::condition;
            break;

        case state::after_star:
            if (c != ' ') {
                return fail(parse_error::bad_syntax, m_pos);
            }
            ++m_pos;
            m_token_start = m_pos;
            m_state = state::untagged_first;
            break;

        case state::untagged_first:
            m_state = is(c, c_digit) ? state::message_number : state::response_name;
            break;

        case state::message_number:
            while (m_pos < stop && is(p[m_pos], c_digit)) {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] != ' ') {
                return fail(p[m_pos] == '\0' ? parse_error::bad_character : parse_error::bad_syntax, m_pos);
            }
            if (!token_at(token_type::number, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            ++m_pos;
            m_token_start = m_pos;
            m_state = state::response_name;
            break;

        case state::condition:
        case state::response_name: {
            while (m_pos < stop && is(p[m_pos], c_atom) && p[m_pos] != '[' && p[m_pos] != ']') {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            const char t = p[m_pos];
            if (m_pos == m_token_start || (t != ' ' && t != '\r' && t != '\n')) {
                return fail(is(t, c_control) && t != '\r' && t != '\n' ? parse_error::bad_character
                                                                        : parse_error::bad_syntax,
                            m_pos);
            }
            std::string_view word(p + m_token_start, m_pos - m_token_start);
            const bool tagged = m_kind == response_kind::tagged;
            // A message number is followed by a data name, never by a condition.
            const bool numbered = m_tokens.size() > 1;
            const bool cond = !numbered && is_condition(word, tagged);
            if (tagged && !cond) {
                return fail(parse_error::bad_syntax, m_token_start);
            }
            if (!token_at(token_type::atom, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            if (t == ' ') {
                ++m_pos;
                m_state = cond ? state::resp_text : state::data_token;
            } else if (cond && !m_limits.lenient_whitespace) {
                return fail(parse_error::bad_syntax, m_pos);
            } else {
                m_state = state::line_end;
            }
            break;
        }

        case state::after_plus:
            if (c == ' ') {
                ++m_pos;
                m_state = state::resp_text;
            } else if ((c == '\r' || c == '\n') && m_limits.lenient_whitespace) {
                m_state = state::line_end;
            } else {
                return fail(parse_error::bad_syntax, m_pos);
            }
            break;

        case state::resp_text:
            if (c == '[') {
                ++m_pos;
                m_token_start = m_pos;
                m_state = state::code_name;
            } else {
                m_token_start = m_pos;
                m_state = state::text;
            }
            break;

        case state::code_name: {
            while (m_pos < stop && is(p[m_pos], c_atom) && p[m_pos] != ']' && p[m_pos] != '%' &&
                   p[m_pos] != '*') {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            const char t = p[m_pos];
            if (m_pos == m_token_start || (t != ' ' && t != ']')) {
                return fail(t == '\0' || t == '\r' || t == '\n' ? parse_error::bad_character : parse_error::bad_syntax,
                            m_pos);
            }
            if (!token_at(token_type::code, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            ++m_pos;
            m_token_start = m_pos;
            m_state = t == ' ' ? state::code_args : state::after_code;
            break;
        }

        case state::code_args: {
            while (m_pos < stop && is(p[m_pos], c_text) && p[m_pos] != ']') {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] != ']') {
                return fail(parse_error::bad_character, m_pos);
            }
            if (m_pos == m_token_start) {
                return fail(parse_error::bad_syntax, m_pos);
            }
            if (!token_at(token_type::code_args, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            ++m_pos;
            m_state = state::after_code;
            break;
        }

        case state::after_code:
            if (c == ' ') {
                ++m_pos;
                m_token_start = m_pos;
                m_state = state::text;
            } else if ((c == '\r' || c == '\n') && m_limits.lenient_whitespace) {
                m_state = state::line_end;
            } else {
                return fail(parse_error::bad_syntax, m_pos);
            }
            break;

        case state::text: {
            while (m_pos < stop && is(p[m_pos], c_text)) {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] == '\0') {
                return fail(parse_error::bad_character, m_pos);
            }
            if (m_pos > m_token_start && !token_at(token_type::text, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            m_state = state::line_end;
            break;
        }

        case state::data_token:
            m_token_start = m_pos;
            if (c == '(') {
                if (m_depth >= m_limits.max_depth) {
                    return fail(parse_error::nesting_too_deep, m_pos);
                }
                if (!token_at(token_type::list_begin, m_pos, m_pos + 1)) {
                    return fail(parse_error::too_many_items, m_pos);
                }
                ++m_depth;
                ++m_pos;
            } else if (c == ')') {
                // Only "()" may close a list right here; "( )" and "(a )" have a stray SP.
                const bool empty_list = m_tokens.back().type == token_type::list_begin &&
                                        m_tokens.back().offset + 1 == m_pos;
                if (!empty_list && !m_limits.lenient_whitespace) {
                    return fail(parse_error::bad_syntax, m_pos);
                }
                m_state = state::data_after;
            } else if (c == '"') {
                ++m_pos;
                m_token_start = m_pos;
                m_state = state::quoted;
            } else if (c == '{') {
                ++m_pos;
                m_literal8 = false;
                m_literal_size = 0;
                m_token_start = m_pos;
                m_state = state::literal_size;
            } else if (c == '~') {
                if (m_pos + 1 >= stop) {
                    return out_of_bytes();
                }
                if (p[m_pos + 1] == '{') {
                    m_pos += 2;
                    m_literal8 = true;
                    m_literal_size = 0;
                    m_token_start = m_pos;
                    m_state = state::literal_size;
                } else {
                    m_state = state::atom;
                }
            } else if (c == ' ' && m_limits.lenient_whitespace) {
                ++m_pos;
            } else if ((c == '\r' || c == '\n') && m_limits.lenient_whitespace) {
                m_state = state::data_after;
            } else if (is(c, c_atom)) {
                m_state = state::atom;
            } else if (c == ' ' || c == '\r' || c == '\n') {
                return fail(parse_error::bad_syntax, m_pos); // a doubled, stray or trailing SP
            } else {
                return fail(is(c, c_control) || static_cast<unsigned char>(c) >= 0x80 ? parse_error::bad_character
                                                                                      : parse_error::bad_syntax,
                            m_pos);
            }
            break;

        case state::atom: {
            while (m_pos < stop && is(p[m_pos], c_atom)) {
                if (p[m_pos] == '[') {
                    std::string_view so_far(p + m_token_start, m_pos - m_token_start);
                    if (iequals(so_far, "BODY") || iequals(so_far, "BODY.PEEK")) {
                        break;
                    }
                }
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] == '[') {
                ++m_pos;
                m_state = state::section;
                break;
            }
            std::string_view word(p + m_token_start, m_pos - m_token_start);
            token_type type = all_digits(word) ? token_type::number
                              : iequals(word, "NIL") ? token_type::nil
                                                     : token_type::atom;
            if (!token_at(type, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            m_state = state::data_after;
            break;
        }

        case state::section:
            // section-spec: header-list = "(" header-fld-name *(SP header-fld-name) ")"
            while (m_pos < stop && p[m_pos] != ']' && p[m_pos] != '"' && (is(p[m_pos], c_atom) ||
                   p[m_pos] == ' ' || p[m_pos] == '(' || p[m_pos] == ')')) {
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (p[m_pos] == ']') {
                ++m_pos;
                m_state = state::atom;
            } else if (p[m_pos] == '"') {
                ++m_pos;
                m_state = state::section_quoted;
            } else {
                return fail(parse_error::bad_character, m_pos);
            }
            break;

        case state::section_quoted:
        case state::quoted: {
            for (;;) {
                while (m_pos < stop && is(p[m_pos], c_text) && p[m_pos] != '"' && p[m_pos] != '\\') {
                    ++m_pos;
                }
                if (m_pos >= stop || p[m_pos] != '\\') {
                    break;
                }
                if (m_pos + 1 >= stop) {
                    return out_of_bytes();
                }
                if (p[m_pos + 1] != '"' && p[m_pos + 1] != '\\') {
                    return fail(parse_error::bad_syntax, m_pos + 1);
                }
                m_pos += 2;
            }
            if (m_pos >= stop) {
                return out_of_bytes();
            }
            if (p[m_pos] != '"') {
                return fail(parse_error::bad_character, m_pos);
            }
            if (m_state == state::section_quoted) {
                ++m_pos;
                m_state = state::section;
                break;
            }
            if (!token_at(token_type::quoted, m_token_start, m_pos)) {
                return fail(parse_error::too_many_items, m_token_start - 1);
            }
            ++m_pos;
            m_state = state::data_after;
            break;
        }

        case state::literal_size:
            while (m_pos < stop && is(p[m_pos], c_digit)) {
                // Checked digit by digit, so a huge announcement fails before its "}" arrives.
                m_literal_size = m_literal_size * 10 + static_cast<std::uint64_t>(p[m_pos] - '0');
                if (m_literal_size > m_limits.max_literal) {
                    return fail(parse_error::literal_too_big, m_pos);
                }
                ++m_pos;
            }
            if (m_pos == stop) {
                return out_of_bytes();
            }
            if (m_pos == m_token_start) {
                return fail(parse_error::bad_syntax, m_pos);
            }
            m_state = state::literal_close;
            break;

        case state::literal_close:
            if (c == '+' && !m_literal8 && p[m_pos - 1] != '+') {
                ++m_pos;
            } else if (c == '}') {
                ++m_pos;
                m_state = state::literal_crlf;
            } else {
                return fail(parse_error::bad_syntax, m_pos);
            }
            break;

        case state::literal_crlf: {
            std::size_t data = 0;
            if (c == '\r') {
                if (m_pos + 1 >= stop) {
                    return out_of_bytes();
                }
                if (p[m_pos + 1] != '\n') {
                    return fail(parse_error::bad_character, m_pos);
                }
                data = m_pos + 2;
            } else if (c == '\n' && m_limits.lenient_line_endings) {
                data = m_pos + 1;
            } else {
                return fail(c == '\n' ? parse_error::bad_character : parse_error::bad_syntax, m_pos);
            }
            if (!push(m_literal8 ? token_type::literal8 : token_type::literal, data,
                      static_cast<std::size_t>(m_literal_size))) {
                return fail(parse_error::too_many_items, m_token_start);
            }
            m_pos = data;
            m_state = state::literal_data;
            break;
        }

        case state::literal_data:
            break; // handled before the bounds check: its bytes do not count against max_line

        case state::data_after:
            if (c == ' ') {
                ++m_pos;
                m_state = state::data_token;
            } else if (c == ')') {
                if (m_depth == 0) {
                    return fail(parse_error::bad_syntax, m_pos);
                }
                --m_depth;
                if (!token_at(token_type::list_end, m_pos, m_pos + 1)) {
                    return fail(parse_error::too_many_items, m_pos);
                }
                ++m_pos;
            } else if (c == '\r' || c == '\n') {
                if (m_depth != 0) {
                    return fail(parse_error::bad_syntax, m_pos);
                }
                m_state = state::line_end;
            } else {
                return fail(c == '\0' ? parse_error::bad_character : parse_error::bad_syntax, m_pos);
            }
            break;

        case state::line_end:
            if (c == '\r') {
                if (m_pos + 1 >= stop) {
                    return out_of_bytes();
                }
                if (p[m_pos + 1] != '\n') {
                    return fail(parse_error::bad_character, m_pos);
                }
                m_consumed = m_pos + 2;
            } else if (c == '\n' && m_limits.lenient_line_endings) {
                m_consumed = m_pos + 1;
            } else {
                return fail(parse_error::bad_character, m_pos);
            }
            m_finished = true;
            return parse_status::done(m_consumed);
        }
    }
}

} // namespace protocols::imap
