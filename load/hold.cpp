// Held IMAP sessions: see hold.h.
#include "load/hold.h"

#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/imap/session.h"

#include <unistd.h>

#include <fstream>
#include <optional>
#include <vector>

using namespace std::chrono_literals;

namespace load {

long resident_kib()
{
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    statm >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

namespace {

using session_slot = std::optional<protocols::imap::session>;

struct hold_state {
    hold_limits limits;
    const target* where;
    hold_stats stats;
    std::vector<session_slot> sessions;
    engine::clock::time_point poll_start;
};

engine::task<void> open_one(hold_state* h, std::size_t i)
{
    const auto start = engine::clock::now();
    ++h->stats.opens.started;
    auto s = co_await protocols::imap::session::connect(h->where->fetch, nullptr);
    engine::result<void> outcome;
    if (!s) {
        outcome = std::move(s).err();
    } else if (auto l = co_await s->login(h->where->mailbox); !l) {
        outcome = std::move(l);
        co_await s->logout();
    } else if (auto sel = co_await s->select("INBOX"); !sel) {
        outcome = std::move(sel).err();
        co_await s->logout();
    } else {
        h->sessions[i].emplace(std::move(*s));
    }
    h->stats.opens.record(engine::clock::now() - start, outcome);
}

engine::task<void> poll_one(hold_state* h, std::size_t i)
{
    auto& s = *h->sessions[i];
    const auto end = h->poll_start + h->limits.duration;
    // Spread the sessions over the interval, so polls arrive at an even rate.
    auto due = h->poll_start + h->limits.poll * static_cast<long>(i) / static_cast<long>(h->sessions.size());
    while (due < end) {
        const bool slept = co_await engine::sleep_until(due);   // see driver.cpp: not in the condition
        if (!slept) {
            break;
        }
        ++h->stats.polls.started;
        auto found = co_await s.uid_search_header("X-Mailprobe", "load-poll");
        engine::result<void> outcome;
        if (!found) {
            outcome = std::move(found).err().at(engine::stage::fetch);
        }
        h->stats.polls.record(engine::clock::now() - due, outcome);
        if (!outcome) {
            break;   // the session is broken; it counts as one failed poll
        }
        due += h->limits.poll;
    }
    co_await s.logout();
}

engine::task<void> sample_memory(hold_state* h)
{
    for (;;) {
        const bool slept = co_await engine::sleep_for(500ms);
        if (!slept) {
            break;
        }
        h->stats.rss_held_kib = std::max(h->stats.rss_held_kib, resident_kib());
    }
}

engine::task<void> report_progress(hold_state* h, progress_fn* progress)
{
    for (;;) {
        const bool slept = co_await engine::sleep_for(1s);
        if (!slept) {
            break;
        }
        (*progress)(h->stats.polls, engine::clock::now() - h->poll_start);
    }
}

} // namespace

engine::task<hold_stats> hold_imap(hold_limits limits, const target& where, progress_fn progress)
{
    hold_state h{limits, &where, hold_stats{}, {}, {}};
    h.sessions.resize(limits.sessions);
    h.stats.rss_before_kib = resident_kib();
    const auto open_start = engine::clock::now();
    {
        engine::scope opening(limits.opening);
        for (std::size_t i = 0; i < limits.sessions; ++i) {
            opening.spawn(open_one(&h, i));
        }
        co_await opening.join();
    }
    h.stats.opens.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(engine::clock::now() - open_start);
    std::erase_if(h.sessions, [](const session_slot& s) { return !s.has_value(); });
    h.stats.held = h.sessions.size();
    h.stats.rss_held_kib = resident_kib();
    h.poll_start = engine::clock::now();
    {
        engine::scope pollers;
        engine::scope guard;
        guard.spawn(sample_memory(&h));
        if (progress) {
            guard.spawn(report_progress(&h, &progress));
        }
        for (std::size_t i = 0; i < h.sessions.size(); ++i) {
            pollers.spawn(poll_one(&h, i));
        }
        co_await pollers.join();
        guard.request_stop();
        co_await guard.join();
    }
    h.stats.polls.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(engine::clock::now() - h.poll_start);
    co_return std::move(h.stats);
}

} // namespace load
