// The numbers of a batch report (`mailprobe report`), computed from stored results: per
// probe, availability over a period, the down intervals, delivery-latency percentiles, the
// worst hours, certificate expiry and the message counts; docs/REPORTS.md defines each one.
// Pure computation: results in (streamed in time order, every probe at once), numbers out.
// The state per probe is bounded by what the report lists (down intervals, state changes,
// hours) plus one 4-byte delivery time per found message for exact percentiles: about 35 MB
// for 8.6 million results. Where retention has replaced the raw results by hourly rollups,
// those hours count from the rollups, with less detail (docs/REPORTS.md). The writers of
// HTML, CSV and JSON (report/batch.h) only lay the numbers out.
#pragma once

#include "report/store.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
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
    std::vector<segment> timeline;              // same-state stretches merged (raw results only)
    std::vector<latency_point> latency;
    // [hourly_from_ms, hourly_to_ms): the hours counted from hourly rollups, empty when the
    // two are equal. Those hours add to the times, counts, worst hours and latency line, but
    // not to down intervals, percentiles, stage failures, the timeline or the certificate.
    std::int64_t hourly_from_ms = 0;
    std::int64_t hourly_to_ms = 0;
    std::vector<hour_down> hourly_downs;        // rollup hours with Down time, in time order
};

struct tenant_summary {
    std::string name;
    std::int64_t measured_ms = 0;
    std::int64_t up_ms = 0;
    std::optional<double> availability_pct;
    std::vector<probe_summary> probes;          // by probe name
    std::int64_t hourly_from_ms = 0;            // the span of its probes' rollup hours
    std::int64_t hourly_to_ms = 0;
};

struct report_options {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;         // exclusive
    int cert_warn_days = 30;        // a certificate with fewer days left is flagged
};

/// Builds the summaries from results fed in time order per probe (store::scan's order),
/// after the probe's rollup hours, if any.
class summarizer {
public:
    explicit summarizer(report_options o);
    ~summarizer();
    summarizer(const summarizer&) = delete;
    summarizer& operator=(const summarizer&) = delete;

    void add(const result_view& r);

    /// One hour of one probe from the rollups; every one comes before the probe's results.
    void add_hour(const hourly_row& h);

    /// The tenants, by name, their probes by name; the summarizer is spent afterwards.
    std::vector<tenant_summary> finish();

private:
    struct probe_state;

    probe_state& state_of(std::string_view tenant, std::string_view probe);
    void cover(probe_state& s, std::int64_t next_ms);
    void close(probe_state& s);

    report_options m_o;
    std::vector<std::unique_ptr<probe_state>> m_probes;
    std::unordered_map<std::string, std::size_t> m_index;   // tenant NUL probe -> m_probes
    std::string m_key;                                       // reused: no allocation per result
};

/// The results of one period, summarized: hourly rollups before store::rolled_up_until(),
/// raw results after.
engine::result<std::vector<tenant_summary>> summarize(store& db, const query& q, report_options o);

} // namespace report
