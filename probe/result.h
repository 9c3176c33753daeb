// What one round trip of a probe found out: the verdict (Up, Warning, Down), where it broke
// and why in human words, the server's own words, and the evidence (phase timings, the
// Received hops with their delays, TLS facts per server, warnings, a transcript when
// tracing). Plain values only: reporters read it without the engine or the protocols.
//
// Nothing here holds a secret: every string in a result is either ours or server text that
// already went through protocols::printable(); transcripts redact credentials.
#pragma once

#include "engine/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace probe {

enum class status : std::uint8_t {
    up,        // the probe arrived in the inbox and nothing deserves attention
    warning,   // it arrived, but something needs attention (see result::warnings)
    down,      // it did not arrive (or a stage failed); result::stage says where
    pending,   // next-poll mode: this run's message is sent and no earlier one was due yet
};

std::string_view to_string(status s) noexcept;

/// One Received: hop of the delivered message, oldest first; over IMAP a last one for the
/// store, timed by the message's INTERNALDATE.
struct hop {
    std::string by;                       // the relay that wrote the field (printable); for
                                          // the store hop the fetch server's scenario name
    std::optional<std::int64_t> delay_ms; // since the previous hop (first hop: since Date)
    bool skewed = false;                  // negative delay: this relay's clock is behind
    bool store = false;                   // the store hop (INTERNALDATE), not a Received field
};

/// The TLS facts of one server the probe talked to.
struct tls_report {
    std::string server;                   // the scenario's server name
    std::string version;                  // "TLSv1.3"
    std::string cipher;
    std::int64_t cert_not_after = 0;      // unix seconds; 0 when there was no certificate
    bool verified = false;
    bool insecure = false;
};

/// Milliseconds per phase; 0 when the phase did not happen.
struct timings {
    std::int64_t smtp_connect = 0;
    std::int64_t smtp_tls = 0;
    std::int64_t smtp_auth = 0;
    std::int64_t smtp_transaction = 0;    // MAIL FROM until the reply after the data
    std::int64_t delivery = 0;            // our clock: the 250 after DATA until first seen
    std::int64_t fetch = 0;               // the fetch session (IMAP: login and the finding
                                          // round; POP3: the finding session)
    std::int64_t total = 0;               // the whole round trip, cleanup included
};

struct result {
    std::string tenant;
    std::string probe;
    int topology = 0;
    status outcome = status::down;
    engine::stage stage = engine::stage::none;   // none when up
    std::string reason;                   // "filed as spam in Junk", "not delivered within 60 s"
    std::string server_reply;             // the server's own words, printable; may be empty
    std::optional<engine::errc> code{};   // set when a stage failed: what the engine saw
    std::string failed_server{};          // the scenario server a failed stage talked to
    std::string probe_id;                 // the UUIDv7 of this run's message
    bool next_poll = false;               // sent by this run, looked for by the next one:
                                          // delivery is then "seen by", not "arrived after"
    std::string folder;                   // where the message was found; empty if not found
    bool sent = false;                    // the SMTP server accepted this run's message (the
                                          // 250 after DATA): a later Down is not a send failure
    bool fetch_session_kept = false;      // IMAP keep_session: this run polled in a session an
                                          // earlier run logged in, so it did not log in itself
    timings ms;
    std::vector<hop> hops;
    std::int64_t max_clock_skew_ms = 0;   // the largest clock disagreement the server times
                                          // show: a backwards step between hops, or an
                                          // INTERNALDATE outside the span our clock saw
    std::vector<tls_report> tls;          // send server first, then the fetch server
    std::optional<std::int64_t> cert_days_left;  // the soonest expiry among tls
    std::vector<std::string> warnings;    // why a result is a warning (also kept on down)
    std::string transcript;               // the dialogues, secrets redacted; only when tracing
};

} // namespace probe
