// A log-linear latency histogram in the manner of HdrHistogram: values below 2^precision are
// counted exactly, and each power-of-two range above is split into 2^(precision-1) equal
// buckets, so any recorded value is known to within 1/2^(precision-1) of itself (0.8 % at the
// default precision of 8) in a fixed table of a few thousand counters. Recording is O(1) and
// never allocates, so a load run can record every operation.
//
// Percentiles use the nearest-rank definition (the smallest recorded value with at least
// q % of the values at or below it) and report the highest value of that value's bucket,
// clamped to the largest value recorded: never below the exact answer, at most one bucket
// width above it.
#pragma once

#include <cstdint>
#include <vector>

namespace load {

class histogram {
public:
    /// Values up to `max_value` are bucketed; larger ones count in the top bucket (max()
    /// still reports them exactly). `precision` is 2..16 bits.
    explicit histogram(std::uint64_t max_value, unsigned precision = 8);
    /// Microseconds up to about 12 days at 0.8 %.
    histogram() : histogram(std::uint64_t{1} << 40) {}

    void record(std::uint64_t value) noexcept;
    /// Adds every count of `other`, which must have the same max_value and precision.
    void merge(const histogram& other) noexcept;

    /// The q-th percentile (0 < q <= 100) as described above; 0 when empty.
    std::uint64_t percentile(double q) const noexcept;

    std::uint64_t count() const noexcept { return m_count; }
    std::uint64_t min() const noexcept { return m_count ? m_min : 0; }
    std::uint64_t max() const noexcept { return m_max; }
    double mean() const noexcept { return m_count ? static_cast<double>(m_sum) / static_cast<double>(m_count) : 0.0; }

    /// The bucket a value falls in, and the highest value that bucket holds (for tests).
    std::size_t index_of(std::uint64_t value) const noexcept;
    std::uint64_t highest_in(std::size_t index) const noexcept;

private:
    unsigned m_precision;
    std::uint64_t m_max_value;
    std::vector<std::uint64_t> m_counts;
    std::uint64_t m_count = 0;
    std::uint64_t m_min = 0;
    std::uint64_t m_max = 0;
    std::uint64_t m_sum = 0;   // microsecond sums of a run stay far below 2^64
};

} // namespace load
