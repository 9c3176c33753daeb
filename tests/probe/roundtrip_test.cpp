// The probe lifecycle against the built-in server (tools/server): Up over IMAP and POP3, a
// forwarding route (an alias in the other domain back to our mailbox), junk filing as Down and
// as Warning, failures at every stage (auth, send, connect, tls, deliver), and the cleanup
// rules: our message and our old leftovers deleted, forgeries and other mail left alone;
// a duplicated delivery, a bounce seen in the bounce mailbox, and the next-poll mode.
#include "probe/roundtrip.h"

#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "protocols/message/builder.h"
#include "protocols/smtp/session.h"
#include "tools/server/server.h"
#include "tests/support/fixtures.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;
using probe::status;

using test_support::test_key;
using test_support::inline_secret;

namespace {

constexpr std::string_view probe_name = "rt-test";

builtin::config world_config()
{
    builtin::config c;
    c.hostname = "mx.builtin.test";
    builtin::domain_config org1{"org1.test", {}, {}};
    org1.mailboxes.push_back({"alice@org1.test", "alice", "alice-pw", false});
    org1.mailboxes.push_back({"sender@org1.test", "sender", "sender-pw", false});
    org1.mailboxes.push_back({"spam@org1.test", "spam", "spam-pw", true});
    org1.mailboxes.push_back({"void@org1.test", "void", "void-pw", false});
    org1.mailboxes.push_back({"twice@org1.test", "twice", "twice-pw", false, 2});
    org1.mailboxes.push_back({"full@org1.test", "full", "full-pw", false, 1, true});
    org1.mailboxes.push_back({"filer@org1.test", "filer", "filer-pw", false, 1, false, "Archive"});
    org1.aliases.push_back({"hole@org1.test", "void@org1.test"});
    builtin::domain_config org2{"org2.test", {}, {}};
    org2.mailboxes.push_back({"bob@org2.test", "bob", "bob-pw", false});
    org2.aliases.push_back({"fwd@org2.test", "alice@org1.test"});
    c.domains = {org1, org2};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::starttls, "127.0.0.1", 0},
    };
    return c;
}

class Roundtrip : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_server = std::make_unique<builtin::server>(world_config());
        auto r = m_server->start();
        ASSERT_TRUE(r) << r.err().describe();
        m_ca = "/tmp/probe-roundtrip-test-ca-" + std::to_string(getpid()) + ".pem";
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }
    void TearDown() override { std::remove(m_ca.c_str()); }

    scenarios::server server(std::string name, scenarios::protocol_kind p, std::string listener,
        scenarios::tls_mode tls) const
    {
        scenarios::server s;
        s.name = std::move(name);
        s.protocol = p;
        s.host = "127.0.0.1";
        s.port = m_server->port(listener);
        s.tls = tls;
        s.ca_file = m_ca;
        s.verify_name = "localhost";
        s.connect_timeout = 3s;
        s.command_timeout = 3s;
        return s;
    }

    /// sender@org1.test submits to `to`; `login` fetches over `proto`.
    scenarios::probe_plan plan(std::string to, std::string login, std::string password,
        scenarios::protocol_kind proto = scenarios::protocol_kind::imap) const
    {
        scenarios::probe_plan p;
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = std::string(probe_name);
        spec->tenant = "acme";
        spec->topology = 1;
        spec->send_via = "submission";
        spec->from = "sender@org1.test";
        spec->to = std::move(to);
        spec->fetch = "box";
        spec->deadline = 3s;
        spec->poll = 100ms;
        p.spec = spec;
        p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"acme", ""});
        auto smtp = server("submission", scenarios::protocol_kind::smtp, "submission", scenarios::tls_mode::starttls);
        smtp.auth = scenarios::credential{"sender", inline_secret("sender-pw"), std::nullopt};
        p.send_via = std::make_shared<scenarios::server>(smtp);
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = "box";
        box->address = login + "@org1.test";
        box->login = scenarios::credential{login, inline_secret(password), std::nullopt};
        p.fetch = box;
        p.fetch_server = std::make_shared<scenarios::server>(proto == scenarios::protocol_kind::imap
                ? server("imaps", proto, "imaps", scenarios::tls_mode::implicit)
                : server("pop3", proto, "pop3", scenarios::tls_mode::starttls));
        return p;
    }

    static task<void> with_server(builtin::server* srv, std::vector<task<void>> steps)
    {
        engine::scope s;
        s.spawn(srv->run());
        for (auto& step : steps) {
            co_await std::move(step);
        }
        srv->stop();
        co_await s.join();
    }

    static task<void> run_into(scenarios::probe_plan p, probe::context* ctx, probe::result* out)
    {
        *out = co_await probe::run_once(std::move(p), *ctx);
    }

    /// A next-poll run that takes the outstanding list from `state` and leaves the new one there.
    static task<void> next_poll_into(scenarios::probe_plan p, probe::context* ctx,
        std::vector<probe::outstanding>* state, probe::result* out)
    {
        auto done = co_await probe::run_next_poll(std::move(p), *ctx, *state);
        *state = std::move(done.for_next_run);
        *out = std::move(done.r);
    }

    /// `p` with sender@org1.test's mailbox (over `proto`) watched for bounces.
    scenarios::probe_plan with_bounces(scenarios::probe_plan p, scenarios::protocol_kind proto) const
    {
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = "sender-box";
        box->address = "sender@org1.test";
        box->login = scenarios::credential{"sender", inline_secret("sender-pw"), std::nullopt};
        p.bounce = box;
        p.bounce_server = std::make_shared<scenarios::server>(proto == scenarios::protocol_kind::imap
                ? server("imaps", proto, "imaps", scenarios::tls_mode::implicit)
                : server("pop3", proto, "pop3", scenarios::tls_mode::starttls));
        return p;
    }

    static task<void> submit(scenarios::server smtp, std::string to, std::string message)
    {
        protocols::smtp::send_request req;
        req.server.host = smtp.host;
        req.server.port = smtp.port;
        req.server.tls = protocols::tls_mode::starttls;
        req.server.verify_name = smtp.verify_name;
        engine::tls_options o;
        o.ca_file = smtp.ca_file;
        auto ctx = engine::tls_context::client(o);
        EXPECT_TRUE(ctx);
        req.server.tls_context = *ctx;
        req.auth = protocols::credentials{"sender", "sender-pw", protocols::credentials::kind::password};
        req.helo_name = "org1.test";
        req.mail_from = "sender@org1.test";
        req.recipients.push_back(std::move(to));
        req.message = std::move(message);
        auto r = co_await protocols::smtp::send(std::move(req), nullptr);
        EXPECT_TRUE(r) << r.err().describe();
    }

    static task<void> count_into(const builtin::server* srv, std::string address, std::size_t* out)
    {
        *out = srv->mailbox(address)->at(builtin::folder_id::inbox).size();
        co_return;
    }

    /// Runs `steps` in order while the server serves (a built-in server runs only once).
    void serve(std::vector<task<void>> steps) { m_loop.run(with_server(m_server.get(), std::move(steps))); }

    probe::result run(scenarios::probe_plan p, probe::context& ctx)
    {
        probe::result out;
        std::vector<task<void>> steps;
        steps.push_back(run_into(std::move(p), &ctx, &out));
        serve(std::move(steps));
        return out;
    }

    /// A step that submits a probe-like message for alice, signed with `key`, stamped `age`
    /// in the past, for probe `name`.
    task<void> plant(const protocols::message::mac_key& key, std::chrono::milliseconds age,
        std::string name = std::string(probe_name))
    {
        protocols::message::probe_id_generator ids;
        auto now = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
        auto sent = now - static_cast<std::uint64_t>(age.count());
        protocols::message::message_spec ms;
        ms.from = "sender@org1.test";
        ms.to = "alice@org1.test";
        ms.probe_name = name;
        ms.id = ids.next(sent);
        m_planted.push_back(ms.id.to_string());
        ms.sent_unix_ms = sent;
        auto built = protocols::message::build_message(ms, key);
        EXPECT_EQ(built.error, protocols::message::build_error::none);
        return submit_plain("alice@org1.test", std::move(built.text));
    }

    task<void> submit_plain(std::string to, std::string message) const
    {
        return submit(server("submission", scenarios::protocol_kind::smtp, "submission", scenarios::tls_mode::starttls),
            std::move(to), std::move(message));
    }

    /// Which of the planted messages (by index in m_planted) are still in alice's INBOX.
    std::vector<bool> planted_left() const
    {
        std::vector<bool> left(m_planted.size(), false);
        for (const auto& m : m_server->mailbox("alice@org1.test")->at(builtin::folder_id::inbox).messages()) {
            for (std::size_t i = 0; i < m_planted.size(); ++i) {
                left[i] = left[i] || m.header().find(m_planted[i]) != std::string_view::npos;
            }
        }
        return left;
    }

    std::size_t count(std::string_view address, builtin::folder_id f) const
    {
        return m_server->mailbox(address)->at(f).size();
    }

    std::vector<std::string> m_planted;   // ids of plant()ed messages, in order
    engine::loop m_loop;   // before the server: start() binds on this thread's loop
    std::unique_ptr<builtin::server> m_server;
    std::string m_ca;
};

TEST_F(Roundtrip, UpOverImapDeletesItsMessage)
{
    probe::context ctx(test_key());
    ctx.trace = true;
    auto r = run(plan("alice@org1.test", "alice", "alice-pw"), ctx);
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(r.stage, stage::none);
    EXPECT_EQ(r.folder, "INBOX");
    EXPECT_EQ(r.tenant, "acme");
    EXPECT_EQ(r.probe, probe_name);
    EXPECT_EQ(r.probe_id.size(), 36u);
    EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    ASSERT_EQ(r.tls.size(), 2u);
    EXPECT_EQ(r.tls[0].server, "submission");
    EXPECT_EQ(r.tls[1].server, "imaps");
    EXPECT_TRUE(r.tls[0].verified);
    ASSERT_TRUE(r.cert_days_left);
    EXPECT_GT(*r.cert_days_left, 14);
    EXPECT_NE(r.server_reply.find("250"), std::string::npos) << r.server_reply;
    ASSERT_EQ(r.hops.size(), 2u);
    EXPECT_EQ(r.hops[0].by, "mx.builtin.test");
    EXPECT_FALSE(r.hops[0].store);
    // The store hop, timed by INTERNALDATE; the server's clocks agree with ours.
    EXPECT_EQ(r.hops[1].by, "imaps");
    EXPECT_TRUE(r.hops[1].store);
    ASSERT_TRUE(r.hops[1].delay_ms);
    EXPECT_GE(*r.hops[1].delay_ms, 0);
    EXPECT_FALSE(r.hops[1].skewed);
    EXPECT_EQ(r.max_clock_skew_ms, 0);
    EXPECT_GE(r.ms.total, r.ms.delivery);
    EXPECT_NE(r.transcript.find("UID SEARCH"), std::string::npos);
    EXPECT_EQ(r.transcript.find("alice-pw"), std::string::npos);
    EXPECT_EQ(r.transcript.find("sender-pw"), std::string::npos);
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 0u);
}

/// keep_session: the second run polls in the session the first logged in (a NOOP, no login);
/// once the login is older than keep_session, a run logs in again.
TEST_F(Roundtrip, KeptImapSessionServesTheNextRunUntilItsLoginIsTooOld)
{
    probe::context ctx(test_key());
    ctx.trace = true;
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    std::const_pointer_cast<scenarios::mailbox>(p.fetch)->keep_session = 700ms;
    probe::result first, second, third;
    std::vector<task<void>> steps;
    steps.push_back(run_into(p, &ctx, &first));
    steps.push_back(run_into(p, &ctx, &second));
    steps.push_back([]() -> task<void> { co_await engine::sleep_for(800ms); }());
    steps.push_back(run_into(p, &ctx, &third));
    serve(std::move(steps));

    EXPECT_EQ(first.outcome, status::up) << first.reason;
    EXPECT_FALSE(first.fetch_session_kept);
    EXPECT_NE(first.transcript.find("AUTHENTICATE"), std::string::npos);
    EXPECT_EQ(second.outcome, status::up) << second.reason;
    EXPECT_TRUE(second.fetch_session_kept);
    EXPECT_NE(second.transcript.find("kept session, logged in 0 s ago"), std::string::npos) << second.transcript;
    EXPECT_NE(second.transcript.find("NOOP"), std::string::npos);
    EXPECT_EQ(second.transcript.find("AUTHENTICATE"), std::string::npos) << second.transcript;
    ASSERT_EQ(second.tls.size(), 2u);   // the kept session's certificate is still reported
    EXPECT_EQ(second.tls[1].server, "imaps");
    EXPECT_EQ(third.outcome, status::up) << third.reason;
    EXPECT_FALSE(third.fetch_session_kept);
    EXPECT_NE(third.transcript.find("AUTHENTICATE"), std::string::npos);
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 0u);
    EXPECT_EQ(ctx.sessions.idle(), 1u);
}

/// A kept session whose server went away is dropped after its NOOP fails, and the run logs in
/// to the server that answers now.
TEST_F(Roundtrip, KeptSessionTheServerClosedIsReplacedByAFreshLogin)
{
    probe::context ctx(test_key());
    ctx.trace = true;
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    std::const_pointer_cast<scenarios::mailbox>(p.fetch)->keep_session = 60s;
    auto first = run(p, ctx);
    ASSERT_EQ(first.outcome, status::up) << first.reason;
    ASSERT_EQ(ctx.sessions.idle(), 1u);

    // A second server (the built-in one serves once): other ports, another CA file.
    m_server = std::make_unique<builtin::server>(world_config());
    ASSERT_TRUE(m_server->start());
    std::remove(m_ca.c_str());
    m_ca += "-second";
    ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    auto p2 = plan("alice@org1.test", "alice", "alice-pw");
    std::const_pointer_cast<scenarios::mailbox>(p2.fetch)->keep_session = 60s;
    auto second = run(p2, ctx);
    EXPECT_EQ(second.outcome, status::up) << second.reason;
    EXPECT_FALSE(second.fetch_session_kept);
    EXPECT_NE(second.transcript.find("the kept session no longer answers"), std::string::npos) << second.transcript;
    EXPECT_NE(second.transcript.find("AUTHENTICATE"), std::string::npos);
}

TEST_F(Roundtrip, UpOverPop3DeletesItsMessage)
{
    probe::context ctx(test_key());
    auto r = run(plan("alice@org1.test", "alice", "alice-pw", scenarios::protocol_kind::pop3), ctx);
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(r.folder, "INBOX");
    EXPECT_TRUE(r.transcript.empty());
    ASSERT_EQ(r.tls.size(), 2u);
    EXPECT_EQ(r.tls[1].server, "pop3");
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 0u);
}

TEST_F(Roundtrip, ForwardedThroughTheOtherDomainIsUp)
{
    probe::context ctx(test_key());
    auto p = plan("fwd@org2.test", "alice", "alice-pw");
    std::const_pointer_cast<scenarios::probe>(p.spec)->topology = 3;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(r.topology, 3);
    EXPECT_EQ(r.hops.size(), 3u);   // two Received, then the store
}

TEST_F(Roundtrip, WarningRulesTurnUpIntoWarning)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto spec = std::const_pointer_cast<scenarios::probe>(p.spec);
    spec->warn_cert_days = 1'000'000;            // every certificate expires "soon"
    spec->require_auth_results.spf = {"pass"};   // the built-in server writes no Authentication-Results
    auto imap = *p.fetch_server;
    imap.insecure = true;
    p.fetch_server = std::make_shared<scenarios::server>(imap);
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::warning) << r.reason;
    EXPECT_EQ(r.stage, stage::none);
    EXPECT_EQ(r.folder, "INBOX");
    ASSERT_EQ(r.tls.size(), 2u);
    EXPECT_TRUE(r.tls[1].insecure);
    EXPECT_FALSE(r.tls[1].verified);
    std::string all;
    for (const auto& w : r.warnings) {
        all += w + "\n";
    }
    EXPECT_NE(all.find("authentication result spf=none is not one of the required pass"), std::string::npos) << all;
    EXPECT_TRUE(r.reason.empty()) << r.reason;
    EXPECT_NE(all.find("TLS certificate verification is off for imaps"), std::string::npos) << all;
    EXPECT_NE(all.find("the certificate of submission expires in"), std::string::npos) << all;
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 0u);
}

TEST_F(Roundtrip, UnmetAuthResultsAreDownWhenTheVerdictSaysSo)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto spec = std::const_pointer_cast<scenarios::probe>(p.spec);
    // The built-in server writes no Authentication-Results: every method reads as none.
    spec->require_auth_results.dkim = {"pass"};
    spec->require_auth_results.dmarc = {"pass", "bestguesspass"};
    spec->require_auth_results.verdict = scenarios::junk_policy::down;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::deliver);
    EXPECT_EQ(r.reason, "authentication result dkim=none is not one of the required pass");
    EXPECT_EQ(r.folder, "INBOX");
    // The second unmet demand is kept as a warning; the message is still deleted.
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0], "authentication result dmarc=none is not one of the required pass, bestguesspass");
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 0u);
}

TEST_F(Roundtrip, MetAuthResultsStayUpUnderTheDownVerdict)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto spec = std::const_pointer_cast<scenarios::probe>(p.spec);
    spec->require_auth_results.spf = {"pass", "none"};
    spec->require_auth_results.verdict = scenarios::junk_policy::down;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_TRUE(r.warnings.empty());
}

TEST_F(Roundtrip, JunkOutranksAnUnmetAuthResultsDown)
{
    probe::context ctx(test_key());
    auto p = plan("spam@org1.test", "spam", "spam-pw");
    auto spec = std::const_pointer_cast<scenarios::probe>(p.spec);
    spec->require_auth_results.dkim = {"pass"};
    spec->require_auth_results.verdict = scenarios::junk_policy::down;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::deliver);
    EXPECT_EQ(r.reason, "filed as spam in Junk");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0], "authentication result dkim=none is not one of the required pass");
}

TEST_F(Roundtrip, SlowerThanWarnLatencyIsAWarning)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    // A fetch session alone (TCP, TLS, login) takes well over a millisecond.
    std::const_pointer_cast<scenarios::probe>(p.spec)->warn_latency = 1ms;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::warning) << r.reason;
    EXPECT_EQ(r.stage, stage::none);
    EXPECT_GT(r.ms.delivery, 1);
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0], fmt::format("delivery took {} ms, above the 1 ms warning level", r.ms.delivery));
}

TEST_F(Roundtrip, AnExtraFolderIsSearchedAndIsUpThere)
{
    probe::context ctx(test_key());
    // filer@ has a rule that files every delivery into Archive, a folder with no special use.
    auto p = plan("filer@org1.test", "filer", "filer-pw");
    std::const_pointer_cast<scenarios::mailbox>(p.fetch)->extra_folders = {"Archive"};
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(r.stage, stage::none);
    EXPECT_EQ(r.folder, "Archive");
    EXPECT_TRUE(r.warnings.empty());
    auto* box = m_server->mailbox("filer@org1.test");
    EXPECT_EQ(box->at(builtin::folder_id::inbox).size(), 0u);
    ASSERT_EQ(box->folders().size(), builtin::folder_count + 1);
    EXPECT_EQ(box->folders().back().name(), "Archive");
    EXPECT_EQ(box->folders().back().size(), 0u) << "the probe message is deleted from Archive";
}

TEST_F(Roundtrip, JunkIsDownAtDeliverWithTheFolder)
{
    probe::context ctx(test_key());
    auto r = run(plan("spam@org1.test", "spam", "spam-pw"), ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::deliver);
    EXPECT_EQ(r.reason, "filed as spam in Junk");
    EXPECT_EQ(r.folder, "Junk");
    EXPECT_EQ(count("spam@org1.test", builtin::folder_id::junk), 0u);
}

TEST_F(Roundtrip, JunkAsWarningWhenThePolicySaysSo)
{
    probe::context ctx(test_key());
    auto p = plan("spam@org1.test", "spam", "spam-pw");
    std::const_pointer_cast<scenarios::probe>(p.spec)->junk = scenarios::junk_policy::warning;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::warning);
    EXPECT_EQ(r.reason, "filed as spam in Junk");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_EQ(r.warnings[0], "filed as spam in Junk");
}

TEST_F(Roundtrip, WrongPasswordIsDownAtAuth)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto smtp = *p.send_via;
    smtp.auth->password = inline_secret("wrong-sender-pw");
    p.send_via = std::make_shared<scenarios::server>(smtp);
    probe::result r;
    probe::result s;
    std::vector<task<void>> steps;
    steps.push_back(run_into(plan("alice@org1.test", "alice", "not-the-pw"), &ctx, &r));
    steps.push_back(run_into(std::move(p), &ctx, &s));
    serve(std::move(steps));
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::auth) << r.reason;
    EXPECT_FALSE(r.server_reply.empty());
    EXPECT_EQ(r.reason.find("not-the-pw"), std::string::npos);
    EXPECT_EQ(s.stage, stage::auth) << s.reason;
    EXPECT_EQ(s.reason.find("wrong-sender-pw"), std::string::npos);
}

TEST_F(Roundtrip, UnknownRecipientIsDownAtSend)
{
    probe::context ctx(test_key());
    auto r = run(plan("nobody@org1.test", "alice", "alice-pw"), ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::send) << r.reason;
    EXPECT_NE(r.server_reply.find("550"), std::string::npos) << r.server_reply;
}

TEST_F(Roundtrip, NothingListeningIsDownAtConnect)
{
    std::uint16_t dead_port = 0;
    {
        auto l = engine::listener::bind("127.0.0.1", 0);
        ASSERT_TRUE(l);
        dead_port = l->port();
    }
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto smtp = *p.send_via;
    smtp.port = dead_port;
    p.send_via = std::make_shared<scenarios::server>(smtp);
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::connect) << r.reason;
}

TEST_F(Roundtrip, WrongCaOrWrongNameIsDownAtTls)
{
    probe::context ctx(test_key());
    auto p = plan("alice@org1.test", "alice", "alice-pw");
    auto smtp = *p.send_via;
    smtp.ca_file.clear();   // the system store does not know the built-in server's CA
    p.send_via = std::make_shared<scenarios::server>(smtp);
    auto q = plan("alice@org1.test", "alice", "alice-pw");
    auto imap = *q.fetch_server;
    imap.verify_name = "mail.elsewhere.test";
    q.fetch_server = std::make_shared<scenarios::server>(imap);
    probe::result r;
    probe::result s;
    std::vector<task<void>> steps;
    steps.push_back(run_into(std::move(p), &ctx, &r));
    steps.push_back(run_into(std::move(q), &ctx, &s));
    serve(std::move(steps));
    EXPECT_EQ(r.stage, stage::tls) << r.reason;
    EXPECT_EQ(s.outcome, status::down);
    EXPECT_EQ(s.stage, stage::tls) << s.reason;
    // The message did arrive; the fetch side could not look.
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 1u);
}

TEST_F(Roundtrip, NeverArrivingIsDownAtDeliverAfterTheDeadline)
{
    probe::context ctx(test_key());
    auto p = plan("hole@org1.test", "alice", "alice-pw");
    std::const_pointer_cast<scenarios::probe>(p.spec)->deadline = 600ms;
    auto before = std::chrono::steady_clock::now();
    auto r = run(p, ctx);
    EXPECT_GE(std::chrono::steady_clock::now() - before, 600ms);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::deliver);
    EXPECT_EQ(r.reason, "not delivered within 0.6 s");
    EXPECT_TRUE(r.folder.empty());
}

TEST_F(Roundtrip, ForgeriesAndOtherMailAreLeftAloneOldLeftoversDeleted)
{
    probe::context ctx(test_key());
    probe::result imap;
    probe::result pop3;
    std::size_t planted = 0;
    std::size_t after_imap = 0;
    std::size_t after_pop3 = 0;
    std::vector<task<void>> steps;
    steps.push_back(plant(test_key(0x11), 1h));                  // our header, MAC under another key
    steps.push_back(plant(test_key(), 1h, "another-probe"));     // ours, but another probe's
    steps.push_back(plant(test_key(), 1s));                      // ours, this probe, still in flight
    steps.push_back(plant(test_key(), 1h));                      // ours, this probe, overdue: deleted
    steps.push_back(plant(test_key(), 2h));                      // same
    steps.push_back(submit_plain("alice@org1.test", "From: someone@org1.test\r\nSubject: hello\r\n\r\nnot a probe\r\n"));
    steps.push_back(count_into(m_server.get(), "alice@org1.test", &planted));
    steps.push_back(run_into(plan("alice@org1.test", "alice", "alice-pw"), &ctx, &imap));
    steps.push_back(count_into(m_server.get(), "alice@org1.test", &after_imap));
    steps.push_back(run_into(plan("alice@org1.test", "alice", "alice-pw", scenarios::protocol_kind::pop3), &ctx, &pop3));
    steps.push_back(count_into(m_server.get(), "alice@org1.test", &after_pop3));
    serve(std::move(steps));
    EXPECT_EQ(planted, 6u);
    EXPECT_EQ(imap.outcome, status::up) << imap.reason;
    EXPECT_EQ(after_imap, 4u);
    EXPECT_EQ(planted_left(), (std::vector<bool>{true, true, true, false, false}));
    // POP3 applies the same rules: nothing to delete but its own message.
    EXPECT_EQ(pop3.outcome, status::up) << pop3.reason;
    EXPECT_EQ(after_pop3, 4u);
}

TEST_F(Roundtrip, AMessageInFlightBecomesALeftoverOnceOlderThanTheDeadline)
{
    probe::context ctx(test_key());
    // Our clock runs an hour ahead: a copy sent a second ago by the real clock is overdue.
    ctx.wall_clock_ms = [] {
        auto now = std::chrono::system_clock::now() + 1h;
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
    };
    probe::result r;
    std::vector<task<void>> steps;
    steps.push_back(plant(test_key(), 1s));
    steps.push_back(run_into(plan("alice@org1.test", "alice", "alice-pw"), &ctx, &r));
    serve(std::move(steps));
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(planted_left(), (std::vector<bool>{false}));
}

TEST_F(Roundtrip, Pop3DeletesOldLeftoversToo)
{
    probe::context ctx(test_key());
    probe::result r;
    std::vector<task<void>> steps;
    steps.push_back(plant(test_key(), 1h));
    steps.push_back(plant(test_key(0x11), 1h));
    steps.push_back(run_into(plan("alice@org1.test", "alice", "alice-pw", scenarios::protocol_kind::pop3), &ctx, &r));
    serve(std::move(steps));
    EXPECT_EQ(r.outcome, status::up) << r.reason;
    EXPECT_EQ(planted_left(), (std::vector<bool>{false, true}));
}

TEST_F(Roundtrip, DeliveredTwiceIsAWarningAndBothCopiesGo)
{
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        // A fresh context: a fresh server comes with a fresh CA.
        probe::context ctx(test_key());
        auto r = run(plan("twice@org1.test", "twice", "twice-pw", proto), ctx);
        EXPECT_EQ(r.outcome, status::warning) << r.reason;
        EXPECT_EQ(r.stage, stage::none);
        EXPECT_EQ(r.folder, "INBOX");
        ASSERT_EQ(r.warnings.size(), 1u);
        EXPECT_EQ(r.warnings[0], "delivered twice");
        EXPECT_EQ(count("twice@org1.test", builtin::folder_id::inbox), 0u);
        // A built-in server serves once; the next protocol gets a fresh one.
        m_server = std::make_unique<builtin::server>(world_config());
        ASSERT_TRUE(m_server->start());
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }
}

TEST_F(Roundtrip, ABounceIsDownAtDeliverAtOnceWithTheServersWords)
{
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        // A fresh context: a fresh server comes with a fresh CA.
        probe::context ctx(test_key());
        auto p = with_bounces(plan("full@org1.test", "alice", "alice-pw"), proto);
        std::const_pointer_cast<scenarios::probe>(p.spec)->deadline = 30s;
        auto before = std::chrono::steady_clock::now();
        auto r = run(p, ctx);
        EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
        EXPECT_EQ(r.outcome, status::down);
        EXPECT_EQ(r.stage, stage::deliver);
        EXPECT_EQ(r.reason, "bounced with status 5.2.2 for full@org1.test");
        EXPECT_EQ(r.server_reply, "552 5.2.2 Mailbox full");
        EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
        // The bounce of our own message is cleaned up like the message would have been.
        EXPECT_EQ(count("sender@org1.test", builtin::folder_id::inbox), 0u);
        m_server = std::make_unique<builtin::server>(world_config());
        ASSERT_TRUE(m_server->start());
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }
}

TEST_F(Roundtrip, AnUnreadableBounceMailboxIsAWarningNotTheVerdict)
{
    probe::context ctx(test_key());
    auto p = with_bounces(plan("hole@org1.test", "alice", "alice-pw"), scenarios::protocol_kind::imap);
    auto box = std::make_shared<scenarios::mailbox>(*p.bounce);
    box->login = scenarios::credential{"sender", inline_secret("wrong-bounce-pw"), std::nullopt};
    p.bounce = box;
    std::const_pointer_cast<scenarios::probe>(p.spec)->deadline = 500ms;
    auto r = run(p, ctx);
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::deliver);
    EXPECT_EQ(r.reason, "not delivered within 0.5 s");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("the bounce mailbox could not be read: auth"), std::string::npos) << r.warnings[0];
    EXPECT_EQ(r.warnings[0].find("wrong-bounce-pw"), std::string::npos);
}

TEST_F(Roundtrip, NextPollFindsWhatTheRunBeforeSent)
{
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        // A fresh context: a fresh server comes with a fresh CA.
        probe::context ctx(test_key());
        std::vector<probe::outstanding> state;
        probe::result first;
        probe::result second;
        std::size_t between = 0;
        std::size_t after = 0;
        std::vector<task<void>> steps;
        steps.push_back(next_poll_into(plan("alice@org1.test", "alice", "alice-pw", proto), &ctx, &state, &first));
        steps.push_back(count_into(m_server.get(), "alice@org1.test", &between));
        steps.push_back(next_poll_into(plan("alice@org1.test", "alice", "alice-pw", proto), &ctx, &state, &second));
        steps.push_back(count_into(m_server.get(), "alice@org1.test", &after));
        serve(std::move(steps));
        // The first run has nothing to judge: its message waits for the next run.
        EXPECT_EQ(first.outcome, status::pending) << first.reason;
        EXPECT_TRUE(first.next_poll);
        EXPECT_EQ(between, 1u);
        EXPECT_EQ(second.outcome, status::up) << second.reason;
        EXPECT_EQ(second.folder, "INBOX");
        // POP3 has no INTERNALDATE: no store hop.
        EXPECT_EQ(second.hops.size(), proto == scenarios::protocol_kind::imap ? 2u : 1u);
        EXPECT_NE(second.probe_id, first.probe_id);
        // The first message is gone, the second waits for a third run.
        EXPECT_EQ(after, 1u);
        ASSERT_EQ(state.size(), 1u);
        EXPECT_EQ(state[0].id.to_string(), second.probe_id);
        m_server = std::make_unique<builtin::server>(world_config());
        ASSERT_TRUE(m_server->start());
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }
}

// A first next-poll call (nothing outstanding) still looks once: an overdue leftover of this
// probe goes, over IMAP as over POP3; another key's message stays.
TEST_F(Roundtrip, NextPollWithNothingOutstandingClearsLeftovers)
{
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        probe::context ctx(test_key());
        std::vector<probe::outstanding> state;
        probe::result first;
        std::vector<task<void>> steps;
        steps.push_back(plant(test_key(), 1h));
        steps.push_back(plant(test_key(0x11), 1h));
        steps.push_back(next_poll_into(plan("alice@org1.test", "alice", "alice-pw", proto), &ctx, &state, &first));
        serve(std::move(steps));
        EXPECT_EQ(first.outcome, status::pending) << first.reason;
        EXPECT_EQ(planted_left(), (std::vector<bool>{false, true}));
        m_planted.clear();
        m_server = std::make_unique<builtin::server>(world_config());
        ASSERT_TRUE(m_server->start());
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }
}

TEST_F(Roundtrip, NextPollJudgesOverdueLostAndNotYetDue)
{
    probe::context ctx(test_key());
    auto now = ctx.now_ms();
    protocols::message::probe_id_generator ids;
    probe::outstanding overdue{ids.next(now - 3'600'000), now - 3'600'000};
    probe::outstanding fresh{ids.next(now), now};
    std::vector<probe::outstanding> only_fresh{fresh};
    std::vector<probe::outstanding> both{overdue, fresh};
    probe::result waiting;
    probe::result lost;
    std::vector<task<void>> steps;
    steps.push_back(next_poll_into(plan("hole@org1.test", "alice", "alice-pw"), &ctx, &only_fresh, &waiting));
    steps.push_back(next_poll_into(plan("hole@org1.test", "alice", "alice-pw"), &ctx, &both, &lost));
    serve(std::move(steps));
    // Not due yet: still pending, and looked for again next time with this run's message.
    EXPECT_EQ(waiting.outcome, status::pending) << waiting.reason;
    ASSERT_EQ(only_fresh.size(), 2u);
    EXPECT_EQ(only_fresh[0].id, fresh.id);
    // Overdue: Down, and given up (it would be deleted as a leftover if it came after all).
    EXPECT_EQ(lost.outcome, status::down);
    EXPECT_EQ(lost.stage, stage::deliver);
    EXPECT_NE(lost.reason.find("not delivered within 3 s (message " + overdue.id.to_string() + " sent 3600 s ago"),
        std::string::npos) << lost.reason;
    ASSERT_EQ(both.size(), 2u);
    EXPECT_EQ(both[0].id, fresh.id);
}

TEST_F(Roundtrip, NextPollSendsEvenWhenTheFetchFails)
{
    probe::context ctx(test_key());
    std::vector<probe::outstanding> state;
    probe::result r;
    std::vector<task<void>> steps;
    steps.push_back(next_poll_into(plan("alice@org1.test", "alice", "wrong-pw"), &ctx, &state, &r));
    serve(std::move(steps));
    EXPECT_EQ(r.outcome, status::down);
    EXPECT_EQ(r.stage, stage::auth);
    EXPECT_EQ(state.size(), 1u);
    EXPECT_EQ(count("alice@org1.test", builtin::folder_id::inbox), 1u);
}

TEST_F(Roundtrip, TheStoreClockIsAHopAndItsSkewIsReportedNotMixedIntoDelivery)
{
    // The store stamps INTERNALDATE ten minutes behind, then ten minutes ahead of the SMTP
    // host that writes Received (and of our own clock).
    for (std::chrono::seconds offset : {-600s, 600s}) {
        SCOPED_TRACE(offset.count());
        auto cfg = world_config();
        cfg.store_clock_offset = offset;
        m_server = std::make_unique<builtin::server>(cfg);
        ASSERT_TRUE(m_server->start());
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
        probe::context ctx(test_key());
        auto r = run(plan("alice@org1.test", "alice", "alice-pw"), ctx);
        EXPECT_EQ(r.outcome, status::up) << r.reason;
        ASSERT_EQ(r.hops.size(), 2u);
        EXPECT_FALSE(r.hops[0].skewed);
        ASSERT_TRUE(r.hops[1].store);
        ASSERT_TRUE(r.hops[1].delay_ms);
        // Whole seconds on both sides, and the delivery itself takes a moment.
        EXPECT_NEAR(static_cast<double>(*r.hops[1].delay_ms), static_cast<double>(offset.count() * 1000), 3000.0);
        EXPECT_EQ(r.hops[1].skewed, offset < 0s);
        EXPECT_GE(r.max_clock_skew_ms, 590'000);
        EXPECT_LE(r.max_clock_skew_ms, 601'000);
        // Latency stays on our clock.
        EXPECT_LT(r.ms.delivery, 3000);
        EXPECT_TRUE(r.warnings.empty());
    }
}

} // namespace
