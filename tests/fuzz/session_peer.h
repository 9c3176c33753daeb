// What the session-level fuzz targets share: a server that plays the fuzzer's bytes to one
// client over loopback (a faults::proxy in play mode: the bytes, then FIN) on a fresh engine
// loop per input, and the checks every session must pass whatever the server said.
#pragma once

#include "engine/error.h"
#include "engine/loop.h"
#include "engine/task.h"
#include "protocols/common/endpoint.h"
#include "tools/faults/fault_proxy.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace fuzz_session {

/// Longer inputs are cut: a session's behaviour past its response limits is covered by the
/// parsers' own targets, and short inputs keep the executions fast.
inline constexpr std::size_t max_input = 64 * 1024;

/// The test password, and how PLAIN and LOGIN would carry it in base64.
inline constexpr std::string_view secret = "fuzz-secret";
inline constexpr std::string_view secret_forms[] = {
    "fuzz-secret", "AHByb2JlAGZ1enotc2VjcmV0", "ZnV6ei1zZWNyZXQ=",
};

inline void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

/// What the server says in the current input: a secret form it says itself may come back
/// in a transcript or an error quoting it, and that is no leak.
inline std::string_view server_said;

/// No secret in `text` (a transcript, an error message) that the server did not say first.
inline void check_no_secret(std::string_view text)
{
    for (auto form : secret_forms) {
        check(server_said.find(form) != std::string_view::npos || text.find(form) == std::string_view::npos);
    }
}

/// A failure names its stage and keeps the secret out of its words.
inline void check_error(const engine::error& e)
{
    check(e.where != engine::stage::none);
    check_no_secret(e.message);
}

/// check_error() for a failed step of a session.
template <class T>
void check_outcome(const engine::result<T>& r)
{
    if (!r) {
        check_error(r.err());
    }
}

/// The test login: the secret as a bearer token when `token`, else as a password.
inline protocols::credentials login_with(bool token)
{
    return {"probe", std::string(secret),
        token ? protocols::credentials::kind::oauth2_token : protocols::credentials::kind::password};
}

/// Plain TCP to `port` with deadlines short enough for a fuzzer: the peer hangs up after its
/// bytes, so only a client that waits for nothing would run into them.
inline protocols::endpoint endpoint_on(std::uint16_t port)
{
    protocols::endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = port;
    ep.tls = protocols::tls_mode::none;
    ep.connect_timeout = std::chrono::milliseconds(500);
    ep.command_timeout = std::chrono::milliseconds(250);
    return ep;
}

/// Plays `server_bytes` to the client that `client(port)` runs, on a loop of its own.
template <class Client>
void play(std::string_view server_bytes, Client client)
{
    server_bytes = server_bytes.substr(0, max_input);
    server_said = server_bytes;
    engine::loop loop;
    auto peer = faults::proxy::start("127.0.0.1", 0, faults::play(std::string(server_bytes)));
    check(static_cast<bool>(peer));
    loop.run(client(peer->port()));
}

/// The body of each target's LLVMFuzzerTestOneInput: byte 0 is the request's shape, the rest
/// what the server says; `client(port, shape)` makes the session's task.
template <class Client>
int run_input(const std::uint8_t* data, std::size_t size, Client client)
{
    if (size < 1) {
        return 0;
    }
    const std::uint8_t shape = data[0];
    play(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
        [&client, shape](std::uint16_t port) { return client(port, shape); });
    return 0;
}

} // namespace fuzz_session
