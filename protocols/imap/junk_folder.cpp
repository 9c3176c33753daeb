// Junk folder lookup: special-use attribute first (RFC 6154 section 2: "\Junk  This mailbox
// is where messages deemed to be junk mail are held"), then localized names, because many
// servers (older Dovecot setups, Exchange without SPECIAL-USE, hosted Cyrus) still name the
// folder only in the user's language.
#include "protocols/imap/junk_folder.h"

#include "protocols/imap/mutf7.h"
#include "protocols/imap/response_parser.h"
#include "protocols/imap/responses.h"

#include <array>
#include <vector>

namespace protocols::imap {

namespace {

constexpr std::array<std::string_view, 27> junk_names = {
    "Junk",
    "Spam",
    "Junk E-mail",
    "Junk Email",
    "Junk-E-Mail",
    "Junk Mail",
    "Bulk Mail",
    "Bulk",
    "Unerw\xC3\xBCnscht",                   // German
    "Spamverdacht",                         // German (GMX, web.de)
    "Courrier ind\xC3\xA9sirable",          // French (Outlook)
    "Pourriel",                             // French (Canada)
    "Posta indesiderata",                   // Italian
    "Correo no deseado",                    // Spanish
    "Lixo Eletr\xC3\xB4nico",               // Portuguese (Brazil)
    "Ongewenste e-mail",                    // Dutch
    "Skr\xC3\xA4ppost",                     // Swedish
    "U\xC3\xB8nsket e-post",                // Norwegian
    "U\xC3\xB8nsket post",                  // Danish
    "Roskaposti",                           // Finnish
    "Nevy\xC5\xBE\xC3\xA1" "dan\xC3\xA1 po\xC5\xA1ta", // Czech
    "Wiadomo\xC5\x9B" "ci-\xC5\x9Bmieci",   // Polish
    "Lev\xC3\xA9lszem\xC3\xA9t",            // Hungarian
    "\xD0\x9D\xD0\xB5\xD0\xB6\xD0\xB5\xD0\xBB\xD0\xB0\xD1\x82\xD0\xB5\xD0\xBB\xD1\x8C\xD0\xBD\xD0\xB0\xD1\x8F "
    "\xD0\xBF\xD0\xBE\xD1\x87\xD1\x82\xD0\xB0", // Russian
    "\xE8\xBF\xB7\xE6\x83\x91\xE3\x83\xA1\xE3\x83\xBC\xE3\x83\xAB", // Japanese
    "\xE5\x9E\x83\xE5\x9C\xBE\xE9\x82\xAE\xE4\xBB\xB6",             // Chinese (simplified)
    "\xE5\x9E\x83\xE5\x9C\xBE\xE9\x83\xB5\xE4\xBB\xB6",             // Chinese (traditional)
};

// Lower-cases ASCII and the Latin-1 capitals U+00C0..U+00DE (except U+00D7) of UTF-8 text,
// enough for the European names above without a Unicode table.
std::string fold(std::string_view s)
{
    std::string out(s);
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto c = static_cast<unsigned char>(out[i]);
        if (c >= 'A' && c <= 'Z') {
            out[i] = static_cast<char>(c + 32);
        } else if (c == 0xC3 && i + 1 < out.size()) {
            auto d = static_cast<unsigned char>(out[i + 1]);
            if (d >= 0x80 && d <= 0x9E && d != 0x97) {
                out[i + 1] = static_cast<char>(d + 32);
            }
            ++i;
        }
    }
    return out;
}

bool selectable(const mailbox_info& m) noexcept
{
    return (m.attributes & (attr_noselect | attr_nonexistent)) == 0;
}

} // namespace

std::span<const std::string_view> default_junk_names() noexcept
{
    return junk_names;
}

std::optional<std::size_t> find_junk_folder(std::span<const mailbox_info> mailboxes,
                                            std::span<const std::string_view> names)
{
    for (std::size_t i = 0; i < mailboxes.size(); ++i) {
        if ((mailboxes[i].attributes & attr_junk) != 0 && selectable(mailboxes[i])) {
            return i;
        }
    }
    // Decode and fold each name once; a name that is not valid modified UTF-7 is compared raw.
    std::vector<std::string> top(mailboxes.size());
    std::vector<std::string> child(mailboxes.size());
    for (std::size_t i = 0; i < mailboxes.size(); ++i) {
        const mailbox_info& m = mailboxes[i];
        std::string name = mutf7_decode(m.name).value_or(m.name);
        top[i] = fold(name);
        // "INBOX" is case-insensitive everywhere (RFC 3501 section 5.1).
        if (m.delimiter != 0 && name.size() > 6 && iequals(std::string_view(name).substr(0, 5), "INBOX") &&
            name[5] == m.delimiter) {
            child[i] = fold(std::string_view(name).substr(6));
        }
    }
    for (std::string_view wanted : names) {
        std::string key = fold(wanted);
        for (std::size_t i = 0; i < mailboxes.size(); ++i) {
            if (top[i] == key && selectable(mailboxes[i])) {
                return i;
            }
        }
        for (std::size_t i = 0; i < mailboxes.size(); ++i) {
            if (!child[i].empty() && child[i] == key && selectable(mailboxes[i])) {
                return i;
            }
        }
    }
    return std::nullopt;
}

} // namespace protocols::imap
