#include "tools/mailprobe/store_sink.h"

#include <chrono>
#include <cstdio>

namespace tools {
namespace {

// A probe every five minutes across a thousand tenants is about 3 results a second: a
// batch a second keeps at most a second's results at risk and costs one sync a second.
constexpr std::size_t batch_size = 500;
constexpr std::chrono::milliseconds max_delay{1000};

} // namespace

engine::result<std::unique_ptr<store_sink>> store_sink::open(const std::string& path)
{
    auto db = report::store::open(path);
    if (!db) {
        return std::move(db).err();
    }
    return std::make_unique<store_sink>(std::move(*db));
}

std::optional<report::store> open_store(const char* command, const std::string& path)
{
    auto db = report::store::open_existing(path);
    if (!db) {
        std::fprintf(stderr, "mailprobe %s: %s\n", command, db.err().message.c_str());
        return std::nullopt;
    }
    return std::move(*db);
}

store_sink::store_sink(report::store db) : m_writer(std::move(db), batch_size, max_delay) {}

void store_sink::set_plan(const scenarios::plan& p)
{
    for (const auto& one : p.probes) {
        m_interval_ms[{one.spec->tenant, one.spec->name}] = one.spec->interval.count();
    }
}

void store_sink::add(const probe::result& r)
{
    auto it = m_interval_ms.find({r.tenant, r.probe});
    report::stored_result s;
    s.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    // Every result comes from a planned probe; the scenario default is the fallback.
    s.interval_ms = it != m_interval_ms.end() ? it->second : 300'000;
    s.r = r;
    s.r.transcript.clear();   // not kept: see report/store.h
    m_writer.add(std::move(s));
}

} // namespace tools
