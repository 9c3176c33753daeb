// What a client session needs to reach a server and log in: address, TLS mode, timeouts
// and credentials. Shared by the SMTP, IMAP and POP3 sessions. Secrets live only in
// `credentials::secret` and are never printed (transcripts redact them).
#pragma once

#include "engine/tls.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace protocols {

enum class tls_mode : std::uint8_t {
    none,       // plaintext (STARTTLS not attempted even when offered)
    starttls,   // plaintext, then STARTTLS/STLS is required: refusing it is a tls-stage Down
    implicit,   // TLS from the first byte (465, 993, 995)
};

struct endpoint {
    std::string host;                    // a name or an IP literal (no brackets)
    std::uint16_t port = 0;
    tls_mode tls = tls_mode::starttls;
    std::string verify_name;             // the name the certificate must carry; empty: host
    std::optional<engine::tls_context> tls_context;   // required unless tls == none
    std::chrono::milliseconds connect_timeout{10'000};   // DNS + TCP + TLS handshake
    std::chrono::milliseconds command_timeout{30'000};   // each command's reply

    const std::string& name_to_verify() const noexcept { return verify_name.empty() ? host : verify_name; }
};

struct credentials {
    enum class kind : std::uint8_t { password, oauth2_token };
    std::string user;
    std::string secret;                  // password or bearer token; never logged
    kind type = kind::password;
};

/// Milliseconds each phase of a session took; 0 when the phase did not happen.
struct session_timings {
    std::int64_t connect_ms = 0;   // resolve + TCP connect
    std::int64_t tls_ms = 0;       // handshake (implicit or after STARTTLS)
    std::int64_t greeting_ms = 0;  // connect done until the greeting (and capabilities)
    std::int64_t auth_ms = 0;
};

} // namespace protocols
