// A notification between coroutines of one loop: any number wait() until notify_all(), their
// deadline or a stop, whichever comes first. Waiters resume on the loop, never inside
// notify_all(), so the notifier's state is settled before any of them runs.
//
//   while (busy) {
//       const auto woke = co_await done.wait(engine::after(30s));
//       if (woke != engine::event::woken::notified) { ... }
//
// Name the result before testing it: GCC 12 can miscompile a co_await inside an if or while
// condition so that the coroutine body never runs (load/driver.cpp has the same note).
//   }
#pragma once

#include "engine/timer.h"

#include <algorithm>
#include <vector>

namespace engine {

class event {
public:
    enum class woken { notified, timed_out, stopped };

    class awaiter {
    public:
        awaiter(event& e, deadline until) noexcept : m_event(e), m_sleep(until) {}
        awaiter(const awaiter&) = delete;
        awaiter& operator=(const awaiter&) = delete;

        bool await_ready() const noexcept { return false; }
        template <class P>
        void await_suspend(std::coroutine_handle<P> h)
        {
            m_event.m_waiting.push_back(this);
            m_sleep.await_suspend(h);
        }
        woken await_resume() noexcept
        {
            if (m_notified) {
                return woken::notified;
            }
            std::erase(m_event.m_waiting, this);
            return m_sleep.await_resume() ? woken::timed_out : woken::stopped;
        }

    private:
        friend class event;
        event& m_event;
        sleep_awaiter m_sleep;
        bool m_notified = false;
    };

    event() = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;

    [[nodiscard]] awaiter wait(deadline until) noexcept { return awaiter{*this, until}; }

    /// Wakes everyone waiting now; a later wait() waits for the next call.
    void notify_all() noexcept
    {
        auto waiting = std::move(m_waiting);
        m_waiting.clear();
        for (awaiter* a : waiting) {
            a->m_notified = true;
            a->m_sleep.wake();
        }
    }

private:
    std::vector<awaiter*> m_waiting;
};

} // namespace engine
