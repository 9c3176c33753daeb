// CSV, JSON and the files of a batch report; the HTML pages are in html.cpp.
#include "report/batch.h"

#include "report/format.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace report {
namespace {

std::string csv_cell(std::string_view s)
{
    std::string v(s);
    if (!v.empty() && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@')) {
        v.insert(v.begin(), '\'');
    }
    if (v.find_first_of(",\"\r\n") == std::string::npos) {
        return v;
    }
    std::string out = "\"";
    for (char c : v) {
        out += c;
        if (c == '"') {
            out += '"';
        }
    }
    return out + "\"";
}

template <class T>
std::string or_empty(const std::optional<T>& v)
{
    return v ? fmt::format("{}", *v) : std::string();
}

std::string pct(const std::optional<double>& v)
{
    return v ? fmt::format("{:.4f}", *v) : std::string();
}

template <class T>
std::string or_null(const std::optional<T>& v)
{
    return v ? fmt::format("{}", *v) : std::string("null");
}

std::string pct_or_null(const std::optional<double>& v)
{
    return v ? fmt::format("{:.4f}", *v) : std::string("null");
}

/// `t` formatted when [from, to) is not empty: the bounds of a rollup part.
std::string time_or_empty(std::int64_t from, std::int64_t to, std::int64_t t)
{
    return from == to ? std::string() : format_time(t);
}

/// The rollup part as JSON: null when there is none.
std::string hourly_json(std::int64_t from, std::int64_t to)
{
    if (from == to) {
        return "null";
    }
    return fmt::format("{{\"from\":{},\"to\":{}}}", json_quoted(format_time(from)), json_quoted(format_time(to)));
}

std::string stage_name(engine::stage s)
{
    return s == engine::stage::none ? std::string() : std::string(engine::to_string(s));
}

engine::result<void> write_file(const std::string& path, const std::string& content)
{
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        return engine::error{engine::stage::none, engine::errc::io,
            fmt::format("cannot write {}: {}", path, std::strerror(errno))};
    }
    bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
    ok = std::fclose(f) == 0 && ok;
    if (!ok) {
        return engine::error{engine::stage::none, engine::errc::io, fmt::format("cannot write {}", path)};
    }
    return {};
}

} // namespace

std::string file_of(const tenant_summary& t)
{
    std::string name;
    std::uint32_t fnv = 2166136261u;
    for (char c : t.name) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '_' || c == '-' || c == '@';
        name += plain ? c : '_';
        fnv = (fnv ^ static_cast<unsigned char>(c)) * 16777619u;
    }
    // A replaced character could make two tenants share a file; the name's hash keeps them
    // apart. A leading dot would hide the file.
    if (name != t.name || name.empty() || name[0] == '.') {
        name += fmt::format("-{:08x}", fnv);
    }
    return "tenant-" + name + ".html";
}

std::string report_csv(const std::vector<tenant_summary>& tenants, const report_options& o)
{
    std::string out =
        "tenant,probe,from,to,availability_pct,measured_s,up_s,down_intervals,results,up,warning,down,pending,"
        "sent,found,lost,junk,latency_p50_ms,latency_p90_ms,latency_p99_ms,cert_days_left,cert_warning,"
        "hourly_from,hourly_to\r\n";
    for (const auto& t : tenants) {
        for (const auto& p : t.probes) {
            bool cert_warn = p.cert_days_left && *p.cert_days_left < o.cert_warn_days;
            out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                csv_cell(t.name), csv_cell(p.probe), format_time(o.from_ms), format_time(o.to_ms),
                pct(p.availability_pct), p.measured_ms / 1000, p.up_ms / 1000, p.downs.size(), p.n.results, p.n.up,
                p.n.warning, p.n.down, p.n.pending, p.n.sent, p.n.found, p.n.lost, p.n.junk, or_empty(p.p50_ms),
                or_empty(p.p90_ms), or_empty(p.p99_ms), or_empty(p.cert_days_left), cert_warn ? "yes" : "no",
                time_or_empty(p.hourly_from_ms, p.hourly_to_ms, p.hourly_from_ms),
                time_or_empty(p.hourly_from_ms, p.hourly_to_ms, p.hourly_to_ms));
        }
    }
    return out;
}

std::string down_intervals_csv(const std::vector<tenant_summary>& tenants)
{
    std::string out = "tenant,probe,start,end,duration_s,results,stage,reason,server_reply\r\n";
    for (const auto& t : tenants) {
        for (const auto& p : t.probes) {
            for (const auto& d : p.downs) {
                out += fmt::format("{},{},{},{},{},{},{},{},{}\r\n", csv_cell(t.name), csv_cell(p.probe),
                    format_time(d.start_ms), format_time(d.end_ms), (d.end_ms - d.start_ms) / 1000, d.results,
                    stage_name(d.stage), csv_cell(d.reason), csv_cell(d.server_reply));
            }
        }
    }
    return out;
}

std::string report_json(const std::vector<tenant_summary>& tenants, const report_options& o)
{
    std::string out = fmt::format("{{\"from\":{},\"to\":{},\"cert_warn_days\":{},\"tenants\":[",
        json_quoted(format_time(o.from_ms)), json_quoted(format_time(o.to_ms)), o.cert_warn_days);
    for (std::size_t ti = 0; ti < tenants.size(); ++ti) {
        const auto& t = tenants[ti];
        out += fmt::format("{}{{\"tenant\":{},\"availability_pct\":{},\"measured_s\":{},\"up_s\":{},\"hourly\":{},"
                           "\"probes\":[",
            ti ? "," : "", json_quoted(t.name), pct_or_null(t.availability_pct), t.measured_ms / 1000,
            t.up_ms / 1000, hourly_json(t.hourly_from_ms, t.hourly_to_ms));
        for (std::size_t pi = 0; pi < t.probes.size(); ++pi) {
            const auto& p = t.probes[pi];
            out += fmt::format("{}{{\"probe\":{},\"interval_s\":{},\"availability_pct\":{},\"measured_s\":{},"
                               "\"up_s\":{},",
                pi ? "," : "", json_quoted(p.probe), p.interval_ms / 1000, pct_or_null(p.availability_pct),
                p.measured_ms / 1000, p.up_ms / 1000);
            out += fmt::format("\"counts\":{{\"results\":{},\"up\":{},\"warning\":{},\"down\":{},\"pending\":{},"
                               "\"sent\":{},\"found\":{},\"lost\":{},\"junk\":{}}},",
                p.n.results, p.n.up, p.n.warning, p.n.down, p.n.pending, p.n.sent, p.n.found, p.n.lost, p.n.junk);
            out += fmt::format("\"latency_ms\":{{\"p50\":{},\"p90\":{},\"p99\":{}}},", or_null(p.p50_ms),
                or_null(p.p90_ms), or_null(p.p99_ms));
            out += fmt::format("\"cert_days_left\":{},\"cert_warning\":{},", or_null(p.cert_days_left),
                p.cert_days_left && *p.cert_days_left < o.cert_warn_days ? "true" : "false");
            out += "\"down_intervals\":[";
            for (std::size_t i = 0; i < p.downs.size(); ++i) {
                const auto& d = p.downs[i];
                out += fmt::format("{}{{\"start\":{},\"end\":{},\"duration_s\":{},\"results\":{},\"stage\":{},"
                                   "\"reason\":{},\"server_reply\":{}}}",
                    i ? "," : "", json_quoted(format_time(d.start_ms)), json_quoted(format_time(d.end_ms)),
                    (d.end_ms - d.start_ms) / 1000, d.results,
                    d.stage == engine::stage::none ? std::string("null") : json_quoted(stage_name(d.stage)),
                    json_quoted(d.reason), json_quoted(d.server_reply));
            }
            out += "],\"worst_hours\":[";
            for (std::size_t i = 0; i < p.worst_hours.size(); ++i) {
                out += fmt::format("{}{{\"hour\":{},\"down_s\":{}}}", i ? "," : "",
                    json_quoted(format_time(p.worst_hours[i].hour_ms)), p.worst_hours[i].down_ms / 1000);
            }
            out += "],\"stage_failures\":{";
            bool first = true;
            for (const auto& [stage, n] : p.stage_failures) {
                out += fmt::format("{}{}:{}", first ? "" : ",", json_quoted(engine::to_string(stage)), n);
                first = false;
            }
            out += fmt::format("}},\"hourly\":{}", hourly_json(p.hourly_from_ms, p.hourly_to_ms));
            if (p.hourly_from_ms != p.hourly_to_ms) {
                out += ",\"hourly_down_hours\":[";
                for (std::size_t i = 0; i < p.hourly_downs.size(); ++i) {
                    out += fmt::format("{}{{\"hour\":{},\"down_s\":{}}}", i ? "," : "",
                        json_quoted(format_time(p.hourly_downs[i].hour_ms)), p.hourly_downs[i].down_ms / 1000);
                }
                out += "]";
            }
            out += "}";
        }
        out += "]}";
    }
    out += "]}\n";
    return out;
}

engine::result<std::vector<std::string>> write_report(const std::vector<tenant_summary>& tenants,
    const report_options& o, formats which, const std::string& dir)
{
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        return engine::error{engine::stage::none, engine::errc::io,
            fmt::format("cannot create {}: {}", dir, std::strerror(errno))};
    }
    std::vector<std::string> written;
    auto put = [&](const std::string& name, const std::string& content) -> engine::result<void> {
        auto path = dir + "/" + name;
        if (auto r = write_file(path, content); !r) {
            return r;
        }
        written.push_back(path);
        return {};
    };
    engine::result<void> ok;
    if (which.html) {
        for (const auto& t : tenants) {
            if (ok) {
                ok = put(file_of(t), tenant_html(t, o));
            }
        }
        if (ok) {
            ok = put("index.html", index_html(tenants, o));
        }
    }
    if (ok && which.csv) {
        ok = put("report.csv", report_csv(tenants, o));
        if (ok) {
            ok = put("down-intervals.csv", down_intervals_csv(tenants));
        }
    }
    if (ok && which.json) {
        ok = put("report.json", report_json(tenants, o));
    }
    if (!ok) {
        return std::move(ok).err();
    }
    return written;
}

} // namespace report
