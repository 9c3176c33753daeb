// The built-in server's mail store, in memory: mailboxes with the five special-use folders
// (INBOX, Junk, Sent, Trash, Drafts), messages with UIDs, flags and INTERNALDATE, and local
// delivery (Received header, Junk filing, aliases forwarding across domains).
//
// It refuses what a real store would: unknown recipients, addresses outside its domains,
// alias loops (a hop limit), and it keeps nothing on disk. Single-threaded: it lives on the
// server's loop thread. Messages are kept in UID order, so every UID lookup is a binary
// search and an expunge is one linear pass.
#pragma once

#include "engine/result.h"
#include "tools/server/config.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace engine {
class scope;
}

namespace builtin {

enum class folder_id : std::uint8_t { inbox, junk, sent, trash, drafts };
inline constexpr std::size_t folder_count = 5;

/// System flags as bits (keywords are not stored).
namespace flags {
inline constexpr std::uint8_t seen = 1, answered = 2, flagged = 4, deleted = 8, draft = 16;
}

struct stored_message {
    std::uint32_t uid = 0;
    std::uint8_t flags = 0;
    std::int64_t internal_date = 0;   // unix seconds
    std::size_t header_size = 0;      // bytes of the header block, its empty line included
    std::string bytes;                // the message as stored, CRLF line ends

    std::string_view header() const noexcept { return std::string_view(bytes).substr(0, header_size); }
};

class folder {
public:
    folder(std::string name, std::string special_use, std::uint32_t uid_validity);

    const std::string& name() const noexcept { return m_name; }
    /// "\\Junk", "\\Sent", ...; empty for INBOX.
    const std::string& special_use() const noexcept { return m_special_use; }
    std::uint32_t uid_validity() const noexcept { return m_uid_validity; }
    std::uint32_t uid_next() const noexcept { return m_uid_next; }
    std::size_t size() const noexcept { return m_messages.size(); }
    /// In UID order; sequence number = index + 1. Valid until the folder changes.
    std::span<const stored_message> messages() const noexcept { return m_messages; }
    std::span<stored_message> messages() noexcept { return m_messages; }

    /// Index of the message with `uid`, or size() when there is none.
    std::size_t find(std::uint32_t uid) const noexcept;
    /// Index of the first message whose UID is >= `uid`.
    std::size_t lower_bound(std::uint32_t uid) const noexcept;

    /// Stores `bytes` with a new UID and returns it.
    std::uint32_t append(std::string bytes, std::int64_t internal_date, std::uint8_t flags);
    /// Removes the messages `remove` picks; calls `removed(seq)` for each, highest first, so
    /// every sequence number is valid when announced.
    void expunge(const std::function<bool(const stored_message&)>& remove,
        const std::function<void(std::size_t seq)>& removed);

private:
    std::string m_name;
    std::string m_special_use;
    std::uint32_t m_uid_validity;
    std::uint32_t m_uid_next = 1;
    std::vector<stored_message> m_messages;
};

class mailbox {
public:
    mailbox(const mailbox_config& c, std::uint32_t uid_validity_base);

    const std::string& address() const noexcept { return m_address; }
    const std::string& login() const noexcept { return m_login; }
    bool password_matches(std::string_view password) const noexcept;
    bool always_junk() const noexcept { return m_always_junk; }
    int copies() const noexcept { return m_copies; }
    bool bounces() const noexcept { return m_bounces; }
    /// Where a delivery not meant for Junk goes: INBOX, or the file_into rule's folder.
    folder& delivery_folder() noexcept { return m_folders[m_delivery_folder]; }

    folder& at(folder_id f) noexcept { return m_folders[static_cast<std::size_t>(f)]; }
    const folder& at(folder_id f) const noexcept { return m_folders[static_cast<std::size_t>(f)]; }
    std::span<folder> folders() noexcept { return m_folders; }
    std::span<const folder> folders() const noexcept { return m_folders; }
    /// The folder called `name` (INBOX in any case), or null.
    folder* find_folder(std::string_view name) noexcept;

    /// IMAP IDLE: a waiting session registers the scope its wait runs in; news stops it.
    void add_idler(engine::scope* s) { m_idlers.push_back(s); }
    void remove_idler(engine::scope* s) noexcept;
    /// Wakes every idler (called after a delivery or APPEND).
    void notify() noexcept;

private:
    std::string m_address;
    std::string m_login;
    std::string m_password;
    bool m_always_junk;
    int m_copies;
    bool m_bounces;
    std::size_t m_delivery_folder = 0;
    std::vector<folder> m_folders;      // the five of folder_id, then file_into's; never resized
    std::vector<engine::scope*> m_idlers;
};

/// ASCII case-insensitive ordering, transparent: lookups need no lower-cased copy.
struct iless {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
};

bool iequals(std::string_view a, std::string_view b) noexcept;

/// What the SMTP server may answer to RCPT TO.
enum class recipient_status : std::uint8_t { local, unknown_user, not_local };

/// What an SMTP transaction says about itself, for the Received header.
struct envelope_info {
    std::string_view helo;        // the client's EHLO/HELO name
    std::string_view peer_ip;     // "127.0.0.1"
    bool tls = false;
    bool authenticated = false;
    std::string_view id;          // queue id
    std::string_view mail_from;   // the envelope sender; empty for a bounce ("<>")
};

class store {
public:
    /// Builds the mailboxes; fails on duplicate addresses or logins, aliases to unknown
    /// targets, or addresses outside their domain.
    static engine::result<store> make(const config& c, std::string hostname);

    store(store&&) noexcept = default;
    store& operator=(store&&) noexcept = default;

    mailbox* find(std::string_view address) noexcept;
    const mailbox* find(std::string_view address) const noexcept;
    /// The mailbox whose login (or address) and password match, or null.
    mailbox* authenticate(std::string_view login, std::string_view password) noexcept;

    recipient_status check(std::string_view address) const noexcept;

    /// Delivers `message` to `recipient` (checked local): prepends a Received header, follows
    /// aliases (each hop one more Received), files into Junk when the message says
    /// "X-Spam-Flag: YES" or the mailbox is always_junk (else into its file_into folder), stores `copies` copies or bounces
    /// for a bouncing mailbox, and wakes IDLE sessions. Returns false for an alias loop.
    bool deliver(std::string_view recipient, const envelope_info& env, std::string_view message);

private:
    /// A bouncing mailbox's answer: an RFC 3464 report with the returned headers, delivered
    /// to the envelope sender when it is ours. A bounce is never bounced.
    void bounce(std::string_view recipient, const envelope_info& env, std::string_view message,
        const std::string& date);

    store() = default;
    std::string m_hostname;
    std::deque<mailbox> m_mailboxes;    // a deque: pointers stay valid
    std::map<std::string, mailbox*, iless> m_by_address;
    std::map<std::string, mailbox*, iless> m_by_login;
    std::map<std::string, std::string, iless> m_aliases;
    std::vector<std::string> m_domains;
    std::int64_t m_store_clock_offset = 0;   // seconds, config::store_clock_offset
};

/// The header block's length in `message`, its empty line included (the whole message
/// when it has no body separator).
std::size_t header_size(std::string_view message) noexcept;

/// The unfolded value of the first header field `name` in `header` into `out`; false when
/// the field is absent.
bool header_value(std::string_view header, std::string_view name, std::string& out);

/// "Tue, 14 Nov 2023 22:13:20 +0000" for unix seconds.
std::string rfc5322_date(std::int64_t unix_seconds);

} // namespace builtin
