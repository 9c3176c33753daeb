// The load driver: starts operations at a fixed arrival rate (open loop) or keeps a fixed
// number in flight (closed loop), within a duration and a count, and records what each did.
//
// Open loop: operation i is due at start + i/rate whether or not earlier ones have finished,
// and its latency is measured from that due time, not from when it actually started. A
// server that stalls therefore shows its stall in every operation that queued behind it,
// instead of the client quietly slowing down (coordinated omission). Closed loop: each of
// `concurrency` workers starts its next operation when its last one ended; latency is from
// the real start, and the throughput is what the server allowed.
//
// Every run is bounded: no operation starts after the duration or beyond the count, and one
// still running `grace` after the duration is cancelled (counted as an error of its stage).
#pragma once

#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"
#include "load/histogram.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace load {

/// One operation of a run; `seq` numbers them from 0. Its error's stage says where it failed.
using operation = std::function<engine::task<engine::result<void>>(std::uint64_t seq)>;

struct run_limits {
    double rate = 0;                                 // operations per second; 0: closed loop
    std::size_t concurrency = 1;                     // closed: workers; open: most in flight
    std::chrono::milliseconds duration{10'000};      // no start after this
    std::uint64_t count = 1'000'000;                 // no more starts than this
    std::chrono::milliseconds grace{30'000};         // then what still runs is cancelled
};

struct run_stats {
    std::uint64_t started = 0;
    std::uint64_t ok = 0;
    std::map<std::string, std::uint64_t> errors;       // failures by stage ("connect", "auth", ...)
    std::map<std::string, std::string> first_error;    // by stage: the first error's words
    histogram latency;                                 // microseconds, of every finished operation
    std::chrono::microseconds elapsed{0};              // first start until the last finished

    std::uint64_t failed() const noexcept;
    /// Finished operations per second of elapsed time.
    double throughput() const noexcept;
    void record(engine::clock::duration latency, const engine::result<void>& outcome);
};

/// Called about once a second while the run goes on, with the figures so far.
using progress_fn = std::function<void(const run_stats& so_far, engine::clock::duration elapsed)>;

/// Runs `op` within `limits`. A stop requested on the awaiting task (Ctrl-C) ends the starts
/// early; operations in flight still finish. `progress` may be empty.
engine::task<run_stats> drive(run_limits limits, operation op, progress_fn progress);

} // namespace load
