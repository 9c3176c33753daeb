// The scheduler: every probe of a plan on its interval, first at its stable offset (so a
// thousand probes do not all start at :00), one run at a time per probe, all on the thread's
// loop. Each result goes to the sink as it completes.
//
// Built to hold 100,000 probes (docs/SCALING.md): an idle probe is a few words in a table and
// one entry in a heap of next start times, which one timer walks; only a running probe has a
// coroutine. Runs are limited by the plan's run_limits: in total, per server (host:port of
// the SMTP and of the fetch server; a run holds both for its whole length) and per tenant.
// Every planned start gives exactly one result, except the starts that come while the
// probe's own run is still going (one run at a time per probe: that run's result answers
// for them):
// - a run that finds no free slot waits, oldest first; if its next start comes before a slot
//   does, this start is reported Down at stage schedule, saying which limit was full, and
//   the probe waits on for the next one;
// - a server whose connect failed with refused or reset is backed off (initial, doubling,
//   capped): until the back-off ends its probes are not run but reported Down at stage
//   connect with the server's last words, then one run at a time tests whether it is back;
//   any other outcome of that run ends the back-off.
//
// How it ends, as an operator expects of a daemon:
// - drain() (SIGTERM, SIGINT): no new runs start (runs still waiting for a slot are reported
//   as not started); runs in flight finish, unless stop_now() cuts them (the caller's grace
//   deadline, or a second signal): a cut run ends Down "cancelled", and its message is
//   deleted as a leftover by a later run of the probe;
// - reload() (SIGHUP): the current plan's probes start no new runs, the new plan's probes
//   start on their offsets; runs in flight finish, and their slots count for the new plan;
// - in once mode every probe runs once and run() returns when all are done.
// Single-threaded: every member is called on the loop's thread.
#pragma once

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/task.h"
#include "probe/result.h"
#include "probe/roundtrip.h"
#include "scenarios/plan.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

namespace scheduler {

using result_sink = std::function<void(const probe::result&)>;

/// How a probe run happens; the default is probe::run_once. A next-poll run (run --once
/// --state) wraps run_next_poll with its state.
using run_fn = std::function<engine::task<probe::result>(scenarios::probe_plan, probe::context&)>;

/// Called as each run starts with how late it is against its planned start (benchmarks,
/// metrics).
using start_observer = std::function<void(engine::clock::duration late)>;

class schedule {
public:
    schedule(result_sink sink, bool once, run_fn run = {});
    schedule(const schedule&) = delete;
    schedule& operator=(const schedule&) = delete;

    /// Runs `plan` (signed with `ctx`) until drained, or each probe once; further plans come
    /// with reload(). Returns when no probe runs or waits any more.
    engine::task<void> run(scenarios::plan plan, probe::context ctx);

    void drain() noexcept;
    void stop_now() noexcept;
    /// Replaces the running plan; ignored once draining.
    void reload(scenarios::plan plan, probe::context ctx);

    void on_start(start_observer o) { m_on_start = std::move(o); }

    bool draining() const noexcept { return m_draining; }
    std::size_t running() const noexcept { return m_running; }

private:
    /// A host:port some probes talk to: its runs in flight and its back-off.
    struct server_state {
        std::string key;                 // "host:port"
        std::uint32_t running = 0;
        std::uint32_t refusals = 0;      // refused connects in a row; 0: not backed off
        engine::clock::time_point retry_at{};
        bool testing = false;            // a run is finding out whether it is back
        engine::errc last_code = engine::errc::refused;
        std::string last_reason;         // what the last refused run said
        std::string last_reply;
    };

    struct tenant_state {
        std::uint32_t running = 0;
    };

    /// What the scheduler keeps per probe between runs (the plan holds the rest).
    struct probe_state {
        engine::clock::time_point slot{};   // the planned start being run or waited for
        std::uint32_t send_server = 0;      // indexes into m_servers
        std::uint32_t fetch_server = 0;
        std::uint32_t tenant = 0;           // index into m_tenants
        bool running = false;
        bool waiting = false;
    };

    struct due_entry {
        engine::clock::time_point at;
        std::uint32_t probe;
    };

    /// One loaded plan with its context and its probes' timetable.
    struct generation {
        scenarios::plan plan;
        probe::context ctx;
        std::vector<probe_state> probes;
        std::vector<due_entry> due;          // a min-heap on `at`
        std::deque<std::uint32_t> waiting;   // due, no slot yet; oldest first
        engine::scope ticker;                // the one task walking `due`
        engine::scope runs;                  // the probes running now
        bool closed = false;                 // starts no more runs
        bool done = false;
        generation(scenarios::plan p, probe::context c) : plan(std::move(p)), ctx(std::move(c)) {}
    };

    /// Why a probe cannot start now.
    enum class verdict : std::uint8_t { start, wait, back_off };

    void start(scenarios::plan plan, probe::context ctx);
    static engine::task<void> run_generation(schedule* self, generation* g);
    static engine::task<void> tick(schedule* self, generation* g);
    static engine::task<void> run_probe(schedule* self, generation* g, std::uint32_t i);

    std::uint32_t server_index(const scenarios::server& s);
    std::uint32_t tenant_index(const std::string& name);
    void slot_due(generation& g, std::uint32_t i, engine::clock::time_point slot);
    /// Whether probe `i` may start now; a backed-off one gets its result here.
    verdict admit(const generation& g, std::uint32_t i, engine::clock::time_point now);
    void launch(generation& g, std::uint32_t i);
    void finished(generation& g, std::uint32_t i, const probe::result& r);
    void pump();
    void close(generation& g, const char* why);

    probe::result skipped(const generation& g, std::uint32_t i, std::string why) const;
    probe::result backed_off(const generation& g, std::uint32_t i, std::uint32_t server,
        engine::clock::time_point now) const;
    std::string full_limit(const generation& g, std::uint32_t i) const;

    result_sink m_sink;
    bool m_once;
    run_fn m_run;
    start_observer m_on_start;
    bool m_draining = false;
    std::stop_source m_hard;                // cuts runs in flight
    std::list<generation> m_generations;    // a list: their addresses stay put
    engine::scope m_all;                    // one task per generation
    scenarios::run_limits m_limits;         // the newest plan's
    std::uint32_t m_running = 0;
    bool m_pumping = false;
    bool m_pump_again = false;
    std::vector<server_state> m_servers;    // shared by every generation
    std::unordered_map<std::string, std::uint32_t> m_server_index;
    std::vector<tenant_state> m_tenants;
    std::unordered_map<std::string, std::uint32_t> m_tenant_index;
};

} // namespace scheduler
