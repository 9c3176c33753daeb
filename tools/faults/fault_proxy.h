// faults::proxy: a TCP proxy on loopback that sits in front of a real listener (usually a
// built-in server's) and breaks the conversation on purpose, for the hardening tests and
// soak runs. A connection passes through untouched until its fault fires: at accept, or when
// the client's byte stream first contains a trigger ("AUTH", "DATA\r\n", "FETCH"). From then
// on the server's bytes are stalled, dripped, replaced by canned or flooded bytes, or both
// sides are reset. The client's bytes keep flowing to the server (only a reset stops them).
//
// Triggers see the client's bytes as sent, so they only work on plain-text listeners; a
// TLS listener can still be broken at accept (never greet, a bad TLS record).
//
// What it refuses: names (the upstream is an IP literal; the proxy binds 127.0.0.1 only) and
// unbounded work: a flood stops after its count or 64 MB, and the proxy holds no more than
// what one read delivered plus a drip queue of at most 1 MB per connection.
//
// Written on raw libuv rather than engine::connection because a proxy must read both sides
// at once and the engine allows one operation per connection. Runs on the thread's engine
// loop; destroy it before the loop (its close callbacks free its memory on the loop).
//
//   auto p = faults::proxy::start("127.0.0.1", srv.port("smtp"), faults::reset_on("AUTH"));
//   ... point the client at 127.0.0.1:p.port() ...
#pragma once

#include "engine/result.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace faults {

enum class action : std::uint8_t {
    stall,         // forward no more server bytes; keep the connection open (never greet, go silent)
    stall_after,   // forward `count` more server bytes, then stall (silent mid-reply)
    drip,          // forward the server's bytes one per `interval`
    reset,         // reset both sides (TCP RST to the client)
    send,          // send `bytes` instead of what the server says, then stall
    flood,         // send `bytes` `count` times (0: until the client leaves or 64 MB went), then stall
    play,          // send `bytes`, then end the stream (FIN) and read the client until it leaves:
                   // a server that says its piece and hangs up (the session fuzzers' peer)
};

struct fault {
    action what = action::stall;
    std::string trigger;          // empty: at accept; else the client bytes that fire it (ASCII case-insensitive)
    std::string bytes;            // send, flood
    std::size_t count = 0;        // stall_after: bytes; flood: repetitions
    std::chrono::milliseconds interval{1000};   // drip
    std::size_t connections = 0;  // how many connections are faulty, the first ones; 0: all
};

/// The faults by name (the struct's fields all set; set `connections` afterwards to limit one).
inline fault make(action what, std::string trigger = {}, std::string bytes = {}, std::size_t count = 0)
{
    return fault{what, std::move(trigger), std::move(bytes), count, std::chrono::milliseconds(1000), 0};
}
inline fault stall() { return make(action::stall); }
inline fault stall_after(std::size_t bytes) { return make(action::stall_after, {}, {}, bytes); }
inline fault drip(std::chrono::milliseconds interval)
{
    fault f = make(action::drip);
    f.interval = interval;
    return f;
}
inline fault reset_on(std::string trigger) { return make(action::reset, std::move(trigger)); }
inline fault send(std::string bytes, std::string trigger = {}) { return make(action::send, std::move(trigger), std::move(bytes)); }
inline fault flood(std::string unit, std::size_t count, std::string trigger = {})
{
    return make(action::flood, std::move(trigger), std::move(unit), count);
}
inline fault play(std::string bytes) { return make(action::play, {}, std::move(bytes)); }

/// A flood without a count ends here, so a client that never gives up cannot make a test
/// run forever.
inline constexpr std::size_t max_flood_bytes = 64 * 1024 * 1024;

class proxy {
public:
    /// Binds 127.0.0.1 on a free port in front of `upstream_ip`:`upstream_port` (a literal)
    /// on this thread's engine loop. Port 0: no upstream, the fault alone plays the server
    /// (the client's bytes are read and dropped). Errors carry stage connect.
    static engine::result<proxy> start(const std::string& upstream_ip, std::uint16_t upstream_port, fault f);

    proxy() = default;
    proxy(proxy&& other) noexcept;
    proxy& operator=(proxy&& other) noexcept;
    proxy(const proxy&) = delete;
    proxy& operator=(const proxy&) = delete;
    /// Closes the listener and every connection; memory goes in their close callbacks.
    ~proxy();

    std::uint16_t port() const noexcept { return m_port; }
    /// Connections accepted so far.
    std::size_t accepted() const noexcept;
    /// Faults fired so far (a test's proof that it broke what it meant to break).
    std::size_t fired() const noexcept;

    struct state;

private:
    state* m_state = nullptr;
    std::uint16_t m_port = 0;
};

} // namespace faults
