// Plan tests: resolved and shared servers/mailboxes, tenant and probe filters, disabled
// probes, and start offsets that are stable and inside the interval.
#include "scenario_text.h"

#include "scenarios/plan.h"

#include <gtest/gtest.h>

#include <set>

namespace {

using namespace std::chrono_literals;
using scenario_test::all_errors;
using scenario_test::edited;
using scenario_test::options;

scenarios::scenario three_probes()
{
    auto r = scenarios::load_string(edited(R"("fetch": "int-probe"}
  ])", R"("fetch": "int-probe", "bounce_mailbox": "int-probe"},
    {"name": "p2", "tenant": "u", "topology": 2, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@external.test", "fetch": "ext-probe"},
    {"name": "off", "tenant": "u", "topology": 1, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe", "enabled": false}
  ])"), "plan.json", options());
    EXPECT_TRUE(r.ok()) << all_errors(r);
    return r.ok() ? std::move(*r.value) : scenarios::scenario{};
}

TEST(Plan, ResolvesAndSharesReferences)
{
    auto s = three_probes();
    auto p = scenarios::make_plan(s);
    EXPECT_TRUE(p.errors.empty());
    ASSERT_EQ(p.probes.size(), 2u);   // "off" is disabled
    const auto& a = p.probes[0];
    const auto& b = p.probes[1];
    EXPECT_EQ(a.spec->name, "p1");
    EXPECT_EQ(a.owner->name, "t");
    EXPECT_EQ(a.send_via->name, "int-smtp");
    EXPECT_EQ(a.fetch->name, "int-probe");
    EXPECT_EQ(a.fetch_server->name, "int-imap");
    EXPECT_EQ(a.bounce->name, "int-probe");
    EXPECT_EQ(a.bounce_server->protocol, scenarios::protocol_kind::imap);
    EXPECT_EQ(b.fetch_server->name, "ext-imap");
    EXPECT_EQ(b.bounce, nullptr);
    EXPECT_EQ(a.send_via.get(), b.send_via.get());   // one shared copy per server
    EXPECT_EQ(a.fetch.get(), a.bounce.get());
    EXPECT_EQ(p.hmac_key->reveal(), "0123456789abcdef0123");
    EXPECT_EQ(p.internal_domains, std::vector<std::string>{"internal.test"});
}

TEST(Plan, TakingTheScenarioApartGivesTheSamePlan)
{
    for (const scenarios::plan_filter& f :
        {scenarios::plan_filter{}, scenarios::plan_filter{{"u"}, {}, false}, scenarios::plan_filter{{}, {"off", "ghost"}, true}}) {
        auto s = three_probes();
        auto copied = scenarios::make_plan(s, f);
        auto moved = scenarios::make_plan(std::move(s), f);
        EXPECT_EQ(copied.errors, moved.errors);
        ASSERT_EQ(copied.probes.size(), moved.probes.size());
        for (std::size_t i = 0; i < copied.probes.size(); ++i) {
            const auto& c = copied.probes[i];
            const auto& m = moved.probes[i];
            EXPECT_EQ(c.spec->name, m.spec->name);
            EXPECT_EQ(c.spec->to, m.spec->to);
            EXPECT_EQ(c.owner->name, m.owner->name);
            EXPECT_EQ(c.send_via->host, m.send_via->host);
            EXPECT_EQ(c.fetch->login.user, m.fetch->login.user);
            EXPECT_EQ(c.fetch->login.password->reveal(), m.fetch->login.password->reveal());
            EXPECT_EQ(c.fetch_server->name, m.fetch_server->name);
            EXPECT_EQ(c.offset, m.offset);
        }
    }
}

TEST(Plan, OutlivesTheScenario)
{
    scenarios::plan p;
    {
        auto s = three_probes();
        p = scenarios::make_plan(s);
    }
    ASSERT_EQ(p.probes.size(), 2u);
    EXPECT_EQ(p.probes[1].fetch->address, "probe@external.test");
}

TEST(Plan, FiltersByTenantAndProbe)
{
    auto s = three_probes();
    auto by_tenant = scenarios::make_plan(s, {{"u"}, {}, false});
    ASSERT_EQ(by_tenant.probes.size(), 1u);
    EXPECT_EQ(by_tenant.probes[0].spec->name, "p2");

    auto by_probe = scenarios::make_plan(s, {{}, {"p1"}, false});
    ASSERT_EQ(by_probe.probes.size(), 1u);
    EXPECT_EQ(by_probe.probes[0].spec->name, "p1");

    auto disabled = scenarios::make_plan(s, {{}, {"off"}, true});
    ASSERT_EQ(disabled.probes.size(), 1u);
    EXPECT_EQ(disabled.probes[0].spec->name, "off");
    EXPECT_TRUE(disabled.errors.empty());

    auto not_included = scenarios::make_plan(s, {{}, {"off"}, false});
    EXPECT_TRUE(not_included.probes.empty());
    EXPECT_EQ(not_included.errors, std::vector<std::string>{"probe 'off' is disabled (enabled: false)"});

    auto unknown = scenarios::make_plan(s, {{"nobody"}, {"p1", "ghost"}, false});
    EXPECT_TRUE(unknown.probes.empty());
    EXPECT_EQ(unknown.errors, (std::vector<std::string>{"tenant 'nobody' is not defined",
                                  "probe 'p1' is not in the selected tenants", "probe 'ghost' is not defined"}));
}

TEST(Plan, UnresolvedReferencesAreErrorsNotCrashes)
{
    auto s = three_probes();
    s.probes[0].send_via = "removed";
    auto p = scenarios::make_plan(s);
    ASSERT_EQ(p.probes.size(), 1u);
    EXPECT_EQ(p.errors, std::vector<std::string>{"probe 'p1' refers to an undefined tenant, server or mailbox"});
}

TEST(Plan, OffsetsAreStableAndSpread)
{
    // FNV-1a, not std::hash: the same names give the same offset on every build and machine.
    EXPECT_EQ(scenarios::start_offset("t", "p1", 300s), scenarios::start_offset("t", "p1", 300s));
    EXPECT_NE(scenarios::start_offset("t", "p1", 300s), scenarios::start_offset("u", "p1", 300s));
    EXPECT_EQ(scenarios::start_offset("t", "p1", 0ms), 0ms);
    std::set<long long> distinct;
    for (int i = 0; i < 1000; ++i) {
        auto o = scenarios::start_offset("tenant", "probe-" + std::to_string(i), 60s);
        ASSERT_GE(o, 0ms);
        ASSERT_LT(o, 60s);
        distinct.insert(o.count() / 1000);
    }
    // 1000 probes over 60 one-second slots: every slot gets some.
    EXPECT_EQ(distinct.size(), 60u);
    auto s = three_probes();
    auto p = scenarios::make_plan(s);
    EXPECT_EQ(p.probes[0].offset, scenarios::start_offset("t", "p1", p.probes[0].spec->interval));
}

TEST(Plan, ShardsRunEveryProbeOnceAndGrowingMovesFew)
{
    constexpr int probes = 3000;
    auto owner_of = [](int i, std::uint32_t n) {
        return scenarios::shard_of("tenant-" + std::to_string(i % 37), "probe-" + std::to_string(i), n);
    };
    for (std::uint32_t n : {1u, 2u, 5u, 16u}) {
        std::vector<int> per_shard(n, 0);
        for (int i = 0; i < probes; ++i) {
            auto k = owner_of(i, n);
            ASSERT_LT(k, n);
            ++per_shard[k];
        }
        // Exactly one owner each (by construction), and a fair share for every instance.
        for (auto count : per_shard) {
            EXPECT_GT(count, probes / static_cast<int>(n) * 7 / 10) << n;
        }
    }
    // From N to N+1 instances only the probes the new instance wins move: about 1/(N+1).
    for (std::uint32_t n : {2u, 5u, 16u}) {
        int moved = 0;
        for (int i = 0; i < probes; ++i) {
            auto before = owner_of(i, n);
            auto after = owner_of(i, n + 1);
            if (before != after) {
                ++moved;
                EXPECT_EQ(after, n) << "a probe moved between old instances";
            }
        }
        double share = static_cast<double>(moved) / probes;
        EXPECT_NEAR(share, 1.0 / (n + 1), 0.35 / (n + 1)) << n;
    }
}

TEST(Plan, AShardFilterKeepsItsShareOfTheScenario)
{
    auto s = three_probes();
    std::size_t total = 0;
    for (std::uint32_t k = 0; k < 3; ++k) {
        scenarios::plan_filter f;
        f.shard = k;
        f.shards = 3;
        auto p = scenarios::make_plan(s, f);
        EXPECT_TRUE(p.errors.empty());
        for (const auto& pp : p.probes) {
            EXPECT_EQ(scenarios::shard_of(pp.spec->tenant, pp.spec->name, 3), k);
        }
        total += p.probes.size();
    }
    EXPECT_EQ(total, scenarios::make_plan(s).probes.size());
}

} // namespace
