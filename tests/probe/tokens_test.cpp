// OAuth2 token sources and the token cache, against the built-in token endpoint over HTTPS
// with its throwaway CA: the client-credentials grant, one refresh for many concurrent probes
// when the token expires mid-run, the rotated refresh token stored safely, a revoked refresh
// token as a clear auth-stage error (and a probe Down at auth) with the identity provider's
// words and no secret (also when the provider echoes the secrets), an endpoint that hangs,
// trickles, answers garbage, an oversized header or an HTML 502 as a clear auth error within
// the caller's bound (the probe's deadline), and the token command (output, failure with its
// stderr redacted, timeout, output limit).
#include "probe/tokens.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "tests/support/child_process.h"
#include "tools/server/token_endpoint.h"
#include "tests/support/fixtures.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;

using test_support::inline_secret;

namespace {

constexpr std::string_view client_secret = "app-secret-0123456789";

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

using credentials_result = engine::result<protocols::credentials>;

class Tokens : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_idp.add_client("probe-app", std::string(client_secret));
        auto started = m_idp.start();
        ASSERT_TRUE(started) << started.err().describe();
        m_ca = m_dir.write("idp-ca.pem", m_idp.ca_pem());
    }

    scenarios::credential client_credentials() const
    {
        scenarios::oauth2_flow f;
        f.type = scenarios::oauth2_flow::grant::client_credentials;
        f.token_url = m_idp.url();
        f.client_id = "probe-app";
        f.client_secret = inline_secret(client_secret);
        f.scope = "https://outlook.office365.com/.default";
        f.ca_file = m_ca;
        scenarios::credential c;
        c.user = "probe@contoso.test";
        c.oauth2 = f;
        return c;
    }

    scenarios::credential refresh_flow(const std::string& file) const
    {
        auto c = client_credentials();
        c.oauth2->type = scenarios::oauth2_flow::grant::refresh_token;
        c.oauth2->scope = "https://mail.google.com/";
        c.oauth2->refresh_token_file = file;
        return c;
    }

    /// Runs `body` while the endpoint serves.
    void serve(task<void> body)
    {
        m_loop.run(with_idp(&m_idp, std::move(body)));
    }

    static task<void> with_idp(builtin::token_endpoint* idp, task<void> body)
    {
        engine::scope s;
        s.spawn(idp->run());
        co_await std::move(body);
        idp->stop();
        co_await s.join();
    }

    static task<void> one(probe::token_cache* cache, const scenarios::credential* c, credentials_result* out)
    {
        *out = co_await cache->credentials_for(*c);
    }

    /// `n` probes asking for the same source at once.
    static task<void> many(probe::token_cache* cache, const scenarios::credential* c,
        std::vector<credentials_result>* out)
    {
        engine::scope s;
        for (auto& slot : *out) {
            s.spawn(one(cache, c, &slot));
        }
        co_await s.join();
    }

    static task<void> in_turn(std::vector<task<void>> steps)
    {
        for (auto& step : steps) {
            co_await std::move(step);
        }
    }

    static task<void> pause(engine::clock::duration d)
    {
        EXPECT_TRUE(co_await engine::sleep_for(d));
    }

    engine::loop m_loop;
    test_support::temp_dir m_dir;
    builtin::token_endpoint m_idp;
    std::string m_ca;
};

TEST(TokenResponse, ParsesGrantsAndRefusals)
{
    auto ok = probe::parse_token_response(
        R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0.a.b","refresh_token":"0.AX"})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->access_token, "eyJ0.a.b");
    EXPECT_EQ(ok->expires_in, 3599);
    EXPECT_EQ(ok->refresh_token, "0.AX");

    auto v1 = probe::parse_token_response(R"({"expires_in":"3600","access_token":"t"})");
    ASSERT_TRUE(v1);
    EXPECT_EQ(v1->expires_in, 3600);

    auto refused = probe::parse_token_response(
        R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->error, "invalid_grant");
    EXPECT_EQ(refused->error_description, "Token has been expired or revoked.");
    EXPECT_TRUE(refused->access_token.empty());

    // A lifetime past a day is cut to one; a negative one counts as unknown.
    auto forever = probe::parse_token_response(R"({"expires_in":9223372036854775807,"access_token":"t"})");
    ASSERT_TRUE(forever);
    EXPECT_EQ(forever->expires_in, 24 * 3600);
    auto negative = probe::parse_token_response(R"({"expires_in":-5,"access_token":"t"})");
    ASSERT_TRUE(negative);
    EXPECT_EQ(negative->expires_in, 0);

    auto wrong_types = probe::parse_token_response(R"({"access_token":42,"expires_in":"soon"})");
    ASSERT_TRUE(wrong_types);
    EXPECT_TRUE(wrong_types->access_token.empty());
    EXPECT_EQ(wrong_types->expires_in, 0);

    EXPECT_FALSE(probe::parse_token_response("<html>Service Unavailable</html>"));
    EXPECT_FALSE(probe::parse_token_response("[1,2]"));
}

TEST_F(Tokens, ClientCredentialsTokenIsAcceptedAndCached)
{
    probe::token_cache cache;
    auto cred = client_credentials();
    credentials_result first = engine::error{};
    credentials_result second = engine::error{};
    std::vector<task<void>> steps;
    steps.push_back(one(&cache, &cred, &first));
    steps.push_back(one(&cache, &cred, &second));
    serve(in_turn(std::move(steps)));
    ASSERT_TRUE(first) << first.err().describe();
    ASSERT_TRUE(second) << second.err().describe();
    EXPECT_EQ(first->type, protocols::credentials::kind::oauth2_token);
    EXPECT_EQ(first->user, "probe@contoso.test");
    EXPECT_TRUE(m_idp.accepts(first->secret));
    EXPECT_EQ(second->secret, first->secret);
    EXPECT_EQ(m_idp.requests(), 1u);
    EXPECT_EQ(cache.fetches(), 1u);
}

TEST_F(Tokens, ExpiryMidRunTriggersExactlyOneRefreshForManyProbes)
{
    m_idp.lifetime = 1s;
    probe::token_cache cache;
    cache.margin = 0s;
    auto cred = client_credentials();
    std::vector<credentials_result> before(20, engine::error{});
    std::vector<credentials_result> after(20, engine::error{});
    std::vector<task<void>> steps;
    steps.push_back(many(&cache, &cred, &before));
    steps.push_back(pause(1100ms));
    steps.push_back(many(&cache, &cred, &after));
    serve(in_turn(std::move(steps)));

    EXPECT_EQ(m_idp.requests(), 2u);   // one grant at the start, one refresh at expiry
    for (std::size_t i = 0; i < before.size(); ++i) {
        ASSERT_TRUE(before[i]) << before[i].err().describe();
        ASSERT_TRUE(after[i]) << after[i].err().describe();
        EXPECT_EQ(before[i]->secret, before[0]->secret);
        EXPECT_EQ(after[i]->secret, after[0]->secret);
    }
    EXPECT_NE(after[0]->secret, before[0]->secret);
    EXPECT_FALSE(m_idp.accepts(before[0]->secret));
    EXPECT_TRUE(m_idp.accepts(after[0]->secret));
}

// The margin refreshes a token before it expires: the default (120 s, halved to half the
// lifetime for short-lived tokens) and a set one. Before the margin the cached token is
// served; after it a fresh one, while the old one is still good at the endpoint.
TEST_F(Tokens, TheMarginRefreshesEarly)
{
    struct one_case {
        std::optional<std::chrono::seconds> margin;   // nullopt: the default
        engine::clock::duration still_cached;         // after the first fetch
        engine::clock::duration refreshed;            // after the first fetch
    };
    // lifetime 6 s: the default keeps it 3 s (6 s < 2 x 120 s), a 2 s margin 4 s.
    const one_case cases[] = {{std::nullopt, 1500ms, 3800ms}, {2s, 2500ms, 4800ms}};
    for (const auto& c : cases) {
        builtin::token_endpoint idp;
        idp.add_client("probe-app", std::string(client_secret));
        idp.lifetime = 6s;
        ASSERT_TRUE(idp.start());
        auto cred = client_credentials();
        cred.oauth2->token_url = idp.url();
        cred.oauth2->ca_file = m_dir.write("idp2-ca.pem", idp.ca_pem());
        probe::token_cache cache;
        if (c.margin) {
            cache.margin = *c.margin;
        }
        EXPECT_EQ(probe::token_cache{}.margin, 120s);
        credentials_result first = engine::error{};
        credentials_result cached = engine::error{};
        credentials_result early = engine::error{};
        bool old_still_good = false;
        auto check_old = [](builtin::token_endpoint* e, const credentials_result* r, bool* out) -> task<void> {
            *out = *r && e->accepts((*r)->secret);
            co_return;
        };
        std::vector<task<void>> steps;
        steps.push_back(one(&cache, &cred, &first));
        steps.push_back(pause(c.still_cached));
        steps.push_back(one(&cache, &cred, &cached));
        steps.push_back(pause(c.refreshed - c.still_cached));
        steps.push_back(one(&cache, &cred, &early));
        steps.push_back(check_old(&idp, &first, &old_still_good));
        m_loop.run(with_idp(&idp, in_turn(std::move(steps))));
        ASSERT_TRUE(first && cached && early);
        EXPECT_EQ(cached->secret, first->secret);
        EXPECT_NE(early->secret, first->secret);
        EXPECT_TRUE(old_still_good);   // refreshed before the old token expired
        EXPECT_EQ(idp.requests(), 2u);
    }
}

TEST_F(Tokens, RotatedRefreshTokenIsStoredWriteThenRenameWithMode0600)
{
    m_idp.lifetime = 1s;
    std::string original = m_idp.issue_refresh_token("probe-app");
    std::string file = m_dir.write("refresh-token", original + "\n");
    ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
    probe::token_cache cache;
    cache.margin = 0s;
    auto cred = refresh_flow(file);
    credentials_result first = engine::error{};
    credentials_result second = engine::error{};
    std::string after_first;
    std::vector<task<void>> steps;
    steps.push_back(one(&cache, &cred, &first));
    steps.push_back(pause(1100ms));
    steps.push_back(one(&cache, &cred, &second));
    serve(in_turn(std::move(steps)));

    ASSERT_TRUE(first) << first.err().describe();
    // The second refresh worked, so it used the rotated token: the original was retired.
    ASSERT_TRUE(second) << second.err().describe();
    EXPECT_TRUE(m_idp.accepts(second->secret));
    std::string stored = read_file(file);
    EXPECT_NE(stored, original + "\n");
    EXPECT_TRUE(stored.starts_with("rt-") && stored.ends_with("\n")) << stored;
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(m_dir.path())) {
        files += e.is_regular_file() ? 1 : 0;
    }
    EXPECT_EQ(files, 2u);   // the CA and the token: no temporary file left behind
}

// A refresh_token_file that is a link (to a file kept elsewhere) stays a link: the rotated
// token replaces the target's content, beside the target.
TEST_F(Tokens, RotationWritesThroughASymlinkedRefreshTokenFile)
{
    std::string original = m_idp.issue_refresh_token("probe-app");
    ::mkdir((m_dir.path() + "/store").c_str(), 0700);
    std::string target = m_dir.write("store/refresh-token", original + "\n");
    std::string link = m_dir.path() + "/refresh-token-link";
    ASSERT_EQ(::symlink("store/refresh-token", link.c_str()), 0);
    probe::token_cache cache;
    auto cred = refresh_flow(link);
    credentials_result got = engine::error{};
    serve(one(&cache, &cred, &got));
    ASSERT_TRUE(got) << got.err().describe();
    struct stat st {};
    ASSERT_EQ(::lstat(link.c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    std::string stored = read_file(target);
    EXPECT_NE(stored, original + "\n");
    EXPECT_TRUE(stored.starts_with("rt-") && stored.ends_with("\n")) << stored;
    ASSERT_EQ(::stat(target.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Two credentials (other scopes) on one rotating refresh-token file: their refreshes take
// turns, so the second uses the token the first rotated to instead of the retired one.
TEST_F(Tokens, CredentialsSharingARefreshTokenFileRefreshInTurn)
{
    std::string file = m_dir.write("refresh-token", m_idp.issue_refresh_token("probe-app") + "\n");
    probe::token_cache cache;
    auto imap = refresh_flow(file);
    auto smtp = refresh_flow(file);
    smtp.oauth2->scope = "https://outlook.office.com/SMTP.Send offline_access";
    credentials_result for_imap = engine::error{};
    credentials_result for_smtp = engine::error{};
    auto both = [](probe::token_cache* c, const scenarios::credential* a, credentials_result* ra,
                    const scenarios::credential* b, credentials_result* rb) -> task<void> {
        engine::scope s;
        s.spawn(one(c, a, ra));
        s.spawn(one(c, b, rb));
        co_await s.join();
    };
    serve(both(&cache, &imap, &for_imap, &smtp, &for_smtp));
    ASSERT_TRUE(for_imap) << for_imap.err().describe();
    ASSERT_TRUE(for_smtp) << for_smtp.err().describe();
    EXPECT_EQ(m_idp.requests(), 2u);
    EXPECT_TRUE(m_idp.accepts(for_imap->secret));
    EXPECT_TRUE(m_idp.accepts(for_smtp->secret));
}

// The provider rotated the token but the file could not be replaced (here: no room for the
// temporary file's name beside it, which stops root too): the refresh is an auth error naming
// the file, and the new token is not lost: the next refresh presents it, not the retired one
// from the file, so the provider grants it (and only storing fails again).
TEST_F(Tokens, ARotatedTokenThatCouldNotBeStoredIsKeptForTheNextRefresh)
{
    std::string file = m_dir.write(std::string(250, 'r'), m_idp.issue_refresh_token("probe-app") + "\n");
    probe::token_cache cache;
    auto cred = refresh_flow(file);
    credentials_result first = engine::error{};
    credentials_result second = engine::error{};
    std::vector<task<void>> steps;
    steps.push_back(one(&cache, &cred, &first));
    steps.push_back(one(&cache, &cred, &second));
    serve(in_turn(std::move(steps)));

    for (const auto* r : {&first, &second}) {
        ASSERT_FALSE(*r);
        EXPECT_EQ(r->err().where, stage::auth);
        EXPECT_NE(r->err().message.find("cannot store the rotated refresh token in " + file), std::string::npos)
            << r->err().message;
    }
    EXPECT_EQ(m_idp.requests(), 2u);
}

TEST_F(Tokens, RevokedRefreshTokenIsAClearAuthErrorForEveryWaitingProbe)
{
    std::string token = m_idp.issue_refresh_token("probe-app");
    std::string file = m_dir.write("refresh-token", token);
    m_idp.revoke_refresh_tokens();
    probe::token_cache cache;
    auto cred = refresh_flow(file);
    std::vector<credentials_result> got(5, engine::error{});
    serve(many(&cache, &cred, &got));

    EXPECT_EQ(m_idp.requests(), 1u);
    for (const auto& r : got) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.err().where, stage::auth);
        EXPECT_EQ(r.err().code, engine::errc::auth_failed);
        EXPECT_NE(r.err().message.find("refused the refresh_token grant (HTTP 400): invalid_grant: AADSTS70000"),
            std::string::npos) << r.err().message;
        EXPECT_EQ(r.err().message.find(token), std::string::npos);
        EXPECT_EQ(r.err().message.find(client_secret), std::string::npos);
    }
}

TEST_F(Tokens, RevokedRefreshTokenMakesTheProbeDownAtAuth)
{
    std::string file = m_dir.write("refresh-token", m_idp.issue_refresh_token("probe-app"));
    m_idp.revoke_refresh_tokens();
    scenarios::probe_plan plan;
    auto spec = std::make_shared<scenarios::probe>();
    spec->name = "oauth";
    spec->tenant = "contoso";
    spec->from = "probe@contoso.test";
    spec->to = "probe@contoso.test";
    plan.spec = spec;
    plan.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"contoso", ""});
    auto smtp = std::make_shared<scenarios::server>();
    smtp->name = "m365";
    smtp->host = "127.0.0.1";
    smtp->port = 9;   // never reached: the token comes first
    smtp->tls = scenarios::tls_mode::none;
    smtp->auth = refresh_flow(file);
    plan.send_via = smtp;
    std::array<std::uint8_t, 32> key{};
    key.fill(7);
    probe::context ctx(*protocols::message::mac_key::from_bytes(key));
    probe::result r;
    serve([](scenarios::probe_plan p, probe::context* c, probe::result* out) -> task<void> {
        *out = co_await probe::run_once(std::move(p), *c);
    }(std::move(plan), &ctx, &r));

    EXPECT_EQ(r.outcome, probe::status::down);
    EXPECT_EQ(r.stage, stage::auth);
    EXPECT_NE(r.reason.find("invalid_grant"), std::string::npos) << r.reason;
}

// An endpoint that hangs or answers nonsense is an auth error that says so, within the bound
// the caller gives (the probe's deadline), not after endpoint_timeout.
TEST(TokenEndpointFaults, EachIsAClearAuthErrorWithinTheBound)
{
    using fault = builtin::token_endpoint::fault;
    struct one_case {
        fault f;
        std::string_view says;
        bool hangs;
    };
    const one_case cases[] = {
        {fault::silent, "did not answer within 1500 ms", true},
        {fault::trickle, "did not answer within 1500 ms", true},
        {fault::garbage, ": bad HTTP response from 127.0.0.1:", false},
        {fault::huge_header, "header block larger than the header-size limit", false},
        {fault::html_502, "answered HTTP 502 without an OAuth2 answer: <html>", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(static_cast<int>(c.f));
        engine::loop loop;
        test_support::temp_dir dir;
        builtin::token_endpoint idp;
        idp.add_client("probe-app", std::string(client_secret));
        idp.misbehave = c.f;
        ASSERT_TRUE(idp.start());
        scenarios::oauth2_flow f;
        f.type = scenarios::oauth2_flow::grant::client_credentials;
        f.token_url = idp.url();
        f.client_id = "probe-app";
        f.client_secret = inline_secret(client_secret);
        f.ca_file = dir.write("idp-ca.pem", idp.ca_pem());
        scenarios::credential cred;
        cred.user = "probe@contoso.test";
        cred.oauth2 = f;
        probe::token_cache cache;   // endpoint_timeout stays 30 s: the bound must win
        credentials_result got = engine::error{};
        const auto start = engine::clock::now();
        loop.run([](builtin::token_endpoint* e, probe::token_cache* tc, const scenarios::credential* cr,
                     credentials_result* out) -> task<void> {
            engine::scope s;
            s.spawn(e->run());
            *out = co_await tc->credentials_for(*cr, 1500ms);
            e->stop();
            co_await s.join();
        }(&idp, &cache, &cred, &got));
        const auto took = engine::clock::now() - start;
        ASSERT_FALSE(got);
        EXPECT_EQ(got.err().where, stage::auth);
        EXPECT_NE(got.err().message.find(c.says), std::string::npos) << got.err().message;
        EXPECT_EQ(got.err().message.find(client_secret), std::string::npos) << got.err().message;
        EXPECT_LT(took, 5s);
        if (c.hangs) {
            EXPECT_EQ(got.err().code, engine::errc::timed_out) << got.err().describe();
            EXPECT_GE(took, 1400ms);
        }
    }
}

// The refusal quotes the identity provider, which here quotes the secrets it was sent: they
// are redacted, the rest of its words kept.
TEST_F(Tokens, SecretsEchoedByTheIdentityProviderAreRedacted)
{
    m_idp.misbehave = builtin::token_endpoint::fault::echo_secrets;
    std::string token = m_idp.issue_refresh_token("probe-app");
    std::string file = m_dir.write("refresh-token", token + "\n");
    probe::token_cache cache;
    auto cred = refresh_flow(file);
    credentials_result got = engine::error{};
    serve(one(&cache, &cred, &got));
    ASSERT_FALSE(got);
    const auto& m = got.err().message;
    EXPECT_EQ(got.err().where, stage::auth);
    EXPECT_NE(m.find("invalid_grant: AADSTS70000: refresh token '<redacted>' presented with client secret "
                     "'<redacted>' and client assertion '' is not valid."),
        std::string::npos)
        << m;
    EXPECT_EQ(m.find(token), std::string::npos) << m;
    EXPECT_EQ(m.find(client_secret), std::string::npos) << m;
}

// A probe whose deadline is short does not wait endpoint_timeout (30 s) for a hung endpoint.
TEST_F(Tokens, AHungEndpointIsADownAtAuthWithinTheProbesDeadline)
{
    m_idp.misbehave = builtin::token_endpoint::fault::silent;
    scenarios::probe_plan plan;
    auto spec = std::make_shared<scenarios::probe>();
    spec->name = "oauth";
    spec->tenant = "contoso";
    spec->from = "probe@contoso.test";
    spec->to = "probe@contoso.test";
    spec->deadline = 1s;
    plan.spec = spec;
    plan.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"contoso", ""});
    auto smtp = std::make_shared<scenarios::server>();
    smtp->name = "m365";
    smtp->host = "127.0.0.1";
    smtp->port = 9;   // never reached: the token comes first
    smtp->tls = scenarios::tls_mode::none;
    smtp->auth = client_credentials();
    plan.send_via = smtp;
    std::array<std::uint8_t, 32> key{};
    key.fill(7);
    probe::context ctx(*protocols::message::mac_key::from_bytes(key));
    probe::result r;
    const auto start = engine::clock::now();
    serve([](scenarios::probe_plan p, probe::context* c, probe::result* out) -> task<void> {
        *out = co_await probe::run_once(std::move(p), *c);
    }(std::move(plan), &ctx, &r));
    const auto took = engine::clock::now() - start;
    EXPECT_EQ(r.outcome, probe::status::down);
    EXPECT_EQ(r.stage, stage::auth);
    EXPECT_NE(r.reason.find("did not answer within 1000 ms"), std::string::npos) << r.reason;
    EXPECT_LT(took, 5s);
}

// A failing command's stderr is quoted, but not the secrets in it: what it printed on stdout
// (a token) and the values of the variables it was not given.
TEST(TokenCommand, SecretsInItsStderrAreRedacted)
{
    test_support::temp_dir dir;
    const std::string secret = "hmac-key-or-password-0123";
    std::string file = dir.write("secret", secret);
    ::setenv("MAILPROBE_TEST_WITHHELD", secret.c_str(), 1);
    engine::loop loop;
    probe::command_limits limits;
    limits.withheld_env = {"MAILPROBE_TEST_WITHHELD"};
    auto got = loop.run(probe::run_token_command({"/bin/sh", "-c",
        "echo ya29.printed-token; echo \"refused ya29.printed-token for $(cat '" + file + "')\" >&2; exit 2"}, limits));
    ::unsetenv("MAILPROBE_TEST_WITHHELD");
    ASSERT_FALSE(got);
    const auto& m = got.err().message;
    EXPECT_NE(m.find("exited with status 2: refused <redacted> for <redacted>"), std::string::npos) << m;
    EXPECT_EQ(m.find("ya29.printed-token"), std::string::npos) << m;
    EXPECT_EQ(m.find(secret), std::string::npos) << m;
}

TEST(TokenCommand, PrintsTheToken)
{
    engine::loop loop;
    auto got = loop.run(probe::run_token_command({"/bin/sh", "-c", "printf 'ya29.a0Af-token\\r\\n'"}));
    ASSERT_TRUE(got) << got.err().describe();
    EXPECT_EQ(*got, "ya29.a0Af-token");
}

// A token command needs PATH and HOME, never another mailbox's password or the HMAC key.
TEST(TokenCommand, DoesNotInheritWithheldVariables)
{
    ::setenv("MAILPROBE_TEST_WITHHELD", "other-mailbox-password", 1);
    ::setenv("MAILPROBE_TEST_KEPT", "kept", 1);
    engine::loop loop;
    probe::command_limits limits;
    limits.withheld_env = {"MAILPROBE_TEST_WITHHELD"};
    auto got = loop.run(probe::run_token_command(
        {"/bin/sh", "-c", "printf '%s-%s' \"${MAILPROBE_TEST_WITHHELD:-absent}\" \"$MAILPROBE_TEST_KEPT\""}, limits));
    ::unsetenv("MAILPROBE_TEST_WITHHELD");
    ::unsetenv("MAILPROBE_TEST_KEPT");
    ASSERT_TRUE(got) << got.err().describe();
    EXPECT_EQ(*got, "absent-kept");
}

// What a `mailprobe run` context withholds: every variable its plan's secrets come from.
TEST(TokenCommand, ARunWithholdsThePlansSecretVariables)
{
    auto env_secret = [](const char* name) {
        return scenarios::secret("x-value-0123456789", scenarios::secret::source::env, std::string("env ") + name);
    };
    scenarios::plan plan;
    plan.hmac_key = std::make_shared<const scenarios::secret>(env_secret("KEY_VAR"));
    scenarios::probe_plan one;
    auto smtp = std::make_shared<scenarios::server>();
    smtp->auth = scenarios::credential{"sender", env_secret("SMTP_PW"), std::nullopt};
    one.send_via = smtp;
    auto box = std::make_shared<scenarios::mailbox>();
    box->login = scenarios::credential{"probe", std::nullopt, std::nullopt};
    box->login.oauth2 = scenarios::oauth2_flow{};
    box->login.oauth2->client_secret = env_secret("APP_SECRET");
    one.fetch = box;
    auto inline_box = std::make_shared<scenarios::mailbox>();
    inline_box->login = scenarios::credential{"bounces", inline_secret("inline-password-0123"), std::nullopt};
    one.bounce = inline_box;
    plan.probes.push_back(one);
    auto ctx = probe::context::from_plan(plan);
    ASSERT_TRUE(ctx);
    EXPECT_EQ(ctx->tokens.command.withheld_env, (std::vector<std::string>{"APP_SECRET", "KEY_VAR", "SMTP_PW"}));
}

TEST(TokenCommand, FailuresAreAuthErrors)
{
    engine::loop loop;
    probe::command_limits quick;
    quick.timeout = 300ms;
    quick.max_output = 1024;
    struct failing {
        std::vector<std::string> argv;
        engine::errc code;
        std::string_view says;
    };
    const failing cases[] = {
        {{"/bin/sh", "-c", "echo 'AADSTS50076: MFA required' >&2; exit 3"}, engine::errc::auth_failed,
            "exited with status 3: AADSTS50076: MFA required"},
        {{"/bin/sleep", "5"}, engine::errc::timed_out, "did not finish within 300 ms"},
        {{"/bin/sh", "-c", "head -c 5000 /dev/zero | tr '\\000' a"}, engine::errc::protocol, "printed more than 1024 bytes"},
        {{"/bin/sh", "-c", "echo two words"}, engine::errc::protocol, "instead of one token"},
        {{"/bin/true"}, engine::errc::protocol, "printed nothing"},
        {{"/nonexistent/token-helper"}, engine::errc::invalid_argument, "cannot start"},
    };
    for (const auto& c : cases) {
        auto start = engine::clock::now();
        auto got = loop.run(probe::run_token_command(c.argv, quick));
        ASSERT_FALSE(got) << c.argv.back();
        EXPECT_EQ(got.err().where, stage::auth);
        EXPECT_EQ(got.err().code, c.code) << got.err().describe();
        EXPECT_NE(got.err().message.find(c.says), std::string::npos) << got.err().message;
        EXPECT_LT(engine::clock::now() - start, 3s);
    }
}

TEST(TokenCommand, CachedForAllProbesOfTheSource)
{
    engine::loop loop;
    test_support::temp_dir dir;
    // The command counts its runs in a file, so the test sees how often it ran.
    std::string count = dir.path() + "/runs";
    scenarios::credential c;
    c.user = "probe@example.test";
    c.oauth2_token_command = {"/bin/sh", "-c", "echo x >> '" + count + "'; echo token-42"};
    probe::token_cache cache;
    for (int i = 0; i < 3; ++i) {
        auto got = loop.run(cache.credentials_for(c));
        ASSERT_TRUE(got) << got.err().describe();
        EXPECT_EQ(got->secret, "token-42");
        EXPECT_EQ(got->type, protocols::credentials::kind::oauth2_token);
    }
    EXPECT_EQ(read_file(count), "x\n");
    EXPECT_EQ(cache.fetches(), 1u);
}

} // namespace
