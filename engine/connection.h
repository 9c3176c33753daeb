// A client connection: TCP on the loop, optionally with TLS inserted in place (implicit TLS
// right after connect, or STARTTLS later), and the read buffer the protocol parsers view.
//
// One operation at a time: a session reads, writes or upgrades, never two at once. Every
// operation has a deadline; a timeout, a stop request or a socket error breaks the
// connection (the socket is closed) and every later operation fails with the same error.
// Reading appends to the buffer: the session feeds buffered() to its parser and consume()s
// what a complete response used (read-until-the-parser-is-satisfied).
#pragma once

#include "engine/loop.h"
#include "engine/read_buffer.h"
#include "engine/resolver.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"

#include <uv.h>

#include <coroutine>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>

namespace engine {

namespace detail {
struct conn_impl;
struct conn_impl_closer {
    void operator()(conn_impl* c) const noexcept;
};
} // namespace detail

class connection {
public:
    connection() = default;

    /// Resolves `host` and connects to its addresses in turn, sharing the deadline
    /// between them. Errors carry stage resolve or connect.
    static task<result<connection>> open(std::string host, std::uint16_t port, deadline until);

    /// Starts TLS on the live connection (implicit TLS: right after open(); STARTTLS: after
    /// the server agreed). Unread plaintext in the buffer is refused: after STARTTLS the server
    /// must say nothing until the handshake (CVE-2011-0411, command injection).
    task<result<tls_info>> start_tls(tls_context ctx, std::string verify_name, deadline until);

    /// The server side of a TLS handshake (built-in server, test peers).
    task<result<tls_info>> accept_tls(tls_context ctx, deadline until);

    class read_awaiter;
    class write_awaiter;

    /// Reads at least one more byte into the buffer; the result is how many arrived.
    [[nodiscard]] read_awaiter read(deadline until) noexcept;
    /// Like read(), for waits where silence is normal (IMAP IDLE): when `until` passes the
    /// result is errc::timed_out but the connection stays usable. A stop still breaks it.
    [[nodiscard]] read_awaiter wait(deadline until) noexcept;
    /// Writes all of `parts` (gathered: one system call where possible).
    [[nodiscard]] write_awaiter write(std::span<const std::string_view> parts, deadline until) noexcept;
    [[nodiscard]] write_awaiter write(std::string_view data, deadline until) noexcept;

    /// Unconsumed bytes; views stay valid until the next read() or consume().
    std::string_view buffered() const noexcept;
    void consume(std::size_t n) noexcept;
    /// A response larger than this fails with buffer_full instead of growing memory.
    void set_max_buffer(std::size_t n) noexcept;

    /// Sends close_notify when TLS is up (best effort), then closes the socket and waits
    /// until it is closed. Safe to call on a broken connection.
    task<void> close();

    bool is_open() const noexcept;
    bool is_tls() const noexcept;
    /// "127.0.0.1:25", the address actually connected.
    const std::string& peer() const noexcept;

private:
    friend class listener;
    explicit connection(detail::conn_impl* impl) noexcept : m_impl(impl) {}
    static connection make(const std::string& peer);
    static task<result<connection>> open_one(address a, deadline until);
    task<result<tls_info>> begin_tls(result<std::unique_ptr<tls_session>> session, deadline until);

    std::unique_ptr<detail::conn_impl, detail::conn_impl_closer> m_impl;
};

/// A listening TCP socket for the built-in server and test peers.
class listener {
public:
    /// Binds `ip` (a literal: servers here never look names up) and `port` (0: any free
    /// port; see port()).
    static result<listener> bind(const std::string& ip, std::uint16_t port, int backlog = 4096);

    listener() = default;
    listener(listener&&) noexcept;
    listener& operator=(listener&&) noexcept;
    ~listener();

    std::uint16_t port() const noexcept { return m_port; }

    class accept_awaiter;
    /// Waits for the next client. Ends with errc::cancelled when a stop is requested: an
    /// accept loop has no deadline of its own, it runs until its server is stopped.
    [[nodiscard]] accept_awaiter accept() noexcept;

private:
    struct state;
    state* m_state = nullptr;
    std::uint16_t m_port = 0;
};

namespace detail {

/// What every awaiter of a connection shares: register, suspend, be resumed once.
class conn_op {
public:
    explicit conn_op(conn_impl* c, deadline until) noexcept : m_conn(c), m_until(until) {}
    conn_op(const conn_op&) = delete;
    conn_op& operator=(const conn_op&) = delete;

protected:
    struct on_stop {
        conn_impl* conn;
        void operator()() const noexcept;
    };
    /// Starts the deadline timer and the stop callback, then parks `h` on the connection.
    void park(std::coroutine_handle<> h, std::stop_token stop);
    /// The outcome of an operation without a value: what start() decided at once, else what
    /// the connection recorded, attributed to `where` when the error has no stage yet.
    result<void> void_outcome(std::optional<result<void>>& ready, stage where = stage::none);

    conn_impl* m_conn;
    deadline m_until;
    std::optional<std::stop_callback<on_stop>> m_stop;
};

} // namespace detail

class connection::read_awaiter : detail::conn_op {
public:
    read_awaiter(detail::conn_impl* c, deadline until, bool keep_on_timeout) noexcept
        : conn_op(c, until), m_keep_on_timeout(keep_on_timeout)
    {
    }
    bool await_ready();
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h)
    {
        return start(h, detail::stop_token_of(h));
    }
    result<std::size_t> await_resume();

private:
    bool start(std::coroutine_handle<> h, std::stop_token stop);
    std::optional<result<std::size_t>> m_ready;
    bool m_keep_on_timeout;
};

class connection::write_awaiter : detail::conn_op {
public:
    write_awaiter(detail::conn_impl* c, std::span<const std::string_view> parts, deadline until) noexcept
        : conn_op(c, until), m_parts(parts)
    {
    }
    write_awaiter(detail::conn_impl* c, std::string_view single, deadline until) noexcept
        : conn_op(c, until), m_parts(&m_single, 1), m_single(single)
    {
    }
    bool await_ready();
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h)
    {
        return start(h, detail::stop_token_of(h));
    }
    result<void> await_resume();

private:
    bool start(std::coroutine_handle<> h, std::stop_token stop);
    std::span<const std::string_view> m_parts;
    std::string_view m_single;
    std::optional<result<void>> m_ready;
};

class listener::accept_awaiter {
public:
    explicit accept_awaiter(listener::state* s) noexcept : m_state(s) {}
    bool await_ready();
    template <class P>
    void await_suspend(std::coroutine_handle<P> h)
    {
        start(h, detail::stop_token_of(h));
    }
    result<connection> await_resume();

private:
    struct on_stop {
        listener::state* s;
        void operator()() const noexcept;
    };
    void start(std::coroutine_handle<> h, std::stop_token stop);
    listener::state* m_state;
    std::optional<std::stop_callback<on_stop>> m_stop;
};

} // namespace engine
