// The resolver's cache with an injected lookup (no test asks DNS about a name): concurrent
// resolves of one name share one lookup, a found name is reused for its TTL and a failure for
// the negative TTL, every waiter keeps its own deadline, and static hosts and IP literals
// never reach the lookup.
#include "engine/resolver.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

/// A lookup that answers 192.0.2.7 (or an error) when release() is called, counting calls.
struct fake_dns {
    int calls = 0;
    bool fail = false;
    std::vector<std::function<void(engine::lookup_result)>> pending;

    engine::dns_settings settings(std::chrono::milliseconds ttl, std::chrono::milliseconds negative_ttl)
    {
        engine::dns_settings s;
        s.ttl = ttl;
        s.negative_ttl = negative_ttl;
        s.lookup = [this](const std::string&, std::function<void(engine::lookup_result)> done) {
            ++calls;
            pending.push_back(std::move(done));
        };
        return s;
    }

    void release()
    {
        auto waiting = std::move(pending);
        pending.clear();
        for (auto& done : waiting) {
            if (fail) {
                done(engine::make_error(engine::stage::resolve, engine::errc::resolve_failed, "no such name"));
            } else {
                done(std::vector<engine::address>{*engine::parse_ip("192.0.2.7", 0)});
            }
        }
    }
};

/// Releases the fake's lookups after `delay`.
engine::task<void> release_after(fake_dns* dns, std::chrono::milliseconds delay)
{
    // A named result: GCC 12 mis-compiled the co_await inside this if's condition.
    bool slept = co_await engine::sleep_for(delay);
    if (slept) {
        dns->release();
    }
}

engine::task<void> resolve_into(std::string host, std::uint16_t port, std::chrono::milliseconds wait,
    std::vector<engine::result<std::vector<engine::address>>>* out)
{
    out->push_back(co_await engine::resolve(std::move(host), port, engine::after(wait)));
}

std::string first_of(const engine::result<std::vector<engine::address>>& r)
{
    return r && !r->empty() ? r->front().to_string() : std::string("error");
}

TEST(Resolver, ConcurrentResolvesOfOneNameShareOneLookup)
{
    engine::loop loop;
    fake_dns dns;
    loop.dns().configure(dns.settings(60s, 5s));
    std::vector<engine::result<std::vector<engine::address>>> got;
    loop.run([](fake_dns* d, std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        engine::scope s;
        for (int i = 0; i < 100; ++i) {
            s.spawn(resolve_into("mx.example.test", static_cast<std::uint16_t>(1000 + i), 2s, out));
        }
        s.spawn(release_after(d, 20ms));
        co_await s.join();
    }(&dns, &got));
    EXPECT_EQ(dns.calls, 1);
    EXPECT_EQ(loop.dns().lookups(), 1u);
    ASSERT_EQ(got.size(), 100u);
    for (const auto& r : got) {
        ASSERT_TRUE(r) << r.err().describe();
        EXPECT_EQ(r->front().get()->sa_family, AF_INET);
    }
    // Each caller gets its own port on the shared addresses.
    EXPECT_EQ(first_of(got[0]).substr(0, 10), "192.0.2.7:");
}

TEST(Resolver, AFoundNameIsReusedForItsTtlThenLookedUpAgain)
{
    engine::loop loop;
    fake_dns dns;
    loop.dns().configure(dns.settings(150ms, 5s));
    std::vector<engine::result<std::vector<engine::address>>> got;
    loop.run([](fake_dns* d, std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        {
            engine::scope s;
            s.spawn(resolve_into("mx.example.test", 25, 2s, out));
            s.spawn(release_after(d, 10ms));
            co_await s.join();
        }
        co_await resolve_into("mx.example.test", 587, 2s, out);   // cached: no wait, no lookup
        co_await engine::sleep_for(200ms);                        // past the TTL
        engine::scope s;
        s.spawn(resolve_into("mx.example.test", 25, 2s, out));
        s.spawn(release_after(d, 10ms));
        co_await s.join();
    }(&dns, &got));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(first_of(got[0]), "192.0.2.7:25");
    EXPECT_EQ(first_of(got[1]), "192.0.2.7:587");
    EXPECT_EQ(first_of(got[2]), "192.0.2.7:25");
    EXPECT_EQ(dns.calls, 2);
}

TEST(Resolver, AFailedLookupIsRememberedForTheNegativeTtl)
{
    engine::loop loop;
    fake_dns dns;
    dns.fail = true;
    loop.dns().configure(dns.settings(60s, 100ms));
    std::vector<engine::result<std::vector<engine::address>>> got;
    loop.run([](fake_dns* d, std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        for (int round = 0; round < 2; ++round) {
            engine::scope s;
            s.spawn(resolve_into("nx.example.test", 25, 2s, out));
            s.spawn(release_after(d, 10ms));
            co_await s.join();
            co_await resolve_into("nx.example.test", 25, 2s, out);   // the remembered failure
            co_await engine::sleep_for(150ms);
        }
    }(&dns, &got));
    ASSERT_EQ(got.size(), 4u);
    for (const auto& r : got) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.err().code, engine::errc::resolve_failed);
        EXPECT_EQ(r.err().where, engine::stage::resolve);
    }
    EXPECT_EQ(dns.calls, 2);
}

TEST(Resolver, EachWaiterKeepsItsDeadlineAndALateAnswerStillFillsTheCache)
{
    engine::loop loop;
    fake_dns dns;
    loop.dns().configure(dns.settings(60s, 5s));
    std::vector<engine::result<std::vector<engine::address>>> got;
    auto started = engine::clock::now();
    loop.run([](std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        engine::scope s;
        s.spawn(resolve_into("slow.example.test", 25, 50ms, out));
        s.spawn(resolve_into("slow.example.test", 25, 50ms, out));
        co_await s.join();
    }(&got));
    EXPECT_LT(engine::clock::now() - started, 1s);
    ASSERT_EQ(got.size(), 2u);
    for (const auto& r : got) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.err().code, engine::errc::timed_out);
    }
    dns.release();   // the answer comes after everyone gave up
    got.clear();
    loop.run(resolve_into("slow.example.test", 25, 50ms, &got));
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(first_of(got[0]), "192.0.2.7:25");
    EXPECT_EQ(dns.calls, 1);
}

TEST(Resolver, AStopEndsTheWaitAsCancelled)
{
    engine::loop loop;
    fake_dns dns;
    loop.dns().configure(dns.settings(60s, 5s));
    std::vector<engine::result<std::vector<engine::address>>> got;
    std::stop_source stop;
    loop.run([](std::stop_source* st, std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        engine::scope s;
        s.spawn(resolve_into("slow.example.test", 25, 5s, out));
        s.spawn([](std::stop_source* source) -> engine::task<void> {
            co_await engine::sleep_for(20ms);
            source->request_stop();
        }(st));
        co_await s.join();
    }(&stop, &got), stop.get_token());
    ASSERT_EQ(got.size(), 1u);
    ASSERT_FALSE(got[0]);
    EXPECT_EQ(got[0].err().code, engine::errc::cancelled);
    dns.release();
}

TEST(Resolver, StaticHostsAndIpLiteralsNeverReachTheLookup)
{
    engine::loop loop;
    fake_dns dns;
    loop.dns().configure(dns.settings(60s, 5s));
    loop.add_host("mail.internal.test", "127.0.0.1");
    std::vector<engine::result<std::vector<engine::address>>> got;
    loop.run([](std::vector<engine::result<std::vector<engine::address>>>* out) -> engine::task<void> {
        co_await resolve_into("mail.internal.test", 25, 1s, out);
        co_await resolve_into("127.0.0.1", 143, 1s, out);
        co_await resolve_into("::1", 993, 1s, out);
    }(&got));
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(first_of(got[0]), "127.0.0.1:25");
    EXPECT_EQ(first_of(got[1]), "127.0.0.1:143");
    EXPECT_EQ(first_of(got[2]), "[::1]:993");
    EXPECT_EQ(dns.calls, 0);
    EXPECT_EQ(loop.dns().lookups(), 0u);
}

} // namespace
