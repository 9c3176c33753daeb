#include "report/live.h"

#include "report/format.h"

#include <fmt/format.h>

#include <cstddef>
#include <vector>

namespace report {

namespace {

constexpr std::array<probe::status, 4> all_states{probe::status::up, probe::status::warning, probe::status::down,
    probe::status::pending};

void observe(auto& h, const auto& bounds, double v)
{
    std::size_t i = 0;
    while (i < bounds.size() && v > bounds[i]) {
        ++i;
    }
    if (i < bounds.size()) {
        ++h.counts[i];
    }
    ++h.count;
    h.sum += v;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help)
{
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram_lines(std::string& out, std::string_view name, const std::string& labels, const auto& h,
    const auto& bounds)
{
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        cumulative += h.counts[i];
        out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds[i], cumulative);
    }
    out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, h.count);
    out += fmt::format("{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels, h.sum, name, labels, h.count);
}

} // namespace

std::string prometheus_label_escape(std::string_view s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
    return out;
}

void live_status::set_probes(std::set<std::pair<std::string, std::string>> probes)
{
    std::erase_if(m_probes, [&](const auto& kv) { return !probes.contains(kv.first); });
    m_planned = std::move(probes);
}

void live_status::add(const probe::result& r, double now)
{
    std::pair<std::string, std::string> key{r.tenant, r.probe};
    if (m_planned && !m_planned->contains(key)) {
        return;
    }
    entry& e = m_probes[std::move(key)];
    e.topology = r.topology;
    e.last_run = now;
    ++e.runs[static_cast<std::size_t>(r.outcome)];
    if (r.outcome == probe::status::pending) {
        return;   // nothing was decided: the state shown stays the last verdict
    }
    e.state = r.outcome;
    e.decided = true;
    e.stage = r.stage;
    e.reason = r.reason;
    e.delivery_ms = r.ms.delivery;
    e.total_ms = r.ms.total;
    if (r.cert_days_left) {
        e.cert_days_left = r.cert_days_left;
    }
    if (r.outcome == probe::status::down) {
        return;
    }
    e.last_success = now;
    // In next-poll mode "delivery" is only "seen by": no latency to put in a histogram.
    if (!r.next_poll) {
        observe(e.delivery, delivery_buckets, static_cast<double>(r.ms.delivery) / 1000.0);
        observe(e.round_trip, round_trip_buckets, static_cast<double>(r.ms.total) / 1000.0);
    }
}

std::string live_status::metrics() const
{
    std::vector<std::string> labels;
    labels.reserve(m_probes.size());
    for (const auto& [key, e] : m_probes) {
        labels.push_back(fmt::format("tenant=\"{}\",probe=\"{}\",topology=\"{}\"", prometheus_label_escape(key.first),
            prometheus_label_escape(key.second), e.topology));
    }
    std::string out;
    auto each = [&](auto&& line) {
        std::size_t i = 0;
        for (const auto& kv : m_probes) {
            line(labels[i++], kv.second);
        }
    };
    family(out, "mailprobe_probe_up", "gauge", "1 when the last verdict was up or warning, 0 when down.");
    each([&](const std::string& l, const entry& e) {
        if (e.decided) {
            out += fmt::format("mailprobe_probe_up{{{}}} {}\n", l, e.state == probe::status::down ? 0 : 1);
        }
    });
    family(out, "mailprobe_probe_status", "gauge", "1 for the state of the last verdict, 0 for the others.");
    each([&](const std::string& l, const entry& e) {
        if (!e.decided) {
            return;
        }
        for (probe::status s : all_states) {
            if (s != probe::status::pending) {
                out += fmt::format("mailprobe_probe_status{{{},state=\"{}\"}} {}\n", l, probe::to_string(s),
                    s == e.state ? 1 : 0);
            }
        }
    });
    family(out, "mailprobe_probe_last_run_timestamp_seconds", "gauge", "When the last run finished (unix time).");
    each([&](const std::string& l, const entry& e) {
        out += fmt::format("mailprobe_probe_last_run_timestamp_seconds{{{}}} {}\n", l, e.last_run);
    });
    family(out, "mailprobe_probe_last_success_timestamp_seconds", "gauge",
        "When the last up or warning run finished (unix time).");
    each([&](const std::string& l, const entry& e) {
        if (e.last_success) {
            out += fmt::format("mailprobe_probe_last_success_timestamp_seconds{{{}}} {}\n", l, *e.last_success);
        }
    });
    family(out, "mailprobe_probe_cert_days_left", "gauge", "Days until the soonest certificate expiry seen.");
    each([&](const std::string& l, const entry& e) {
        if (e.cert_days_left) {
            out += fmt::format("mailprobe_probe_cert_days_left{{{}}} {}\n", l, *e.cert_days_left);
        }
    });
    family(out, "mailprobe_probe_runs_total", "counter", "Runs since start, by status.");
    each([&](const std::string& l, const entry& e) {
        for (probe::status s : all_states) {
            out += fmt::format("mailprobe_probe_runs_total{{{},status=\"{}\"}} {}\n", l, probe::to_string(s),
                e.runs[static_cast<std::size_t>(s)]);
        }
    });
    family(out, "mailprobe_delivery_seconds", "histogram",
        "Delivery latency: the reply after the data until the message was first seen.");
    each([&](const std::string& l, const entry& e) {
        histogram_lines(out, "mailprobe_delivery_seconds", l, e.delivery, delivery_buckets);
    });
    family(out, "mailprobe_round_trip_seconds", "histogram", "The whole round trip of a successful run.");
    each([&](const std::string& l, const entry& e) {
        histogram_lines(out, "mailprobe_round_trip_seconds", l, e.round_trip, round_trip_buckets);
    });
    return out;
}

std::string live_status::status_json() const
{
    std::string out = "{\"probes\":[";
    bool first = true;
    for (const auto& [key, e] : m_probes) {
        out += first ? "" : ",";
        first = false;
        out += fmt::format("{{\"tenant\":{},\"probe\":{},\"topology\":{},\"status\":\"{}\",\"stage\":{},"
                           "\"reason\":{},\"delivery_ms\":{},\"total_ms\":{},\"last_run\":{},\"last_success\":{},"
                           "\"cert_days_left\":{}}}",
            json_quoted(key.first), json_quoted(key.second), e.topology, probe::to_string(e.state),
            e.stage == engine::stage::none ? std::string("null") : json_quoted(engine::to_string(e.stage)),
            json_quoted(e.reason), e.delivery_ms, e.total_ms, e.last_run,
            e.last_success ? fmt::format("{}", *e.last_success) : std::string("null"),
            e.cert_days_left ? fmt::format("{}", *e.cert_days_left) : std::string("null"));
    }
    out += "]}";
    return out;
}

std::string_view live_status::page()
{
    // Built with DOM calls and textContent only: names and reasons never become markup.
    return R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mailprobe status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:16px system-ui,sans-serif;margin:1em;background:#111;color:#eee}
h1{font-size:1.2em;margin:0 0 .5em}
table{border-collapse:separate;border-spacing:4px}
th{text-align:left;padding:.4em .8em;white-space:nowrap}
td{padding:.4em .8em;border-radius:4px;cursor:pointer;min-width:7em}
td small{display:block;opacity:.8}
.up{background:#1b5e20}.warning{background:#8d6e00}.down{background:#b71c1c}.pending{background:#444}
#detail{margin-top:1em;white-space:pre-wrap}#updated{opacity:.6;font-size:.8em}
</style></head><body>
<h1>mailprobe status <span id="updated"></span></h1>
<table><tbody id="rows"></tbody></table>
<div id="detail"></div>
<script>
"use strict";
function seconds(ms){return (ms/1000).toFixed(1)+" s";}
function render(data){
  const rows=document.getElementById("rows");
  const tenants=new Map();
  for(const p of data.probes){if(!tenants.has(p.tenant))tenants.set(p.tenant,[]);tenants.get(p.tenant).push(p);}
  const body=document.createDocumentFragment();
  for(const [tenant,probes] of tenants){
    const tr=document.createElement("tr");
    const th=document.createElement("th");th.textContent=tenant;tr.appendChild(th);
    for(const p of probes){
      const td=document.createElement("td");
      td.className=p.status;
      td.dataset.probe=p.probe;td.dataset.status=p.status;
      td.textContent=p.probe;
      const small=document.createElement("small");
      small.textContent=p.status==="down"?"down"+(p.stage?" at "+p.stage:""):p.status+(p.delivery_ms?" "+seconds(p.delivery_ms):"");
      td.appendChild(small);
      const why=p.stage?p.stage+": "+p.reason:p.reason;
      td.title=why;
      td.onclick=()=>{document.getElementById("detail").textContent=tenant+"/"+p.probe+": "+p.status+(why?" ("+why+")":"");};
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  rows.replaceChildren(body);
  document.getElementById("updated").textContent=new Date().toLocaleTimeString();
}
async function refresh(){
  try{const r=await fetch("status.json",{cache:"no-store"});if(r.ok)render(await r.json());}
  catch(e){document.getElementById("updated").textContent="(no answer)";}
}
refresh();setInterval(refresh,3000);
</script></body></html>
)html";
}

} // namespace report
