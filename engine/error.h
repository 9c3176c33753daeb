// Errors as values. Every failure on the I/O path becomes an engine::error that says at
// which stage it happened, a machine-readable code and a human message; nothing on that
// path throws through the loop. Exceptions are left for bugs and allocation failure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace engine {

/// Where a probe can fail, in lifecycle order. The engine itself sets resolve, connect and
/// tls; read and write errors carry `none` until the session that saw them names its stage.
enum class stage : std::uint8_t {
    none,
    scenario,
    schedule,   // the run did not start: a run limit stayed full until the probe's next start
    resolve,
    connect,
    tls,
    greeting,
    auth,
    send,
    deliver,
    fetch,
    cleanup,
};

enum class errc : std::uint8_t {
    timed_out,           // the deadline of the operation passed
    cancelled,           // a stop was requested; neither a success nor a server failure
    resolve_failed,      // the name does not resolve (or the resolver failed)
    refused,             // nothing listens there
    unreachable,         // no route, host down
    reset,               // the peer reset the connection
    closed,              // the peer closed the connection when more was expected
    io,                  // any other socket error
    buffer_full,         // a response outgrew the connection's buffer limit
    tls_handshake,       // the TLS handshake failed (protocol version, cipher, alert)
    cert_untrusted,      // the chain does not lead to a trusted CA
    cert_name_mismatch,  // the certificate is not for the name we verify
    cert_expired,
    cert_not_yet_valid,
    tls_protocol,        // a TLS error after the handshake
    protocol,            // the server broke its protocol's grammar
    rejected,            // the server answered with a failure reply
    auth_failed,         // credentials refused
    not_found,           // the probe message did not arrive in time
    invalid_argument,    // our own input is unusable (a bad address, host or option)
};

std::string_view to_string(stage s) noexcept;
std::string_view to_string(errc c) noexcept;

struct error {
    stage where = stage::none;
    errc code = errc::io;
    std::string message;   // human words; server text in it has gone through printable()

    /// The same error, attributed to `s` unless a stage was already known.
    error at(stage s) && { if (where == stage::none) { where = s; } return std::move(*this); }

    /// Worth retrying later: timeouts, refused or reset connections, 4xx replies.
    bool transient = false;

    /// "tls: cert_expired: certificate has expired" — for logs and results.
    std::string describe() const;
};

/// Builds an error; `transient` is derived from the code unless given.
error make_error(stage where, errc code, std::string message);

} // namespace engine
