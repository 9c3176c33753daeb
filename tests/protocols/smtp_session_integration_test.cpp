// The SMTP session against the real loopback Postfix of tests/servers (organisation
// "internal"): submission on 587 with STARTTLS and AUTH, submission over implicit TLS on 465,
// a wrong password (auth stage) and an unknown recipient (send stage). The servers' facts come
// from the JSON file named by MAILPROBE_SERVERS_JSON; without it every test is skipped.
#include "protocols/smtp/session.h"

#include "engine/loop.h"

#include "tests/support/mail_servers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

using namespace std::chrono_literals;
using engine::errc;
using engine::stage;
using protocols::credentials;
using protocols::tls_mode;
using protocols::smtp::send_request;

namespace {

struct org_facts {
    std::string ca_file;
    std::string address;
    std::string hostname;
    std::uint16_t submission = 0;
    std::uint16_t submissions = 0;
    std::string sender_login;
    std::string sender_password;
    std::string probe_address;
    std::string unknown_address;
};

/// The "internal" organisation from servers.json, or nullopt (with the reason) when unusable.
std::optional<org_facts> load_internal(std::string& why)
{
    auto servers = test_support::load_mail_servers(why);
    if (!servers) {
        return std::nullopt;
    }
    const auto& org = servers->org("internal");
    const auto& sender = org.user("sender");
    return org_facts{servers->ca_file, org.address, org.hostname, org.port("submission"), org.port("submissions"),
        sender.login, sender.password, org.user("probe").address, org.unknown};
}

class SmtpSessionIntegration : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string why;
        auto f = load_internal(why);
        if (!f) {
            GTEST_SKIP() << why;
        }
        m_facts = *f;
    }

    send_request request(tls_mode tls, std::uint16_t port) const
    {
        send_request r;
        r.server.host = m_facts.address;
        r.server.port = port;
        r.server.tls = tls;
        r.server.verify_name = m_facts.hostname;
        engine::tls_options o;
        o.ca_file = m_facts.ca_file;
        auto ctx = engine::tls_context::client(o);
        EXPECT_TRUE(ctx) << ctx.err().describe();
        if (ctx) {
            r.server.tls_context = *ctx;
        }
        r.server.connect_timeout = 10s;
        r.server.command_timeout = 20s;
        r.auth = credentials{m_facts.sender_login, m_facts.sender_password, credentials::kind::password};
        r.helo_name = "probe.test";
        r.mail_from = m_facts.sender_login;
        r.recipients = {m_facts.probe_address};
        auto token = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
        r.message = "From: <" + m_facts.sender_login + ">\r\nTo: <" + m_facts.probe_address
            + ">\r\nSubject: smtp_session_integration_test " + token + "\r\nMessage-ID: <" + token
            + "@probe.test>\r\n\r\nprobe body\r\n.leading dot\r\n";
        return r;
    }

    org_facts m_facts;
};

} // namespace

TEST_F(SmtpSessionIntegration, SubmissionStarttlsAndAuth)
{
    engine::loop loop;
    protocols::transcript trace;
    auto r = loop.run(protocols::smtp::send(request(tls_mode::starttls, m_facts.submission), &trace));
    ASSERT_TRUE(r) << r.err().describe() << "\n" << trace.text();
    ASSERT_TRUE(r->tls);
    EXPECT_TRUE(r->tls->verified);
    EXPECT_TRUE(r->caps.auth.contains(protocols::sasl::mechanism::plain));
    EXPECT_EQ(r->final_reply.rfind("250 2.0.0 Ok: queued as ", 0), 0u) << r->final_reply;
    EXPECT_FALSE(r->queue_id.empty());
    EXPECT_EQ(trace.text().find(m_facts.sender_password), std::string::npos) << trace.text();
    EXPECT_GT(r->total_ms, 0);
}

TEST_F(SmtpSessionIntegration, SubmissionsImplicitTls)
{
    engine::loop loop;
    protocols::transcript trace;
    auto r = loop.run(protocols::smtp::send(request(tls_mode::implicit, m_facts.submissions), &trace));
    ASSERT_TRUE(r) << r.err().describe() << "\n" << trace.text();
    ASSERT_TRUE(r->tls);
    EXPECT_TRUE(r->tls->verified);
    EXPECT_FALSE(r->queue_id.empty()) << r->final_reply;
}

TEST_F(SmtpSessionIntegration, WrongPasswordFailsAtAuth)
{
    engine::loop loop;
    protocols::transcript trace;
    auto req = request(tls_mode::starttls, m_facts.submission);
    req.auth->secret = "not-the-password";
    auto r = loop.run(protocols::smtp::send(std::move(req), &trace));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, stage::auth);
    EXPECT_EQ(r.err().code, errc::auth_failed);
    EXPECT_EQ(r.err().message.rfind("535 5.7.8", 0), 0u) << r.err().message;
    EXPECT_EQ(trace.text().find("not-the-password"), std::string::npos) << trace.text();
}

TEST_F(SmtpSessionIntegration, UnknownRecipientFailsAtSend)
{
    engine::loop loop;
    auto req = request(tls_mode::starttls, m_facts.submission);
    req.recipients = {m_facts.unknown_address};
    protocols::transcript trace;
    auto r = loop.run(protocols::smtp::send(std::move(req), &trace));
    ASSERT_FALSE(r) << trace.text();
    EXPECT_EQ(r.err().where, stage::send);
    EXPECT_EQ(r.err().code, errc::rejected);
    EXPECT_NE(r.err().message.find("550 5.1.1"), std::string::npos) << r.err().message;
    EXPECT_FALSE(r.err().transient);
    // Postfix refuses DATA when no recipient is left, so the session ends with a polite QUIT.
    EXPECT_NE(trace.text().find("< 221 2.0.0 Bye"), std::string::npos) << trace.text();
}
