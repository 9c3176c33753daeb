// The numbers of a batch report (`mailprobe report`), computed from stored results: per
// probe, availability over a period, the down intervals, delivery-latency percentiles, the
// worst hours, certificate expiry and the message counts; docs/REPORTS.md defines each one.
// Pure computation: results in (streamed, one probe after another, in time order), numbers
// out. The writers of HTML, CSV and JSON (report/batch.h) only lay them out.
#pragma once

#include "report/store.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace report {

/// A stretch of time in one state, [start_ms, end_ms).
struct segment {
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;
    probe::status state = probe::status::up;
};

/// Consecutive Down results that cover time without a gap.
struct down_interval {
    std::int64_t start_ms = 0;
    std::int64_t end_ms = 0;
    engine::stage stage = engine::stage::none;   // of the first Down of the interval
    std::string reason;                          // of the first Down of the interval
    std::string server_reply;
    std::int64_t results = 0;                    // Down results in the interval
};

struct hour_down {
    std::int64_t hour_ms = 0;   // start of the UTC hour
    std::int64_t down_ms = 0;   // Down time within that hour
};

/// Delivery latency over one UTC hour: the mean of the found messages' delivery times.
struct latency_point {
    std::int64_t hour_ms = 0;
    std::int64_t mean_ms = 0;
};

struct counts {
    std::int64_t results = 0;
    std::int64_t up = 0;
    std::int64_t warning = 0;
    std::int64_t down = 0;
    std::int64_t pending = 0;
    std::int64_t sent = 0;       // the SMTP server took the message
    std::int64_t found = 0;      // the probe found it (in any folder)
    std::int64_t lost = 0;       // Down at deliver and not found: never arrived, or bounced
    std::int64_t junk = 0;       // found, filed as spam
};

struct probe_summary {
    std::string tenant;
    std::string probe;
    std::int64_t interval_ms = 0;               // the latest result's
    std::int64_t measured_ms = 0;
    std::int64_t up_ms = 0;                     // Up and Warning
    std::optional<double> availability_pct;     // up_ms / measured_ms; none when nothing measured
    std::vector<down_interval> downs;
    std::optional<std::int64_t> p50_ms;         // delivery latency, nearest rank, found messages
    std::optional<std::int64_t> p90_ms;
    std::optional<std::int64_t> p99_ms;
    std::vector<hour_down> worst_hours;         // at most 3, most Down time first
    std::optional<std::int64_t> cert_days_left; // as of the latest result that had one
    std::int64_t cert_seen_ms = 0;              // when that result completed
    std::map<engine::stage, std::int64_t> stage_failures;   // Down results per stage
    counts n;
    std::vector<segment> timeline;              // same-state stretches merged
    std::vector<latency_point> latency;
};

struct tenant_summary {
    std::string name;
    std::int64_t measured_ms = 0;
    std::int64_t up_ms = 0;
    std::optional<double> availability_pct;
    std::vector<probe_summary> probes;          // by probe name
};

struct report_options {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;         // exclusive
    int cert_warn_days = 30;        // a certificate with fewer days left is flagged
};

/// Builds the summaries from results fed in store order (tenant, probe, time).
class summarizer {
public:
    explicit summarizer(report_options o) : m_o(o) {}

    void add(const stored_result& s);

    /// The tenants, by name; the summarizer is spent afterwards.
    std::vector<tenant_summary> finish();

private:
    void close_probe();
    void cover(const stored_result& s, std::int64_t end_ms);

    report_options m_o;
    std::vector<tenant_summary> m_tenants;
    std::optional<probe_summary> m_current;
    std::optional<stored_result> m_prev;
    std::vector<std::int64_t> m_latencies;
    std::map<std::int64_t, std::int64_t> m_down_by_hour;
    std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> m_latency_by_hour;   // sum, count
};

/// The results of one period, summarized.
engine::result<std::vector<tenant_summary>> summarize(store& db, const query& q, report_options o);

} // namespace report
