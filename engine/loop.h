// One libuv loop and what the engine keeps per loop. One thread runs one loop; everything
// in engine/ is used from that thread only. Awaiters find their loop through
// loop::current(), set while a loop object exists on the thread.
#pragma once

#include "engine/task.h"

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

namespace engine {

class dns_cache;

using clock = std::chrono::steady_clock;
/// Deadlines are absolute instants on the monotonic clock. There is no "no deadline".
using deadline = clock::time_point;

inline deadline after(clock::duration d) { return clock::now() + d; }

class loop {
public:
    loop();
    ~loop();
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    /// The loop of this thread; there must be one.
    static loop& current();

    uv_loop_t* native() noexcept { return &m_loop; }

    /// Runs `t` to completion on this loop and returns its result (or rethrows its
    /// exception). `stop` reaches every operation inside it.
    template <class T>
    T run(task<T> t, std::stop_token stop = {})
    {
        auto h = t.handle();
        h.promise().set_stop_token(std::move(stop));
        h.resume();
        drive_until([h] { return h.done(); });
        return std::move(t).handle().promise().take();
    }

    /// Static host names (like /etc/hosts, consulted before the system resolver), so tests
    /// and deployments can name servers without DNS.
    void add_host(std::string name, std::string address);
    const std::vector<std::string>* static_host(const std::string& name) const;

    /// The names this loop looked up (engine/resolver.h), made on first use.
    dns_cache& dns();

    /// Bytes that live only between a libuv read and its callback (TLS ciphertext).
    std::span<char> scratch() noexcept { return {m_scratch.get(), scratch_size}; }

private:
    template <class Done>
    void drive_until(Done done)
    {
        while (!done()) {
            if (uv_run(&m_loop, UV_RUN_ONCE) == 0 && !done()) {
                throw std::logic_error("engine::loop: a task is suspended with nothing left to wake it");
            }
        }
    }

    static constexpr std::size_t scratch_size = 64 * 1024;

    uv_loop_t m_loop;
    loop* m_previous;
    std::unique_ptr<char[]> m_scratch;
    std::map<std::string, std::vector<std::string>, std::less<>> m_hosts;
    std::unique_ptr<dns_cache> m_dns;
};

} // namespace engine
