// A hand-computed fixture for the report tests: two tenants, three probes, two hours.
//
// acme/a, every 5 min from T0 (interval 5 min), results at minutes 0..115 except 90 and 95
// (the probe did not run): 22 results, each covering 5 min, so 110 min measured.
//   Down at 30, 35, 40 (send, "rejected"): one interval [30, 45), 3 results, not sent.
//   Down at 100 (deliver, not delivered): one interval [100, 105), lost.
//   Warning at 60: found in Junk (policy warning).
//   Up time 110 - 20 = 90 min: availability 90 / 110 = 81.8181...%.
//   The 18 found messages took 1000, 2000, ..., 18000 ms in time order: nearest-rank
//   p50 = 9000 (rank 9), p90 = 17000 (rank 17), p99 = 18000 (rank 18).
//   Worst hours: T0 (15 min down), T0 + 1 h (5 min down).
//   The last result has a certificate with 10 days left.
// acme/b: one Up result at T0 (interval 10 min), 500 ms: 10 min measured, all up.
//   acme as a whole: (90 + 10) / (110 + 10) = 83.333...%.
// beta/c: one Down result before T0 (outside the period, ignored) and Up results every
//   10 min from T0 (interval 10 min) to T0 + 110: 100%.
#pragma once

#include "report/summary.h"

#include <vector>

namespace fixture {

inline constexpr std::int64_t t0 = 1'793'491'200'000;   // 2026-11-01T00:00:00Z
inline constexpr std::int64_t minute = 60'000;

inline report::stored_result make(const char* tenant, const char* probe, std::int64_t at_min, std::int64_t interval_min,
    probe::status s)
{
    report::stored_result out;
    out.at_ms = t0 + at_min * minute;
    out.interval_ms = interval_min * minute;
    out.r.tenant = tenant;
    out.r.probe = probe;
    out.r.outcome = s;
    out.r.sent = s != probe::status::down;
    out.r.probe_id = "0190-" + std::to_string(at_min);
    if (s != probe::status::down) {
        out.r.folder = "INBOX";
    }
    return out;
}

inline std::vector<report::stored_result> results()
{
    std::vector<report::stored_result> all;
    std::int64_t delivery = 0;
    for (std::int64_t m = 0; m < 120; m += 5) {
        if (m == 90 || m == 95) {
            continue;
        }
        bool down = m == 30 || m == 35 || m == 40 || m == 100;
        auto r = make("acme", "a", m, 5, down ? probe::status::down : m == 60 ? probe::status::warning : probe::status::up);
        if (m == 30 || m == 35 || m == 40) {
            r.r.stage = engine::stage::send;
            r.r.reason = "send: rejected: 554 5.7.1 relay denied";
            r.r.server_reply = "554 5.7.1 relay denied";
        } else if (m == 100) {
            r.r.stage = engine::stage::deliver;
            r.r.reason = "not delivered within 60 s";
            r.r.sent = true;
        } else {
            delivery += 1000;
            r.r.ms.delivery = delivery;
        }
        if (m == 60) {
            r.r.folder = "Junk";
            r.r.stage = engine::stage::deliver;
            r.r.reason = "filed as spam in Junk";
            r.r.warnings = {"filed as spam in Junk"};
        }
        if (m == 115) {
            r.r.cert_days_left = 10;
        }
        all.push_back(r);
    }
    auto b = make("acme", "b", 0, 10, probe::status::up);
    b.r.ms.delivery = 500;
    all.push_back(b);
    auto early = make("beta", "c", -10, 10, probe::status::down);
    early.r.stage = engine::stage::connect;
    early.r.reason = "connect: refused";
    all.push_back(early);
    for (std::int64_t m = 0; m < 120; m += 10) {
        auto c = make("beta", "c", m, 10, probe::status::up);
        c.r.ms.delivery = 700;
        all.push_back(c);
    }
    return all;
}

inline report::report_options period()
{
    return report::report_options{t0, t0 + 120 * minute, 30};
}

} // namespace fixture
