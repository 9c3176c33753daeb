// The probe lifecycle against the real loopback Postfix + Dovecot of tests/servers: the six
// topologies Up over IMAP and over POP3 (3 and 6 through the fwd@ aliases; internal zone =
// 127.0.0.10), the Junk filing of junk@, a wrong password, an unknown user and blackhole@
// that never delivers; a bounce from the other organisation seen in the sender's mailbox
// long before the deadline; the next-poll mode over two runs; nothing listening (connect), a
// CA that did not sign the server or a name it does not carry (tls); and a probe that leaves
// every other message of its mailbox where it was. Facts come from the JSON file named by MAILPROBE_SERVERS_JSON; without
// it every test is skipped. Each run has its own probe name, so concurrent runs on one
// mailbox never take each other's messages for leftovers.
#include "probe/roundtrip.h"

#include "engine/certs.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/smtp/session.h"

#include "tests/support/fixtures.h"
#include "tests/support/mail_servers.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;
using probe::status;

using test_support::test_key;
using test_support::inline_secret;

namespace {

using test_support::mail_org;

/// Whether a message in the INBOX of the Dovecot maildir `maildir` contains `text`.
bool maildir_holds(const std::string& maildir, const std::string& text)
{
    for (const char* sub : {"new", "cur"}) {
        std::error_code ec;
        for (const auto& f : std::filesystem::directory_iterator(maildir + "/" + sub, ec)) {
            std::ifstream in_file(f.path());
            std::string whole((std::istreambuf_iterator<char>(in_file)), std::istreambuf_iterator<char>());
            if (whole.find(text) != std::string::npos) {
                return true;
            }
        }
    }
    return false;
}

class RoundtripIntegration : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string why;
        auto f = test_support::load_mail_servers(why);
        if (!f) {
            GTEST_SKIP() << why;
        }
        m_facts = *f;
    }

    scenarios::server server(const mail_org& org, scenarios::protocol_kind p, std::uint16_t port,
        scenarios::tls_mode tls) const
    {
        scenarios::server s;
        s.name = org.hostname + ":" + std::to_string(port);
        s.protocol = p;
        s.host = org.address;
        s.port = port;
        s.tls = tls;
        s.ca_file = m_facts.ca_file;
        s.verify_name = org.hostname;
        s.connect_timeout = 5s;
        s.command_timeout = 10s;
        return s;
    }

    /// A probe named `name`: `from_org`'s sender submits to `to`; `fetch_user` of `fetch_org`
    /// fetches over `proto` (IMAP on 993, POP3 with STLS on 110).
    scenarios::probe_plan plan(std::string name, int topology, const mail_org& from_org, std::string to,
        const mail_org& fetch_org, std::string_view fetch_user, scenarios::protocol_kind proto) const
    {
        scenarios::probe_plan p;
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = std::move(name);
        spec->tenant = "loopback";
        spec->topology = topology;
        spec->from = from_org.users.at("sender").address;
        spec->to = std::move(to);
        spec->deadline = 30s;
        spec->poll = 250ms;
        p.spec = spec;
        auto smtp = server(from_org, scenarios::protocol_kind::smtp, from_org.port("submission"), scenarios::tls_mode::starttls);
        const auto& sender = from_org.users.at("sender");
        smtp.auth = scenarios::credential{sender.login, inline_secret(sender.password), std::nullopt};
        p.send_via = std::make_shared<scenarios::server>(smtp);
        const auto& user = fetch_org.users.at(std::string(fetch_user));
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = std::string(fetch_user);
        box->address = user.address;
        box->login = scenarios::credential{user.login, inline_secret(user.password), std::nullopt};
        p.fetch = box;
        p.fetch_server = std::make_shared<scenarios::server>(proto == scenarios::protocol_kind::imap
                ? server(fetch_org, proto, fetch_org.port("imaps"), scenarios::tls_mode::implicit)
                : server(fetch_org, proto, fetch_org.port("pop3"), scenarios::tls_mode::starttls));
        return p;
    }

    static task<probe::result> one(scenarios::probe_plan p, probe::context* ctx)
    {
        co_return co_await probe::run_once(std::move(p), *ctx);
    }

    /// `p` watching the sender's own mailbox of `org` for bounces, over `proto`.
    scenarios::probe_plan with_bounces(scenarios::probe_plan p, const mail_org& org, scenarios::protocol_kind proto) const
    {
        const auto& sender = org.users.at("sender");
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = "sender";
        box->address = sender.address;
        box->login = scenarios::credential{sender.login, inline_secret(sender.password), std::nullopt};
        p.bounce = box;
        p.bounce_server = std::make_shared<scenarios::server>(proto == scenarios::protocol_kind::imap
                ? server(org, proto, org.port("imaps"), scenarios::tls_mode::implicit)
                : server(org, proto, org.port("pop3"), scenarios::tls_mode::starttls));
        return p;
    }

    /// Runs every plan, at most four at a time.
    std::vector<probe::result> run_all(std::vector<scenarios::probe_plan> plans)
    {
        engine::loop loop;
        probe::context ctx(test_key(0x3c));
        std::vector<task<probe::result>> tasks;
        for (auto& p : plans) {
            tasks.push_back(one(std::move(p), &ctx));
        }
        return loop.run(engine::gather(std::move(tasks), 4));
    }

    test_support::mail_servers m_facts;
};

TEST_F(RoundtripIntegration, SixTopologiesUpOverImapAndPop3)
{
    const auto& in = m_facts.org("internal");
    const auto& ex = m_facts.org("external");
    std::vector<scenarios::probe_plan> plans;
    std::map<std::string, std::string> maildir_of;   // probe name -> the fetched mailbox on disk
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        std::string suffix = proto == scenarios::protocol_kind::imap ? "-imap" : "-pop3";
        plans.push_back(plan("it-topo1" + suffix, 1, in, in.users.at("probe").address, in, "probe", proto));
        plans.push_back(plan("it-topo2" + suffix, 2, in, ex.users.at("probe").address, ex, "probe", proto));
        plans.push_back(plan("it-topo3" + suffix, 3, in, ex.forward, in, "probe-back", proto));
        plans.push_back(plan("it-topo4" + suffix, 4, ex, ex.users.at("probe").address, ex, "probe", proto));
        plans.push_back(plan("it-topo5" + suffix, 5, ex, in.users.at("probe").address, in, "probe", proto));
        plans.push_back(plan("it-topo6" + suffix, 6, ex, in.forward, ex, "probe-out", proto));
        const std::array<const mail_org*, 6> fetch_org{&in, &ex, &in, &ex, &in, &ex};   // as the plans above
        for (std::size_t i = 0; i < fetch_org.size(); ++i) {
            const auto& p = plans[plans.size() - fetch_org.size() + i];
            maildir_of[p.spec->name] = fetch_org[i]->users.at(p.fetch->name).maildir;
        }
    }
    auto results = run_all(std::move(plans));
    for (const auto& r : results) {
        SCOPED_TRACE(r.probe);
        EXPECT_EQ(r.outcome, status::up) << r.reason << " / " << r.server_reply;
        // Deleted on the server (IMAP: UID EXPUNGE; POP3: DELE and QUIT), not only marked.
        ASSERT_EQ(r.probe_id.size(), 36u);
        EXPECT_FALSE(maildir_holds(maildir_of.at(r.probe), r.probe_id)) << "the probe message is still in "
                                                                         << maildir_of.at(r.probe);
        EXPECT_EQ(r.folder, "INBOX");
        EXPECT_EQ(r.tls.size(), 2u);
        EXPECT_TRUE(r.cert_days_left && *r.cert_days_left > 14);
        // Forwarding adds hops: the submission server, the LMTP/relay hops, the other org.
        EXPECT_GE(r.hops.size(), r.topology == 3 || r.topology == 6 ? 3u : 1u);
        EXPECT_LE(r.ms.delivery, r.ms.total);
        RecordProperty(r.probe + "_delivery_ms", std::to_string(r.ms.delivery));
        RecordProperty(r.probe + "_total_ms", std::to_string(r.ms.total));
        RecordProperty(r.probe + "_hops", std::to_string(r.hops.size()));
    }
}

TEST_F(RoundtripIntegration, FailuresAtTheirStages)
{
    const auto& in = m_facts.org("internal");
    std::vector<scenarios::probe_plan> plans;
    plans.push_back(plan("it-junk", 1, in, in.junk, in, "junk", scenarios::protocol_kind::imap));
    // To blackhole@: the message is accepted, then the login fails, and nothing is left behind.
    auto wrong = plan("it-wrong-pw", 1, in, in.blackhole, in, "probe", scenarios::protocol_kind::imap);
    auto box = *wrong.fetch;
    box.login.password = inline_secret("not-the-password");
    wrong.fetch = std::make_shared<scenarios::mailbox>(box);
    plans.push_back(std::move(wrong));
    plans.push_back(plan("it-unknown", 1, in, in.unknown, in, "probe", scenarios::protocol_kind::imap));
    auto hole = plan("it-blackhole", 1, in, in.blackhole, in, "probe", scenarios::protocol_kind::pop3);
    std::const_pointer_cast<scenarios::probe>(hole.spec)->deadline = 3s;
    plans.push_back(std::move(hole));

    auto r = run_all(std::move(plans));
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].outcome, status::down);
    EXPECT_EQ(r[0].stage, stage::deliver);
    EXPECT_EQ(r[0].reason, "filed as spam in Junk");
    EXPECT_EQ(r[0].folder, "Junk");

    EXPECT_EQ(r[1].outcome, status::down);
    EXPECT_EQ(r[1].stage, stage::auth) << r[1].reason;
    EXPECT_FALSE(r[1].server_reply.empty());
    EXPECT_EQ(r[1].reason.find("not-the-password"), std::string::npos);

    EXPECT_EQ(r[2].outcome, status::down);
    EXPECT_EQ(r[2].stage, stage::send) << r[2].reason;
    EXPECT_NE(r[2].server_reply.find("550"), std::string::npos) << r[2].server_reply;

    EXPECT_EQ(r[3].outcome, status::down);
    EXPECT_EQ(r[3].stage, stage::deliver);
    EXPECT_EQ(r[3].reason, "not delivered within 3 s");
}

TEST_F(RoundtripIntegration, ABounceFromTheOtherOrganisationIsDownLongBeforeTheDeadline)
{
    const auto& in = m_facts.org("internal");
    const auto& ex = m_facts.org("external");
    // Submission takes mail for an unknown user of the other domain; the other org's port 25
    // refuses it and our Postfix returns a DSN to the sender, whose mailbox both probes watch.
    std::vector<scenarios::probe_plan> plans;
    for (auto proto : {scenarios::protocol_kind::imap, scenarios::protocol_kind::pop3}) {
        std::string name = proto == scenarios::protocol_kind::imap ? "it-bounce-imap" : "it-bounce-pop3";
        auto p = with_bounces(plan(name, 2, in, ex.unknown, ex, "probe", proto), in, proto);
        std::const_pointer_cast<scenarios::probe>(p.spec)->deadline = 60s;
        plans.push_back(std::move(p));
    }
    auto results = run_all(std::move(plans));
    for (const auto& r : results) {
        SCOPED_TRACE(r.probe);
        EXPECT_EQ(r.outcome, status::down);
        EXPECT_EQ(r.stage, stage::deliver);
        EXPECT_EQ(r.reason, "bounced with status 5.1.1 for " + ex.unknown) << r.reason;
        EXPECT_NE(r.server_reply.find("550"), std::string::npos) << r.server_reply;
        EXPECT_LT(r.ms.total, 30'000);
        EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    }
}

TEST_F(RoundtripIntegration, NextPollFindsTheMessageTheRunBeforeSent)
{
    const auto& in = m_facts.org("internal");
    const auto& ex = m_facts.org("external");
    // Topology 3 (out through the other org and forwarded back): the longest loop.
    auto p = plan("it-next-poll", 3, in, ex.forward, in, "probe-back", scenarios::protocol_kind::imap);
    engine::loop loop;
    probe::context ctx(test_key(0x3c));
    std::vector<probe::outstanding> state;
    std::vector<probe::result> results;
    loop.run([](scenarios::probe_plan plan_, probe::context* ctx_, std::vector<probe::outstanding>* state_,
                 std::vector<probe::result>* out) -> task<void> {
        // A scheduler calling every 2 s; the first call sends, a later one finds it.
        for (int call = 0; call < 10; ++call) {
            auto done = co_await probe::run_next_poll(plan_, *ctx_, *state_);
            *state_ = std::move(done.for_next_run);
            bool up = done.r.outcome == status::up;
            out->push_back(std::move(done.r));
            if (up || !co_await engine::sleep_for(2s)) {
                co_return;
            }
        }
    }(p, &ctx, &state, &results));
    ASSERT_GE(results.size(), 2u);
    EXPECT_EQ(results.front().outcome, status::pending) << results.front().reason;
    const auto& last = results.back();
    EXPECT_EQ(last.outcome, status::up) << last.reason << " / " << last.server_reply;
    EXPECT_TRUE(last.next_poll);
    EXPECT_EQ(last.folder, "INBOX");
    EXPECT_GE(last.hops.size(), 3u);
    ASSERT_FALSE(state.empty());
    EXPECT_EQ(state.back().id.to_string(), last.probe_id);
}

TEST_F(RoundtripIntegration, ConnectAndTlsFailuresAgainstTheRealServers)
{
    const auto& in = m_facts.org("internal");
    std::vector<scenarios::probe_plan> plans;
    // Nothing listens on 127.0.0.10:2 (the servers bind only their mail ports).
    auto closed = plan("it-closed", 1, in, in.users.at("probe").address, in, "probe", scenarios::protocol_kind::imap);
    auto smtp = *closed.send_via;
    smtp.port = 2;
    closed.send_via = std::make_shared<scenarios::server>(smtp);
    plans.push_back(std::move(closed));
    // Dovecot's certificate does not carry this name.
    auto misnamed = plan("it-misnamed", 1, in, in.users.at("probe").address, in, "probe", scenarios::protocol_kind::imap);
    auto imap = *misnamed.fetch_server;
    imap.verify_name = "mail.elsewhere.test";
    misnamed.fetch_server = std::make_shared<scenarios::server>(imap);
    plans.push_back(std::move(misnamed));
    // A CA of our own, which signed nothing these servers hold.
    auto stranger = engine::make_ca("a stranger CA");
    ASSERT_TRUE(stranger);
    std::string stranger_file = std::filesystem::temp_directory_path() / ("it-stranger-ca-" + std::to_string(::getpid()) + ".pem");
    std::ofstream(stranger_file) << stranger->cert;
    auto untrusted = plan("it-untrusted", 1, in, in.users.at("probe").address, in, "probe", scenarios::protocol_kind::pop3);
    auto submission = *untrusted.send_via;
    submission.ca_file = stranger_file;
    untrusted.send_via = std::make_shared<scenarios::server>(submission);
    plans.push_back(std::move(untrusted));

    auto r = run_all(std::move(plans));
    std::filesystem::remove(stranger_file);
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].outcome, status::down);
    EXPECT_EQ(r[0].stage, stage::connect) << r[0].reason;
    EXPECT_EQ(r[1].outcome, status::down);
    EXPECT_EQ(r[1].stage, stage::tls) << r[1].reason;
    EXPECT_NE(r[1].reason.find("cert_name_mismatch"), std::string::npos) << r[1].reason;
    EXPECT_EQ(r[2].outcome, status::down);
    EXPECT_EQ(r[2].stage, stage::tls) << r[2].reason;
    EXPECT_NE(r[2].reason.find("cert_untrusted"), std::string::npos) << r[2].reason;
}

TEST_F(RoundtripIntegration, OtherMessagesInTheMailboxAreLeftAlone)
{
    const auto& in = m_facts.org("internal");
    const auto& box = in.users.at("probe");
    // Someone else's message in the probe mailbox, with a token to find it by on disk.
    std::string token = "not-a-probe-" + std::to_string(::getpid());
    engine::loop loop;
    auto sent = loop.run([](const mail_org* org, std::string to, std::string tok, std::string ca) -> task<bool> {
        protocols::smtp::send_request req;
        req.server.host = org->address;
        req.server.port = org->port("submission");
        req.server.tls = protocols::tls_mode::starttls;
        req.server.verify_name = org->hostname;
        engine::tls_options o;
        o.ca_file = ca;
        auto ctx = engine::tls_context::client(o);
        if (!ctx) {
            co_return false;
        }
        req.server.tls_context = *ctx;
        const auto& sender = org->users.at("sender");
        req.auth = protocols::credentials{sender.login, sender.password, protocols::credentials::kind::password};
        req.helo_name = org->domain;
        req.mail_from = sender.address;
        req.recipients.push_back(to);
        req.message = "From: " + sender.address + "\r\nTo: " + to + "\r\nSubject: " + tok +
            "\r\nMessage-ID: <" + tok + "@" + org->domain + ">\r\n\r\nA person's mail.\r\n";
        auto r = co_await protocols::smtp::send(std::move(req), nullptr);
        co_return static_cast<bool>(r);
    }(&in, box.address, token, m_facts.ca_file));
    ASSERT_TRUE(sent);
    auto holds_token = [&] { return maildir_holds(box.maildir, token); };
    for (int i = 0; i < 50 && !holds_token(); ++i) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(holds_token()) << "the other message never arrived";
    std::vector<scenarios::probe_plan> plans;
    plans.push_back(plan("it-neighbour-imap", 1, in, box.address, in, "probe", scenarios::protocol_kind::imap));
    plans.push_back(plan("it-neighbour-pop3", 1, in, box.address, in, "probe", scenarios::protocol_kind::pop3));
    auto r = run_all(std::move(plans));
    for (const auto& x : r) {
        EXPECT_EQ(x.outcome, status::up) << x.probe << ": " << x.reason;
        ASSERT_EQ(x.probe_id.size(), 36u);
        EXPECT_FALSE(maildir_holds(box.maildir, x.probe_id)) << x.probe << " left its message behind";
    }
    EXPECT_TRUE(holds_token()) << "a probe deleted someone else's message";
}

/// keep_session on Dovecot: the later runs poll in the session the first one logged in to.
TEST_F(RoundtripIntegration, KeptImapSessionServesLaterRunsOnDovecot)
{
    const auto& in = m_facts.org("internal");
    auto p = plan("it-kept-session", 1, in, in.users.at("probe").address, in, "probe", scenarios::protocol_kind::imap);
    std::const_pointer_cast<scenarios::mailbox>(p.fetch)->keep_session = 60s;
    engine::loop loop;
    probe::context ctx(test_key(0x3c));
    ctx.trace = true;
    auto runs = loop.run([](scenarios::probe_plan plan, probe::context* c) -> task<std::vector<probe::result>> {
        std::vector<probe::result> out;
        for (int i = 0; i < 3; ++i) {
            out.push_back(co_await probe::run_once(plan, *c));
        }
        co_return out;
    }(p, &ctx));
    ASSERT_EQ(runs.size(), 3u);
    for (std::size_t i = 0; i < runs.size(); ++i) {
        SCOPED_TRACE(i);
        EXPECT_EQ(runs[i].outcome, status::up) << runs[i].reason << " / " << runs[i].server_reply;
        EXPECT_EQ(runs[i].fetch_session_kept, i > 0);
        EXPECT_EQ(runs[i].transcript.find("AUTHENTICATE") != std::string::npos, i == 0) << runs[i].transcript;
    }
    EXPECT_NE(runs[2].transcript.find("NOOP"), std::string::npos);
    EXPECT_EQ(ctx.sessions.idle(), 1u);
}

} // namespace
