// Finds the junk (spam) folder among the mailboxes a LIST returned: first by the RFC 6154
// \Junk special-use attribute, then by a list of common localized names ("Junk", "Spam",
// "Junk E-mail", "Unerwünscht", "Courrier indésirable", ...), compared after modified UTF-7
// decoding and case-insensitively (ASCII and Latin-1 letters), at the top level or as a child
// of INBOX ("INBOX.Junk", "INBOX/Spam"). Mailboxes marked \Noselect or \NonExistent never
// match: a probe could not open them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace protocols::imap {

/// A mailbox kept from a LIST response (copied: it outlives the read buffer).
struct mailbox_info {
    std::string name;       // wire form: modified UTF-7, unescaped (see append_string)
    char delimiter = 0;     // 0 for NIL
    std::uint32_t attributes = 0; // mailbox_attribute bits
};

/// The built-in localized junk folder names (UTF-8), most common first.
std::span<const std::string_view> default_junk_names() noexcept;

/// Index in `mailboxes` of the junk folder, or nullopt. `names` are UTF-8 and tried in order;
/// for each name a top-level mailbox wins over an INBOX child.
std::optional<std::size_t> find_junk_folder(std::span<const mailbox_info> mailboxes,
                                            std::span<const std::string_view> names = default_junk_names());

} // namespace protocols::imap
