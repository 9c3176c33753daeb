// Name resolution: static hosts (loop::add_host), then IP literals, then a per-loop cache of
// looked-up names in front of the system resolver (uv_getaddrinfo on libuv's thread pool).
//
// getaddrinfo() gives no TTL, so a looked-up name is kept for a fixed, configurable time and
// a failed lookup for a short one; concurrent resolves of one name share a single lookup, so
// a thousand probes to one server cost one lookup per TTL. Every wait has its caller's
// deadline; a lookup still running in the pool when every waiter gave up finishes later and
// fills the cache. The cache holds one entry per name ever looked up (the scenario's hosts).
#pragma once

#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

namespace engine {

struct address {
    sockaddr_storage storage{};
    const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    /// "127.0.0.1:25" or "[::1]:25".
    std::string to_string() const;
};

/// An IP literal (no brackets) as an address, or nothing when `host` is not one.
std::optional<address> parse_ip(const std::string& host, std::uint16_t port);

using lookup_result = result<std::vector<address>>;
/// Looks `host` up and calls `done` once, on the loop's thread (possibly before returning).
/// Ports in the addresses are ignored. The default asks getaddrinfo.
using lookup_fn = std::function<void(const std::string& host, std::function<void(lookup_result)> done)>;

struct dns_settings {
    std::chrono::milliseconds ttl{60'000};            // how long a found name is reused
    std::chrono::milliseconds negative_ttl{5'000};    // how long a failed lookup is remembered
    lookup_fn lookup;                                 // empty: the system resolver
};

/// The names a loop has looked up. One per loop (loop::dns()); loop thread only.
class dns_cache {
public:
    dns_cache() = default;
    dns_cache(const dns_cache&) = delete;
    dns_cache& operator=(const dns_cache&) = delete;

    /// New settings apply to lookups that start from now on; cached names are forgotten.
    void configure(dns_settings s);
    /// How long names looked up from now on are reused (the scenario's defaults.dns_ttl).
    void set_ttl(std::chrono::milliseconds ttl) noexcept { m_settings.ttl = ttl; }
    /// Lookups started (cache misses that were not joined to one in flight), for tests and
    /// metrics.
    std::uint64_t lookups() const noexcept { return m_lookups; }

    /// The addresses of `host` (without ports): cached, joined to a lookup in flight, or
    /// looked up now. Errors carry stage resolve.
    task<lookup_result> find(std::string host, deadline until);

private:
    struct entry {
        std::optional<lookup_result> outcome;   // empty while the lookup runs
        clock::time_point expires{};
        std::vector<std::stop_source*> waiting;   // woken when the outcome arrives
    };

    void complete(const std::string& host, const std::shared_ptr<entry>& e, lookup_result r);

    dns_settings m_settings;
    std::map<std::string, std::shared_ptr<entry>, std::less<>> m_entries;
    std::uint64_t m_lookups = 0;
};

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port, deadline until);

} // namespace engine
