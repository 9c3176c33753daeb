// The log-linear histogram: see histogram.h.
//
// Layout, with p = precision and half = 2^(p-1):
//   index v                                  for v < 2^p (exact)
//   index 2^p + (s-1)*half + (m - half)      for v >= 2^p, where s = bit_width(v) - p is the
//                                            shift and m = v >> s lies in [half, 2^p)
// A bucket of shift s holds 2^s consecutive values starting at m << s.
#include "load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace load {

histogram::histogram(std::uint64_t max_value, unsigned precision)
    : m_precision(std::clamp(precision, 2u, 16u)), m_max_value(std::max<std::uint64_t>(max_value, 1))
{
    m_counts.assign(index_of(m_max_value) + 1, 0);
}

std::size_t histogram::index_of(std::uint64_t value) const noexcept
{
    const std::uint64_t exact = std::uint64_t{1} << m_precision;
    if (value < exact) {
        return static_cast<std::size_t>(value);
    }
    const std::uint64_t half = exact >> 1;
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - m_precision;
    const std::uint64_t mantissa = value >> shift;
    return static_cast<std::size_t>(exact + (shift - 1) * half + (mantissa - half));
}

std::uint64_t histogram::highest_in(std::size_t index) const noexcept
{
    const std::uint64_t exact = std::uint64_t{1} << m_precision;
    if (index < exact) {
        return index;
    }
    const std::uint64_t half = exact >> 1;
    const std::uint64_t above = index - exact;
    const std::uint64_t shift = above / half + 1;
    const std::uint64_t mantissa = above % half + half;
    return ((mantissa + 1) << shift) - 1;
}

void histogram::record(std::uint64_t value) noexcept
{
    if (m_count == 0 || value < m_min) {
        m_min = value;
    }
    m_max = std::max(m_max, value);
    ++m_count;
    m_sum += value;
    ++m_counts[index_of(std::min(value, m_max_value))];
}

void histogram::merge(const histogram& other) noexcept
{
    if (other.m_count == 0 || other.m_counts.size() != m_counts.size()) {
        return;
    }
    for (std::size_t i = 0; i < m_counts.size(); ++i) {
        m_counts[i] += other.m_counts[i];
    }
    m_min = m_count ? std::min(m_min, other.m_min) : other.m_min;
    m_max = std::max(m_max, other.m_max);
    m_count += other.m_count;
    m_sum += other.m_sum;
}

std::uint64_t histogram::percentile(double q) const noexcept
{
    if (m_count == 0) {
        return 0;
    }
    q = std::clamp(q, 0.0, 100.0);
    // Nearest rank: the ceil(q/100 * n)-th smallest value, at least the first. The small
    // subtraction keeps 99.9 % of 1,000 at rank 999 despite 99.9/100 not being exact.
    const double exact_rank = q / 100.0 * static_cast<double>(m_count);
    auto rank = static_cast<std::uint64_t>(std::ceil(exact_rank - 1e-9 * std::max(1.0, exact_rank)));
    rank = std::clamp<std::uint64_t>(rank, 1, m_count);
    if (rank == m_count) {
        return m_max;   // exact even beyond max_value
    }
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < m_counts.size(); ++i) {
        seen += m_counts[i];
        if (seen >= rank) {
            return std::clamp(highest_in(i), m_min, m_max);
        }
    }
    return m_max;
}

} // namespace load
