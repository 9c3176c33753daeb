#include "report/summary.h"

#include <algorithm>

namespace report {
namespace {

constexpr std::int64_t hour_ms = 3'600'000;

bool sent(const probe::result& r)
{
    // Every stage before deliver is on the way to the SMTP server's 250 after DATA.
    return r.outcome != probe::status::down || r.stage == engine::stage::deliver ||
           r.stage == engine::stage::fetch || r.stage == engine::stage::cleanup;
}

bool filed_as_spam(const probe::result& r)
{
    // The probe's own words for a junk filing (probe/roundtrip.cpp judge_found), as the
    // reason (policy fail) or a warning (policy warning).
    constexpr std::string_view mark = "filed as spam in ";
    auto is = [&](const std::string& s) { return s.rfind(mark, 0) == 0; };
    return !r.folder.empty() && (is(r.reason) || std::any_of(r.warnings.begin(), r.warnings.end(), is));
}

/// Nearest rank: the smallest value with at least p% of the values at or below it.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, int p)
{
    auto n = sorted.size();
    auto rank = (static_cast<std::size_t>(p) * n + 99) / 100;
    return sorted[std::max<std::size_t>(rank, 1) - 1];
}

std::optional<double> ratio_pct(std::int64_t part, std::int64_t whole)
{
    if (whole <= 0) {
        return std::nullopt;
    }
    return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

} // namespace

void summarizer::add(const stored_result& s)
{
    if (m_current && (m_current->tenant != s.r.tenant || m_current->probe != s.r.probe)) {
        close_probe();
    }
    if (!m_current) {
        m_current.emplace();
        m_current->tenant = s.r.tenant;
        m_current->probe = s.r.probe;
    }
    if (m_prev) {
        cover(*m_prev, s.at_ms);
    }
    auto& p = *m_current;
    const auto& r = s.r;
    p.interval_ms = s.interval_ms;
    ++p.n.results;
    switch (r.outcome) {
    case probe::status::up: ++p.n.up; break;
    case probe::status::warning: ++p.n.warning; break;
    case probe::status::down: ++p.n.down; ++p.stage_failures[r.stage]; break;
    case probe::status::pending: ++p.n.pending; break;
    }
    p.n.sent += sent(r) ? 1 : 0;
    p.n.found += r.folder.empty() ? 0 : 1;
    p.n.lost += r.outcome == probe::status::down && r.stage == engine::stage::deliver && r.folder.empty() ? 1 : 0;
    p.n.junk += filed_as_spam(r) ? 1 : 0;
    // In next-poll mode the delivery time is "seen by the next run", not a latency.
    if (!r.folder.empty() && !r.next_poll) {
        m_latencies.push_back(r.ms.delivery);
        auto& [sum, count] = m_latency_by_hour[s.at_ms / hour_ms * hour_ms];
        sum += r.ms.delivery;
        ++count;
    }
    if (r.cert_days_left) {
        p.cert_days_left = r.cert_days_left;
        p.cert_seen_ms = s.at_ms;
    }
    m_prev = s;
}

void summarizer::cover(const stored_result& s, std::int64_t next_ms)
{
    // A result stands for its probe's state until the next result, for at most one interval
    // (a probe that stopped running is not measured), within the report's period.
    std::int64_t start = std::max(s.at_ms, m_o.from_ms);
    std::int64_t end = std::min({next_ms, s.at_ms + s.interval_ms, m_o.to_ms});
    auto state = s.r.outcome;
    if (end <= start || state == probe::status::pending) {
        return;
    }
    auto& p = *m_current;
    p.measured_ms += end - start;
    if (state != probe::status::down) {
        p.up_ms += end - start;
    }
    if (!p.timeline.empty() && p.timeline.back().end_ms == start && p.timeline.back().state == state) {
        p.timeline.back().end_ms = end;
    } else {
        p.timeline.push_back(segment{start, end, state});
    }
    if (state != probe::status::down) {
        return;
    }
    if (!p.downs.empty() && p.downs.back().end_ms == start) {
        p.downs.back().end_ms = end;
        ++p.downs.back().results;
    } else {
        p.downs.push_back(down_interval{start, end, s.r.stage, s.r.reason, s.r.server_reply, 1});
    }
    for (std::int64_t t = start; t < end;) {
        std::int64_t hour = t / hour_ms * hour_ms;
        std::int64_t stop = std::min(end, hour + hour_ms);
        m_down_by_hour[hour] += stop - t;
        t = stop;
    }
}

void summarizer::close_probe()
{
    cover(*m_prev, INT64_MAX);
    auto& p = *m_current;
    p.availability_pct = ratio_pct(p.up_ms, p.measured_ms);
    if (!m_latencies.empty()) {
        std::sort(m_latencies.begin(), m_latencies.end());
        p.p50_ms = percentile(m_latencies, 50);
        p.p90_ms = percentile(m_latencies, 90);
        p.p99_ms = percentile(m_latencies, 99);
    }
    for (const auto& [hour, down] : m_down_by_hour) {
        p.worst_hours.push_back(hour_down{hour, down});
    }
    // Most Down time first; the earlier hour first among equals.
    std::stable_sort(p.worst_hours.begin(), p.worst_hours.end(),
        [](const hour_down& a, const hour_down& b) { return a.down_ms > b.down_ms; });
    p.worst_hours.resize(std::min<std::size_t>(p.worst_hours.size(), 3));
    for (const auto& [hour, sum_count] : m_latency_by_hour) {
        p.latency.push_back(latency_point{hour, sum_count.first / sum_count.second});
    }
    if (m_tenants.empty() || m_tenants.back().name != p.tenant) {
        m_tenants.emplace_back();
        m_tenants.back().name = p.tenant;
    }
    auto& t = m_tenants.back();
    t.measured_ms += p.measured_ms;
    t.up_ms += p.up_ms;
    t.availability_pct = ratio_pct(t.up_ms, t.measured_ms);
    t.probes.push_back(std::move(p));
    m_current.reset();
    m_prev.reset();
    m_latencies.clear();
    m_down_by_hour.clear();
    m_latency_by_hour.clear();
}

std::vector<tenant_summary> summarizer::finish()
{
    if (m_current) {
        close_probe();
    }
    return std::move(m_tenants);
}

engine::result<std::vector<tenant_summary>> summarize(store& db, const query& q, report_options o)
{
    summarizer s(o);
    query period = q;
    period.since_ms = o.from_ms;
    period.until_ms = o.to_ms;
    if (auto r = db.read(period, [&](const stored_result& one) { s.add(one); }); !r) {
        return std::move(r).err();
    }
    return s.finish();
}

} // namespace report
