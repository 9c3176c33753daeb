// The scheduler on its own, with runs that take a known time on the real loop (the round
// trip itself has its own tests): once mode, offsets and intervals, drain letting a run in
// flight finish, stop_now cutting it, reload switching plans without cutting runs.
#include "scheduler/schedule.h"

#include "engine/loop.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

probe::context test_context()
{
    std::array<std::uint8_t, 32> key{};
    key.fill(7);
    return probe::context(*protocols::message::mac_key::from_bytes(key));
}

scenarios::plan plan_of(std::vector<std::string> names, std::chrono::milliseconds interval,
    std::chrono::milliseconds offset = 0ms)
{
    scenarios::plan p;
    for (auto& n : names) {
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = std::move(n);
        spec->interval = interval;
        scenarios::probe_plan pp;
        pp.spec = spec;
        pp.offset = offset;
        p.probes.push_back(std::move(pp));
    }
    return p;
}

struct record {
    std::string probe;
    std::string reason;
    engine::clock::time_point at;
};

/// A run that takes `length` and reports "finished", or "cancelled" when cut.
scheduler::run_fn timed_run(std::chrono::milliseconds length)
{
    return [length](scenarios::probe_plan p, probe::context&) -> engine::task<probe::result> {
        probe::result r;
        r.probe = p.spec->name;
        bool finished = co_await engine::sleep_for(length);
        r.reason = finished ? "finished" : "cancelled";
        co_return r;
    };
}

struct fixture {
    std::vector<record> seen;
    engine::clock::time_point started = engine::clock::now();
    scheduler::schedule s;

    fixture(bool once, std::chrono::milliseconds run_length)
        : s([this](const probe::result& r) { seen.push_back({r.probe, r.reason, engine::clock::now()}); }, once,
              timed_run(run_length))
    {
    }
};

/// Runs `body` next to the schedule: it acts on the schedule at chosen moments.
template <class Body>
void drive(fixture& f, scenarios::plan plan, Body body)
{
    engine::loop loop;
    loop.run([](fixture* fx, scenarios::plan p, Body b) -> engine::task<void> {
        engine::scope side;
        side.spawn(b(&fx->s));
        co_await fx->s.run(std::move(p), test_context());
        side.request_stop();
        co_await side.join();
    }(&f, std::move(plan), std::move(body)));
}

TEST(Schedule, OnceRunsEveryProbeOnceAndConcurrently)
{
    fixture f(true, 200ms);
    drive(f, plan_of({"a", "b", "c"}, 1h), [](scheduler::schedule*) -> engine::task<void> { co_return; });
    ASSERT_EQ(f.seen.size(), 3u);
    for (const auto& r : f.seen) {
        EXPECT_EQ(r.reason, "finished");
        // All three ran side by side, not one after the other.
        EXPECT_LT(r.at - f.started, 550ms);
    }
}

TEST(Schedule, DrainLetsTheRunInFlightFinishAndStartsNoOther)
{
    fixture f(false, 300ms);
    drive(f, plan_of({"a"}, 400ms, 50ms), [](scheduler::schedule* s) -> engine::task<void> {
        // Runs start at 50 ms and 450 ms; drain at 550 ms, in the second run.
        if (co_await engine::sleep_for(550ms)) {
            s->drain();
        }
    });
    ASSERT_EQ(f.seen.size(), 2u);
    EXPECT_EQ(f.seen[0].reason, "finished");
    EXPECT_EQ(f.seen[1].reason, "finished");
    EXPECT_GE(f.seen[0].at - f.started, 350ms);   // offset + run
    EXPECT_GE(f.seen[1].at - f.started, 750ms);   // second slot + run: not cut by the drain
}

TEST(Schedule, StopNowCutsTheRunInFlight)
{
    fixture f(false, 2s);
    drive(f, plan_of({"a", "b"}, 1h), [](scheduler::schedule* s) -> engine::task<void> {
        if (co_await engine::sleep_for(100ms)) {
            s->stop_now();
        }
    });
    ASSERT_EQ(f.seen.size(), 2u);
    for (const auto& r : f.seen) {
        EXPECT_EQ(r.reason, "cancelled");
        EXPECT_LT(r.at - f.started, 1s);
    }
}

TEST(Schedule, ReloadSwitchesPlansWithoutCuttingRuns)
{
    fixture f(false, 150ms);
    drive(f, plan_of({"old"}, 200ms), [](scheduler::schedule* s) -> engine::task<void> {
        if (!co_await engine::sleep_for(250ms)) {   // "old" is in its second run
            co_return;
        }
        s->reload(plan_of({"new"}, 200ms), test_context());
        if (co_await engine::sleep_for(500ms)) {
            s->drain();
        }
    });
    std::size_t old_runs = 0;
    std::size_t new_runs = 0;
    for (const auto& r : f.seen) {
        EXPECT_EQ(r.reason, "finished") << r.probe;
        (r.probe == "old" ? old_runs : new_runs)++;
        if (r.probe == "old") {
            // Nothing of the old plan starts after the reload: its last run ends by 400 ms.
            EXPECT_LT(r.at - f.started, 450ms);
        }
    }
    EXPECT_EQ(old_runs, 2u);
    EXPECT_GE(new_runs, 2u);
}

} // namespace
