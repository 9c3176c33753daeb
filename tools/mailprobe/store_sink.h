// `mailprobe run --store FILE`: hands every result to the SQLite history (report/store.h)
// with the time it completed and its probe's interval, which the plan knows and the result
// does not. Writes happen on the store's own thread, batched, so the loop never waits on disk.
#pragma once

#include "report/store.h"
#include "scenarios/plan.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace tools {

class store_sink {
public:
    /// Opens (creating or migrating) the store at `path`.
    static engine::result<std::unique_ptr<store_sink>> open(const std::string& path);

    explicit store_sink(report::store db);

    /// Learns the probes' intervals; call again after a reload.
    void set_plan(const scenarios::plan& p);

    void add(const probe::result& r);

private:
    std::map<std::pair<std::string, std::string>, std::int64_t> m_interval_ms;
    report::store_writer m_writer;
};

/// Opens the store for `mailprobe COMMAND`, saying on stderr why not when it cannot.
std::optional<report::store> open_store(const char* command, const std::string& path);

} // namespace tools
