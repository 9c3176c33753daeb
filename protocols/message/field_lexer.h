// Tokens of structured header field bodies (RFC 5322 section 3.2): words, quoted strings,
// comments and the separators ';' '=' ','. Folding whitespace (CRLF followed by WSP) counts as
// space, so a folded value lexes exactly like its unfolded form without being copied.
// It refuses unterminated quoted strings and comments, stray ')' and comments nested deeper
// than max_comment_depth (a bound on work, not a grammar rule).
//
//   quoted-string = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
//   comment       = "(" *([FWS] ccontent) [FWS] ")"
//   ccontent      = ctext / quoted-pair / comment
//   quoted-pair   = ("\" (VCHAR / WSP)) / obs-qp
//
// A "word" here is looser than an RFC atom on purpose: it runs until whitespace or one of
// ( ) " ; = , so that host names, addresses, "header.d", "22:13:20", "+0000" and
// "multipart/report" each come out as one token for the callers to judge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace protocols::message {

enum class token_kind : std::uint8_t {
    word,     // text: the word
    quoted,   // text: between the quotes; quoted-pairs are left escaped
    comment,  // text: between the outer parentheses, nested comments included
    special,  // text: one of ; = ,
    end,      // no more tokens
    error,    // offset: where the unterminated or unbalanced construct starts
};

struct token {
    token_kind kind = token_kind::end;
    std::string_view text;
    std::size_t offset = 0;
};

class field_lexer {
public:
    static constexpr int max_comment_depth = 16;

    /// Lexes `value` (a field body, possibly folded). Tokens view into `value`.
    explicit field_lexer(std::string_view value) noexcept : m_value(value) {}

    /// The next token; after end or error, the same kind again.
    token next() noexcept;

    /// Like next(), but skips comments.
    token next_skipping_comments() noexcept;

    /// Offset just past the last token returned.
    std::size_t position() const noexcept { return m_pos; }

private:
    std::string_view m_value;
    std::size_t m_pos = 0;
    bool m_failed = false;
};

/// Case-insensitive ASCII comparison, the rule for every keyword in mail headers.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Case-insensitive ASCII prefix test.
bool istarts_with(std::string_view text, std::string_view prefix) noexcept;

} // namespace protocols::message
