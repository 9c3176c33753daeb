// The probe lifecycle: build -> send -> poll -> delete, and the verdict. See roundtrip.h.
//
// Finding our message: every poll searches each folder for "p=<probe name>;" in X-Mailprobe
// (one SEARCH finds this run's message and older leftovers of the same probe alike; the
// field is folded only at whitespace, so that token is never split), fetches the headers of
// hits not inspected before, and lets the HMAC decide. A message that does not verify, is a
// bounce, or belongs to another probe is remembered as inspected and never touched.
#include "probe/roundtrip.h"

#include "engine/timer.h"
#include "protocols/common/sanitize.h"
#include "protocols/common/transcript.h"
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/session.h"
#include "protocols/message/builder.h"
#include "protocols/message/dsn.h"
#include "protocols/message/header_reader.h"
#include "protocols/pop3/session.h"
#include "protocols/smtp/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <span>
#include <string_view>
#include <vector>

namespace probe {

using engine::errc;
using engine::error;
using engine::make_error;
using engine::stage;
using engine::task;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::optional<context> context::from_plan(const scenarios::plan& p)
{
    if (!p.hmac_key) {
        return std::nullopt;
    }
    std::string_view raw = p.hmac_key->reveal();
    auto key = protocols::message::mac_key::from_bytes(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
    if (!key) {
        return std::nullopt;
    }
    return context(*key);
}

engine::result<engine::tls_context> context::tls_for(const std::string& ca_file, bool insecure)
{
    auto key = std::make_pair(ca_file, insecure);
    if (auto it = m_tls.find(key); it != m_tls.end()) {
        return it->second;
    }
    engine::tls_options o;
    o.ca_file = ca_file;
    o.insecure = insecure;
    auto made = engine::tls_context::client(o);
    if (!made) {
        return std::move(made).err().at(stage::tls);
    }
    m_tls.emplace(key, *made);
    return made;
}

std::uint64_t context::now_ms() const
{
    if (wall_clock_ms) {
        return wall_clock_ms();
    }
    return static_cast<std::uint64_t>(
        duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

namespace {

// Headers fetched per folder and round: a mailbox flooded with copies of our field must not
// turn one poll into an unbounded download. Newest first, where this run's message is.
constexpr std::size_t max_headers_per_round = 64;

std::int64_t ms_since(engine::clock::time_point from, engine::clock::time_point to = engine::clock::now())
{
    return duration_cast<milliseconds>(to - from).count();
}

protocols::tls_mode mode_of(scenarios::tls_mode t) noexcept
{
    switch (t) {
    case scenarios::tls_mode::none: return protocols::tls_mode::none;
    case scenarios::tls_mode::starttls: return protocols::tls_mode::starttls;
    case scenarios::tls_mode::implicit: return protocols::tls_mode::implicit;
    }
    return protocols::tls_mode::starttls;
}

engine::result<protocols::endpoint> endpoint_for(const scenarios::server& s, context& ctx)
{
    protocols::endpoint ep;
    ep.host = s.host;
    ep.port = s.port;
    ep.tls = mode_of(s.tls);
    ep.verify_name = s.verify_name;
    ep.connect_timeout = s.connect_timeout;
    ep.command_timeout = s.command_timeout;
    if (ep.tls != protocols::tls_mode::none) {
        auto tls = ctx.tls_for(s.ca_file, s.insecure);
        if (!tls) {
            return std::move(tls).err();
        }
        ep.tls_context = std::move(*tls);
    }
    return ep;
}

protocols::credentials credentials_of(const scenarios::credential& c)
{
    protocols::credentials out;
    out.user = c.user;
    if (c.oauth2_token) {
        out.secret = std::string(c.oauth2_token->reveal());
        out.type = protocols::credentials::kind::oauth2_token;
    } else if (c.password) {
        out.secret = std::string(c.password->reveal());
    }
    return out;
}

std::string seconds_text(milliseconds d)
{
    if (d.count() % 1000 == 0) {
        return fmt::format("{} s", d.count() / 1000);
    }
    return fmt::format("{:.1f} s", static_cast<double>(d.count()) / 1000.0);
}

void record_tls(result& r, const std::string& server, const engine::tls_info& info)
{
    r.tls.push_back({server, info.version, info.cipher, info.cert_not_after, info.verified, info.insecure});
}

/// Down at the error's stage (`fallback` when it has none), quoting the server.
void fail(result& r, error e, stage fallback)
{
    r.outcome = status::down;
    r.stage = e.where == stage::none ? fallback : e.where;
    if (e.where == stage::none) {
        e.where = fallback;
    }
    r.reason = e.describe();
    r.server_reply = std::move(e.message);
}

enum class verdict : std::uint8_t { ours, leftover, other };

/// What every poll round shares: who we are looking for, what was already inspected, and
/// what was found.
struct poll_state {
    const scenarios::probe_plan* plan = nullptr;
    context* ctx = nullptr;
    result* out = nullptr;
    protocols::message::probe_id id;
    std::string search_value;               // "p=<name>;"
    protocols::message::header_reader reader;
    std::size_t copies = 0;
    std::string folder;                     // where this run's message was found
    std::string junk_folder;                // the IMAP junk folder; empty when none
    engine::clock::time_point first_seen{};

    bool found() const noexcept { return copies > 0; }
};

/// The evidence of the first copy found: hops, clock skew, Authentication-Results demands.
void take_evidence(poll_state& st, const protocols::message::message_headers& h)
{
    result& r = *st.out;
    for (const auto& hop : h.hops) {
        r.hops.push_back({protocols::printable(hop.by, 255), hop.delay_ms, hop.clock_skew});
        if (hop.clock_skew && hop.delay_ms) {
            r.max_clock_skew_ms = std::max(r.max_clock_skew_ms, -*hop.delay_ms);
        }
    }
    const auto& demand = st.plan->spec->require_auth_results;
    auto check = [&](std::string_view method, const std::vector<std::string>& allowed) {
        if (allowed.empty()) {
            return;
        }
        const auto* m = h.find_method(method);
        std::string_view got = m ? m->result : std::string_view("none");
        for (const auto& a : allowed) {
            if (got.size() == a.size() && std::equal(got.begin(), got.end(), a.begin(),
                    [](char x, char y) { return (x | 0x20) == (y | 0x20); })) {
                return;
            }
        }
        r.warnings.push_back(fmt::format("authentication result {}={} is not one of the required {}", method,
            protocols::printable(got, 64), fmt::join(allowed, ", ")));
    };
    check("spf", demand.spf);
    check("dkim", demand.dkim);
    check("dmarc", demand.dmarc);
}

/// Ours (this run), a leftover of this probe old enough to delete, or anything else.
verdict inspect(poll_state& st, std::string_view header)
{
    if (!st.reader.read(header).complete()) {
        return verdict::other;
    }
    const auto& h = st.reader.headers();
    auto check = protocols::message::classify_arrival(h, st.ctx->key());
    if (check.kind != protocols::message::arrival::probe) {
        return verdict::other;
    }
    const auto& stamp = check.header.stamp;
    if (stamp.id == st.id) {
        if (!st.found()) {
            st.first_seen = engine::clock::now();
            take_evidence(st, h);
        }
        return verdict::ours;
    }
    const auto& spec = *st.plan->spec;
    auto deadline_ms = static_cast<std::uint64_t>(spec.deadline.count());
    if (stamp.probe_name == spec.name && stamp.sent_unix_ms + deadline_ms < st.ctx->now_ms()) {
        return verdict::leftover;
    }
    return verdict::other;
}

/// UIDs inspected and found not deletable, per folder, while the UIDVALIDITY holds.
struct folder_memo {
    std::uint32_t uidvalidity = 0;
    std::set<std::uint32_t> checked;
};

/// One IMAP poll round over `folders`. On an error after our message was found (deleting
/// it), st->found() is already true: the caller tells a cleanup failure from a fetch failure.
task<engine::result<void>> imap_round(protocols::imap::session* s, poll_state* st, std::vector<std::string> folders,
    std::vector<folder_memo>* memos)
{
    for (std::size_t f = 0; f < folders.size(); ++f) {
        auto sel = co_await s->select(folders[f]);
        if (!sel) {
            co_return std::move(sel).err();
        }
        folder_memo& memo = (*memos)[f];
        if (memo.uidvalidity != sel->uidvalidity) {
            memo.uidvalidity = sel->uidvalidity;
            memo.checked.clear();
        }
        auto hits = co_await s->uid_search_header(std::string(protocols::message::probe_header_name), st->search_value);
        if (!hits) {
            co_return std::move(hits).err();
        }
        std::vector<std::uint32_t> fresh;
        std::sort(hits->begin(), hits->end(), std::greater<>());
        for (auto uid : *hits) {
            if (!memo.checked.contains(uid) && fresh.size() < max_headers_per_round) {
                fresh.push_back(uid);
            }
        }
        if (fresh.empty()) {
            continue;
        }
        auto fetched = co_await s->uid_fetch_headers(fresh);
        if (!fetched) {
            co_return std::move(fetched).err();
        }
        std::vector<std::uint32_t> doomed;
        std::size_t ours = 0;
        for (const auto& m : *fetched) {
            switch (inspect(*st, m.header)) {
            case verdict::ours:
                ++ours;
                doomed.push_back(m.uid);
                break;
            case verdict::leftover:
                doomed.push_back(m.uid);
                break;
            case verdict::other:
                memo.checked.insert(m.uid);
                break;
            }
        }
        if (ours > 0) {
            st->copies += ours;
            st->folder = folders[f];
        }
        if (!doomed.empty()) {
            if (auto del = co_await s->uid_delete(std::move(doomed)); !del) {
                co_return std::move(del).err();
            }
        }
        if (st->found()) {
            co_return engine::result<void>{};
        }
    }
    co_return engine::result<void>{};
}

/// The IMAP side: one session for the whole poll.
task<void> poll_imap(poll_state* st, protocols::endpoint ep, protocols::credentials creds, engine::deadline until,
    protocols::transcript* log)
{
    result& r = *st->out;
    const auto& plan = *st->plan;
    auto started = engine::clock::now();
    auto s = co_await protocols::imap::session::connect(std::move(ep), log);
    if (!s) {
        fail(r, std::move(s).err(), stage::connect);
        co_return;
    }
    if (s->tls_info()) {
        record_tls(r, plan.fetch_server->name, *s->tls_info());
    }
    if (auto l = co_await s->login(std::move(creds)); !l) {
        fail(r, std::move(l).err(), stage::auth);
        co_await s->logout();
        co_return;
    }
    auto boxes = co_await s->list();
    if (!boxes) {
        fail(r, std::move(boxes).err(), stage::fetch);
        co_await s->logout();
        co_return;
    }
    auto setup_ms = ms_since(started);

    std::vector<std::string> folders{"INBOX"};
    auto add_folder = [&folders](const std::string& name) {
        if (std::find(folders.begin(), folders.end(), name) == folders.end()) {
            folders.push_back(name);
        }
    };
    const auto& junk_names = plan.fetch->junk_folders;
    std::optional<std::size_t> junk;
    if (junk_names.empty()) {
        junk = protocols::imap::find_junk_folder(*boxes);
    } else {
        std::vector<std::string_view> names(junk_names.begin(), junk_names.end());
        junk = protocols::imap::find_junk_folder(*boxes, names);
    }
    if (junk) {
        st->junk_folder = (*boxes)[*junk].name;
        add_folder(st->junk_folder);
    }
    for (const auto& extra : plan.fetch->extra_folders) {
        add_folder(extra);
    }
    std::vector<folder_memo> memos(folders.size());

    for (;;) {
        auto round_start = engine::clock::now();
        auto done = co_await imap_round(&*s, st, folders, &memos);
        if (!done) {
            fail(r, std::move(done).err(), st->found() ? stage::cleanup : stage::fetch);
            break;
        }
        if (st->found()) {
            r.ms.fetch = setup_ms + ms_since(round_start);
            break;
        }
        auto now = engine::clock::now();
        if (now >= until) {
            break;
        }
        if (!co_await engine::sleep_until(std::min(now + plan.spec->poll, until))) {
            fail(r, make_error(stage::deliver, errc::cancelled, "cancelled while waiting for the message"),
                stage::deliver);
            break;
        }
    }
    co_await s->logout();
}

/// One POP3 round: a fresh session (POP3 shows a snapshot taken at login), UIDL, TOP for the
/// messages not inspected yet, DELE ours and leftovers, QUIT to commit. `checked` keeps the
/// UIDs inspected and left alone.
task<engine::result<void>> pop3_round(poll_state* st, protocols::endpoint ep, protocols::credentials creds,
    protocols::transcript* log, std::set<std::string>* checked, bool* tls_recorded)
{
    auto s = co_await protocols::pop3::session::connect(std::move(ep), log);
    if (!s) {
        co_return std::move(s).err();
    }
    if (!*tls_recorded && s->tls_info()) {
        record_tls(*st->out, st->plan->fetch_server->name, *s->tls_info());
        *tls_recorded = true;
    }
    if (auto l = co_await s->login(std::move(creds)); !l) {
        co_await s->close();
        co_return std::move(l).err();
    }
    auto list = co_await s->uidl();
    if (!list) {
        co_await s->close();
        co_return std::move(list).err();
    }
    std::size_t fetched = 0;
    std::size_t ours = 0;
    std::vector<std::uint32_t> doomed;
    for (auto it = list->rbegin(); it != list->rend() && fetched < max_headers_per_round; ++it) {
        if (checked->contains(it->uid)) {
            continue;
        }
        ++fetched;
        auto header = co_await s->top_headers(it->msgno);
        if (!header) {
            co_await s->close();
            co_return std::move(header).err();
        }
        switch (inspect(*st, *header)) {
        case verdict::ours:
            ++ours;
            doomed.push_back(it->msgno);
            break;
        case verdict::leftover:
            doomed.push_back(it->msgno);
            break;
        case verdict::other:
            checked->insert(it->uid);
            break;
        }
    }
    if (ours > 0) {
        st->copies += ours;
        st->folder = "INBOX";
    }
    for (auto msgno : doomed) {
        if (auto d = co_await s->dele(msgno); !d) {
            co_await s->close();
            co_return std::move(d).err();
        }
    }
    auto q = co_await s->quit();
    if (!q && !doomed.empty()) {
        co_return std::move(q).err();
    }
    co_return engine::result<void>{};
}

task<void> poll_pop3(poll_state* st, protocols::endpoint ep, protocols::credentials creds, engine::deadline until,
    protocols::transcript* log)
{
    result& r = *st->out;
    std::set<std::string> checked;
    bool tls_recorded = false;
    for (;;) {
        auto round_start = engine::clock::now();
        auto done = co_await pop3_round(st, ep, creds, log, &checked, &tls_recorded);
        if (!done) {
            fail(r, std::move(done).err(), st->found() ? stage::cleanup : stage::fetch);
            co_return;
        }
        if (st->found()) {
            r.ms.fetch = ms_since(round_start);
            co_return;
        }
        auto now = engine::clock::now();
        if (now >= until) {
            co_return;
        }
        if (!co_await engine::sleep_until(std::min(now + st->plan->spec->poll, until))) {
            fail(r, make_error(stage::deliver, errc::cancelled, "cancelled while waiting for the message"),
                stage::deliver);
            co_return;
        }
    }
}

/// The rules that apply to every result: certificate expiry and insecure TLS.
void tls_warnings(result& r, const scenarios::probe& spec, std::uint64_t now_ms)
{
    auto now_s = static_cast<std::int64_t>(now_ms / 1000);
    for (const auto& t : r.tls) {
        if (t.insecure) {
            r.warnings.push_back(fmt::format("TLS certificate verification is off for {}", t.server));
        }
        if (t.cert_not_after == 0) {
            continue;
        }
        std::int64_t days = (t.cert_not_after - now_s) / 86'400;
        if (!r.cert_days_left || days < *r.cert_days_left) {
            r.cert_days_left = days;
        }
        if (days < spec.warn_cert_days) {
            r.warnings.push_back(fmt::format("the certificate of {} expires in {} days", t.server, days));
        }
    }
}

} // namespace

task<result> run_once(scenarios::probe_plan plan, context& ctx)
{
    auto started = engine::clock::now();
    const scenarios::probe& spec = *plan.spec;
    result r;
    r.tenant = spec.tenant;
    r.probe = spec.name;
    r.topology = spec.topology;
    r.outcome = status::up;   // until a stage fails; finish() turns warnings into Warning
    protocols::transcript log;
    protocols::transcript* trace = ctx.trace ? &log : nullptr;
    auto finish = [&]() {
        tls_warnings(r, spec, ctx.now_ms());
        if (r.outcome != status::down) {
            r.outcome = r.warnings.empty() ? status::up : status::warning;
        }
        r.ms.total = ms_since(started);
        if (trace) {
            r.transcript = log.text();
        }
    };

    // Build.
    auto sent_ms = ctx.now_ms();
    auto id = ctx.ids().next(sent_ms);
    r.probe_id = id.to_string();
    protocols::message::message_spec ms;
    ms.from = spec.from;
    ms.to = spec.to;
    ms.probe_name = spec.name;
    ms.id = id;
    ms.sent_unix_ms = sent_ms;
    auto built = protocols::message::build_message(ms, ctx.key());
    if (built.error != protocols::message::build_error::none) {
        fail(r, make_error(stage::scenario, errc::invalid_argument,
            fmt::format("cannot build the probe message: {}", protocols::message::describe(built.error))),
            stage::scenario);
        finish();
        co_return r;
    }

    // Send.
    auto smtp_ep = endpoint_for(*plan.send_via, ctx);
    if (!smtp_ep) {
        fail(r, std::move(smtp_ep).err(), stage::tls);
        finish();
        co_return r;
    }
    protocols::smtp::send_request req;
    req.server = std::move(*smtp_ep);
    if (plan.send_via->auth) {
        req.auth = credentials_of(*plan.send_via->auth);
    }
    req.helo_name = ctx.helo_name.empty() ? std::string(scenarios::domain_of(spec.from)) : ctx.helo_name;
    req.mail_from = spec.from;
    req.recipients.push_back(spec.to);
    req.message = std::move(built.text);
    log.note(fmt::format("SMTP via {}", plan.send_via->name));
    auto send_start = engine::clock::now();
    auto sent = co_await protocols::smtp::send(std::move(req), trace);
    if (!sent) {
        fail(r, std::move(sent).err(), stage::send);
        finish();
        co_return r;
    }
    const auto& t = sent->timings;
    r.ms.smtp_connect = t.connect_ms;
    r.ms.smtp_tls = t.tls_ms;
    r.ms.smtp_auth = t.auth_ms;
    r.ms.smtp_transaction = sent->transaction_ms;
    r.server_reply = sent->final_reply;
    if (sent->tls) {
        record_tls(r, plan.send_via->name, *sent->tls);
    }
    // The 250 after DATA came when the phases before QUIT were over.
    auto accepted = std::min(engine::clock::now(),
        send_start + milliseconds(t.connect_ms + t.tls_ms + t.greeting_ms + t.auth_ms + sent->transaction_ms));
    auto until = accepted + spec.deadline;

    // Poll and delete.
    auto fetch_ep = endpoint_for(*plan.fetch_server, ctx);
    if (!fetch_ep) {
        fail(r, std::move(fetch_ep).err(), stage::tls);
        finish();
        co_return r;
    }
    poll_state st;
    st.plan = &plan;
    st.ctx = &ctx;
    st.out = &r;
    st.id = id;
    st.search_value = fmt::format("p={};", spec.name);
    log.note(fmt::format("{} via {}", scenarios::to_string(plan.fetch_server->protocol), plan.fetch_server->name));
    auto creds = credentials_of(plan.fetch->login);
    if (plan.fetch_server->protocol == scenarios::protocol_kind::pop3) {
        co_await poll_pop3(&st, std::move(*fetch_ep), std::move(creds), until, trace);
    } else {
        co_await poll_imap(&st, std::move(*fetch_ep), std::move(creds), until, trace);
    }

    // Verdict.
    if (st.found()) {
        r.folder = st.folder;
        r.ms.delivery = std::max<std::int64_t>(0, ms_since(accepted, st.first_seen));
        if (st.copies > 1) {
            r.warnings.push_back(st.copies == 2 ? std::string("delivered twice")
                                                : fmt::format("delivered {} times", st.copies));
        }
        if (r.ms.delivery > spec.warn_latency.count()) {
            r.warnings.push_back(fmt::format("delivery took {} ms, above the {} ms warning level", r.ms.delivery,
                spec.warn_latency.count()));
        }
        // Extra folders are places the mailbox owner files mail on purpose: only the junk
        // folder is a failed delivery.
        if (!st.junk_folder.empty() && st.folder == st.junk_folder) {
            std::string why = fmt::format("filed as spam in {}", protocols::printable(st.folder, 255));
            if (spec.junk == scenarios::junk_policy::warning) {
                r.warnings.push_back(why);
                if (r.outcome != status::down) {
                    r.stage = stage::deliver;
                    r.reason = std::move(why);
                }
            } else if (r.outcome == status::down) {
                // The cleanup failed too; the junk filing is the finding that matters.
                r.warnings.push_back(r.reason);
                r.stage = stage::deliver;
                r.reason = std::move(why);
            } else {
                r.outcome = status::down;
                r.stage = stage::deliver;
                r.reason = std::move(why);
            }
        }
    } else if (r.outcome != status::down) {
        r.outcome = status::down;
        r.stage = stage::deliver;
        r.reason = fmt::format("not delivered within {}", seconds_text(spec.deadline));
    }
    finish();
    co_return r;
}

} // namespace probe
