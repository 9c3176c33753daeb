#include "engine/scope.h"

#include <cassert>
#include <utility>

namespace engine {

scope::~scope()
{
    assert(m_running == 0 && m_pending.empty() && "engine::scope destroyed before join()");
}

scope::runner scope::run_child(scope* self, task<void> t)
{
    try {
        co_await std::move(t);
    } catch (...) {
        if (!self->m_error) {
            self->m_error = std::current_exception();
        }
    }
    // Free the child's frame before the joiner can run on and destroy what it used.
    t = task<void>{};
    self->child_done();
}

void scope::spawn(task<void> t)
{
    auto r = run_child(this, std::move(t));
    r.handle.promise().owner = this;
    r.handle.promise().stop = m_stop.get_token();
    m_pending.push_back(r.handle);
    pump();
}

void scope::child_done() noexcept
{
    --m_running;
    pump();
}

void scope::pump() noexcept
{
    // Children that finish without suspending would otherwise start the next one from
    // inside themselves, and 10,000 of them would nest 10,000 frames deep.
    if (m_pumping) {
        return;
    }
    m_pumping = true;
    while (m_running < m_limit && !m_pending.empty()) {
        auto h = m_pending.front();
        m_pending.pop_front();
        ++m_running;
        h.resume();
    }
    m_pumping = false;
    if (m_running == 0 && m_pending.empty() && m_joiner) {
        std::exchange(m_joiner, nullptr).resume();
    }
}

task<void> scope::join()
{
    auto parent_stop = co_await current_stop_token();
    std::stop_callback forward(parent_stop, [this] { m_stop.request_stop(); });
    co_await join_awaiter{this};
    if (m_error) {
        std::rethrow_exception(std::exchange(m_error, nullptr));
    }
}

} // namespace engine
