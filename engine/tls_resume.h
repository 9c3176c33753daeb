// Client TLS session resumption, for load runs only: a context made to resume offers the last
// session ticket it received when it connects again, so a connection costs an abbreviated
// handshake instead of a full one. One server per context. Probes never use it: a resumed
// handshake shows the certificate of the session it resumes, and a monitor must see the
// server's certificate every time.
#pragma once

#include "engine/tls.h"

namespace engine {

/// From now on, connections made with `ctx` (a client context) resume its last session.
void resume_sessions(const tls_context& ctx);

} // namespace engine
