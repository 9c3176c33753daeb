// The HTML pages of a batch report, with their charts as inline SVG. Every chart is an
// <svg class="chart"> whose data-series attribute says how many <g class="series"> it
// draws (one per probe, or one per failing stage), so a test can check that what was meant
// to be drawn was drawn. Every text from a store goes through esc(): reasons quote servers.
#include "report/batch.h"

#include <fmt/format.h>

#include <algorithm>

namespace report {
namespace {

constexpr int chart_width = 900;
constexpr int label_width = 160;
constexpr int plot_width = chart_width - label_width - 10;
constexpr const char* palette[] = {"#1565c0", "#6a1b9a", "#00838f", "#ef6c00", "#4e342e", "#ad1457", "#558b2f"};

constexpr const char* hourly_colour = "#90caf9";

std::string esc(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string pct(const std::optional<double>& v)
{
    return v ? fmt::format("{:.3f}&nbsp;%", *v) : std::string("&ndash;");
}

std::string ms(const std::optional<std::int64_t>& v)
{
    return v ? fmt::format("{}&nbsp;ms", *v) : std::string("&ndash;");
}

std::string duration(std::int64_t span_ms)
{
    std::int64_t s = span_ms / 1000;
    if (s < 3600) {
        return fmt::format("{} min {} s", s / 60, s % 60);
    }
    return fmt::format("{} h {} min", s / 3600, s % 3600 / 60);
}

const char* colour(probe::status s)
{
    switch (s) {
    case probe::status::up: return "#2e7d32";
    case probe::status::warning: return "#f9a825";
    case probe::status::down: return "#c62828";
    case probe::status::pending: break;
    }
    return "#9e9e9e";
}

std::string period(const report_options& o)
{
    return fmt::format("{} to {}", format_time(o.from_ms), format_time(o.to_ms));
}

double x_of(std::int64_t t, const report_options& o)
{
    auto span = static_cast<double>(std::max<std::int64_t>(o.to_ms - o.from_ms, 1));
    return label_width + plot_width * static_cast<double>(t - o.from_ms) / span;
}

std::string time_axis(const report_options& o, int y)
{
    return fmt::format("<text x=\"{}\" y=\"{}\" class=\"axis\">{}</text>"
                       "<text x=\"{}\" y=\"{}\" class=\"axis\" text-anchor=\"end\">{}</text>",
        label_width, y, format_time(o.from_ms), label_width + plot_width, y, format_time(o.to_ms));
}

/// One row per probe: its Up, Warning and Down stretches; unmeasured time stays grey.
std::string timeline_chart(const tenant_summary& t, const report_options& o)
{
    constexpr int row = 24;
    int height = static_cast<int>(t.probes.size()) * row + 24;
    std::string out = fmt::format("<svg class=\"chart\" id=\"availability\" data-series=\"{}\" role=\"img\" "
                                  "width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" xmlns=\"http://www.w3.org/2000/svg\">"
                                  "<title>Availability timeline</title>",
        t.probes.size(), chart_width, height, chart_width, height);
    for (std::size_t i = 0; i < t.probes.size(); ++i) {
        const auto& p = t.probes[i];
        int y = static_cast<int>(i) * row;
        out += fmt::format("<g class=\"series\" data-probe=\"{}\"><text x=\"0\" y=\"{}\" class=\"label\">{}</text>"
                           "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#eeeeee\"/>",
            esc(p.probe), y + 16, esc(p.probe), label_width, y + 2, plot_width, row - 6);
        if (p.hourly_from_ms != p.hourly_to_ms) {
            // The rollup hours: no state changes known, only each hour's Down time.
            double x = x_of(p.hourly_from_ms, o);
            out += fmt::format("<rect class=\"hourly\" x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" "
                               "fill=\"{}\"><title>hourly rollups {} to {}</title></rect>",
                x, y + 2, x_of(p.hourly_to_ms, o) - x, row - 6, hourly_colour, format_time(p.hourly_from_ms),
                format_time(p.hourly_to_ms));
            for (const auto& h : p.hourly_downs) {
                double w = std::max(x_of(h.hour_ms + h.down_ms, o) - x_of(h.hour_ms, o), 1.0);
                out += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"><title>"
                                   "{}: {} down</title></rect>",
                    x_of(h.hour_ms, o), y + 2, w, row - 6, colour(probe::status::down), format_time(h.hour_ms),
                    duration(h.down_ms));
            }
        }
        for (const auto& s : p.timeline) {
            double x = x_of(s.start_ms, o);
            // Keep a short outage visible at a month's scale.
            double w = std::max(x_of(s.end_ms, o) - x, s.state == probe::status::up ? 0.0 : 1.0);
            out += fmt::format("<rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" fill=\"{}\"><title>{} {} "
                               "({})</title></rect>",
                x, y + 2, w, row - 6, colour(s.state), esc(probe::to_string(s.state)), format_time(s.start_ms),
                duration(s.end_ms - s.start_ms));
        }
        out += "</g>";
    }
    out += time_axis(o, height - 4) + "</svg>";
    return out;
}

/// One line per probe that found messages: the hourly mean delivery time.
std::string latency_chart(const tenant_summary& t, const report_options& o)
{
    constexpr int height = 220;
    constexpr int top = 10;
    constexpr int bottom = height - 24;
    std::int64_t max_ms = 1;
    std::size_t series = 0;
    for (const auto& p : t.probes) {
        for (const auto& l : p.latency) {
            max_ms = std::max(max_ms, l.mean_ms);
        }
        series += p.latency.empty() ? 0 : 1;
    }
    std::string out = fmt::format("<svg class=\"chart\" id=\"latency\" data-series=\"{}\" role=\"img\" width=\"{}\" "
                                  "height=\"{}\" viewBox=\"0 0 {} {}\" xmlns=\"http://www.w3.org/2000/svg\">"
                                  "<title>Delivery latency, hourly mean</title>"
                                  "<text x=\"0\" y=\"{}\" class=\"axis\">{} ms</text>"
                                  "<text x=\"0\" y=\"{}\" class=\"axis\">0 ms</text>"
                                  "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>",
        series, chart_width, height, chart_width, height, top + 10, max_ms, bottom, label_width, bottom,
        label_width + plot_width, bottom);
    std::size_t colour_index = 0;
    for (const auto& p : t.probes) {
        if (p.latency.empty()) {
            continue;
        }
        const char* c = palette[colour_index++ % std::size(palette)];
        std::string points;
        for (const auto& l : p.latency) {
            double y = bottom - static_cast<double>(bottom - top) * static_cast<double>(l.mean_ms) /
                                    static_cast<double>(max_ms);
            points += fmt::format("{:.1f},{:.1f} ", x_of(l.hour_ms, o), y);
        }
        out += fmt::format("<g class=\"series\" data-probe=\"{}\"><title>{}</title><polyline fill=\"none\" "
                           "stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/></g>",
            esc(p.probe), esc(p.probe), c, points);
    }
    out += time_axis(o, height - 4) + "</svg>";
    return out;
}

/// One bar per stage that failed: Down results of all the tenant's probes.
std::string stage_chart(const tenant_summary& t)
{
    std::map<engine::stage, std::int64_t> by_stage;
    for (const auto& p : t.probes) {
        for (const auto& [stage, n] : p.stage_failures) {
            by_stage[stage] += n;
        }
    }
    std::int64_t max_n = 1;
    for (const auto& [stage, n] : by_stage) {
        max_n = std::max(max_n, n);
    }
    constexpr int row = 24;
    int height = static_cast<int>(by_stage.size()) * row + 8;
    std::string out = fmt::format("<svg class=\"chart\" id=\"stages\" data-series=\"{}\" role=\"img\" width=\"{}\" "
                                  "height=\"{}\" viewBox=\"0 0 {} {}\" xmlns=\"http://www.w3.org/2000/svg\">"
                                  "<title>Down results per failing stage</title>",
        by_stage.size(), chart_width, height, chart_width, height);
    int i = 0;
    for (const auto& [stage, n] : by_stage) {
        int y = i++ * row;
        double w = std::max(1.0, static_cast<double>(plot_width - 60) * static_cast<double>(n) /
                                     static_cast<double>(max_n));
        std::string name(stage == engine::stage::none ? "unknown" : engine::to_string(stage));
        out += fmt::format("<g class=\"series\" data-stage=\"{0}\"><text x=\"0\" y=\"{1}\" class=\"label\">{0}</text>"
                           "<rect x=\"{2}\" y=\"{3}\" width=\"{4:.1f}\" height=\"{5}\" fill=\"#c62828\"/>"
                           "<text x=\"{6:.1f}\" y=\"{1}\" class=\"label\">{7}</text></g>",
            name, y + 16, label_width, y + 2, w, row - 6, label_width + w + 6, n);
    }
    out += "</svg>";
    return out;
}

constexpr const char* style = R"css(
body{font-family:system-ui,sans-serif;margin:2em;color:#212121;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0;font-size:.85em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right}.warn{color:#b71c1c;font-weight:bold}
svg .axis{font-size:11px;fill:#555}svg .label{font-size:12px;fill:#212121}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}
p.hourly{background:#e3f2fd;padding:.4em .6em}
)css";

std::string page(const std::string& title, const std::string& body)
{
    return fmt::format("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>"
                       "<style>{}</style></head><body>{}</body></html>\n",
        esc(title), style, body);
}

/// What a reader must know about the rollup part, or nothing when there is none.
std::string hourly_note(std::int64_t from, std::int64_t to)
{
    if (from == to) {
        return {};
    }
    return fmt::format("<p class=\"hourly\">From {} to {} the raw results are past retention: those hours are "
                       "counted from hourly rollups (times and counts per hour), without down intervals, latency "
                       "percentiles, failing stages or certificate data.</p>",
        format_time(from), format_time(to));
}

std::string probe_details(const probe_summary& p, const report_options& o)
{
    std::string out = fmt::format("<h3>{}</h3>", esc(p.probe));
    if (p.hourly_from_ms != p.hourly_to_ms) {
        out += fmt::format("<p>Down intervals from {} only (hourly rollups before); hours with Down time before "
                           "then: {}.</p>",
            format_time(p.hourly_to_ms), p.hourly_downs.size());
    }
    if (p.cert_days_left && *p.cert_days_left < o.cert_warn_days) {
        out += fmt::format("<p class=\"warn\">Certificate expires in {} days (as of {}).</p>", *p.cert_days_left,
            format_time(p.cert_seen_ms));
    }
    if (p.downs.empty()) {
        out += "<p>No down intervals.</p>";
    } else {
        out += "<table><tr><th>down from</th><th>to</th><th>for</th><th>stage</th><th>reason</th>"
               "<th>server said</th></tr>";
        for (const auto& d : p.downs) {
            out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                format_time(d.start_ms), format_time(d.end_ms), duration(d.end_ms - d.start_ms),
                d.stage == engine::stage::none ? "" : engine::to_string(d.stage), esc(d.reason),
                esc(d.server_reply));
        }
        out += "</table>";
    }
    if (!p.worst_hours.empty()) {
        out += "<p>Worst hours:";
        for (const auto& h : p.worst_hours) {
            out += fmt::format(" {} ({} down);", format_time(h.hour_ms), duration(h.down_ms));
        }
        out += "</p>";
    }
    return out;
}

} // namespace

std::string tenant_html(const tenant_summary& t, const report_options& o)
{
    std::string body = fmt::format("<p><a href=\"index.html\">All tenants</a></p><h1>Mail availability: {}</h1>"
                                   "<p>{} (UTC). Availability: <b>{}</b></p>",
        esc(t.name), period(o), pct(t.availability_pct));
    body += hourly_note(t.hourly_from_ms, t.hourly_to_ms);
    body += "<table><tr><th>probe</th><th>availability</th><th>results</th><th>up</th><th>warning</th><th>down</th>"
            "<th>sent</th><th>found</th><th>lost</th><th>in Junk</th><th>p50</th><th>p90</th><th>p99</th>"
            "<th>certificate</th></tr>";
    for (const auto& p : t.probes) {
        bool warn = p.cert_days_left && *p.cert_days_left < o.cert_warn_days;
        body += fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                            "<td class=\"n\">{}</td><td{}>{}</td></tr>",
            esc(p.probe), pct(p.availability_pct), p.n.results, p.n.up, p.n.warning, p.n.down, p.n.sent, p.n.found,
            p.n.lost, p.n.junk, ms(p.p50_ms), ms(p.p90_ms), ms(p.p99_ms), warn ? " class=\"warn\"" : "",
            p.cert_days_left ? fmt::format("{} days left", *p.cert_days_left) : std::string("&ndash;"));
    }
    body += "</table>";
    body += "<h2>Availability timeline</h2><p class=\"legend\"><span style=\"background:#2e7d32\"></span>up"
            "<span style=\"background:#f9a825\"></span>warning<span style=\"background:#c62828\"></span>down"
            "<span style=\"background:#eeeeee\"></span>not measured" +
            (t.hourly_from_ms != t.hourly_to_ms
                    ? fmt::format("<span style=\"background:{}\"></span>hourly rollups (red: Down time)", hourly_colour)
                    : std::string()) +
            "</p>" +
            timeline_chart(t, o);
    body += "<h2>Delivery latency</h2>" + latency_chart(t, o);
    body += "<h2>Down results per failing stage</h2>" + stage_chart(t);
    if (std::all_of(t.probes.begin(), t.probes.end(), [](const probe_summary& p) { return p.stage_failures.empty(); })) {
        body += "<p>No Down results.</p>";
    }
    body += "<h2>Down intervals, worst hours, certificates</h2>";
    for (const auto& p : t.probes) {
        body += probe_details(p, o);
    }
    return page("Mail availability: " + t.name, body);
}

std::string index_html(const std::vector<tenant_summary>& tenants, const report_options& o)
{
    std::int64_t hourly_from = 0;
    std::int64_t hourly_to = 0;
    for (const auto& t : tenants) {
        if (t.hourly_from_ms != t.hourly_to_ms) {
            bool first = hourly_from == hourly_to;
            hourly_from = first ? t.hourly_from_ms : std::min(hourly_from, t.hourly_from_ms);
            hourly_to = first ? t.hourly_to_ms : std::max(hourly_to, t.hourly_to_ms);
        }
    }
    std::string body = fmt::format("<h1>Mail availability report</h1><p>{} (UTC), {} tenants.</p>{}"
                                   "<table><tr><th>tenant</th><th>availability</th><th>probes</th>"
                                   "<th>down intervals</th><th>certificate warnings</th></tr>",
        period(o), tenants.size(), hourly_note(hourly_from, hourly_to));
    for (const auto& t : tenants) {
        std::size_t downs = 0;
        std::size_t certs = 0;
        for (const auto& p : t.probes) {
            downs += p.downs.size();
            certs += p.cert_days_left && *p.cert_days_left < o.cert_warn_days ? 1 : 0;
        }
        body += fmt::format("<tr><td><a href=\"{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                            "<td class=\"n\">{}</td><td class=\"n{}\">{}</td></tr>",
            esc(file_of(t)), esc(t.name), pct(t.availability_pct), t.probes.size(), downs, certs ? " warn" : "",
            certs);
    }
    body += "</table>";
    return page("Mail availability report", body);
}

} // namespace report
