// The history's load run: N tenants (one probe each) x D days of results every 5 minutes,
// written through report::store_writer into a fresh SQLite file, then the batch report of
// the whole period in HTML, CSV and JSON. Prints the insert rate and the report time.
//
//   report_load --tenants 1000 --days 30 [--batch 5000] [--dir DIR]
//
// The results are synthetic and deterministic: about 1 in 200 is Down (a stage and reason
// drawn from a small set), delivery times vary. Before timing anything it checks that the
// report covers every result written, and refuses to print figures otherwise.
#include "report/batch.h"
#include "report/store.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <sys/resource.h>
#include <unistd.h>

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point t)
{
    return std::chrono::duration<double>(steady::now() - t).count();
}

/// CPU seconds of this process, all threads: the machine is shared, so wall time alone
/// would measure the neighbours too.
double cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return tv(u.ru_utime) + tv(u.ru_stime);
}

} // namespace

int main(int argc, char** argv)
{
    int tenants = 1000;
    int days = 30;
    std::size_t batch = 5000;
    std::string dir;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--tenants") {
            tenants = std::atoi(argv[i + 1]);
        } else if (a == "--days") {
            days = std::atoi(argv[i + 1]);
        } else if (a == "--batch") {
            batch = static_cast<std::size_t>(std::atoll(argv[i + 1]));
        } else if (a == "--dir") {
            dir = argv[i + 1];
        } else {
            std::fprintf(stderr, "usage: report_load [--tenants N] [--days D] [--batch B] [--dir DIR]\n");
            return 2;
        }
    }
    namespace fs = std::filesystem;
    bool own_dir = dir.empty();
    if (own_dir) {
        dir = fs::temp_directory_path() / fmt::format("report_load.{}", ::getpid());
    }
    fs::create_directories(dir);
    auto path = dir + "/history.db";
    fs::remove(path);
    fs::remove(path + "-wal");
    fs::remove(path + "-shm");

    constexpr std::int64_t interval = 300'000;
    constexpr std::int64_t t0 = 1'793'491'200'000;   // 2026-11-01T00:00:00Z
    const std::int64_t per_probe = static_cast<std::int64_t>(days) * 288;
    const std::int64_t total = per_probe * tenants;
    const char* reasons[] = {"connect: refused", "auth: auth_failed: 535 5.7.8 authentication failed",
        "not delivered within 60 s", "fetch: timed_out: no reply to SELECT"};
    const engine::stage stages[] = {engine::stage::connect, engine::stage::auth, engine::stage::deliver,
        engine::stage::fetch};

    auto opened = report::store::open(path);
    if (!opened) {
        std::fprintf(stderr, "%s\n", opened.err().message.c_str());
        return 1;
    }
    auto start = steady::now();
    double cpu = cpu_seconds();
    {
        report::store_writer w(std::move(*opened), batch, std::chrono::milliseconds(1000));
        std::uint64_t added = 0;
        std::uint32_t rng = 12345;
        // Time-major, as a live run produces them: every tenant's result of one slot, then the next.
        for (std::int64_t slot = 0; slot < per_probe; ++slot) {
            for (int t = 0; t < tenants; ++t) {
                rng = rng * 1664525u + 1013904223u;
                report::stored_result s;
                s.at_ms = t0 + slot * interval + t * 97;
                s.interval_ms = interval;
                s.r.tenant = fmt::format("tenant-{:04}", t);
                s.r.probe = "inbound";
                s.r.topology = 3;
                s.r.probe_id = fmt::format("{:016x}", (static_cast<std::uint64_t>(slot) << 20) | static_cast<unsigned>(t));
                if (rng % 200 == 0) {
                    auto k = (rng >> 8) % 4;
                    s.r.outcome = probe::status::down;
                    s.r.stage = stages[k];
                    s.r.reason = reasons[k];
                    s.r.sent = k >= 2;   // deliver and fetch come after the send
                } else {
                    s.r.outcome = probe::status::up;
                    s.r.sent = true;
                    s.r.folder = "INBOX";
                    s.r.ms.delivery = 800 + (rng >> 12) % 4000;
                    s.r.ms.total = s.r.ms.delivery + 900;
                    s.r.cert_days_left = 60 - slot / 288;
                }
                w.add(std::move(s));
                ++added;
                // Keep the queue to a few batches: memory, not speed, is what this bounds.
                while (added - w.committed() > 4 * batch) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
            }
        }
    }
    double insert_s = seconds_since(start);
    double insert_cpu = cpu_seconds() - cpu;
    auto size = fs::file_size(path);

    auto db = report::store::open(path);
    if (!db) {
        std::fprintf(stderr, "%s\n", db.err().message.c_str());
        return 1;
    }
    report::report_options o{t0, t0 + static_cast<std::int64_t>(days) * 86'400'000, 30};
    start = steady::now();
    cpu = cpu_seconds();
    auto summary = report::summarize(*db, {}, o);
    double summarize_s = seconds_since(start);
    if (!summary) {
        std::fprintf(stderr, "%s\n", summary.err().message.c_str());
        return 1;
    }
    std::int64_t counted = 0;
    for (const auto& t : *summary) {
        for (const auto& p : t.probes) {
            counted += p.n.results;
        }
    }
    if (counted != total || summary->size() != static_cast<std::size_t>(tenants)) {
        std::fprintf(stderr, "report_load: the report covers %lld results of %lld, %zu tenants of %d\n",
            static_cast<long long>(counted), static_cast<long long>(total), summary->size(), tenants);
        return 1;
    }
    double summarize_cpu = cpu_seconds() - cpu;
    start = steady::now();
    cpu = cpu_seconds();
    auto written = report::write_report(*summary, o, report::formats{true, true, true}, dir + "/report");
    double write_s = seconds_since(start);
    double write_cpu = cpu_seconds() - cpu;
    if (!written) {
        std::fprintf(stderr, "%s\n", written.err().message.c_str());
        return 1;
    }
    std::printf("results: %lld (%d tenants x %d days x 288)\n", static_cast<long long>(total), tenants, days);
    std::printf("insert: %.1f s wall, %.1f s CPU: %.0f results/s wall, %.0f per CPU second (batches of %zu, WAL, "
                "synchronous=NORMAL); file %.0f MiB\n",
        insert_s, insert_cpu, static_cast<double>(total) / insert_s, static_cast<double>(total) / insert_cpu, batch,
        static_cast<double>(size) / 1048576.0);
    std::printf("report: read + summarize %.1f s wall (%.1f s CPU); write %zu files (HTML, CSV, JSON) %.1f s wall "
                "(%.1f s CPU); total %.1f s wall\n",
        summarize_s, summarize_cpu, written->size(), write_s, write_cpu, summarize_s + write_s);
    if (own_dir) {
        fs::remove_all(dir);
    }
    return 0;
}
