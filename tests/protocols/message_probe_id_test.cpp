#include "protocols/message/probe_id.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <vector>

using protocols::message::probe_id;
using protocols::message::probe_id_generator;

namespace {

// RFC 9562 appendix A.6: unix_ts_ms 0x017F22E279B0, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F.
constexpr std::string_view rfc_example = "017f22e2-79b0-7cc3-98c4-dc0c0c07398f";
constexpr std::array<std::uint8_t, 10> rfc_random = {0x0C, 0xC3, 0x18, 0xC4, 0xDC, 0x0C, 0x0C, 0x07, 0x39, 0x8F};

std::string text_of(const probe_id& id)
{
    return id.to_string();
}

} // namespace

TEST(ProbeId, LaysOutTheRfc9562Example)
{
    probe_id id = probe_id::from_parts(0x017F22E279B0, rfc_random);
    EXPECT_EQ(text_of(id), rfc_example);
    EXPECT_EQ(id.unix_ms(), 0x017F22E279B0u);
    EXPECT_EQ(id.bytes()[6] >> 4, 7);
    EXPECT_EQ(id.bytes()[8] >> 6, 2);
}

TEST(ProbeId, ForcesVersionAndVariantBits)
{
    std::array<std::uint8_t, 10> ones{};
    ones.fill(0xFF);
    EXPECT_EQ(text_of(probe_id::from_parts(0, ones)), "00000000-0000-7fff-bfff-ffffffffffff");
    std::array<std::uint8_t, 10> zeros{};
    EXPECT_EQ(text_of(probe_id::from_parts(0xFFFFFFFFFFFF, zeros)), "ffffffff-ffff-7000-8000-000000000000");
}

TEST(ProbeId, ParsesTheCanonicalFormBack)
{
    auto id = probe_id::parse(rfc_example);
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, probe_id::from_parts(0x017F22E279B0, rfc_random));
    EXPECT_EQ(id->unix_ms(), 1645557742000u);
}

TEST(ProbeId, RefusesEverythingButTheCanonicalV7Form)
{
    const std::vector<std::string_view> bad = {
        "",
        "017F22E2-79B0-7CC3-98C4-DC0C0C07398F",    // uppercase: not our spelling
        "{017f22e2-79b0-7cc3-98c4-dc0c0c07398f}",
        "urn:uuid:017f22e2-79b0-7cc3-98c4-dc0c0c07398f",
        "017f22e279b07cc398c4dc0c0c07398f",        // no hyphens
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398",     // short
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398f0",   // long
        "017f22e2-79b07-cc3-98c4-dc0c0c07398f",    // hyphen moved
        "017f22e2-79b0-4cc3-98c4-dc0c0c07398f",    // version 4
        "017f22e2-79b0-7cc3-d8c4-dc0c0c07398f",    // variant 110 (Microsoft)
        "017f22e2-79b0-7cc3-08c4-dc0c0c07398f",    // variant 0 (NCS)
        "017f22e2-79b0-7cc3-98c4-dc0c0c07398g",
        "017f22e2 79b0-7cc3-98c4-dc0c0c07398f",
    };
    for (auto text : bad) {
        EXPECT_FALSE(probe_id::parse(text)) << text;
    }
}

TEST(ProbeIdGenerator, StrictlyIncreasesWithinOneMillisecondAndWhenTheClockStepsBack)
{
    probe_id_generator gen;
    std::vector<probe_id> ids;
    ids.push_back(gen.next(1'700'000'000'000));
    for (int i = 0; i < 100; ++i) {
        ids.push_back(gen.next(1'700'000'000'000));
    }
    ids.push_back(gen.next(1'699'999'999'000));  // clock stepped back a second
    ids.push_back(gen.next(1'700'000'000'001));
    for (std::size_t i = 1; i < ids.size(); ++i) {
        EXPECT_LT(ids[i - 1], ids[i]) << i;
        EXPECT_LT(ids[i - 1].to_string(), ids[i].to_string()) << "text order must follow id order";
    }
    EXPECT_EQ(ids.front().unix_ms(), 1'700'000'000'000u);
    EXPECT_EQ(ids.back().unix_ms(), 1'700'000'000'001u);
    for (const auto& id : ids) {
        EXPECT_TRUE(probe_id::parse(id.to_string()));
    }
}

TEST(ProbeIdGenerator, BorrowsTheNextMillisecondWhenTheCounterRunsOut)
{
    probe_id_generator gen;
    probe_id previous = gen.next(5000);
    // The counter starts below 2048 and holds 4096 values: 4096 ids must overflow it.
    for (int i = 0; i < 4096; ++i) {
        probe_id next = gen.next(5000);
        ASSERT_LT(previous, next);
        previous = next;
    }
    EXPECT_EQ(previous.unix_ms(), 5001u);
}

TEST(ProbeIdGenerator, DrawsRandomBits)
{
    probe_id_generator a;
    probe_id_generator b;
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        seen.insert(a.next(1'700'000'000'000 + static_cast<std::uint64_t>(i)).to_string());
        seen.insert(b.next(1'700'000'000'000 + static_cast<std::uint64_t>(i)).to_string());
    }
    EXPECT_EQ(seen.size(), 2000u) << "two generators at the same times must not collide";
}
