// IMAP command builder (RFC 9051 / 3501 client side): numbers tags A0001, A0002, ... and
// encodes arguments as atom, quoted string or literal by the astring rules. A literal is
// non-synchronizing ({n+}) when the server offers LITERAL+ (or LITERAL- for up to 4096
// bytes, RFC 7888); otherwise the command is split into chunks and each chunk after the first
// may be sent only after the server's "+" continuation. Refuses (nullopt) CR, LF and NUL in
// any argument, so no server-bound text can end a command early or inject another one, and
// refuses malformed atoms, sequence sets and base64.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::imap {

enum class literal_mode : std::uint8_t {
    synchronizing, // plain {n}: wait for "+" before sending the literal's bytes
    plus,          // LITERAL+: {n+} of any size
    minus,         // LITERAL-: {n+} up to 4096 bytes, synchronizing beyond
};

/// One command ready to write. chunks[0] goes first; each later chunk is written only after
/// a continuation request ("+") arrived for the synchronizing literal that ends the chunk
/// before it. The last chunk ends with CRLF.
struct command {
    std::string tag;
    std::vector<std::string> chunks;

    bool needs_continuation() const noexcept { return chunks.size() > 1; }
};

class command_builder {
public:
    explicit command_builder(literal_mode mode = literal_mode::synchronizing) noexcept : m_mode(mode) {}

    /// Switch after reading CAPABILITY (LITERAL+ / LITERAL-).
    void set_literal_mode(literal_mode mode) noexcept { m_mode = mode; }
    /// The tag the next command will carry.
    std::string next_tag() const;

    command capability();
    command starttls();
    command noop();
    command logout();
    command idle();
    command expunge();
    command close();
    std::optional<command> login(std::string_view user, std::string_view password);
    /// AUTHENTICATE <mech> [SP initial-response] (RFC 4959 SASL-IR). `initial_response` is
    /// base64 already; an empty one is sent as "=". Without it, the server answers "+".
    std::optional<command> authenticate(std::string_view mechanism,
                                        std::optional<std::string_view> initial_response = std::nullopt);
    /// LIST "" "*" RETURN (SPECIAL-USE) (RFC 6154; needs the SPECIAL-USE or LIST-EXTENDED capability).
    command list_special_use();
    /// LIST <reference> <pattern>.
    std::optional<command> list(std::string_view reference, std::string_view pattern);
    /// SELECT / EXAMINE of a mailbox name in its wire form (modified UTF-7, as LIST gave it).
    std::optional<command> select(std::string_view mailbox);
    std::optional<command> examine(std::string_view mailbox);
    /// UID SEARCH HEADER <field> <value>; adds CHARSET UTF-8 when `value` is not ASCII.
    std::optional<command> uid_search_header(std::string_view field, std::string_view value);
    /// UID SEARCH TEXT <value>; adds CHARSET UTF-8 when `value` is not ASCII.
    std::optional<command> uid_search_text(std::string_view value);
    /// UID FETCH <set> (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER]).
    std::optional<command> uid_fetch_headers(std::string_view uid_set);
    /// UID FETCH <set> (UID INTERNALDATE RFC822.SIZE BODY.PEEK[]).
    std::optional<command> uid_fetch_messages(std::string_view uid_set);
    /// UID STORE <set> +FLAGS.SILENT (\Deleted).
    std::optional<command> uid_store_deleted(std::string_view uid_set);
    /// UID EXPUNGE <set> (RFC 4315 UIDPLUS / RFC 9051).
    std::optional<command> uid_expunge(std::string_view uid_set);

private:
    command start(std::string_view name);
    void append_astring(command& c, std::string_view value);
    static void finish(command& c);
    /// A command whose text after the tag is fixed: "<tag> <line>\r\n".
    command simple(std::string_view line);
    /// "<tag> <name> <mailbox as an astring>\r\n"; nullopt for a mailbox with CR, LF or NUL.
    std::optional<command> with_mailbox(std::string_view name, std::string_view mailbox);
    /// "<tag> <name> <uid_set><rest>\r\n"; nullopt unless `uid_set` is a sequence-set.
    std::optional<command> with_uid_set(std::string_view name, std::string_view uid_set, std::string_view rest = {});

    literal_mode m_mode;
    std::uint32_t m_next = 1;
};

/// "DONE" CRLF, which ends IDLE (untagged).
std::string_view idle_done() noexcept;

/// One SASL client response line (base64 + CRLF) answering a "+" challenge; nullopt if
/// `base64` holds anything but base64 characters. An empty response is sent as "" CRLF.
std::optional<std::string> sasl_response(std::string_view base64);

/// "*" CRLF: cancels an AUTHENTICATE exchange.
std::string_view sasl_cancel() noexcept;

/// Whether `s` is a sequence-set of numbers, ranges and "*" ("1:5,7,9:*").
bool is_sequence_set(std::string_view s) noexcept;

} // namespace protocols::imap
