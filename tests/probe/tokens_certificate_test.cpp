// Client credentials with a certificate: the client assertion (RS256 JWT) against the built-in
// token endpoint over HTTPS, which checks its signature against the registered certificate and
// its claims. A good assertion from one PEM or from separate certificate and key files gets a
// token; an expired, wrongly signed, replayed or foreign-certificate assertion is refused with
// the endpoint's words, and the token cache turns that into an auth error without the assertion.
#include "probe/client_assertion.h"
#include "probe/tokens.h"

#include "engine/certs.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "protocols/http/client.h"
#include "protocols/http/request.h"
#include "tests/support/child_process.h"
#include "tools/server/token_endpoint.h"

#include <gtest/gtest.h>

#include <ctime>
#include <vector>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;

namespace {

constexpr std::string_view jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

using credentials_result = engine::result<protocols::credentials>;
using http_result = engine::result<protocols::http::response>;

engine::pem_identity rsa_cert(const std::string& cn)
{
    engine::cert_request req;
    req.common_name = cn;
    auto made = engine::make_rsa_self_signed(req);
    EXPECT_TRUE(made) << made.err().describe();
    return made ? *made : engine::pem_identity{};
}

class CertificateCredentials : public ::testing::Test {
protected:
    void SetUp() override
    {
        m_app = rsa_cert("mailprobe probe app");
        m_idp.add_client_certificate("cert-app", m_app.cert);
        auto started = m_idp.start();
        ASSERT_TRUE(started) << started.err().describe();
        m_ca = m_dir.write("idp-ca.pem", m_idp.ca_pem());
    }

    scenarios::credential with_certificate(const std::string& cert_file, const std::string& key_file) const
    {
        scenarios::oauth2_flow f;
        f.type = scenarios::oauth2_flow::grant::client_credentials;
        f.token_url = m_idp.url();
        f.client_id = "cert-app";
        f.certificate_file = cert_file;
        f.private_key_file = key_file;
        f.scope = "https://outlook.office365.com/.default";
        f.ca_file = m_ca;
        scenarios::credential c;
        c.user = "probe@contoso.test";
        c.oauth2 = f;
        return c;
    }

    std::string assertion(const engine::pem_identity& id, std::int64_t now) const
    {
        auto made = probe::make_client_assertion(id.cert, id.key, "cert-app", m_idp.url(), now);
        EXPECT_TRUE(made) << made.err().describe();
        return made ? *made : std::string();
    }

    /// POSTs a client-credentials grant carrying each of `jwts` in turn straight to the
    /// endpoint (one run: a stopped endpoint stays stopped).
    std::vector<http_result> post(const std::vector<std::string>& jwts)
    {
        engine::tls_options o;
        o.ca_file = m_ca;
        auto tls = engine::tls_context::client(o);
        EXPECT_TRUE(tls);
        std::vector<std::string> forms;
        for (const auto& jwt : jwts) {
            protocols::http::form form{{"client_id", "cert-app"}, {"grant_type", "client_credentials"},
                {"client_assertion_type", std::string(jwt_bearer)}, {"client_assertion", jwt},
                {"scope", "https://outlook.office365.com/.default"}};
            forms.push_back(protocols::http::form_encode(form));
        }
        std::vector<http_result> out(jwts.size(), engine::error{});
        m_loop.run(with_idp(&m_idp, send(*protocols::http::parse_https_url(m_idp.url()), std::move(forms), *tls, &out)));
        return out;
    }

    static task<void> send(protocols::http::url to, std::vector<std::string> forms, engine::tls_context tls,
        std::vector<http_result>* out)
    {
        for (std::size_t i = 0; i < forms.size(); ++i) {
            (*out)[i] = co_await protocols::http::post_form(to, std::move(forms[i]), tls, 5000ms);
        }
    }

    static task<void> ask(probe::token_cache* cache, std::vector<scenarios::credential> cs,
        std::vector<credentials_result>* out)
    {
        for (std::size_t i = 0; i < cs.size(); ++i) {
            (*out)[i] = co_await cache->credentials_for(cs[i]);
        }
    }

    static task<void> with_idp(builtin::token_endpoint* idp, task<void> body)
    {
        engine::scope s;
        s.spawn(idp->run());
        co_await std::move(body);
        idp->stop();
        co_await s.join();
    }

    /// Asks `cache` for each of `cs` in turn, in one run of the endpoint.
    std::vector<credentials_result> credentials(probe::token_cache& cache, std::vector<scenarios::credential> cs)
    {
        std::vector<credentials_result> out(cs.size(), engine::error{});
        m_loop.run(with_idp(&m_idp, ask(&cache, std::move(cs), &out)));
        return out;
    }

    engine::loop m_loop;
    test_support::temp_dir m_dir;
    builtin::token_endpoint m_idp;
    engine::pem_identity m_app;
    std::string m_ca;
};

TEST_F(CertificateCredentials, AssertionFromOnePemOrSeparateFilesGetsAToken)
{
    std::string both = m_dir.write("app.pem", m_app.cert + m_app.key);
    std::string cert = m_dir.write("app.crt", m_app.cert);
    std::string key = m_dir.write("app.key", m_app.key);
    probe::token_cache cache;
    auto one_pem = with_certificate(both, "");
    auto two_files = with_certificate(cert, key);

    auto got = credentials(cache, {one_pem, one_pem, two_files});
    for (const auto& r : got) {
        ASSERT_TRUE(r) << r.err().describe();
        EXPECT_EQ(r->type, protocols::credentials::kind::oauth2_token);
        EXPECT_TRUE(m_idp.accepts(r->secret));
    }
    EXPECT_EQ(got[1]->secret, got[0]->secret);   // cached
    EXPECT_NE(got[2]->secret, got[0]->secret);
    EXPECT_EQ(m_idp.granted(), 2u);   // one per source; each assertion was fresh (its own jti)
}

TEST_F(CertificateCredentials, GoodAssertionIsGrantedOnceAndNotReplayed)
{
    std::string jwt = assertion(m_app, std::time(nullptr));
    auto got = post({jwt, jwt});
    ASSERT_TRUE(got[0]) << got[0].err().describe();
    EXPECT_EQ(got[0]->status, 200) << got[0]->body;
    ASSERT_TRUE(got[1]) << got[1].err().describe();
    EXPECT_EQ(got[1]->status, 401);
    EXPECT_NE(got[1]->body.find("jti was used before"), std::string::npos) << got[1]->body;
}

TEST_F(CertificateCredentials, ExpiredAssertionIsRefused)
{
    auto expired = std::move(post({assertion(m_app, std::time(nullptr) - 3600)})[0]);
    ASSERT_TRUE(expired) << expired.err().describe();
    EXPECT_EQ(expired->status, 401);
    EXPECT_NE(expired->body.find("AADSTS700024: Client assertion is not within its valid time range."),
        std::string::npos) << expired->body;
    EXPECT_EQ(m_idp.granted(), 0u);
}

TEST_F(CertificateCredentials, WronglySignedAssertionIsRefused)
{
    auto other = rsa_cert("someone else");
    std::string good = assertion(m_app, std::time(nullptr));
    std::string foreign = assertion(other, std::time(nullptr));
    // The registered certificate's header and claims, with a signature by another key.
    std::string forged = good.substr(0, good.rfind('.')) + foreign.substr(foreign.rfind('.'));
    auto got = post({forged, foreign});
    auto& bad_signature = got[0];
    ASSERT_TRUE(bad_signature) << bad_signature.err().describe();
    EXPECT_EQ(bad_signature->status, 401);
    EXPECT_NE(bad_signature->body.find("AADSTS700027: Client assertion failed signature validation."),
        std::string::npos) << bad_signature->body;

    auto& unregistered = got[1];
    ASSERT_TRUE(unregistered) << unregistered.err().describe();
    EXPECT_EQ(unregistered->status, 401);
    EXPECT_NE(unregistered->body.find("is not registered on application"), std::string::npos) << unregistered->body;
    EXPECT_EQ(m_idp.granted(), 0u);
}

TEST_F(CertificateCredentials, UnregisteredCertificateIsAnAuthErrorWithoutTheAssertion)
{
    auto other = rsa_cert("someone else");
    std::string file = m_dir.write("other.pem", other.cert + other.key);
    probe::token_cache cache;
    auto got = std::move(credentials(cache, {with_certificate(file, "")})[0]);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.err().where, stage::auth);
    EXPECT_EQ(got.err().code, engine::errc::auth_failed);
    EXPECT_NE(got.err().message.find("refused the client_credentials grant (HTTP 401): invalid_client: AADSTS700027"),
        std::string::npos) << got.err().message;
    EXPECT_EQ(got.err().message.find("eyJ"), std::string::npos) << got.err().message;
}

// An identity provider that quotes the assertion it was sent: the error keeps its words and
// hides the assertion.
TEST_F(CertificateCredentials, AnAssertionEchoedByTheProviderIsRedacted)
{
    m_idp.misbehave = builtin::token_endpoint::fault::echo_secrets;
    std::string file = m_dir.write("app.pem", m_app.cert + m_app.key);
    probe::token_cache cache;
    auto got = std::move(credentials(cache, {with_certificate(file, "")})[0]);
    ASSERT_FALSE(got);
    const auto& m = got.err().message;
    EXPECT_EQ(got.err().where, stage::auth);
    EXPECT_NE(m.find("and client assertion '<redacted>' is not valid."), std::string::npos) << m;
    EXPECT_EQ(m.find("eyJ"), std::string::npos) << m;   // a JWT's base64url header
}

TEST(ClientAssertion, RefusesKeysItCannotSignRs256WithAndForeignKeys)
{
    auto ca = engine::make_ca("an EC certificate");
    ASSERT_TRUE(ca) << ca.err().describe();
    auto ec = probe::make_client_assertion(ca->cert, ca->key, "app", "https://127.0.0.1/token", 0);
    ASSERT_FALSE(ec);
    EXPECT_EQ(ec.err().where, stage::auth);
    EXPECT_NE(ec.err().message.find("is not RSA"), std::string::npos) << ec.err().message;

    auto a = rsa_cert("a");
    auto b = rsa_cert("b");
    auto mismatched = probe::make_client_assertion(a.cert, b.key, "app", "https://127.0.0.1/token", 0);
    ASSERT_FALSE(mismatched);
    EXPECT_NE(mismatched.err().message.find("does not belong to the client certificate"), std::string::npos);
    EXPECT_EQ(mismatched.err().message.find("PRIVATE KEY"), std::string::npos);

    auto missing = probe::make_client_assertion_from_files("/nonexistent/app.pem", "", "app", "https://x/", 0);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.err().message.find("cannot read certificate_file /nonexistent/app.pem"), std::string::npos)
        << missing.err().message;
}

} // namespace
