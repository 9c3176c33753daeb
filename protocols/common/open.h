// Opening a client session's connection, the same for SMTP, IMAP and POP3: connect within the
// endpoint's connect_timeout and, with implicit TLS, do the handshake under that deadline too.
// The TLS handshake after STARTTLS/STLS is the same tls_handshake() on its own.
#pragma once

#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/common/endpoint.h"
#include "protocols/common/transcript.h"

#include <cstdint>
#include <optional>

namespace protocols {

/// A connection open_endpoint() made, with what it learnt on the way.
struct opened_endpoint {
    engine::connection conn;
    std::optional<engine::tls_info> tls;   // implicit TLS only
    session_timings timings;               // connect_ms, and tls_ms with implicit TLS
};

/// Refuses an endpoint that asks for TLS without a tls_context (stage tls), connects (stage
/// connect unless resolving failed) and, with tls_mode::implicit, does the TLS handshake; both
/// within ep.connect_timeout. Notes the peer and the handshake in `trace` (may be null). `ep`
/// and `trace` must outlive the task. On failure no connection is left open.
engine::task<engine::result<opened_endpoint>> open_endpoint(const endpoint& ep, transcript* trace);

/// The TLS handshake on `conn`, verifying ep.name_to_verify() with ep.tls_context (which must
/// be set), by `until`; errors carry stage tls. Notes the outcome in `trace` (may be null).
engine::task<engine::result<engine::tls_info>> tls_handshake(engine::connection& conn, const endpoint& ep,
    engine::deadline until, transcript* trace);

/// Milliseconds from `start` until now, as session_timings counts them.
std::int64_t ms_since(engine::clock::time_point start);

} // namespace protocols
