// Lexer for structured header field bodies (see field_lexer.h).
#include "protocols/message/field_lexer.h"

namespace protocols::message {
namespace {

bool is_space(char c) noexcept
{
    // CR and LF only ever appear here as part of folding: the field reader has already
    // refused bare ones, so treating them as space is unfolding.
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_word_char(char c) noexcept
{
    switch (c) {
    case '(': case ')': case '"': case ';': case '=': case ',':
        return false;
    default:
        return !is_space(c);
    }
}

char lower(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

token field_lexer::next() noexcept
{
    if (m_failed) {
        return {token_kind::error, {}, m_pos};
    }
    while (m_pos < m_value.size() && is_space(m_value[m_pos])) {
        ++m_pos;
    }
    if (m_pos == m_value.size()) {
        return {token_kind::end, {}, m_pos};
    }
    const std::size_t start = m_pos;
    const char c = m_value[m_pos];
    auto fail = [&] {
        m_failed = true;
        m_pos = start;
        return token{token_kind::error, {}, start};
    };
    if (c == '"') {
        for (std::size_t i = start + 1; i < m_value.size(); ++i) {
            if (m_value[i] == '\\') {
                ++i;
            } else if (m_value[i] == '"') {
                m_pos = i + 1;
                return {token_kind::quoted, m_value.substr(start + 1, i - start - 1), start};
            }
        }
        return fail();
    }
    if (c == '(') {
        int depth = 0;
        for (std::size_t i = start; i < m_value.size(); ++i) {
            if (m_value[i] == '\\') {
                ++i;
            } else if (m_value[i] == '(') {
                if (++depth > max_comment_depth) {
                    return fail();
                }
            } else if (m_value[i] == ')' && --depth == 0) {
                m_pos = i + 1;
                return {token_kind::comment, m_value.substr(start + 1, i - start - 1), start};
            }
        }
        return fail();
    }
    if (c == ')') {
        return fail();
    }
    if (!is_word_char(c)) {
        ++m_pos;
        return {token_kind::special, m_value.substr(start, 1), start};
    }
    while (m_pos < m_value.size() && is_word_char(m_value[m_pos])) {
        ++m_pos;
    }
    return {token_kind::word, m_value.substr(start, m_pos - start), start};
}

token field_lexer::next_skipping_comments() noexcept
{
    token t = next();
    while (t.kind == token_kind::comment) {
        t = next();
    }
    return t;
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool istarts_with(std::string_view text, std::string_view prefix) noexcept
{
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

} // namespace protocols::message
