// protocols::smtp::capabilities: EHLO replies of Postfix, Exim, Gmail, Microsoft 365 and an
// old Exchange (AUTH=LOGIN), fed through the reply parser at every split, then read.
#include "protocols/smtp/capabilities.h"

#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <memory>

namespace {

using protocols::sasl::mechanism;
using protocols::smtp::capabilities;
using protocols::smtp::reply_parser;

// Logs each EHLO reply's capabilities in a fixed order, so every split must agree on them.
std::string describe_caps(const capabilities& c)
{
    std::string s;
    auto flag = [&](bool on, const char* name) {
        if (on) {
            s += name;
            s += ' ';
        }
    };
    flag(c.starttls, "STARTTLS");
    flag(c.pipelining, "PIPELINING");
    flag(c.eight_bit_mime, "8BITMIME");
    flag(c.smtputf8, "SMTPUTF8");
    flag(c.enhanced_status_codes, "ENHANCEDSTATUSCODES");
    flag(c.chunking, "CHUNKING");
    flag(c.dsn, "DSN");
    if (c.size) {
        s += "SIZE=" + (c.max_size ? std::to_string(*c.max_size) : std::string("unlimited")) + ' ';
    }
    s += "AUTH:";
    for (mechanism m : {mechanism::plain, mechanism::login, mechanism::xoauth2, mechanism::oauthbearer,
             mechanism::cram_md5}) {
        if (c.auth.contains(m)) {
            s += ' ';
            s += protocols::sasl::name(m);
        }
    }
    for (const std::string& o : c.other_auth) {
        s += " ?" + o;
    }
    return s;
}

std::string caps_of(const std::string& ehlo_reply)
{
    return test_support::expect_split_invariant(ehlo_reply, [] {
        auto parser = std::make_shared<reply_parser>();
        return [parser](std::string_view unconsumed, std::string& log) {
            protocols::parse_status st = parser->parse(unconsumed);
            if (st.complete()) {
                log += describe_caps(capabilities::from_ehlo(*parser)) + "\n";
            }
            return st;
        };
    });
}

TEST(SmtpCapabilities, Postfix)
{
    EXPECT_EQ(caps_of("250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
                      "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
                      "250 CHUNKING\r\n"),
        "STARTTLS PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES CHUNKING DSN SIZE=10240000 AUTH:\n");
}

TEST(SmtpCapabilities, EximWithAuth)
{
    EXPECT_EQ(caps_of("250-mail.example.net Hello client.example.com [192.0.2.1]\r\n250-SIZE 52428800\r\n"
                      "250-8BITMIME\r\n250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
                      "250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n"),
        "STARTTLS PIPELINING 8BITMIME CHUNKING SIZE=52428800 AUTH: PLAIN LOGIN CRAM-MD5\n");
}

TEST(SmtpCapabilities, GmailAfterStarttls)
{
    EXPECT_EQ(caps_of("250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n"
                      "250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
                      "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"),
        "PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES CHUNKING SIZE=35882577 "
        "AUTH: PLAIN LOGIN XOAUTH2 OAUTHBEARER ?PLAIN-CLIENTTOKEN ?XOAUTH\n");
}

TEST(SmtpCapabilities, Microsoft365)
{
    EXPECT_EQ(caps_of("250-SN4PR0501CA0123.outlook.office365.com Hello [203.0.113.5]\r\n250-SIZE 157286400\r\n"
                      "250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n"
                      "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"),
        "PIPELINING 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES CHUNKING DSN SIZE=157286400 AUTH: LOGIN XOAUTH2\n");
}

TEST(SmtpCapabilities, OldExchangeAuthEqualsFormAndLowerCase)
{
    EXPECT_EQ(caps_of("250-exchange.example.com Hello [192.0.2.7]\r\n250-size\r\n250-AUTH GSSAPI NTLM\r\n"
                      "250-AUTH=LOGIN PLAIN\r\n250-auth=ntlm\r\n250 starttls\r\n"),
        "STARTTLS SIZE=unlimited AUTH: PLAIN LOGIN ?GSSAPI ?NTLM\n");
}

TEST(SmtpCapabilities, SizeParameterForms)
{
    auto size_of = [](std::string_view line) {
        capabilities c;
        c.add_line(line);
        return c;
    };
    EXPECT_EQ(size_of("SIZE 0").max_size, std::nullopt);
    EXPECT_TRUE(size_of("SIZE 0").size);
    EXPECT_EQ(size_of("SIZE").max_size, std::nullopt);
    EXPECT_EQ(size_of("SIZE 12x").max_size, std::nullopt);
    EXPECT_EQ(size_of("SIZE -5").max_size, std::nullopt);
    EXPECT_EQ(size_of("SIZE 99999999999999999999999").max_size, std::nullopt);
    EXPECT_EQ(size_of("Size  1024").max_size, 1024u);
    EXPECT_FALSE(size_of("SIZES 5").size);
}

TEST(SmtpCapabilities, UnknownAuthNamesAreBoundedAndChecked)
{
    capabilities c;
    c.add_line("AUTH X-A x-a BAD! " + std::string(21, 'L') + " PLAIN");
    EXPECT_TRUE(c.auth.contains(mechanism::plain));
    ASSERT_EQ(c.other_auth.size(), 1u);
    EXPECT_EQ(c.other_auth[0], "X-A");
    capabilities many;
    for (int i = 0; i < 40; ++i) {
        many.add_line("AUTH X-" + std::to_string(i));
    }
    EXPECT_EQ(many.other_auth.size(), 16u);
}

TEST(SmtpCapabilities, GreetingLineIsNotAKeyword)
{
    reply_parser parser;
    ASSERT_TRUE(parser.parse("250 STARTTLS\r\n").complete());
    EXPECT_FALSE(capabilities::from_ehlo(parser).starttls);
}

} // namespace
