// A small bounded tokenizer for IMAP client commands (RFC 3501 section 9), run over one
// command the server has assembled: its lines with their CRLFs and, after each "{n}" or
// "{n+}" (LITERAL+, RFC 7888), the n literal bytes inline.
//
//   astring        = 1*ASTRING-CHAR / string
//   string         = quoted / literal
//   quoted         = DQUOTE *QUOTED-CHAR DQUOTE
//   literal        = "{" number ["+"] "}" CRLF *CHAR8
//   atom           = 1*ATOM-CHAR
//
// Atoms run to SP, "(", ")" or the line end, except inside "[...]", so a fetch item like
// BODY.PEEK[HEADER.FIELDS (From)] is one token. It refuses (kind::error) CR or LF inside a
// quoted string, escapes other than \" and \\, and a literal longer than what is left.
// Views point into the command text: valid while it is unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace builtin::imap {

struct token {
    enum class kind : std::uint8_t { atom, quoted, literal, open, close, end, error };
    kind what = kind::end;
    std::string_view text;   // atom: the atom; quoted: between the quotes, still escaped;
                             // literal: its bytes

    bool is_string() const noexcept { return what == kind::atom || what == kind::quoted || what == kind::literal; }
};

class tokenizer {
public:
    explicit tokenizer(std::string_view command) noexcept : m_text(command) {}

    /// The next token; one SP before it is skipped. After the last one: kind::end.
    token next() noexcept;
    token peek() noexcept;

private:
    std::string_view m_text;
    std::size_t m_pos = 0;
};

/// The value of a string token (astring): quoted text unescaped into `scratch`.
std::string_view value(const token& t, std::string& scratch);

/// A trailing literal announcement at the end of `line` ("... {12}" or "... {12+}"): the
/// count and whether it is non-synchronizing, or nullopt.
struct literal_head {
    std::size_t size;
    bool non_sync;
};
std::optional<literal_head> trailing_literal(std::string_view line) noexcept;

} // namespace builtin::imap
