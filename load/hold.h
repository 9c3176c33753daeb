// Many IMAP sessions held open and polled: the shape of a monitor watching thousands of
// mailboxes on one server with connection reuse. Opens `sessions` logged-in sessions (at
// most `opening` handshakes at a time), then each looks for new mail (UID SEARCH on its
// probe header) every `poll`, spread evenly over the interval, until the duration ends;
// then all log out. Poll latency counts from each poll's planned time (open loop).
//
// Reports the client's resident memory before opening and with every session open, so
// memory per held session is measured, not estimated.
#pragma once

#include "load/driver.h"
#include "load/workload.h"

#include <chrono>
#include <cstddef>

namespace load {

struct hold_limits {
    std::size_t sessions = 1000;
    std::size_t opening = 200;
    std::chrono::milliseconds poll{5'000};
    std::chrono::milliseconds duration{10'000};   // of polling, after every session is open
};

struct hold_stats {
    run_stats opens;            // one operation per session: connect, TLS, login, SELECT
    run_stats polls;
    std::size_t held = 0;       // sessions open when polling began
    long rss_before_kib = 0;
    long rss_held_kib = 0;      // the largest sample while the sessions were held
};

/// Resident memory of this process in KiB (/proc/self/statm).
long resident_kib();

engine::task<hold_stats> hold_imap(hold_limits limits, const target& where, progress_fn progress);

} // namespace load
