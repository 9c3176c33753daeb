#include "engine/connection.h"

#include "engine/timer.h"

#include <arpa/inet.h>

#include <cassert>
#include <vector>

namespace engine {
namespace detail {

namespace {
errc from_uv(int status) noexcept
{
    switch (status) {
    case UV_ECONNREFUSED: return errc::refused;
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_EHOSTDOWN: return errc::unreachable;
    case UV_ECONNRESET:
    case UV_EPIPE: return errc::reset;
    case UV_ETIMEDOUT: return errc::timed_out;
    case UV_EOF: return errc::closed;
    case UV_ECANCELED: return errc::cancelled;
    case UV_ENOBUFS: return errc::buffer_full;
    default: return errc::io;
    }
}
} // namespace

// Heap-allocated and address-stable: libuv holds pointers to its handles until their close
// callbacks ran, which may be after the connection object is gone.
struct conn_impl {
    enum class op : std::uint8_t { none, connect, read, write, handshake };

    uv_tcp_t tcp{};
    uv_timer_t timer{};
    uv_connect_t connect_req{};
    int open_handles = 0;
    bool tcp_closing = false;
    bool orphaned = false;      // the connection object is gone: free when handles closed
    std::string peer;

    read_buffer buffer;
    std::unique_ptr<tls_session> tls;

    op current = op::none;
    std::coroutine_handle<> waiter;
    std::optional<error> op_error;
    std::size_t op_bytes = 0;
    std::size_t writes_in_flight = 0;
    bool stop_requested = false;
    bool keep_on_timeout = false;  // the read in flight is a wait(): its timeout breaks nothing
    std::optional<error> broken;   // sticky: the connection is unusable
    std::coroutine_handle<> close_waiter;

    struct write_req {
        uv_write_t req{};
        std::string owned;          // TLS ciphertext; empty for plaintext writes
        conn_impl* conn = nullptr;
    };

    void handle_closed()
    {
        if (--open_handles == 0 && orphaned) {
            delete this;
        }
    }

    void close_tcp()
    {
        if (tcp_closing) {
            return;
        }
        tcp_closing = true;
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp), [](uv_handle_t* h) {
            auto* self = static_cast<conn_impl*>(h->data);
            if (self->close_waiter) {
                std::exchange(self->close_waiter, nullptr).resume();
            }
            self->handle_closed();
        });
    }

    /// Ends the operation in flight (at most once) and resumes its coroutine.
    void complete(std::optional<error> e)
    {
        if (!waiter) {
            return;
        }
        uv_timer_stop(&timer);
        if (current == op::read || current == op::handshake) {
            uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp));
        }
        if (e && !(keep_on_timeout && e->code == errc::timed_out)) {
            fail(*e);
        }
        keep_on_timeout = false;
        op_error = std::move(e);
        current = op::none;
        std::exchange(waiter, nullptr).resume();
    }

    /// Breaks the connection: later operations fail with `e` without touching the socket.
    void fail(const error& e)
    {
        if (!broken) {
            broken = e;
        }
        close_tcp();
    }

    stage op_stage() const noexcept
    {
        switch (current) {
        case op::connect: return stage::connect;
        case op::handshake: return stage::tls;
        default: return stage::none;
        }
    }

    std::string op_words() const
    {
        switch (current) {
        case op::connect: return "connecting to " + peer;
        case op::handshake: return "in the TLS handshake with " + peer;
        case op::write: return "sending to " + peer;
        default: return "waiting for " + peer;
        }
    }

    static void on_timer(uv_timer_t* t)
    {
        auto* self = static_cast<conn_impl*>(t->data);
        if (self->stop_requested) {
            self->stop_requested = false;
            self->complete(make_error(self->op_stage(), errc::cancelled, "cancelled while " + self->op_words()));
        } else {
            self->complete(make_error(self->op_stage(), errc::timed_out, "timed out " + self->op_words()));
        }
    }

    /// Sends whatever TLS produced. Returns false when the connection broke.
    bool flush_tls()
    {
        std::string out;
        while (tls->take_output(out)) {
        }
        return out.empty() || queue_write(std::move(out));
    }

    bool queue_write(std::string owned)
    {
        if (tcp_closing) {
            return false;
        }
        auto* w = new write_req;
        w->owned = std::move(owned);
        w->conn = this;
        uv_buf_t b = uv_buf_init(w->owned.data(), static_cast<unsigned>(w->owned.size()));
        int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp), &b, 1, on_write);
        if (rc != 0) {
            delete w;
            complete(make_error(stage::none, from_uv(rc), std::string("write failed: ") + uv_strerror(rc)));
            return false;
        }
        ++writes_in_flight;
        return true;
    }

    static void on_write(uv_write_t* req, int status)
    {
        auto* w = reinterpret_cast<write_req*>(req);
        conn_impl* self = w->conn;
        delete w;
        --self->writes_in_flight;
        if (status != 0) {
            if (status != UV_ECANCELED) {
                self->complete(make_error(stage::none, from_uv(status), std::string("write failed: ") + uv_strerror(status)));
            }
            return;
        }
        if (self->current == op::write && self->writes_in_flight == 0) {
            self->complete(std::nullopt);
        }
    }

    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf)
    {
        auto* self = static_cast<conn_impl*>(h->data);
        if (self->tls) {
            auto s = loop::current().scratch();
            *buf = uv_buf_init(s.data(), static_cast<unsigned>(s.size()));
            return;
        }
        auto tail = self->buffer.prepare();
        *buf = uv_buf_init(tail.data(), static_cast<unsigned>(tail.size()));
    }

    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf)
    {
        auto* self = static_cast<conn_impl*>(s->data);
        if (nread == 0) {
            return;
        }
        if (nread < 0) {
            int status = static_cast<int>(nread);
            self->complete(status == UV_EOF
                    ? make_error(self->op_stage(), errc::closed, self->peer + " closed the connection")
                    : status == UV_ENOBUFS
                    ? make_error(self->op_stage(), errc::buffer_full,
                          "response larger than the " + std::to_string(self->buffer.max_size()) + "-byte buffer limit")
                    : make_error(self->op_stage(), from_uv(status), std::string("read failed: ") + uv_strerror(status)));
            return;
        }
        if (!self->tls) {
            self->buffer.commit(static_cast<std::size_t>(nread));
            self->op_bytes = static_cast<std::size_t>(nread);
            self->complete(std::nullopt);
            return;
        }
        self->on_ciphertext(buf->base, static_cast<std::size_t>(nread));
    }

    /// Feeds socket bytes through TLS: advances the handshake, decrypts into the buffer,
    /// sends what TLS wants sent, and completes the operation in flight once.
    void on_ciphertext(const char* data, std::size_t size)
    {
        std::optional<error> failure;
        std::size_t plain = 0;
        std::size_t at = 0;
        int stalled = 0;
        do {
            std::size_t took = tls->feed(data + at, size - at);
            at += took;
            // step() and decrypt() drain the BIO, so feed() takes more next time round; if
            // it cannot twice in a row, something is wrong rather than slow.
            stalled = took == 0 ? stalled + 1 : 0;
            if (stalled > 1) {
                failure = make_error(op_stage(), errc::tls_protocol, "TLS input stalled");
                break;
            }
            if (!tls->handshake_done() && tls->step() == tls_session::progress::failed) {
                failure = tls->failure();
                break;
            }
            if (tls->handshake_done()) {
                failure = decrypt(plain);
                if (failure) {
                    break;
                }
            }
            if (!flush_tls()) {
                return;
            }
        } while (at < size);
        if (failure && current == op::read && plain > 0) {
            // Deliver what arrived with the close; the next read reports the close.
            fail(*failure);
            op_bytes = plain;
            complete(std::nullopt);
        } else if (failure) {
            complete(std::move(failure));
        } else if (current == op::handshake && tls->handshake_done()) {
            complete(std::nullopt);
        } else if (current == op::read && plain > 0) {
            op_bytes = plain;
            complete(std::nullopt);
        }
    }

    /// Decrypts all that TLS holds into the buffer, adding the byte count to `total` even
    /// when an error (such as the peer's close_notify) follows the data.
    std::optional<error> decrypt(std::size_t& total)
    {
        for (;;) {
            auto tail = buffer.prepare();
            if (tail.empty()) {
                return make_error(stage::none, errc::buffer_full,
                    "response larger than the " + std::to_string(buffer.max_size()) + "-byte buffer limit");
            }
            auto r = tls->read(tail.data(), tail.size());
            if (!r) {
                return std::move(r).err();
            }
            if (*r == 0) {
                return std::nullopt;
            }
            buffer.commit(*r);
            total += *r;
        }
    }
};

void conn_impl_closer::operator()(conn_impl* c) const noexcept
{
    c->waiter = nullptr;
    c->orphaned = true;
    if (!c->tcp_closing) {
        c->close_tcp();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), [](uv_handle_t* h) {
        static_cast<conn_impl*>(h->data)->handle_closed();
    });
}

void conn_op::on_stop::operator()() const noexcept
{
    // Never resume inline (we may be inside request_stop()): let the timer end the op now.
    conn->stop_requested = true;
    uv_timer_start(&conn->timer, conn_impl::on_timer, 0, 0);
}

void conn_op::park(std::coroutine_handle<> h, std::stop_token stop)
{
    m_conn->waiter = h;
    m_conn->op_error.reset();
    m_conn->stop_requested = false;
    uv_timer_start(&m_conn->timer, conn_impl::on_timer, millis_until(m_until), 0);
    m_stop.emplace(std::move(stop), on_stop{m_conn});
}

result<void> conn_op::void_outcome(std::optional<result<void>>& ready, stage where)
{
    m_stop.reset();
    if (ready) {
        return std::move(*ready);
    }
    if (m_conn->op_error) {
        return error(*m_conn->op_error).at(where);
    }
    return {};
}

} // namespace detail

using detail::conn_impl;

// ---- read

bool connection::read_awaiter::await_ready()
{
    if (m_conn->broken) {
        m_ready.emplace(*m_conn->broken);
        return true;
    }
    return false;
}

bool connection::read_awaiter::start(std::coroutine_handle<> h, std::stop_token stop)
{
    assert(m_conn->current == conn_impl::op::none);
    m_conn->current = conn_impl::op::read;
    m_conn->op_bytes = 0;
    m_conn->keep_on_timeout = m_keep_on_timeout;
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&m_conn->tcp), conn_impl::on_alloc, conn_impl::on_read);
    if (rc != 0) {
        m_conn->current = conn_impl::op::none;
        auto e = make_error(stage::none, errc::io, std::string("cannot read: ") + uv_strerror(rc));
        m_conn->fail(e);
        m_ready.emplace(std::move(e));
        return false;
    }
    park(h, std::move(stop));
    return true;
}

result<std::size_t> connection::read_awaiter::await_resume()
{
    m_stop.reset();
    if (m_ready) {
        return std::move(*m_ready);
    }
    if (m_conn->op_error) {
        return *m_conn->op_error;
    }
    return m_conn->op_bytes;
}

// ---- write

bool connection::write_awaiter::await_ready()
{
    if (m_conn->broken) {
        m_ready.emplace(*m_conn->broken);
        return true;
    }
    return false;
}

bool connection::write_awaiter::start(std::coroutine_handle<> h, std::stop_token stop)
{
    assert(m_conn->current == conn_impl::op::none);
    if (m_conn->tls) {
        for (auto part : m_parts) {
            while (!part.empty()) {
                // A small BIO takes large writes in slices; drain it between them.
                std::size_t slice = part.size() < 4096 ? part.size() : 4096;
                auto r = m_conn->tls->write(part.substr(0, slice));
                if (!r && r.err().code != errc::buffer_full) {
                    m_conn->fail(r.err());
                    m_ready.emplace(std::move(r).err());
                    return false;
                }
                if (r) {
                    part.remove_prefix(slice);
                }
                std::string out;
                while (m_conn->tls->take_output(out)) {
                }
                if (!out.empty() && !m_conn->queue_write(std::move(out))) {
                    m_ready.emplace(*m_conn->broken);
                    return false;
                }
            }
        }
    } else {
        // Try the write right away: on loopback it almost always completes, and then there
        // is no callback to wait for.
        std::vector<uv_buf_t> bufs;
        bufs.reserve(m_parts.size());
        std::size_t total = 0;
        for (auto part : m_parts) {
            bufs.push_back(uv_buf_init(const_cast<char*>(part.data()), static_cast<unsigned>(part.size())));
            total += part.size();
        }
        auto* stream = reinterpret_cast<uv_stream_t*>(&m_conn->tcp);
        int n = uv_try_write(stream, bufs.data(), static_cast<unsigned>(bufs.size()));
        std::size_t written = n > 0 ? static_cast<std::size_t>(n) : 0;
        if (n < 0 && n != UV_EAGAIN) {
            auto e = make_error(stage::none, detail::from_uv(n), std::string("write failed: ") + uv_strerror(n));
            m_conn->fail(e);
            m_ready.emplace(std::move(e));
            return false;
        }
        if (written == total) {
            m_ready.emplace();
            return false;
        }
        std::string rest;
        rest.reserve(total - written);
        for (auto part : m_parts) {
            if (written >= part.size()) {
                written -= part.size();
                continue;
            }
            rest.append(part.substr(written));
            written = 0;
        }
        if (!m_conn->queue_write(std::move(rest))) {
            m_ready.emplace(*m_conn->broken);
            return false;
        }
    }
    if (m_conn->writes_in_flight == 0) {
        m_ready.emplace();
        return false;
    }
    m_conn->current = conn_impl::op::write;
    park(h, std::move(stop));
    return true;
}

result<void> connection::write_awaiter::await_resume() { return void_outcome(m_ready); }

// ---- connection

namespace {

/// Awaits the connect request, or the deadline.
class connect_awaiter : detail::conn_op {
public:
    connect_awaiter(conn_impl* c, const address& a, deadline until) noexcept : conn_op(c, until), m_addr(a) {}
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h)
    {
        return start(h, detail::stop_token_of(h));
    }
    result<void> await_resume() { return void_outcome(m_ready, stage::connect); }

private:
    bool start(std::coroutine_handle<> h, std::stop_token stop)
    {
        m_conn->current = conn_impl::op::connect;
        m_conn->connect_req.data = m_conn;
        int rc = uv_tcp_connect(&m_conn->connect_req, &m_conn->tcp, m_addr.get(), [](uv_connect_t* req, int status) {
            auto* self = static_cast<conn_impl*>(req->data);
            if (status == UV_ECANCELED) {
                return;   // our own close after a timeout or stop; already reported
            }
            self->complete(status == 0 ? std::nullopt
                                       : std::optional<error>(make_error(stage::connect, detail::from_uv(status),
                                             "cannot connect to " + self->peer + ": " + uv_strerror(status))));
        });
        if (rc != 0) {
            m_conn->current = conn_impl::op::none;
            m_ready.emplace(make_error(stage::connect, detail::from_uv(rc),
                "cannot connect to " + m_conn->peer + ": " + uv_strerror(rc)));
            return false;
        }
        park(h, std::move(stop));
        return true;
    }

    address m_addr;
    std::optional<result<void>> m_ready;
};

/// Awaits the TLS handshake driven by on_ciphertext().
class handshake_awaiter : detail::conn_op {
public:
    using conn_op::conn_op;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h)
    {
        return start(h, detail::stop_token_of(h));
    }
    result<void> await_resume() { return void_outcome(m_ready, stage::tls); }

private:
    bool start(std::coroutine_handle<> h, std::stop_token stop)
    {
        m_conn->current = conn_impl::op::handshake;
        if (m_conn->tls->step() == tls_session::progress::failed) {
            m_conn->current = conn_impl::op::none;
            auto e = m_conn->tls->failure();
            m_conn->fail(e);
            m_ready.emplace(std::move(e));
            return false;
        }
        if (!m_conn->flush_tls()) {
            m_conn->current = conn_impl::op::none;
            m_ready.emplace(*m_conn->broken);
            return false;
        }
        int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&m_conn->tcp), conn_impl::on_alloc, conn_impl::on_read);
        if (rc != 0) {
            m_conn->current = conn_impl::op::none;
            m_ready.emplace(make_error(stage::tls, errc::io, std::string("cannot read: ") + uv_strerror(rc)));
            m_conn->fail(m_ready->err());
            return false;
        }
        park(h, std::move(stop));
        return true;
    }

    std::optional<result<void>> m_ready;
};

} // namespace

connection connection::make(const std::string& peer)
{
    auto* impl = new conn_impl;
    connection c(impl);   // from here on, the closer frees impl whatever happens
    uv_loop_t* l = loop::current().native();
    uv_tcp_init(l, &impl->tcp);
    uv_timer_init(l, &impl->timer);
    impl->open_handles = 2;
    impl->tcp.data = impl;
    impl->timer.data = impl;
    impl->peer = peer;
    return c;
}

task<result<connection>> connection::open_one(address a, deadline until)
{
    connection c = make(a.to_string());
    conn_impl* impl = c.m_impl.get();
    auto r = co_await connect_awaiter(impl, a, until);
    if (!r) {
        co_return std::move(r).err();
    }
    // Protocol commands are small and latency-bound; never let Nagle hold them back.
    uv_tcp_nodelay(&impl->tcp, 1);
    co_return c;
}

task<result<connection>> connection::open(std::string host, std::uint16_t port, deadline until)
{
    auto addrs = co_await resolve(host, port, until);
    if (!addrs) {
        co_return std::move(addrs).err();
    }
    std::optional<error> last;
    std::size_t left = addrs->size();
    for (const address& a : *addrs) {
        // Share the time so that one silent address cannot use up the whole deadline.
        deadline attempt = left > 1 ? clock::now() + (until - clock::now()) / static_cast<int>(left) : until;
        --left;
        auto c = co_await open_one(a, attempt);
        if (c) {
            co_return std::move(c);
        }
        last = std::move(c).err();
        if (last->code == errc::cancelled) {
            break;
        }
    }
    co_return std::move(*last);
}

task<result<tls_info>> connection::start_tls(tls_context ctx, std::string verify_name, deadline until)
{
    co_return co_await begin_tls(tls_session::create(ctx, verify_name), until);
}

task<result<tls_info>> connection::accept_tls(tls_context ctx, deadline until)
{
    co_return co_await begin_tls(tls_session::accept(ctx), until);
}

task<result<tls_info>> connection::begin_tls(result<std::unique_ptr<tls_session>> session, deadline until)
{
    conn_impl* c = m_impl.get();
    if (!c) {
        co_return make_error(stage::tls, errc::invalid_argument, "start_tls on a closed connection");
    }
    if (c->broken) {
        co_return error(*c->broken).at(stage::tls);
    }
    if (c->tls) {
        co_return make_error(stage::tls, errc::invalid_argument, "TLS is already active");
    }
    if (!c->buffer.empty()) {
        auto e = make_error(stage::tls, errc::protocol,
            "the server sent data before the TLS handshake (possible STARTTLS command injection)");
        c->fail(e);
        co_return e;
    }
    if (!session) {
        co_return std::move(session).err();
    }
    c->tls = std::move(*session);
    auto r = co_await handshake_awaiter(c, until);
    if (!r) {
        co_return std::move(r).err();
    }
    co_return c->tls->info();
}

connection::read_awaiter connection::read(deadline until) noexcept { return read_awaiter(m_impl.get(), until, false); }
connection::read_awaiter connection::wait(deadline until) noexcept { return read_awaiter(m_impl.get(), until, true); }

connection::write_awaiter connection::write(std::span<const std::string_view> parts, deadline until) noexcept
{
    return write_awaiter(m_impl.get(), parts, until);
}

connection::write_awaiter connection::write(std::string_view data, deadline until) noexcept
{
    return write_awaiter(m_impl.get(), data, until);
}

std::string_view connection::buffered() const noexcept { return m_impl ? m_impl->buffer.data() : std::string_view{}; }
void connection::consume(std::size_t n) noexcept { m_impl->buffer.consume(n); }
void connection::set_max_buffer(std::size_t n) noexcept { m_impl->buffer.set_max_size(n); }
bool connection::is_open() const noexcept { return m_impl && !m_impl->broken && !m_impl->tcp_closing; }
bool connection::is_tls() const noexcept { return m_impl && m_impl->tls && m_impl->tls->handshake_done(); }

const std::string& connection::peer() const noexcept
{
    static const std::string none;
    return m_impl ? m_impl->peer : none;
}

namespace {
struct close_awaiter {
    conn_impl* conn;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept
    {
        conn->close_waiter = h;
        conn->close_tcp();
    }
    void await_resume() const noexcept {}
};
} // namespace

task<void> connection::close()
{
    conn_impl* c = m_impl.get();
    if (!c || c->tcp_closing) {
        co_return;
    }
    if (c->tls && c->tls->handshake_done() && !c->broken) {
        c->tls->shutdown();
        c->flush_tls();
    }
    co_await close_awaiter{c};
}

// ---- listener

struct listener::state {
    uv_tcp_t tcp{};
    uv_timer_t timer{};   // defers a stop's resumption out of request_stop()
    int open_handles = 2;
    bool pending = false;         // a client waits in the kernel for uv_accept
    bool stop_requested = false;
    std::optional<error> failure;
    std::coroutine_handle<> waiter;

    void handle_closed()
    {
        if (--open_handles == 0) {
            delete this;
        }
    }
};

result<listener> listener::bind(const std::string& ip, std::uint16_t port, int backlog)
{
    auto addr = parse_ip(ip, port);
    if (!addr) {
        return make_error(stage::none, errc::invalid_argument, "not an IP address: " + ip);
    }
    auto* s = new state;
    listener l;
    l.m_state = s;
    uv_loop_t* lp = loop::current().native();
    uv_tcp_init(lp, &s->tcp);
    uv_timer_init(lp, &s->timer);
    s->tcp.data = s;
    s->timer.data = s;
    int rc = uv_tcp_bind(&s->tcp, addr->get(), 0);
    if (rc == 0) {
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s->tcp), backlog, [](uv_stream_t* server, int status) {
            auto* st = static_cast<state*>(server->data);
            if (status != 0) {
                st->failure = make_error(stage::none, errc::io, std::string("accept failed: ") + uv_strerror(status));
            }
            st->pending = true;
            if (st->waiter) {
                std::exchange(st->waiter, nullptr).resume();
            }
        });
    }
    if (rc != 0) {
        return make_error(stage::none, detail::from_uv(rc), "cannot listen on " + addr->to_string() + ": " + uv_strerror(rc));
    }
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&s->tcp, reinterpret_cast<sockaddr*>(&bound), &len);
    l.m_port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                                : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    return l;
}

listener::listener(listener&& o) noexcept
    : m_state(std::exchange(o.m_state, nullptr)), m_port(o.m_port)
{
}

listener& listener::operator=(listener&& o) noexcept
{
    std::swap(m_state, o.m_state);
    std::swap(m_port, o.m_port);
    return *this;
}

listener::~listener()
{
    if (!m_state) {
        return;
    }
    m_state->waiter = nullptr;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&m_state->tcp), reinterpret_cast<uv_handle_t*>(&m_state->timer)}) {
        uv_close(h, [](uv_handle_t* closed) { static_cast<state*>(closed->data)->handle_closed(); });
    }
}

listener::accept_awaiter listener::accept() noexcept { return accept_awaiter(m_state); }

bool listener::accept_awaiter::await_ready() { return m_state->pending || m_state->failure; }

void listener::accept_awaiter::on_stop::operator()() const noexcept
{
    s->stop_requested = true;
    uv_timer_start(&s->timer, [](uv_timer_t* t) {
        auto* st = static_cast<state*>(t->data);
        if (st->waiter) {
            std::exchange(st->waiter, nullptr).resume();
        }
    }, 0, 0);
}

void listener::accept_awaiter::start(std::coroutine_handle<> h, std::stop_token stop)
{
    m_state->waiter = h;
    m_stop.emplace(std::move(stop), on_stop{m_state});
}

result<connection> listener::accept_awaiter::await_resume()
{
    m_stop.reset();
    if (m_state->stop_requested) {
        m_state->stop_requested = false;
        return make_error(stage::none, errc::cancelled, "accept cancelled");
    }
    if (m_state->failure) {
        return *std::exchange(m_state->failure, std::nullopt);
    }
    m_state->pending = false;
    connection c = connection::make("client");
    conn_impl* impl = c.m_impl.get();
    int rc = uv_accept(reinterpret_cast<uv_stream_t*>(&m_state->tcp), reinterpret_cast<uv_stream_t*>(&impl->tcp));
    if (rc != 0) {
        return make_error(stage::none, detail::from_uv(rc), std::string("accept failed: ") + uv_strerror(rc));
    }
    uv_tcp_nodelay(&impl->tcp, 1);
    sockaddr_storage peer{};
    int len = sizeof peer;
    if (uv_tcp_getpeername(&impl->tcp, reinterpret_cast<sockaddr*>(&peer), &len) == 0) {
        address a;
        a.storage = peer;
        impl->peer = a.to_string();
    }
    return c;
}

} // namespace engine
