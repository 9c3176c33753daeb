// Sleeping on the loop: co_await sleep_until(deadline) / sleep_for(duration).
// The result is true when the time elapsed and false when a stop was requested first.
#pragma once

#include "engine/loop.h"
#include "engine/task.h"

#include <uv.h>

#include <coroutine>
#include <optional>
#include <stop_token>

namespace engine {

/// Milliseconds from now until `d` for a libuv timer, rounded up, never negative.
std::uint64_t millis_until(deadline d) noexcept;

class sleep_awaiter {
public:
    explicit sleep_awaiter(deadline until) noexcept : m_until(until) {}
    sleep_awaiter(const sleep_awaiter&) = delete;
    sleep_awaiter& operator=(const sleep_awaiter&) = delete;

    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h)
    {
        start(h, detail::stop_token_of(h));
    }
    bool await_resume() const noexcept { return !m_cancelled; }

    /// Ends the sleep early as if its time had come (resuming on the loop, never inside this
    /// call); for awaiters built on a sleep, such as event's.
    void wake() noexcept { finish(false); }

private:
    struct on_stop {
        sleep_awaiter* self;
        void operator()() const noexcept;
    };

    void start(std::coroutine_handle<> h, std::stop_token stop);
    void finish(bool cancelled) noexcept;

    deadline m_until;
    uv_timer_t m_timer{};
    std::coroutine_handle<> m_waiter;
    bool m_cancelled = false;
    bool m_finished = false;
    std::optional<std::stop_callback<on_stop>> m_stop;
};

[[nodiscard]] inline sleep_awaiter sleep_until(deadline d) noexcept { return sleep_awaiter{d}; }
[[nodiscard]] inline sleep_awaiter sleep_for(clock::duration d) noexcept { return sleep_awaiter{after(d)}; }

} // namespace engine
