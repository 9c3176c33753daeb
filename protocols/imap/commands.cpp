// IMAP command encoding. The client grammar used (RFC 9051 section 9, RFC 7888, RFC 4959):
//
//   command         = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
//   astring         = 1*ASTRING-CHAR / string
//   string          = quoted / literal
//   literal         = "{" number64 ["+"] "}" CRLF *CHAR8      ; "+": non-synchronizing
//   authenticate    = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF [base64])
//   initial-resp    = (base64 / "=")
//   list            = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
//   sequence-set    = (seq-number / seq-range) ["," sequence-set]
//   idle            = "IDLE" CRLF "DONE"
//
// Strings go out as atoms when every byte is an ASTRING-CHAR, as quoted strings when they are
// 7-bit text, and as literals otherwise (8-bit bytes, e.g. UTF-8 passwords or search values).
#include "protocols/imap/commands.h"

#include "protocols/common/commands.h"
#include "protocols/common/sasl.h"

#include <algorithm>

namespace protocols::imap {

namespace {

bool is_astring_char(char c) noexcept
{
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
        return false;
    }
    return std::string_view("(){%*\"\\").find(c) == std::string_view::npos;
}

bool is_atom(std::string_view s) noexcept
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_astring_char(c) && c != ']'; });
}

bool is_seven_bit(std::string_view s) noexcept
{
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

} // namespace

bool is_sequence_set(std::string_view s) noexcept
{
    if (s.empty()) {
        return false;
    }
    // seq-number = nz-number / "*"; seq-range = seq-number ":" seq-number
    bool need_number = true;
    bool in_range = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '*' || (c >= '1' && c <= '9')) {
            if (!need_number) {
                return false;
            }
            if (c != '*') {
                while (i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9') {
                    ++i;
                }
            }
            need_number = false;
        } else if (c == ':' && !need_number && !in_range) {
            need_number = true;
            in_range = true;
        } else if (c == ',' && !need_number) {
            need_number = true;
            in_range = false;
        } else {
            return false;
        }
    }
    return !need_number;
}

std::string command_builder::next_tag() const
{
    std::string digits = std::to_string(m_next);
    return "A" + std::string(digits.size() < 4 ? 4 - digits.size() : 0, '0') + digits;
}

command command_builder::start(std::string_view name)
{
    command c;
    c.tag = next_tag();
    ++m_next;
    c.chunks.emplace_back(c.tag);
    c.chunks.back() += ' ';
    c.chunks.back() += name;
    return c;
}

void command_builder::finish(command& c)
{
    c.chunks.back() += "\r\n";
}

command command_builder::simple(std::string_view line)
{
    command c = start(line);
    finish(c);
    return c;
}

std::optional<command> command_builder::with_mailbox(std::string_view name, std::string_view mailbox)
{
    if (has_line_breaker(mailbox)) {
        return std::nullopt;
    }
    command c = start(name);
    append_astring(c, mailbox);
    finish(c);
    return c;
}

std::optional<command> command_builder::with_uid_set(std::string_view name, std::string_view uid_set,
                                                     std::string_view rest)
{
    if (!is_sequence_set(uid_set)) {
        return std::nullopt;
    }
    command c = start(name);
    c.chunks.back() += ' ';
    c.chunks.back() += uid_set;
    c.chunks.back() += rest;
    finish(c);
    return c;
}

void command_builder::append_astring(command& c, std::string_view value)
{
    std::string& out = c.chunks.back();
    out += ' ';
    if (!value.empty() && std::all_of(value.begin(), value.end(), is_astring_char)) {
        out += value;
        return;
    }
    if (is_seven_bit(value)) {
        out += '"';
        for (char ch : value) {
            if (ch == '"' || ch == '\\') {
                out += '\\';
            }
            out += ch;
        }
        out += '"';
        return;
    }
    const bool non_sync = m_mode == literal_mode::plus || (m_mode == literal_mode::minus && value.size() <= 4096);
    out += '{';
    out += std::to_string(value.size());
    out += non_sync ? "+}\r\n" : "}\r\n";
    if (non_sync) {
        out += value;
    } else {
        c.chunks.emplace_back(value);
    }
}

command command_builder::capability()
{
    return simple("CAPABILITY");
}

command command_builder::starttls()
{
    return simple("STARTTLS");
}

command command_builder::noop()
{
    return simple("NOOP");
}

command command_builder::logout()
{
    return simple("LOGOUT");
}

command command_builder::idle()
{
    return simple("IDLE");
}

command command_builder::expunge()
{
    return simple("EXPUNGE");
}

command command_builder::close()
{
    return simple("CLOSE");
}

std::optional<command> command_builder::login(std::string_view user, std::string_view password)
{
    if (has_line_breaker(user) || has_line_breaker(password)) {
        return std::nullopt;
    }
    command c = start("LOGIN");
    append_astring(c, user);
    append_astring(c, password);
    finish(c);
    return c;
}

std::optional<command> command_builder::authenticate(std::string_view mechanism,
                                                     std::optional<std::string_view> initial_response)
{
    if (!is_atom(mechanism) || (initial_response && !sasl::is_base64(*initial_response))) {
        return std::nullopt;
    }
    command c = start("AUTHENTICATE ");
    c.chunks.back() += mechanism;
    if (initial_response) {
        c.chunks.back() += ' ';
        c.chunks.back() += initial_response->empty() ? std::string_view("=") : *initial_response;
    }
    finish(c);
    return c;
}

command command_builder::list_special_use()
{
    return simple("LIST \"\" \"*\" RETURN (SPECIAL-USE)");
}

std::optional<command> command_builder::list(std::string_view reference, std::string_view pattern)
{
    if (has_line_breaker(reference) || has_line_breaker(pattern)) {
        return std::nullopt;
    }
    command c = start("LIST");
    append_astring(c, reference);
    // list-mailbox allows the wildcards "%" and "*" unquoted; everything else as an astring.
    if (!pattern.empty() && std::all_of(pattern.begin(), pattern.end(),
                                        [](char ch) { return is_astring_char(ch) || ch == '%' || ch == '*'; })) {
        c.chunks.back() += ' ';
        c.chunks.back() += pattern;
    } else {
        append_astring(c, pattern);
    }
    finish(c);
    return c;
}

std::optional<command> command_builder::select(std::string_view mailbox)
{
    return with_mailbox("SELECT", mailbox);
}

std::optional<command> command_builder::examine(std::string_view mailbox)
{
    return with_mailbox("EXAMINE", mailbox);
}

std::optional<command> command_builder::uid_search_header(std::string_view field, std::string_view value)
{
    if (has_line_breaker(field) || has_line_breaker(value) || !is_atom(field)) {
        return std::nullopt;
    }
    command c = start(is_seven_bit(value) ? "UID SEARCH HEADER" : "UID SEARCH CHARSET UTF-8 HEADER");
    append_astring(c, field);
    append_astring(c, value);
    finish(c);
    return c;
}

std::optional<command> command_builder::uid_search_text(std::string_view value)
{
    if (has_line_breaker(value)) {
        return std::nullopt;
    }
    command c = start(is_seven_bit(value) ? "UID SEARCH TEXT" : "UID SEARCH CHARSET UTF-8 TEXT");
    append_astring(c, value);
    finish(c);
    return c;
}

std::optional<command> command_builder::uid_fetch_headers(std::string_view uid_set)
{
    return with_uid_set("UID FETCH", uid_set, " (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])");
}

std::optional<command> command_builder::uid_fetch_messages(std::string_view uid_set)
{
    return with_uid_set("UID FETCH", uid_set, " (UID INTERNALDATE RFC822.SIZE BODY.PEEK[])");
}

std::optional<command> command_builder::uid_store_deleted(std::string_view uid_set)
{
    return with_uid_set("UID STORE", uid_set, " +FLAGS.SILENT (\\Deleted)");
}

std::optional<command> command_builder::uid_expunge(std::string_view uid_set)
{
    return with_uid_set("UID EXPUNGE", uid_set);
}

std::string_view idle_done() noexcept
{
    return "DONE\r\n";
}

std::optional<std::string> sasl_response(std::string_view base64)
{
    if (!sasl::is_base64(base64)) {
        return std::nullopt;
    }
    std::string line(base64);
    line += "\r\n";
    return line;
}

std::string_view sasl_cancel() noexcept
{
    return "*\r\n";
}

} // namespace protocols::imap
