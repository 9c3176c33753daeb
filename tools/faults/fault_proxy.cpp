// The fault proxy on raw libuv: one listener, and per client a link of two TCP handles (client
// and upstream) plus a drip timer. A link's memory is freed when its last handle is closed;
// the proxy's state when its listener and every link are gone.
#include "tools/faults/fault_proxy.h"

#include "engine/loop.h"

#include <fmt/format.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <list>
#include <utility>

namespace faults {

namespace {

constexpr std::size_t read_size = 64 * 1024;
constexpr std::size_t max_drip_queue = 1024 * 1024;
constexpr std::size_t flood_batch = 64 * 1024;

engine::error bind_error(const std::string& what, int rc)
{
    return engine::error{engine::stage::connect, engine::errc::io, fmt::format("fault proxy: {}: {}", what, uv_strerror(rc))};
}

bool iequal(char a, char b)
{
    return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
}

} // namespace

struct link;

struct proxy::state {
    uv_loop_t* loop = nullptr;
    uv_tcp_t listener{};
    sockaddr_storage upstream{};
    bool has_upstream = true;
    fault f;
    std::size_t accepted = 0;
    std::size_t fired = 0;
    std::list<link*> links;
    bool closing = false;
    bool listener_closed = false;
    std::array<char, read_size> buffer{};   // one read at a time on one thread: shared by all

    void close();
    void maybe_free();
};

struct link {
    proxy::state* owner = nullptr;
    std::list<link*>::iterator self;
    uv_tcp_t client{};
    uv_tcp_t server{};
    uv_connect_t connect{};
    uv_shutdown_t shutdown{};
    uv_timer_t timer{};
    int open_handles = 0;
    bool faulty = false;
    bool fired = false;
    bool connected = false;
    bool closed = false;
    std::string window;        // the client bytes a trigger may straddle
    std::string to_server;     // client bytes that came before the upstream connection
    std::string drip;          // server bytes waiting to be dripped
    std::size_t allowance = 0; // stall_after: server bytes still forwarded
    std::size_t flooded = 0;   // flood: repetitions (or bytes, when endless) sent

    void close(bool reset);
    void fire();
    void from_client(std::string_view data);
    void from_server(std::string_view data);
    void send(uv_tcp_t* to, std::string data, bool flood);
    void flood_more();
};

struct write_req {
    uv_write_t req{};
    std::string data;
    link* l = nullptr;
    bool flood = false;
};

void link::close(bool reset)
{
    if (closed) {
        return;
    }
    closed = true;
    auto done = [](uv_handle_t* h) {
        auto* l = static_cast<link*>(h->data);
        if (--l->open_handles == 0) {
            auto* s = l->owner;
            s->links.erase(l->self);
            delete l;
            s->maybe_free();
        }
    };
    if (reset) {
        // RST instead of FIN: what a crashing server or a middlebox looks like to the client.
        if (uv_tcp_close_reset(&client, done) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&client), done);
        }
    } else {
        uv_close(reinterpret_cast<uv_handle_t*>(&client), done);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&server), done);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), done);
}

void link::send(uv_tcp_t* to, std::string data, bool flood)
{
    if (closed || data.empty()) {
        return;
    }
    auto* w = new write_req;
    w->data = std::move(data);
    w->l = this;
    w->flood = flood;
    w->req.data = w;
    uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(to), &buf, 1, [](uv_write_t* req, int status) {
        auto* done = static_cast<write_req*>(req->data);
        // Cancelled writes are reported before the close callbacks, so the link is alive here.
        link* l = done->l;
        bool more = done->flood;
        delete done;
        if (status < 0) {
            l->close(false);
        } else if (more) {
            l->flood_more();
        }
    });
    if (rc < 0) {
        delete w;
        close(false);
    }
}

void link::flood_more()
{
    const fault& f = owner->f;
    const std::size_t unit = f.bytes.size();
    // Endless floods count bytes against the cap; counted ones count repetitions.
    const std::size_t left = f.count == 0 ? (max_flood_bytes - std::min(flooded, max_flood_bytes)) / unit : f.count - flooded;
    const std::size_t n = std::min(left, std::max<std::size_t>(1, flood_batch / unit));
    if (n == 0 || closed) {
        return;
    }
    std::string batch;
    batch.reserve(n * unit);
    for (std::size_t i = 0; i < n; ++i) {
        batch += f.bytes;
    }
    flooded += f.count == 0 ? n * unit : n;
    send(&client, std::move(batch), true);
}

void link::fire()
{
    fired = true;
    ++owner->fired;
    const fault& f = owner->f;
    switch (f.what) {
    case action::stall:
        break;
    case action::stall_after:
        allowance = f.count;
        break;
    case action::drip:
        uv_timer_start(&timer, [](uv_timer_t* t) {
            auto* l = static_cast<link*>(t->data);
            if (!l->drip.empty()) {
                l->send(&l->client, l->drip.substr(0, 1), false);
                l->drip.erase(0, 1);
            }
        }, static_cast<std::uint64_t>(f.interval.count()), static_cast<std::uint64_t>(f.interval.count()));
        break;
    case action::reset:
        close(true);
        break;
    case action::send:
        send(&client, f.bytes, false);
        break;
    case action::flood:
        if (!f.bytes.empty()) {
            flood_more();
        }
        break;
    case action::play:
        send(&client, f.bytes, false);
        if (!closed) {
            // The FIN goes after the queued bytes; the client sees them all, then the end.
            uv_shutdown(&shutdown, reinterpret_cast<uv_stream_t*>(&client), [](uv_shutdown_t*, int) {});
        }
        break;
    }
}

void link::from_client(std::string_view data)
{
    if (faulty && !fired && !owner->f.trigger.empty()) {
        const std::string& t = owner->f.trigger;
        window.append(data);
        if (std::search(window.begin(), window.end(), t.begin(), t.end(), iequal) != window.end()) {
            // The triggering command never reaches the server: the fault answers it.
            fire();
            return;
        }
        window.erase(0, window.size() - std::min(window.size(), t.size() - 1));
    }
    if (!owner->has_upstream) {
        return;
    }
    if (!connected) {
        to_server.append(data);
        return;
    }
    send(&server, std::string(data), false);
}

void link::from_server(std::string_view data)
{
    if (!fired) {
        send(&client, std::string(data), false);
        return;
    }
    switch (owner->f.what) {
    case action::stall_after: {
        const std::size_t n = std::min(allowance, data.size());
        allowance -= n;
        send(&client, std::string(data.substr(0, n)), false);
        break;
    }
    case action::drip:
        if (drip.size() + data.size() <= max_drip_queue) {
            drip.append(data);
        }
        break;
    default:
        break;   // the fault speaks for the server now
    }
}

void proxy::state::close()
{
    closing = true;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener))) {
        uv_close(reinterpret_cast<uv_handle_t*>(&listener), [](uv_handle_t* h) {
            auto* s = static_cast<state*>(h->data);
            s->listener_closed = true;
            s->maybe_free();
        });
    }
    // close() erases from the list only in callbacks, so iterating a copy is not needed.
    for (link* l : links) {
        l->close(false);
    }
}

void proxy::state::maybe_free()
{
    if (closing && listener_closed && links.empty()) {
        delete this;
    }
}

namespace {

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf)
{
    auto* l = static_cast<link*>(h->data);
    *buf = uv_buf_init(l->owner->buffer.data(), static_cast<unsigned>(l->owner->buffer.size()));
}

void on_read(uv_stream_t* stream, ssize_t n, const uv_buf_t* buf)
{
    auto* l = static_cast<link*>(stream->data);
    if (n < 0) {
        l->close(false);
        return;
    }
    const std::string_view data(buf->base, static_cast<std::size_t>(n));
    if (stream == reinterpret_cast<uv_stream_t*>(&l->client)) {
        l->from_client(data);
    } else {
        l->from_server(data);
    }
}

void on_connect(uv_connect_t* req, int status)
{
    auto* l = static_cast<link*>(req->data);
    if (l->closed) {
        return;
    }
    if (status < 0) {
        l->close(false);
        return;
    }
    l->connected = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&l->server), on_alloc, on_read);
    l->send(&l->server, std::exchange(l->to_server, {}), false);
}

void on_accept(uv_stream_t* listener, int status)
{
    auto* s = static_cast<proxy::state*>(listener->data);
    if (status < 0 || s->closing) {
        return;
    }
    auto* l = new link;
    l->owner = s;
    l->self = s->links.insert(s->links.end(), l);
    uv_tcp_init(s->loop, &l->client);
    uv_tcp_init(s->loop, &l->server);
    uv_timer_init(s->loop, &l->timer);
    l->client.data = l->server.data = l->timer.data = l->connect.data = l->shutdown.data = l;
    l->open_handles = 3;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&l->client)) < 0) {
        l->close(false);
        return;
    }
    ++s->accepted;
    l->faulty = s->f.connections == 0 || s->accepted <= s->f.connections;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&l->client), on_alloc, on_read);
    if (s->has_upstream
        && uv_tcp_connect(&l->connect, &l->server, reinterpret_cast<const sockaddr*>(&s->upstream), on_connect) < 0) {
        l->close(false);
        return;
    }
    if (l->faulty && s->f.trigger.empty()) {
        l->fire();
    }
}

} // namespace

engine::result<proxy> proxy::start(const std::string& upstream_ip, std::uint16_t upstream_port, fault f)
{
    auto* s = new state;
    s->loop = engine::loop::current().native();
    s->f = std::move(f);
    s->has_upstream = upstream_port != 0;
    if (uv_ip4_addr(upstream_ip.c_str(), upstream_port, reinterpret_cast<sockaddr_in*>(&s->upstream)) != 0
        && uv_ip6_addr(upstream_ip.c_str(), upstream_port, reinterpret_cast<sockaddr_in6*>(&s->upstream)) != 0) {
        delete s;
        return engine::error{engine::stage::connect, engine::errc::io, "fault proxy: the upstream is not an IP literal: " + upstream_ip};
    }
    uv_tcp_init(s->loop, &s->listener);
    s->listener.data = s;
    proxy p;
    p.m_state = s;   // from here on, p's destructor closes the listener on failure
    sockaddr_in local{};
    uv_ip4_addr("127.0.0.1", 0, &local);
    if (int rc = uv_tcp_bind(&s->listener, reinterpret_cast<const sockaddr*>(&local), 0); rc < 0) {
        return bind_error("bind 127.0.0.1", rc);
    }
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->listener), 128, on_accept); rc < 0) {
        return bind_error("listen", rc);
    }
    sockaddr_storage bound{};
    int len = sizeof(bound);
    if (int rc = uv_tcp_getsockname(&s->listener, reinterpret_cast<sockaddr*>(&bound), &len); rc < 0) {
        return bind_error("getsockname", rc);
    }
    p.m_port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    return p;
}

proxy::proxy(proxy&& other) noexcept
    : m_state(std::exchange(other.m_state, nullptr)), m_port(std::exchange(other.m_port, 0))
{
}

proxy& proxy::operator=(proxy&& other) noexcept
{
    if (this != &other) {
        if (m_state) {
            m_state->close();
        }
        m_state = std::exchange(other.m_state, nullptr);
        m_port = std::exchange(other.m_port, 0);
    }
    return *this;
}

proxy::~proxy()
{
    if (m_state) {
        m_state->close();
    }
}

std::size_t proxy::accepted() const noexcept { return m_state ? m_state->accepted : 0; }
std::size_t proxy::fired() const noexcept { return m_state ? m_state->fired : 0; }

} // namespace faults
