// IMAP sessions kept logged in between runs of the probes of one mailbox (the scenario's
// keep_session), so a mailbox probed every minute is not logged into every minute. A kept
// session is handed to one run at a time and only while its login is younger than
// keep_session: past that, the run logs in again, so authentication is still proven at least
// that often. Sessions the server closed while they sat here are found out by the NOOP the
// taker sends first. Single-threaded, like the context that owns it.
#pragma once

#include "engine/loop.h"
#include "engine/task.h"
#include "protocols/imap/session.h"

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace probe {

class session_pool {
public:
    struct kept {
        protocols::imap::session session;
        engine::clock::time_point logged_in;
    };

    /// An idle session of `mailbox` logged in less than `max_age` ago, the youngest first;
    /// older ones are dropped on the way (closed without LOGOUT).
    std::optional<kept> take(const std::string& mailbox, std::chrono::milliseconds max_age);

    /// Keeps `k` for a later run of `mailbox`. At most `max_per_mailbox` wait per mailbox: a
    /// burst of concurrent runs must not leave a burst of idle sessions behind.
    void put(const std::string& mailbox, kept k);

    std::size_t idle() const noexcept;

    /// LOGOUT from every kept session (best effort, each within its command timeout) and
    /// forget them: for the end of a plan's life, while the loop still runs.
    engine::task<void> close_all();

    static constexpr std::size_t max_per_mailbox = 2;

private:
    std::map<std::string, std::vector<kept>, std::less<>> m_idle;
};

} // namespace probe
