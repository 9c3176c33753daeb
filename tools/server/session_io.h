// What the built-in server's SMTP, IMAP and POP3 sessions share: the server-wide context and
// a line-oriented reader/writer over one engine connection.
//
// Replies are gathered in an output buffer and written only when the session is about to
// wait for more input, so a pipelining client gets all answers to its batch in one write and
// commands are always handled in order from the buffer (RFC 2920 section 3). A line longer
// than the limit is refused (errc::buffer_full) instead of growing memory; every wait has the
// idle deadline.
#pragma once

#include "engine/connection.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "tools/server/config.h"
#include "tools/server/store.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace builtin::detail {

/// Server-wide state the sessions use; owned by the server, outlives every session.
struct context {
    const config* cfg = nullptr;
    store* mail = nullptr;
    const engine::tls_context* tls = nullptr;
    std::uint64_t next_id = 0;
    std::size_t connections = 0;

    /// A fresh queue id, "0000000001A" style: unique for this server's life.
    std::string make_id();
};

class line_io {
public:
    line_io(engine::connection& c, const server_limits& limits) noexcept : m_conn(c), m_limits(limits)
    {
        c.set_max_buffer(2 * limits.max_line);
    }

    /// The next input line without its line end (CRLF or a bare LF). The view stays valid
    /// until the next call of line(), bytes() or upgrade(). Before waiting for input, pending
    /// replies are written. A line over the limit fails with errc::buffer_full.
    engine::task<engine::result<std::string_view>> line();
    /// Whether the last line ended with CRLF (false: a bare LF).
    bool last_crlf() const noexcept { return m_last_crlf; }

    /// Appends exactly `n` input bytes to `out` (an IMAP literal), reading as needed.
    engine::task<engine::result<void>> bytes(std::size_t n, std::string& out);

    /// Replies waiting to be written.
    std::string& out() noexcept { return m_out; }
    void reply(std::string_view text) { m_out.append(text); }
    engine::task<engine::result<void>> flush();

    /// Writes pending replies, refuses input sent ahead of the handshake (CVE-2011-0411
    /// command injection), then runs the server side of TLS.
    engine::task<engine::result<void>> upgrade(const engine::tls_context* tls);

    engine::deadline idle_deadline() const { return engine::after(m_limits.idle_timeout); }
    engine::connection& conn() noexcept { return m_conn; }

private:
    void release() noexcept;

    engine::connection& m_conn;
    const server_limits& m_limits;
    std::string m_out;
    std::size_t m_pending = 0;   // bytes of the line last returned, consumed on the next call
    bool m_last_crlf = true;
};

/// "127.0.0.1" from a peer string like "127.0.0.1:4321" or "[::1]:4321".
std::string_view peer_ip(std::string_view peer) noexcept;

/// The per-connection coroutines; each closes its connection before it ends.
engine::task<void> serve_smtp(context* ctx, const listener_config* lc, engine::connection c);
engine::task<void> serve_imap(context* ctx, const listener_config* lc, engine::connection c);
engine::task<void> serve_pop3(context* ctx, const listener_config* lc, engine::connection c);

} // namespace builtin::detail
