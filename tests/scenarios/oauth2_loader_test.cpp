// Scenario keys for OAuth2 token sources: oauth2_token_command and oauth2 (client credentials
// with the Microsoft defaults, refresh token with its file), and the errors for every wrong
// combination, each at its JSON pointer.
#include "scenario_text.h"

#include "scenarios/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace {

using scenario_test::all_errors;
using scenario_test::edited;
using scenario_test::options;
using scenarios::load_string;
using grant = scenarios::oauth2_flow::grant;

constexpr std::string_view smtp_password = R"("password": {"env": "PW"}}})";

bool has_error(const scenarios::load_result& r, std::string_view pointer, std::string_view message)
{
    return std::any_of(r.errors.begin(), r.errors.end(),
        [&](const scenarios::diagnostic& d) { return d.pointer == pointer && d.message == message; });
}

/// The base scenario with the SMTP server's password replaced by `login` (key: value pairs).
scenarios::load_result with_smtp_login(std::string_view login)
{
    return load_string(edited(smtp_password, std::string(login) + "}}"), "oauth.json", options());
}

TEST(OAuth2Loader, ClientCredentialsTakeTheMicrosoftDefaults)
{
    auto r = with_smtp_login(R"("oauth2": {"flow": "client_credentials", "tenant": "contoso.onmicrosoft.com",
        "client_id": "app-id", "client_secret": {"env": "PW"}})");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    const auto& f = *r.value->servers[0].auth->oauth2;
    EXPECT_EQ(f.type, grant::client_credentials);
    EXPECT_EQ(f.token_url, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    EXPECT_EQ(f.scope, "https://outlook.office365.com/.default");
    EXPECT_EQ(f.client_secret->reveal(), "s3cr3t-pw-value");
    EXPECT_FALSE(r.value->servers[0].auth->password);
}

TEST(OAuth2Loader, RefreshTokenFlowNeedsItsFile)
{
    auto r = with_smtp_login(R"("oauth2": {"flow": "refresh_token", "token_url": "https://oauth2.googleapis.com/token",
        "client_id": "id.apps.googleusercontent.com", "scope": "https://mail.google.com/",
        "refresh_token_file": "/nonexistent/gmail.refresh"})");
    EXPECT_TRUE(has_error(r, "/servers/0/auth/oauth2/refresh_token_file",
        "refresh_token_file '/nonexistent/gmail.refresh' is not a readable regular file")) << all_errors(r);

    auto missing = with_smtp_login(R"("oauth2": {"flow": "refresh_token", "tenant": "common", "client_id": "x"})");
    EXPECT_TRUE(has_error(missing, "/servers/0/auth/oauth2",
        "missing key 'refresh_token_file' (the refresh_token flow needs it)")) << all_errors(missing);
}

TEST(OAuth2Loader, TokenCommandIsAnArgv)
{
    auto r = with_smtp_login(R"("oauth2_token_command": ["/usr/local/bin/oama", "access", "probe@internal.test"])");
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->servers[0].auth->oauth2_token_command,
        (std::vector<std::string>{"/usr/local/bin/oama", "access", "probe@internal.test"}));

    auto shell = with_smtp_login(R"("oauth2_token_command": "oama access probe")");
    EXPECT_TRUE(has_error(shell, "/servers/0/auth/oauth2_token_command", "oauth2_token_command must be an array"))
        << all_errors(shell);
    auto empty = with_smtp_login(R"("oauth2_token_command": [])");
    EXPECT_FALSE(empty.ok());
}

TEST(OAuth2Loader, WrongCombinationsAreErrorsAtTheirPointer)
{
    struct bad {
        std::string login;
        std::string pointer;
        std::string message;
    };
    const bad cases[] = {
        {R"("password": {"env": "PW"}, "oauth2_token_command": ["x"])", "/servers/0/auth",
            "give only one of password, oauth2_token, oauth2_token_command and oauth2"},
        {R"("oauth2": {"flow": "client_credentials", "client_id": "x", "client_secret": {"env": "PW"}})",
            "/servers/0/auth/oauth2", "give token_url, or tenant for the Microsoft identity platform"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x"})", "/servers/0/auth/oauth2",
            "missing key 'client_secret' or 'certificate_file' (the client-credentials flow needs one)"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x", "client_secret": {"env": "PW"},
            "certificate_file": "/etc/hostname"})", "/servers/0/auth/oauth2",
            "give only one of client_secret and certificate_file"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x", "client_secret": {"env": "PW"},
            "private_key_file": "/etc/hostname"})", "/servers/0/auth/oauth2", "private_key_file needs certificate_file"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x",
            "certificate_file": "/nonexistent/app.pem"})", "/servers/0/auth/oauth2/certificate_file",
            "certificate_file '/nonexistent/app.pem' is not a readable regular file"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x", "certificate_file": "/etc/hostname",
            "private_key_file": 7})", "/servers/0/auth/oauth2/private_key_file", "private_key_file must be a string"},
        {R"("oauth2": {"flow": "client_credentials", "token_url": "http://idp.test/token", "client_id": "x",
            "client_secret": {"env": "PW"}})", "/servers/0/auth/oauth2/token_url", "token_url must be an https:// URL"},
        {R"("oauth2": {"flow": "password", "tenant": "t", "client_id": "x"})", "/servers/0/auth/oauth2/flow",
            "unknown flow 'password'; use client_credentials or refresh_token"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "x", "client_secret": {"env": "PW"},
            "refresh_token_file": "/etc/hostname"})", "/servers/0/auth/oauth2",
            "refresh_token_file belongs to the refresh_token flow"},
        {R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_secret": {"env": "PW"}})",
            "/servers/0/auth/oauth2", "missing key 'client_id'"},
    };
    for (const auto& c : cases) {
        auto r = with_smtp_login(c.login);
        EXPECT_TRUE(has_error(r, c.pointer, c.message)) << c.login << "\n" << all_errors(r);
    }
}

TEST(OAuth2Loader, ClientCredentialsWithACertificate)
{
    auto one_pem = with_smtp_login(R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "app-id",
        "certificate_file": "/etc/hostname"})");
    ASSERT_TRUE(one_pem.ok()) << all_errors(one_pem);
    const auto& f = *one_pem.value->servers[0].auth->oauth2;
    EXPECT_EQ(f.certificate_file, "/etc/hostname");
    EXPECT_TRUE(f.private_key_file.empty());
    EXPECT_FALSE(f.client_secret);
    EXPECT_EQ(f.scope, "https://outlook.office365.com/.default");

    auto two = with_smtp_login(R"("oauth2": {"flow": "client_credentials", "tenant": "t", "client_id": "app-id",
        "certificate_file": "/etc/hostname", "private_key_file": "/etc/passwd"})");
    ASSERT_TRUE(two.ok()) << all_errors(two);
    EXPECT_EQ(two.value->servers[0].auth->oauth2->private_key_file, "/etc/passwd");
}

TEST(OAuth2Loader, MailboxesTakeTheSameKeys)
{
    auto r = load_string(edited(R"("server": "int-imap", "password": {"env": "PW"})",
                             R"("server": "int-imap", "oauth2_token_command": ["/bin/echo", "token"])"),
        "oauth.json", options());
    ASSERT_TRUE(r.ok()) << all_errors(r);
    EXPECT_EQ(r.value->mailboxes[0].login.oauth2_token_command.size(), 2u);
    EXPECT_EQ(r.value->mailboxes[0].login.user, "probe@internal.test");
}

} // namespace
