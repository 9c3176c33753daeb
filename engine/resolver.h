// Name resolution: static hosts (loop::add_host), then IP literals, then the system
// resolver (uv_getaddrinfo on libuv's thread pool). The lookup has a deadline; a lookup
// still running in the pool at the deadline is abandoned and frees itself later.
#pragma once

#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"

#include <sys/socket.h>

#include <cstdint>
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

task<result<std::vector<address>>> resolve(std::string host, std::uint16_t port, deadline until);

} // namespace engine
