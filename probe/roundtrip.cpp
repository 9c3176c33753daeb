// The probe lifecycle: build -> send -> poll -> delete, and the verdict. See roundtrip.h.
//
// Finding our message: every poll searches each folder for "p=<probe name>;" in X-Mailprobe
// (one SEARCH finds this run's message and older leftovers of the same probe alike; the
// field is folded only at whitespace, so that token is never split), fetches the headers of
// hits not inspected before, and lets the HMAC decide. A message that does not verify, is a
// bounce, or belongs to another probe is remembered as inspected and never touched.
// Bounces: the bounce mailbox is searched for the same token in the text (a DSN returns our
// header in its body), fetched whole and read by the DSN reader; the returned header must
// verify too, so a forged bounce cannot fail a probe.
#include "probe/roundtrip.h"

#include "engine/timer.h"
#include "protocols/common/sanitize.h"
#include "protocols/common/transcript.h"
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/session.h"
#include "protocols/message/builder.h"
#include "protocols/message/date_time.h"
#include "protocols/message/dsn.h"
#include "protocols/message/header_reader.h"
#include "protocols/pop3/session.h"
#include "protocols/smtp/session.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <memory>
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

namespace {

/// The names of the environment variables the plan's secrets come from, sorted, each once.
std::vector<std::string> secret_env_names(const scenarios::plan& p)
{
    std::set<std::string> names;
    auto note = [&](const std::optional<scenarios::secret>& s) {
        constexpr std::string_view env = "env ";
        if (s && s->from() == scenarios::secret::source::env && s->origin().starts_with(env)) {
            names.insert(s->origin().substr(env.size()));
        }
    };
    auto note_login = [&](const scenarios::credential& c) {
        note(c.password);
        note(c.oauth2_token);
        if (c.oauth2) {
            note(c.oauth2->client_secret);
        }
    };
    if (p.hmac_key) {
        note(*p.hmac_key);
    }
    for (const auto& one : p.probes) {
        for (const auto* server : {one.send_via.get(), one.fetch_server.get(), one.bounce_server.get()}) {
            if (server && server->auth) {
                note_login(*server->auth);
            }
        }
        for (const auto* box : {one.fetch.get(), one.bounce.get()}) {
            if (box) {
                note_login(box->login);
            }
        }
    }
    return {names.begin(), names.end()};
}

} // namespace

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
    context ctx(*key);
    ctx.tokens.command.withheld_env = secret_env_names(p);
    return ctx;
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

/// The bearer token `c` logs in with (SECRET); empty for a password.
std::string bearer_of(const protocols::credentials& c)
{
    return c.type == protocols::credentials::kind::oauth2_token ? c.secret : std::string();
}

/// A server refusing a cached token before its expiry (revoked) drops it from the cache, so
/// the next probe fetches a fresh one instead of failing until the token would have expired.
void forget_refused(token_cache& cache, const scenarios::credential& login, const std::string& token,
    const engine::error& e)
{
    if (!token.empty() && e.code == engine::errc::auth_failed) {
        cache.rejected(login, token);
    }
}

// Messages fetched per folder and round: a mailbox flooded with copies of our field must not
// turn one poll into an unbounded download. Newest first, where this run's message is.
constexpr std::size_t max_messages_per_round = 64;

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
    r.code = e.code;
    r.server_reply = std::move(e.message);
}

enum class verdict : std::uint8_t { ours, leftover, other };
enum class looking_for : std::uint8_t { probes, bounces };

/// What a bounce of one of our messages said: the first failed recipient's fields.
struct bounce_info {
    std::string status;       // "5.1.1"
    std::string diagnostic;   // "smtp; 550 5.1.1 <x@y>: Recipient address rejected" (printable)
    std::string recipient;
};

/// One message looked for: this run's, or in next-poll mode an earlier run's.
struct sought {
    protocols::message::probe_id id;
    std::uint64_t sent_unix_ms = 0;
    std::size_t copies = 0;
    std::string folder;                     // where its first copy was found
    engine::clock::time_point first_seen{};
    std::uint64_t first_seen_unix_ms = 0;
    std::optional<bounce_info> bounce;

    bool settled() const noexcept { return copies > 0 || bounce; }
};

sought sought_for(const protocols::message::probe_id& id, std::uint64_t sent_unix_ms)
{
    sought s;
    s.id = id;
    s.sent_unix_ms = sent_unix_ms;
    return s;
}

/// What every poll round shares: who we are looking for, what was found, and the readers.
struct poll_state {
    const scenarios::probe_plan* plan = nullptr;
    context* ctx = nullptr;
    result* out = nullptr;
    std::vector<sought> wanted;
    std::string search_value;               // "p=<name>;"
    protocols::message::header_reader reader;
    protocols::message::dsn_reader dsn;
    std::string junk_folder;                // the IMAP junk folder; empty when none
    bool evidence_taken = false;
    std::vector<std::string> auth_unmet;    // Authentication-Results demands the message missed
    std::int64_t fetch_ms = 0;              // setup and round of the session that found one

    sought* find(const protocols::message::probe_id& id)
    {
        auto it = std::find_if(wanted.begin(), wanted.end(), [&id](const sought& s) { return s.id == id; });
        return it == wanted.end() ? nullptr : &*it;
    }
    bool any_found() const
    {
        return std::any_of(wanted.begin(), wanted.end(), [](const sought& s) { return s.copies > 0; });
    }
    bool all_settled() const
    {
        return std::all_of(wanted.begin(), wanted.end(), [](const sought& s) { return s.settled(); });
    }
};

/// The store hop: from the last Received (or the Date) to the INTERNALDATE the store gave
/// the message. Its skew also shows against our own clock: the store cannot have stamped the
/// message before the SMTP server accepted it, nor after we first saw it.
void store_hop(result& r, const std::string& server, const protocols::message::message_headers& h, const sought& s,
    std::string_view internal_date)
{
    auto stored = protocols::message::parse_internal_date(internal_date);
    if (!stored) {
        return;
    }
    std::optional<std::int64_t> before = h.hops.empty() ? h.date_unix_ms : h.hops.back().unix_ms;
    hop store{server, std::nullopt, false, true};
    if (before) {
        store.delay_ms = *stored - *before;
        store.skewed = *store.delay_ms < 0;
        if (store.skewed) {
            r.max_clock_skew_ms = std::max(r.max_clock_skew_ms, -*store.delay_ms);
        }
    }
    r.hops.push_back(std::move(store));
    // Only what lies beyond the slack counts: INTERNALDATE has whole seconds, a store may
    // stamp the message just before its server's 250 reaches us, and we note the first sight
    // only after the fetch.
    constexpr std::int64_t slack_ms = 2000;
    const auto accepted = static_cast<std::int64_t>(s.sent_unix_ms);
    const auto seen = static_cast<std::int64_t>(s.first_seen_unix_ms);
    const std::int64_t behind = accepted - *stored - slack_ms;
    const std::int64_t ahead = *stored - seen - slack_ms;
    r.max_clock_skew_ms = std::max({r.max_clock_skew_ms, behind, ahead});
}

/// The evidence of the first copy found: hops (the store's INTERNALDATE last, when the
/// fetch gave one), clock skew, Authentication-Results demands.
void take_evidence(poll_state& st, const protocols::message::message_headers& h, const sought& s,
    std::string_view internal_date)
{
    result& r = *st.out;
    for (const auto& hop : h.hops) {
        r.hops.push_back({protocols::printable(hop.by, 255), hop.delay_ms, hop.clock_skew});
        if (hop.clock_skew && hop.delay_ms) {
            r.max_clock_skew_ms = std::max(r.max_clock_skew_ms, -*hop.delay_ms);
        }
    }
    if (!internal_date.empty()) {
        store_hop(r, st.plan->fetch_server->name, h, s, internal_date);
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
        st.auth_unmet.push_back(fmt::format("authentication result {}={} is not one of the required {}", method,
            protocols::printable(got, 64), fmt::join(allowed, ", ")));
    };
    check("spf", demand.spf);
    check("dkim", demand.dkim);
    check("dmarc", demand.dmarc);
}

/// A verified message of this probe that nobody looks for and that is older than the deadline.
bool is_old_leftover(const poll_state& st, const protocols::message::probe_stamp& stamp)
{
    const auto& spec = *st.plan->spec;
    auto deadline_ms = static_cast<std::uint64_t>(spec.deadline.count());
    return stamp.probe_name == spec.name && stamp.sent_unix_ms + deadline_ms < st.ctx->now_ms();
}

/// A message's header block: one we look for, a leftover old enough to delete, or anything
/// else. `internal_date`: the IMAP INTERNALDATE; empty over POP3.
verdict inspect(poll_state& st, std::string_view header, const std::string& folder, std::string_view internal_date = {})
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
    if (sought* s = st.find(stamp.id)) {
        if (s->copies++ == 0) {
            s->first_seen = engine::clock::now();
            s->first_seen_unix_ms = st.ctx->now_ms();
            s->folder = folder;
            if (!st.evidence_taken) {
                st.evidence_taken = true;
                take_evidence(st, h, *s, internal_date);
            }
        }
        return verdict::ours;
    }
    return is_old_leftover(st, stamp) ? verdict::leftover : verdict::other;
}

/// A whole message from the bounce mailbox: a bounce of a message we look for, a bounce of an
/// old leftover, or anything else. The id counts only when the returned header verifies.
verdict inspect_bounce(poll_state& st, std::string_view message)
{
    if (!st.dsn.read(message).complete()) {
        return verdict::other;
    }
    const auto& rep = st.dsn.report();
    if (rep.kind == protocols::message::bounce_kind::none || !rep.probe_header) {
        return verdict::other;
    }
    auto check = protocols::message::verify_probe_header(rep.probe_header, st.ctx->key());
    if (check.verdict != protocols::message::header_verdict::ours) {
        return verdict::other;
    }
    if (sought* s = st.find(check.stamp.id)) {
        if (!s->bounce) {
            bounce_info b;
            const protocols::message::dsn_recipient* pick = nullptr;
            for (const auto& rcpt : rep.recipients) {
                if (!pick || protocols::message::unfold(rcpt.action) == "failed") {
                    pick = &rcpt;
                }
            }
            if (pick) {
                b.status = protocols::printable(protocols::message::unfold(pick->status), 16);
                b.diagnostic = protocols::printable(protocols::message::unfold(pick->diagnostic_code), 500);
                b.recipient = protocols::printable(protocols::message::unfold(pick->final_recipient), 255);
            }
            s->bounce = std::move(b);
        }
        return verdict::ours;
    }
    return is_old_leftover(st, check.stamp) ? verdict::leftover : verdict::other;
}

/// A mailbox looked at in rounds, for our messages or for bounces of them. Errors come back
/// attributed to their stage.
class poller {
public:
    poller(poll_state* st, looking_for what, const scenarios::server* server, const scenarios::mailbox* box,
        protocols::endpoint ep, protocols::transcript* log)
        : m_st(st), m_what(what), m_server(server), m_box(box), m_ep(std::move(ep)), m_log(log)
    {
    }
    virtual ~poller() = default;
    virtual task<engine::result<void>> round() = 0;
    virtual task<void> close() = 0;
    /// Session setup plus the last round, in milliseconds.
    std::int64_t last_ms() const noexcept { return m_setup_ms + m_round_ms; }

protected:
    poll_state* m_st;
    looking_for m_what;
    const scenarios::server* m_server;
    const scenarios::mailbox* m_box;
    protocols::endpoint m_ep;
    protocols::transcript* m_log;
    std::int64_t m_setup_ms = 0;
    std::int64_t m_round_ms = 0;
};

/// UIDs inspected and found not deletable, per folder, while the UIDVALIDITY holds.
struct folder_memo {
    std::uint32_t uidvalidity = 0;
    std::set<std::uint32_t> checked;
};

/// IMAP: one session for all rounds. Probes: INBOX, the junk folder, the extra folders;
/// bounces: INBOX, searched in the text (the returned header is in the body).
class imap_poller final : public poller {
public:
    using poller::poller;

    task<engine::result<void>> round() override
    {
        auto started = engine::clock::now();
        if (!m_session) {
            if (auto opened = co_await open(); !opened) {
                m_broken = true;
                co_return std::move(opened).err();
            }
            m_setup_ms = ms_since(started);
            started = engine::clock::now();
        }
        // The first folder (INBOX) is searched even with nothing sought, so that a next-poll
        // run with nothing outstanding still clears leftovers there.
        for (std::size_t f = 0; f < m_folders.size() && (f == 0 || !m_st->all_settled()); ++f) {
            if (auto done = co_await folder_round(f); !done) {
                m_broken = true;
                co_return std::move(done).err();
            }
        }
        m_round_ms = ms_since(started);
        co_return engine::result<void>{};
    }

    task<void> close() override
    {
        if (!m_session) {
            co_return;
        }
        // Only a session that answered every command is worth keeping; after an error its
        // state (a command cut off mid-answer) is unknown.
        if (m_box->keep_session.count() > 0 && !m_broken && m_session->is_open() &&
            engine::clock::now() - m_logged_in < m_box->keep_session) {
            m_session->set_transcript(nullptr);
            m_st->ctx->sessions.put(m_box->name, session_pool::kept{std::move(*m_session), m_logged_in});
            m_session.reset();
            co_return;
        }
        co_await m_session->logout();
    }

private:
    /// A session an earlier run kept, if it still answers NOOP.
    task<bool> reuse()
    {
        auto kept = m_st->ctx->sessions.take(m_box->name, m_box->keep_session);
        if (!kept) {
            co_return false;
        }
        kept->session.set_transcript(m_log);
        if (m_log) {
            m_log->note(fmt::format("kept session, logged in {} s ago", ms_since(kept->logged_in) / 1000));
        }
        const auto alive = co_await kept->session.noop();
        if (!alive) {
            if (m_log) {
                m_log->note("the kept session no longer answers: " + alive.err().describe());
            }
            co_return false;
        }
        m_session.emplace(std::move(kept->session));
        m_logged_in = kept->logged_in;
        m_st->out->fetch_session_kept = true;
        co_return true;
    }

    task<engine::result<void>> open()
    {
        if (m_box->keep_session.count() > 0) {
            const bool reused = co_await reuse();
            if (reused) {
                if (m_session->tls_info()) {
                    record_tls(*m_st->out, m_server->name, *m_session->tls_info());
                }
                // LIST again: a junk folder may have been made since.
                co_return co_await discover_folders();
            }
        }
        auto s = co_await protocols::imap::session::connect(std::move(m_ep), m_log);
        if (!s) {
            co_return std::move(s).err().at(stage::connect);
        }
        m_session.emplace(std::move(*s));
        if (m_session->tls_info()) {
            record_tls(*m_st->out, m_server->name, *m_session->tls_info());
        }
        auto cred = co_await m_st->ctx->tokens.credentials_for(m_box->login, m_st->plan->spec->deadline);
        if (!cred) {
            co_return std::move(cred).err();
        }
        std::string token = bearer_of(*cred);
        if (auto l = co_await m_session->login(std::move(*cred)); !l) {
            forget_refused(m_st->ctx->tokens, m_box->login, token, l.err());
            co_return std::move(l).err().at(stage::auth);
        }
        m_logged_in = engine::clock::now();
        co_return co_await discover_folders();
    }

    task<engine::result<void>> discover_folders()
    {
        m_folders = {"INBOX"};
        if (m_what == looking_for::probes) {
            auto boxes = co_await m_session->list();
            if (!boxes) {
                co_return std::move(boxes).err().at(stage::fetch);
            }
            add_folders(*boxes);
        }
        m_memos.resize(m_folders.size());
        co_return engine::result<void>{};
    }

    void add_folders(const std::vector<protocols::imap::mailbox_info>& boxes)
    {
        auto add = [this](const std::string& name) {
            if (std::find(m_folders.begin(), m_folders.end(), name) == m_folders.end()) {
                m_folders.push_back(name);
            }
        };
        const auto& junk_names = m_box->junk_folders;
        std::optional<std::size_t> junk;
        if (junk_names.empty()) {
            junk = protocols::imap::find_junk_folder(boxes);
        } else {
            std::vector<std::string_view> names(junk_names.begin(), junk_names.end());
            junk = protocols::imap::find_junk_folder(boxes, names);
        }
        if (junk) {
            m_st->junk_folder = boxes[*junk].name;
            add(m_st->junk_folder);
        }
        for (const auto& extra : m_box->extra_folders) {
            add(extra);
        }
    }

    task<engine::result<void>> folder_round(std::size_t f)
    {
        protocols::imap::session& s = *m_session;
        const std::string& folder = m_folders[f];
        auto sel = co_await s.select(folder);
        if (!sel) {
            co_return std::move(sel).err();
        }
        folder_memo& memo = m_memos[f];
        if (memo.uidvalidity != sel->uidvalidity) {
            memo.uidvalidity = sel->uidvalidity;
            memo.checked.clear();
        }
        engine::result<std::vector<std::uint32_t>> hits = std::vector<std::uint32_t>{};
        if (m_what == looking_for::probes) {
            hits = co_await s.uid_search_header(std::string(protocols::message::probe_header_name), m_st->search_value);
        } else {
            hits = co_await s.uid_search_text(m_st->search_value);
        }
        if (!hits) {
            co_return std::move(hits).err();
        }
        std::vector<std::uint32_t> fresh;
        std::sort(hits->begin(), hits->end(), std::greater<>());
        for (auto uid : *hits) {
            if (!memo.checked.contains(uid) && fresh.size() < max_messages_per_round) {
                fresh.push_back(uid);
            }
        }
        if (fresh.empty()) {
            co_return engine::result<void>{};
        }
        engine::result<std::vector<protocols::imap::fetched_message>> fetched =
            std::vector<protocols::imap::fetched_message>{};
        if (m_what == looking_for::probes) {
            fetched = co_await s.uid_fetch_headers(std::move(fresh));
        } else {
            fetched = co_await s.uid_fetch_messages(std::move(fresh));
        }
        if (!fetched) {
            co_return std::move(fetched).err();
        }
        std::vector<std::uint32_t> doomed;
        for (const auto& m : *fetched) {
            verdict v = m_what == looking_for::probes ? inspect(*m_st, m.section, folder, m.internal_date) : inspect_bounce(*m_st, m.section);
            if (v == verdict::other) {
                memo.checked.insert(m.uid);
            } else {
                doomed.push_back(m.uid);
            }
        }
        if (!doomed.empty()) {
            if (auto del = co_await s.uid_delete(std::move(doomed)); !del) {
                co_return std::move(del).err();
            }
        }
        co_return engine::result<void>{};
    }

    std::optional<protocols::imap::session> m_session;
    engine::clock::time_point m_logged_in{};
    bool m_broken = false;   // a round failed: the session is not kept
    std::vector<std::string> m_folders;
    std::vector<folder_memo> m_memos;
};

/// POP3: a fresh session every round (a session shows the snapshot taken at login), INBOX
/// only. UIDL, TOP for the messages not inspected yet (bounces: RETR of the ones whose
/// headers say bounce), DELE ours and leftovers, QUIT to commit.
class pop3_poller final : public poller {
public:
    using poller::poller;

    task<engine::result<void>> round() override
    {
        auto started = engine::clock::now();
        auto s = co_await protocols::pop3::session::connect(m_ep, m_log);
        if (!s) {
            co_return std::move(s).err().at(stage::connect);
        }
        if (!m_tls_recorded && s->tls_info()) {
            record_tls(*m_st->out, m_server->name, *s->tls_info());
            m_tls_recorded = true;
        }
        auto done = co_await look(*s);
        if (!done) {
            co_await s->close();
            co_return std::move(done).err();
        }
        m_round_ms = ms_since(started);
        co_return engine::result<void>{};
    }

    task<void> close() override { co_return; }

private:
    task<engine::result<void>> look(protocols::pop3::session& s)
    {
        auto cred = co_await m_st->ctx->tokens.credentials_for(m_box->login, m_st->plan->spec->deadline);
        if (!cred) {
            co_return std::move(cred).err();
        }
        std::string token = bearer_of(*cred);
        if (auto l = co_await s.login(std::move(*cred)); !l) {
            forget_refused(m_st->ctx->tokens, m_box->login, token, l.err());
            co_return std::move(l).err().at(stage::auth);
        }
        auto list = co_await s.uidl();
        if (!list) {
            co_return std::move(list).err();
        }
        std::size_t fetched = 0;
        std::vector<std::uint32_t> doomed;
        for (auto it = list->rbegin(); it != list->rend() && fetched < max_messages_per_round; ++it) {
            if (m_checked.contains(it->uid)) {
                continue;
            }
            ++fetched;
            auto header = co_await s.top_headers(it->msgno);
            if (!header && header.err().code == engine::errc::rejected) {
                // Another session sharing the mailbox expunged it after our snapshot was
                // taken ("-ERR Message 2 expunged"): it is gone, not a failure of ours.
                continue;
            }
            if (!header) {
                co_return std::move(header).err();
            }
            verdict v = verdict::other;
            if (m_what == looking_for::probes) {
                v = inspect(*m_st, *header, "INBOX");
            } else if (is_bounce(*header)) {
                auto whole = co_await s.retr(it->msgno);
                if (!whole && whole.err().code == engine::errc::rejected) {
                    continue;
                }
                if (!whole) {
                    co_return std::move(whole).err();
                }
                v = inspect_bounce(*m_st, *whole);
            }
            if (v == verdict::other) {
                m_checked.insert(it->uid);
            } else {
                doomed.push_back(it->msgno);
            }
        }
        for (auto msgno : doomed) {
            if (auto d = co_await s.dele(msgno); !d) {
                co_return std::move(d).err();
            }
        }
        auto q = co_await s.quit();
        if (!q && !doomed.empty()) {
            co_return std::move(q).err();
        }
        co_return engine::result<void>{};
    }

    bool is_bounce(std::string_view header)
    {
        return m_st->reader.read(header).complete()
            && protocols::message::classify_arrival(m_st->reader.headers(), m_st->ctx->key()).kind
            == protocols::message::arrival::bounce;
    }

    std::set<std::string> m_checked;   // UIDLs inspected and left alone
    bool m_tls_recorded = false;
};

std::unique_ptr<poller> make_poller(poll_state* st, looking_for what, const scenarios::server& server,
    const scenarios::mailbox& box, protocols::endpoint ep, protocols::transcript* log)
{
    if (server.protocol == scenarios::protocol_kind::pop3) {
        return std::make_unique<pop3_poller>(st, what, &server, &box, std::move(ep), log);
    }
    return std::make_unique<imap_poller>(st, what, &server, &box, std::move(ep), log);
}

/// Polls the fetch mailbox (and the bounce mailbox, if any) until every message looked for
/// is found or bounced, or `until` passes: one round when it has passed already.
task<void> poll(poll_state* st, poller* mailbox, poller* bounces, engine::deadline until)
{
    result& r = *st->out;
    for (;;) {
        auto done = co_await mailbox->round();
        if (!done) {
            fail(r, std::move(done).err(), st->any_found() ? stage::cleanup : stage::fetch);
            r.failed_server = st->plan->fetch_server->name;
            co_return;
        }
        if (st->any_found() && st->fetch_ms == 0) {
            st->fetch_ms = mailbox->last_ms();
        }
        if (bounces && !st->all_settled()) {
            if (auto b = co_await bounces->round(); !b) {
                r.warnings.push_back("the bounce mailbox could not be read: " + std::move(b).err().describe());
                bounces = nullptr;
            }
        }
        auto now = engine::clock::now();
        if (st->all_settled() || now >= until) {
            co_return;
        }
        const bool slept = co_await engine::sleep_until(std::min(now + st->plan->spec->poll, until));
        if (!slept) {
            fail(r, make_error(stage::deliver, errc::cancelled, "cancelled while waiting for the message"),
                stage::deliver);
            co_return;
        }
    }
}

/// Opens the pollers of the plan and polls; a fetch endpoint that cannot be made is a Down
/// at tls, a bounce endpoint only a warning.
task<void> look(poll_state* st, engine::deadline until, protocols::transcript* trace)
{
    const auto& plan = *st->plan;
    result& r = *st->out;
    auto fetch_ep = endpoint_for(*plan.fetch_server, *st->ctx);
    if (!fetch_ep) {
        fail(r, std::move(fetch_ep).err(), stage::tls);
        co_return;
    }
    if (trace) {
        trace->note(fmt::format("{} via {}", scenarios::to_string(plan.fetch_server->protocol), plan.fetch_server->name));
    }
    auto mailbox = make_poller(st, looking_for::probes, *plan.fetch_server, *plan.fetch, std::move(*fetch_ep), trace);
    std::unique_ptr<poller> bounces;
    if (plan.bounce) {
        if (auto ep = endpoint_for(*plan.bounce_server, *st->ctx); ep) {
            bounces = make_poller(st, looking_for::bounces, *plan.bounce_server, *plan.bounce, std::move(*ep), trace);
        } else {
            r.warnings.push_back("the bounce mailbox cannot be watched: " + std::move(ep).err().describe());
        }
    }
    co_await poll(st, mailbox.get(), bounces.get(), until);
    co_await mailbox->close();
    if (bounces) {
        co_await bounces->close();
    }
}

/// This run's message as the server accepted it.
struct sent_probe {
    protocols::message::probe_id id;
    engine::clock::time_point accepted;   // the 250 after DATA, on our steady clock
    std::uint64_t accepted_unix_ms = 0;   // the same moment on our wall clock
};

/// Builds and submits this run's message; on failure `r` is Down at its stage.
task<std::optional<sent_probe>> send_probe(const scenarios::probe_plan* plan, context* ctx, result* r,
    protocols::transcript* trace)
{
    const scenarios::probe& spec = *plan->spec;
    auto sent_ms = ctx->now_ms();
    auto id = ctx->ids().next(sent_ms);
    r->probe_id = id.to_string();
    protocols::message::message_spec ms;
    ms.from = spec.from;
    ms.to = spec.to;
    ms.probe_name = spec.name;
    ms.id = id;
    ms.sent_unix_ms = sent_ms;
    auto built = protocols::message::build_message(ms, ctx->key());
    if (built.error != protocols::message::build_error::none) {
        fail(*r, make_error(stage::scenario, errc::invalid_argument,
            fmt::format("cannot build the probe message: {}", protocols::message::describe(built.error))),
            stage::scenario);
        co_return std::nullopt;
    }

    auto smtp_ep = endpoint_for(*plan->send_via, *ctx);
    if (!smtp_ep) {
        fail(*r, std::move(smtp_ep).err(), stage::tls);
        co_return std::nullopt;
    }
    protocols::smtp::send_request req;
    req.server = std::move(*smtp_ep);
    if (plan->send_via->auth) {
        auto cred = co_await ctx->tokens.credentials_for(*plan->send_via->auth, spec.deadline);
        if (!cred) {
            fail(*r, std::move(cred).err(), stage::auth);
            co_return std::nullopt;
        }
        req.auth = std::move(*cred);
    }
    std::string smtp_token = req.auth ? bearer_of(*req.auth) : std::string();
    req.helo_name = ctx->helo_name.empty() ? std::string(scenarios::domain_of(spec.from)) : ctx->helo_name;
    req.mail_from = spec.from;
    req.recipients.push_back(spec.to);
    req.message = std::move(built.text);
    if (trace) {
        trace->note(fmt::format("SMTP via {}", plan->send_via->name));
    }
    auto send_start = engine::clock::now();
    auto sent = co_await protocols::smtp::send(std::move(req), trace);
    if (!sent) {
        if (plan->send_via->auth) {
            forget_refused(ctx->tokens, *plan->send_via->auth, smtp_token, sent.err());
        }
        fail(*r, std::move(sent).err(), stage::send);
        r->failed_server = plan->send_via->name;
        co_return std::nullopt;
    }
    const auto& t = sent->timings;
    r->ms.smtp_connect = t.connect_ms;
    r->ms.smtp_tls = t.tls_ms;
    r->ms.smtp_auth = t.auth_ms;
    r->ms.smtp_transaction = sent->transaction_ms;
    r->server_reply = sent->final_reply;
    r->sent = true;
    if (sent->tls) {
        record_tls(*r, plan->send_via->name, *sent->tls);
    }
    // The 250 after DATA came when the phases before QUIT were over.
    auto now = engine::clock::now();
    auto accepted = std::min(now,
        send_start + milliseconds(t.connect_ms + t.tls_ms + t.greeting_ms + t.auth_ms + sent->transaction_ms));
    co_return sent_probe{id, accepted, ctx->now_ms() - static_cast<std::uint64_t>(ms_since(accepted, now))};
}

/// Down at stage deliver for `why`; a Down found earlier (a failed cleanup, an unmet
/// Authentication-Results demand) is kept among the warnings.
void down_at_deliver(result& r, std::string why)
{
    if (r.outcome == status::down) {
        r.warnings.push_back(std::move(r.reason));
    }
    r.outcome = status::down;
    r.stage = stage::deliver;
    r.reason = std::move(why);
}

/// The verdict on a message that was found: copies, latency, Authentication-Results and the
/// junk folder (the last word: where the message landed matters most).
void judge_found(result& r, const scenarios::probe& spec, const sought& s, const poll_state& st,
    bool check_latency)
{
    const std::string& junk_folder = st.junk_folder;
    r.folder = s.folder;
    if (s.copies > 1) {
        r.warnings.push_back(s.copies == 2 ? std::string("delivered twice") : fmt::format("delivered {} times", s.copies));
    }
    if (check_latency && r.ms.delivery > spec.warn_latency.count()) {
        r.warnings.push_back(fmt::format("delivery took {} ms, above the {} ms warning level", r.ms.delivery,
            spec.warn_latency.count()));
    }
    for (const auto& unmet : st.auth_unmet) {
        if (spec.require_auth_results.verdict == scenarios::junk_policy::down && r.outcome != status::down) {
            down_at_deliver(r, unmet);
        } else {
            r.warnings.push_back(unmet);
        }
    }
    // Extra folders are places the mailbox owner files mail on purpose: only the junk
    // folder is a failed delivery.
    if (junk_folder.empty() || s.folder != junk_folder) {
        return;
    }
    std::string why = fmt::format("filed as spam in {}", protocols::printable(s.folder, 255));
    if (spec.junk == scenarios::junk_policy::warning) {
        r.warnings.push_back(why);
        if (r.outcome != status::down) {
            r.stage = stage::deliver;
            r.reason = std::move(why);
        }
    } else {
        down_at_deliver(r, std::move(why));
    }
}

/// Next-poll delivery: first seen minus sent, both on our wall clock (never negative).
std::int64_t seen_after_ms(const sought& s)
{
    return static_cast<std::int64_t>(s.first_seen_unix_ms - std::min(s.first_seen_unix_ms, s.sent_unix_ms));
}

/// A Down at cleanup for a message that was found: it arrived, only the delete failed. The
/// verdict stays Down (Up means every stage worked), but the reason says the mail flowed, with
/// its latency, so nobody goes chasing a delivery problem; a later run of the probe deletes the
/// message as a leftover once it is older than the deadline.
void note_delivered(result& r)
{
    if (r.outcome != status::down || r.stage != stage::cleanup || r.folder.empty()) {
        return;
    }
    r.reason = fmt::format("the message was delivered (in {} ms, found in {}) but deleting it failed: {}; "
                           "a later run deletes it",
        r.ms.delivery, protocols::printable(r.folder, 255), r.reason);
}

void judge_bounce(result& r, const bounce_info& b)
{
    r.outcome = status::down;
    r.stage = stage::deliver;
    r.reason = fmt::format("bounced{}{}", b.status.empty() ? "" : " with status " + b.status,
        b.recipient.empty() ? "" : " for " + b.recipient);
    r.server_reply = b.diagnostic;
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

result begin_result(const scenarios::probe& spec)
{
    result r;
    r.tenant = spec.tenant;
    r.probe = spec.name;
    r.topology = spec.topology;
    r.outcome = status::up;   // until a stage fails; finish() turns warnings into Warning
    return r;
}

void finish(result& r, const scenarios::probe& spec, const context& ctx, engine::clock::time_point started,
    const protocols::transcript* trace)
{
    tls_warnings(r, spec, ctx.now_ms());
    if (r.outcome == status::up || r.outcome == status::warning) {
        r.outcome = r.warnings.empty() ? status::up : status::warning;
    }
    r.ms.total = ms_since(started);
    if (trace) {
        r.transcript = trace->text();
    }
}

poll_state make_poll_state(const scenarios::probe_plan* plan, context* ctx, result* r)
{
    poll_state st;
    st.plan = plan;
    st.ctx = ctx;
    st.out = r;
    st.search_value = fmt::format("p={};", plan->spec->name);
    return st;
}

} // namespace

task<result> run_once(scenarios::probe_plan plan, context& ctx)
{
    auto started = engine::clock::now();
    const scenarios::probe& spec = *plan.spec;
    result r = begin_result(spec);
    protocols::transcript log;
    protocols::transcript* trace = ctx.trace ? &log : nullptr;

    auto sent = co_await send_probe(&plan, &ctx, &r, trace);
    if (sent) {
        poll_state st = make_poll_state(&plan, &ctx, &r);
        st.wanted.push_back(sought_for(sent->id, sent->accepted_unix_ms));
        co_await look(&st, sent->accepted + spec.deadline, trace);
        const sought& s = st.wanted.front();
        if (s.copies > 0) {
            r.ms.fetch = st.fetch_ms;
            r.ms.delivery = std::max<std::int64_t>(0, ms_since(sent->accepted, s.first_seen));
            judge_found(r, spec, s, st, true);
            note_delivered(r);
        } else if (r.outcome != status::down && s.bounce) {
            judge_bounce(r, *s.bounce);
        } else if (r.outcome != status::down) {
            r.outcome = status::down;
            r.stage = stage::deliver;
            r.reason = fmt::format("not delivered within {}", seconds_text(spec.deadline));
        }
    }
    finish(r, spec, ctx, started, trace);
    co_return r;
}

task<next_poll_result> run_next_poll(scenarios::probe_plan plan, context& ctx, std::vector<outstanding> earlier)
{
    auto started = engine::clock::now();
    const scenarios::probe& spec = *plan.spec;
    next_poll_result out;
    result& r = out.r;
    r = begin_result(spec);
    r.next_poll = true;
    protocols::transcript log;
    protocols::transcript* trace = ctx.trace ? &log : nullptr;

    // One look for what earlier runs sent, also when nothing is outstanding: it proves the
    // login and clears leftovers.
    poll_state st = make_poll_state(&plan, &ctx, &r);
    for (const auto& e : earlier) {
        st.wanted.push_back(sought_for(e.id, e.sent_unix_ms));
    }
    co_await look(&st, engine::clock::now(), trace);
    std::optional<result> fetch_failure;
    if (r.outcome == status::down) {
        fetch_failure = r;
        r.outcome = status::up;
        r.stage = stage::none;
        r.reason.clear();
        r.server_reply.clear();
    }
    auto now_ms = ctx.now_ms();
    auto deadline_ms = static_cast<std::uint64_t>(spec.deadline.count());
    const sought* found = nullptr;     // the newest found
    const sought* bounced = nullptr;
    const sought* lost = nullptr;      // the oldest overdue
    for (const auto& s : st.wanted) {
        if (s.copies > 0) {
            if (!found || s.sent_unix_ms > found->sent_unix_ms) {
                found = &s;
            }
        } else if (s.bounce) {
            bounced = bounced ? bounced : &s;
        } else if (!fetch_failure && s.sent_unix_ms + deadline_ms < now_ms) {
            lost = lost ? lost : &s;
        } else {
            out.for_next_run.push_back({s.id, s.sent_unix_ms});
        }
    }

    auto sent = co_await send_probe(&plan, &ctx, &r, trace);
    if (sent) {
        out.for_next_run.push_back({sent->id, sent->accepted_unix_ms});
    }
    if (out.for_next_run.size() > max_outstanding) {
        auto dropped = out.for_next_run.size() - max_outstanding;
        out.for_next_run.erase(out.for_next_run.begin(), out.for_next_run.begin() + static_cast<std::ptrdiff_t>(dropped));
        r.warnings.push_back(fmt::format("gave up on {} outstanding message{} (at most {} are kept)", dropped,
            dropped == 1 ? "" : "s", max_outstanding));
    }

    if (!sent) {
        if (fetch_failure) {
            r.warnings.push_back("the fetch failed too: " + fetch_failure->reason);
        }
    } else if (fetch_failure) {
        r.outcome = status::down;
        r.stage = fetch_failure->stage;
        r.reason = std::move(fetch_failure->reason);
        r.server_reply = std::move(fetch_failure->server_reply);
        if (found && r.stage == stage::cleanup) {
            r.ms.fetch = st.fetch_ms;
            r.ms.delivery = seen_after_ms(*found);
            r.folder = found->folder;
            note_delivered(r);
        }
    } else if (bounced) {
        judge_bounce(r, *bounced->bounce);
    } else if (lost) {
        r.outcome = status::down;
        r.stage = stage::deliver;
        r.reason = fmt::format("not delivered within {} (message {} sent {} ago by an earlier run)",
            seconds_text(spec.deadline), lost->id.to_string(),
            seconds_text(milliseconds((now_ms - lost->sent_unix_ms) / 1000 * 1000)));
    } else if (found) {
        r.ms.fetch = st.fetch_ms;
        r.ms.delivery = seen_after_ms(*found);
        judge_found(r, spec, *found, st, false);
    } else {
        r.outcome = status::pending;
    }
    finish(r, spec, ctx, started, trace);
    co_return out;
}

} // namespace probe
