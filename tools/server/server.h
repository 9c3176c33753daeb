// builtin::server: a small in-memory SMTP + IMAP + POP3 server on loopback, built on our own
// engine. It is the peer of `mailprobe demo`, of the tests, and of load runs: one loop
// thread, no per-command allocation storms, UID lookups by binary search.
//
// NOT A PRODUCTION SERVER. It keeps mail in memory only, relays nothing (mail for domains it
// does not host is refused), makes a throwaway CA and certificate at every start, and
// implements the subset of each protocol a mail monitor needs. Known simplifications: IMAP
// sequence numbers are shared by every session of a folder (another session's expunge is not
// announced), and IMAP IDLE reads the client's DONE only after it pushed news or after the
// idle_push interval (the engine has one operation per connection, so a read cannot be
// interrupted by a delivery without closing the connection).
//
//   builtin::server srv(cfg);
//   if (auto r = srv.start(); !r) { ... }   // binds on engine::loop::current()
//   co_await srv.run();                      // until srv.stop() or a stop on the task
#pragma once

#include "engine/connection.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "tools/server/config.h"
#include "tools/server/session_io.h"
#include "tools/server/store.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engine {
class scope;
}

namespace builtin {

class server {
public:
    explicit server(config c);
    server(const server&) = delete;
    server& operator=(const server&) = delete;
    ~server();

    /// Checks the configuration, makes the CA and the leaf certificate (SAN localhost,
    /// 127.0.0.1, ::1, the hostname, cert_names and every listener IP) and binds every
    /// listener on this thread's loop. Errors carry stage scenario (configuration), tls
    /// (certificates) or connect (binding).
    engine::result<void> start();

    /// Serves every listener until stop() or a stop request on the awaiting task; then
    /// every session ends (their connections are cancelled) and run() returns. Call start()
    /// first; run at most once; after stop() the server serves no more. The server must
    /// outlive the task.
    engine::task<void> run();
    void stop() noexcept;

    /// The bound port of the listener called `name`, 0 when there is none.
    std::uint16_t port(std::string_view name) const noexcept;
    /// The CA certificate (PEM) clients must trust; empty before start().
    const std::string& ca_pem() const noexcept { return m_ca_pem; }
    /// Writes ca_pem() to `path` (for clients that load a CA file).
    engine::result<void> write_ca_pem(const std::string& path) const;

    /// A read-only view of a mailbox for tests (count messages per folder); null when the
    /// address is unknown or before start(). Valid while the server lives; its folders
    /// change as mail arrives, on this thread only.
    const builtin::mailbox* mailbox(std::string_view address) const noexcept;
    /// Sessions open right now.
    std::size_t connections() const noexcept { return m_ctx.connections; }

private:
    static engine::task<void> accept_loop(server* self, std::size_t index, engine::scope* sessions);
    static engine::task<void> serve(server* self, std::size_t index, engine::connection c);

    config m_config;
    std::optional<store> m_store;
    std::optional<engine::tls_context> m_tls;
    std::string m_ca_pem;
    std::vector<engine::listener> m_listeners;
    detail::context m_ctx;
    engine::scope* m_running = nullptr;
    bool m_stop = false;
};

} // namespace builtin
