// The load driver: see driver.h.
#include "load/driver.h"

#include "engine/scope.h"
#include "engine/timer.h"


using namespace std::chrono_literals;

namespace load {

std::uint64_t run_stats::failed() const noexcept
{
    std::uint64_t n = 0;
    for (const auto& [stage, count] : errors) {
        n += count;
    }
    return n;
}

double run_stats::throughput() const noexcept
{
    const double seconds = static_cast<double>(elapsed.count()) / 1e6;
    return seconds > 0 ? static_cast<double>(ok + failed()) / seconds : 0.0;
}

void run_stats::record(engine::clock::duration took, const engine::result<void>& outcome)
{
    // A timer can wake a little before its instant (libuv measures from the loop's cached
    // time), so an operation may finish "before" its due time: that counts as 0, not as 2^64.
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    latency.record(us > 0 ? static_cast<std::uint64_t>(us) : 0);
    if (outcome) {
        ++ok;
        return;
    }
    std::string stage(engine::to_string(outcome.err().where));
    if (++errors[stage] == 1) {
        first_error[stage] = outcome.err().describe();
    }
}

namespace {

struct run_state {
    run_limits limits;
    operation op;
    run_stats stats;
    engine::clock::time_point start;
    engine::clock::time_point last_end;
};

engine::task<void> one(run_state* s, std::uint64_t seq, engine::clock::time_point due)
{
    auto outcome = co_await s->op(seq);
    s->last_end = engine::clock::now();
    s->stats.record(s->last_end - due, outcome);
}

engine::task<void> worker(run_state* s, std::uint64_t* next, std::stop_token starting)
{
    const auto end = s->start + s->limits.duration;
    while (*next < s->limits.count && engine::clock::now() < end && !starting.stop_requested()) {
        const auto seq = (*next)++;
        ++s->stats.started;
        co_await one(s, seq, engine::clock::now());
    }
}

/// Open loop: spawns operation i at its due time into `ops`, late ones at once.
engine::task<void> arrivals(run_state* s, engine::scope* ops)
{
    const auto end = s->start + s->limits.duration;
    const std::chrono::duration<double> period(1.0 / s->limits.rate);
    for (std::uint64_t seq = 0; seq < s->limits.count; ++seq) {
        const auto due = s->start + std::chrono::duration_cast<engine::clock::duration>(period * static_cast<double>(seq));
        if (due >= end) {
            break;
        }
        if (due > engine::clock::now()) {
            // Named, not tested inside the condition: GCC 12 miscompiles `if (co_await
            // sleep_until(...))`, and the coroutine body never runs.
            const bool slept = co_await engine::sleep_until(due);
            if (!slept) {
                break;   // told to stop starting
            }
        }
        ++s->stats.started;
        ops->spawn(one(s, seq, due));
    }
}

engine::task<void> ticker(run_state* s, progress_fn* progress)
{
    for (;;) {
        const bool slept = co_await engine::sleep_for(1s);
        if (!slept) {
            break;
        }
        (*progress)(s->stats, engine::clock::now() - s->start);
    }
}

engine::task<void> watchdog(run_state* s, engine::scope* ops)
{
    const bool expired = co_await engine::sleep_until(s->start + s->limits.duration + s->limits.grace);
    if (expired) {
        ops->request_stop();
    }
}

} // namespace

engine::task<run_stats> drive(run_limits limits, operation op, progress_fn progress)
{
    run_state s{limits, std::move(op), run_stats{}, engine::clock::now(), engine::clock::now()};
    const std::stop_token outer = co_await engine::current_stop_token();
    std::stop_source stop_starting;
    std::stop_callback forward(outer, [&stop_starting] { stop_starting.request_stop(); });
    std::uint64_t next = 0;
    {
        // Operations run under `ops`, whose stop only the watchdog requests: a stop from the
        // caller ends the starts, not the work in flight.
        engine::scope ops(s.limits.rate > 0 ? s.limits.concurrency : static_cast<std::size_t>(-1));
        engine::scope guard;
        guard.spawn(watchdog(&s, &ops));
        if (progress) {
            guard.spawn(ticker(&s, &progress));
        }
        if (s.limits.rate > 0) {
            co_await arrivals(&s, &ops).under(stop_starting.get_token());
        } else {
            for (std::size_t i = 0; i < s.limits.concurrency; ++i) {
                ops.spawn(worker(&s, &next, stop_starting.get_token()));
            }
        }
        co_await ops.join().under(std::stop_token{});
        guard.request_stop();
        co_await guard.join();
    }
    s.stats.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(s.last_end - s.start);
    co_return std::move(s.stats);
}

} // namespace load
