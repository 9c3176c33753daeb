// Line I/O shared by the built-in server's sessions: see session_io.h.
#include "tools/server/session_io.h"

#include <cstdio>

namespace builtin::detail {

std::string context::make_id()
{
    char buf[24];
    std::snprintf(buf, sizeof buf, "%010llX", static_cast<unsigned long long>(++next_id));
    return buf;
}

void line_io::release() noexcept
{
    if (m_pending) {
        m_conn.consume(m_pending);
        m_pending = 0;
    }
}

engine::task<engine::result<std::string_view>> line_io::line()
{
    release();
    for (;;) {
        auto data = m_conn.buffered();
        auto nl = data.find('\n');
        if (nl != std::string_view::npos) {
            if (nl + 1 > m_limits.max_line) {
                co_return engine::make_error(engine::stage::none, engine::errc::buffer_full, "line too long");
            }
            m_pending = nl + 1;
            m_last_crlf = nl > 0 && data[nl - 1] == '\r';
            co_return data.substr(0, m_last_crlf ? nl - 1 : nl);
        }
        if (data.size() >= m_limits.max_line) {
            co_return engine::make_error(engine::stage::none, engine::errc::buffer_full, "line too long");
        }
        if (auto f = co_await flush(); !f) {
            co_return std::move(f).err();
        }
        if (auto r = co_await m_conn.read(idle_deadline()); !r) {
            co_return std::move(r).err();
        }
    }
}

engine::task<engine::result<void>> line_io::bytes(std::size_t n, std::string& out)
{
    release();
    while (n > 0) {
        auto data = m_conn.buffered();
        if (!data.empty()) {
            std::size_t take = data.size() < n ? data.size() : n;
            out.append(data.substr(0, take));
            m_conn.consume(take);
            n -= take;
            continue;
        }
        if (auto f = co_await flush(); !f) {
            co_return std::move(f).err();
        }
        if (auto r = co_await m_conn.read(idle_deadline()); !r) {
            co_return std::move(r).err();
        }
    }
    co_return engine::result<void>{};
}

engine::task<engine::result<void>> line_io::flush()
{
    if (m_out.empty()) {
        co_return engine::result<void>{};
    }
    auto w = co_await m_conn.write(m_out, idle_deadline());
    m_out.clear();
    if (m_out.capacity() > 256 * 1024) {
        // A big FETCH or RETR is over: an idle session keeps no large buffer.
        m_out.shrink_to_fit();
    }
    co_return w;
}

engine::task<engine::result<void>> line_io::upgrade(const engine::tls_context* tls)
{
    release();
    if (auto f = co_await flush(); !f) {
        co_return std::move(f).err();
    }
    if (!m_conn.buffered().empty()) {
        co_return engine::make_error(engine::stage::tls, engine::errc::protocol,
            "client sent data before the TLS handshake");
    }
    auto r = co_await m_conn.accept_tls(*tls, engine::after(m_limits.tls_timeout));
    if (!r) {
        co_return std::move(r).err();
    }
    co_return engine::result<void>{};
}

std::string_view peer_ip(std::string_view peer) noexcept
{
    if (peer.starts_with('[')) {
        auto end = peer.find(']');
        return peer.substr(1, end == std::string_view::npos ? peer.size() - 1 : end - 1);
    }
    auto colon = peer.rfind(':');
    return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

} // namespace builtin::detail
