// The round trip of one probe: build the signed probe message, submit it over SMTP, then poll
// the fetch mailbox (IMAP or POP3) until our message shows up or the probe's deadline, counted
// from the server's 250 after DATA, passes; then delete it. The result says Up, Warning or
// Down with the stage, our reason and the server's own words.
//
// What it refuses to touch: a message is ours only when its X-Mailprobe field verifies under
// the deployment's HMAC key and it is not a bounce (classify_arrival); forgeries, bounces and
// everyone else's mail are never deleted. Besides this run's message it deletes only older
// leftovers of the same probe name that verify and were sent more than the probe's deadline
// ago. IMAP keeps one session for the whole poll (INBOX, then the junk folder, then the extra
// folders, re-selected every round); POP3 opens a new session every round because a POP3
// session sees a snapshot of the maildrop, and it looks only at INBOX.
//
// Nothing throws and every wait has a deadline: the sessions' own per-command deadlines, the
// sleeps between polls end at the probe's deadline. Single-threaded: runs on the thread's
// engine loop, and `ctx` must outlive the task.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "probe/result.h"
#include "protocols/message/probe_header.h"
#include "protocols/message/probe_id.h"
#include "scenarios/plan.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace probe {

/// What probe runs share: the HMAC key, the id generator, the client TLS contexts (one per
/// CA file and verification switch, since loading a CA store per connection would dominate
/// the cost) and the trace switch. One per loop thread; not thread-safe.
class context {
public:
    explicit context(protocols::message::mac_key key) noexcept : m_key(key) {}

    /// The key from the plan's hmac_key secret; nullopt when it is not 16 to 64 bytes.
    static std::optional<context> from_plan(const scenarios::plan& p);

    const protocols::message::mac_key& key() const noexcept { return m_key; }
    protocols::message::probe_id_generator& ids() noexcept { return m_ids; }

    /// The cached client context for (`ca_file`, `insecure`), made on first use.
    engine::result<engine::tls_context> tls_for(const std::string& ca_file, bool insecure);

    /// Record every dialogue into result::transcript.
    bool trace = false;
    /// Our EHLO name; empty: the domain of the probe's From address.
    std::string helo_name;
    /// Wall-clock milliseconds since the Unix epoch, for the Date, the probe id and the age
    /// of leftovers; empty: the system clock. Tests move it to make messages look old.
    std::function<std::uint64_t()> wall_clock_ms;

    std::uint64_t now_ms() const;

private:
    protocols::message::mac_key m_key;
    protocols::message::probe_id_generator m_ids;
    std::map<std::pair<std::string, bool>, engine::tls_context> m_tls;
};

/// Runs `plan` once: send, poll, delete. Always returns a result (Down with its stage on
/// any failure); a stop request ends it as Down with reason "cancelled".
engine::task<result> run_once(scenarios::probe_plan plan, context& ctx);

} // namespace probe
