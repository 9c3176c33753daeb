// The load driver and workload against the built-in server on the same loop: bounded runs
// whose counts add up (started = ok + failures by stage), in open and closed loop, a round
// trip that finds and deletes its messages, and a refused target counted at its stage.
#include "engine/loop.h"
#include "engine/scope.h"
#include "load/driver.h"
#include "load/hold.h"
#include "load/workload.h"
#include "tools/server/server.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>

using namespace std::chrono_literals;

namespace {

builtin::config world()
{
    builtin::config c;
    builtin::domain_config d{"load.test", {}, {}};
    d.mailboxes = {{"load@load.test", "", "load-pw", false}};
    c.domains = {d};
    c.listeners = {
        {"smtp", builtin::protocol::smtp, protocols::tls_mode::none, "127.0.0.1", 0},
        {"imap", builtin::protocol::imap, protocols::tls_mode::none, "127.0.0.1", 0},
    };
    return c;
}

protocols::endpoint plain(std::uint16_t port)
{
    protocols::endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.tls = protocols::tls_mode::none;
    ep.connect_timeout = 5s;
    ep.command_timeout = 5s;
    return ep;
}

protocols::message::mac_key test_key()
{
    std::array<std::uint8_t, 32> k{};
    k.fill(0x5a);
    return *protocols::message::mac_key::from_bytes(k);
}

load::target target_of(const builtin::server& srv)
{
    load::target t;
    t.smtp = plain(srv.port("smtp"));
    t.fetch = plain(srv.port("imap"));
    t.mailbox.user = "load@load.test";
    t.mailbox.secret = "load-pw";
    t.from = "sender@load.test";
    t.to = "load@load.test";
    t.body_size = 512;
    return t;
}

void expect_adds_up(const load::run_stats& s)
{
    EXPECT_EQ(s.started, s.ok + s.failed());
    EXPECT_EQ(s.latency.count(), s.started);
}

engine::task<void> with_server(builtin::server* srv, engine::task<void> body)
{
    engine::scope server;
    server.spawn(srv->run());
    co_await std::move(body);
    srv->stop();
    co_await server.join();
}

engine::task<void> drive_into(load::run_limits limits, load::operation op, load::run_stats* out)
{
    *out = co_await load::drive(limits, std::move(op), {});
}

TEST(LoadDriver, ClosedLoopSendsExactlyTheCount)
{
    engine::loop loop;
    builtin::server srv(world());
    ASSERT_TRUE(srv.start());
    load::workload w(target_of(srv), test_key());
    load::run_limits limits;
    limits.concurrency = 4;
    limits.count = 40;
    limits.duration = 30s;
    load::run_stats s;
    loop.run(with_server(&srv, drive_into(limits, [&w](std::uint64_t n) { return w.send(n); }, &s)));
    expect_adds_up(s);
    EXPECT_EQ(s.started, 40u);
    EXPECT_EQ(s.ok, 40u);
    EXPECT_EQ(srv.mailbox("load@load.test")->at(builtin::folder_id::inbox).size(), 40u);
}

TEST(LoadDriver, OpenLoopStartsAtTheRateWithinTheDuration)
{
    engine::loop loop;
    builtin::server srv(world());
    ASSERT_TRUE(srv.start());
    load::workload w(target_of(srv), test_key());
    load::run_limits limits;
    limits.rate = 200;
    limits.concurrency = 50;
    limits.duration = 500ms;
    load::run_stats s;
    const auto start = engine::clock::now();
    loop.run(with_server(&srv, drive_into(limits, [&w](std::uint64_t n) { return w.roundtrip(n); }, &s)));
    expect_adds_up(s);
    EXPECT_EQ(s.started, 100u);   // 0, 5 ms, ..., 495 ms
    EXPECT_EQ(s.ok, 100u) << (s.first_error.empty() ? "" : s.first_error.begin()->second);
    EXPECT_LT(engine::clock::now() - start, 20s);   // generous: sanitizers and a busy CI machine
    // Every round trip deleted its message.
    EXPECT_EQ(srv.mailbox("load@load.test")->at(builtin::folder_id::inbox).size(), 0u);
}

TEST(LoadDriver, ARefusedTargetCountsAtTheConnectStage)
{
    engine::loop loop;
    std::uint16_t closed_port = 0;
    {
        auto l = engine::listener::bind("127.0.0.1", 0);   // bound, then closed: nothing listens
        ASSERT_TRUE(l);
        closed_port = l->port();
    }
    load::target t;
    t.smtp = plain(closed_port);
    t.from = "a@load.test";
    t.to = "b@load.test";
    load::workload w(t, test_key());
    load::run_limits limits;
    limits.concurrency = 2;
    limits.count = 10;
    load::run_stats s;
    loop.run(drive_into(limits, [&w](std::uint64_t n) { return w.send(n); }, &s));
    expect_adds_up(s);
    EXPECT_EQ(s.ok, 0u);
    EXPECT_EQ(s.errors["connect"], 10u);
    EXPECT_FALSE(s.first_error["connect"].empty());
}

engine::task<void> hold_into(load::hold_limits limits, const load::target* t, load::hold_stats* out)
{
    *out = co_await load::hold_imap(limits, *t, {});
}

TEST(LoadHold, SessionsStayOpenAndArePolled)
{
    engine::loop loop;
    builtin::server srv(world());
    ASSERT_TRUE(srv.start());
    auto t = target_of(srv);
    load::hold_limits limits;
    limits.sessions = 20;
    limits.poll = 100ms;
    limits.duration = 350ms;
    load::hold_stats h;
    loop.run(with_server(&srv, hold_into(limits, &t, &h)));
    EXPECT_EQ(h.held, 20u);
    EXPECT_EQ(h.opens.ok, 20u);
    expect_adds_up(h.polls);
    EXPECT_EQ(h.polls.failed(), 0u);
    EXPECT_GE(h.polls.ok, 60u);   // each polled 3 or 4 times
    EXPECT_GT(h.rss_held_kib, 0);
}

} // namespace
