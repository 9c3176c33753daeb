// The IMAP command tokenizer of the built-in server: see imap_tokens.h.
#include "tools/server/imap_tokens.h"

#include <charconv>

namespace builtin::imap {

token tokenizer::peek() noexcept
{
    auto saved = m_pos;
    token t = next();
    m_pos = saved;
    return t;
}

token tokenizer::next() noexcept
{
    auto at = [this](std::size_t i) { return i < m_text.size() ? m_text[i] : '\0'; };
    if (at(m_pos) == ' ') {
        ++m_pos;
    }
    if (m_pos >= m_text.size() || at(m_pos) == '\r' || at(m_pos) == '\n') {
        return {token::kind::end, {}};
    }
    char c = m_text[m_pos];
    if (c == '(') {
        ++m_pos;
        return {token::kind::open, m_text.substr(m_pos - 1, 1)};
    }
    if (c == ')') {
        ++m_pos;
        return {token::kind::close, m_text.substr(m_pos - 1, 1)};
    }
    if (c == '"') {
        std::size_t start = ++m_pos;
        while (m_pos < m_text.size()) {
            char q = m_text[m_pos];
            if (q == '"') {
                return {token::kind::quoted, m_text.substr(start, m_pos++ - start)};
            }
            if (q == '\r' || q == '\n') {
                break;
            }
            if (q == '\\') {
                char e = at(m_pos + 1);
                if (e != '"' && e != '\\') {
                    break;
                }
                ++m_pos;
            }
            ++m_pos;
        }
        return {token::kind::error, {}};
    }
    if (c == '{') {
        auto close = m_text.find('}', m_pos);
        if (close == std::string_view::npos) {
            return {token::kind::error, {}};
        }
        std::string_view digits = m_text.substr(m_pos + 1, close - m_pos - 1);
        if (digits.ends_with('+')) {
            digits.remove_suffix(1);
        }
        std::size_t n = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()
            || m_text.substr(close + 1, 2) != "\r\n" || m_text.size() - (close + 3) < n) {
            return {token::kind::error, {}};
        }
        std::size_t start = close + 3;
        m_pos = start + n;
        return {token::kind::literal, m_text.substr(start, n)};
    }
    std::size_t start = m_pos;
    int depth = 0;
    while (m_pos < m_text.size()) {
        char a = m_text[m_pos];
        if (a == '\r' || a == '\n' || a == '"' || a == '{') {
            break;
        }
        if (depth == 0 && (a == ' ' || a == '(' || a == ')')) {
            break;
        }
        depth += a == '[' ? 1 : a == ']' ? -1 : 0;
        if (depth < 0) {
            return {token::kind::error, {}};
        }
        ++m_pos;
    }
    if (m_pos == start || depth != 0) {
        return {token::kind::error, {}};
    }
    return {token::kind::atom, m_text.substr(start, m_pos - start)};
}

std::string_view value(const token& t, std::string& scratch)
{
    if (t.what != token::kind::quoted || t.text.find('\\') == std::string_view::npos) {
        return t.text;
    }
    scratch.clear();
    for (std::size_t i = 0; i < t.text.size(); ++i) {
        if (t.text[i] == '\\' && i + 1 < t.text.size()) {
            ++i;
        }
        scratch.push_back(t.text[i]);
    }
    return scratch;
}

std::optional<literal_head> trailing_literal(std::string_view line) noexcept
{
    if (!line.ends_with('}')) {
        return std::nullopt;
    }
    auto open = line.rfind('{');
    if (open == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view digits = line.substr(open + 1, line.size() - open - 2);
    bool non_sync = digits.ends_with('+');
    if (non_sync) {
        digits.remove_suffix(1);
    }
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return literal_head{n, non_sync};
}

} // namespace builtin::imap
