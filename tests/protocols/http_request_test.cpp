// Building token requests: https URLs only (no plain http, no user info, no line breaks that
// could split the request), form fields percent-encoded, and the exact request head.
#include "protocols/http/request.h"

#include <gtest/gtest.h>

namespace {

using protocols::http::form_encode;
using protocols::http::form_post;
using protocols::http::parse_https_url;

TEST(HttpRequest, ParsesHttpsUrls)
{
    auto ms = parse_https_url("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    ASSERT_TRUE(ms);
    EXPECT_EQ(ms->host, "login.microsoftonline.com");
    EXPECT_EQ(ms->port, 443);
    EXPECT_EQ(ms->target, "/contoso.onmicrosoft.com/oauth2/v2.0/token");
    EXPECT_EQ(ms->authority(), "login.microsoftonline.com");

    auto local = parse_https_url("https://127.0.0.1:8443");
    ASSERT_TRUE(local);
    EXPECT_EQ(local->port, 8443);
    EXPECT_EQ(local->target, "/");
    EXPECT_EQ(local->authority(), "127.0.0.1:8443");

    auto v6 = parse_https_url("HTTPS://[::1]:9000?x=1");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->target, "/?x=1");
    EXPECT_EQ(v6->authority(), "[::1]:9000");
}

TEST(HttpRequest, RefusesUrlsItCannotUseSafely)
{
    for (const char* bad : {"http://oauth2.googleapis.com/token", "https://", "https:///token", "https://user@host/",
             "https://host:0/", "https://host:65536/", "https://host:x/", "https://host/a b",
             "https://host/a\r\nX: y", "https://host/#frag", "https://[::1/", "ftp://host/"}) {
        EXPECT_FALSE(parse_https_url(bad)) << bad;
    }
}

TEST(HttpRequest, EncodesFormsAndBuildsThePost)
{
    std::string body = form_encode({{"grant_type", "client_credentials"}, {"scope", "https://outlook.office365.com/.default"},
        {"client_secret", "a+b=c&d e~"}});
    EXPECT_EQ(body, "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default"
                    "&client_secret=a%2Bb%3Dc%26d%20e~");
    auto to = parse_https_url("https://oauth2.googleapis.com/token");
    ASSERT_TRUE(to);
    EXPECT_EQ(form_post(*to, "a=1"),
        "POST /token HTTP/1.1\r\nHost: oauth2.googleapis.com\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
        "User-Agent: mailprobe\r\nConnection: close\r\nContent-Length: 3\r\n\r\na=1");
}

} // namespace
