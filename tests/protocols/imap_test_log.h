// Renders a parsed IMAP response as one line of an event log, so transcripts can be compared
// whole and across every split of their input.
#pragma once

#include "protocols/common/sanitize.h"
#include "protocols/imap/response_parser.h"

#include <string>

namespace imap_test {

inline const char* type_name(protocols::imap::token_type t)
{
    using protocols::imap::token_type;
    switch (t) {
    case token_type::tag: return "tag";
    case token_type::atom: return "atom";
    case token_type::number: return "number";
    case token_type::nil: return "nil";
    case token_type::quoted: return "quoted";
    case token_type::literal: return "literal";
    case token_type::literal8: return "literal8";
    case token_type::list_begin: return "(";
    case token_type::list_end: return ")";
    case token_type::code: return "code";
    case token_type::code_args: return "args";
    case token_type::text: return "text";
    }
    return "?";
}

/// "untagged: tag(*) atom(OK) text(ready)"; list depth shows as "@n".
inline std::string render(const protocols::imap::response& r)
{
    using protocols::imap::response_kind;
    using protocols::imap::token_type;
    std::string out = r.kind() == response_kind::tagged     ? "tagged:"
                      : r.kind() == response_kind::untagged ? "untagged:"
                                                            : "continuation:";
    for (const auto& t : r.tokens()) {
        out += ' ';
        out += type_name(t.type);
        if (t.depth > 0) {
            out += '@' + std::to_string(t.depth);
        }
        if (t.type != token_type::list_begin && t.type != token_type::list_end) {
            out += '(' + protocols::printable(r.view(t), 80) + ')';
        }
    }
    out += '\n';
    return out;
}

} // namespace imap_test
