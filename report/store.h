// The history: every probe result in an embedded SQLite database (`mailprobe run --store`),
// read back by `mailprobe history` and `mailprobe report`.
//
// WAL mode with synchronous=NORMAL: a committed transaction survives a crash or kill -9 of
// the writer (not a power cut in the last moments). Results are written in batches, one
// transaction each (store_writer), because one transaction per result would cost a disk sync
// each. The schema carries its version (table schema_version) and is migrated forward on
// open; a file written by a newer mailprobe is refused rather than guessed at.
//
// Kept per result: the verdict, stage, reason, server reply, probe id, folder, phase timings,
// the Received hops, the soonest certificate expiry and the warnings. Not kept: the TLS
// details per server and transcripts (they are for the live run's jsonl).
//
// The table is written in time order and indexed by time only: appending to one index keeps
// a commit to a few pages, where an index by tenant and probe dirtied a page per probe in
// every batch (4x the insert cost, docs/BENCHMARKS.md). Reports walk the table in time
// order (store::scan), close to sequential; `history` for one probe reads its time range.
//
// Retention: raw results older than raw_days are rolled up into hourly aggregates (table
// hourly) and deleted; hourly rows older than hourly_days are deleted. The two numbers live
// in the database, so every writer of one file applies the same ones.
#pragma once

#include "engine/result.h"
#include "probe/result.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct sqlite3;

namespace report {

/// One result with what the store adds: when it completed and the probe's interval then.
struct stored_result {
    std::int64_t at_ms = 0;         // unix milliseconds when the result was complete
    std::int64_t interval_ms = 0;   // the probe's interval (caps how long the result counts)
    probe::result r;
};

/// One hour of one probe after the raw results are gone.
struct hourly_row {
    std::string tenant;
    std::string probe;
    std::int64_t hour_ms = 0;       // unix milliseconds at the start of the UTC hour
    std::int64_t up = 0;
    std::int64_t warning = 0;
    std::int64_t down = 0;
    std::int64_t pending = 0;
    std::int64_t delivery_count = 0;
    std::int64_t delivery_sum_ms = 0;
    std::int64_t delivery_max_ms = 0;
    // Since schema version 2 (zero in hours rolled up before): the time the hour's results
    // covered as a report defines it (docs/REPORTS.md), Up and Warning versus Down, and the
    // message counts of a report.
    std::int64_t up_ms = 0;
    std::int64_t down_ms = 0;
    std::int64_t sent = 0;
    std::int64_t found = 0;
    std::int64_t lost = 0;
    std::int64_t junk = 0;
};

/// The columns of one result that a report reads, as views into SQLite's current row: valid
/// only during the callback that receives them.
struct result_view {
    std::int64_t at_ms = 0;
    std::int64_t interval_ms = 0;
    std::string_view tenant;
    std::string_view probe;
    probe::status outcome = probe::status::up;
    engine::stage stage = engine::stage::none;
    std::string_view reason;
    std::string_view server_reply;
    std::string_view folder;
    std::string_view warnings;   // one a line
    bool next_poll = false;
    bool sent = false;           // the SMTP server accepted the message
    std::int64_t delivery_ms = 0;
    std::optional<std::int64_t> cert_days_left;
};

struct retention {
    int raw_days = 35;        // a month's report plus a few days of grace
    int hourly_days = 400;    // a year and a month, for year-on-year comparisons
};

/// What to read: empty lists mean every tenant / probe; times are unix ms, [since, until).
struct query {
    std::vector<std::string> tenants;
    std::vector<std::string> probes;
    std::int64_t since_ms = 0;
    std::int64_t until_ms = INT64_MAX;
};

/// The schema version this build writes.
inline constexpr int store_schema_version = 3;

class store {
public:
    /// Opens (creating if needed) and migrates the database at `path`.
    static engine::result<store> open(const std::string& path);

    /// For readers (history, report): a missing file is an error, not a new empty store, and
    /// a store already at this version is opened read-only, so a read-only copy or user can
    /// report. An older one is migrated first, which needs write access.
    static engine::result<store> open_existing(const std::string& path);

    store(store&& other) noexcept;
    store& operator=(store&& other) noexcept;
    store(const store&) = delete;
    store& operator=(const store&) = delete;
    ~store();

    /// Writes the results in one transaction: all of them or none.
    engine::result<void> insert(std::span<const stored_result> batch);

    /// Calls `each` for every matching result, ordered by tenant, probe and time. Sorts what
    /// matched: for narrow queries (`history`); a report uses scan().
    engine::result<void> read(const query& q, const std::function<void(const stored_result&)>& each);

    /// Calls `each` for every matching result in time order (ties in the order written),
    /// reading only the columns of result_view: a walk along the table as it was written.
    engine::result<void> scan(const query& q, const std::function<void(const result_view&)>& each);

    /// Raw results before this time (unix ms) have been rolled up into hourly rows and
    /// deleted; 0 when nothing was.
    engine::result<std::int64_t> rolled_up_until();

    /// Hourly aggregates, ordered by tenant, probe and hour.
    engine::result<std::vector<hourly_row>> read_hourly(const query& q);

    engine::result<retention> get_retention();
    engine::result<void> set_retention(retention keep);

    /// Rolls up and deletes what the retention says is old at `now_ms`; returns how many raw
    /// results were rolled up.
    engine::result<std::int64_t> apply_retention(std::int64_t now_ms);

    /// The schema version of the open file.
    engine::result<int> schema_version();

    /// PRAGMA integrity_check: "ok" or SQLite's list of problems.
    engine::result<std::string> integrity_check();

private:
    explicit store(sqlite3* db) : m_db(db) {}
    engine::result<void> exec(const char* sql);

    sqlite3* m_db = nullptr;
};

/// Writes results on its own thread, so the event loop never waits for the disk: a batch is
/// committed when `batch_size` results are waiting or the oldest has waited `max_delay`, and
/// on destruction. Retention is applied at start and every hour. A failed write is reported
/// on stderr once per failure and the batch is dropped (the probes go on; the store is not
/// worth stopping them for).
class store_writer {
public:
    store_writer(store db, std::size_t batch_size, std::chrono::milliseconds max_delay);
    ~store_writer();   // commits what is waiting, then stops the thread
    store_writer(const store_writer&) = delete;
    store_writer& operator=(const store_writer&) = delete;

    /// Queues one result; never blocks on the disk. Thread-safe.
    void add(stored_result r);

    /// Results committed so far (for tests and the load run).
    std::uint64_t committed() const;

private:
    void loop();

    store m_db;
    std::size_t m_batch_size;
    std::chrono::milliseconds m_max_delay;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<stored_result> m_waiting;
    std::chrono::steady_clock::time_point m_oldest;
    std::uint64_t m_committed = 0;
    bool m_stopping = false;
    std::thread m_thread;
};

/// "2026-11-28", "2026-11-28T08:30Z", "2026-11-28T08:30:15Z" (UTC) or unix seconds, to unix
/// ms; std::nullopt when it is none of these.
std::optional<std::int64_t> parse_time(const std::string& text);

/// unix ms to "2026-11-28T08:30:15Z".
std::string format_time(std::int64_t unix_ms);

} // namespace report
