// The SMTP probe session (RFC 5321 client, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 2920
// PIPELINING, RFC 1870 SIZE). One `session` object lives in the frame of send() and drives
// one connection through the phases in order; each phase names the stage its failures carry.
//
// Replies are read by growing the connection's buffer until the reply parser completes, so a
// reply split at any byte (or many replies in one segment, as pipelining produces) is handled
// the same way. The session stays "in sync" as long as every command got its reply; only then
// is a failure followed by a polite QUIT. After an I/O error, a parse error, a timeout, or when
// the server answered 354 although a recipient was refused, the connection is simply closed:
// the server then drops the unfinished transaction instead of delivering a partial one.
#include "protocols/smtp/session.h"

#include "engine/connection.h"
#include "protocols/common/open.h"
#include "protocols/common/sanitize.h"
#include "protocols/common/sasl.h"
#include "protocols/smtp/commands.h"
#include "protocols/smtp/dot_stuffing.h"
#include "protocols/smtp/reply_parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

namespace protocols::smtp {

namespace {

using engine::errc;
using engine::error;
using engine::make_error;
using engine::result;
using engine::stage;
using engine::task;

// A reply larger than this is hostile; the parser's own limits (2 KiB lines, 256 lines) stop
// well-formed floods, this stops everything else.
constexpr std::size_t max_buffered = 256 * 1024;
// The data may take longer than one command: we allow this rate beyond command_timeout so a
// large message on a slow link is not a timeout (Postfix's smtp_min_data_rate idea).
constexpr std::size_t min_data_rate = 32 * 1024;   // bytes per second
// Server text we copy into errors and the report.
constexpr std::size_t max_reply_text = 512;

bool has_8bit(std::string_view s)
{
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

/// A complete reply, copied out of the read buffer.
struct reply {
    int code = 0;
    std::string text;        // printable: "250 2.0.0 Ok"
    std::string challenge;   // a 334 reply's raw first-line text (base64), else empty
};

/// An error carrying the server's reply; 4yz replies are transient.
error reply_error(stage where, errc code, const reply& r, std::string_view context = {})
{
    auto e = make_error(where, code, context.empty() ? r.text : fmt::format("{}: {}", context, r.text));
    e.transient = r.code / 100 == 4;
    return e;
}

std::string offered_mechanisms(const capabilities& caps)
{
    std::string out;
    for (auto m : {sasl::mechanism::plain, sasl::mechanism::login, sasl::mechanism::xoauth2,
             sasl::mechanism::oauthbearer, sasl::mechanism::cram_md5}) {
        if (caps.auth.contains(m)) {
            out += out.empty() ? "" : " ";
            out += sasl::name(m);
        }
    }
    for (const auto& m : caps.other_auth) {
        out += out.empty() ? "" : " ";
        out += printable(m, 32);
    }
    return out.empty() ? "none" : out;
}

class session {
public:
    session(send_request* request, transcript* trace, send_report* report) noexcept
        : m_req(request), m_trace(trace), m_report(report)
    {
    }

    /// Runs the whole dialogue and always leaves the connection closed.
    task<result<void>> run()
    {
        auto started = engine::clock::now();
        auto r = co_await dialogue();
        if (m_in_sync) {
            co_await quit();
        }
        co_await m_conn.close();
        m_report->total_ms = ms_since(started);
        co_return r;
    }

private:
    task<result<void>> dialogue()
    {
        if (auto r = co_await connect(); !r) {
            co_return r;
        }
        if (auto r = co_await greet(); !r) {
            co_return r;
        }
        if (m_req->server.tls == tls_mode::starttls) {
            if (auto r = co_await starttls(); !r) {
                co_return r;
            }
        }
        if (m_req->auth) {
            if (auto r = co_await authenticate(); !r) {
                co_return r;
            }
        }
        co_return co_await transaction();
    }

    task<result<void>> connect()
    {
        auto o = co_await open_endpoint(m_req->server, m_trace);
        if (!o) {
            co_return std::move(o).err();
        }
        m_conn = std::move(o->conn);
        m_conn.set_max_buffer(max_buffered);
        m_report->timings = o->timings;
        m_report->tls = std::move(o->tls);
        co_return result<void>{};
    }

    task<result<void>> greet()
    {
        m_stage = stage::greeting;
        auto t0 = engine::clock::now();
        auto g = co_await read_reply("the greeting", engine::after(m_req->server.command_timeout), false);
        if (!g) {
            co_return std::move(g).err();
        }
        m_in_sync = true;
        if (g->code != 220) {
            // RFC 5321 3.1: after a 554 greeting the server waits for QUIT, so stay in sync.
            co_return reply_error(stage::greeting, errc::rejected, *g);
        }
        if (auto r = co_await ehlo(); !r) {
            co_return r;
        }
        m_report->timings.greeting_ms = ms_since(t0);
        co_return result<void>{};
    }

    /// EHLO, or HELO when the server does not know EHLO (500/502: RFC 5321 4.1.4).
    task<result<void>> ehlo()
    {
        m_stage = stage::greeting;
        if (auto e = append_ehlo(m_out, m_req->helo_name); e != command_error::none) {
            co_return make_error(stage::greeting, errc::invalid_argument,
                fmt::format("EHLO name: {}", describe(e)));
        }
        auto r = co_await command("EHLO", true);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code == 250) {
            co_return result<void>{};
        }
        if (r->code != 500 && r->code != 502) {
            co_return reply_error(stage::greeting, errc::rejected, *r, "EHLO");
        }
        note("EHLO refused; trying HELO (no extensions)");
        m_report->caps = {};
        (void)append_helo(m_out, m_req->helo_name);   // the EHLO above accepted this name
        auto h = co_await command("HELO", false);
        if (!h) {
            co_return std::move(h).err();
        }
        if (h->code != 250) {
            co_return reply_error(stage::greeting, errc::rejected, *h, "HELO");
        }
        co_return result<void>{};
    }

    task<result<void>> starttls()
    {
        m_stage = stage::tls;
        if (!m_report->caps.starttls) {
            co_return make_error(stage::tls, errc::rejected, "server does not offer STARTTLS");
        }
        auto t0 = engine::clock::now();
        append_starttls(m_out);
        auto r = co_await command("STARTTLS", false);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code != 220) {
            co_return reply_error(stage::tls, errc::rejected, *r, "STARTTLS");
        }
        const endpoint& ep = m_req->server;
        auto info = co_await tls_handshake(m_conn, ep, engine::after(ep.connect_timeout), m_trace);
        if (!info) {
            m_in_sync = false;
            co_return std::move(info).err();
        }
        m_report->tls = std::move(*info);
        // RFC 3207 4.2: everything learnt before TLS is forgotten; ask again.
        m_report->caps = {};
        if (auto e = co_await ehlo(); !e) {
            co_return e;
        }
        m_report->timings.tls_ms = ms_since(t0);
        co_return result<void>{};
    }

    task<result<void>> authenticate()
    {
        m_stage = stage::auth;
        const credentials& cred = *m_req->auth;
        const capabilities& caps = m_report->caps;
        if (caps.auth.empty() && caps.other_auth.empty()) {
            co_return make_error(stage::auth, errc::rejected, "server does not offer AUTH");
        }
        auto t0 = engine::clock::now();
        result<void> r{};
        if (cred.type == credentials::kind::oauth2_token) {
            // XOAUTH2 first: Microsoft 365 offers only it, Gmail both; OAUTHBEARER (RFC 7628)
            // for servers that offer only the standard one.
            if (caps.auth.contains(sasl::mechanism::xoauth2)) {
                r = co_await auth_bearer(sasl::mechanism::xoauth2);
            } else if (caps.auth.contains(sasl::mechanism::oauthbearer)) {
                r = co_await auth_bearer(sasl::mechanism::oauthbearer);
            } else {
                co_return make_error(stage::auth, errc::rejected,
                    "server offers neither XOAUTH2 nor OAUTHBEARER for a token; offered: " + offered_mechanisms(caps));
            }
        } else if (caps.auth.contains(sasl::mechanism::plain)) {
            r = co_await auth_plain();
        } else if (caps.auth.contains(sasl::mechanism::login)) {
            r = co_await auth_login();
        } else {
            co_return make_error(stage::auth, errc::rejected,
                "server offers no password mechanism we use (PLAIN, LOGIN); offered: " + offered_mechanisms(caps));
        }
        if (r) {
            m_report->timings.auth_ms = ms_since(t0);
        }
        co_return r;
    }

    static error sasl_error(const sasl::result& s)
    {
        return make_error(stage::auth, errc::invalid_argument, fmt::format("credentials: {}", sasl::describe(s.code)));
    }

    /// The final reply of an AUTH exchange: 235 or a failure.
    static result<void> auth_outcome(const reply& r, std::string_view extra = {})
    {
        if (r.code == 235) {
            return {};
        }
        auto e = reply_error(stage::auth, errc::auth_failed, r);
        e.message += extra;
        return e;
    }

    task<result<void>> auth_plain()
    {
        const credentials& cred = *m_req->auth;
        auto ir = sasl::plain("", cred.user, cred.secret);
        if (!ir.ok()) {
            co_return sasl_error(ir);
        }
        if (auto e = append_auth(m_out, "PLAIN", ir.value); e != command_error::none) {
            co_return make_error(stage::auth, errc::invalid_argument, fmt::format("AUTH PLAIN: {}", describe(e)));
        }
        auto r = co_await command("AUTH PLAIN", false, std::string_view("AUTH PLAIN ").size());
        if (!r) {
            co_return std::move(r).err();
        }
        co_return auth_outcome(*r);
    }

    task<result<void>> auth_login()
    {
        const credentials& cred = *m_req->auth;
        auto user = sasl::login_username(cred.user);
        auto pass = sasl::login_password(cred.secret);
        if (!user.ok() || !pass.ok()) {
            co_return sasl_error(user.ok() ? pass : user);
        }
        (void)append_auth(m_out, "LOGIN");   // a fixed, valid mechanism name
        auto r = co_await command("AUTH LOGIN", false);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code != 334) {
            co_return auth_outcome(*r);
        }
        (void)append_sasl_response(m_out, user.value);   // base64 from sasl
        r = co_await command("the LOGIN user name", false);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code != 334) {
            co_return auth_outcome(*r);
        }
        (void)append_sasl_response(m_out, pass.value);
        r = co_await command("the LOGIN password", false, 0);
        if (!r) {
            co_return std::move(r).err();
        }
        co_return auth_outcome(*r);
    }

    task<result<void>> auth_bearer(sasl::mechanism mech)
    {
        const credentials& cred = *m_req->auth;
        const endpoint& ep = m_req->server;
        const bool xoauth2 = mech == sasl::mechanism::xoauth2;
        auto ir = xoauth2 ? sasl::xoauth2(cred.user, cred.secret)
                          : sasl::oauthbearer(cred.user, ep.host, ep.port, cred.secret);
        if (!ir.ok()) {
            co_return sasl_error(ir);
        }
        const std::string_view mech_name = sasl::name(mech);
        if (auto e = append_auth(m_out, mech_name, ir.value); e != command_error::none) {
            co_return make_error(stage::auth, errc::invalid_argument, fmt::format("AUTH {}: {}", mech_name, describe(e)));
        }
        const std::string what = fmt::format("AUTH {}", mech_name);
        auto r = co_await command(what, false, what.size() + 1);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code != 334) {
            co_return auth_outcome(*r);
        }
        // The token was refused: the 334 carries base64 JSON with the reason, and the
        // exchange ends when we answer with an empty line (XOAUTH2, Google's protocol) or
        // with a single ^A (OAUTHBEARER, RFC 7628 section 3.2.3).
        auto json = sasl::base64_decode(r->challenge);
        std::string detail = json.ok() ? printable(json.value, 256) : printable(r->challenge, 256);
        if (!xoauth2) {
            (void)append_sasl_response(m_out, sasl::base64_encode("\x01"));   // fixed, valid base64
        } else {
            m_out += "\r\n";
        }
        const std::string ack = fmt::format("the {} error acknowledgement", mech_name);
        auto f = co_await command(ack, false);
        if (!f) {
            co_return std::move(f).err();
        }
        auto e = reply_error(stage::auth, errc::auth_failed, *f);
        e.message += fmt::format(" ({} error: {})", mech_name, detail);
        if (f->code == 235) {
            // A server accepting after reporting an error breaks the protocol; never a success.
            e.code = errc::protocol;
        }
        co_return e;
    }

    task<result<void>> transaction()
    {
        m_stage = stage::send;
        const capabilities& caps = m_report->caps;
        if (m_req->recipients.empty()) {
            co_return make_error(stage::send, errc::invalid_argument, "no recipients");
        }
        mail_options mo;
        if (caps.size) {
            mo.size = m_req->message.size();
        }
        mo.body_8bitmime = caps.eight_bit_mime && has_8bit(m_req->message);
        mo.smtputf8 = caps.smtputf8
            && (has_8bit(m_req->mail_from)
                || std::any_of(m_req->recipients.begin(), m_req->recipients.end(),
                    [](const std::string& a) { return has_8bit(a); }));
        if (auto e = append_mail_from(m_out, m_req->mail_from, mo); e != command_error::none) {
            co_return make_error(stage::send, errc::invalid_argument,
                fmt::format("MAIL FROM <{}>: {}", printable(m_req->mail_from, 256), describe(e)));
        }
        // Every recipient is checked before anything is sent, so a bad one costs no round trip.
        std::vector<std::string> rcpts(m_req->recipients.size());
        for (std::size_t i = 0; i < rcpts.size(); ++i) {
            const std::string& rcpt = m_req->recipients[i];
            if (auto e = append_rcpt_to(rcpts[i], rcpt, rcpt_options{mo.smtputf8}); e != command_error::none) {
                m_out.clear();
                co_return make_error(stage::send, errc::invalid_argument,
                    fmt::format("RCPT TO <{}>: {}", printable(rcpt, 256), describe(e)));
            }
        }
        auto t0 = engine::clock::now();
        result<void> r{};
        if (caps.pipelining) {
            r = co_await pipelined(std::move(rcpts));
        } else {
            r = co_await one_by_one(std::move(rcpts));
        }
        if (!r) {
            co_return r;
        }
        auto d = co_await data();
        if (d) {
            m_report->transaction_ms = ms_since(t0);
        }
        co_return d;
    }

    /// Reads the replies to MAIL, every RCPT and DATA, all written at once. Every reply is
    /// read even after a failure, so the session stays in step with the server.
    task<result<void>> pipelined(std::vector<std::string> rcpts)
    {
        for (const auto& line : rcpts) {
            m_out += line;
        }
        append_data(m_out);
        std::size_t count = rcpts.size() + 2;
        if (auto w = co_await flush("MAIL FROM, RCPT TO and DATA", engine::after(m_req->server.command_timeout)); !w) {
            co_return w;
        }
        std::optional<error> first_failure;
        for (std::size_t i = 0; i < count; ++i) {
            bool is_mail = i == 0;
            bool is_data = i + 1 == count;
            std::string_view what = is_mail ? "MAIL FROM" : is_data ? "DATA" : "RCPT TO";
            // Each reply gets a full window from when we start waiting for it: the server
            // works through the commands one after another.
            auto r = co_await read_reply(what, engine::after(m_req->server.command_timeout), false);
            if (!r) {
                co_return std::move(r).err();
            }
            if (is_data) {
                if (r->code == 354 && !first_failure) {
                    co_return result<void>{};
                }
                if (r->code == 354) {
                    // Sending the data would deliver to the accepted recipients only; closing
                    // makes the server drop the transaction.
                    m_in_sync = false;
                    note("closing without sending the message: a recipient was refused");
                    co_return std::move(*first_failure);
                }
                if (!first_failure) {
                    first_failure = reply_error(stage::send, errc::rejected, *r, "DATA");
                }
                break;
            }
            bool ok = r->code / 100 == 2;
            if (!ok && !first_failure) {
                first_failure = reply_error(stage::send, errc::rejected, *r,
                    is_mail ? fmt::format("MAIL FROM <{}>", printable(m_req->mail_from, 256))
                            : fmt::format("RCPT TO <{}>", printable(m_req->recipients[i - 1], 256)));
            }
        }
        co_return std::move(*first_failure);
    }

    task<result<void>> one_by_one(std::vector<std::string> rcpts)
    {
        auto m = co_await command("MAIL FROM", false);
        if (!m) {
            co_return std::move(m).err();
        }
        if (m->code / 100 != 2) {
            co_return reply_error(stage::send, errc::rejected, *m,
                fmt::format("MAIL FROM <{}>", printable(m_req->mail_from, 256)));
        }
        for (std::size_t i = 0; i < m_req->recipients.size(); ++i) {
            const std::string& rcpt = m_req->recipients[i];
            m_out = std::move(rcpts[i]);
            auto r = co_await command("RCPT TO", false);
            if (!r) {
                co_return std::move(r).err();
            }
            if (r->code / 100 != 2) {
                co_return reply_error(stage::send, errc::rejected, *r, fmt::format("RCPT TO <{}>", printable(rcpt, 256)));
            }
        }
        append_data(m_out);
        auto d = co_await command("DATA", false);
        if (!d) {
            co_return std::move(d).err();
        }
        if (d->code != 354) {
            co_return reply_error(stage::send, errc::rejected, *d, "DATA");
        }
        co_return result<void>{};
    }

    task<result<void>> data()
    {
        append_dot_stuffed(m_out, m_req->message);
        auto bytes = m_out.size();
        auto until = engine::after(m_req->server.command_timeout + std::chrono::seconds(bytes / min_data_rate));
        if (m_trace) {
            m_trace->note(fmt::format("message: {} bytes dot-stuffed, terminated by \".\"", bytes));
        }
        auto w = co_await m_conn.write(m_out, until);
        m_out.clear();
        if (!w) {
            m_in_sync = false;
            co_return std::move(w).err().at(stage::send);
        }
        auto r = co_await read_reply("the end of the data", until, false);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->code / 100 != 2) {
            co_return reply_error(stage::send, errc::rejected, *r, "message refused");
        }
        m_report->final_reply = r->text;
        m_report->queue_id = std::string(queue_id_from_reply(r->text));
        co_return result<void>{};
    }

    /// QUIT after the work is done (or refused): its failures change nothing, they are noted.
    task<void> quit()
    {
        append_quit(m_out);
        auto r = co_await command("QUIT", false);
        if (!r) {
            note("QUIT: " + r.err().describe());
        } else if (r->code != 221) {
            note("QUIT answered with " + r->text);
        }
    }

    /// Writes m_out (one command line; `secret_from` hides it after that many bytes), then
    /// reads the reply within command_timeout of sending.
    task<result<reply>> command(std::string_view what, bool want_caps, std::size_t secret_from = npos)
    {
        auto until = engine::after(m_req->server.command_timeout);
        if (secret_from != npos && m_trace) {
            std::string_view line = m_out;
            m_trace->sent(line.substr(0, line.size() - 2), true, secret_from);   // without CRLF
        }
        auto w = co_await flush(what, until, secret_from == npos);
        if (!w) {
            co_return std::move(w).err();
        }
        co_return co_await read_reply(what, until, want_caps);
    }

    /// Writes and clears m_out; traces each line unless the caller traced it redacted.
    task<result<void>> flush(std::string_view what, engine::deadline until, bool trace_lines = true)
    {
        if (m_trace && trace_lines) {
            std::string_view rest = m_out;
            while (!rest.empty()) {
                auto nl = rest.find('\n');
                m_trace->sent(rest.substr(0, nl));
                rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
            }
        }
        auto w = co_await m_conn.write(m_out, until);
        m_out.clear();
        if (!w) {
            m_in_sync = false;
            auto e = std::move(w).err().at(m_stage);
            e.message += fmt::format(" (sending {})", what);
            co_return e;
        }
        co_return result<void>{};
    }

    /// Reads one complete reply. `what` names the command it answers (a literal); with
    /// `want_caps`, a 250 reply also becomes the report's capabilities.
    task<result<reply>> read_reply(std::string_view what, engine::deadline until, bool want_caps)
    {
        for (;;) {
            auto st = m_parser.parse(m_conn.buffered());
            if (st.complete()) {
                if (m_trace) {
                    m_trace->received(m_conn.buffered().substr(0, st.consumed));
                }
                reply r{m_parser.code(), m_parser.printable_text(max_reply_text), {}};
                if (r.code == 334 && m_parser.line_count() == 1) {
                    r.challenge = std::string(m_parser.line(0));
                }
                if (want_caps && r.code == 250) {
                    m_report->caps = capabilities::from_ehlo(m_parser);
                }
                m_conn.consume(st.consumed);
                co_return r;
            }
            if (st.failed()) {
                m_in_sync = false;
                co_return make_error(m_stage, errc::protocol,
                    fmt::format("bad reply to {}: {} at byte {}", what, protocols::describe(st.code), st.offset));
            }
            auto n = co_await m_conn.read(until);
            if (!n) {
                m_in_sync = false;
                auto e = std::move(n).err().at(m_stage);
                e.message += fmt::format(" (the reply to {})", what);
                co_return e;
            }
        }
    }

    void note(std::string_view text)
    {
        if (m_trace) {
            m_trace->note(text);
        }
    }

    static constexpr std::size_t npos = std::string_view::npos;

    send_request* m_req;
    transcript* m_trace;
    send_report* m_report;
    engine::connection m_conn;
    reply_parser m_parser;
    std::string m_out;
    stage m_stage = stage::connect;
    bool m_in_sync = false;   // greeted, and every command so far got its reply: QUIT is possible
};

std::string_view first_token(std::string_view s) noexcept
{
    auto end = s.find_first_of(" \t");
    return s.substr(0, end);
}

} // namespace

std::string_view queue_id_from_reply(std::string_view text) noexcept
{
    if (auto p = text.find("queued as "); p != std::string_view::npos) {
        return first_token(text.substr(p + 10));
    }
    if (auto p = text.find(" id="); p != std::string_view::npos) {
        return first_token(text.substr(p + 4));
    }
    constexpr std::string_view gsmtp = " - gsmtp";
    if (text.size() > gsmtp.size() && text.substr(text.size() - gsmtp.size()) == gsmtp) {
        auto head = text.substr(0, text.size() - gsmtp.size());
        auto sp = head.rfind(' ');
        return sp == std::string_view::npos ? std::string_view{} : head.substr(sp + 1);
    }
    if (auto p = text.find(" OK <"); p != std::string_view::npos) {
        auto rest = text.substr(p + 5);
        auto end = rest.find('>');
        return end == std::string_view::npos ? std::string_view{} : rest.substr(0, end);
    }
    return {};
}

engine::task<engine::result<send_report>> send(send_request request, transcript* trace)
{
    send_report report;
    session s(&request, trace, &report);
    auto r = co_await s.run();
    if (!r) {
        co_return std::move(r).err();
    }
    co_return report;
}

} // namespace protocols::smtp
