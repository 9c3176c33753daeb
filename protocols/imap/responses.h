// Typed readers over one completed IMAP response (see response_parser.h): status conditions
// and response codes, untagged data names and numbers, CAPABILITY lists, LIST/LSUB entries
// with RFC 6154 special-use attributes, SEARCH and ESEARCH results, and FETCH item/value
// pairs. The readers only look at tokens; they refuse (return nullopt / false) responses
// whose shape does not match the data they read, and never throw.
//
// Every std::string_view they return points into the parsed buffer and stays valid until the
// caller consumes the response (or calls the parser again). Quoted strings are returned raw
// (escapes kept); append_unquoted() or append_string() copy them out unescaped.
#pragma once

#include "protocols/imap/response_parser.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::imap {

enum class condition : std::uint8_t { none, ok, no, bad, preauth, bye };

/// resp-text: the optional [code args] and the human text (unsanitized: use printable()).
struct resp_text {
    std::string_view code;      // e.g. "UIDVALIDITY", "ALERT", "CAPABILITY"; empty if none
    std::string_view code_args; // raw text after the code name, up to "]"; may be empty
    std::string_view text;
};

/// The tag: "A0001" for tagged responses, "*" for untagged, "+" for continuations.
std::string_view tag_of(const response& r) noexcept;

/// OK/NO/BAD (tagged or untagged), PREAUTH, BYE; none for data and continuation responses.
condition condition_of(const response& r) noexcept;

/// The resp-text of a status response or continuation; empty fields for data responses.
resp_text text_of(const response& r) noexcept;

/// The code's argument as a number ([UIDVALIDITY n], [UIDNEXT n], [UNSEEN n], ...).
std::optional<std::uint64_t> code_number(const resp_text& t) noexcept;

/// Untagged data that is not a status: "* 5 EXISTS" gives {5, "EXISTS", 3};
/// "* CAPABILITY IMAP4rev1" gives {nullopt, "CAPABILITY", 2}.
struct untagged_data {
    std::optional<std::uint32_t> number; // message-data / EXISTS / RECENT number
    std::string_view name;
    std::size_t first_arg;               // token index of the first argument after the name
};
std::optional<untagged_data> data_of(const response& r) noexcept;

/// Decimal number64 without sign or overflow; nullopt otherwise.
std::optional<std::uint64_t> to_number(std::string_view digits) noexcept;

/// The space-separated capability list of "* CAPABILITY ..." or of an [CAPABILITY ...]
/// response code (greeting, LOGIN/AUTHENTICATE OK); empty if the response carries none.
std::string_view capability_text(const response& r) noexcept;

/// Whether the space-separated `list` (capabilities, flags) holds `item`, ASCII
/// case-insensitively. For flag lists, pass the content without the parentheses.
bool list_contains(std::string_view list, std::string_view item) noexcept;

/// Whether `caps` (from capability_text) offers SASL mechanism `mech` ("AUTH=<mech>").
bool has_auth_mechanism(std::string_view caps, std::string_view mech) noexcept;

/// Mailbox attributes of a LIST/LSUB response (RFC 3501, 5258, 6154).
enum mailbox_attribute : std::uint32_t {
    attr_noinferiors = 1u << 0,
    attr_noselect = 1u << 1,
    attr_marked = 1u << 2,
    attr_unmarked = 1u << 3,
    attr_haschildren = 1u << 4,
    attr_hasnochildren = 1u << 5,
    attr_nonexistent = 1u << 6,
    attr_subscribed = 1u << 7,
    attr_remote = 1u << 8,
    attr_all = 1u << 9,
    attr_archive = 1u << 10,
    attr_drafts = 1u << 11,
    attr_flagged = 1u << 12,
    attr_junk = 1u << 13,
    attr_sent = 1u << 14,
    attr_trash = 1u << 15,
    attr_important = 1u << 16,
};

/// "* LIST (\HasNoChildren \Junk) "/" "[Gmail]/Spam"".
struct list_entry {
    std::uint32_t attributes = 0;   // mailbox_attribute bits; unknown ones only in the raw text
    std::string_view attributes_raw; // content of the attribute list, without parentheses
    char delimiter = 0;              // 0 when the server says NIL (flat namespace)
    token_type name_type = token_type::atom; // atom, quoted or literal
    std::string_view name_raw;       // still escaped if quoted, still modified UTF-7
};
std::optional<list_entry> list_entry_of(const response& r) noexcept;

/// Appends a string value to `out`: quoted content unescaped, atoms and literals as they are.
void append_string(token_type type, std::string_view raw, std::string& out);

/// Appends the message numbers of "* SEARCH n n ..." to `out` (a CONDSTORE "(MODSEQ n)"
/// suffix is skipped). False, with `out` unchanged, if `r` is no SEARCH response or a
/// number is malformed.
bool search_results(const response& r, std::vector<std::uint32_t>& out);

/// RFC 4731 "* ESEARCH (TAG "A5") UID MIN 2 MAX 9 COUNT 3 ALL 2,5:9".
struct esearch_result {
    std::string_view tag;  // the correlator, raw (quoted content); may be empty
    bool uid = false;
    std::optional<std::uint32_t> min;
    std::optional<std::uint32_t> max;
    std::optional<std::uint32_t> count;
    std::string_view all;  // sequence-set, expand with expand_sequence_set()
};
std::optional<esearch_result> esearch_of(const response& r) noexcept;

/// Appends the numbers of a sequence-set without "*" ("2,5:7" -> 2 5 6 7) to `out`.
/// False, with `out` unchanged, on bad syntax or if more than `max_numbers` would be added.
bool expand_sequence_set(std::string_view set, std::vector<std::uint32_t>& out, std::size_t max_numbers);

/// One FETCH msg-att: a name ("UID", "FLAGS", "BODY[HEADER]", "BODY[]<0>") and its value.
struct fetch_item {
    std::string_view name;
    token_type type;         // atom/number/nil/quoted/literal/literal8/list_begin
    std::string_view value;  // the token's view; for a list, the raw bytes inside the parens
    std::size_t token_index; // of the value token (for lists, of its "(")
};

/// Walks the msg-att list of "* n FETCH (...)". Reuses no storage; cheap to construct.
class fetch_reader {
public:
    /// Invalid (valid() false) unless `r` is an untagged FETCH with a well-formed item list.
    explicit fetch_reader(const response& r) noexcept;

    bool valid() const noexcept { return m_valid; }
    std::uint32_t message_number() const noexcept { return m_number; }
    /// The next item, or nullopt at the end of the list (or if the list is malformed).
    std::optional<fetch_item> next() noexcept;

private:
    const response* m_response;
    std::size_t m_index = 0;
    std::size_t m_end = 0;
    std::uint32_t m_number = 0;
    bool m_valid = false;
};

/// The items a probe asks for, gathered from one FETCH response.
struct fetch_summary {
    std::uint32_t message_number = 0;
    std::optional<std::uint32_t> uid;
    std::optional<std::uint64_t> rfc822_size;
    std::string_view internal_date; // e.g. "17-Jul-1996 02:44:25 -0700"
    std::string_view flags;         // content of the FLAGS list, without parentheses
    std::string_view section_name;  // first BODY[...] / BINARY[...] item name, e.g. "BODY[HEADER]"
    token_type section_type = token_type::nil;
    std::string_view section;       // its value: literal bytes, raw quoted content or empty (NIL)
};
/// nullopt unless `r` is a FETCH response with well-formed items (UID and size numbers
/// that fit, INTERNALDATE a quoted string).
std::optional<fetch_summary> fetch_summary_of(const response& r) noexcept;

} // namespace protocols::imap
