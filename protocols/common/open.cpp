#include "protocols/common/open.h"

#include <fmt/format.h>

#include <chrono>
#include <utility>

namespace protocols {

using engine::errc;
using engine::make_error;
using engine::result;
using engine::stage;
using engine::task;

task<result<opened_endpoint>> open_endpoint(const endpoint& ep, transcript* trace)
{
    if (ep.tls != tls_mode::none && !ep.tls_context) {
        co_return make_error(stage::tls, errc::invalid_argument, "TLS requested but the endpoint has no TLS context");
    }
    const auto t0 = engine::clock::now();
    const engine::deadline until = engine::after(ep.connect_timeout);
    auto c = co_await engine::connection::open(ep.host, ep.port, until);
    if (!c) {
        co_return std::move(c).err().at(stage::connect);
    }
    opened_endpoint out;
    out.conn = std::move(*c);
    out.timings.connect_ms = ms_since(t0);
    if (trace) {
        trace->note(fmt::format("connected to {}", out.conn.peer()));
    }
    if (ep.tls == tls_mode::implicit) {
        const auto t1 = engine::clock::now();
        auto info = co_await tls_handshake(out.conn, ep, until, trace);
        if (!info) {
            co_await out.conn.close();
            co_return std::move(info).err();
        }
        out.timings.tls_ms = ms_since(t1);
        out.tls = std::move(*info);
    }
    co_return std::move(out);
}

task<result<engine::tls_info>> tls_handshake(engine::connection& conn, const endpoint& ep, engine::deadline until,
    transcript* trace)
{
    auto info = co_await conn.start_tls(*ep.tls_context, ep.name_to_verify(), until);
    if (!info) {
        co_return std::move(info).err().at(stage::tls);
    }
    if (trace) {
        trace->note(fmt::format("TLS established: {} {}{}", info->version, info->cipher,
            info->insecure ? " (certificate NOT verified)" : ""));
    }
    co_return std::move(info);
}

std::int64_t ms_since(engine::clock::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(engine::clock::now() - start).count();
}

} // namespace protocols
