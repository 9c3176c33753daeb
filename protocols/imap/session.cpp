// IMAP client session. The client side of RFC 9051 / RFC 3501 it speaks:
//
//   greeting        = "*" SP (resp-cond-auth / resp-cond-bye) CRLF
//   command         = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
//   response        = *(continue-req / response-data) response-done
//   authenticate    = "AUTHENTICATE" SP auth-type [SP initial-resp] *(CRLF [base64])
//   idle            = "IDLE" CRLF "DONE"
//   append          = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP literal
//
// Each command's replies are read until its tagged completion, with one deadline that starts
// when the command has been written. Every response first goes through observe() (EXISTS,
// EXPUNGE, CAPABILITY, BYE); the caller sees the untagged data it asked for. Collections a
// server can grow (mailboxes, search results) are capped so a hostile server cannot exhaust
// memory.
#include "protocols/imap/session.h"

#include "protocols/common/open.h"
#include "protocols/common/sanitize.h"
#include "protocols/common/sasl.h"
#include "protocols/imap/mutf7.h"
#include "protocols/imap/responses.h"

#include <fmt/format.h>

#include <algorithm>

namespace protocols::imap {

using engine::errc;
using engine::error;
using engine::make_error;
using engine::result;
using engine::stage;
using engine::task;

namespace {

constexpr std::size_t max_mailboxes = 10'000;
constexpr std::size_t max_search_results = 100'000;

// The untagged responses any command may draw: SELECT says about ten, and a busy mailbox adds
// unsolicited EXISTS, EXPUNGE and FETCH (flags) for other clients' changes. Commands that
// answer per message or per mailbox raise it (allow_untagged). Generous: a real server never
// comes near it, a flooding one is cut after a fraction of a second instead of at the deadline.
constexpr std::uint64_t untagged_base = 10'000;
constexpr std::uint64_t untagged_base_bytes = 16 << 20;
// Other clients may expunge the whole mailbox: one EXPUNGE (about 20 bytes) per message it
// had, counted up to a million so that a made-up EXISTS cannot lift the bound for good.
constexpr std::uint64_t untagged_exists_cap = 1'000'000;
constexpr std::uint64_t untagged_bytes_per_exists = 64;
// A FETCH response is at most the connection's read buffer (1 MB by default).
constexpr std::uint64_t max_fetch_response = 1 << 20;
// A LIST line names one mailbox; RFC 9051 names have no limit, real ones stay far below this.
constexpr std::uint64_t max_list_response = 4096;
// A FETCH (FLAGS) after STORE, an EXPUNGE after EXPUNGE.
constexpr std::uint64_t max_flags_response = 256;

/// The response without its tag and line break, for error messages ("NO [..] text").
std::string server_words(const response& r)
{
    std::string_view raw = r.raw();
    std::string_view tag = tag_of(r);
    if (raw.size() > tag.size()) {
        raw.remove_prefix(tag.size() + 1);
    }
    while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) {
        raw.remove_suffix(1);
    }
    return printable(raw, 300);
}

/// Sorted, deduplicated UIDs as a compact sequence-set ("3:5,9").
std::string uid_set(std::vector<std::uint32_t> uids)
{
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    std::string out;
    for (std::size_t i = 0; i < uids.size();) {
        std::size_t j = i;
        while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) {
            ++j;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(uids[i]);
        if (j > i) {
            out += ':';
            out += std::to_string(uids[j]);
        }
        i = j + 1;
    }
    return out;
}

/// A quoted string for a mailbox name in its (7-bit) modified UTF-7 wire form.
std::string quoted(std::string_view s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
    return out;
}

error with_context(error e, stage where, std::string_view what)
{
    e = std::move(e).at(where);
    e.message = fmt::format("{}: {}", what, e.message);
    return e;
}

} // namespace

bool session::has_capability(std::string_view name) const noexcept
{
    return list_contains(m_capabilities, name);
}

engine::deadline session::command_deadline() const
{
    return engine::after(m_endpoint.command_timeout);
}

void session::set_capabilities(std::string_view caps)
{
    m_capabilities.assign(caps);
    ++m_capability_updates;
    if (has_capability("LITERAL+")) {
        m_builder.set_literal_mode(literal_mode::plus);
    } else if (has_capability("LITERAL-")) {
        m_builder.set_literal_mode(literal_mode::minus);
    } else {
        m_builder.set_literal_mode(literal_mode::synchronizing);
    }
}

void session::reset_untagged() noexcept
{
    const std::uint64_t others = std::min<std::uint64_t>(m_exists, untagged_exists_cap);
    m_untagged = untagged_budget{};
    m_untagged.responses = m_untagged.max_responses = untagged_base + others;
    m_untagged.bytes = m_untagged.max_bytes = untagged_base_bytes + others * untagged_bytes_per_exists;
}

void session::allow_untagged(std::size_t items, std::uint64_t item_bytes) noexcept
{
    m_untagged.responses += items;
    m_untagged.max_responses += items;
    m_untagged.bytes += items * item_bytes;
    m_untagged.max_bytes += items * item_bytes;
}

std::string session::reserve_tag()
{
    // The builder owns tag numbering; a NOOP it builds (and we never send) advances it.
    return m_builder.noop().tag;
}

void session::release() noexcept
{
    if (m_pending_consume != 0) {
        m_conn.consume(m_pending_consume);
        m_pending_consume = 0;
    }
}

task<result<response>> session::next(engine::deadline until, stage where, std::string_view what, bool quiet_ok)
{
    release();
    for (;;) {
        std::string_view buf = m_conn.buffered();
        parse_status st = m_parser.parse(buf);
        if (st.complete()) {
            m_pending_consume = st.consumed;
            response r = m_parser.result(buf.substr(0, st.consumed));
            if (m_log) {
                m_log->received(r.raw());
            }
            if (r.kind() == response_kind::untagged) {
                const bool too_many = m_untagged.responses == 0;
                const bool too_big = m_untagged.bytes < st.consumed;
                if (too_many || too_big) {
                    // Nothing a flooding server says next can be trusted: end the session.
                    release();
                    co_await m_conn.close();
                    co_return make_error(where, errc::protocol,
                        too_many ? fmt::format("{}: more than {} untagged responses to one command; session ended",
                                       what, m_untagged.max_responses)
                                 : fmt::format("{}: more than {} bytes of untagged responses to one command; "
                                               "session ended",
                                       what, m_untagged.max_bytes));
                }
                --m_untagged.responses;
                m_untagged.bytes -= st.consumed;
            }
            co_return r;
        }
        if (st.failed()) {
            std::string_view around = buf.substr(0, std::min<std::size_t>(buf.size(), st.offset + 40));
            co_return make_error(where, errc::protocol,
                fmt::format("{}: unparseable response ({} at byte {}): {}", what, describe(st.code), st.offset,
                    printable(around, 200)));
        }
        // Two statements, not `?:`: GCC 12 destroys a co_await result in a conditional
        // expression twice.
        result<std::size_t> n = make_error(where, errc::io, "no read");
        if (quiet_ok) {
            n = co_await m_conn.wait(until);
        } else {
            n = co_await m_conn.read(until);
        }
        if (!n) {
            co_return with_context(std::move(n).err(), where, what);
        }
    }
}

std::optional<error> session::observe(const response& r, stage where)
{
    if (std::string_view caps = capability_text(r); !caps.empty()) {
        set_capabilities(caps);
    }
    if (r.kind() != response_kind::untagged) {
        return std::nullopt;
    }
    if (condition_of(r) == condition::bye) {
        auto e = make_error(where, errc::rejected, "server ended the session: " + server_words(r));
        e.transient = true;   // BYE mid-session is a shutdown or an idle timeout, not a verdict
        return e;
    }
    if (auto d = data_of(r); d && d->number) {
        if (iequals(d->name, "EXISTS")) {
            m_exists = *d->number;
        } else if (iequals(d->name, "EXPUNGE") && m_exists > 0) {
            --m_exists;
        }
    }
    return std::nullopt;
}

task<result<response>> session::next_observed(engine::deadline until, stage where, std::string_view what)
{
    auto r = co_await next(until, where, what);
    if (!r) {
        co_return std::move(r).err();
    }
    if (auto e = observe(*r, where)) {
        co_return std::move(*e);
    }
    co_return std::move(r);
}

std::optional<error> session::completion_error(const response& r, stage where, std::string_view what)
{
    condition c = condition_of(r);
    if (c == condition::ok) {
        return std::nullopt;
    }
    if (c != condition::no && c != condition::bad) {
        return make_error(where, errc::protocol, fmt::format("{}: unexpected completion: {}", what, server_words(r)));
    }
    errc code = (where == stage::auth && c == condition::no) ? errc::auth_failed : errc::rejected;
    auto e = make_error(where, code, fmt::format("{}: {}", what, server_words(r)));
    // RFC 5530: these codes say "try again later", like an SMTP 4xx.
    std::string_view rc = text_of(r).code;
    e.transient = iequals(rc, "UNAVAILABLE") || iequals(rc, "INUSE") || iequals(rc, "LIMIT");
    return e;
}

template <class OnData>
task<result<void>> session::complete(std::string tag, std::string what, stage where, OnData on_data)
{
    const engine::deadline until = command_deadline();
    for (;;) {
        auto r = co_await next_observed(until, where, what);
        if (!r) {
            co_return std::move(r).err();
        }
        switch (r->kind()) {
        case response_kind::tagged:
            if (tag_of(*r) != tag) {
                co_return make_error(where, errc::protocol,
                    fmt::format("{}: completion for an unknown tag: {}", what, printable(r->raw(), 200)));
            }
            m_last_code.assign(text_of(*r).code);
            if (auto e = completion_error(*r, where, what)) {
                co_return std::move(*e);
            }
            co_return result<void>{};
        case response_kind::continuation:
            co_return make_error(where, errc::protocol, fmt::format("{}: unexpected continuation request", what));
        case response_kind::untagged:
            if (auto e = on_data(*r)) {
                co_return std::move(*e);
            }
            break;
        }
    }
}

task<result<void>> session::wait_continuation(std::string tag, std::string what, stage where)
{
    const engine::deadline until = command_deadline();
    for (;;) {
        auto r = co_await next_observed(until, where, what);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->kind() == response_kind::continuation) {
            co_return result<void>{};
        }
        if (r->kind() == response_kind::tagged) {
            if (tag_of(*r) == tag) {
                if (auto e = completion_error(*r, where, what)) {
                    co_return std::move(*e);
                }
            }
            co_return make_error(where, errc::protocol,
                fmt::format("{}: completion instead of a continuation request: {}", what, server_words(*r)));
        }
    }
}

task<result<void>> session::send(command cmd, stage where, std::string what, redaction hide)
{
    reset_untagged();
    for (std::size_t i = 0; i < cmd.chunks.size(); ++i) {
        if (i > 0) {
            // A synchronizing literal: the server must agree ("+") before its bytes go out.
            if (auto r = co_await wait_continuation(cmd.tag, what, where); !r) {
                co_return std::move(r).err();
            }
            release();
        }
        const std::string& chunk = cmd.chunks[i];
        if (m_log) {
            if (i == 0 && hide.first_visible >= chunk.size()) {
                m_log->sent(chunk);
            } else if (i == 0) {
                m_log->sent(chunk, true, hide.first_visible);
            } else if (hide.later_chunks) {
                m_log->sent(chunk, true, 0);
            } else {
                m_log->sent(chunk);
            }
        }
        if (auto w = co_await m_conn.write(chunk, command_deadline()); !w) {
            co_return with_context(std::move(w).err(), where, what);
        }
    }
    co_return result<void>{};
}

task<result<session>> session::connect(endpoint ep, transcript* log)
{
    session s;
    s.m_endpoint = std::move(ep);
    s.m_log = log;
    auto o = co_await open_endpoint(s.m_endpoint, log);
    if (!o) {
        co_return std::move(o).err();
    }
    s.m_conn = std::move(o->conn);
    s.m_timings = o->timings;
    s.m_tls = std::move(o->tls);
    s.reset_untagged();   // the greeting and what a server adds before our first command
    const auto t0 = engine::clock::now();
    if (auto g = co_await s.greet(); !g) {
        co_return std::move(g).err();
    }
    s.m_timings.greeting_ms = ms_since(t0);
    if (s.m_endpoint.tls == tls_mode::starttls) {
        if (auto t = co_await s.starttls(); !t) {
            co_return std::move(t).err();
        }
    }
    co_return std::move(s);
}

task<result<void>> session::greet()
{
    auto r = co_await next(command_deadline(), stage::greeting, "greeting");
    if (!r) {
        co_return std::move(r).err();
    }
    condition c = condition_of(*r);
    if (r->kind() != response_kind::untagged || (c != condition::ok && c != condition::preauth && c != condition::bye)) {
        co_return make_error(stage::greeting, errc::protocol, "not an IMAP greeting: " + printable(r->raw(), 200));
    }
    if (c == condition::bye) {
        auto e = make_error(stage::greeting, errc::rejected, "server refused the session: " + server_words(*r));
        e.transient = true;   // "too many connections", maintenance
        co_return e;
    }
    m_preauth = c == condition::preauth;
    if (std::string_view caps = capability_text(*r); !caps.empty()) {
        set_capabilities(caps);
    }
    release();
    if (m_capabilities.empty()) {
        co_return co_await refresh_capabilities(stage::greeting);
    }
    co_return result<void>{};
}

task<result<void>> session::refresh_capabilities(stage where)
{
    command cmd = m_builder.capability();
    std::string tag = cmd.tag;
    if (auto s = co_await send(std::move(cmd), where, "CAPABILITY"); !s) {
        co_return std::move(s).err();
    }
    co_return co_await complete(std::move(tag), "CAPABILITY", where, [](const response&) -> std::optional<error> {
        return std::nullopt;
    });
}

task<result<void>> session::starttls()
{
    if (m_preauth) {
        co_return make_error(stage::tls, errc::rejected,
            "server greeted with PREAUTH: STARTTLS is impossible once authenticated");
    }
    if (!has_capability("STARTTLS")) {
        co_return make_error(stage::tls, errc::rejected, "server does not offer STARTTLS");
    }
    command cmd = m_builder.starttls();
    std::string tag = cmd.tag;
    if (auto s = co_await send(std::move(cmd), stage::tls, "STARTTLS"); !s) {
        co_return std::move(s).err();
    }
    auto ok = co_await complete(std::move(tag), "STARTTLS", stage::tls, [](const response&) -> std::optional<error> {
        return std::nullopt;
    });
    if (!ok) {
        co_return std::move(ok).err();
    }
    release();
    const auto t0 = engine::clock::now();
    auto info = co_await tls_handshake(m_conn, m_endpoint, engine::after(m_endpoint.connect_timeout), m_log);
    if (!info) {
        co_return std::move(info).err();
    }
    m_timings.tls_ms = ms_since(t0);
    m_tls = std::move(*info);
    // RFC 9051 6.2.1: capabilities learned before TLS must be discarded.
    m_capabilities.clear();
    co_return co_await refresh_capabilities(stage::greeting);
}

task<result<void>> session::login(credentials creds)
{
    if (m_preauth) {
        co_return result<void>{};
    }
    const auto t0 = engine::clock::now();
    const std::size_t updates_before = m_capability_updates;
    result<void> done;
    if (creds.type == credentials::kind::oauth2_token) {
        // XOAUTH2 first (Microsoft 365 offers only it); OAUTHBEARER (RFC 7628) when a server
        // offers only the standard mechanism.
        const bool xoauth2 = has_capability("AUTH=XOAUTH2");
        if (!xoauth2 && !has_capability("AUTH=OAUTHBEARER")) {
            co_return make_error(stage::auth, errc::rejected,
                "server offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER for a token");
        }
        const std::string mech = xoauth2 ? "XOAUTH2" : "OAUTHBEARER";
        auto ir = xoauth2 ? sasl::xoauth2(creds.user, creds.secret)
                          : sasl::oauthbearer(creds.user, m_endpoint.host, m_endpoint.port, creds.secret);
        if (!ir.ok()) {
            co_return make_error(stage::auth, errc::invalid_argument, mech + ": " + std::string(sasl::describe(ir.code)));
        }
        done = co_await authenticate(mech, std::move(ir.value));
    } else if (has_capability("AUTH=PLAIN")) {
        auto ir = sasl::plain("", creds.user, creds.secret);
        if (!ir.ok()) {
            co_return make_error(stage::auth, errc::invalid_argument, std::string("PLAIN: ") + std::string(sasl::describe(ir.code)));
        }
        done = co_await authenticate("PLAIN", std::move(ir.value));
    } else if (has_capability("LOGINDISABLED")) {
        co_return make_error(stage::auth, errc::rejected,
            "server says LOGINDISABLED and offers no AUTH=PLAIN (TLS required?)");
    } else {
        auto cmd = m_builder.login(creds.user, creds.secret);
        if (!cmd) {
            co_return make_error(stage::auth, errc::invalid_argument, "LOGIN: user or password holds CR, LF or NUL");
        }
        std::string tag = cmd->tag;
        // Only "A0001 LOGIN " stays visible: the rest carries the password.
        redaction hide{tag.size() + 7, true};
        if (auto s = co_await send(std::move(*cmd), stage::auth, "LOGIN", hide); !s) {
            co_return std::move(s).err();
        }
        done = co_await complete(std::move(tag), "LOGIN", stage::auth, [](const response&) -> std::optional<error> {
            return std::nullopt;
        });
    }
    if (!done) {
        co_return std::move(done).err();
    }
    // Capabilities change after login; most servers say so in the OK, others must be asked.
    if (m_capability_updates == updates_before) {
        if (auto c = co_await refresh_capabilities(stage::auth); !c) {
            co_return std::move(c).err();
        }
    }
    m_timings.auth_ms = ms_since(t0);
    co_return result<void>{};
}

task<result<void>> session::authenticate(std::string mechanism, std::string initial)
{
    const std::string what = "AUTHENTICATE " + mechanism;
    const bool sasl_ir = has_capability("SASL-IR");
    auto cmd = m_builder.authenticate(mechanism, sasl_ir ? std::optional<std::string_view>(initial) : std::nullopt);
    if (!cmd) {
        co_return make_error(stage::auth, errc::invalid_argument, what + ": cannot build the command");
    }
    std::string tag = cmd->tag;
    redaction hide;
    if (sasl_ir) {
        hide.first_visible = tag.size() + 1 + what.size() + 1;
    }
    if (auto s = co_await send(std::move(*cmd), stage::auth, what, hide); !s) {
        co_return std::move(s).err();
    }
    if (!sasl_ir) {
        if (auto c = co_await wait_continuation(tag, what, stage::auth); !c) {
            co_return std::move(c).err();
        }
        release();
        std::string line = initial + "\r\n";
        if (m_log) {
            m_log->sent(line, true, 0);
        }
        if (auto w = co_await m_conn.write(line, command_deadline()); !w) {
            co_return with_context(std::move(w).err(), stage::auth, what);
        }
    }
    // A failed XOAUTH2/OAUTHBEARER exchange sends "+ <base64 JSON>" first; the client answers
    // with an empty line (XOAUTH2: Google, Microsoft) or a single ^A (OAUTHBEARER, RFC 7628
    // section 3.2.3) and then gets the tagged NO.
    const std::string error_ack = mechanism == "OAUTHBEARER" ? sasl::base64_encode("\x01") + "\r\n" : "\r\n";
    std::string detail;
    const engine::deadline until = command_deadline();
    for (;;) {
        auto r = co_await next_observed(until, stage::auth, what);
        if (!r) {
            co_return std::move(r).err();
        }
        if (r->kind() == response_kind::continuation) {
            const bool first = detail.empty();
            auto decoded = sasl::base64_decode(text_of(*r).text);
            detail = decoded.ok() ? printable(decoded.value, 300) : printable(text_of(*r).text, 300);
            std::string_view reply = first ? std::string_view(error_ack) : sasl_cancel();
            if (detail.empty()) {
                detail = "(empty challenge)";
            }
            release();
            if (m_log) {
                m_log->sent(reply);
            }
            if (auto w = co_await m_conn.write(reply, until); !w) {
                co_return with_context(std::move(w).err(), stage::auth, what);
            }
            continue;
        }
        if (r->kind() == response_kind::tagged) {
            if (tag_of(*r) != tag) {
                co_return make_error(stage::auth, errc::protocol,
                    fmt::format("{}: completion for an unknown tag: {}", what, printable(r->raw(), 200)));
            }
            if (auto e = completion_error(*r, stage::auth, what)) {
                if (!detail.empty()) {
                    e->message += " (" + detail + ")";
                }
                co_return std::move(*e);
            }
            co_return result<void>{};
        }
    }
}

task<result<std::vector<mailbox_info>>> session::list()
{
    // RFC 6154: with SPECIAL-USE the server marks \Junk, \Sent, ... when asked to.
    std::optional<command> cmd = has_capability("SPECIAL-USE") ? m_builder.list_special_use() : m_builder.list("", "*");
    std::string tag = cmd->tag;
    if (auto s = co_await send(std::move(*cmd), stage::fetch, "LIST"); !s) {
        co_return std::move(s).err();
    }
    allow_untagged(max_mailboxes, max_list_response);
    std::vector<mailbox_info> out;
    auto done = co_await complete(std::move(tag), "LIST", stage::fetch, [&out](const response& r) -> std::optional<error> {
        auto entry = list_entry_of(r);
        if (!entry) {
            return std::nullopt;
        }
        if (out.size() == max_mailboxes) {
            return make_error(stage::fetch, errc::protocol,
                fmt::format("LIST: more than {} mailboxes", max_mailboxes));
        }
        std::string wire;
        append_string(entry->name_type, entry->name_raw, wire);
        mailbox_info m;
        m.name = mutf7_decode(wire).value_or(wire);
        m.delimiter = entry->delimiter;
        m.attributes = entry->attributes;
        out.push_back(std::move(m));
        return std::nullopt;
    });
    if (!done) {
        co_return std::move(done).err();
    }
    co_return out;
}

task<result<select_info>> session::select(std::string utf8_name)
{
    auto wire = mutf7_encode(utf8_name);
    std::optional<command> cmd = wire ? m_builder.select(*wire) : std::nullopt;
    if (!cmd) {
        co_return make_error(stage::fetch, errc::invalid_argument, "SELECT: unusable mailbox name " + printable(utf8_name, 100));
    }
    std::string tag = cmd->tag;
    if (auto s = co_await send(std::move(*cmd), stage::fetch, "SELECT"); !s) {
        co_return std::move(s).err();
    }
    m_exists = 0;
    select_info info;
    auto done = co_await complete(std::move(tag), "SELECT", stage::fetch, [&info](const response& r) -> std::optional<error> {
        resp_text t = text_of(r);
        if (auto n = code_number(t); n && *n <= UINT32_MAX) {
            if (iequals(t.code, "UIDVALIDITY")) {
                info.uidvalidity = static_cast<std::uint32_t>(*n);
            } else if (iequals(t.code, "UIDNEXT")) {
                info.uidnext = static_cast<std::uint32_t>(*n);
            }
        }
        return std::nullopt;
    });
    if (!done) {
        co_return std::move(done).err();
    }
    info.exists = m_exists;
    info.read_only = iequals(m_last_code, "READ-ONLY");
    co_return info;
}

task<result<std::vector<std::uint32_t>>> session::uid_search_header(std::string field, std::string value)
{
    return run_search(m_builder.uid_search_header(field, value));
}

task<result<std::vector<std::uint32_t>>> session::uid_search_text(std::string value)
{
    return run_search(m_builder.uid_search_text(value));
}

task<result<std::vector<std::uint32_t>>> session::run_search(std::optional<command> cmd)
{
    if (!cmd) {
        co_return make_error(stage::fetch, errc::invalid_argument, "UID SEARCH: unusable header name or value");
    }
    std::string tag = cmd->tag;
    if (auto s = co_await send(std::move(*cmd), stage::fetch, "UID SEARCH"); !s) {
        co_return std::move(s).err();
    }
    std::vector<std::uint32_t> out;
    auto done = co_await complete(std::move(tag), "UID SEARCH", stage::fetch, [&out](const response& r) -> std::optional<error> {
        if (search_results(r, out) && out.size() > max_search_results) {
            return make_error(stage::fetch, errc::protocol,
                fmt::format("UID SEARCH: more than {} results", max_search_results));
        }
        return std::nullopt;
    });
    if (!done) {
        co_return std::move(done).err();
    }
    co_return out;
}

task<result<std::vector<fetched_message>>> session::uid_fetch_headers(std::vector<std::uint32_t> uids)
{
    auto cmd = uids.empty() ? std::nullopt : m_builder.uid_fetch_headers(uid_set(uids));
    return run_fetch(std::move(cmd), std::move(uids));
}

task<result<std::vector<fetched_message>>> session::uid_fetch_messages(std::vector<std::uint32_t> uids)
{
    auto cmd = uids.empty() ? std::nullopt : m_builder.uid_fetch_messages(uid_set(uids));
    return run_fetch(std::move(cmd), std::move(uids));
}

task<result<std::vector<fetched_message>>> session::run_fetch(std::optional<command> cmd, std::vector<std::uint32_t> uids)
{
    std::vector<fetched_message> out;
    if (uids.empty()) {
        co_return out;
    }
    if (!cmd) {
        co_return make_error(stage::fetch, errc::invalid_argument, "UID FETCH: UID 0 is not a message");
    }
    std::sort(uids.begin(), uids.end());
    std::string tag = cmd->tag;
    if (auto s = co_await send(std::move(*cmd), stage::fetch, "UID FETCH"); !s) {
        co_return std::move(s).err();
    }
    allow_untagged(uids.size(), max_fetch_response);
    auto done = co_await complete(std::move(tag), "UID FETCH", stage::fetch,
        [&out, &uids](const response& r) -> std::optional<error> {
            auto d = data_of(r);
            if (!d || !d->number || !iequals(d->name, "FETCH")) {
                return std::nullopt;
            }
            auto f = fetch_summary_of(r);
            if (!f) {
                return make_error(stage::fetch, errc::protocol, "UID FETCH: malformed FETCH response: " + printable(r.raw(), 200));
            }
            // Unsolicited FETCHes (flag changes by another client) carry no section: skip them,
            // as any answer for a UID we did not ask for.
            if (!f->uid || f->section_name.empty() || !std::binary_search(uids.begin(), uids.end(), *f->uid)) {
                return std::nullopt;
            }
            fetched_message m;
            m.uid = *f->uid;
            append_unquoted(f->internal_date, m.internal_date);
            m.size = f->rfc822_size.value_or(0);
            if (f->section_type == token_type::quoted) {
                append_unquoted(f->section, m.section);
            } else {
                m.section.assign(f->section);
            }
            out.push_back(std::move(m));
            return std::nullopt;
        });
    if (!done) {
        co_return std::move(done).err();
    }
    co_return out;
}

task<result<void>> session::uid_delete(std::vector<std::uint32_t> uids)
{
    if (uids.empty()) {
        co_return result<void>{};
    }
    const std::string set = uid_set(uids);
    auto store = m_builder.uid_store_deleted(set);
    if (!store) {
        co_return make_error(stage::cleanup, errc::invalid_argument, "UID STORE: UID 0 is not a message");
    }
    auto ignore = [](const response&) -> std::optional<error> { return std::nullopt; };
    std::string tag = store->tag;
    if (auto s = co_await send(std::move(*store), stage::cleanup, "UID STORE"); !s) {
        co_return std::move(s).err();
    }
    allow_untagged(uids.size(), max_flags_response);
    if (auto d = co_await complete(std::move(tag), "UID STORE", stage::cleanup, ignore); !d) {
        co_return std::move(d).err();
    }
    if (has_capability("UIDPLUS")) {
        auto expunge = m_builder.uid_expunge(set);
        tag = expunge->tag;
        if (auto s = co_await send(std::move(*expunge), stage::cleanup, "UID EXPUNGE"); !s) {
            co_return std::move(s).err();
        }
        allow_untagged(uids.size(), max_flags_response);
        co_return co_await complete(std::move(tag), "UID EXPUNGE", stage::cleanup, ignore);
    }
    // Without UIDPLUS, EXPUNGE removes every \Deleted message: only safe when all are ours.
    tag = reserve_tag();
    command search{tag, {tag + " UID SEARCH DELETED\r\n"}};
    if (auto s = co_await send(std::move(search), stage::cleanup, "UID SEARCH DELETED"); !s) {
        co_return std::move(s).err();
    }
    std::vector<std::uint32_t> flagged;
    auto searched = co_await complete(std::move(tag), "UID SEARCH DELETED", stage::cleanup,
        [&flagged](const response& r) -> std::optional<error> {
            if (search_results(r, flagged) && flagged.size() > max_search_results) {
                return make_error(stage::cleanup, errc::protocol, "UID SEARCH DELETED: too many results");
            }
            return std::nullopt;
        });
    if (!searched) {
        co_return std::move(searched).err();
    }
    std::sort(uids.begin(), uids.end());
    std::vector<std::uint32_t> foreign;
    for (std::uint32_t u : flagged) {
        if (!std::binary_search(uids.begin(), uids.end(), u)) {
            foreign.push_back(u);
        }
    }
    if (!foreign.empty()) {
        co_return make_error(stage::cleanup, errc::rejected,
            fmt::format("left {} flagged \\Deleted: the server lacks UIDPLUS and other messages (UIDs {}) are "
                        "flagged \\Deleted too, which EXPUNGE would remove",
                set, uid_set(foreign)));
    }
    command expunge = m_builder.expunge();
    tag = expunge.tag;
    if (auto s = co_await send(std::move(expunge), stage::cleanup, "EXPUNGE"); !s) {
        co_return std::move(s).err();
    }
    allow_untagged(uids.size(), max_flags_response);
    co_return co_await complete(std::move(tag), "EXPUNGE", stage::cleanup, ignore);
}

task<result<bool>> session::idle(engine::deadline until)
{
    if (!has_capability("IDLE")) {
        co_return make_error(stage::fetch, errc::rejected, "server does not offer IDLE");
    }
    command cmd = m_builder.idle();
    std::string tag = cmd.tag;
    if (auto s = co_await send(std::move(cmd), stage::fetch, "IDLE"); !s) {
        co_return std::move(s).err();
    }
    if (auto c = co_await wait_continuation(tag, "IDLE", stage::fetch); !c) {
        co_return std::move(c).err();
    }
    bool arrived = false;
    for (;;) {
        // Silence until the deadline is the normal outcome of IDLE, not a failure.
        auto r = co_await next(until, stage::fetch, "IDLE", true);
        if (!r) {
            if (r.err().code == errc::timed_out && m_conn.is_open()) {
                break;
            }
            co_return std::move(r).err();
        }
        // New mail is an EXISTS above the count so far; after an EXPUNGE the server may
        // repeat the lower count, which is no news.
        auto d = data_of(*r);
        const bool more = d && d->number && iequals(d->name, "EXISTS") && *d->number > m_exists;
        if (auto e = observe(*r, stage::fetch)) {
            co_return std::move(*e);
        }
        if (r->kind() != response_kind::untagged) {
            co_return make_error(stage::fetch, errc::protocol, "IDLE: unexpected response: " + printable(r->raw(), 200));
        }
        if (more) {
            arrived = true;
            break;
        }
    }
    release();
    if (m_log) {
        m_log->sent(idle_done());
    }
    if (auto w = co_await m_conn.write(idle_done(), command_deadline()); !w) {
        co_return with_context(std::move(w).err(), stage::fetch, "IDLE");
    }
    auto done = co_await complete(std::move(tag), "IDLE", stage::fetch, [](const response&) -> std::optional<error> {
        return std::nullopt;
    });
    if (!done) {
        co_return std::move(done).err();
    }
    co_return arrived;
}

task<result<void>> session::append(std::string utf8_name, std::string message)
{
    auto wire = mutf7_encode(utf8_name);
    if (!wire) {
        co_return make_error(stage::fetch, errc::invalid_argument, "APPEND: mailbox name is not UTF-8");
    }
    if (message.find('\0') != std::string::npos) {
        co_return make_error(stage::fetch, errc::invalid_argument, "APPEND: the message holds a NUL byte");
    }
    const bool non_sync = has_capability("LITERAL+") || (has_capability("LITERAL-") && message.size() <= 4096);
    std::string tag = reserve_tag();
    std::string head = fmt::format("{} APPEND {} {{{}{}}}\r\n", tag, quoted(*wire), message.size(), non_sync ? "+" : "");
    command cmd{tag, {}};
    redaction hide{head.size(), true};   // the message is logged as its length only
    if (non_sync) {
        cmd.chunks.push_back(head + message + "\r\n");
    } else {
        cmd.chunks.push_back(std::move(head));
        cmd.chunks.push_back(message + "\r\n");
    }
    if (auto s = co_await send(std::move(cmd), stage::fetch, "APPEND", hide); !s) {
        co_return std::move(s).err();
    }
    co_return co_await complete(std::move(tag), "APPEND", stage::fetch, [](const response&) -> std::optional<error> {
        return std::nullopt;
    });
}

task<engine::result<void>> session::noop()
{
    command cmd = m_builder.noop();
    std::string tag = cmd.tag;
    if (auto s = co_await send(std::move(cmd), stage::fetch, "NOOP"); !s) {
        co_return std::move(s).err();
    }
    co_return co_await complete(std::move(tag), "NOOP", stage::fetch, [](const response&) -> std::optional<error> {
        return std::nullopt;
    });
}

task<void> session::logout()
{
    if (m_conn.is_open()) {
        command cmd = m_builder.logout();
        std::string tag = cmd.tag;
        // Best effort: the answer (BYE, then OK) changes nothing; errors end the wait.
        const auto sent = co_await send(std::move(cmd), stage::cleanup, "LOGOUT");
        if (sent) {
            (void)co_await complete(std::move(tag), "LOGOUT", stage::cleanup, [](const response&) -> std::optional<error> {
                return std::nullopt;
            });
        }
    }
    release();
    co_await m_conn.close();
}

} // namespace protocols::imap
