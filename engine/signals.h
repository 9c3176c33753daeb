// Waiting for process signals on the loop: `engine::signal_awaiter s{SIGINT, SIGTERM};
// int n = co_await s;` gives the number of the first signal that arrives, or 0 when a stop
// was requested first. (GCC 12 rejects the braced list inside a co_await operand, so the
// awaiter is a named local.)
#pragma once

#include "engine/task.h"

#include <coroutine>
#include <initializer_list>
#include <optional>
#include <stop_token>
#include <vector>

namespace engine {

class signal_awaiter {
public:
    explicit signal_awaiter(std::initializer_list<int> signals) : m_signals(signals) {}
    signal_awaiter(const signal_awaiter&) = delete;
    signal_awaiter& operator=(const signal_awaiter&) = delete;

    bool await_ready() const noexcept { return m_signals.empty(); }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h)
    {
        start(h, detail::stop_token_of(h));
    }
    int await_resume() noexcept
    {
        m_stop.reset();   // its state is gone once we are resumed
        return m_received;
    }

private:
    struct state;
    struct on_stop {
        state* s;
        void operator()() const noexcept;
    };
    void start(std::coroutine_handle<> h, std::stop_token stop);

    std::vector<int> m_signals;
    int m_received = 0;
    std::optional<std::stop_callback<on_stop>> m_stop;
};

} // namespace engine
