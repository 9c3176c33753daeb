// See schedule.h. The stops: m_all's stop (drain) reaches every generation's loops, whose
// sleeps then end; a reload stops only the old generation's loops. Runs are awaited under
// m_hard's token instead, so neither cuts a run in flight; only stop_now() does.
#include "scheduler/schedule.h"

#include "engine/timer.h"

namespace scheduler {

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
            while (co_await engine::sleep_for(std::chrono::hours(24))) {
            }
        }());
    }
    start(std::move(plan), std::move(ctx));
    co_await m_all.join();
}

void schedule::drain() noexcept
{
    m_draining = true;
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
        m_generations.back().loops.request_stop();
    }
    start(std::move(plan), std::move(ctx));
}

void schedule::start(scenarios::plan plan, probe::context ctx)
{
    m_generations.remove_if([](const generation& g) { return g.done; });
    generation& g = m_generations.emplace_back(std::move(plan), std::move(ctx));
    m_all.spawn(run_generation(this, &g));
}

engine::task<void> schedule::run_generation(schedule* self, generation* g)
{
    for (auto& p : g->plan.probes) {
        g->loops.spawn(keep_probing(self, p, &g->ctx));
    }
    co_await g->loops.join();
    // Freed by the next start(), when this join has long unwound.
    g->done = true;
}

engine::task<void> schedule::keep_probing(schedule* self, scenarios::probe_plan plan, probe::context* ctx)
{
    // Slots are counted from this loop's start: offset, offset + interval, ... A run longer
    // than its interval skips the slots it overran instead of running back to back.
    auto first = engine::clock::now() + plan.offset;
    if (!self->m_once && !co_await engine::sleep_until(first)) {
        co_return;
    }
    auto next = first;
    for (;;) {
        auto r = co_await self->m_run(plan, *ctx).under(self->m_hard.get_token());
        self->m_sink(r);
        if (self->m_once) {
            co_return;
        }
        auto now = engine::clock::now();
        do {
            next += plan.spec->interval;
        } while (next <= now);
        if (!co_await engine::sleep_until(next)) {
            co_return;
        }
    }
}

} // namespace scheduler
