// Structured concurrency: a scope starts child tasks, at most `limit` at a time, and is
// joined before its owner goes on. Children inherit the scope's stop token; a stop on the
// joining task reaches every child. A child's exception is kept and rethrown by join(); on
// the I/O path children return result values instead of throwing.
#pragma once

#include "engine/task.h"

#include <coroutine>
#include <cstddef>
#include <deque>
#include <exception>
#include <optional>
#include <stop_token>
#include <vector>

namespace engine {

class scope {
public:
    explicit scope(std::size_t limit = static_cast<std::size_t>(-1)) noexcept : m_limit(limit ? limit : 1) {}
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    /// A scope must be joined (all children finished) before it is destroyed.
    ~scope();

    /// Starts `t` now, or queues it until a slot frees up.
    void spawn(task<void> t);

    /// Waits until every spawned child has finished; rethrows the first child exception.
    /// A stop requested on the joining task is forwarded to all children.
    task<void> join();

    void request_stop() noexcept { m_stop.request_stop(); }
    std::size_t running() const noexcept { return m_running; }
    std::size_t pending() const noexcept { return m_pending.size(); }

private:
    struct runner {
        struct promise_type {
            scope* owner = nullptr;
            std::stop_token stop;
            runner get_return_object() noexcept
            {
                return {std::coroutine_handle<promise_type>::from_promise(*this)};
            }
            std::suspend_always initial_suspend() noexcept { return {}; }
            std::suspend_never final_suspend() noexcept { return {}; }
            void return_void() noexcept {}
            void unhandled_exception() noexcept { std::terminate(); }
            const std::stop_token& stop_token() const noexcept { return stop; }
        };
        std::coroutine_handle<promise_type> handle;
    };

    struct join_awaiter {
        scope* self;
        bool await_ready() const noexcept { return self->m_running == 0 && self->m_pending.empty(); }
        void await_suspend(std::coroutine_handle<> h) noexcept { self->m_joiner = h; }
        void await_resume() const noexcept {}
    };

    static runner run_child(scope* self, task<void> t);
    void child_done() noexcept;
    void pump() noexcept;

    std::size_t m_limit;
    std::size_t m_running = 0;
    bool m_pumping = false;
    std::deque<std::coroutine_handle<runner::promise_type>> m_pending;
    std::coroutine_handle<> m_joiner;
    std::stop_source m_stop;
    std::exception_ptr m_error;
};

/// Runs all `tasks`, at most `limit` at a time, and returns their results in order.
template <class T>
task<std::vector<T>> gather(std::vector<task<T>> tasks, std::size_t limit)
{
    std::vector<std::optional<T>> slots(tasks.size());
    {
        scope s(limit);
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            // The slot outlives the child: both belong to this frame, and the scope is
            // joined before the frame goes on.
            s.spawn([](task<T> t, std::optional<T>* slot) -> task<void> {
                slot->emplace(co_await std::move(t));
            }(std::move(tasks[i]), &slots[i]));
        }
        co_await s.join();
    }
    std::vector<T> out;
    out.reserve(slots.size());
    for (auto& s : slots) {
        out.push_back(std::move(*s));
    }
    co_return out;
}

} // namespace engine
