#include "report/summary.h"

#include <algorithm>
#include <climits>
#include <tuple>

namespace report {
namespace {

constexpr std::int64_t hour_ms = 3'600'000;

bool filed_as_spam(const result_view& r)
{
    // The probe's own words for a junk filing (probe/roundtrip.cpp judge_found), as the
    // reason (policy fail) or a warning (policy warning); warnings are one a line.
    constexpr std::string_view mark = "filed as spam in ";
    return !r.folder.empty() && (r.reason.starts_with(mark) || r.warnings.starts_with(mark) ||
                                    r.warnings.find("\nfiled as spam in ") != std::string_view::npos);
}

/// Nearest rank: the smallest value with at least p% of the values at or below it.
std::int64_t percentile(const std::vector<std::int32_t>& sorted, int p)
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

/// Delivery time summed over one UTC hour, for the latency line.
struct hour_sum {
    std::int64_t hour_ms = 0;
    std::int64_t sum_ms = 0;
    std::int64_t count = 0;
};

struct summarizer::probe_state {
    probe_summary p;
    // The previous result, as much of it as covering its time takes: the words only of a
    // Down, where a down interval may begin.
    bool has_prev = false;
    std::int64_t prev_at_ms = 0;
    std::int64_t prev_interval_ms = 0;
    probe::status prev_state = probe::status::up;
    engine::stage prev_stage = engine::stage::none;
    std::string prev_reason;
    std::string prev_server_reply;
    // 4 bytes a found message; a delivery over 24 days (none finishes) would count as 24 days.
    std::vector<std::int32_t> latencies;
    std::map<std::int64_t, std::int64_t> down_by_hour;
    std::vector<hour_sum> latency_by_hour;   // in time order: rollup hours, then raw results
};

summarizer::summarizer(report_options o) : m_o(o) {}

summarizer::~summarizer() = default;

summarizer::probe_state& summarizer::state_of(std::string_view tenant, std::string_view probe)
{
    m_key.assign(tenant);
    m_key.push_back('\0');
    m_key.append(probe);
    if (auto it = m_index.find(m_key); it != m_index.end()) {
        return *m_probes[it->second];
    }
    m_index.emplace(m_key, m_probes.size());
    auto& s = *m_probes.emplace_back(std::make_unique<probe_state>());
    s.p.tenant = tenant;
    s.p.probe = probe;
    return s;
}

void summarizer::add(const result_view& r)
{
    auto& s = state_of(r.tenant, r.probe);
    if (s.has_prev) {
        cover(s, r.at_ms);
    }
    auto& p = s.p;
    p.interval_ms = r.interval_ms;
    ++p.n.results;
    switch (r.outcome) {
    case probe::status::up: ++p.n.up; break;
    case probe::status::warning: ++p.n.warning; break;
    case probe::status::down: ++p.n.down; ++p.stage_failures[r.stage]; break;
    case probe::status::pending: ++p.n.pending; break;
    }
    p.n.sent += r.sent ? 1 : 0;
    p.n.found += r.folder.empty() ? 0 : 1;
    p.n.lost += r.outcome == probe::status::down && r.stage == engine::stage::deliver && r.folder.empty() ? 1 : 0;
    p.n.junk += filed_as_spam(r) ? 1 : 0;
    // In next-poll mode the delivery time is "seen by the next run", not a latency.
    if (!r.folder.empty() && !r.next_poll) {
        s.latencies.push_back(static_cast<std::int32_t>(std::clamp<std::int64_t>(r.delivery_ms, 0, INT32_MAX)));
        std::int64_t hour = r.at_ms / hour_ms * hour_ms;
        if (s.latency_by_hour.empty() || s.latency_by_hour.back().hour_ms != hour) {
            s.latency_by_hour.push_back(hour_sum{hour, 0, 0});
        }
        s.latency_by_hour.back().sum_ms += r.delivery_ms;
        ++s.latency_by_hour.back().count;
    }
    if (r.cert_days_left) {
        p.cert_days_left = r.cert_days_left;
        p.cert_seen_ms = r.at_ms;
    }
    s.has_prev = true;
    s.prev_at_ms = r.at_ms;
    s.prev_interval_ms = r.interval_ms;
    s.prev_state = r.outcome;
    s.prev_stage = r.stage;
    if (r.outcome == probe::status::down) {
        s.prev_reason.assign(r.reason);
        s.prev_server_reply.assign(r.server_reply);
    }
}

void summarizer::add_hour(const hourly_row& h)
{
    auto& s = state_of(h.tenant, h.probe);
    auto& p = s.p;
    if (p.hourly_from_ms == p.hourly_to_ms) {
        p.hourly_from_ms = h.hour_ms;
    }
    p.hourly_to_ms = h.hour_ms + hour_ms;
    p.n.results += h.up + h.warning + h.down + h.pending;
    p.n.up += h.up;
    p.n.warning += h.warning;
    p.n.down += h.down;
    p.n.pending += h.pending;
    p.n.sent += h.sent;
    p.n.found += h.found;
    p.n.lost += h.lost;
    p.n.junk += h.junk;
    p.measured_ms += h.up_ms + h.down_ms;
    p.up_ms += h.up_ms;
    if (h.down_ms > 0) {
        s.down_by_hour[h.hour_ms] += h.down_ms;
        p.hourly_downs.push_back(hour_down{h.hour_ms, h.down_ms});
    }
    if (h.delivery_count > 0) {
        s.latency_by_hour.push_back(hour_sum{h.hour_ms, h.delivery_sum_ms, h.delivery_count});
    }
}

void summarizer::cover(probe_state& s, std::int64_t next_ms)
{
    // A result stands for its probe's state until the next result, for at most one interval
    // (a probe that stopped running is not measured), within the report's period.
    std::int64_t start = std::max(s.prev_at_ms, m_o.from_ms);
    std::int64_t end = std::min({next_ms, s.prev_at_ms + s.prev_interval_ms, m_o.to_ms});
    auto state = s.prev_state;
    if (end <= start || state == probe::status::pending) {
        return;
    }
    auto& p = s.p;
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
        p.downs.push_back(down_interval{start, end, s.prev_stage, s.prev_reason, s.prev_server_reply, 1});
    }
    for (std::int64_t t = start; t < end;) {
        std::int64_t hour = t / hour_ms * hour_ms;
        std::int64_t stop = std::min(end, hour + hour_ms);
        s.down_by_hour[hour] += stop - t;
        t = stop;
    }
}

void summarizer::close(probe_state& s)
{
    if (s.has_prev) {
        cover(s, INT64_MAX);
    }
    auto& p = s.p;
    p.availability_pct = ratio_pct(p.up_ms, p.measured_ms);
    if (!s.latencies.empty()) {
        std::sort(s.latencies.begin(), s.latencies.end());
        p.p50_ms = percentile(s.latencies, 50);
        p.p90_ms = percentile(s.latencies, 90);
        p.p99_ms = percentile(s.latencies, 99);
    }
    for (const auto& [hour, down] : s.down_by_hour) {
        p.worst_hours.push_back(hour_down{hour, down});
    }
    // Most Down time first; the earlier hour first among equals.
    std::stable_sort(p.worst_hours.begin(), p.worst_hours.end(),
        [](const hour_down& a, const hour_down& b) { return a.down_ms > b.down_ms; });
    p.worst_hours.resize(std::min<std::size_t>(p.worst_hours.size(), 3));
    for (const auto& h : s.latency_by_hour) {
        p.latency.push_back(latency_point{h.hour_ms, h.sum_ms / h.count});
    }
}

std::vector<tenant_summary> summarizer::finish()
{
    std::sort(m_probes.begin(), m_probes.end(), [](const auto& a, const auto& b) {
        return std::tie(a->p.tenant, a->p.probe) < std::tie(b->p.tenant, b->p.probe);
    });
    std::vector<tenant_summary> tenants;
    for (auto& s : m_probes) {
        close(*s);
        auto& p = s->p;
        if (tenants.empty() || tenants.back().name != p.tenant) {
            tenants.emplace_back();
            tenants.back().name = p.tenant;
        }
        auto& t = tenants.back();
        t.measured_ms += p.measured_ms;
        t.up_ms += p.up_ms;
        t.availability_pct = ratio_pct(t.up_ms, t.measured_ms);
        if (p.hourly_from_ms != p.hourly_to_ms) {
            bool first = t.hourly_from_ms == t.hourly_to_ms;
            t.hourly_from_ms = first ? p.hourly_from_ms : std::min(t.hourly_from_ms, p.hourly_from_ms);
            t.hourly_to_ms = first ? p.hourly_to_ms : std::max(t.hourly_to_ms, p.hourly_to_ms);
        }
        t.probes.push_back(std::move(p));
    }
    m_probes.clear();
    m_index.clear();
    return tenants;
}

engine::result<std::vector<tenant_summary>> summarize(store& db, const query& q, report_options o)
{
    auto rolled = db.rolled_up_until();
    if (!rolled) {
        return std::move(rolled).err();
    }
    summarizer s(o);
    // Whole rollup hours that start in the period, up to where the raw results begin.
    if (*rolled > o.from_ms) {
        query hours = q;
        hours.since_ms = o.from_ms;
        hours.until_ms = std::min(o.to_ms, *rolled);
        auto rows = db.read_hourly(hours);
        if (!rows) {
            return std::move(rows).err();
        }
        for (const auto& h : *rows) {
            s.add_hour(h);
        }
    }
    query raw = q;
    raw.since_ms = std::max(o.from_ms, *rolled);
    raw.until_ms = o.to_ms;
    if (raw.since_ms < raw.until_ms) {
        if (auto r = db.scan(raw, [&](const result_view& one) { s.add(one); }); !r) {
            return std::move(r).err();
        }
    }
    return s.finish();
}

} // namespace report
