// A POP3 client session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH) on an
// engine::connection: the fetch side of a probe. It connects (implicit TLS, or STLS which it
// then requires), reads the greeting and the capabilities, logs in (AUTH XOAUTH2 for bearer
// tokens, OAUTHBEARER when only that is offered, AUTH PLAIN when offered, else USER/PASS), lists, reads and marks messages, and
// QUITs, which is the only moment a POP3 server really deletes anything.
//
// Every wait has a deadline: the connect phase (resolve, TCP, TLS) shares
// endpoint::connect_timeout, each reply endpoint::command_timeout from when its command was
// sent. Every failure is an engine::error tagged with the stage it happened in (greeting,
// tls, auth, fetch, cleanup) that quotes the server's own words through printable(). It
// refuses: a STARTTLS endpoint whose server does not upgrade, TLS without a tls_context, a
// bearer token for a server that offers neither XOAUTH2 nor OAUTHBEARER, malformed replies or listings.
// Passwords and tokens reach neither the transcript nor any error.
#pragma once

#include "engine/connection.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/common/endpoint.h"
#include "protocols/common/sasl.h"
#include "protocols/common/transcript.h"
#include "protocols/pop3/listing.h"
#include "protocols/pop3/reply_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::pop3 {

/// STAT: messages in the maildrop (not counting those marked deleted) and their octets.
struct stat_info {
    std::uint32_t count = 0;
    std::uint64_t octets = 0;
};

/// One UIDL line, copied out of the read buffer.
struct uidl_entry {
    std::uint32_t msgno = 0;
    std::string uid;
    friend bool operator==(const uidl_entry&, const uidl_entry&) = default;
};

/// One POP3 conversation. Move-only; one operation at a time, each awaited before the next
/// (the connection allows no overlap). Runs on the thread of the engine loop that created it.
/// After a failed operation the session may be out of step with the server: the caller
/// closes it (close() or destruction) rather than going on.
class session {
public:
    session(session&&) noexcept = default;
    session& operator=(session&&) noexcept = default;
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Connects, reads the +OK greeting (noting an APOP timestamp), asks CAPA (a -ERR is an
    /// RFC 1939 server without capabilities, not a failure), upgrades with STLS when
    /// `ep.tls` is starttls (and asks CAPA again over TLS) or starts TLS at once when it is
    /// implicit. `log` may be null; when given it must outlive the session. `limits` bound
    /// every reply (the read buffer may grow to one whole body, max_body_bytes).
    static engine::task<engine::result<session>> connect(endpoint ep, transcript* log, reply_limits limits = {});

    /// Logs in: a bearer token with AUTH XOAUTH2, or OAUTHBEARER when CAPA lists only that
    /// (answering an error challenge with an empty line, or ^A for OAUTHBEARER, so the server
    /// sends its -ERR), a password with AUTH PLAIN when CAPA lists SASL
    /// PLAIN, else USER/PASS. Failures are stage auth; [SYS/TEMP], [IN-USE] and
    /// [LOGIN-DELAY] are transient.
    engine::task<engine::result<void>> login(credentials creds);

    /// STAT (stage fetch).
    engine::task<engine::result<stat_info>> stat();
    /// UIDL for the whole maildrop, in the server's order (stage fetch).
    engine::task<engine::result<std::vector<uidl_entry>>> uidl();
    /// TOP msgno 0: the header block, dot-unstuffed, lines ended by CRLF (stage fetch).
    engine::task<engine::result<std::string>> top_headers(std::uint32_t msgno);
    /// RETR msgno: the whole message, dot-unstuffed, lines ended by CRLF (stage fetch).
    engine::task<engine::result<std::string>> retr(std::uint32_t msgno);
    /// DELE msgno only MARKS the message; the server deletes it when QUIT succeeds (stage
    /// cleanup).
    engine::task<engine::result<void>> dele(std::uint32_t msgno);
    /// QUIT, then closes the connection. "+OK" commits the deletions; a -ERR, a timeout or
    /// a lost connection means they did not happen, reported as a stage cleanup error.
    engine::task<engine::result<void>> quit();
    /// Drops the connection without QUIT: messages marked with DELE stay in the maildrop.
    engine::task<void> close();

    /// What the last CAPA announced (over TLS when TLS is up); empty when the server refused
    /// CAPA (see capa_supported()).
    const pop3::capabilities& capabilities() const noexcept { return m_caps; }
    bool capa_supported() const noexcept { return m_capa_supported; }
    /// The greeting's "<...>" APOP timestamp, empty when there was none.
    const std::string& apop_timestamp() const noexcept { return m_apop_timestamp; }
    /// The handshake's facts when TLS is up.
    const std::optional<engine::tls_info>& tls_info() const noexcept { return m_tls; }
    const session_timings& timings() const noexcept { return m_timings; }
    /// Messages marked with DELE and not yet committed by QUIT.
    std::uint32_t marked_for_deletion() const noexcept { return m_marked; }

private:
    session(endpoint ep, transcript* log, reply_limits limits);

    engine::task<engine::result<void>> greet_and_upgrade();
    engine::task<engine::result<void>> read_capabilities();
    engine::task<engine::result<void>> send(std::string line, engine::stage where, std::size_t secret_from);
    /// Reads the next reply of `kind`; the reply's views stay valid until the next call.
    /// `log_body`: the transcript gets the whole body, not just its size.
    engine::task<engine::result<const reply*>> read_reply(reply_kind kind, engine::stage where, std::string what,
        bool log_body);
    engine::task<engine::result<const reply*>> command(std::string line, reply_kind kind, engine::stage where,
        bool log_body = false);
    engine::task<engine::result<void>> authenticate(sasl::mechanism mech, std::string response);
    engine::task<engine::result<void>> user_pass(credentials creds);
    engine::task<engine::result<std::string>> fetch_body(std::string line);

    void log_sent(std::string_view line, std::size_t secret_from);

    endpoint m_ep;
    transcript* m_log = nullptr;
    engine::connection m_conn;
    reply_parser m_parser;
    std::size_t m_max_buffer = 0;
    std::size_t m_unconsumed = 0;   // bytes of the last reply, consumed when the next is read
    engine::deadline m_reply_due{};
    pop3::capabilities m_caps;
    bool m_capa_supported = false;
    std::string m_apop_timestamp;
    std::optional<engine::tls_info> m_tls;
    session_timings m_timings;
    std::uint32_t m_marked = 0;
};

} // namespace protocols::pop3
