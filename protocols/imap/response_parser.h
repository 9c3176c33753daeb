// IMAP4 response parser (RFC 3501, RFC 9051): frames and tokenizes one server response at a
// time (tagged status, untagged data or status, continuation request) from the unconsumed
// tail of the read buffer. A response may span literals ({n}, {n+}, ~{n}); the parser skips
// literal bytes by count and resumes from an integer offset, so a response that arrives in
// many reads is scanned once. It refuses NUL and bare CR outside literals, bare LF unless
// lenient, stray or doubled spaces unless lenient, unbalanced lists, and anything past the
// limits below.
//
// The result is a reused vector of tokens {type, depth, offset, length}: no allocation per
// response once the vector has grown. Typed readers (responses.h) interpret the tokens.
#pragma once

#include "protocols/common/parse_status.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::imap {

struct parser_limits {
    std::size_t max_line = 64 * 1024;            // non-literal bytes between two line breaks
    std::uint64_t max_literal = 64 * 1024 * 1024; // bytes one literal may announce
    std::uint32_t max_depth = 16;                // nesting of parenthesized lists
    std::size_t max_items = 100'000;             // tokens in one response
    bool lenient_line_endings = false;           // accept a bare LF as a line break
    bool lenient_whitespace = false;             // accept doubled, leading and trailing spaces
};

enum class response_kind : std::uint8_t { tagged, untagged, continuation };

enum class token_type : std::uint8_t {
    tag,        // the tag of a tagged response, "*" of an untagged one, "+" of a continuation
    atom,       // atom or astring chars, including flags (\Seen) and BODY[...]<n> item names
    number,     // an atom made only of digits
    nil,        // NIL
    quoted,     // a quoted string; the view is the raw content between the quotes (escapes kept)
    literal,    // {n} data; the view is the n raw bytes
    literal8,   // ~{n} data (RFC 3516 / 9051 BINARY); the view is the n raw bytes
    list_begin, // "("; the view is "("
    list_end,   // ")"; the view is ")"
    code,       // the atom naming a response code, from "[NAME args]"
    code_args,  // the raw arguments of a response code (text up to "]")
    text,       // human-readable text of a status response or continuation request
};

/// One token. `depth` is the number of lists enclosing it ("(" and its ")" share the depth
/// of the list's container). `offset` and `length` locate its view in the parsed buffer.
struct token {
    token_type type;
    std::uint32_t depth;
    std::size_t offset;
    std::size_t length;
};

/// A completed response: the buffer it was parsed from plus its tokens. Cheap to copy; the
/// views it hands out, and the token span, stay valid until the caller consumes the response
/// from its buffer or calls the parser again, whichever comes first.
class response {
public:
    response(std::string_view buffer, std::span<const token> tokens, response_kind kind) noexcept
        : m_buffer(buffer), m_tokens(tokens), m_kind(kind)
    {
    }

    response_kind kind() const noexcept { return m_kind; }
    std::span<const token> tokens() const noexcept { return m_tokens; }
    std::size_t size() const noexcept { return m_tokens.size(); }
    const token& operator[](std::size_t i) const noexcept { return m_tokens[i]; }
    /// The bytes of token `t` (for quoted strings, still escaped; see unquote()).
    std::string_view view(const token& t) const noexcept { return m_buffer.substr(t.offset, t.length); }
    std::string_view view(std::size_t i) const noexcept { return view(m_tokens[i]); }
    /// The raw bytes from the start of token `first` to the end of token `last` (inclusive).
    std::string_view span_view(std::size_t first, std::size_t last) const noexcept;
    /// Index one past the token that closes the list opened at `i`; i + 1 for any other token.
    std::size_t skip(std::size_t i) const noexcept;
    /// The whole response including its final CRLF.
    std::string_view raw() const noexcept { return m_buffer; }

private:
    std::string_view m_buffer;
    std::span<const token> m_tokens;
    response_kind m_kind;
};

/// Resumable parser for one IMAP response at a time. Single-threaded; reusable.
///
/// Feed it the whole unconsumed tail of the read buffer each time bytes arrive. need_more
/// keeps an integer resume offset (the buffer may move in memory between calls but its
/// unconsumed bytes must stay the same); complete(n) means the first n bytes hold one
/// response, readable through result(buffer) until the caller consumes them. The next call
/// after complete (or error) starts a new response at the front of the buffer it is given.
class response_parser {
public:
    explicit response_parser(parser_limits limits = {});

    parse_status parse(std::string_view buffer) noexcept;

    /// The response completed by the last parse(); `buffer` is the one that call was given
    /// (or the same bytes moved). Views stay valid until those bytes are consumed.
    response result(std::string_view buffer) const noexcept;

    /// Forgets a partly parsed response (e.g. when the connection is dropped).
    void reset() noexcept;

private:
    enum class state : std::uint8_t;

    parse_status step(std::string_view buffer) noexcept;
    parse_status fail(parse_error e, std::size_t at) noexcept;
    bool push(token_type type, std::size_t offset, std::size_t length) noexcept;

    parser_limits m_limits;
    std::vector<token> m_tokens;
    std::size_t m_pos = 0;          // next byte to examine
    std::size_t m_token_start = 0;  // start of the token being scanned
    std::size_t m_line_start = 0;   // start of the current non-literal stretch
    std::size_t m_consumed = 0;     // bytes of the completed response
    std::uint64_t m_literal_size = 0;
    std::uint32_t m_depth = 0;
    response_kind m_kind = response_kind::untagged;
    state m_state;
    bool m_literal8 = false;
    bool m_finished = true;         // the next parse() starts a new response
};

/// Appends the unescaped content of a quoted string (\" and \\ become " and \) to `out`.
void append_unquoted(std::string_view quoted_content, std::string& out);

/// ASCII case-insensitive comparison, as IMAP atoms compare.
bool iequals(std::string_view a, std::string_view b) noexcept;

} // namespace protocols::imap
