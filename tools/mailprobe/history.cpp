// `mailprobe history --store FILE [--tenant T] [--probe P] [--since TIME] [--until TIME]
//  [--format text|jsonl] [--hourly] [--raw-days N] [--hourly-days N]`: prints the stored
// results (each line as `mailprobe run` printed it, after the time it completed), or the
// hourly rollups; with --raw-days/--hourly-days, sets the store's retention and applies it.
// Exit 0, or 3 when the store or an argument cannot be used.
#include "tools/mailprobe/commands.h"

#include "report/format.h"
#include "report/store.h"
#include "tools/mailprobe/store_sink.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <optional>

namespace {

void usage()
{
    std::printf(
        "usage: mailprobe history --store FILE [--tenant T] [--probe P] [--since TIME] [--until TIME]\n"
        "                         [--format text|jsonl] [--hourly]\n"
        "       mailprobe history --store FILE [--raw-days N] [--hourly-days N]\n\n"
        "Prints the results `mailprobe run --store FILE` kept, oldest first.\n"
        "  --tenant T, --probe P  only these (each repeatable)\n"
        "  --since, --until TIME  2026-11-01, 2026-11-01T08:00Z, unix seconds, or ago: 90m, 24h, 7d\n"
        "  --format jsonl         one JSON object per result, the fields of docs/RESULTS.md plus\n"
        "                         \"at\" (without TLS details and transcripts: not kept)\n"
        "  --hourly               the hourly rollups kept after the raw results expire\n"
        "  --raw-days N           keep raw results N days (default 35), roll older ones up hourly\n"
        "  --hourly-days N        keep hourly rollups N days (default 400); both apply at once\n\n"
        "examples:\n"
        "  mailprobe history --store probes.db --tenant acme --since 24h\n"
        "  mailprobe history --store probes.db --raw-days 90\n");
}

std::optional<std::int64_t> time_arg(const std::string& text, std::int64_t now_ms)
{
    // "90m", "24h", "7d": that long before now; at most 9 digits, so nothing overflows.
    if (text.size() >= 2 && text.size() <= 10 && text.find_first_not_of("0123456789") == text.size() - 1) {
        std::int64_t n = std::stoll(text.substr(0, text.size() - 1));
        switch (text.back()) {
        case 'm': return now_ms - n * 60'000;
        case 'h': return now_ms - n * 3'600'000;
        case 'd': return now_ms - n * 86'400'000;
        default: break;
        }
    }
    return report::parse_time(text);
}

std::optional<int> days_arg(const std::string* v)
{
    if (!v || v->empty() || v->size() > 5 || v->find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    int n = std::stoi(*v);
    return n >= 1 ? std::optional<int>(n) : std::nullopt;
}

} // namespace

int run_history(const std::vector<std::string>& args)
{
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    std::string path;
    report::query q;
    bool jsonl = false;
    bool hourly = false;
    std::optional<int> raw_days;
    std::optional<int> hourly_days;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else if (a == "--hourly") {
            hourly = true;
        } else if (a == "--store") {
            const std::string* v = value();
            if (!v || v->empty()) {
                std::fprintf(stderr, "mailprobe history: --store needs a file\n");
                return 3;
            }
            path = *v;
        } else if (a == "--tenant" || a == "--probe") {
            const std::string* v = value();
            if (!v) {
                std::fprintf(stderr, "mailprobe history: %s needs a name\n", a.c_str());
                return 3;
            }
            (a == "--tenant" ? q.tenants : q.probes).push_back(*v);
        } else if (a == "--since" || a == "--until") {
            const std::string* v = value();
            auto t = v ? time_arg(*v, now_ms) : std::nullopt;
            if (!t) {
                std::fprintf(stderr, "mailprobe history: %s takes a date, a time or 24h-style ago (see --help)\n",
                    a.c_str());
                return 3;
            }
            (a == "--since" ? q.since_ms : q.until_ms) = *t;
        } else if (a == "--format") {
            const std::string* v = value();
            if (!v || (*v != "text" && *v != "jsonl")) {
                std::fprintf(stderr, "mailprobe history: --format takes text or jsonl\n");
                return 3;
            }
            jsonl = *v == "jsonl";
        } else if (a == "--raw-days" || a == "--hourly-days") {
            auto n = days_arg(value());
            if (!n) {
                std::fprintf(stderr, "mailprobe history: %s takes a number of days (1 to 99999)\n", a.c_str());
                return 3;
            }
            (a == "--raw-days" ? raw_days : hourly_days) = n;
        } else {
            std::fprintf(stderr, "mailprobe history: unexpected argument '%s' (see --help)\n", a.c_str());
            return 3;
        }
    }
    if (path.empty()) {
        std::fprintf(stderr, "mailprobe history: which store? --store FILE (see --help)\n");
        return 3;
    }
    auto db = tools::open_store("history", path);
    if (!db) {
        return 3;
    }
    if (raw_days || hourly_days) {
        auto keep = db->get_retention();
        if (keep) {
            keep->raw_days = raw_days.value_or(keep->raw_days);
            keep->hourly_days = hourly_days.value_or(keep->hourly_days);
            if (auto set = db->set_retention(*keep); !set) {
                keep = std::move(set).err();
            }
        }
        auto rolled = keep ? db->apply_retention(now_ms) : engine::result<std::int64_t>(keep.err());
        if (!rolled) {
            std::fprintf(stderr, "mailprobe history: %s\n", rolled.err().message.c_str());
            return 3;
        }
        std::printf("retention: raw results %d days, hourly rollups %d days; %lld results rolled up now\n",
            keep->raw_days, keep->hourly_days, static_cast<long long>(*rolled));
        return 0;
    }
    if (hourly) {
        auto rows = db->read_hourly(q);
        if (!rows) {
            std::fprintf(stderr, "mailprobe history: %s\n", rows.err().message.c_str());
            return 3;
        }
        for (const auto& h : *rows) {
            auto mean = h.delivery_count ? h.delivery_sum_ms / h.delivery_count : 0;
            std::string line = jsonl
                ? fmt::format("{{\"hour\":{},\"tenant\":{},\"probe\":{},\"up\":{},\"warning\":{},\"down\":{},"
                              "\"pending\":{},\"delivery_mean_ms\":{},\"delivery_max_ms\":{},\"up_s\":{},\"down_s\":{}}}",
                      report::json_quoted(report::format_time(h.hour_ms)), report::json_quoted(h.tenant),
                      report::json_quoted(h.probe), h.up, h.warning, h.down, h.pending, mean, h.delivery_max_ms,
                      h.up_ms / 1000, h.down_ms / 1000)
                : fmt::format("{} {}/{}: {} up, {} warning, {} down, {} pending; delivery mean {} ms, max {} ms; "
                              "{} s up, {} s down",
                      report::format_time(h.hour_ms), h.tenant, h.probe, h.up, h.warning, h.down, h.pending, mean,
                      h.delivery_max_ms, h.up_ms / 1000, h.down_ms / 1000);
            std::puts(line.c_str());
        }
        return 0;
    }
    auto read = db->read(q, [&](const report::stored_result& s) {
        std::string line = jsonl
            ? fmt::format("{{\"at\":{},{}", report::json_quoted(report::format_time(s.at_ms)),
                  report::to_json(s.r).substr(1))
            : report::format_time(s.at_ms) + " " + report::to_text(s.r);
        std::puts(line.c_str());
    });
    if (!read) {
        std::fprintf(stderr, "mailprobe history: %s\n", read.err().message.c_str());
        return 3;
    }
    return 0;
}
