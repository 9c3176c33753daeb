// The live view of `run --listen`: /metrics read back by a parser of the Prometheus text
// format 0.0.4 written here (names, TYPE before samples, label escaping, cumulative histogram
// buckets ending in +Inf = _count), and /status.json's fields.
#include "report/live.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

bool is_name(const std::string& n, bool label)
{
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) {
        return false;
    }
    for (char c : n) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  (!label && c == ':');
        if (!ok) {
            return false;
        }
    }
    return true;
}

double parse_value(const std::string& v)
{
    if (v == "+Inf") {
        return INFINITY;
    }
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    EXPECT_TRUE(!v.empty() && *end == '\0') << "not a float: " << v;
    return d;
}

/// Parses the exposition text, failing the test on any line the format does not allow.
/// `types` gets each family's TYPE.
std::vector<sample> parse_exposition(const std::string& text, std::map<std::string, std::string>& types)
{
    std::vector<sample> out;
    EXPECT_TRUE(text.empty() || text.back() == '\n');
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("# TYPE ")) {
            std::istringstream f(line.substr(7));
            std::string name;
            std::string type;
            f >> name >> type;
            EXPECT_TRUE(is_name(name, false)) << line;
            EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << line;
            EXPECT_FALSE(types.contains(name)) << "two TYPE lines for " << name;
            types[name] = type;
            continue;
        }
        if (line.starts_with("# HELP ")) {
            continue;
        }
        if (line.empty() || line[0] == '#') {
            ADD_FAILURE() << "unexpected line: " << line;
            return out;
        }
        sample s;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ') {
            s.name += line[i++];
        }
        EXPECT_TRUE(is_name(s.name, false)) << line;
        if (i < line.size() && line[i] == '{') {
            ++i;
            while (i < line.size() && line[i] != '}') {
                std::string key;
                while (i < line.size() && line[i] != '=') {
                    key += line[i++];
                }
                EXPECT_TRUE(is_name(key, true)) << line;
                if (!(i + 1 < line.size() && line[i + 1] == '"')) {
                    ADD_FAILURE() << "no quoted value: " << line;
                    return out;
                }
                i += 2;
                std::string value;
                for (; i < line.size() && line[i] != '"'; ++i) {
                    if (line[i] == '\\') {
                        if (i + 1 >= line.size()) {
                            ADD_FAILURE() << "escape at the end: " << line;
                            return out;
                        }
                        char e = line[++i];
                        if (e != '\\' && e != '"' && e != 'n') {
                            ADD_FAILURE() << "bad escape in " << line;
                            return out;
                        }
                        value += e == 'n' ? '\n' : e;
                    } else {
                        value += line[i];
                    }
                }
                if (i >= line.size()) {
                    ADD_FAILURE() << "unterminated label value: " << line;
                    return out;
                }
                ++i;
                EXPECT_FALSE(s.labels.contains(key)) << line;
                s.labels[key] = value;
                if (i < line.size() && line[i] == ',') {
                    ++i;
                }
            }
            if (i >= line.size()) {
                ADD_FAILURE() << "unterminated labels: " << line;
                return out;
            }
            ++i;
        }
        if (!(i < line.size() && line[i] == ' ')) {
            ADD_FAILURE() << "no value: " << line;
            return out;
        }
        s.value = parse_value(line.substr(i + 1));
        // Every sample belongs to a family declared before it.
        std::string family = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            std::string base = s.name.substr(0, s.name.size() - std::min(s.name.size(), std::strlen(suffix)));
            if (s.name.ends_with(suffix) && types.contains(base) && types[base] == "histogram") {
                family = base;
            }
        }
        EXPECT_TRUE(types.contains(family)) << "no TYPE before " << line;
        out.push_back(std::move(s));
    }
    return out;
}

probe::result make(std::string tenant, std::string name, probe::status st, std::int64_t delivery_ms)
{
    probe::result r;
    r.tenant = std::move(tenant);
    r.probe = std::move(name);
    r.topology = 3;
    r.outcome = st;
    r.ms.delivery = delivery_ms;
    r.ms.total = delivery_ms + 800;
    if (st == probe::status::down) {
        r.stage = engine::stage::auth;
        r.reason = "authentication failed: 535 5.7.8 \"bad\" credentials";
        r.ms.delivery = 0;
    }
    return r;
}

const sample* find(const std::vector<sample>& all, const std::string& name, std::map<std::string, std::string> want)
{
    for (const auto& s : all) {
        if (s.name != name) {
            continue;
        }
        bool match = true;
        for (const auto& [k, v] : want) {
            auto it = s.labels.find(k);
            match = match && it != s.labels.end() && it->second == v;
        }
        if (match) {
            return &s;
        }
    }
    return nullptr;
}

} // namespace

TEST(LiveStatus, MetricsFollowTheExpositionFormat)
{
    report::live_status live;
    const std::string odd_tenant = "acme \"EU\"\\ops\nnight";
    auto up = make(odd_tenant, "m365", probe::status::up, 1200);
    up.cert_days_left = 42;
    live.add(up, 1'700'000'000);
    live.add(make(odd_tenant, "m365", probe::status::up, 7000), 1'700'000'300);
    live.add(make(odd_tenant, "m365", probe::status::down, 0), 1'700'000'600.5);
    live.add(make("beta", "gmail", probe::status::warning, 400), 1'700'000'100);

    std::map<std::string, std::string> types;
    auto all = parse_exposition(live.metrics(), types);
    EXPECT_EQ(types["mailprobe_probe_up"], "gauge");
    EXPECT_EQ(types["mailprobe_probe_runs_total"], "counter");
    EXPECT_EQ(types["mailprobe_delivery_seconds"], "histogram");
    EXPECT_EQ(types["mailprobe_round_trip_seconds"], "histogram");

    // The label value comes back unchanged through the escaping.
    const std::map<std::string, std::string> acme{{"tenant", odd_tenant}, {"probe", "m365"}, {"topology", "3"}};
    auto* u = find(all, "mailprobe_probe_up", acme);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->value, 0);
    auto* w = find(all, "mailprobe_probe_up", {{"tenant", "beta"}});
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->value, 1);   // a warning still delivered
    auto with = [](std::map<std::string, std::string> m, std::string k, std::string v) {
        m[std::move(k)] = std::move(v);
        return m;
    };
    EXPECT_EQ(find(all, "mailprobe_probe_status", with(acme, "state", "down"))->value, 1);
    EXPECT_EQ(find(all, "mailprobe_probe_status", with(acme, "state", "up"))->value, 0);
    EXPECT_EQ(find(all, "mailprobe_probe_runs_total", with(acme, "status", "up"))->value, 2);
    EXPECT_EQ(find(all, "mailprobe_probe_runs_total", with(acme, "status", "down"))->value, 1);
    EXPECT_EQ(find(all, "mailprobe_probe_last_run_timestamp_seconds", acme)->value, 1'700'000'600.5);
    EXPECT_EQ(find(all, "mailprobe_probe_last_success_timestamp_seconds", acme)->value, 1'700'000'300);
    EXPECT_EQ(find(all, "mailprobe_probe_cert_days_left", acme)->value, 42);   // kept from the earlier run

    // Histograms: le ascending, counts cumulative, +Inf equal to _count; 1.2 s and 7 s.
    for (const char* h : {"mailprobe_delivery_seconds", "mailprobe_round_trip_seconds"}) {
        for (const auto& labels : {acme, std::map<std::string, std::string>{{"tenant", "beta"}}}) {
            double last_le = -1;
            double last_count = 0;
            bool inf = false;
            for (const auto& s : all) {
                if (s.name != std::string(h) + "_bucket" || s.labels.at("tenant") != labels.at("tenant")) {
                    continue;
                }
                double le = parse_value(s.labels.at("le"));
                EXPECT_GT(le, last_le) << h;
                EXPECT_GE(s.value, last_count) << h;
                last_le = le;
                last_count = s.value;
                inf = std::isinf(le);
            }
            EXPECT_TRUE(inf) << h << " has no +Inf bucket";
            auto* count = find(all, std::string(h) + "_count", labels);
            ASSERT_NE(count, nullptr);
            EXPECT_EQ(count->value, last_count);
        }
    }
    EXPECT_EQ(find(all, "mailprobe_delivery_seconds_bucket", with(acme, "le", "1"))->value, 0);
    EXPECT_EQ(find(all, "mailprobe_delivery_seconds_bucket", with(acme, "le", "2.5"))->value, 1);
    EXPECT_EQ(find(all, "mailprobe_delivery_seconds_bucket", with(acme, "le", "10"))->value, 2);
    EXPECT_EQ(find(all, "mailprobe_delivery_seconds_count", acme)->value, 2);   // the down run has no latency
    EXPECT_DOUBLE_EQ(find(all, "mailprobe_delivery_seconds_sum", acme)->value, 8.2);
}

TEST(LiveStatus, NothingYetIsAValidScrape)
{
    report::live_status live;
    std::map<std::string, std::string> types;
    EXPECT_TRUE(parse_exposition(live.metrics(), types).empty());
    EXPECT_EQ(live.status_json(), "{\"probes\":[]}");
}

TEST(LiveStatus, PendingKeepsTheLastVerdict)
{
    report::live_status live;
    live.add(make("t", "p", probe::status::pending, 0), 10);
    std::map<std::string, std::string> types;
    auto all = parse_exposition(live.metrics(), types);
    EXPECT_EQ(find(all, "mailprobe_probe_up", {{"tenant", "t"}}), nullptr);   // no verdict yet
    EXPECT_EQ(find(all, "mailprobe_probe_runs_total", {{"tenant", "t"}, {"status", "pending"}})->value, 1);
    live.add(make("t", "p", probe::status::down, 0), 20);
    live.add(make("t", "p", probe::status::pending, 0), 30);
    types.clear();
    all = parse_exposition(live.metrics(), types);
    EXPECT_EQ(find(all, "mailprobe_probe_up", {{"tenant", "t"}})->value, 0);
}

// A reload that drops a probe drops its series too (or its last Down would page for ever),
// also when a run of it that was in flight finishes afterwards.
TEST(LiveStatus, ProbesLeftOutOfTheRunningPlanLeaveTheView)
{
    report::live_status live;
    live.add(make("t", "kept", probe::status::up, 100), 10);
    live.add(make("t", "removed", probe::status::down, 0), 10);
    live.set_probes({{"t", "kept"}, {"t", "new"}});
    live.add(make("t", "removed", probe::status::down, 0), 20);
    std::map<std::string, std::string> types;
    auto all = parse_exposition(live.metrics(), types);
    EXPECT_NE(find(all, "mailprobe_probe_up", {{"tenant", "t"}, {"probe", "kept"}}), nullptr);
    EXPECT_EQ(find(all, "mailprobe_probe_up", {{"tenant", "t"}, {"probe", "removed"}}), nullptr);
    EXPECT_EQ(live.status_json().find("removed"), std::string::npos);
}

TEST(LiveStatus, StatusJsonCarriesStageAndReason)
{
    report::live_status live;
    live.add(make("acme", "m365", probe::status::down, 0), 100);
    live.add(make("acme", "gmail", probe::status::up, 1500), 90);
    EXPECT_EQ(live.status_json(),
        "{\"probes\":["
        "{\"tenant\":\"acme\",\"probe\":\"gmail\",\"topology\":3,\"status\":\"up\",\"stage\":null,\"reason\":\"\","
        "\"delivery_ms\":1500,\"total_ms\":2300,\"last_run\":90,\"last_success\":90,\"cert_days_left\":null},"
        "{\"tenant\":\"acme\",\"probe\":\"m365\",\"topology\":3,\"status\":\"down\",\"stage\":\"auth\","
        "\"reason\":\"authentication failed: 535 5.7.8 \\\"bad\\\" credentials\",\"delivery_ms\":0,\"total_ms\":800,"
        "\"last_run\":100,\"last_success\":null,\"cert_days_left\":null}]}");
}

TEST(LiveStatus, PageIsSelfContained)
{
    std::string_view page = report::live_status::page();
    EXPECT_NE(page.find("status.json"), std::string_view::npos);
    for (const char* external : {"src=", "href=", "http://", "https://", "@import", "innerHTML"}) {
        EXPECT_EQ(page.find(external), std::string_view::npos) << external;
    }
}
