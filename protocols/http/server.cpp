#include "protocols/http/server.h"

#include "engine/scope.h"
#include "engine/timer.h"

#include <fmt/format.h>

using namespace std::chrono_literals;

namespace protocols::http {

namespace {

std::string_view reason_of(int status) noexcept
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

reply plain(int status)
{
    reply r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = fmt::format("{} {}\n", status, reason_of(status));
    return r;
}

int status_of(parse_error e) noexcept
{
    switch (e) {
    case parse_error::header_too_big:
    case parse_error::too_many_fields: return 431;
    case parse_error::line_too_long: return 414;
    default: return 400;
    }
}

struct shared_state {
    std::size_t connections = 0;
};

engine::task<void> answer(engine::connection* c, std::string bytes, std::chrono::milliseconds timeout)
{
    const engine::deadline until = engine::after(timeout);
    auto w = co_await c->write(bytes, until);
    (void)w;   // the client left: nothing more to tell it
    co_await c->close();
}

engine::task<void> serve_one(engine::connection c, const handler* h, server_limits limits, shared_state* st)
{
    if (st->connections >= limits.max_connections) {
        co_await answer(&c, render(plain(503), true), limits.write_timeout);
        co_return;
    }
    ++st->connections;
    request_parser p(limits.request);
    // One byte over the head limit, so the parser (not the buffer) names what was broken.
    c.set_max_buffer(limits.request.max_head_bytes + 1);
    const engine::deadline head_until = engine::after(limits.head_timeout);
    parse_status ps = p.parse(c.buffered());
    bool gone = false;
    while (ps.need_more()) {
        auto n = co_await c.read(head_until);
        if (!n) {
            // Timed out, closed, reset or stopped: there is nobody to answer, except a head
            // that outgrew the buffer.
            if (n.err().code == engine::errc::buffer_full) {
                ps = parse_status::fail(parse_error::header_too_big, limits.request.max_head_bytes);
            } else {
                gone = true;
            }
            break;
        }
        ps = p.parse(c.buffered());
    }
    if (gone) {
        co_await c.close();
    } else {
        reply r;
        const bool head = ps.complete() && p.method() == "HEAD";
        if (ps.failed()) {
            r = plain(status_of(ps.code));
        } else if (p.method() != "GET" && !head) {
            r = plain(405);
        } else {
            r = (*h)(p.path());
        }
        std::string bytes = render(r, !head);
        if (r.status == 405) {
            bytes.insert(bytes.find("\r\n") + 2, "Allow: GET, HEAD\r\n");
        }
        co_await answer(&c, std::move(bytes), limits.write_timeout);
    }
    --st->connections;
}

} // namespace

std::string render(const reply& r, bool with_body)
{
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        r.status, reason_of(r.status), r.content_type, r.body.size());
    if (with_body) {
        out += r.body;
    }
    return out;
}

engine::task<void> serve(engine::listener* l, const handler* h, server_limits limits)
{
    shared_state st;
    engine::scope connections;
    for (;;) {
        auto c = co_await l->accept();
        if (!c) {
            if (c.err().code == engine::errc::cancelled) {
                break;
            }
            // Out of descriptors or a transient accept failure: breathe, then go on.
            const bool slept = co_await engine::sleep_for(50ms);
            if (!slept) {
                break;
            }
            continue;
        }
        connections.spawn(serve_one(std::move(*c), h, limits, &st));
    }
    connections.request_stop();
    co_await connections.join();
}

} // namespace protocols::http
