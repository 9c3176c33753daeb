// The SQLite history: schema version and migrations, round trips of results, batched
// writes (by count and by time), retention into hourly rollups, and a kill -9 of a writing
// process that loses at most the unflushed batch and leaves a database that checks clean.
#include "tests/report/fixture.h"

#include "report/store.h"
#include "tests/support/child_process.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace {

using fixture::minute;
using fixture::t0;

std::vector<report::stored_result> read_all(report::store& db, report::query q = {})
{
    std::vector<report::stored_result> out;
    EXPECT_TRUE(db.read(q, [&](const report::stored_result& s) { out.push_back(s); }).has_value());
    return out;
}

std::int64_t count_rows(const std::string& path)
{
    auto db = report::store::open(path);
    EXPECT_TRUE(db.has_value());
    std::int64_t n = 0;
    EXPECT_TRUE(db->read({}, [&](const report::stored_result&) { ++n; }).has_value());
    return n;
}

TEST(report_store, a_new_store_is_at_the_current_schema_version_in_wal_mode)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    EXPECT_EQ(*db->schema_version(), report::store_schema_version);
    EXPECT_EQ(*db->integrity_check(), "ok");
    // WAL leaves its -wal file beside the database while a connection is open.
    EXPECT_EQ(::access((dir.path() + "/h.db-wal").c_str(), F_OK), 0);
    auto keep = db->get_retention();
    ASSERT_TRUE(keep.has_value());
    EXPECT_EQ(keep->raw_days, 35);
    EXPECT_EQ(keep->hourly_days, 400);
}

// history and report read: a mistyped path is an error (not a new, empty store and an empty
// report), and a current store opens read-only.
TEST(report_store, readers_refuse_a_missing_store_and_open_a_current_one_read_only)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    auto missing = report::store::open_existing(path);
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.err().message.find("no store at " + path), std::string::npos) << missing.err().message;
    EXPECT_NE(::access(path.c_str(), F_OK), 0);

    {
        auto db = report::store::open(path);
        ASSERT_TRUE(db.has_value());
        std::vector<report::stored_result> one{fixture::make("acme", "a", 0, 5, probe::status::up)};
        ASSERT_TRUE(db->insert(one).has_value());
    }
    auto reader = report::store::open_existing(path);
    ASSERT_TRUE(reader.has_value()) << reader.err().message;
    EXPECT_EQ(read_all(*reader).size(), 1u);
    std::vector<report::stored_result> more{fixture::make("acme", "a", 1, 5, probe::status::up)};
    EXPECT_FALSE(reader->insert(more).has_value());
}

TEST(report_store, a_store_from_a_newer_mailprobe_is_refused_and_reopening_keeps_the_data)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    {
        auto db = report::store::open(path);
        ASSERT_TRUE(db.has_value());
        auto one = fixture::make("acme", "a", 0, 5, probe::status::up);
        ASSERT_TRUE(db->insert(std::span(&one, 1)).has_value());
    }
    EXPECT_EQ(count_rows(path), 1);   // a second open migrates nothing and loses nothing
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(raw);
    auto newer = report::store::open(path);
    ASSERT_FALSE(newer.has_value());
    EXPECT_NE(newer.err().message.find("schema version 99"), std::string::npos) << newer.err().message;
}

// Version 1 as it shipped: the schema the first migration made.
constexpr const char* schema_1 = R"sql(
    CREATE TABLE schema_version(version INTEGER NOT NULL);
    INSERT INTO schema_version VALUES(1);
    CREATE TABLE results(at_ms INTEGER NOT NULL, interval_ms INTEGER NOT NULL, tenant TEXT NOT NULL,
        probe TEXT NOT NULL, topology INTEGER NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL,
        reason TEXT NOT NULL, server_reply TEXT NOT NULL, probe_id TEXT NOT NULL, next_poll INTEGER NOT NULL,
        folder TEXT NOT NULL, smtp_connect_ms INTEGER NOT NULL, smtp_tls_ms INTEGER NOT NULL,
        smtp_auth_ms INTEGER NOT NULL, smtp_transaction_ms INTEGER NOT NULL, delivery_ms INTEGER NOT NULL,
        fetch_ms INTEGER NOT NULL, total_ms INTEGER NOT NULL, cert_days_left INTEGER, warnings TEXT NOT NULL,
        hops TEXT NOT NULL);
    CREATE INDEX results_by_probe ON results(tenant, probe, at_ms);
    CREATE TABLE hourly(tenant TEXT NOT NULL, probe TEXT NOT NULL, hour_ms INTEGER NOT NULL, up INTEGER NOT NULL,
        warning INTEGER NOT NULL, down INTEGER NOT NULL, pending INTEGER NOT NULL, delivery_count INTEGER NOT NULL,
        delivery_sum_ms INTEGER NOT NULL, delivery_max_ms INTEGER NOT NULL,
        PRIMARY KEY(tenant, probe, hour_ms)) WITHOUT ROWID;
    CREATE TABLE settings(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO settings VALUES('raw_days', 20), ('hourly_days', 400);
    INSERT INTO results VALUES(1793491200000, 300000, 'acme', 'a', 3, 'up', '', '', '', '0190-0', 0, 'INBOX',
        1, 2, 3, 4, 5, 6, 7, 12, 'w1', '-	0	mx.example.org');
    INSERT INTO results VALUES(1793491500000, 300000, 'acme', 'a', 3, 'down', 'connect', 'connect: refused', '',
        '0190-5', 0, '', 0, 0, 0, 0, 0, 0, 0, NULL, '', '');
    INSERT INTO hourly VALUES('acme', 'a', 1793484000000, 11, 0, 1, 0, 11, 11000, 1500);
)sql";

std::string plan_of(const std::string& path, const char* sql)
{
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(raw, (std::string("EXPLAIN QUERY PLAN ") + sql).c_str(), -1, &st, nullptr), SQLITE_OK);
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW) {
        plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
        plan += "\n";
    }
    sqlite3_finalize(st);
    sqlite3_close(raw);
    return plan;
}

TEST(report_store, a_version_1_store_migrates_keeping_its_rows_and_rollups_and_settings)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(raw, schema_1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw);
    sqlite3_close(raw);

    auto db = report::store::open(path);
    ASSERT_TRUE(db.has_value()) << db.err().message;
    EXPECT_EQ(*db->schema_version(), report::store_schema_version);
    EXPECT_EQ(*db->integrity_check(), "ok");
    EXPECT_EQ(db->get_retention()->raw_days, 20);
    auto rows = read_all(*db);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].r.probe_id, "0190-0");
    EXPECT_EQ(rows[0].r.ms.total, 7);
    EXPECT_EQ(rows[0].r.cert_days_left, 12);
    ASSERT_EQ(rows[0].r.hops.size(), 1u);
    EXPECT_EQ(rows[0].r.hops[0].by, "mx.example.org");
    EXPECT_EQ(rows[1].r.outcome, probe::status::down);
    EXPECT_EQ(rows[1].r.stage, engine::stage::connect);
    // Rows from before version 3 do not say whether they were sent: guessed from the stage.
    EXPECT_TRUE(rows[0].r.sent);
    EXPECT_FALSE(rows[1].r.sent);
    auto hours = db->read_hourly({});
    ASSERT_TRUE(hours.has_value());
    ASSERT_EQ(hours->size(), 1u);
    EXPECT_EQ((*hours)[0].up, 11);
    EXPECT_EQ((*hours)[0].delivery_sum_ms, 11000);
    EXPECT_EQ((*hours)[0].up_ms, 0);   // not known before version 2
    // The raw results begin after the hours rolled up under version 1.
    EXPECT_EQ(*db->rolled_up_until(), 1'793'484'000'000 + 3'600'000);
    // The retention's delete and the report's walk go by the time index, not the whole table.
    EXPECT_NE(plan_of(path, "DELETE FROM results WHERE at_ms < 5").find("USING INDEX results_by_time"),
        std::string::npos);
    EXPECT_NE(plan_of(path, "DELETE FROM hourly WHERE hour_ms < 5").find("hourly_by_time (hour_ms<?)"),
        std::string::npos);
    auto walk = plan_of(path, "SELECT at_ms FROM results WHERE at_ms >= 1 AND at_ms < 2 ORDER BY at_ms, rowid");
    EXPECT_NE(walk.find("results_by_time"), std::string::npos) << walk;
    EXPECT_EQ(walk.find("TEMP B-TREE"), std::string::npos) << walk;
    // And it stays at the current version on the next open.
    auto again = report::store::open(path);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(read_all(*again).size(), 2u);
}

// A Down at the fetch side (the IMAP server refused the login) comes after the SMTP server
// took the message: it counts as sent, in the raw results and in the hourly rollup.
TEST(report_store, a_down_after_the_send_counts_as_sent)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    auto fetch_auth = fixture::make("acme", "a", 0, 5, probe::status::down);
    fetch_auth.r.stage = engine::stage::auth;
    fetch_auth.r.sent = true;
    auto smtp_auth = fixture::make("acme", "a", 5, 5, probe::status::down);
    smtp_auth.r.stage = engine::stage::auth;
    const std::vector<report::stored_result> both{fetch_auth, smtp_auth};
    ASSERT_TRUE(db->insert(both).has_value());
    std::vector<bool> sent;
    ASSERT_TRUE(db->scan({}, [&](const report::result_view& v) { sent.push_back(v.sent); }).has_value());
    EXPECT_EQ(sent, (std::vector<bool>{true, false}));
    auto back = read_all(*db);
    ASSERT_EQ(back.size(), 2u);
    EXPECT_TRUE(back[0].r.sent);
    EXPECT_FALSE(back[1].r.sent);
    ASSERT_TRUE(db->set_retention(report::retention{1, 400}).has_value());
    ASSERT_TRUE(db->apply_retention(fixture::t0 + 26 * 60 * fixture::minute).has_value());
    auto hours = db->read_hourly({});
    ASSERT_TRUE(hours.has_value());
    ASSERT_EQ(hours->size(), 1u);
    EXPECT_EQ((*hours)[0].down, 2);
    EXPECT_EQ((*hours)[0].sent, 1);
}

TEST(report_store, results_come_back_as_written_in_tenant_probe_time_order)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    auto all = fixture::results();
    auto& junk = all[12];   // acme/a at minute 60
    junk.r.ms = probe::timings{1, 2, 3, 4, 5, 6, 7};
    junk.r.next_poll = true;
    junk.r.topology = 4;
    junk.r.hops = {probe::hop{"mx.example.org", 1200, false}, probe::hop{"relay", std::nullopt, true},
        probe::hop{"imaps", -2000, true, true}};
    ASSERT_TRUE(db->insert(all).has_value());
    auto back = read_all(*db);
    ASSERT_EQ(back.size(), all.size());
    EXPECT_EQ(back[0].r.tenant, "acme");
    EXPECT_EQ(back.back().r.tenant, "beta");
    EXPECT_EQ(back[22].r.probe, "b");
    const auto& j = back[12].r;
    EXPECT_EQ(back[12].at_ms, t0 + 60 * minute);
    EXPECT_EQ(j.outcome, probe::status::warning);
    EXPECT_EQ(j.stage, engine::stage::deliver);
    EXPECT_EQ(j.folder, "Junk");
    EXPECT_EQ(j.warnings, std::vector<std::string>{"filed as spam in Junk"});
    EXPECT_EQ(j.topology, 4);
    EXPECT_TRUE(j.next_poll);
    EXPECT_EQ(j.ms.smtp_connect, 1);
    EXPECT_EQ(j.ms.total, 7);
    ASSERT_EQ(j.hops.size(), 3u);
    EXPECT_EQ(j.hops[0].by, "mx.example.org");
    EXPECT_EQ(j.hops[0].delay_ms, 1200);
    EXPECT_FALSE(j.hops[0].skewed);
    EXPECT_FALSE(j.hops[1].delay_ms);
    EXPECT_TRUE(j.hops[1].skewed);
    EXPECT_FALSE(j.hops[1].store);
    // The store hop keeps its kind and its skew through the history.
    EXPECT_EQ(j.hops[2].by, "imaps");
    EXPECT_EQ(j.hops[2].delay_ms, -2000);
    EXPECT_TRUE(j.hops[2].skewed);
    EXPECT_TRUE(j.hops[2].store);
    EXPECT_TRUE(back[0].r.hops.empty());
    EXPECT_EQ(back[21].r.cert_days_left, 10);
    EXPECT_FALSE(back[0].r.cert_days_left);

    report::query q;
    q.probes = {"c"};
    q.since_ms = t0;
    q.until_ms = t0 + 30 * minute;
    auto some = read_all(*db, q);
    ASSERT_EQ(some.size(), 3u);   // minutes 0, 10, 20; the Down before t0 is outside
    EXPECT_EQ(some[0].at_ms, t0);
}

TEST(report_store, retention_rolls_old_results_up_by_hour_and_drops_what_is_older_still)
{
    test_support::temp_dir dir;
    auto db = report::store::open(dir.path() + "/h.db");
    ASSERT_TRUE(db.has_value());
    ASSERT_TRUE(db->insert(fixture::results()).has_value());
    ASSERT_TRUE(db->set_retention(report::retention{1, 400}).has_value());
    // One day and one hour after T0 + 1 h: the first hour is due, the second is not.
    auto rolled = db->apply_retention(t0 + 25 * 60 * minute + 30 * minute);
    ASSERT_TRUE(rolled.has_value());
    auto hours = db->read_hourly({});
    ASSERT_TRUE(hours.has_value());
    // acme/a, acme/b, beta/c (its hour before T0 and its first hour).
    ASSERT_EQ(hours->size(), 4u);
    const auto& a = (*hours)[0];
    EXPECT_EQ(a.probe, "a");
    EXPECT_EQ(a.hour_ms, t0);
    EXPECT_EQ(a.up, 9);        // minutes 0..55 but 30, 35, 40 (down); 60 is the next hour
    EXPECT_EQ(a.down, 3);
    EXPECT_EQ(a.delivery_count, 9);
    EXPECT_EQ(a.delivery_sum_ms, 45'000);   // 1000 + ... + 9000
    EXPECT_EQ(a.delivery_max_ms, 9000);
    // What a report counts of that hour: each result covers 5 min, the one at 55 up to the
    // raw result at 60 that stays.
    EXPECT_EQ(a.up_ms, 45 * minute);
    EXPECT_EQ(a.down_ms, 15 * minute);
    EXPECT_EQ(a.sent, 9);
    EXPECT_EQ(a.found, 9);
    EXPECT_EQ(a.lost, 0);
    EXPECT_EQ(a.junk, 0);
    EXPECT_EQ((*hours)[1].up_ms, 10 * minute);   // acme/b: one result, one 10-minute interval
    EXPECT_EQ(*rolled, 12 + 1 + 1 + 6);
    EXPECT_EQ(*db->rolled_up_until(), t0 + 60 * minute);
    EXPECT_EQ(read_all(*db).size(), fixture::results().size() - 20);

    // Rolling up again adds to the same hours rather than duplicating them; past the hourly
    // retention, hours go.
    ASSERT_TRUE(db->set_retention(report::retention{1, 1}).has_value());
    ASSERT_TRUE(db->apply_retention(t0 + 48 * 60 * minute).has_value());
    EXPECT_TRUE(read_all(*db).empty());
    hours = db->read_hourly({});
    ASSERT_TRUE(hours.has_value());
    EXPECT_TRUE(hours->empty());
}

TEST(report_store, the_writer_commits_full_batches_at_once_and_partial_ones_after_the_delay)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    auto db = report::store::open(path);
    ASSERT_TRUE(db.has_value());
    report::store_writer w(std::move(*db), 10, std::chrono::milliseconds(200));
    for (int i = 0; i < 13; ++i) {
        w.add(fixture::make("acme", "a", i, 5, probe::status::up));
    }
    // Bounded waits on the writer thread: 10 at once, the other 3 after about 200 ms.
    auto wait_for = [&](std::uint64_t n) {
        for (int i = 0; i < 500 && w.committed() < n; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return w.committed();
    };
    EXPECT_GE(wait_for(10), 10u);
    EXPECT_EQ(wait_for(13), 13u);
    EXPECT_EQ(count_rows(path), 13);
}

// The steady state of a daemon: the writer has nothing to do and sleeps until the hourly
// retention; a single result must still be committed after the delay, not the next hour.
TEST(report_store, a_lone_result_reaching_an_idle_writer_is_committed_after_the_delay)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    auto db = report::store::open(path);
    ASSERT_TRUE(db.has_value());
    report::store_writer w(std::move(*db), 500, std::chrono::milliseconds(100));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));   // past its first retention run
    w.add(fixture::make("acme", "a", 0, 5, probe::status::up));
    for (int i = 0; i < 500 && w.committed() < 1; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(w.committed(), 1u);
    EXPECT_EQ(count_rows(path), 1);
}

TEST(report_store, the_writer_commits_what_waits_when_it_is_destroyed)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    {
        auto db = report::store::open(path);
        ASSERT_TRUE(db.has_value());
        report::store_writer w(std::move(*db), 1000, std::chrono::hours(1));
        for (int i = 0; i < 7; ++i) {
            w.add(fixture::make("acme", "a", i, 5, probe::status::up));
        }
    }
    EXPECT_EQ(count_rows(path), 7);
}

TEST(report_store, kill_9_of_a_writer_loses_at_most_the_unflushed_batch_and_the_file_checks_clean)
{
    test_support::temp_dir dir;
    auto path = dir.path() + "/h.db";
    constexpr int batch = 100;
    std::string out;
    {
        // The helper is built next to this test; tests run from the tests build folder.
        test_support::child_process writer({"report/store_writer_child", path, std::to_string(batch)});
        out = writer.wait_for_output("committed 2000\n", std::chrono::seconds(30));
        ASSERT_FALSE(out.empty()) << writer.output();
        auto pid = std::stoi(out.substr(out.find("pid ") + 4));
        ASSERT_EQ(::kill(pid, SIGKILL), 0);
        // Give the kernel a moment to end it before the last output is read.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        out = writer.output();
    }
    auto last = out.rfind("committed ");
    ASSERT_NE(last, std::string::npos);
    auto reported = std::stoll(out.substr(last + 10));

    auto db = report::store::open(path);
    ASSERT_TRUE(db.has_value()) << db.err().message;
    EXPECT_EQ(*db->integrity_check(), "ok");
    auto rows = read_all(*db);
    auto n = static_cast<std::int64_t>(rows.size());
    // Everything reported committed is there; the child never had more than one batch
    // uncommitted, so at most that batch is lost; batches are whole; no hole inside.
    EXPECT_GE(n, reported);
    EXPECT_EQ(n % batch, 0);
    for (std::int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(rows[static_cast<std::size_t>(i)].r.probe_id, std::to_string(i));
    }
}

TEST(report_time, dates_and_times_parse_as_utc_and_garbage_does_not)
{
    EXPECT_EQ(report::parse_time("2026-11-01"), t0);
    EXPECT_EQ(report::parse_time("2026-11-01T01:30Z"), t0 + 90 * minute);
    EXPECT_EQ(report::parse_time("2026-11-01T01:30:05Z"), t0 + 90 * minute + 5000);
    EXPECT_EQ(report::parse_time("1793491200"), t0);
    EXPECT_FALSE(report::parse_time("2026-13-01"));
    EXPECT_FALSE(report::parse_time("2026-11-01x"));
    EXPECT_FALSE(report::parse_time("yesterday"));
    EXPECT_FALSE(report::parse_time("2026-02-31"));
    EXPECT_EQ(report::parse_time("2028-02-29"), report::parse_time("2028-03-01").value() - 24 * 60 * minute);
    EXPECT_FALSE(report::parse_time("99999999999999999999"));
    EXPECT_FALSE(report::parse_time("9223372036854775807"));
    EXPECT_EQ(report::format_time(t0 + 90 * minute + 5000), "2026-11-01T01:30:05Z");
}

} // namespace
