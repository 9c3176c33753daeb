// The IMAP session against the real loopback Dovecot of tests/servers (organisation
// "internal", user "sender", whose mailboxes no test route fills), over implicit TLS on 993
// and STARTTLS on 143. Messages are placed with APPEND and found by a unique token: the \Junk
// folder is found through LIST, two messages are appended to it, one is found, fetched and
// deleted while the other stays; IDLE wakes when a second session appends to INBOX; a wrong
// password is an auth failure in Dovecot's words. The facts come from the JSON file named by
// MAILPROBE_SERVERS_JSON; without it every test is skipped.
#include "protocols/imap/session.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/imap/responses.h"

#include "tests/support/mail_servers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using engine::errc;
using engine::stage;
using engine::task;
using protocols::credentials;
using protocols::endpoint;
using protocols::tls_mode;
using protocols::imap::session;

namespace {

struct org_facts {
    std::string ca_file;
    std::string address;
    std::string hostname;
    std::uint16_t imap = 0;
    std::uint16_t imaps = 0;
    std::string login;
    std::string password;
};

std::optional<org_facts> load_internal(std::string& why)
{
    auto servers = test_support::load_mail_servers(why);
    if (!servers) {
        return std::nullopt;
    }
    const auto& org = servers->org("internal");
    const auto& user = org.user("sender");
    return org_facts{servers->ca_file, org.address, org.hostname, org.port("imap"), org.port("imaps"), user.login,
        user.password};
}

endpoint make_endpoint(const org_facts& f, tls_mode mode)
{
    endpoint e;
    e.host = f.address;
    e.port = mode == tls_mode::implicit ? f.imaps : f.imap;
    e.tls = mode;
    e.verify_name = f.hostname;
    engine::tls_options o;
    o.ca_file = f.ca_file;
    auto ctx = engine::tls_context::client(o);
    if (ctx) {
        e.tls_context = *ctx;
    }
    e.connect_timeout = 10s;
    e.command_timeout = 10s;
    return e;
}

std::string unique_token(const char* what)
{
    std::random_device rd;
    return std::string("imap-") + what + "-" + std::to_string(getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
}

std::string message_text(const std::string& token)
{
    return "From: sender@internal.test\r\nTo: sender@internal.test\r\nSubject: imap session test " + token
        + "\r\nMessage-ID: <" + token + "@internal.test>\r\nX-Mailprobe-Test: " + token
        + "\r\n\r\nbody of " + token + "\r\n";
}

/// Runs the steps on the junk folder; returns "" or the first failure.
task<std::string> junk_roundtrip(endpoint e, credentials c, std::string token_a, std::string token_b)
{
    auto s = co_await session::connect(std::move(e), nullptr);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    if (!s->tls_info() || !s->tls_info()->verified) {
        co_return "TLS not verified";
    }
    if (auto r = co_await s->login(std::move(c)); !r) {
        co_return "login: " + r.err().describe();
    }
    auto list = co_await s->list();
    if (!list) {
        co_return "list: " + list.err().describe();
    }
    std::optional<std::string> junk;
    for (const auto& m : *list) {
        if (m.attributes & protocols::imap::attr_junk) {
            junk = m.name;
        }
    }
    auto found = protocols::imap::find_junk_folder(*list);
    if (!junk || !found || (*list)[*found].name != *junk) {
        co_return "no \\Junk folder in LIST";
    }
    if (auto a = co_await s->append(*junk, message_text(token_a)); !a) {
        co_return "append A: " + a.err().describe();
    }
    if (auto a = co_await s->append(*junk, message_text(token_b)); !a) {
        co_return "append B: " + a.err().describe();
    }
    auto sel = co_await s->select(*junk);
    if (!sel) {
        co_return "select: " + sel.err().describe();
    }
    if (sel->exists < 2 || sel->uidvalidity == 0 || sel->uidnext == 0 || sel->read_only) {
        co_return "odd SELECT result";
    }
    auto uids = co_await s->uid_search_header(std::string("X-Mailprobe-Test"), token_a);
    if (!uids || uids->size() != 1) {
        co_return "search A: " + (uids ? std::to_string(uids->size()) + " results" : uids.err().describe());
    }
    auto msgs = co_await s->uid_fetch_headers(*uids);
    if (!msgs || msgs->size() != 1) {
        co_return "fetch: " + (msgs ? std::to_string(msgs->size()) + " messages" : msgs.err().describe());
    }
    const auto& m = msgs->front();
    if (m.uid != uids->front() || m.section.find("X-Mailprobe-Test: " + token_a + "\r\n") == std::string::npos
        || m.section.find("body of") != std::string::npos || m.size != message_text(token_a).size()
        || m.internal_date.empty()) {
        co_return "fetched message differs: uid " + std::to_string(m.uid) + " size " + std::to_string(m.size);
    }
    const std::uint32_t before = s->exists();
    if (auto d = co_await s->uid_delete(*uids); !d) {
        co_return "delete: " + d.err().describe();
    }
    if (s->exists() + 1 != before) {
        co_return "EXPUNGE not seen";
    }
    auto gone = co_await s->uid_search_header(std::string("X-Mailprobe-Test"), token_a);
    auto kept = co_await s->uid_search_header(std::string("X-Mailprobe-Test"), token_b);
    if (!gone || !gone->empty() || !kept || kept->size() != 1) {
        co_return "after delete: A or B wrong";
    }
    if (auto d = co_await s->uid_delete(*kept); !d) {
        co_return "delete B: " + d.err().describe();
    }
    co_await s->logout();
    co_return std::string();
}

class imap_real : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string why;
        m_facts = load_internal(why);
        if (!m_facts) {
            GTEST_SKIP() << why;
        }
    }
    credentials creds(std::string password) const
    {
        return credentials{m_facts->login, std::move(password), credentials::kind::password};
    }
    std::optional<org_facts> m_facts;
};

TEST_F(imap_real, implicit_tls_junk_folder_append_search_fetch_delete)
{
    engine::loop loop;
    EXPECT_EQ(loop.run(junk_roundtrip(make_endpoint(*m_facts, tls_mode::implicit), creds(m_facts->password),
                  unique_token("a"), unique_token("b"))),
        "");
}

TEST_F(imap_real, starttls_junk_folder_append_search_fetch_delete)
{
    engine::loop loop;
    EXPECT_EQ(loop.run(junk_roundtrip(make_endpoint(*m_facts, tls_mode::starttls), creds(m_facts->password),
                  unique_token("a"), unique_token("b"))),
        "");
}

task<std::string> wrong_password(endpoint e, credentials c)
{
    auto s = co_await session::connect(std::move(e), nullptr);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    auto r = co_await s->login(std::move(c));
    co_await s->logout();
    co_return r ? "accepted" : r.err().describe();
}

TEST_F(imap_real, wrong_password_is_an_auth_failure_in_dovecots_words)
{
    engine::loop loop;
    std::string got = loop.run(wrong_password(make_endpoint(*m_facts, tls_mode::starttls), creds("wrong")));
    EXPECT_EQ(got.rfind("auth: auth_failed: AUTHENTICATE PLAIN: NO [AUTHENTICATIONFAILED]", 0), 0u) << got;
}

/// Appends one message to INBOX from a second session, 300 ms after the first began IDLE.
task<void> append_later(endpoint e, credentials c, std::string token, std::string* failure)
{
    co_await engine::sleep_for(300ms);
    auto s = co_await session::connect(std::move(e), nullptr);
    if (!s) {
        *failure = "second connect: " + s.err().describe();
        co_return;
    }
    if (auto r = co_await s->login(std::move(c)); !r) {
        *failure = "second login: " + r.err().describe();
    } else if (auto a = co_await s->append(std::string("INBOX"), message_text(token)); !a) {
        *failure = "append: " + a.err().describe();
    }
    co_await s->logout();
}

task<std::string> idle_until_append(endpoint e, credentials c, std::string token)
{
    auto s = co_await session::connect(e, nullptr);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    if (auto r = co_await s->login(c); !r) {
        co_return "login: " + r.err().describe();
    }
    if (auto sel = co_await s->select(std::string("INBOX")); !sel) {
        co_return "select: " + sel.err().describe();
    }
    std::string failure;
    std::string out;
    {
        engine::scope other;
        other.spawn(append_later(e, c, token, &failure));
        auto idled = co_await s->idle(engine::after(15s));
        co_await other.join();
        out = !idled ? "idle: " + idled.err().describe() : (*idled ? "" : "IDLE saw no new mail");
    }
    if (out.empty() && !failure.empty()) {
        out = failure;
    }
    if (auto uids = co_await s->uid_search_header(std::string("X-Mailprobe-Test"), token); uids && !uids->empty()) {
        (void)co_await s->uid_delete(*uids);
    }
    co_await s->logout();
    co_return out;
}

TEST_F(imap_real, idle_wakes_when_another_session_appends)
{
    engine::loop loop;
    EXPECT_EQ(loop.run(idle_until_append(make_endpoint(*m_facts, tls_mode::implicit), creds(m_facts->password),
                  unique_token("idle"))),
        "");
}

} // namespace
