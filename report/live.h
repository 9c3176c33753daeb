// The live view of a running `mailprobe run --listen`: the latest result of every probe and
// counters since start, rendered as Prometheus text (GET /metrics), as JSON (GET
// /status.json) and a status page that polls that JSON (GET /). Fed by the run's result sink
// on the loop thread and read there too, so there is no locking. Carries what a result shows
// anyway (names, states, stages, timings, and the reason, which may quote a server's reply or
// name a recipient address), never a credential: serve it where your helpdesk may read it.
#pragma once

#include "probe/result.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace report {

/// Upper bounds (seconds) of the histogram buckets; +Inf is implied.
inline constexpr std::array<double, 12> delivery_buckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
inline constexpr std::array<double, 12> round_trip_buckets{0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800};

class live_status {
public:
    /// Records `r`, finished at `now` (unix seconds). Once set_probes() was called, a result
    /// of a probe outside that set (a run of a removed probe still finishing) is dropped.
    void add(const probe::result& r, double now);

    /// The probes (tenant, probe) of the running plan: the others leave the view and /metrics
    /// at once, so a removed probe's last verdict does not page anyone for ever.
    void set_probes(std::set<std::pair<std::string, std::string>> probes);

    /// The Prometheus text exposition format, version 0.0.4.
    std::string metrics() const;
    /// {"probes":[{tenant, probe, topology, status, stage, reason, delivery_ms, total_ms,
    /// last_run, last_success, cert_days_left}...]}, sorted by tenant then probe.
    std::string status_json() const;
    /// The self-contained HTML page (inline style and script, no external resource).
    static std::string_view page();

    static constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    struct histogram {
        std::array<std::uint64_t, 12> counts{};   // per bucket, not cumulative
        std::uint64_t count = 0;
        double sum = 0;
    };
    struct entry {
        int topology = 0;
        probe::status state = probe::status::pending;
        bool decided = false;                      // an up, warning or down seen
        engine::stage stage = engine::stage::none;
        std::string reason;
        std::int64_t delivery_ms = 0;
        std::int64_t total_ms = 0;
        double last_run = 0;
        std::optional<double> last_success;
        std::optional<std::int64_t> cert_days_left;
        std::array<std::uint64_t, 4> runs{};       // by probe::status
        histogram delivery;
        histogram round_trip;
    };

    std::map<std::pair<std::string, std::string>, entry> m_probes;
    std::optional<std::set<std::pair<std::string, std::string>>> m_planned;
};

/// `s` escaped as a Prometheus label value (backslash, double quote, newline).
std::string prometheus_label_escape(std::string_view s);

} // namespace report
