#include "report/store.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

namespace report {
namespace {

using engine::errc;

engine::error db_error(sqlite3* db, std::string_view what)
{
    return engine::error{engine::stage::none, errc::io,
        fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "out of memory")};
}

// Migrations, in order: migrations[i] takes a database from version i to i + 1. Never edit
// one that has shipped; append the next.
constexpr const char* migrations[] = {
    R"sql(
    CREATE TABLE results(
        at_ms INTEGER NOT NULL,
        interval_ms INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        probe TEXT NOT NULL,
        topology INTEGER NOT NULL,
        status TEXT NOT NULL,
        stage TEXT NOT NULL,
        reason TEXT NOT NULL,
        server_reply TEXT NOT NULL,
        probe_id TEXT NOT NULL,
        next_poll INTEGER NOT NULL,
        folder TEXT NOT NULL,
        smtp_connect_ms INTEGER NOT NULL,
        smtp_tls_ms INTEGER NOT NULL,
        smtp_auth_ms INTEGER NOT NULL,
        smtp_transaction_ms INTEGER NOT NULL,
        delivery_ms INTEGER NOT NULL,
        fetch_ms INTEGER NOT NULL,
        total_ms INTEGER NOT NULL,
        cert_days_left INTEGER,
        warnings TEXT NOT NULL,
        hops TEXT NOT NULL);
    CREATE INDEX results_by_probe ON results(tenant, probe, at_ms);
    CREATE TABLE hourly(
        tenant TEXT NOT NULL,
        probe TEXT NOT NULL,
        hour_ms INTEGER NOT NULL,
        up INTEGER NOT NULL,
        warning INTEGER NOT NULL,
        down INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        delivery_count INTEGER NOT NULL,
        delivery_sum_ms INTEGER NOT NULL,
        delivery_max_ms INTEGER NOT NULL,
        PRIMARY KEY(tenant, probe, hour_ms)) WITHOUT ROWID;
    CREATE TABLE settings(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO settings VALUES('raw_days', 35), ('hourly_days', 400);
    )sql",
    // 2: reports walk the table in time order and retention deletes by time, so the table is
    // indexed by time alone (see store.h), and the hourly table by time too (a year of 1,000
    // probes is 9 million hours); hourly rows carry what a report needs of an hour;
    // rolled_up_ms marks where the raw results begin.
    R"sql(
    DROP INDEX results_by_probe;
    CREATE INDEX results_by_time ON results(at_ms);
    CREATE INDEX hourly_by_time ON hourly(hour_ms);
    ALTER TABLE hourly ADD COLUMN up_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hourly ADD COLUMN down_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hourly ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hourly ADD COLUMN found INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hourly ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hourly ADD COLUMN junk INTEGER NOT NULL DEFAULT 0;
    INSERT INTO settings SELECT 'rolled_up_ms', coalesce(max(hour_ms) + 3600000, 0) FROM hourly;
    )sql",
    // 3: whether the SMTP server accepted the message, as the probe saw it; NULL in rows
    // written before, which are read with the guess from status and stage (sent_guess).
    R"sql(
    ALTER TABLE results ADD COLUMN sent INTEGER;
    )sql",
};
constexpr int known_versions = static_cast<int>(std::size(migrations));
static_assert(known_versions == store_schema_version);

/// A prepared statement, finalized on scope exit.
class statement {
public:
    statement(sqlite3* db, const char* sql)
    {
        if (sqlite3_prepare_v2(db, sql, -1, &m_s, nullptr) != SQLITE_OK) {
            m_s = nullptr;
        }
    }
    ~statement() { sqlite3_finalize(m_s); }
    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;
    explicit operator bool() const { return m_s != nullptr; }
    sqlite3_stmt* get() const { return m_s; }

    void bind(int i, std::int64_t v) { sqlite3_bind_int64(m_s, i, v); }
    void bind(int i, std::string_view v)
    {
        // A null pointer would bind SQL NULL; an empty view is an empty text.
        sqlite3_bind_text(m_s, i, v.data() ? v.data() : "", static_cast<int>(v.size()), SQLITE_TRANSIENT);
    }
    void bind_null(int i) { sqlite3_bind_null(m_s, i); }
    std::int64_t int_at(int i) const { return sqlite3_column_int64(m_s, i); }
    std::string text_at(int i) const
    {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_s, i));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(m_s, i))) : std::string();
    }
    /// Valid until the next step or reset.
    std::string_view view_at(int i) const
    {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(m_s, i));
        return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(m_s, i))) : std::string_view();
    }
    bool null_at(int i) const { return sqlite3_column_type(m_s, i) == SQLITE_NULL; }

private:
    sqlite3_stmt* m_s = nullptr;
};

probe::status status_of(std::string_view s)
{
    for (auto v : {probe::status::up, probe::status::warning, probe::status::down, probe::status::pending}) {
        if (probe::to_string(v) == s) {
            return v;
        }
    }
    return probe::status::down;
}

/// Rows from before schema 3 do not say whether the message was sent: every stage before
/// deliver is on the way to the 250 after DATA, so a Down there counts as not sent (which
/// misreads a fetch-side connect or auth failure; the rollup SQL repeats this rule).
bool sent_guess(probe::status outcome, engine::stage at)
{
    return outcome != probe::status::down || at == engine::stage::deliver || at == engine::stage::fetch ||
           at == engine::stage::cleanup;
}

engine::stage stage_of(std::string_view s)
{
    for (int i = 0; i <= static_cast<int>(engine::stage::cleanup); ++i) {
        auto st = static_cast<engine::stage>(i);
        if (engine::to_string(st) == s) {
            return st;
        }
    }
    return engine::stage::none;
}

std::string join_lines(const std::vector<std::string>& lines)
{
    std::string out;
    for (const auto& l : lines) {
        out += out.empty() ? "" : "\n";
        out += l;
    }
    return out;
}

std::vector<std::string> split_lines(const std::string& s)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < s.size()) {
        auto nl = s.find('\n', start);
        if (nl == std::string::npos) {
            nl = s.size();
        }
        out.emplace_back(s, start, nl - start);
        start = nl + 1;
    }
    return out;
}

// Hops as text, one a line: "delay_ms<TAB>flags<TAB>by", delay "-" when unknown, flags 1 for
// skewed plus 2 for the store hop (rows written before the store hop hold 0 or 1). The relay
// names went through printable(), so they hold no tab or newline.
std::string hops_text(const std::vector<probe::hop>& hops)
{
    std::vector<std::string> lines;
    for (const auto& h : hops) {
        lines.push_back(fmt::format("{}\t{}\t{}", h.delay_ms ? std::to_string(*h.delay_ms) : "-", (h.skewed ? 1 : 0) | (h.store ? 2 : 0), h.by));
    }
    return join_lines(lines);
}

std::vector<probe::hop> hops_of(const std::string& text)
{
    std::vector<probe::hop> out;
    for (const auto& line : split_lines(text)) {
        auto a = line.find('\t');
        auto b = a == std::string::npos ? a : line.find('\t', a + 1);
        if (b == std::string::npos) {
            continue;
        }
        probe::hop h;
        auto delay = line.substr(0, a);
        if (delay != "-") {
            h.delay_ms = std::strtoll(delay.c_str(), nullptr, 10);
        }
        const int flags = line[a + 1] - '0';
        h.skewed = (flags & 1) != 0;
        h.store = (flags & 2) != 0;
        h.by = line.substr(b + 1);
        out.push_back(std::move(h));
    }
    return out;
}

/// SELECT `columns` FROM `table` with the query's names and [since, until) on `time_column`,
/// in `order`; null when SQLite refuses it.
std::unique_ptr<statement> select_rows(sqlite3* db, const char* columns, const char* table, const char* time_column,
    const char* order, const query& q)
{
    std::string where;
    auto names = [&](const char* column, std::size_t n) {
        if (n == 0) {
            return;
        }
        where += fmt::format("{} IN (", column);
        for (std::size_t i = 0; i < n; ++i) {
            where += i ? ",?" : "?";
        }
        where += ") AND ";
    };
    names("tenant", q.tenants.size());
    names("probe", q.probes.size());
    auto sql = fmt::format("SELECT {0} FROM {1} WHERE {2}{3} >= ? AND {3} < ? ORDER BY {4}", columns, table, where,
        time_column, order);
    auto st = std::make_unique<statement>(db, sql.c_str());
    if (!*st) {
        return nullptr;
    }
    int i = 1;
    for (const auto& t : q.tenants) {
        st->bind(i++, t);
    }
    for (const auto& p : q.probes) {
        st->bind(i++, p);
    }
    st->bind(i, q.since_ms);
    st->bind(i + 1, q.until_ms);
    return st;
}

constexpr std::int64_t day_ms = 86'400'000;
constexpr std::int64_t hour_ms = 3'600'000;

} // namespace

engine::result<store> store::open(const std::string& path)
{
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
        auto e = db_error(db, "cannot open the store " + path);
        sqlite3_close(db);
        return e;
    }
    store s(db);
    // Another process (a report, a second writer) may hold the lock for a moment.
    sqlite3_busy_timeout(db, 10'000);
    if (auto r = s.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"); !r) {
        return std::move(r).err();
    }
    if (auto r = s.exec("BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"); !r) {
        return std::move(r).err();
    }
    int version = 0;
    {
        statement st(db, "SELECT version FROM schema_version");
        if (!st) {
            return db_error(db, "reading the schema version");
        }
        if (sqlite3_step(st.get()) == SQLITE_ROW) {
            version = static_cast<int>(st.int_at(0));
        }
    }
    if (version > known_versions) {
        (void)s.exec("ROLLBACK");
        return engine::error{engine::stage::none, errc::invalid_argument,
            fmt::format("the store {} has schema version {}, newer than this mailprobe knows ({})", path, version,
                known_versions)};
    }
    for (int v = version; v < known_versions; ++v) {
        if (auto r = s.exec(migrations[v]); !r) {
            (void)s.exec("ROLLBACK");
            return engine::error{engine::stage::none, errc::io,
                fmt::format("migrating the store to version {}: {}", v + 1, r.err().message)};
        }
    }
    if (version != known_versions) {
        auto sql = fmt::format("DELETE FROM schema_version; INSERT INTO schema_version VALUES({});", known_versions);
        if (auto r = s.exec(sql.c_str()); !r) {
            (void)s.exec("ROLLBACK");
            return std::move(r).err();
        }
    }
    if (auto r = s.exec("COMMIT"); !r) {
        return std::move(r).err();
    }
    return s;
}

engine::result<store> store::open_existing(const std::string& path)
{
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return engine::error{engine::stage::none, errc::invalid_argument,
            fmt::format("no store at {}: {} (mailprobe run --store FILE writes one)", path, std::strerror(errno))};
    }
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
        auto e = db_error(db, "cannot open the store " + path);
        sqlite3_close(db);
        return e;
    }
    store s(db);
    sqlite3_busy_timeout(db, 10'000);
    statement version(db, "SELECT version FROM schema_version");
    if (version && sqlite3_step(version.get()) == SQLITE_ROW && version.int_at(0) == known_versions) {
        return s;
    }
    if (!version) {
        return db_error(db, fmt::format("{} is not a mailprobe store", path));
    }
    return open(path);
}

store::store(store&& other) noexcept : m_db(std::exchange(other.m_db, nullptr)) {}

store& store::operator=(store&& other) noexcept
{
    if (this != &other) {
        sqlite3_close(m_db);
        m_db = std::exchange(other.m_db, nullptr);
    }
    return *this;
}

store::~store()
{
    sqlite3_close(m_db);
}

engine::result<void> store::exec(const char* sql)
{
    char* msg = nullptr;
    if (sqlite3_exec(m_db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        engine::error e{engine::stage::none, errc::io, msg ? msg : sqlite3_errmsg(m_db)};
        sqlite3_free(msg);
        return e;
    }
    return {};
}

engine::result<void> store::insert(std::span<const stored_result> batch)
{
    if (auto r = exec("BEGIN IMMEDIATE"); !r) {
        return std::move(r).err();
    }
    statement st(m_db,
        "INSERT INTO results VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!st) {
        auto e = db_error(m_db, "preparing the insert");
        (void)exec("ROLLBACK");
        return e;
    }
    for (const auto& s : batch) {
        const auto& r = s.r;
        st.bind(1, s.at_ms);
        st.bind(2, s.interval_ms);
        st.bind(3, r.tenant);
        st.bind(4, r.probe);
        st.bind(5, std::int64_t{r.topology});
        st.bind(6, probe::to_string(r.outcome));
        st.bind(7, r.stage == engine::stage::none ? std::string_view() : engine::to_string(r.stage));
        st.bind(8, r.reason);
        st.bind(9, r.server_reply);
        st.bind(10, r.probe_id);
        st.bind(11, std::int64_t{r.next_poll});
        st.bind(12, r.folder);
        st.bind(13, r.ms.smtp_connect);
        st.bind(14, r.ms.smtp_tls);
        st.bind(15, r.ms.smtp_auth);
        st.bind(16, r.ms.smtp_transaction);
        st.bind(17, r.ms.delivery);
        st.bind(18, r.ms.fetch);
        st.bind(19, r.ms.total);
        if (r.cert_days_left) {
            st.bind(20, *r.cert_days_left);
        } else {
            st.bind_null(20);
        }
        st.bind(21, join_lines(r.warnings));
        st.bind(22, hops_text(r.hops));
        st.bind(23, std::int64_t{r.sent});
        if (sqlite3_step(st.get()) != SQLITE_DONE) {
            auto e = db_error(m_db, "writing a result");
            (void)exec("ROLLBACK");
            return e;
        }
        sqlite3_reset(st.get());
    }
    if (auto r = exec("COMMIT"); !r) {
        (void)exec("ROLLBACK");
        return std::move(r).err();
    }
    return {};
}

engine::result<void> store::read(const query& q, const std::function<void(const stored_result&)>& each)
{
    // rowid breaks ties in the order written.
    auto selected = select_rows(m_db, "*", "results", "at_ms", "tenant, probe, at_ms, rowid", q);
    if (!selected) {
        return db_error(m_db, "reading results");
    }
    auto& st = *selected;
    stored_result s;
    int rc = 0;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        s.at_ms = st.int_at(0);
        s.interval_ms = st.int_at(1);
        auto& r = s.r;
        r.tenant = st.text_at(2);
        r.probe = st.text_at(3);
        r.topology = static_cast<int>(st.int_at(4));
        r.outcome = status_of(st.text_at(5));
        r.stage = stage_of(st.text_at(6));
        r.reason = st.text_at(7);
        r.server_reply = st.text_at(8);
        r.probe_id = st.text_at(9);
        r.next_poll = st.int_at(10) != 0;
        r.folder = st.text_at(11);
        r.ms.smtp_connect = st.int_at(12);
        r.ms.smtp_tls = st.int_at(13);
        r.ms.smtp_auth = st.int_at(14);
        r.ms.smtp_transaction = st.int_at(15);
        r.ms.delivery = st.int_at(16);
        r.ms.fetch = st.int_at(17);
        r.ms.total = st.int_at(18);
        r.cert_days_left = st.null_at(19) ? std::nullopt : std::optional<std::int64_t>(st.int_at(19));
        r.warnings = split_lines(st.text_at(20));
        r.hops = hops_of(st.text_at(21));
        r.sent = st.null_at(22) ? sent_guess(r.outcome, r.stage) : st.int_at(22) != 0;
        each(s);
    }
    if (rc != SQLITE_DONE) {
        return db_error(m_db, "reading results");
    }
    return {};
}

engine::result<void> store::scan(const query& q, const std::function<void(const result_view&)>& each)
{
    // Results are written about in time order, so the time index lists them about in the
    // table's order: a walk along the table, not a seek per row. rowid breaks ties.
    auto selected = select_rows(m_db,
        "at_ms, interval_ms, tenant, probe, status, stage, reason, server_reply, folder, warnings, next_poll,"
        " delivery_ms, cert_days_left, sent",
        "results", "at_ms", "at_ms, rowid", q);
    if (!selected) {
        return db_error(m_db, "reading results");
    }
    auto& st = *selected;
    result_view v;
    int rc = 0;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        v.at_ms = st.int_at(0);
        v.interval_ms = st.int_at(1);
        v.tenant = st.view_at(2);
        v.probe = st.view_at(3);
        v.outcome = status_of(st.view_at(4));
        auto stage = st.view_at(5);
        v.stage = stage.empty() ? engine::stage::none : stage_of(stage);
        v.reason = st.view_at(6);
        v.server_reply = st.view_at(7);
        v.folder = st.view_at(8);
        v.warnings = st.view_at(9);
        v.next_poll = st.int_at(10) != 0;
        v.delivery_ms = st.int_at(11);
        v.cert_days_left = st.null_at(12) ? std::nullopt : std::optional<std::int64_t>(st.int_at(12));
        v.sent = st.null_at(13) ? sent_guess(v.outcome, v.stage) : st.int_at(13) != 0;
        each(v);
    }
    if (rc != SQLITE_DONE) {
        return db_error(m_db, "reading results");
    }
    return {};
}

engine::result<std::vector<hourly_row>> store::read_hourly(const query& q)
{
    auto selected = select_rows(m_db,
        "tenant, probe, hour_ms, up, warning, down, pending, delivery_count, delivery_sum_ms, delivery_max_ms,"
        " up_ms, down_ms, sent, found, lost, junk",
        "hourly", "hour_ms", "tenant, probe, hour_ms", q);
    if (!selected) {
        return db_error(m_db, "reading hourly rows");
    }
    auto& st = *selected;
    std::vector<hourly_row> out;
    int rc = 0;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
        out.push_back(hourly_row{st.text_at(0), st.text_at(1), st.int_at(2), st.int_at(3), st.int_at(4), st.int_at(5),
            st.int_at(6), st.int_at(7), st.int_at(8), st.int_at(9), st.int_at(10), st.int_at(11), st.int_at(12),
            st.int_at(13), st.int_at(14), st.int_at(15)});
    }
    if (rc != SQLITE_DONE) {
        return db_error(m_db, "reading hourly rows");
    }
    return out;
}

engine::result<std::int64_t> store::rolled_up_until()
{
    statement st(m_db, "SELECT value FROM settings WHERE key = 'rolled_up_ms'");
    if (!st) {
        return db_error(m_db, "reading the rollup time");
    }
    return sqlite3_step(st.get()) == SQLITE_ROW ? st.int_at(0) : std::int64_t{0};
}

engine::result<retention> store::get_retention()
{
    statement st(m_db, "SELECT key, value FROM settings");
    if (!st) {
        return db_error(m_db, "reading the retention");
    }
    retention keep;
    while (sqlite3_step(st.get()) == SQLITE_ROW) {
        auto key = st.text_at(0);
        if (key == "raw_days") {
            keep.raw_days = static_cast<int>(st.int_at(1));
        } else if (key == "hourly_days") {
            keep.hourly_days = static_cast<int>(st.int_at(1));
        }
    }
    return keep;
}

engine::result<void> store::set_retention(retention keep)
{
    auto sql = fmt::format("INSERT OR REPLACE INTO settings VALUES('raw_days', {}), ('hourly_days', {})",
        keep.raw_days, keep.hourly_days);
    return exec(sql.c_str());
}

engine::result<std::int64_t> store::apply_retention(std::int64_t now_ms)
{
    auto keep = get_retention();
    if (!keep) {
        return std::move(keep).err();
    }
    // Whole hours only, so an hour is never half rolled up and half raw.
    std::int64_t raw_cutoff = (now_ms - keep->raw_days * day_ms) / hour_ms * hour_ms;
    std::int64_t hourly_cutoff = now_ms - keep->hourly_days * day_ms;
    // What a report would count of each result (docs/REPORTS.md), summed per hour of its
    // completion time: a result covers the time until the probe's next result, at most one
    // interval. The next result within one interval is at most the longest interval past
    // the cutoff, so the window reads no further than that.
    auto rollup = fmt::format(
        "INSERT INTO hourly(tenant, probe, hour_ms, up, warning, down, pending, delivery_count, delivery_sum_ms,"
        "  delivery_max_ms, up_ms, down_ms, sent, found, lost, junk)"
        " SELECT tenant, probe, at_ms / {0} * {0},"
        "  sum(status = 'up'), sum(status = 'warning'), sum(status = 'down'), sum(status = 'pending'),"
        "  sum(status IN ('up', 'warning')), sum(CASE WHEN status IN ('up', 'warning') THEN delivery_ms ELSE 0 END),"
        "  max(CASE WHEN status IN ('up', 'warning') THEN delivery_ms ELSE 0 END),"
        "  sum(CASE WHEN status IN ('up', 'warning') THEN covered ELSE 0 END),"
        "  sum(CASE WHEN status = 'down' THEN covered ELSE 0 END),"
        "  sum(coalesce(sent, status <> 'down' OR stage IN ('deliver', 'fetch', 'cleanup'))),"
        "  sum(folder <> ''),"
        "  sum(status = 'down' AND stage = 'deliver' AND folder = ''),"
        "  sum(folder <> '' AND (substr(reason, 1, 17) = 'filed as spam in '"
        "      OR instr(char(10) || warnings, char(10) || 'filed as spam in ') > 0))"
        " FROM (SELECT *, min(coalesce(lead(at_ms) OVER (PARTITION BY tenant, probe ORDER BY at_ms, rowid),"
        "      at_ms + interval_ms), at_ms + interval_ms) - at_ms AS covered"
        "    FROM results WHERE at_ms < {1} + (SELECT coalesce(max(interval_ms), 0) FROM results WHERE at_ms < {1}))"
        " WHERE at_ms < {1} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        "  ON CONFLICT DO UPDATE SET up = up + excluded.up, warning = warning + excluded.warning,"
        "  down = down + excluded.down, pending = pending + excluded.pending,"
        "  delivery_count = delivery_count + excluded.delivery_count,"
        "  delivery_sum_ms = delivery_sum_ms + excluded.delivery_sum_ms,"
        "  delivery_max_ms = max(delivery_max_ms, excluded.delivery_max_ms),"
        "  up_ms = up_ms + excluded.up_ms, down_ms = down_ms + excluded.down_ms, sent = sent + excluded.sent,"
        "  found = found + excluded.found, lost = lost + excluded.lost, junk = junk + excluded.junk",
        hour_ms, raw_cutoff);
    auto drop_raw = fmt::format("DELETE FROM results WHERE at_ms < {}", raw_cutoff);
    auto drop_hourly = fmt::format("DELETE FROM hourly WHERE hour_ms < {}", hourly_cutoff);
    auto mark = fmt::format("INSERT INTO settings VALUES('rolled_up_ms', {}) ON CONFLICT(key) DO UPDATE SET"
                            " value = max(value, excluded.value)",
        raw_cutoff);
    std::int64_t rolled = 0;
    // One transaction: an hour is never both rolled up and still raw, even after a crash.
    auto steps = exec("BEGIN IMMEDIATE");
    if (steps) {
        steps = exec(rollup.c_str());
    }
    if (steps) {
        steps = exec(drop_raw.c_str());
        rolled = sqlite3_changes(m_db);
    }
    if (steps) {
        steps = exec(drop_hourly.c_str());
    }
    // Only a rollup moves the mark: a store that never rolled anything up (a fresh one, or
    // results older than the retention written later) is reported from its raw results.
    if (steps && rolled > 0) {
        steps = exec(mark.c_str());
    }
    if (steps) {
        steps = exec("COMMIT");
    }
    if (!steps) {
        (void)exec("ROLLBACK");
        return std::move(steps).err();
    }
    return rolled;
}

engine::result<int> store::schema_version()
{
    statement st(m_db, "SELECT version FROM schema_version");
    if (!st || sqlite3_step(st.get()) != SQLITE_ROW) {
        return db_error(m_db, "reading the schema version");
    }
    return static_cast<int>(st.int_at(0));
}

engine::result<std::string> store::integrity_check()
{
    statement st(m_db, "PRAGMA integrity_check");
    if (!st) {
        return db_error(m_db, "integrity_check");
    }
    std::string out;
    while (sqlite3_step(st.get()) == SQLITE_ROW) {
        out += out.empty() ? "" : "\n";
        out += st.text_at(0);
    }
    return out;
}

store_writer::store_writer(store db, std::size_t batch_size, std::chrono::milliseconds max_delay)
    : m_db(std::move(db)), m_batch_size(std::max<std::size_t>(batch_size, 1)), m_max_delay(max_delay),
      m_thread([this] { loop(); })
{
}

store_writer::~store_writer()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_one();
    m_thread.join();
}

void store_writer::add(stored_result r)
{
    bool wake = false;
    {
        std::lock_guard lock(m_mutex);
        // The first result of a batch wakes the writer too: it may be asleep until the next
        // hourly retention and must now wait only until this result's delay is up.
        if (m_waiting.empty()) {
            m_oldest = std::chrono::steady_clock::now();
            wake = true;
        }
        m_waiting.push_back(std::move(r));
        wake = wake || m_waiting.size() >= m_batch_size;
    }
    if (wake) {
        m_wake.notify_one();
    }
}

std::uint64_t store_writer::committed() const
{
    std::lock_guard lock(m_mutex);
    return m_committed;
}

void store_writer::loop()
{
    auto unix_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch()).count();
    };
    auto next_retention = std::chrono::steady_clock::now();
    std::vector<stored_result> batch;
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (std::chrono::steady_clock::now() >= next_retention) {
            lock.unlock();
            if (auto r = m_db.apply_retention(unix_ms()); !r) {
                std::fprintf(stderr, "mailprobe: store retention failed: %s\n", r.err().message.c_str());
            }
            next_retention = std::chrono::steady_clock::now() + std::chrono::hours(1);
            lock.lock();
        }
        auto due = m_waiting.empty() ? next_retention : std::min(next_retention, m_oldest + m_max_delay);
        auto work_due = [&] {
            return m_stopping || m_waiting.size() >= m_batch_size ||
                   (!m_waiting.empty() && std::chrono::steady_clock::now() >= m_oldest + m_max_delay);
        };
        // Without a predicate in the wait: any wake (a batch begun, a batch full, the stop)
        // comes back here to recompute `due`, which a new batch moves from the next hour to
        // its delay.
        if (!work_due()) {
            m_wake.wait_until(lock, due);
        }
        bool stopping = m_stopping;
        if (!m_waiting.empty() && work_due()) {
            batch.swap(m_waiting);
            lock.unlock();
            auto written = m_db.insert(batch);
            if (!written) {
                std::fprintf(stderr, "mailprobe: %zu results not stored: %s\n", batch.size(),
                    written.err().message.c_str());
            }
            lock.lock();
            if (written) {
                m_committed += batch.size();
            }
            batch.clear();
            continue;   // more may have arrived meanwhile
        }
        if (stopping) {
            return;
        }
    }
}

std::optional<std::int64_t> parse_time(const std::string& text)
{
    std::tm tm{};
    int consumed = 0;
    auto all = [&] { return consumed == static_cast<int>(text.size()); };
    if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) == 3 && all()) {
    } else if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &consumed) == 5 &&
               all()) {
    } else if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) == 6 &&
               all()) {
    } else {
        // Unix seconds, up to the year 9999 so that milliseconds cannot overflow.
        long long secs = 0;
        if (std::sscanf(text.c_str(), "%lld%n", &secs, &consumed) == 1 && all() && secs >= 0 && secs < 253'402'300'800) {
            return secs * 1000;
        }
        return std::nullopt;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60) {
        return std::nullopt;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const std::tm asked = tm;
    auto secs = timegm(&tm);
    // timegm carries 2026-02-31 over into March: a date that does not come back is not one.
    if (tm.tm_mday != asked.tm_mday || tm.tm_mon != asked.tm_mon) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(secs) * 1000;
}

std::string format_time(std::int64_t unix_ms)
{
    auto secs = static_cast<std::time_t>(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
        tm.tm_min, tm.tm_sec);
}

} // namespace report
