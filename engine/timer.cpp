#include "engine/timer.h"

namespace engine {

std::uint64_t millis_until(deadline d) noexcept
{
    auto left = d - clock::now();
    if (left <= clock::duration::zero()) {
        return 0;
    }
    return static_cast<std::uint64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

void sleep_awaiter::on_stop::operator()() const noexcept { self->finish(true); }

void sleep_awaiter::start(std::coroutine_handle<> h, std::stop_token stop)
{
    m_waiter = h;
    uv_timer_init(loop::current().native(), &m_timer);
    m_timer.data = this;
    uv_timer_start(&m_timer, [](uv_timer_t* t) {
        static_cast<sleep_awaiter*>(t->data)->finish(false);
    }, millis_until(m_until), 0);
    // Registered last: a stop already requested calls finish() right here.
    m_stop.emplace(std::move(stop), on_stop{this});
}

void sleep_awaiter::finish(bool cancelled) noexcept
{
    if (m_finished) {
        return;
    }
    m_finished = true;
    m_cancelled = cancelled;
    uv_timer_stop(&m_timer);
    // The handle lives in this awaiter, which lives in the suspended frame: resume only once
    // libuv is done with the handle. This also keeps a stop request from resuming the
    // waiter inside the caller of request_stop().
    uv_close(reinterpret_cast<uv_handle_t*>(&m_timer), [](uv_handle_t* t) {
        static_cast<sleep_awaiter*>(t->data)->m_waiter.resume();
    });
}

} // namespace engine
