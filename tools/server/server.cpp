// The built-in server's listeners and lifetime: see server.h.
#include "tools/server/server.h"

#include "engine/certs.h"
#include "engine/scope.h"
#include "engine/timer.h"

#include <algorithm>
#include <chrono>
#include <fstream>

using namespace std::chrono_literals;

namespace builtin {

server::server(config c) : m_config(std::move(c)) {}

server::~server() = default;

engine::result<void> server::start()
{
    auto s = store::make(m_config, m_config.hostname);
    if (!s) {
        return std::move(s).err();
    }
    m_store.emplace(std::move(*s));

    auto ca = engine::make_ca("mailprobe builtin-server CA (throwaway)");
    if (!ca) {
        return std::move(ca).err();
    }
    engine::cert_request req;
    req.common_name = m_config.hostname;
    req.dns_names = {"localhost", m_config.hostname};
    req.dns_names.insert(req.dns_names.end(), m_config.cert_names.begin(), m_config.cert_names.end());
    req.ip_addresses = {"127.0.0.1", "::1"};
    for (const auto& l : m_config.listeners) {
        if (std::find(req.ip_addresses.begin(), req.ip_addresses.end(), l.ip) == req.ip_addresses.end()) {
            req.ip_addresses.push_back(l.ip);
        }
    }
    if (m_config.cert_lifetime.count() > 0) {
        req.not_after = std::chrono::duration_cast<std::chrono::seconds>(
            (std::chrono::system_clock::now() + m_config.cert_lifetime).time_since_epoch()).count();
    }
    auto leaf = engine::issue_cert(*ca, req);
    if (!leaf) {
        return std::move(leaf).err();
    }
    auto tls = engine::tls_context::server(leaf->cert, leaf->key);
    if (!tls) {
        return std::move(tls).err();
    }
    m_tls.emplace(std::move(*tls));
    m_ca_pem = ca->cert;

    m_listeners.clear();
    for (const auto& l : m_config.listeners) {
        auto bound = engine::listener::bind(l.ip, l.port);
        if (!bound) {
            m_listeners.clear();
            return std::move(bound).err();
        }
        m_listeners.push_back(std::move(*bound));
    }
    m_ctx.cfg = &m_config;
    m_ctx.mail = &*m_store;
    m_ctx.tls = &*m_tls;
    return {};
}

engine::task<void> server::run()
{
    engine::scope sessions;
    m_running = &sessions;
    if (m_stop) {
        sessions.request_stop();   // stop() came first: serve nothing
    }
    for (std::size_t i = 0; i < m_listeners.size(); ++i) {
        sessions.spawn(accept_loop(this, i, &sessions));
    }
    co_await sessions.join();
    m_running = nullptr;
}

void server::stop() noexcept
{
    m_stop = true;
    if (m_running) {
        m_running->request_stop();
    }
}

engine::task<void> server::accept_loop(server* self, std::size_t index, engine::scope* sessions)
{
    while (!self->m_stop) {
        auto c = co_await self->m_listeners[index].accept();
        if (!c) {
            if (c.err().code == engine::errc::cancelled) {
                co_return;
            }
            // Out of descriptors or a transient accept failure: breathe, then go on.
            const auto slept = co_await engine::sleep_for(50ms);
            if (!slept) {
                co_return;
            }
            continue;
        }
        sessions->spawn(serve(self, index, std::move(*c)));
    }
}

engine::task<void> server::serve(server* self, std::size_t index, engine::connection c)
{
    auto& ctx = self->m_ctx;
    if (ctx.connections >= self->m_config.limits.max_connections) {
        co_await c.close();   // over the limit: refuse by closing, like a full accept queue
        co_return;
    }
    ++ctx.connections;
    const listener_config* lc = &self->m_config.listeners[index];
    switch (lc->proto) {
    case protocol::smtp: co_await detail::serve_smtp(&ctx, lc, std::move(c)); break;
    case protocol::imap: co_await detail::serve_imap(&ctx, lc, std::move(c)); break;
    case protocol::pop3: co_await detail::serve_pop3(&ctx, lc, std::move(c)); break;
    }
    --ctx.connections;
}

std::uint16_t server::port(std::string_view name) const noexcept
{
    for (std::size_t i = 0; i < m_listeners.size() && i < m_config.listeners.size(); ++i) {
        if (m_config.listeners[i].name == name) {
            return m_listeners[i].port();
        }
    }
    return 0;
}

engine::result<void> server::write_ca_pem(const std::string& path) const
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << m_ca_pem;
    f.close();
    if (!f) {
        return engine::make_error(engine::stage::none, engine::errc::io, "cannot write the CA certificate to " + path);
    }
    return {};
}

const builtin::mailbox* server::mailbox(std::string_view address) const noexcept
{
    return m_store ? m_store->find(address) : nullptr;
}

} // namespace builtin
