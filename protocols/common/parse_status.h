// The contract every protocol parser in protocols/ follows.
//
// A parser is fed the whole unconsumed tail of the connection's read buffer each time more
// bytes arrive (split at any position). It answers need_more, complete(consumed) or
// error(code, offset). On complete, the parsed response is a set of views into that buffer,
// valid until the caller consumes `consumed` bytes. Parsers do no I/O, never allocate per
// response, and enforce explicit limits; a broken limit is an error that names the limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace protocols {

enum class parse_error : std::uint8_t {
    none,
    line_too_long,      // a line exceeded max_line
    too_many_lines,     // a multi-line reply exceeded max_lines
    literal_too_big,    // an IMAP literal announced more than max_literal bytes
    nesting_too_deep,   // IMAP parenthesized lists nested deeper than max_depth
    too_many_items,     // an IMAP response had more than max_items tokens
    bad_syntax,         // bytes that no production of the grammar allows
    bad_character,      // NUL, bare CR or LF, or another byte the grammar forbids
    header_too_big,     // a message header block exceeded max_header_bytes
    too_many_fields,    // a message header block had more than max_fields fields
    message_too_big,    // a whole message exceeded max_message_bytes
    body_too_big,       // a POP3 multi-line body exceeded max_body_bytes
};

/// Human words for a parse error, naming the limit or rule that was broken.
constexpr std::string_view describe(parse_error e) noexcept
{
    switch (e) {
    case parse_error::none: return "no error";
    case parse_error::line_too_long: return "line longer than the line limit";
    case parse_error::too_many_lines: return "more reply lines than the line-count limit";
    case parse_error::literal_too_big: return "literal larger than the literal-size limit";
    case parse_error::nesting_too_deep: return "lists nested deeper than the nesting limit";
    case parse_error::too_many_items: return "more items than the per-response limit";
    case parse_error::bad_syntax: return "syntax error";
    case parse_error::bad_character: return "forbidden character";
    case parse_error::header_too_big: return "header block larger than the header-size limit";
    case parse_error::too_many_fields: return "more header fields than the field-count limit";
    case parse_error::message_too_big: return "message larger than the message-size limit";
    case parse_error::body_too_big: return "multi-line body larger than the body-size limit";
    }
    return "unknown parse error";
}

struct parse_status {
    enum class kind : std::uint8_t { need_more, complete, error };

    kind state = kind::need_more;
    std::size_t consumed = 0;   // complete: bytes the response occupies at the buffer's front
    parse_error code = parse_error::none;
    std::size_t offset = 0;     // error: offset of the offending byte in the buffer

    static constexpr parse_status more() noexcept { return {}; }
    static constexpr parse_status done(std::size_t n) noexcept
    {
        return {kind::complete, n, parse_error::none, 0};
    }
    static constexpr parse_status fail(parse_error e, std::size_t at) noexcept
    {
        return {kind::error, 0, e, at};
    }

    constexpr bool complete() const noexcept { return state == kind::complete; }
    constexpr bool need_more() const noexcept { return state == kind::need_more; }
    constexpr bool failed() const noexcept { return state == kind::error; }
};

} // namespace protocols
