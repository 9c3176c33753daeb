// IMAP client session (RFC 9051 / RFC 3501) on an engine connection: the fetch side of a probe.
// It connects (implicit TLS or a required STARTTLS), reads the greeting and capabilities,
// logs in (XOAUTH2 or OAUTHBEARER for tokens, else AUTHENTICATE PLAIN, else LOGIN), lists mailboxes with their
// RFC 6154 special-use attributes, selects one, finds messages by a header, fetches their
// header blocks, deletes them and can wait for new mail with IDLE. APPEND exists for tests and
// demos that need a message in a mailbox without SMTP.
//
// Every command is tagged and read until its own tagged completion; untagged EXISTS/EXPUNGE
// keep the message count, an untagged BYE ends the session with an error. The untagged
// responses one command may draw are bounded in count and bytes by what the command can
// legitimately produce; a flood beyond that ends the session with an error naming the
// command and the bound, instead of running on until the command's deadline. Every failure is an
// engine::error naming the stage (greeting, tls, auth, fetch, cleanup) and quoting the server
// through printable(). It refuses: a greeting that is neither OK, PREAUTH nor BYE; a STARTTLS
// the server does not offer when tls_mode::starttls asks for it; LOGIN when the server says
// LOGINDISABLED; expunging without UIDPLUS when other messages are flagged \Deleted too.
// Secrets reach the transcript only as their length. Single-threaded: one loop, one command
// at a time; a session must not move while one of its tasks runs.
#pragma once

#include "engine/connection.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/common/endpoint.h"
#include "protocols/common/transcript.h"
#include "protocols/imap/commands.h"
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/response_parser.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace protocols::imap {

/// What SELECT reported. Numbers are 0 when the server did not send them.
struct select_info {
    std::uint32_t exists = 0;
    std::uint32_t uidvalidity = 0;
    std::uint32_t uidnext = 0;
    bool read_only = false;
};

/// One message of a UID FETCH, copied out of the read buffer.
struct fetched_message {
    std::uint32_t uid = 0;
    std::string internal_date;   // "17-Jul-1996 02:44:25 -0700", as the server wrote it
    std::uint64_t size = 0;      // RFC822.SIZE
    std::string section;         // uid_fetch_headers: the raw header block, including its
                                 // empty last line; uid_fetch_messages: the whole message
};

namespace detail {
/// How a command shows in the transcript: the first chunk up to `first_visible` bytes
/// (all of it by default), later chunks (literals) as their length when `later_chunks`.
struct redaction {
    std::size_t first_visible = std::string::npos;
    bool later_chunks = false;
};
} // namespace detail

class session {
public:
    /// Connects, (implicit TLS,) reads the greeting, learns the capabilities, does STARTTLS
    /// when `ep.tls` is starttls (required) and learns the capabilities again. `log` may be
    /// null; it must outlive the session.
    static engine::task<engine::result<session>> connect(endpoint ep, transcript* log);

    session(session&&) noexcept = default;
    session& operator=(session&&) noexcept = default;
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() = default;

    /// Authenticates: AUTHENTICATE XOAUTH2 for oauth2 tokens, OAUTHBEARER when only that is
    /// offered (initial response when SASL-IR is offered), AUTHENTICATE PLAIN when offered, else LOGIN (refused under LOGINDISABLED).
    /// A PREAUTH greeting makes this a no-op. Errors carry stage auth.
    engine::task<engine::result<void>> login(credentials creds);

    /// All mailboxes (LIST "" "*", with RETURN (SPECIAL-USE) when offered), names decoded from
    /// modified UTF-7 to UTF-8 (a name that does not decode is kept as sent). The result works
    /// with find_junk_folder().
    engine::task<engine::result<std::vector<mailbox_info>>> list();

    /// SELECTs the mailbox named `utf8_name` (encoded to modified UTF-7 for the wire).
    engine::task<engine::result<select_info>> select(std::string utf8_name);

    /// UIDs of the selected mailbox's messages whose header `field` contains `value`.
    engine::task<engine::result<std::vector<std::uint32_t>>> uid_search_header(std::string field, std::string value);

    /// UIDs of the selected mailbox's messages whose text (header or body) contains `value`.
    engine::task<engine::result<std::vector<std::uint32_t>>> uid_search_text(std::string value);

    /// UID, INTERNALDATE, RFC822.SIZE and the header block of each of `uids` that still exists
    /// (expunged ones are simply missing), in the server's order.
    engine::task<engine::result<std::vector<fetched_message>>> uid_fetch_headers(std::vector<std::uint32_t> uids);

    /// The same with the whole message (a bounce, to read its report), each as large as the
    /// session's response limit allows.
    engine::task<engine::result<std::vector<fetched_message>>> uid_fetch_messages(std::vector<std::uint32_t> uids);

    /// Flags `uids` \Deleted and expunges them: UID EXPUNGE with UIDPLUS; without it a plain
    /// EXPUNGE only when no other message is flagged \Deleted, else they stay flagged and the
    /// result is a cleanup error saying why. Errors carry stage cleanup.
    engine::task<engine::result<void>> uid_delete(std::vector<std::uint32_t> uids);

    /// IDLE until an untagged EXISTS announces more messages or `until` passes, then DONE;
    /// true when new mail arrived, false on the deadline (the session stays usable either way).
    /// An error when the server does not offer IDLE.
    engine::task<engine::result<bool>> idle(engine::deadline until);

    /// APPENDs `message` (CRLF line endings) to the mailbox `utf8_name`; stage fetch.
    engine::task<engine::result<void>> append(std::string utf8_name, std::string message);

    /// LOGOUT (best effort, one command timeout) and close the connection.
    engine::task<void> logout();

    /// NOOP: a cheap round trip that shows a kept session still works (the server may have
    /// logged it out while it sat idle) and takes in the updates queued meanwhile.
    engine::task<engine::result<void>> noop();
    /// Where the dialogue is recorded from now on: a kept session serves later runs.
    void set_transcript(transcript* log) noexcept { m_log = log; }
    bool is_open() const noexcept { return m_conn.is_open(); }

    /// The current capability list, space separated, as the server last sent it.
    const std::string& capabilities() const noexcept { return m_capabilities; }
    bool has_capability(std::string_view name) const noexcept;
    /// The TLS handshake's facts, when TLS is up.
    const std::optional<engine::tls_info>& tls_info() const noexcept { return m_tls; }
    const session_timings& timings() const noexcept { return m_timings; }
    /// The message count of the selected mailbox, kept current by EXISTS and EXPUNGE.
    std::uint32_t exists() const noexcept { return m_exists; }

private:
    session() = default;

    using redaction = detail::redaction;

    engine::task<engine::result<void>> greet();
    engine::task<engine::result<void>> starttls();
    engine::task<engine::result<void>> refresh_capabilities(engine::stage where);
    engine::task<engine::result<void>> authenticate(std::string mechanism, std::string initial);
    engine::task<engine::result<std::vector<std::uint32_t>>> run_search(std::optional<command> cmd);
    engine::task<engine::result<std::vector<fetched_message>>> run_fetch(std::optional<command> cmd,
        std::vector<std::uint32_t> uids);

    /// Writes `cmd`, waiting for "+" before each synchronizing literal, and logs it.
    engine::task<engine::result<void>> send(command cmd, engine::stage where, std::string what,
                                            redaction hide = {});
    /// The next complete response, after consuming the previous one. Its views stay valid
    /// until the next call of next() or release(). `what` names the command in errors.
    engine::task<engine::result<response>> next(engine::deadline until, engine::stage where, std::string_view what,
        bool quiet_ok = false);
    /// Consumes the response last returned by next().
    void release() noexcept;
    /// Bookkeeping every response gets: EXISTS, EXPUNGE, CAPABILITY; an error for BYE.
    std::optional<engine::error> observe(const response& r, engine::stage where);
    /// next(), then observe(): the response, or the error reading it or its BYE ended with.
    engine::task<engine::result<response>> next_observed(engine::deadline until, engine::stage where,
        std::string_view what);
    /// OK: nothing; NO/BAD: the error for stage `where`, quoting the server.
    static std::optional<engine::error> completion_error(const response& r, engine::stage where,
                                                          std::string_view what);
    /// Reads up to the tagged completion of `tag` (one command timeout from now), passing
    /// each untagged response to `on_data` (returns std::optional<engine::error>).
    template <class OnData>
    engine::task<engine::result<void>> complete(std::string tag, std::string what, engine::stage where,
                                                OnData on_data);
    /// Reads up to a continuation request; the tagged completion of `tag` instead is an error.
    engine::task<engine::result<void>> wait_continuation(std::string tag, std::string what, engine::stage where);
    void set_capabilities(std::string_view caps);
    /// Sets the untagged bound of a new command: the base, plus one EXPUNGE per message the
    /// selected mailbox holds (other clients may expunge them all).
    void reset_untagged() noexcept;
    /// Raises the untagged bound of the command just sent by `items` answers of up to
    /// `item_bytes` each (FETCH of N messages, LIST of many mailboxes).
    void allow_untagged(std::size_t items, std::uint64_t item_bytes) noexcept;
    /// Reserves a tag from the builder for a command it cannot build (APPEND, SEARCH DELETED).
    std::string reserve_tag();
    engine::deadline command_deadline() const;

    engine::connection m_conn;
    endpoint m_endpoint;
    transcript* m_log = nullptr;
    response_parser m_parser;
    command_builder m_builder;
    std::string m_capabilities;
    std::optional<engine::tls_info> m_tls;
    session_timings m_timings;
    /// What the command in flight may still draw in untagged responses; send() resets it.
    struct untagged_budget {
        std::uint64_t responses = 0;
        std::uint64_t bytes = 0;
        std::uint64_t max_responses = 0;   // the bound, for the error message
        std::uint64_t max_bytes = 0;
    };
    untagged_budget m_untagged;
    std::string m_last_code;          // response code of the last tagged completion
    std::size_t m_pending_consume = 0;
    std::size_t m_capability_updates = 0;
    std::uint32_t m_exists = 0;
    bool m_preauth = false;
};

} // namespace protocols::imap
