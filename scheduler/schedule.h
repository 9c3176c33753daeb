// The scheduler: every probe of a plan on its interval, first at its stable offset (so a
// thousand probes do not all start at :00), one run at a time per probe, all probes
// concurrently on the thread's loop. Each result goes to the sink as it completes.
//
// How it ends, as an operator expects of a daemon:
// - drain() (SIGTERM, SIGINT): no new runs start; runs in flight finish, unless stop_now()
//   cuts them (the caller's grace deadline, or a second signal): a cut run ends Down
//   "cancelled", and its message is deleted as a leftover by a later run of the probe;
// - reload() (SIGHUP): the current plan's probes start no new runs, the new plan's probes
//   start on their offsets; runs in flight finish;
// - in once mode every probe runs once and run() returns when all are done.
// Single-threaded: every member is called on the loop's thread.
#pragma once

#include "engine/scope.h"
#include "engine/task.h"
#include "probe/result.h"
#include "probe/roundtrip.h"
#include "scenarios/plan.h"

#include <functional>
#include <list>
#include <stop_token>

namespace scheduler {

using result_sink = std::function<void(const probe::result&)>;

/// How a probe run happens; the default is probe::run_once. A next-poll run (run --once
/// --state) wraps run_next_poll with its state.
using run_fn = std::function<engine::task<probe::result>(scenarios::probe_plan, probe::context&)>;

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

    bool draining() const noexcept { return m_draining; }

private:
    /// One loaded plan with its context; its scope holds the probes' loops.
    struct generation {
        scenarios::plan plan;
        probe::context ctx;
        engine::scope loops;
        bool done = false;
        generation(scenarios::plan p, probe::context c) : plan(std::move(p)), ctx(std::move(c)) {}
    };

    void start(scenarios::plan plan, probe::context ctx);
    static engine::task<void> run_generation(schedule* self, generation* g);
    static engine::task<void> keep_probing(schedule* self, scenarios::probe_plan plan, probe::context* ctx);

    result_sink m_sink;
    bool m_once;
    run_fn m_run;
    bool m_draining = false;
    std::stop_source m_hard;                // cuts runs in flight
    std::list<generation> m_generations;    // a list: their addresses stay put
    engine::scope m_all;                    // one task per generation
};

} // namespace scheduler
