// The SMTP client session of a probe: connect, read the greeting, EHLO (HELO when EHLO is
// refused with 500/502), STARTTLS and EHLO again, AUTH, one mail transaction (MAIL FROM, RCPT
// TO for each recipient, DATA with the dot-stuffed message), QUIT. With PIPELINING offered,
// MAIL, every RCPT and DATA go out in one write and their replies are read in order
// (RFC 2920). Everything a probe needs to prove the submission worked goes into the report:
// phase timings, TLS details, the capabilities seen and the server's final words.
//
// It refuses to go on when tls_mode::starttls is asked and the server does not offer
// STARTTLS, when credentials are given and the server offers no usable AUTH mechanism, and
// when any recipient is refused: a probe either delivers to all its recipients or fails.
// Every failure is an engine::error naming the stage (greeting, tls, auth, send, ...) with the
// server's reply in printable form. Secrets (passwords, tokens, SASL responses) never reach
// the transcript, errors or the report.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/common/endpoint.h"
#include "protocols/common/transcript.h"
#include "protocols/smtp/capabilities.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::smtp {

struct send_request {
    endpoint server;
    /// Password credentials log in with PLAIN (preferred) or LOGIN; an oauth2_token logs in
    /// with XOAUTH2, or with OAUTHBEARER (RFC 7628) when the server offers only that. None:
    /// no AUTH at all.
    std::optional<credentials> auth;
    std::string helo_name;                 // our EHLO name, e.g. "probe.example.org" or "[127.0.0.1]"
    std::string mail_from;                 // reverse path without brackets; empty: "<>"
    std::vector<std::string> recipients;   // at least one
    std::string message;                   // RFC 5322 with CRLF line ends (dot-stuffed here)
};

struct send_report {
    session_timings timings;   // tls_ms: the handshake; with STARTTLS also its command and
                               // the EHLO after it. greeting_ms: greeting and the first EHLO.
    std::int64_t transaction_ms = 0;   // MAIL FROM sent until the reply after the data
    std::int64_t total_ms = 0;         // the whole session, connect to close
    std::optional<engine::tls_info> tls;
    capabilities caps;                 // the last EHLO's (after STARTTLS when it ran)
    std::string final_reply;           // printable reply after the data: "250 2.0.0 Ok: queued as 4XyZ"
    std::string queue_id;              // taken from final_reply when it names one, else empty
};

/// Submits `request.message` in one SMTP session. Runs on the thread's engine loop; all waits
/// have deadlines (connect phase: server.connect_timeout; each reply: server.command_timeout
/// from when its command was sent, plus time for the data at a minimum rate). `trace`, when
/// not null, must outlive the task; it receives the dialogue with secrets redacted.
engine::task<engine::result<send_report>> send(send_request request, transcript* trace);

/// The queue id in a final DATA reply's printable text, or empty: Postfix "queued as ID",
/// Exim "id=ID", Gmail "OK <time> ID - gsmtp", Microsoft 365 "OK <ID> [Hostname=...]".
/// The result is a view into `reply_text`.
std::string_view queue_id_from_reply(std::string_view reply_text) noexcept;

} // namespace protocols::smtp
