// The HTTPS form POST; see client.h.
#include "protocols/http/client.h"

#include "engine/connection.h"
#include "engine/loop.h"

#include <fmt/format.h>

namespace protocols::http {

using engine::errc;
using engine::make_error;
using engine::stage;

namespace {

engine::error parse_failure(const url& to, parse_status s)
{
    return make_error(stage::none, errc::protocol,
        fmt::format("bad HTTP response from {}: {} at byte {}", to.authority(), describe(s.code), s.offset));
}

response take(const response_parser& p)
{
    response out;
    out.status = p.status();
    out.body = p.body_text();
    return out;
}

} // namespace

engine::task<engine::result<response>> post_form(url to, std::string encoded_form, engine::tls_context tls,
    std::chrono::milliseconds timeout, response_limits limits)
{
    auto until = engine::after(timeout);
    auto opened = co_await engine::connection::open(to.host, to.port, until);
    if (!opened) {
        co_return std::move(opened).err();
    }
    engine::connection c = std::move(*opened);
    // Room for the head, the body and a chunked body's framing; beyond it the parser's own
    // limits have been broken anyway.
    c.set_max_buffer(limits.max_header_bytes + limits.max_body_bytes + 64 * 1024);
    engine::result<response> out = make_error(stage::none, errc::io, "no response");
    const std::string request = form_post(to, encoded_form);
    if (auto hs = co_await c.start_tls(std::move(tls), to.host, until); !hs) {
        out = std::move(hs).err();
    } else if (auto w = co_await c.write(request, until); !w) {
        out = std::move(w).err();
    } else {
        response_parser p(limits);
        for (;;) {
            auto s = p.parse(c.buffered());
            if (s.complete() && p.status() < 200) {
                c.consume(s.consumed);
                p.reset();
                continue;
            }
            if (s.complete()) {
                out = take(p);
                break;
            }
            if (s.failed()) {
                out = parse_failure(to, s);
                break;
            }
            auto got = co_await c.read(until);
            if (got) {
                continue;
            }
            if (got.err().code != errc::closed) {
                out = std::move(got).err();
                break;
            }
            auto last = p.finish_on_close(c.buffered());
            if (last.complete() && p.status() >= 200) {
                out = take(p);
            } else {
                out = make_error(stage::none, errc::closed,
                    fmt::format("{} closed the connection before the HTTP response was complete", to.authority()));
            }
            break;
        }
    }
    co_await c.close();
    co_return out;
}

} // namespace protocols::http
