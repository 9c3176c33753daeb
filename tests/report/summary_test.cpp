// The report's numbers against the hand-computed fixture (fixture.h says how each was
// computed), through the real store: results written, read back, summarized.
#include "tests/report/fixture.h"

#include "report/batch.h"
#include "report/summary.h"
#include "tests/support/child_process.h"

#include <gtest/gtest.h>

namespace {

using fixture::minute;
using fixture::t0;

std::vector<report::tenant_summary> summarize_fixture(const test_support::temp_dir& dir, report::query q = {})
{
    auto db = report::store::open(dir.path() + "/h.db");
    EXPECT_TRUE(db.has_value());
    auto all = fixture::results();
    EXPECT_TRUE(db->insert(all).has_value());
    auto tenants = report::summarize(*db, q, fixture::period());
    EXPECT_TRUE(tenants.has_value());
    return std::move(*tenants);
}

TEST(report_summary, availability_intervals_and_counts_match_the_hand_computed_fixture)
{
    test_support::temp_dir dir;
    auto tenants = summarize_fixture(dir);
    ASSERT_EQ(tenants.size(), 2u);
    const auto& acme = tenants[0];
    ASSERT_EQ(acme.name, "acme");
    ASSERT_EQ(acme.probes.size(), 2u);
    const auto& a = acme.probes[0];
    EXPECT_EQ(a.probe, "a");
    EXPECT_EQ(a.measured_ms, 110 * minute);
    EXPECT_EQ(a.up_ms, 90 * minute);
    ASSERT_TRUE(a.availability_pct);
    EXPECT_NEAR(*a.availability_pct, 100.0 * 90 / 110, 1e-9);

    ASSERT_EQ(a.downs.size(), 2u);
    EXPECT_EQ(a.downs[0].start_ms, t0 + 30 * minute);
    EXPECT_EQ(a.downs[0].end_ms, t0 + 45 * minute);
    EXPECT_EQ(a.downs[0].results, 3);
    EXPECT_EQ(a.downs[0].stage, engine::stage::send);
    EXPECT_EQ(a.downs[0].server_reply, "554 5.7.1 relay denied");
    EXPECT_EQ(a.downs[1].start_ms, t0 + 100 * minute);
    EXPECT_EQ(a.downs[1].end_ms, t0 + 105 * minute);
    EXPECT_EQ(a.downs[1].stage, engine::stage::deliver);
    EXPECT_EQ(a.downs[1].reason, "not delivered within 60 s");

    EXPECT_EQ(a.p50_ms, 9000);
    EXPECT_EQ(a.p90_ms, 17000);
    EXPECT_EQ(a.p99_ms, 18000);

    ASSERT_EQ(a.worst_hours.size(), 2u);
    EXPECT_EQ(a.worst_hours[0].hour_ms, t0);
    EXPECT_EQ(a.worst_hours[0].down_ms, 15 * minute);
    EXPECT_EQ(a.worst_hours[1].hour_ms, t0 + 60 * minute);
    EXPECT_EQ(a.worst_hours[1].down_ms, 5 * minute);

    EXPECT_EQ(a.cert_days_left, 10);
    EXPECT_EQ(a.cert_seen_ms, t0 + 115 * minute);

    EXPECT_EQ(a.n.results, 22);
    EXPECT_EQ(a.n.up, 17);
    EXPECT_EQ(a.n.warning, 1);
    EXPECT_EQ(a.n.down, 4);
    EXPECT_EQ(a.n.sent, 19);
    EXPECT_EQ(a.n.found, 18);
    EXPECT_EQ(a.n.lost, 1);
    EXPECT_EQ(a.n.junk, 1);
    EXPECT_EQ(a.stage_failures.at(engine::stage::send), 3);
    EXPECT_EQ(a.stage_failures.at(engine::stage::deliver), 1);

    // up [0,30) down [30,45) up [45,60) warning [60,65) up [65,90) down [100,105) up [105,120)
    ASSERT_EQ(a.timeline.size(), 7u);
    EXPECT_EQ(a.timeline[3].state, probe::status::warning);
    EXPECT_EQ(a.timeline[4].end_ms, t0 + 90 * minute);
    EXPECT_EQ(a.timeline[5].start_ms, t0 + 100 * minute);

    const auto& b = acme.probes[1];
    EXPECT_EQ(b.measured_ms, 10 * minute);
    EXPECT_EQ(b.p50_ms, 500);
    ASSERT_TRUE(acme.availability_pct);
    EXPECT_NEAR(*acme.availability_pct, 100.0 * 100 / 120, 1e-9);

    const auto& beta = tenants[1];
    EXPECT_EQ(beta.name, "beta");
    ASSERT_EQ(beta.probes.size(), 1u);
    EXPECT_EQ(beta.probes[0].n.results, 12);   // the Down before the period is not in it
    EXPECT_EQ(beta.probes[0].measured_ms, 120 * minute);
    EXPECT_NEAR(*beta.availability_pct, 100.0, 1e-9);
    EXPECT_TRUE(beta.probes[0].downs.empty());
}

TEST(report_summary, a_tenant_filter_reports_only_that_tenant)
{
    test_support::temp_dir dir;
    report::query q;
    q.tenants = {"beta"};
    auto tenants = summarize_fixture(dir, q);
    ASSERT_EQ(tenants.size(), 1u);
    EXPECT_EQ(tenants[0].name, "beta");
}

TEST(report_summary, a_probe_without_results_in_the_period_is_absent_and_nothing_measured_is_no_number)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    auto only = fixture::make("acme", "p", 0, 5, probe::status::pending);
    ASSERT_TRUE(db->insert(std::span(&only, 1)).has_value());
    auto tenants = report::summarize(*db, {}, fixture::period());
    ASSERT_TRUE(tenants.has_value());
    ASSERT_EQ(tenants->size(), 1u);
    EXPECT_EQ((*tenants)[0].probes[0].n.pending, 1);
    EXPECT_FALSE((*tenants)[0].probes[0].availability_pct);
    EXPECT_FALSE((*tenants)[0].availability_pct);
}

TEST(report_summary, hours_past_retention_count_from_the_rollups_with_the_same_times_and_counts)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->insert(fixture::results()).has_value());
    // The store's own retention: one day of raw results, applied a day and an hour and a
    // half after T0, rolls up every hour before T0 + 1 h.
    ASSERT_TRUE(db->set_retention(report::retention{1, 400}).has_value());
    ASSERT_TRUE(db->apply_retention(t0 + 25 * 60 * minute + 30 * minute).has_value());
    EXPECT_EQ(*db->rolled_up_until(), t0 + 60 * minute);
    auto tenants = report::summarize(*db, {}, fixture::period());
    ASSERT_TRUE(tenants.has_value());
    ASSERT_EQ(tenants->size(), 2u);
    const auto& acme = (*tenants)[0];
    EXPECT_EQ(acme.hourly_from_ms, t0);
    EXPECT_EQ(acme.hourly_to_ms, t0 + 60 * minute);
    const auto& a = acme.probes[0];
    // The rollups keep what each result covered, so the times and counts are those of the
    // raw fixture (fixture.h).
    EXPECT_EQ(a.measured_ms, 110 * minute);
    EXPECT_EQ(a.up_ms, 90 * minute);
    EXPECT_EQ(a.n.results, 22);
    EXPECT_EQ(a.n.up, 17);
    EXPECT_EQ(a.n.warning, 1);
    EXPECT_EQ(a.n.down, 4);
    EXPECT_EQ(a.n.sent, 19);
    EXPECT_EQ(a.n.found, 18);
    EXPECT_EQ(a.n.lost, 1);
    EXPECT_EQ(a.n.junk, 1);
    ASSERT_EQ(a.worst_hours.size(), 2u);
    EXPECT_EQ(a.worst_hours[0].hour_ms, t0);
    EXPECT_EQ(a.worst_hours[0].down_ms, 15 * minute);
    EXPECT_EQ(a.worst_hours[1].down_ms, 5 * minute);
    EXPECT_NEAR(*acme.availability_pct, 100.0 * 100 / 120, 1e-9);
    // Less detail in the rolled-up hour: its Down time, not its interval.
    EXPECT_EQ(a.hourly_from_ms, t0);
    EXPECT_EQ(a.hourly_to_ms, t0 + 60 * minute);
    ASSERT_EQ(a.hourly_downs.size(), 1u);
    EXPECT_EQ(a.hourly_downs[0].down_ms, 15 * minute);
    ASSERT_EQ(a.downs.size(), 1u);
    EXPECT_EQ(a.downs[0].start_ms, t0 + 100 * minute);
    EXPECT_EQ(a.stage_failures.at(engine::stage::deliver), 1);
    EXPECT_EQ(a.stage_failures.count(engine::stage::send), 0u);
    // Percentiles of the raw hour only: 10000 ... 18000 ms, nearest rank 5, 9, 9.
    EXPECT_EQ(a.p50_ms, 14000);
    EXPECT_EQ(a.p90_ms, 18000);
    EXPECT_EQ(a.p99_ms, 18000);
    ASSERT_EQ(a.latency.size(), 2u);
    EXPECT_EQ(a.latency[0].hour_ms, t0);
    EXPECT_EQ(a.latency[0].mean_ms, 5000);   // (1000 + ... + 9000) / 9
    EXPECT_EQ(acme.probes[1].measured_ms, 10 * minute);
    const auto& beta = (*tenants)[1];
    EXPECT_EQ(beta.probes[0].n.results, 12);   // the Down before T0 is in an hour before the period
    EXPECT_EQ(beta.probes[0].measured_ms, 120 * minute);

    auto csv = report::report_csv(*tenants, fixture::period());
    EXPECT_NE(csv.find("acme,a,2026-11-01T00:00:00Z,2026-11-01T02:00:00Z,81.8182,6600,5400,1,22,17,1,4,0,19,18,1,1,"
                       "14000,18000,18000,10,yes,2026-11-01T00:00:00Z,2026-11-01T01:00:00Z\r\n"),
        std::string::npos)
        << csv;
    auto json = report::report_json(*tenants, fixture::period());
    EXPECT_NE(json.find("\"hourly\":{\"from\":\"2026-11-01T00:00:00Z\",\"to\":\"2026-11-01T01:00:00Z\"},"
                        "\"hourly_down_hours\":[{\"hour\":\"2026-11-01T00:00:00Z\",\"down_s\":900}]"),
        std::string::npos)
        << json;
    auto html = report::tenant_html(acme, fixture::period());
    EXPECT_NE(html.find("From 2026-11-01T00:00:00Z to 2026-11-01T01:00:00Z the raw results are past retention"),
        std::string::npos);
    EXPECT_NE(html.find("<rect class=\"hourly\""), std::string::npos);
    EXPECT_NE(report::index_html(*tenants, fixture::period()).find("past retention"), std::string::npos);
}

TEST(report_formats, csv_and_json_carry_the_fixture_numbers_and_defuse_formulas)
{
    test_support::temp_dir dir;
    auto tenants = summarize_fixture(dir);
    tenants[0].probes[0].downs[0].reason = "=HYPERLINK(\"x\")";
    auto csv = report::report_csv(tenants, fixture::period());
    EXPECT_NE(csv.find("acme,a,2026-11-01T00:00:00Z,2026-11-01T02:00:00Z,81.8182,6600,5400,2,22,17,1,4,0,19,18,1,1,"
                       "9000,17000,18000,10,yes,,\r\n"),
        std::string::npos)
        << csv;
    auto downs = report::down_intervals_csv(tenants);
    EXPECT_NE(downs.find("acme,a,2026-11-01T00:30:00Z,2026-11-01T00:45:00Z,900,3,send,\"'=HYPERLINK(\"\"x\"\")\","),
        std::string::npos)
        << downs;
    auto json = report::report_json(tenants, fixture::period());
    EXPECT_NE(json.find("\"probe\":\"a\",\"interval_s\":300,\"availability_pct\":81.8182,\"measured_s\":6600"),
        std::string::npos)
        << json;
    EXPECT_NE(json.find("\"latency_ms\":{\"p50\":9000,\"p90\":17000,\"p99\":18000}"), std::string::npos);
    EXPECT_NE(json.find("\"stage_failures\":{\"send\":3,\"deliver\":1}"), std::string::npos);
}

TEST(report_formats, html_escapes_server_words_and_names_each_chart_series)
{
    test_support::temp_dir dir;
    auto tenants = summarize_fixture(dir);
    tenants[0].probes[0].downs[0].server_reply = "<script>alert(1)</script>";
    auto html = report::tenant_html(tenants[0], fixture::period());
    EXPECT_EQ(html.find("<script>"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(html.find("id=\"availability\" data-series=\"2\""), std::string::npos);
    EXPECT_NE(html.find("id=\"latency\" data-series=\"2\""), std::string::npos);
    EXPECT_NE(html.find("id=\"stages\" data-series=\"2\""), std::string::npos);
    EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));   // no link out but the SVG namespace
    EXPECT_EQ(report::file_of(tenants[0]), "tenant-acme.html");
    report::tenant_summary odd;
    odd.name = "../x y";
    EXPECT_EQ(report::file_of(odd).find('/'), std::string::npos);
}

} // namespace
