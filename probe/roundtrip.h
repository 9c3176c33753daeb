// The round trip of one probe: build the signed probe message, submit it over SMTP, then poll
// the fetch mailbox (IMAP or POP3) until our message shows up or the probe's deadline, counted
// from the server's 250 after DATA, passes; then delete it. The result says Up, Warning or
// Down with the stage, our reason and the server's own words.
//
// Two modes. run_once() polls within the run (the default). run_next_poll() is the classic
// monitors' mode for cron and Nagios-style schedulers: look once for the messages earlier runs
// sent, then send this run's message for the next run to find; the caller keeps the
// outstanding ids between runs (probe/state_file.h).
//
// Bounces: when the probe names a bounce mailbox, every poll round also looks there for a
// delivery status notification (RFC 3464) whose returned header carries one of our ids under
// our HMAC; one found ends the wait at once as Down at stage deliver with the DSN's status and
// diagnostic. Failing to read the bounce mailbox is a warning, never the probe's verdict.
//
// What it refuses to touch: a message is ours only when its X-Mailprobe field verifies under
// the deployment's HMAC key and it is not a bounce (classify_arrival); forgeries and everyone
// else's mail are never deleted. Besides the messages it looks for it deletes only older
// leftovers of the same probe name that verify and were sent more than the probe's deadline
// ago, and, in the bounce mailbox, the bounces of our own messages. IMAP keeps one session for
// the whole poll (INBOX, then the junk folder, then the extra folders, re-selected every
// round); POP3 opens a new session every round because a POP3 session sees a snapshot of the
// maildrop, and it looks only at INBOX.
//
// Nothing throws and every wait has a deadline: the sessions' own per-command deadlines, the
// sleeps between polls end at the probe's deadline. Single-threaded: runs on the thread's
// engine loop, and `ctx` must outlive the task.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "probe/result.h"
#include "probe/session_pool.h"
#include "probe/tokens.h"
#include "protocols/message/probe_header.h"
#include "protocols/message/probe_id.h"
#include "scenarios/plan.h"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace probe {

/// What probe runs share: the HMAC key, the id generator, the OAuth2 tokens, the kept IMAP
/// sessions, the client TLS contexts (one per
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

    /// OAuth2 tokens, shared by every probe of this context (fetched once per source).
    token_cache tokens;
    /// IMAP sessions kept between runs of mailboxes with keep_session.
    session_pool sessions;
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

/// A probe message sent by an earlier run and not seen yet.
struct outstanding {
    protocols::message::probe_id id;
    std::uint64_t sent_unix_ms = 0;   // our clock when the server accepted it
};

/// The most messages a probe keeps outstanding; older ones are given up as lost.
inline constexpr std::size_t max_outstanding = 64;

struct next_poll_result {
    result r;
    std::vector<outstanding> for_next_run;   // what the next run looks for, oldest first
};

/// Next-poll mode: one look for `earlier` (and bounces of them), then this run's message.
/// The verdict: Down when an earlier message is overdue (sent more than the deadline ago and
/// not found) or bounced, when the fetch fails, or when this run cannot send; Up when an
/// earlier message was found (delivery = first seen minus sent, on our clock, so it is "seen
/// by", bounded by the gap between runs); Pending when nothing was due yet (the first run).
engine::task<next_poll_result> run_next_poll(scenarios::probe_plan plan, context& ctx,
    std::vector<outstanding> earlier);

} // namespace probe
