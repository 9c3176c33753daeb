// The POP3 session against the real loopback Dovecot of tests/servers (organisation
// "internal"), over implicit TLS on 995 and over STLS on 110. Two messages are written into
// the Maildir of a mailbox no route delivers to ("probe-out", as Dovecot LMTP would: tmp/
// then new/); the session finds them by their unique token with UIDL and TOP, reads one with
// RETR (dot-stuffed lines come back as written), and proves RFC 1939's deletion rule: DELE
// without QUIT deletes nothing, DELE then QUIT deletes exactly that message and leaves the
// other untouched. A wrong password is an auth-stage failure in Dovecot's words. The
// servers' facts come from the JSON file named by MAILPROBE_SERVERS_JSON; without it every
// test is skipped.
#include "protocols/pop3/session.h"

#include "engine/loop.h"

#include "tests/support/mail_servers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pwd.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using engine::errc;
using engine::stage;
using protocols::credentials;
using protocols::tls_mode;
using protocols::pop3::session;

namespace {

struct org_facts {
    std::string ca_file;
    std::string address;
    std::string hostname;
    std::uint16_t pop3 = 0;
    std::uint16_t pop3s = 0;
    std::string login;
    std::string password;
    std::string maildir;
};

/// The "internal" organisation's POP3 facts for user "probe-out", or nullopt and the reason.
std::optional<org_facts> load_internal(std::string& why)
{
    auto servers = test_support::load_mail_servers(why);
    if (!servers) {
        return std::nullopt;
    }
    const auto& org = servers->org("internal");
    const auto& user = org.user("probe-out");
    return org_facts{servers->ca_file, org.address, org.hostname, org.port("pop3"), org.port("pop3s"), user.login,
        user.password, user.maildir};
}

std::string unique_token()
{
    std::random_device rd;
    return "pop3-" + std::to_string(getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
}

/// The message as Dovecot LMTP stores it: LF line endings, lines starting with dots as is.
std::string message_text(const std::string& token)
{
    return "From: sender@internal.test\nTo: probe-out@internal.test\nSubject: pop3 session test " + token
        + "\nMessage-ID: <" + token + "@internal.test>\nX-Mailprobe-Test: " + token
        + "\n\nfirst line\n.line starting with a dot\n..two dots\n.\nlast\n";
}

/// Delivers `text` into the Maildir's INBOX (tmp/, then an atomic rename into new/), owned by
/// the mail user as Dovecot expects. Returns an empty string or what went wrong.
std::string deliver(const std::string& maildir, const std::string& name, const std::string& text)
{
    namespace fs = std::filesystem;
    const passwd* mail = getpwnam("mail");
    if (!mail) {
        return "no 'mail' user";
    }
    std::error_code ec;
    // Dovecot creates the Maildir at the first login; a fresh RUNDIR may not have it yet.
    for (const fs::path& dir : {fs::path(maildir).parent_path(), fs::path(maildir), fs::path(maildir) / "tmp",
             fs::path(maildir) / "new", fs::path(maildir) / "cur"}) {
        if (!fs::exists(dir)) {
            if (!fs::create_directory(dir, ec) || chown(dir.c_str(), mail->pw_uid, mail->pw_gid) != 0) {
                return "cannot create " + dir.string();
            }
            fs::permissions(dir, fs::perms::owner_all, ec);
        }
    }
    fs::path tmp = fs::path(maildir) / "tmp" / name;
    {
        std::ofstream out(tmp, std::ios::binary);
        out << text;
        if (!out) {
            return "cannot write " + tmp.string();
        }
    }
    if (chown(tmp.c_str(), mail->pw_uid, mail->pw_gid) != 0) {
        return "cannot chown " + tmp.string() + " (tests must run as root to write a Maildir)";
    }
    fs::rename(tmp, fs::path(maildir) / "new" / name, ec);
    return ec ? "cannot move into new/: " + ec.message() : std::string();
}

struct found {
    std::optional<std::string> keep_uid;    // UIDL of the message that must survive
    std::optional<std::string> drop_uid;    // UIDL of the message the test deletes
    std::uint32_t keep_msgno = 0;
    std::uint32_t drop_msgno = 0;
};

/// What one session saw and did.
struct visit {
    std::optional<engine::error> failure;
    found seen;
    std::string retrieved;                 // RETR of the message to delete
    std::optional<engine::tls_info> tls;
};

enum class action { look, dele_drop_then_close, dele_drop_then_quit, dele_keep_then_quit };

/// Records the first failure; true when `r` succeeded.
template <class T>
bool succeeded(const engine::result<T>& r, visit* out)
{
    if (!r && !out->failure) {
        out->failure = r.err();
    }
    return static_cast<bool>(r);
}

/// One session: logs in, finds the two messages by token (UIDL, then TOP of each), and does
/// `what` with them.
engine::task<void> visit_mailbox(protocols::endpoint ep, credentials creds, std::string keep_token,
    std::string drop_token, action what, visit* out)
{
    auto s = co_await session::connect(std::move(ep), nullptr);
    if (!s) {
        out->failure = s.err();
        co_return;
    }
    out->tls = s->tls_info();
    if (!succeeded(co_await s->login(creds), out)) {
        co_await s->close();
        co_return;
    }
    auto uids = co_await s->uidl();
    if (!succeeded(uids, out)) {
        co_await s->close();
        co_return;
    }
    for (const auto& u : *uids) {
        auto head = co_await s->top_headers(u.msgno);
        if (!succeeded(head, out)) {
            co_await s->close();
            co_return;
        }
        if (head->find("X-Mailprobe-Test: " + keep_token + "\r\n") != std::string::npos) {
            out->seen.keep_uid = u.uid;
            out->seen.keep_msgno = u.msgno;
        } else if (head->find("X-Mailprobe-Test: " + drop_token + "\r\n") != std::string::npos) {
            out->seen.drop_uid = u.uid;
            out->seen.drop_msgno = u.msgno;
        }
    }
    if (out->seen.drop_uid) {
        auto body = co_await s->retr(out->seen.drop_msgno);
        if (!succeeded(body, out)) {
            co_await s->close();
            co_return;
        }
        out->retrieved = *body;
    }
    switch (what) {
    case action::look:
        break;
    case action::dele_drop_then_close:
    case action::dele_drop_then_quit:
        if (out->seen.drop_uid && !succeeded(co_await s->dele(out->seen.drop_msgno), out)) {
            co_await s->close();
            co_return;
        }
        break;
    case action::dele_keep_then_quit:
        if (out->seen.keep_uid && !succeeded(co_await s->dele(out->seen.keep_msgno), out)) {
            co_await s->close();
            co_return;
        }
        break;
    }
    if (what == action::look || what == action::dele_drop_then_close) {
        co_await s->close();
    } else {
        succeeded(co_await s->quit(), out);
    }
}

class Pop3SessionIntegration : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string why;
        auto f = load_internal(why);
        if (!f) {
            GTEST_SKIP() << why;
        }
        m_facts = *f;
        engine::tls_options o;
        o.ca_file = m_facts.ca_file;
        auto ctx = engine::tls_context::client(o);
        ASSERT_TRUE(ctx) << ctx.err().describe();
        m_tls = *ctx;
    }

    protocols::endpoint endpoint_for(tls_mode mode) const
    {
        protocols::endpoint ep;
        ep.host = m_facts.address;   // an IP literal: nothing is resolved
        ep.port = mode == tls_mode::implicit ? m_facts.pop3s : m_facts.pop3;
        ep.tls = mode;
        ep.verify_name = m_facts.hostname;
        ep.tls_context = m_tls;
        ep.connect_timeout = 10s;
        ep.command_timeout = 10s;
        return ep;
    }

    visit run(tls_mode mode, const std::string& keep, const std::string& drop, action what)
    {
        engine::loop loop;
        visit v;
        loop.run(visit_mailbox(endpoint_for(mode), {m_facts.login, m_facts.password}, keep, drop, what, &v));
        return v;
    }

    /// The whole deletion story over one kind of TLS.
    void deletes_exactly_the_marked_message(tls_mode mode)
    {
        const std::string keep = unique_token();
        const std::string drop = unique_token();
        const std::string keep_text = message_text(keep);
        const std::string drop_text = message_text(drop);
        auto written = deliver(m_facts.maildir, keep + ".mailprobe", keep_text);
        if (written.empty()) {
            written = deliver(m_facts.maildir, drop + ".mailprobe", drop_text);
        }
        if (!written.empty()) {
            GTEST_SKIP() << written;
        }

        // DELE without QUIT: the server never enters the UPDATE state, so nothing is deleted.
        auto first = run(mode, keep, drop, action::dele_drop_then_close);
        ASSERT_FALSE(first.failure) << first.failure->describe();
        ASSERT_TRUE(first.tls);
        EXPECT_TRUE(first.tls->verified);
        ASSERT_TRUE(first.seen.keep_uid && first.seen.drop_uid);
        // Dovecot sends the stored LF lines with CRLF and stuffs the dotted ones; we unstuff.
        std::string expected;
        for (char c : drop_text) {
            expected += c == '\n' ? std::string("\r\n") : std::string(1, c);
        }
        EXPECT_EQ(first.retrieved, expected);

        // DELE then QUIT: only now is the message gone.
        auto second = run(mode, keep, drop, action::dele_drop_then_quit);
        ASSERT_FALSE(second.failure) << second.failure->describe();
        EXPECT_EQ(second.seen.drop_uid, first.seen.drop_uid);
        EXPECT_EQ(second.seen.keep_uid, first.seen.keep_uid);

        // The deleted one is gone, the other untouched (same UIDL); then clean it up too.
        auto third = run(mode, keep, drop, action::dele_keep_then_quit);
        ASSERT_FALSE(third.failure) << third.failure->describe();
        EXPECT_FALSE(third.seen.drop_uid);
        EXPECT_EQ(third.seen.keep_uid, first.seen.keep_uid);

        auto last = run(mode, keep, drop, action::look);
        ASSERT_FALSE(last.failure) << last.failure->describe();
        EXPECT_FALSE(last.seen.keep_uid);
        EXPECT_FALSE(last.seen.drop_uid);
    }

    org_facts m_facts;
    std::optional<engine::tls_context> m_tls;
};

} // namespace

TEST_F(Pop3SessionIntegration, ImplicitTls995DeletesOnlyAtQuit)
{
    deletes_exactly_the_marked_message(tls_mode::implicit);
}

TEST_F(Pop3SessionIntegration, Stls110DeletesOnlyAtQuit)
{
    deletes_exactly_the_marked_message(tls_mode::starttls);
}

TEST_F(Pop3SessionIntegration, WrongPasswordIsAnAuthFailure)
{
    engine::loop loop;
    auto body = [](protocols::endpoint ep, credentials c) -> engine::task<engine::result<void>> {
        auto s = co_await session::connect(std::move(ep), nullptr);
        if (!s) {
            co_return s.err();
        }
        auto r = co_await s->login(std::move(c));
        co_await s->close();
        co_return r;
    };
    auto r = loop.run(body(endpoint_for(tls_mode::starttls), {m_facts.login, "not-the-password"}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, stage::auth);
    EXPECT_EQ(r.err().code, errc::auth_failed);
    EXPECT_NE(r.err().message.find("-ERR [AUTH] Authentication failed."), std::string::npos) << r.err().describe();
    EXPECT_EQ(r.err().message.find("not-the-password"), std::string::npos);
}
