// The scheduler on its own, with runs that take a known time on the real loop (the round
// trip itself has its own tests): once mode, offsets and intervals, drain letting a run in
// flight finish, stop_now cutting it, reload switching plans without cutting runs; the run
// limits (global, per server, per tenant) and the skipped start when a slot comes too late;
// the back-off from a closed loopback port with real probe runs.
#include "scheduler/schedule.h"

#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <optional>
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
    engine::stage stage = engine::stage::none;
    std::string server_reply;
};

/// How many timed runs are in flight, and the most there ever were.
struct in_flight {
    int now = 0;
    int most = 0;
};

/// A run that takes `length` and reports "finished", or "cancelled" when cut.
scheduler::run_fn timed_run(std::chrono::milliseconds length, in_flight* count = nullptr)
{
    return [length, count](scenarios::probe_plan p, probe::context&) -> engine::task<probe::result> {
        probe::result r;
        r.probe = p.spec->name;
        r.tenant = p.spec->tenant;
        if (count) {
            count->most = std::max(count->most, ++count->now);
        }
        // A probe named "hog" runs for a second: it holds its slots.
        bool finished = co_await engine::sleep_for(p.spec->name == "hog" ? 1000ms : length);
        if (count) {
            --count->now;
        }
        r.outcome = probe::status::up;
        r.reason = finished ? "finished" : "cancelled";
        co_return r;
    };
}

struct fixture {
    std::vector<record> seen;
    engine::clock::time_point started = engine::clock::now();
    in_flight flying;
    scheduler::schedule s;

    fixture(bool once, std::chrono::milliseconds run_length)
        : s([this](const probe::result& r) {
              seen.push_back({r.probe, r.reason, engine::clock::now(), r.stage, r.server_reply});
          }, once, timed_run(run_length, &flying))
    {
    }

    std::vector<record> of(const std::string& name) const
    {
        std::vector<record> out;
        std::copy_if(seen.begin(), seen.end(), std::back_inserter(out), [&](const record& r) { return r.probe == name; });
        return out;
    }
};

std::shared_ptr<scenarios::server> server_at(std::string name, std::string host, std::uint16_t port)
{
    auto s = std::make_shared<scenarios::server>();
    s->name = std::move(name);
    s->host = std::move(host);
    s->port = port;
    s->connect_timeout = 1s;
    s->command_timeout = 200ms;
    return s;
}

/// Gives probe `index` of `p` a tenant and a send server.
void place(scenarios::plan& p, std::size_t index, std::string tenant, std::shared_ptr<scenarios::server> send)
{
    auto spec = std::make_shared<scenarios::probe>(*p.probes[index].spec);
    spec->tenant = std::move(tenant);
    p.probes[index].spec = spec;
    p.probes[index].send_via = std::move(send);
}

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

TEST(Schedule, TheGlobalLimitQueuesRunsAndEachStillRunsOnce)
{
    fixture f(true, 100ms);
    auto plan = plan_of({"a", "b", "c", "d", "e"}, 1h);
    plan.limits.concurrent = 2;
    drive(f, std::move(plan), [](scheduler::schedule*) -> engine::task<void> { co_return; });
    ASSERT_EQ(f.seen.size(), 5u);
    for (const auto& r : f.seen) {
        EXPECT_EQ(r.reason, "finished") << r.probe;
    }
    EXPECT_EQ(f.flying.most, 2);
    EXPECT_GE(f.seen.back().at - f.started, 290ms);   // three waves of two (libuv timers may end a millisecond early)
}

TEST(Schedule, OneTenantAtItsLimitDoesNotHoldBackAnother)
{
    fixture f(true, 100ms);
    auto plan = plan_of({"a1", "a2", "a3", "b1"}, 1h);
    for (std::size_t i = 0; i < 3; ++i) {
        place(plan, i, "acme", nullptr);
    }
    place(plan, 3, "globex", nullptr);
    plan.limits.per_tenant = 1;
    drive(f, std::move(plan), [](scheduler::schedule*) -> engine::task<void> { co_return; });
    ASSERT_EQ(f.seen.size(), 4u);
    EXPECT_EQ(f.flying.most, 2);   // one per tenant
    auto b = f.of("b1");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_LT(b[0].at - f.started, 190ms);   // in the first wave, beside acme's first run
    EXPECT_GE(f.seen.back().at - f.started, 290ms);
}

TEST(Schedule, TheServerLimitCountsHostAndPortNotTheServersName)
{
    fixture f(true, 100ms);
    auto plan = plan_of({"x1", "x2", "y1"}, 1h);
    // Two scenario names for one host:port share its slots; another port has its own.
    place(plan, 0, "t", server_at("relay-a", "127.0.0.1", 2525));
    place(plan, 1, "t", server_at("relay-b", "127.0.0.1", 2525));
    place(plan, 2, "t", server_at("other", "127.0.0.1", 2526));
    plan.limits.per_server = 1;
    drive(f, std::move(plan), [](scheduler::schedule*) -> engine::task<void> { co_return; });
    ASSERT_EQ(f.seen.size(), 3u);
    EXPECT_EQ(f.flying.most, 2);
    EXPECT_GE(f.seen.back().at - f.started, 190ms);   // x1 and x2 one after the other
}

TEST(Schedule, AStartThatFindsNoSlotBeforeTheNextIsSkippedWithAResult)
{
    fixture f(false, 50ms);
    auto plan = plan_of({"hog", "b"}, 200ms);
    plan.probes[0].offset = 0ms;
    plan.probes[1].offset = 10ms;
    auto hog = std::make_shared<scenarios::probe>(*plan.probes[0].spec);
    hog->interval = 1h;
    plan.probes[0].spec = hog;
    plan.limits.concurrent = 1;
    drive(f, std::move(plan), [](scheduler::schedule* s) -> engine::task<void> {
        if (co_await engine::sleep_for(1350ms)) {
            s->drain();
        }
    });
    // b's starts: 10, 210, ..., 1210 ms. The hog holds the only slot until 1000 ms: each start
    // until 610 ms is skipped when the next one comes, with a result naming the full limit;
    // the start at 810 ms gets the slot at 1000 ms, and its run, still going at 1010 ms, is
    // that start's run too; 1210 ms runs on time.
    auto b = f.of("b");
    std::size_t skipped = 0;
    std::size_t ran = 0;
    for (const auto& r : b) {
        if (r.stage == engine::stage::schedule) {
            ++skipped;
            EXPECT_NE(r.reason.find("no free slot before the next start: all 1 run slots were busy (limits.concurrent)"),
                std::string::npos) << r.reason;
        } else {
            EXPECT_EQ(r.reason, "finished");
            EXPECT_GE(r.at - f.started, 990ms);
            ++ran;
        }
    }
    EXPECT_EQ(skipped, 4u);   // 10, 210, 410, 610
    EXPECT_EQ(ran, 2u);       // 810 (late, at 1000) and 1210
}

TEST(Schedule, ADrainReportsTheRunsStillWaitingForASlot)
{
    fixture f(false, 50ms);
    auto plan = plan_of({"hog", "b"}, 1h);
    plan.probes[1].offset = 10ms;
    plan.limits.concurrent = 1;
    drive(f, std::move(plan), [](scheduler::schedule* s) -> engine::task<void> {
        if (co_await engine::sleep_for(100ms)) {
            s->drain();
        }
    });
    auto b = f.of("b");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].stage, engine::stage::schedule);
    EXPECT_NE(b[0].reason.find("not started: mailprobe is stopping"), std::string::npos) << b[0].reason;
    EXPECT_EQ(f.of("hog").size(), 1u);   // the run in flight still finished
}

TEST(Schedule, AReloadReportsTheOldPlansRunsStillWaitingAndTheNewLimitsApply)
{
    fixture f(false, 50ms);
    auto plan = plan_of({"hog", "b"}, 1h);
    plan.probes[1].offset = 10ms;
    plan.limits.concurrent = 1;
    drive(f, std::move(plan), [](scheduler::schedule* s) -> engine::task<void> {
        if (!co_await engine::sleep_for(100ms)) {
            co_return;
        }
        s->reload(plan_of({"new"}, 1h), test_context());   // the built-in limits: 2,000 runs
        if (co_await engine::sleep_for(300ms)) {
            s->drain();
        }
    });
    auto b = f.of("b");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].stage, engine::stage::schedule);
    EXPECT_NE(b[0].reason.find("not started: the scenario was reloaded"), std::string::npos) << b[0].reason;
    auto fresh = f.of("new");
    ASSERT_EQ(fresh.size(), 1u);   // beside the old plan's hog, which still holds a slot
    EXPECT_EQ(fresh[0].reason, "finished");
    EXPECT_LT(fresh[0].at - f.started, 300ms);
    EXPECT_EQ(f.of("hog").size(), 1u);
}

/// A port on loopback where nothing listens (bound, then closed again).
std::uint16_t closed_port()
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    return l ? l->port() : 0;
}

/// `n` probes that send through 127.0.0.1:`port`, run for real (probe::run_once).
scenarios::plan refused_plan(int n, std::uint16_t port, std::chrono::milliseconds interval)
{
    scenarios::plan p;
    p.limits.backoff_initial = 100ms;
    p.limits.backoff_max = 400ms;
    auto smtp = server_at("closed-smtp", "127.0.0.1", port);
    auto imap = server_at("closed-imap", "127.0.0.1", port);
    imap->protocol = scenarios::protocol_kind::imap;
    auto tenant = std::make_shared<scenarios::tenant>();
    tenant->name = "t";
    auto box = std::make_shared<scenarios::mailbox>();
    box->name = "box";
    box->address = "probe@example.test";
    box->server = "closed-imap";
    box->login.user = "probe@example.test";
    for (int i = 0; i < n; ++i) {
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = "p" + std::to_string(i);
        spec->tenant = "t";
        spec->send_via = "closed-smtp";
        spec->from = "sender@example.test";
        spec->to = "probe@example.test";
        spec->fetch = "box";
        spec->interval = interval;
        spec->deadline = 1s;
        scenarios::probe_plan pp;
        pp.spec = spec;
        pp.owner = tenant;
        pp.send_via = smtp;
        pp.fetch = box;
        pp.fetch_server = imap;
        pp.offset = scenarios::start_offset("t", spec->name, interval);
        p.probes.push_back(std::move(pp));
    }
    return p;
}

TEST(Schedule, AServerThatRefusesIsBackedOffAndTestedOneRunAtATime)
{
    std::uint16_t port = closed_port();
    ASSERT_NE(port, 0);
    std::vector<record> seen;
    auto started = engine::clock::now();
    scheduler::schedule s([&seen](const probe::result& r) {
        seen.push_back({r.probe, r.reason, engine::clock::now(), r.stage, r.server_reply});
    }, false);
    engine::loop loop;
    loop.run([](scheduler::schedule* sched, std::uint16_t p) -> engine::task<void> {
        engine::scope side;
        side.spawn([](scheduler::schedule* sc) -> engine::task<void> {
            if (co_await engine::sleep_for(1500ms)) {
                sc->drain();
            }
        }(sched));
        co_await sched->run(refused_plan(5, p, 50ms), test_context());
        co_await side.join();
    }(&s, port));
    // Five probes every 50 ms for 1.5 s: about 150 starts, each with a result, every one Down
    // at connect quoting the refusal; without back-off each would have connected.
    std::vector<engine::clock::time_point> tried;
    for (const auto& r : seen) {
        EXPECT_EQ(r.stage, engine::stage::connect) << r.reason;
        EXPECT_FALSE(r.server_reply.empty()) << r.reason;
        if (r.reason.find("not run: 127.0.0.1:" + std::to_string(port) + " refused") == std::string::npos) {
            EXPECT_NE(r.reason.find("refused"), std::string::npos) << r.reason;
            tried.push_back(r.at);
        }
    }
    EXPECT_GE(seen.size(), 120u);
    // Tried at the start, then after 100, 200, 400, 400 ms...: about 6 connects in 1.5 s.
    EXPECT_GE(tried.size(), 3u);
    EXPECT_LE(tried.size(), 8u);
    for (std::size_t i = 1; i < tried.size(); ++i) {
        EXPECT_GE(tried[i] - tried[i - 1], 90ms) << "connect " << i;
    }
    EXPECT_LT(seen.back().at - started, 3s);
}

TEST(Schedule, AServerThatIsBackEndsTheBackOff)
{
    std::uint16_t port = closed_port();
    ASSERT_NE(port, 0);
    std::vector<record> seen;
    scheduler::schedule s([&seen](const probe::result& r) {
        seen.push_back({r.probe, r.reason, engine::clock::now(), r.stage, r.server_reply});
    }, false);
    engine::loop loop;
    std::optional<engine::listener> back;
    loop.run([](scheduler::schedule* sched, std::uint16_t p, std::optional<engine::listener>* l) -> engine::task<void> {
        engine::scope side;
        side.spawn([](scheduler::schedule* sc, std::uint16_t port_no, std::optional<engine::listener>* lis)
                       -> engine::task<void> {
            // Listening (never answering) from 300 ms: connects succeed, greetings time out.
            if (!co_await engine::sleep_for(300ms)) {
                co_return;
            }
            if (auto bound = engine::listener::bind("127.0.0.1", port_no)) {
                lis->emplace(std::move(*bound));
            }
            if (co_await engine::sleep_for(1200ms)) {
                sc->drain();
            }
        }(sched, p, l));
        co_await sched->run(refused_plan(3, p, 100ms), test_context());
        co_await side.join();
    }(&s, port, &back));
    ASSERT_TRUE(back.has_value()) << "could not listen on the port again";
    auto first_answer = std::find_if(seen.begin(), seen.end(), [](const record& r) {
        return r.stage == engine::stage::greeting;
    });
    ASSERT_NE(first_answer, seen.end());
    EXPECT_TRUE(std::any_of(seen.begin(), first_answer, [](const record& r) {
        return r.reason.find("not run:") != std::string::npos;
    }));
    // Once a run got past connect, no probe is held back any more.
    for (auto it = first_answer; it != seen.end(); ++it) {
        EXPECT_EQ(it->reason.find("not run:"), std::string::npos) << it->reason;
    }
}

} // namespace
