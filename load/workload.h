// What a load run does per operation, on our own protocol sessions: an SMTP send, an IMAP or
// POP3 fetch of a seeded message, or a whole round trip (send a message with a unique
// HMAC-signed X-Mailprobe id, find it over IMAP, verify the MAC, delete it). Each returns an
// engine::result whose error stage says where it failed; the driver (driver.h) times them.
//
// Messages carry a real probe header so servers treat them like probe mail (filters, size),
// and a body padded to the requested size with plain 76-character lines.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "protocols/common/endpoint.h"
#include "protocols/message/probe_header.h"
#include "protocols/message/probe_id.h"

#include <cstdint>
#include <optional>
#include <string>

namespace load {

enum class mode : std::uint8_t { smtp, imap, pop3, roundtrip, imap_hold };

struct target {
    protocols::endpoint smtp;                       // host empty: no SMTP server given
    std::optional<protocols::credentials> smtp_auth;
    protocols::endpoint fetch;                      // the IMAP or POP3 server
    protocols::credentials mailbox;                 // its login
    std::string from;
    std::string to;
    std::string helo = "[127.0.0.1]";
    std::size_t body_size = 1024;                   // bytes of body, headers not counted
    std::chrono::milliseconds deliver_within{10'000};   // round trip: how long to look
    std::chrono::milliseconds poll{20};                 // round trip: between looks
};

class workload {
public:
    workload(target t, protocols::message::mac_key key);

    /// Sends one message through target.smtp (stage send, auth, tls, ...).
    engine::task<engine::result<void>> send(std::uint64_t seq);
    /// Logs in over IMAP, selects INBOX, finds the seed message by its header, fetches its
    /// header block and logs out.
    engine::task<engine::result<void>> imap_fetch(std::uint64_t seq);
    /// Logs in over POP3, STATs, reads the first message's header block (TOP n 0), QUITs.
    engine::task<engine::result<void>> pop3_fetch(std::uint64_t seq);
    /// Sends a message and finds, verifies and deletes it over IMAP.
    engine::task<engine::result<void>> roundtrip(std::uint64_t seq);

    /// Before an IMAP or POP3 fetch run: sends the message the fetches look for.
    engine::task<engine::result<void>> seed();
    /// After it: deletes that message again (best effort, over target.fetch).
    engine::task<engine::result<void>> unseed(bool over_imap);

    const target& where() const noexcept { return m_target; }

private:
    /// A message to target.to whose X-Mailprobe id is `id_text` (also returned).
    std::string message(std::string& id_text);
    engine::task<engine::result<void>> submit(std::string text);
    /// IMAP: the UIDs of INBOX messages whose X-Mailprobe field contains `id`; with `remove`,
    /// also verifies their MAC and deletes them. Waits up to `within` for one to show up.
    engine::task<engine::result<void>> find_over_imap(std::string id, bool remove, std::chrono::milliseconds within);

    target m_target;
    protocols::message::mac_key m_key;
    protocols::message::probe_id_generator m_ids;
    std::string m_body;
    std::string m_seed_id;
};

} // namespace load
