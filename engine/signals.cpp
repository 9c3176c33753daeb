#include "engine/signals.h"

#include "engine/loop.h"

#include <uv.h>

#include <memory>

namespace engine {

// One uv_signal_t per signal number; the waiter resumes only after every handle is closed,
// so nothing of ours is left registered with libuv.
struct signal_awaiter::state {
    std::vector<std::unique_ptr<uv_signal_t>> handles;
    std::size_t open = 0;
    bool finishing = false;
    int* received = nullptr;
    std::coroutine_handle<> waiter;

    void finish(int signum)
    {
        if (finishing) {
            return;
        }
        finishing = true;
        *received = signum;
        for (auto& h : handles) {
            uv_signal_stop(h.get());
            uv_close(reinterpret_cast<uv_handle_t*>(h.get()), [](uv_handle_t* closed) {
                auto* self = static_cast<state*>(closed->data);
                if (--self->open == 0) {
                    auto w = self->waiter;
                    delete self;
                    w.resume();
                }
            });
        }
    }
};

void signal_awaiter::on_stop::operator()() const noexcept { s->finish(0); }

void signal_awaiter::start(std::coroutine_handle<> h, std::stop_token stop)
{
    auto* s = new state;
    s->received = &m_received;
    s->waiter = h;
    for (int signum : m_signals) {
        auto handle = std::make_unique<uv_signal_t>();
        uv_signal_init(loop::current().native(), handle.get());
        handle->data = s;
        uv_signal_start(handle.get(), [](uv_signal_t* sig, int number) {
            static_cast<state*>(sig->data)->finish(number);
        }, signum);
        s->handles.push_back(std::move(handle));
        ++s->open;
    }
    m_stop.emplace(std::move(stop), on_stop{s});
}

} // namespace engine
