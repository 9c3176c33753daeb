// POP3 client session: see session.h for the contract.
//
// The conversation follows RFC 1939's states, with the RFC 2449, 2595 and 5034 extensions:
//
//   AUTHORIZATION   greeting   = "+OK" [SP text] CRLF        ; may carry an APOP <timestamp>
//                   CAPA       -> "+OK" CRLF *capa-line "." CRLF   | "-ERR" (RFC 1939 server)
//                   STLS       -> "+OK", then the TLS handshake; CAPA again (RFC 2595 sec. 4)
//                   AUTH mechanism [SP initial-response]       ; RFC 5034 section 4
//                       *("+" SP base64 CRLF -> base64 / "*" CRLF)  -> "+OK" / "-ERR"
//                   USER name -> PASS string
//   TRANSACTION     STAT, UIDL, TOP msg 0, RETR msg, DELE msg
//   UPDATE          QUIT -> "+OK": only now does the server remove the DELE'd messages; a
//                   session that ends any other way leaves the maildrop as it was (sec. 6).
//
// Each reply is parsed in place in the connection's buffer and consumed only when the next
// reply is read, so the reply a caller inspects stays valid until its next command.
#include "protocols/pop3/session.h"

#include "protocols/common/open.h"
#include "protocols/common/sanitize.h"
#include "protocols/pop3/commands.h"

#include <fmt/format.h>

#include <utility>

namespace protocols::pop3 {

using engine::errc;
using engine::error;
using engine::make_error;
using engine::result;
using engine::stage;
using engine::task;

namespace {

constexpr std::size_t not_secret = static_cast<std::size_t>(-1);

/// The command as named in errors: the line without CRLF (never a secret line: those are
/// named by their verb only).
std::string command_name(std::string_view line)
{
    auto end = line.find_first_of("\r\n");
    return std::string(line.substr(0, end));
}

/// A -ERR reply as an error at `where`. Response codes decide the code and permanence:
/// a locked maildrop, a login delay or a temporary system failure is worth retrying.
error reply_error(const reply& r, stage where, std::string_view what)
{
    errc code = where == stage::auth ? errc::auth_failed : errc::rejected;
    bool transient = false;
    switch (r.code) {
    case response_code::in_use:
    case response_code::login_delay:
    case response_code::sys_temp:
        code = errc::rejected;
        transient = true;
        break;
    case response_code::sys_perm:
        code = errc::rejected;
        break;
    case response_code::none:
    case response_code::auth:
    case response_code::other:
        break;
    }
    auto e = make_error(where, code, fmt::format("{}: -ERR {}", what, printable(r.text)));
    e.transient = transient;
    return e;
}

/// Copies a multi-line body dot-unstuffed, each line ended by CRLF.
std::string unstuffed_copy(const body_lines& body)
{
    std::string out;
    out.reserve(body.raw().size());
    for (std::string_view line : body) {
        out.append(line);
        out.append("\r\n");
    }
    return out;
}

} // namespace

session::session(endpoint ep, transcript* log, reply_limits limits)
    : m_ep(std::move(ep)), m_log(log), m_parser(limits),
      // The parser hands out views, so one whole reply (a RETR body) must fit in the buffer.
      m_max_buffer(limits.max_body_bytes + 2 * limits.max_line)
{
}

task<result<session>> session::connect(endpoint ep, transcript* log, reply_limits limits)
{
    session s(std::move(ep), log, limits);
    auto r = co_await s.greet_and_upgrade();
    if (!r) {
        co_await s.m_conn.close();
        co_return std::move(r).err();
    }
    co_return std::move(s);
}

task<result<void>> session::greet_and_upgrade()
{
    auto o = co_await open_endpoint(m_ep, m_log);
    if (!o) {
        co_return std::move(o).err();
    }
    m_conn = std::move(o->conn);
    m_conn.set_max_buffer(m_max_buffer);
    m_timings = o->timings;
    m_tls = std::move(o->tls);

    auto greeting_start = engine::clock::now();
    m_reply_due = engine::after(m_ep.command_timeout);
    auto g = co_await read_reply(reply_kind::single_line, stage::greeting, "the greeting", false);
    if (!g) {
        co_return std::move(g).err();
    }
    if (!(*g)->ok()) {
        co_return reply_error(**g, stage::greeting, "greeting");
    }
    if (auto ts = find_apop_timestamp((*g)->text); ts.error == listing_error::none) {
        m_apop_timestamp = std::string(ts.value);
    }
    if (auto caps = co_await read_capabilities(); !caps) {
        co_return std::move(caps).err();
    }

    if (m_ep.tls == tls_mode::starttls) {
        // The upgrade is required: a server that does not offer it fails the probe rather
        // than letting credentials cross in clear text.
        if (m_capa_supported && !m_caps.stls) {
            co_return make_error(stage::tls, errc::rejected, "server does not offer STARTTLS (no STLS in CAPA)");
        }
        std::string line;
        append_stls(line);
        auto r = co_await command(std::move(line), reply_kind::single_line, stage::tls);
        if (!r) {
            co_return std::move(r).err();
        }
        if (!(*r)->ok()) {
            co_return make_error(stage::tls, errc::rejected,
                fmt::format("server does not offer STARTTLS: STLS: -ERR {}", printable((*r)->text)));
        }
        // The +OK is used up; anything after it would be injected plaintext, which
        // start_tls refuses.
        m_conn.consume(std::exchange(m_unconsumed, 0));
        auto t0 = engine::clock::now();
        auto info = co_await tls_handshake(m_conn, m_ep, engine::after(m_ep.connect_timeout), m_log);
        if (!info) {
            co_return std::move(info).err();
        }
        m_timings.tls_ms = ms_since(t0);
        m_tls = std::move(*info);
        // RFC 2595 section 4: capabilities learned before TLS are forgotten.
        if (auto caps = co_await read_capabilities(); !caps) {
            co_return std::move(caps).err();
        }
    }
    m_timings.greeting_ms = ms_since(greeting_start) - (m_ep.tls == tls_mode::starttls ? m_timings.tls_ms : 0);
    co_return result<void>{};
}

task<result<void>> session::read_capabilities()
{
    std::string line;
    append_capa(line);
    // The capability list is short and is evidence of what the server offered: it goes into
    // the transcript whole, unlike message bodies.
    auto r = co_await command(std::move(line), reply_kind::multi_line, stage::greeting, true);
    if (!r) {
        co_return std::move(r).err();
    }
    m_caps = {};
    m_capa_supported = (*r)->ok();
    if (m_capa_supported) {
        m_caps = parse_capabilities((*r)->body);
        if (m_caps.error != listing_error::none && m_log) {
            // Not fatal: the probe uses the capabilities it understood.
            m_log->note(fmt::format("CAPA line {} ignored: {}", m_caps.error_line, describe(m_caps.error)));
        }
    }
    co_return result<void>{};
}

void session::log_sent(std::string_view line, std::size_t secret_from)
{
    if (!m_log) {
        return;
    }
    if (secret_from == not_secret) {
        m_log->sent(line);
    } else {
        m_log->sent(line.substr(0, line.size() - 2), true, secret_from);
    }
}

task<result<void>> session::send(std::string line, stage where, std::size_t secret_from)
{
    log_sent(line, secret_from);
    // The reply's deadline runs from when the command goes out.
    m_reply_due = engine::after(m_ep.command_timeout);
    auto w = co_await m_conn.write(line, m_reply_due);
    if (!w) {
        auto e = std::move(w).err().at(where);
        e.message += secret_from == not_secret ? " (sending " + command_name(line) + ")" : " (sending credentials)";
        co_return e;
    }
    co_return result<void>{};
}

task<result<const reply*>> session::read_reply(reply_kind kind, stage where, std::string what, bool log_body)
{
    m_conn.consume(std::exchange(m_unconsumed, 0));
    m_parser.expect(kind);
    for (;;) {
        auto st = m_parser.parse(m_conn.buffered());
        if (st.complete()) {
            m_unconsumed = st.consumed;
            const reply& r = m_parser.result();
            if (m_log) {
                std::string_view raw = m_conn.buffered().substr(0, st.consumed);
                if (log_body || !r.has_body) {
                    m_log->received(raw);
                } else {
                    m_log->received(raw.substr(0, raw.find('\n')));
                    m_log->note(fmt::format("{} body lines, {} bytes", r.body.size(), r.body.raw().size()));
                }
            }
            co_return &r;
        }
        if (st.failed()) {
            co_return make_error(where, errc::protocol,
                fmt::format("bad reply to {}: {} at byte {}", what, describe(st.code), st.offset));
        }
        auto n = co_await m_conn.read(m_reply_due);
        if (!n) {
            auto e = std::move(n).err().at(where);
            e.message += " (waiting for the reply to " + what + ")";
            co_return e;
        }
    }
}

task<result<const reply*>> session::command(std::string line, reply_kind kind, stage where, bool log_body)
{
    std::string what = command_name(line);
    if (auto s = co_await send(std::move(line), where, not_secret); !s) {
        co_return std::move(s).err();
    }
    co_return co_await read_reply(kind, where, std::move(what), log_body);
}

task<result<void>> session::login(credentials creds)
{
    auto start = engine::clock::now();
    result<void> r;
    if (creds.type == credentials::kind::oauth2_token) {
        // XOAUTH2 first (Microsoft 365 offers only it), OAUTHBEARER (RFC 7628) when the server
        // offers only that. Without CAPA (an RFC 1939 server) there is nothing to check: try
        // XOAUTH2, and let the server answer.
        const bool xoauth2 = !m_capa_supported || m_caps.has_sasl_mechanism("XOAUTH2");
        const auto mech = xoauth2 ? sasl::mechanism::xoauth2 : sasl::mechanism::oauthbearer;
        if (!xoauth2 && !m_caps.has_sasl_mechanism("OAUTHBEARER")) {
            r = make_error(stage::auth, errc::invalid_argument,
                "a bearer token needs SASL XOAUTH2 or OAUTHBEARER, and the server offers neither");
        } else if (auto msg = xoauth2 ? sasl::xoauth2(creds.user, creds.secret)
                                      : sasl::oauthbearer(creds.user, m_ep.host, m_ep.port, creds.secret);
                   !msg.ok()) {
            r = make_error(stage::auth, errc::invalid_argument, fmt::format("{}: {}", sasl::name(mech), sasl::describe(msg.code)));
        } else {
            r = co_await authenticate(mech, std::move(msg.value));
        }
    } else if (m_caps.has_sasl_mechanism("PLAIN")) {
        if (auto msg = sasl::plain("", creds.user, creds.secret); !msg.ok()) {
            r = make_error(stage::auth, errc::invalid_argument, fmt::format("PLAIN: {}", sasl::describe(msg.code)));
        } else {
            r = co_await authenticate(sasl::mechanism::plain, std::move(msg.value));
        }
    } else {
        r = co_await user_pass(std::move(creds));
    }
    m_timings.auth_ms = ms_since(start);
    co_return r;
}

task<result<void>> session::authenticate(sasl::mechanism mech, std::string response)
{
    const std::string what = fmt::format("AUTH {}", sasl::name(mech));
    std::string line;
    bool response_sent = true;
    auto ec = append_auth(line, sasl::name(mech), response);
    if (ec == command_error::too_long) {
        // RFC 5034 section 4: without the initial response, the server sends an empty
        // challenge and we answer it on a line of its own.
        line.clear();
        ec = append_auth(line, sasl::name(mech));
        response_sent = false;
    }
    if (ec != command_error::none) {
        co_return make_error(stage::auth, errc::invalid_argument, fmt::format("{}: {}", what, describe(ec)));
    }
    if (auto s = co_await send(std::move(line), stage::auth, response_sent ? what.size() + 1 : not_secret); !s) {
        co_return std::move(s).err();
    }
    std::string server_said;   // a challenge after our response: the server's error details
    for (int round = 0;; ++round) {
        auto r = co_await read_reply(reply_kind::sasl, stage::auth, what, false);
        if (!r) {
            co_return std::move(r).err();
        }
        const reply& rp = **r;
        if (rp.status == status_indicator::ok) {
            co_return result<void>{};
        }
        if (rp.status == status_indicator::err) {
            auto e = reply_error(rp, stage::auth, what);
            if (!server_said.empty()) {
                e.message += " (" + server_said + ")";
            }
            co_return e;
        }
        // Neither PLAIN nor XOAUTH2 nor OAUTHBEARER has a second round: one continuation for the response
        // we held back, one carrying an error; a server asking more is out of step.
        if (round >= 2) {
            co_return make_error(stage::auth, errc::protocol, what + ": the server keeps sending challenges");
        }
        line.clear();
        if (!response_sent) {
            append_sasl_response(line, response);
            response_sent = true;
            if (auto s = co_await send(std::move(line), stage::auth, 0); !s) {
                co_return std::move(s).err();
            }
            continue;
        }
        // XOAUTH2 reports a refused token as a base64 JSON challenge and waits for an empty
        // line before its -ERR, OAUTHBEARER for a single ^A (RFC 7628 section 3.2.3); PLAIN
        // has no such step, so anything there is cancelled.
        auto decoded = sasl::base64_decode(rp.text);
        server_said = printable(decoded.ok() ? std::string_view(decoded.value) : rp.text, 256);
        if (mech == sasl::mechanism::xoauth2) {
            append_sasl_response(line, "");
        } else if (mech == sasl::mechanism::oauthbearer) {
            append_sasl_response(line, sasl::base64_encode("\x01"));
        } else {
            append_sasl_cancel(line);
        }
        if (auto s = co_await send(std::move(line), stage::auth, not_secret); !s) {
            co_return std::move(s).err();
        }
    }
}

task<result<void>> session::user_pass(credentials creds)
{
    std::string line;
    if (auto ec = append_user(line, creds.user); ec != command_error::none) {
        co_return make_error(stage::auth, errc::invalid_argument, fmt::format("USER: {}", describe(ec)));
    }
    auto u = co_await command(std::move(line), reply_kind::single_line, stage::auth);
    if (!u) {
        co_return std::move(u).err();
    }
    if (!(*u)->ok()) {
        co_return reply_error(**u, stage::auth, "USER");
    }
    line.clear();
    if (auto ec = append_pass(line, creds.secret); ec != command_error::none) {
        co_return make_error(stage::auth, errc::invalid_argument, fmt::format("PASS: {}", describe(ec)));
    }
    if (auto s = co_await send(std::move(line), stage::auth, 5); !s) {
        co_return std::move(s).err();
    }
    auto p = co_await read_reply(reply_kind::single_line, stage::auth, "PASS", false);
    if (!p) {
        co_return std::move(p).err();
    }
    if (!(*p)->ok()) {
        co_return reply_error(**p, stage::auth, "PASS");
    }
    co_return result<void>{};
}

task<result<stat_info>> session::stat()
{
    std::string line;
    append_stat(line);
    auto r = co_await command(std::move(line), reply_kind::single_line, stage::fetch);
    if (!r) {
        co_return std::move(r).err();
    }
    if (!(*r)->ok()) {
        co_return reply_error(**r, stage::fetch, "STAT");
    }
    auto d = parse_drop_listing((*r)->text);
    if (d.error != listing_error::none) {
        co_return make_error(stage::fetch, errc::protocol,
            fmt::format("STAT: {}: {}", describe(d.error), printable((*r)->text)));
    }
    co_return stat_info{d.count, d.octets};
}

task<result<std::vector<uidl_entry>>> session::uidl()
{
    std::string line;
    append_uidl(line);
    auto r = co_await command(std::move(line), reply_kind::multi_line, stage::fetch);
    if (!r) {
        co_return std::move(r).err();
    }
    if (!(*r)->ok()) {
        co_return reply_error(**r, stage::fetch, "UIDL");
    }
    std::vector<uidl_entry> out;
    out.reserve((*r)->body.size());
    for (std::string_view text : (*r)->body) {
        auto u = parse_uid_listing(text);
        if (u.error != listing_error::none) {
            co_return make_error(stage::fetch, errc::protocol,
                fmt::format("UIDL line {}: {}: {}", out.size() + 1, describe(u.error), printable(text, 128)));
        }
        out.push_back({u.msgno, std::string(u.uid)});
    }
    co_return out;
}

task<result<std::string>> session::fetch_body(std::string line)
{
    std::string what = command_name(line);
    auto r = co_await command(std::move(line), reply_kind::multi_line, stage::fetch);
    if (!r) {
        co_return std::move(r).err();
    }
    if (!(*r)->ok()) {
        co_return reply_error(**r, stage::fetch, what);
    }
    co_return unstuffed_copy((*r)->body);
}

task<result<std::string>> session::top_headers(std::uint32_t msgno)
{
    std::string line;
    if (auto ec = append_top(line, msgno, 0); ec != command_error::none) {
        co_return make_error(stage::fetch, errc::invalid_argument, fmt::format("TOP: {}", describe(ec)));
    }
    co_return co_await fetch_body(std::move(line));
}

task<result<std::string>> session::retr(std::uint32_t msgno)
{
    std::string line;
    if (auto ec = append_retr(line, msgno); ec != command_error::none) {
        co_return make_error(stage::fetch, errc::invalid_argument, fmt::format("RETR: {}", describe(ec)));
    }
    co_return co_await fetch_body(std::move(line));
}

task<result<void>> session::dele(std::uint32_t msgno)
{
    std::string line;
    if (auto ec = append_dele(line, msgno); ec != command_error::none) {
        co_return make_error(stage::cleanup, errc::invalid_argument, fmt::format("DELE: {}", describe(ec)));
    }
    std::string what = command_name(line);
    auto r = co_await command(std::move(line), reply_kind::single_line, stage::cleanup);
    if (!r) {
        co_return std::move(r).err();
    }
    if (!(*r)->ok()) {
        co_return reply_error(**r, stage::cleanup, what);
    }
    ++m_marked;
    co_return result<void>{};
}

task<result<void>> session::quit()
{
    std::string line;
    append_quit(line);
    auto r = co_await command(std::move(line), reply_kind::single_line, stage::cleanup);
    const std::uint32_t marked = std::exchange(m_marked, 0);
    // RFC 1939 section 6: the server removes marked messages only after a successful QUIT;
    // every other ending leaves the maildrop as it was.
    const std::string consequence = marked == 0
        ? std::string()
        : fmt::format(": the {} message(s) marked with DELE were NOT deleted", marked);
    result<void> outcome;
    if (!r) {
        auto e = std::move(r).err();
        e.message = fmt::format("no reply to QUIT{} ({})", consequence, e.message);
        outcome = std::move(e);
    } else if (!(*r)->ok()) {
        auto e = reply_error(**r, stage::cleanup, "QUIT");
        e.message += consequence;
        outcome = std::move(e);
    }
    // Closing frees the buffer the reply views point into: the error is built first.
    co_await m_conn.close();
    co_return outcome;
}

task<void> session::close()
{
    m_marked = 0;
    co_await m_conn.close();
}

} // namespace protocols::pop3
