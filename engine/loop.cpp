#include "engine/loop.h"

#include "engine/resolver.h"

#include <cassert>

namespace engine {
namespace {
thread_local loop* t_current = nullptr;
}

loop::loop() : m_previous(t_current), m_scratch(new char[scratch_size])
{
    if (int rc = uv_loop_init(&m_loop); rc != 0) {
        throw std::runtime_error(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    t_current = this;
}

loop::~loop()
{
    // Handles still open belong to objects already destroyed (their close callbacks free
    // them); run the loop until they are gone so uv_loop_close succeeds and nothing leaks.
    uv_walk(&m_loop, [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) {
            uv_close(h, nullptr);
        }
    }, nullptr);
    while (uv_run(&m_loop, UV_RUN_NOWAIT) != 0) {
    }
    [[maybe_unused]] int rc = uv_loop_close(&m_loop);
    assert(rc == 0);
    t_current = m_previous;
}

loop& loop::current()
{
    assert(t_current && "no engine::loop on this thread");
    return *t_current;
}

void loop::add_host(std::string name, std::string address)
{
    m_hosts[std::move(name)].push_back(std::move(address));
}

const std::vector<std::string>* loop::static_host(const std::string& name) const
{
    auto it = m_hosts.find(name);
    return it == m_hosts.end() ? nullptr : &it->second;
}

dns_cache& loop::dns()
{
    if (!m_dns) {
        m_dns = std::make_unique<dns_cache>();
    }
    return *m_dns;
}

} // namespace engine
