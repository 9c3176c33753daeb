// See schedule.h. The stops: m_all's stop (drain) reaches every generation's ticker, whose
// sleep then ends; a reload stops only the old generation's ticker. Runs are awaited under
// m_hard's token instead, so neither cuts a run in flight; only stop_now() does.
#include "scheduler/schedule.h"

#include "engine/timer.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace scheduler {

namespace {

using engine::clock;

constexpr std::uint32_t no_server = std::numeric_limits<std::uint32_t>::max();

bool later(const auto& a, const auto& b) noexcept { return a.at > b.at; }

/// initial * 2^(refusals - 1), at most `cap`.
clock::duration backoff_for(std::uint32_t refusals, const scenarios::run_limits& l) noexcept
{
    clock::duration d = l.backoff_initial;
    for (std::uint32_t i = 1; i < refusals && d < l.backoff_max; ++i) {
        d *= 2;
    }
    return std::min<clock::duration>(d, l.backoff_max);
}

std::string seconds_text(clock::duration d)
{
    return fmt::format("{:.1f} s", std::chrono::duration<double>(d).count());
}

probe::result result_for(const scenarios::probe_plan& plan)
{
    probe::result r;
    r.tenant = plan.spec->tenant;
    r.probe = plan.spec->name;
    r.topology = plan.spec->topology;
    r.outcome = probe::status::down;
    return r;
}

} // namespace

schedule::schedule(result_sink sink, bool once, run_fn run)
    : m_sink(std::move(sink)), m_once(once), m_run(std::move(run))
{
    if (!m_run) {
        m_run = [](scenarios::probe_plan p, probe::context& ctx) { return probe::run_once(std::move(p), ctx); };
    }
}

engine::task<void> schedule::run(scenarios::plan plan, probe::context ctx)
{
    if (!m_once) {
        // A daemon waits for its signals even with no probe (an empty shard): a reload may
        // bring some. The drain ends this wait with the rest.
        m_all.spawn([]() -> engine::task<void> {
            for (bool slept = true; slept;) {
                slept = co_await engine::sleep_for(std::chrono::hours(24));
            }
        }());
    }
    start(std::move(plan), std::move(ctx));
    co_await m_all.join();
}

void schedule::drain() noexcept
{
    m_draining = true;
    for (generation& g : m_generations) {
        g.closed = true;
    }
    m_all.request_stop();
}

void schedule::stop_now() noexcept
{
    drain();
    m_hard.request_stop();
}

void schedule::reload(scenarios::plan plan, probe::context ctx)
{
    if (m_draining) {
        return;
    }
    if (!m_generations.empty()) {
        m_generations.back().closed = true;
        m_generations.back().ticker.request_stop();
    }
    start(std::move(plan), std::move(ctx));
}

std::uint32_t schedule::server_index(const scenarios::server& s)
{
    std::string key = fmt::format("{}:{}", s.host, s.port);
    auto [it, added] = m_server_index.try_emplace(key, static_cast<std::uint32_t>(m_servers.size()));
    if (added) {
        m_servers.push_back(server_state{});
        m_servers.back().key = std::move(key);
    }
    return it->second;
}

std::uint32_t schedule::tenant_index(const std::string& name)
{
    auto [it, added] = m_tenant_index.try_emplace(name, static_cast<std::uint32_t>(m_tenants.size()));
    if (added) {
        m_tenants.push_back(tenant_state{});
    }
    return it->second;
}

void schedule::start(scenarios::plan plan, probe::context ctx)
{
    m_generations.remove_if([](const generation& g) { return g.done; });
    m_limits = plan.limits;
    generation& g = m_generations.emplace_back(std::move(plan), std::move(ctx));
    auto now = clock::now();
    g.probes.resize(g.plan.probes.size());
    g.due.reserve(g.plan.probes.size());
    for (std::uint32_t i = 0; i < g.plan.probes.size(); ++i) {
        const auto& pp = g.plan.probes[i];
        probe_state& p = g.probes[i];
        p.send_server = pp.send_via ? server_index(*pp.send_via) : no_server;
        p.fetch_server = pp.fetch_server ? server_index(*pp.fetch_server) : no_server;
        if (p.fetch_server == p.send_server) {
            p.fetch_server = no_server;   // one host:port holds one slot per run
        }
        p.tenant = tenant_index(pp.spec->tenant);
        g.due.push_back({m_once ? now : now + pp.offset, i});
    }
    std::make_heap(g.due.begin(), g.due.end(), later<due_entry, due_entry>);
    m_all.spawn(run_generation(this, &g));
}

engine::task<void> schedule::run_generation(schedule* self, generation* g)
{
    g->ticker.spawn(tick(self, g));
    co_await g->ticker.join();
    // Stopped (drain, reload), or in once mode every probe ran: what still waits for a slot
    // is told why it will not start.
    self->close(*g, self->m_draining ? "mailprobe is stopping" : "the scenario was reloaded");
    co_await g->runs.join();
    // Kept IMAP sessions end with their plan (a reload brings a new pool), politely, while
    // the loop still runs.
    co_await g->ctx.sessions.close_all();
    // Freed by the next start(), when this join has long unwound.
    g->done = true;
}

engine::task<void> schedule::tick(schedule* self, generation* g)
{
    while (!g->due.empty()) {
        // No co_await inside && (GCC 12 coroutines).
        if (g->due.front().at > clock::now()) {
            bool slept = co_await engine::sleep_until(g->due.front().at);
            if (!slept) {
                co_return;
            }
        }
        auto now = clock::now();
        while (!g->due.empty() && g->due.front().at <= now) {
            std::pop_heap(g->due.begin(), g->due.end(), later<due_entry, due_entry>);
            due_entry e = g->due.back();
            g->due.pop_back();
            self->slot_due(*g, e.probe, e.at);
            if (self->m_once) {
                continue;
            }
            // The next start after now: a loop that fell behind skips starts rather than
            // running a probe back to back.
            auto interval = std::max<clock::duration>(g->plan.probes[e.probe].spec->interval, std::chrono::milliseconds(1));
            auto next = e.at + interval;
            if (next <= now) {
                next += ((now - next) / interval + 1) * interval;
            }
            g->due.push_back({next, e.probe});
            std::push_heap(g->due.begin(), g->due.end(), later<due_entry, due_entry>);
        }
    }
    if (self->m_once) {
        // Every probe came due; the ones waiting for a slot start as runs finish.
        while (!g->closed && !g->waiting.empty() && g->runs.running() > 0) {
            co_await g->runs.join();
        }
    }
}

void schedule::slot_due(generation& g, std::uint32_t i, clock::time_point slot)
{
    probe_state& p = g.probes[i];
    if (p.running) {
        return;   // it overran its interval: the run in flight gives this start's result
    }
    if (p.waiting) {
        // Its next start came before a slot: that start is over. It keeps its place in the
        // queue for the new one.
        m_sink(skipped(g, i, "no free slot before the next start: " + full_limit(g, i)));
        p.slot = slot;
        return;
    }
    p.slot = slot;
    switch (admit(g, i, clock::now())) {
    case verdict::start: launch(g, i); break;
    case verdict::wait:
        p.waiting = true;
        g.waiting.push_back(i);
        break;
    case verdict::back_off: break;
    }
}

schedule::verdict schedule::admit(const generation& g, std::uint32_t i, clock::time_point now)
{
    const probe_state& p = g.probes[i];
    for (std::uint32_t s : {p.send_server, p.fetch_server}) {
        if (s == no_server) {
            continue;
        }
        const server_state& st = m_servers[s];
        if (st.refusals > 0 && (now < st.retry_at || st.testing)) {
            m_sink(backed_off(g, i, s, now));
            return verdict::back_off;
        }
    }
    if (m_running >= m_limits.concurrent || m_tenants[p.tenant].running >= m_limits.per_tenant) {
        return verdict::wait;
    }
    for (std::uint32_t s : {p.send_server, p.fetch_server}) {
        if (s != no_server && m_servers[s].running >= m_limits.per_server) {
            return verdict::wait;
        }
    }
    return verdict::start;
}

void schedule::launch(generation& g, std::uint32_t i)
{
    probe_state& p = g.probes[i];
    p.running = true;
    p.waiting = false;
    ++m_running;
    ++m_tenants[p.tenant].running;
    for (std::uint32_t s : {p.send_server, p.fetch_server}) {
        if (s != no_server) {
            ++m_servers[s].running;
            // A backed-off server whose wait is over: this run finds out whether it is back.
            if (m_servers[s].refusals > 0) {
                m_servers[s].testing = true;
            }
        }
    }
    if (m_on_start) {
        m_on_start(clock::now() - p.slot);
    }
    g.runs.spawn(run_probe(this, &g, i));
}

engine::task<void> schedule::run_probe(schedule* self, generation* g, std::uint32_t i)
{
    auto r = co_await self->m_run(g->plan.probes[i], g->ctx).under(self->m_hard.get_token());
    self->finished(*g, i, r);
}

void schedule::finished(generation& g, std::uint32_t i, const probe::result& r)
{
    probe_state& p = g.probes[i];
    const scenarios::probe_plan& pp = g.plan.probes[i];
    p.running = false;
    --m_running;
    --m_tenants[p.tenant].running;
    auto now = clock::now();
    bool refused = r.stage == engine::stage::connect && r.code
        && (*r.code == engine::errc::refused || *r.code == engine::errc::reset);
    for (std::uint32_t s : {p.send_server, p.fetch_server}) {
        if (s == no_server) {
            continue;
        }
        server_state& st = m_servers[s];
        --st.running;
        const scenarios::server* named = s == p.send_server ? pp.send_via.get() : pp.fetch_server.get();
        bool this_one = refused && named && r.failed_server == named->name;
        if (this_one) {
            // Runs already in flight when the back-off began do not lengthen it; a failed
            // test (the back-off over) does.
            if (st.refusals == 0 || now >= st.retry_at) {
                ++st.refusals;
                st.retry_at = now + backoff_for(st.refusals, m_limits);
            }
            st.last_code = *r.code;
            st.last_reason = r.reason;
            st.last_reply = r.server_reply;
            st.testing = false;
        } else if (st.testing) {
            // Only the test run is running once a back-off is over.
            st.refusals = 0;
            st.testing = false;
        }
    }
    m_sink(r);
    pump();
}

void schedule::pump()
{
    // A run that ends without suspending calls back into here from launch(): the outer
    // call goes round again instead of walking the queues twice at once.
    if (m_pumping) {
        m_pump_again = true;
        return;
    }
    m_pumping = true;
    do {
        m_pump_again = false;
        for (generation& g : m_generations) {
            std::deque<std::uint32_t> still;
            while (!g.closed && !g.waiting.empty() && m_running < m_limits.concurrent) {
                std::uint32_t i = g.waiting.front();
                g.waiting.pop_front();
                g.probes[i].waiting = false;
                switch (admit(g, i, clock::now())) {
                case verdict::start: launch(g, i); break;
                case verdict::wait:
                    g.probes[i].waiting = true;
                    still.push_back(i);
                    break;
                case verdict::back_off: break;
                }
            }
            // The ones still blocked are older than the ones not looked at: ahead of them.
            g.waiting.insert(g.waiting.begin(), still.begin(), still.end());
        }
    } while (m_pump_again);
    m_pumping = false;
}

void schedule::close(generation& g, const char* why)
{
    g.closed = true;
    for (std::uint32_t i : g.waiting) {
        g.probes[i].waiting = false;
        m_sink(skipped(g, i, fmt::format("not started: {} while it waited for a slot ({})", why, full_limit(g, i))));
    }
    g.waiting.clear();
}

std::string schedule::full_limit(const generation& g, std::uint32_t i) const
{
    const probe_state& p = g.probes[i];
    if (m_running >= m_limits.concurrent) {
        return fmt::format("all {} run slots were busy (limits.concurrent)", m_limits.concurrent);
    }
    if (m_tenants[p.tenant].running >= m_limits.per_tenant) {
        return fmt::format("tenant {} had {} runs in flight (limits.per_tenant)", g.plan.probes[i].spec->tenant,
            m_tenants[p.tenant].running);
    }
    for (std::uint32_t s : {p.send_server, p.fetch_server}) {
        if (s != no_server && m_servers[s].running >= m_limits.per_server) {
            return fmt::format("server {} had {} runs in flight (limits.per_server)", m_servers[s].key,
                m_servers[s].running);
        }
    }
    return "a slot was taken";
}

probe::result schedule::skipped(const generation& g, std::uint32_t i, std::string why) const
{
    probe::result r = result_for(g.plan.probes[i]);
    r.stage = engine::stage::schedule;
    r.reason = "schedule: " + std::move(why);
    return r;
}

probe::result schedule::backed_off(const generation& g, std::uint32_t i, std::uint32_t server,
    clock::time_point now) const
{
    const scenarios::probe_plan& pp = g.plan.probes[i];
    const server_state& s = m_servers[server];
    probe::result r = result_for(pp);
    const scenarios::server* named = server == g.probes[i].send_server ? pp.send_via.get() : pp.fetch_server.get();
    r.stage = engine::stage::connect;
    r.code = s.last_code;
    r.failed_server = named ? named->name : std::string();
    std::string wait = now < s.retry_at ? "retrying in " + seconds_text(s.retry_at - now)
                                        : std::string("another probe is testing whether it is back");
    r.reason = fmt::format("connect: not run: {} refused {} connection{} in a row, {}; last: {}", s.key, s.refusals,
        s.refusals == 1 ? "" : "s", wait, s.last_reason);
    r.server_reply = s.last_reply;
    return r;
}

} // namespace scheduler
