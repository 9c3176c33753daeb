// `mailprobe report --store FILE --from DATE --to DATE [--tenant T...] --out DIR
//  [--format html,csv,json] [--cert-days N]`: the batch report of a period (docs/REPORTS.md).
// Exit 0 when written, 3 when the store, the period or the folder cannot be used.
#include "tools/mailprobe/commands.h"

#include "report/batch.h"
#include "tools/mailprobe/store_sink.h"

#include <cstdio>

namespace {

void usage()
{
    std::printf(
        "usage: mailprobe report --store FILE --from DATE --to DATE --out DIR [--tenant T]...\n"
        "                        [--format html,csv,json] [--cert-days N]\n\n"
        "Writes the availability report of [--from, --to) for every tenant in the store (or the\n"
        "named ones): per probe, availability, down intervals with their stage and reason,\n"
        "delivery-latency percentiles, worst hours, certificate expiry, messages sent, found,\n"
        "lost and found in Junk. Definitions: docs/REPORTS.md.\n"
        "  --from, --to DATE  2026-11-01, 2026-11-01T08:00Z or unix seconds (UTC; --to excluded)\n"
        "  --out DIR          the folder for index.html, tenant-*.html, report.csv,\n"
        "                     down-intervals.csv, report.json (created if missing)\n"
        "  --format LIST      any of html, csv, json, comma-separated; default all three\n"
        "  --cert-days N      flag certificates with fewer than N days left (default 30)\n\n"
        "example:\n"
        "  mailprobe report --store probes.db --from 2026-10-01 --to 2026-11-01 --out october\n");
}

bool parse_formats(const std::string& list, report::formats& f)
{
    f = report::formats{false, false, false};
    std::size_t start = 0;
    while (start <= list.size()) {
        auto comma = list.find(',', start);
        auto one = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (one == "html") {
            f.html = true;
        } else if (one == "csv") {
            f.csv = true;
        } else if (one == "json") {
            f.json = true;
        } else {
            return false;
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return true;
}

} // namespace

int run_report(const std::vector<std::string>& args)
{
    std::string path;
    std::string out;
    std::optional<std::int64_t> from;
    std::optional<std::int64_t> to;
    report::query q;
    report::formats f{true, true, true};
    int cert_days = 30;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        const std::string* v = value();
        if (!v || v->empty()) {
            std::fprintf(stderr, "mailprobe report: %s needs a value (see --help)\n", a.c_str());
            return 3;
        }
        if (a == "--store") {
            path = *v;
        } else if (a == "--out") {
            out = *v;
        } else if (a == "--tenant") {
            q.tenants.push_back(*v);
        } else if (a == "--from" || a == "--to") {
            auto t = report::parse_time(*v);
            if (!t) {
                std::fprintf(stderr, "mailprobe report: %s takes 2026-11-01, 2026-11-01T08:00Z or unix seconds\n",
                    a.c_str());
                return 3;
            }
            (a == "--from" ? from : to) = t;
        } else if (a == "--format") {
            if (!parse_formats(*v, f)) {
                std::fprintf(stderr, "mailprobe report: --format takes html, csv and json, comma-separated\n");
                return 3;
            }
        } else if (a == "--cert-days") {
            if (v->size() > 4 || v->find_first_not_of("0123456789") != std::string::npos) {
                std::fprintf(stderr, "mailprobe report: --cert-days takes a number of days\n");
                return 3;
            }
            cert_days = std::stoi(*v);
        } else {
            std::fprintf(stderr, "mailprobe report: unexpected argument '%s' (see --help)\n", a.c_str());
            return 3;
        }
    }
    if (path.empty() || out.empty() || !from || !to) {
        std::fprintf(stderr, "mailprobe report: --store, --from, --to and --out are needed (see --help)\n");
        return 3;
    }
    if (*to <= *from) {
        std::fprintf(stderr, "mailprobe report: --to must come after --from\n");
        return 3;
    }
    auto db = tools::open_store("report", path);
    if (!db) {
        return 3;
    }
    report::report_options o{*from, *to, cert_days};
    auto tenants = report::summarize(*db, q, o);
    if (!tenants) {
        std::fprintf(stderr, "mailprobe report: %s\n", tenants.err().message.c_str());
        return 3;
    }
    auto written = report::write_report(*tenants, o, f, out);
    if (!written) {
        std::fprintf(stderr, "mailprobe report: %s\n", written.err().message.c_str());
        return 3;
    }
    std::printf("%zu tenants, %zu files in %s\n", tenants->size(), written->size(), out.c_str());
    return 0;
}
