// The built-in server in bearer-token mode with the loopback token endpoint as identity
// provider: a whole probe (SMTP submission, IMAP or POP3 fetch) logs in with XOAUTH2 using
// tokens mailprobe fetched itself, fetching once for all logins; a token the provider never
// issued is refused with the error continuation and becomes a Down at auth quoting the server;
// passwords are refused; the server reads XOAUTH2 and OAUTHBEARER messages as clients build them;
// an access token revoked mid-run is dropped from the cache on the server's refusal, and the
// next run fetches one fresh token for all probes; probes across two expiries cause one
// refresh each; a server offering only OAUTHBEARER gets OAUTHBEARER logins.
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "protocols/common/sasl.h"
#include "protocols/smtp/session.h"
#include "report/format.h"
#include "tests/support/child_process.h"
#include "tests/support/fixtures.h"
#include "tools/server/oauth.h"
#include "tools/server/server.h"
#include "tools/server/token_endpoint.h"

#include <gtest/gtest.h>

#include <array>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;

using test_support::inline_secret;

namespace {

class OAuthServer : public ::testing::Test {
protected:
    virtual bool offers_xoauth2() const { return true; }

    void SetUp() override
    {
        m_idp.add_client("probe-app", "app-secret-0123456789");
        auto idp_started = m_idp.start();
        ASSERT_TRUE(idp_started) << idp_started.err().describe();
        m_idp_ca = m_dir.write("idp-ca.pem", m_idp.ca_pem());

        builtin::config c;
        c.hostname = "outlook.builtin.test";
        builtin::domain_config d{"contoso.test", {}, {}};
        d.mailboxes.push_back({"probe@contoso.test", "probe", "probe-pw", false});
        c.domains = {d};
        using builtin::protocol;
        using protocols::tls_mode;
        c.listeners = {
            {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
            {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
            {"pop3s", protocol::pop3, tls_mode::implicit, "127.0.0.1", 0},
        };
        c.accept_token = [idp = &m_idp](std::string_view token) { return idp->accepts(token); };
        c.bearer_xoauth2 = offers_xoauth2();
        m_server = std::make_unique<builtin::server>(c);
        auto started = m_server->start();
        ASSERT_TRUE(started) << started.err().describe();
        m_ca = m_dir.write("server-ca.pem", m_server->ca_pem());
    }

    scenarios::server server(std::string name, scenarios::protocol_kind p, scenarios::tls_mode tls) const
    {
        scenarios::server s;
        s.protocol = p;
        s.host = "127.0.0.1";
        s.port = m_server->port(name);
        s.name = std::move(name);
        s.tls = tls;
        s.ca_file = m_ca;
        s.verify_name = "localhost";
        s.connect_timeout = 3s;
        s.command_timeout = 3s;
        return s;
    }

    scenarios::credential by_client_credentials() const
    {
        scenarios::oauth2_flow f;
        f.type = scenarios::oauth2_flow::grant::client_credentials;
        f.token_url = m_idp.url();
        f.client_id = "probe-app";
        f.client_secret = inline_secret("app-secret-0123456789");
        f.scope = "https://outlook.office365.com/.default";
        f.ca_file = m_idp_ca;
        scenarios::credential c;
        c.user = "probe@contoso.test";
        c.oauth2 = f;
        return c;
    }

    /// probe@contoso.test to itself, logged in everywhere with `login`, fetched over `fetch`.
    scenarios::probe_plan plan(scenarios::credential login, scenarios::protocol_kind fetch) const
    {
        scenarios::probe_plan p;
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = "m365";
        spec->tenant = "contoso";
        spec->send_via = "submission";
        spec->from = "probe@contoso.test";
        spec->to = "probe@contoso.test";
        spec->fetch = "box";
        spec->deadline = 3s;
        spec->poll = 100ms;
        p.spec = spec;
        p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"contoso", ""});
        auto smtp = server("submission", scenarios::protocol_kind::smtp, scenarios::tls_mode::starttls);
        smtp.auth = login;
        p.send_via = std::make_shared<scenarios::server>(smtp);
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = "box";
        box->address = "probe@contoso.test";
        box->login = login;
        p.fetch = box;
        p.fetch_server = std::make_shared<scenarios::server>(fetch == scenarios::protocol_kind::imap
                ? server("imaps", fetch, scenarios::tls_mode::implicit)
                : server("pop3s", fetch, scenarios::tls_mode::implicit));
        return p;
    }

    static task<void> with_servers(builtin::server* srv, builtin::token_endpoint* idp, task<void> body)
    {
        engine::scope s;
        s.spawn(srv->run());
        s.spawn(idp->run());
        co_await std::move(body);
        srv->stop();
        idp->stop();
        co_await s.join();
    }

    static task<void> run_into(scenarios::probe_plan p, probe::context* ctx, probe::result* out)
    {
        *out = co_await probe::run_once(std::move(p), *ctx);
    }

    static task<void> both(task<void> a, task<void> b)
    {
        co_await std::move(a);
        co_await std::move(b);
    }

    /// `a` and `b` at once: both hold the same cached token when they log in.
    static task<void> together(task<void> a, task<void> b)
    {
        engine::scope s;
        s.spawn(std::move(a));
        s.spawn(std::move(b));
        co_await s.join();
    }

    probe::context make_context() const
    {
        std::array<std::uint8_t, 32> key{};
        key.fill(0x42);
        return probe::context(*protocols::message::mac_key::from_bytes(key));
    }

    engine::loop m_loop;
    test_support::temp_dir m_dir;
    builtin::token_endpoint m_idp;
    std::unique_ptr<builtin::server> m_server;
    std::string m_ca;
    std::string m_idp_ca;
};

TEST_F(OAuthServer, ProbesLogInWithXoauth2OnSmtpImapAndPop3WithOneTokenFetch)
{
    auto ctx = make_context();
    probe::result over_imap;
    probe::result over_pop3;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        both(run_into(plan(by_client_credentials(), scenarios::protocol_kind::imap), &ctx, &over_imap),
            run_into(plan(by_client_credentials(), scenarios::protocol_kind::pop3), &ctx, &over_pop3))));
    EXPECT_EQ(over_imap.outcome, probe::status::up) << over_imap.reason;
    EXPECT_EQ(over_pop3.outcome, probe::status::up) << over_pop3.reason;
    // Four logins (two SMTP, an IMAP session, POP3 rounds), one token from the provider.
    EXPECT_EQ(m_idp.requests(), 1u);
}

// A traced probe's outputs (the jsonl and text result, the transcript) carry no secret of the
// OAuth2 flow: not the client secret, not the access token, not its SASL encoding.
TEST_F(OAuthServer, TracedResultsCarryNoTokenNorClientSecret)
{
    auto ctx = make_context();
    ctx.trace = true;
    auto cred = by_client_credentials();
    probe::result over_imap;
    probe::result over_pop3;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        both(run_into(plan(cred, scenarios::protocol_kind::imap), &ctx, &over_imap),
            run_into(plan(cred, scenarios::protocol_kind::pop3), &ctx, &over_pop3))));
    ASSERT_EQ(over_imap.outcome, probe::status::up) << over_imap.reason;
    ASSERT_EQ(over_pop3.outcome, probe::status::up) << over_pop3.reason;
    auto token = m_loop.run(ctx.tokens.credentials_for(cred));   // the cached one the probes used
    ASSERT_TRUE(token) << token.err().describe();
    std::vector<std::string> secrets{token->secret, "app-secret-0123456789",
        protocols::sasl::xoauth2(cred.user, token->secret).value};
    for (const auto* r : {&over_imap, &over_pop3}) {
        EXPECT_FALSE(r->transcript.empty());
        std::string everything = report::to_json(*r) + report::to_text(*r) + r->transcript;
        for (const auto& s : secrets) {
            ASSERT_GE(s.size(), 16u);
            EXPECT_EQ(everything.find(s), std::string::npos) << "a secret in the output of " << r->probe;
        }
    }
}

TEST_F(OAuthServer, AnUnknownTokenIsADownAtAuthWithTheServersWords)
{
    auto ctx = make_context();
    scenarios::credential forged;
    forged.user = "probe@contoso.test";
    forged.oauth2_token = inline_secret("at-never-issued");
    probe::result r;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        run_into(plan(forged, scenarios::protocol_kind::imap), &ctx, &r)));
    EXPECT_EQ(r.outcome, probe::status::down);
    EXPECT_EQ(r.stage, stage::auth);
    EXPECT_NE(r.server_reply.find("535 5.7.3 Authentication unsuccessful"), std::string::npos) << r.server_reply;
    EXPECT_EQ(r.reason.find("at-never-issued"), std::string::npos) << r.reason;
}

TEST_F(OAuthServer, ATokenRevokedMidRunIsRefetchedOnceAfterTheServerRefusesIt)
{
    auto ctx = make_context();
    probe::result first;
    probe::result refused_imap;
    probe::result refused_pop3;
    probe::result after_imap;
    probe::result after_pop3;
    std::size_t requests_when_refused = 0;
    auto revoke = [](builtin::token_endpoint* idp) -> task<void> {
        idp->revoke_access_tokens();
        co_return;
    };
    auto count = [](builtin::token_endpoint* idp, std::size_t* into) -> task<void> {
        *into = idp->requests();
        co_return;
    };
    auto imap = scenarios::protocol_kind::imap;
    auto pop3 = scenarios::protocol_kind::pop3;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        both(both(run_into(plan(by_client_credentials(), imap), &ctx, &first), revoke(&m_idp)),
            both(both(together(run_into(plan(by_client_credentials(), imap), &ctx, &refused_imap),
                           run_into(plan(by_client_credentials(), pop3), &ctx, &refused_pop3)),
                     count(&m_idp, &requests_when_refused)),
                together(run_into(plan(by_client_credentials(), imap), &ctx, &after_imap),
                    run_into(plan(by_client_credentials(), pop3), &ctx, &after_pop3))))));
    EXPECT_EQ(first.outcome, probe::status::up) << first.reason;
    // The cached token was still within its lifetime: the server's refusal is the only sign.
    for (const auto* r : {&refused_imap, &refused_pop3}) {
        EXPECT_EQ(r->outcome, probe::status::down);
        EXPECT_EQ(r->stage, stage::auth);
        EXPECT_NE(r->server_reply.find("535 5.7.3"), std::string::npos) << r->server_reply;
    }
    EXPECT_EQ(requests_when_refused, 1u);
    EXPECT_EQ(after_imap.outcome, probe::status::up) << after_imap.reason;
    EXPECT_EQ(after_pop3.outcome, probe::status::up) << after_pop3.reason;
    // Two probes were refused, yet one refresh served both later probes.
    EXPECT_EQ(m_idp.requests(), 2u);
}

// Whole probes (SMTP, then IMAP or POP3) across two token expiries: each expiry costs exactly
// one endpoint call for all the probes after it. The lifetime is 6 s and the margin 2 s, so a
// token is served for 4 s and still good at the server for the probes that hold it.
TEST_F(OAuthServer, ProbesAcrossTwoExpiriesRefreshOncePerExpiry)
{
    m_idp.lifetime = 6s;
    auto ctx = make_context();
    ctx.tokens.margin = 2s;
    std::array<probe::result, 6> results;
    std::array<std::size_t, 3> requests{};
    auto count = [](builtin::token_endpoint* idp, std::size_t* into) -> task<void> {
        *into = idp->requests();
        co_return;
    };
    auto pause = []() -> task<void> {
        const bool slept = co_await engine::sleep_for(4200ms);
        EXPECT_TRUE(slept);
    };
    auto imap = scenarios::protocol_kind::imap;
    auto pop3 = scenarios::protocol_kind::pop3;
    auto batch = [&](std::size_t i) {
        return both(together(run_into(plan(by_client_credentials(), imap), &ctx, &results[2 * i]),
                        run_into(plan(by_client_credentials(), pop3), &ctx, &results[2 * i + 1])),
            count(&m_idp, &requests[i]));
    };
    m_loop.run(with_servers(m_server.get(), &m_idp,
        both(both(batch(0), pause()), both(both(batch(1), pause()), batch(2)))));
    for (const auto& r : results) {
        EXPECT_EQ(r.outcome, probe::status::up) << r.probe << ": " << r.reason;
    }
    EXPECT_EQ(requests, (std::array<std::size_t, 3>{1, 2, 3}));
}

TEST_F(OAuthServer, PasswordsAreRefusedInBearerMode)
{
    auto ctx = make_context();
    scenarios::credential password{"probe@contoso.test", inline_secret("probe-pw"), std::nullopt};
    probe::result r;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        run_into(plan(password, scenarios::protocol_kind::pop3), &ctx, &r)));
    EXPECT_EQ(r.outcome, probe::status::down);
    EXPECT_EQ(r.stage, stage::auth);
}

// A server that knows only the standard mechanism: the probes log in with OAUTHBEARER.
class OAuthBearerOnlyServer : public OAuthServer {
protected:
    bool offers_xoauth2() const override { return false; }
};

TEST_F(OAuthBearerOnlyServer, ProbesLogInWithOauthbearerOnSmtpImapAndPop3)
{
    auto ctx = make_context();
    ctx.trace = true;
    probe::result over_imap;
    probe::result over_pop3;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        both(run_into(plan(by_client_credentials(), scenarios::protocol_kind::imap), &ctx, &over_imap),
            run_into(plan(by_client_credentials(), scenarios::protocol_kind::pop3), &ctx, &over_pop3))));
    EXPECT_EQ(over_imap.outcome, probe::status::up) << over_imap.reason;
    EXPECT_EQ(over_pop3.outcome, probe::status::up) << over_pop3.reason;
    for (const auto* r : {&over_imap, &over_pop3}) {
        EXPECT_NE(r->transcript.find("AUTH OAUTHBEARER"), std::string::npos) << r->transcript;   // SMTP, POP3
        EXPECT_EQ(r->transcript.find("XOAUTH2"), std::string::npos) << r->transcript;
    }
    EXPECT_NE(over_imap.transcript.find("AUTHENTICATE OAUTHBEARER"), std::string::npos) << over_imap.transcript;
    EXPECT_EQ(m_idp.requests(), 1u);
}

TEST_F(OAuthBearerOnlyServer, AnUnknownTokenIsADownAtAuthQuotingTheJsonError)
{
    auto ctx = make_context();
    scenarios::credential forged;
    forged.user = "probe@contoso.test";
    forged.oauth2_token = inline_secret("at-never-issued");
    probe::result r;
    m_loop.run(with_servers(m_server.get(), &m_idp,
        run_into(plan(forged, scenarios::protocol_kind::pop3), &ctx, &r)));
    EXPECT_EQ(r.outcome, probe::status::down);
    EXPECT_EQ(r.stage, stage::auth);
    // The server answers only after the ^A (RFC 7628 3.2.3): its 535 proves we sent it.
    EXPECT_NE(r.server_reply.find("535 5.7.3 Authentication unsuccessful"), std::string::npos) << r.server_reply;
    EXPECT_NE(r.reason.find(R"(OAUTHBEARER error: {"status":"invalid_token")"), std::string::npos) << r.reason;
    EXPECT_EQ(r.reason.find("at-never-issued"), std::string::npos) << r.reason;
}

TEST(BearerMessage, ReadsWhatOurClientBuilds)
{
    namespace sasl = protocols::sasl;
    auto x = sasl::base64_decode(sasl::xoauth2("probe@contoso.test", "at-123").value);
    auto got = builtin::detail::parse_bearer(sasl::mechanism::xoauth2, x.value);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->user, "probe@contoso.test");
    EXPECT_EQ(got->token, "at-123");

    auto o = sasl::base64_decode(sasl::oauthbearer("odd,user=x@contoso.test", "127.0.0.1", 993, "at-456").value);
    auto bearer = builtin::detail::parse_bearer(sasl::mechanism::oauthbearer, o.value);
    ASSERT_TRUE(bearer);
    EXPECT_EQ(bearer->user, "odd,user=x@contoso.test");
    EXPECT_EQ(bearer->token, "at-456");

    EXPECT_FALSE(builtin::detail::parse_bearer(sasl::mechanism::xoauth2, "user=a\x01auth=Bearer t"));
    EXPECT_FALSE(builtin::detail::parse_bearer(sasl::mechanism::xoauth2, "user=a\x01\x01"));
    EXPECT_FALSE(builtin::detail::parse_bearer(sasl::mechanism::oauthbearer, "user=a\x01auth=Bearer t\x01\x01"));
}

} // namespace
