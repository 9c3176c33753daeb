// The load histogram against exact nearest-rank percentiles of known data: every answer is at
// or above the exact value and within one bucket (1/2^(precision-1) of it) above.
#include "load/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace {

std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double q)
{
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(q / 100.0 * static_cast<double>(v.size()) - 1e-9));
    rank = std::clamp<std::size_t>(rank, 1, v.size());
    return v[rank - 1];
}

void expect_close(const load::histogram& h, const std::vector<std::uint64_t>& v, double q)
{
    const auto exact = exact_percentile(v, q);
    const auto got = h.percentile(q);
    EXPECT_GE(got, exact) << "q=" << q;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1.0 + 1.0 / 128.0) + 1.0) << "q=" << q;
}

TEST(Histogram, EmptyReportsZero)
{
    load::histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(50), 0u);
    EXPECT_EQ(h.max(), 0u);
}

TEST(Histogram, SmallValuesAreExact)
{
    load::histogram h;
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 1; i <= 200; ++i) {
        h.record(i);
        v.push_back(i);
    }
    for (double q : {1.0, 50.0, 90.0, 99.0, 99.5, 100.0}) {
        EXPECT_EQ(h.percentile(q), exact_percentile(v, q)) << q;
    }
    EXPECT_EQ(h.min(), 1u);
    EXPECT_EQ(h.max(), 200u);
    EXPECT_DOUBLE_EQ(h.mean(), 100.5);
}

TEST(Histogram, NearestRankOnAThousandValues)
{
    // 99.9 % of 1,000 is rank 999, not 1,000, although 99.9/100 is not exact in binary.
    load::histogram h;
    for (std::uint64_t i = 1; i <= 1000; ++i) {
        h.record(i < 1000 ? 10 : 1'000'000);
    }
    EXPECT_EQ(h.percentile(99.9), 10u);
    EXPECT_EQ(h.percentile(100), 1'000'000u);
}

TEST(Histogram, BucketsCoverEveryValueOnce)
{
    load::histogram h(std::uint64_t{1} << 30, 8);
    for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 511ull, 512ull, 1000ull, 123456ull, (1ull << 30) - 1}) {
        const auto i = h.index_of(v);
        EXPECT_LE(v, h.highest_in(i)) << v;
        if (i > 0) {
            EXPECT_GT(v, h.highest_in(i - 1)) << v;
        }
    }
    // Relative bucket width stays under 1/128 above the exact range.
    for (std::size_t i = 257; i < h.index_of((1ull << 30) - 1); ++i) {
        const double width = static_cast<double>(h.highest_in(i) - h.highest_in(i - 1));
        EXPECT_LE(width / static_cast<double>(h.highest_in(i - 1) + 1), 1.0 / 128.0) << i;
    }
}

TEST(Histogram, LogNormalLatenciesMatchExactPercentiles)
{
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> latency(7.0, 1.2);   // microseconds: ~1 ms median, long tail
    load::histogram h;
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 100'000; ++i) {
        auto x = static_cast<std::uint64_t>(latency(rng));
        h.record(x);
        v.push_back(x);
    }
    for (double q : {50.0, 90.0, 99.0, 99.9, 99.99}) {
        expect_close(h, v, q);
    }
    EXPECT_EQ(h.percentile(100), *std::max_element(v.begin(), v.end()));
    EXPECT_EQ(h.count(), v.size());
}

TEST(Histogram, MergeEqualsRecordingEverything)
{
    load::histogram a;
    load::histogram b;
    load::histogram all;
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 0; i < 5000; ++i) {
        const auto x = (i * 7919) % 100'000;
        (i % 2 ? a : b).record(x);
        all.record(x);
        v.push_back(x);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double q : {50.0, 99.0, 99.9}) {
        EXPECT_EQ(a.percentile(q), all.percentile(q));
        expect_close(a, v, q);
    }
}

TEST(Histogram, ValuesBeyondTheRangeKeepTheirMax)
{
    load::histogram h(1000, 8);
    h.record(5);
    h.record(1'000'000);
    EXPECT_EQ(h.max(), 1'000'000u);
    EXPECT_EQ(h.percentile(100), 1'000'000u);
    EXPECT_LE(h.percentile(50), 5u);
}

} // namespace
