// The SMTP probe session against scripted loopback servers that replay what real servers say:
// Postfix (plain, STARTTLS + AUTH PLAIN, refusals), Exim (no PIPELINING, AUTH LOGIN), Gmail
// (XOAUTH2 success and its 334 error JSON), a server with OAUTHBEARER only (RFC 7628) and
// Microsoft 365 (535 5.7.139). Each test checks
// the lines the client sent, the report or the error's stage, code and server words, and that
// no secret reached the transcript.
#include "protocols/smtp/session.h"

#include "protocols/common/sasl.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "tests/support/script_peer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using engine::errc;
using engine::stage;
using protocols::credentials;
using protocols::tls_mode;
using protocols::smtp::send_report;
using protocols::smtp::send_request;
using test_support::script_step;

namespace {

constexpr const char* password = "s3cr3t-pw";
constexpr const char* plain_ir = "AHNlbmRlckBpbnRlcm5hbC50ZXN0AHMzY3IzdC1wdw==";   // \0sender@internal.test\0s3cr3t-pw
constexpr const char* token = "ya29.tok";
constexpr const char* xoauth2_ir = "dXNlcj1wcm9iZUBnbWFpbC5jb20BYXV0aD1CZWFyZXIgeWEyOS50b2sBAQ==";
constexpr const char* message = "Subject: probe\r\n\r\nhello\r\n.hidden dot\r\n";

struct outcome {
    engine::result<send_report> result;
    test_support::script_outcome peer;
    std::string trace;
};

send_request basic_request(tls_mode tls)
{
    send_request r;
    r.server.host = "127.0.0.1";
    r.server.tls = tls;
    if (tls != tls_mode::none) {
        r.server.tls_context = test_support::loopback_tls().client;
    }
    r.server.connect_timeout = 5s;
    r.server.command_timeout = 5s;
    r.helo_name = "probe.test";
    r.mail_from = "sender@internal.test";
    r.recipients = {"probe@internal.test"};
    r.message = message;
    return r;
}

/// Runs the session against a peer playing `steps` on a fresh loopback listener.
outcome run(std::vector<script_step> steps, send_request req, bool implicit_tls = false)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    EXPECT_TRUE(l);
    req.server.port = l->port();
    protocols::transcript trace;
    test_support::script_outcome peer;
    auto body = [](engine::listener* lp, std::vector<script_step> s, send_request rq, bool implicit,
                    protocols::transcript* tr, test_support::script_outcome* po)
        -> engine::task<engine::result<send_report>> {
        engine::scope sc;
        sc.spawn([](engine::listener* lp2, std::vector<script_step> s2, bool imp,
                     test_support::script_outcome* out) -> engine::task<void> {
            *out = co_await test_support::play_script(lp2, std::move(s2), test_support::loopback_tls().server, imp);
        }(lp, std::move(s), implicit, po));
        auto r = co_await protocols::smtp::send(std::move(rq), tr);
        co_await sc.join();
        co_return r;
    };
    auto r = loop.run(body(&*l, std::move(steps), std::move(req), implicit_tls, &trace, &peer));
    return outcome{std::move(r), std::move(peer), trace.text()};
}

void expect_no_secrets(const outcome& o)
{
    for (const char* secret : {password, plain_ir, token, xoauth2_ir}) {
        EXPECT_EQ(o.trace.find(secret), std::string::npos) << "secret in transcript:\n" << o.trace;
        if (!o.result) {
            EXPECT_EQ(o.result.err().message.find(secret), std::string::npos) << o.result.err().message;
        }
    }
}

std::string error_of(const outcome& o)
{
    return o.result ? std::string("no error") : o.result.err().describe();
}

// The message as it travels: the leading dot doubled, then the terminator.
std::vector<script_step> message_lines()
{
    return {script_step::expect("Subject: probe"), script_step::expect(""), script_step::expect("hello"),
        script_step::expect("..hidden dot"), script_step::expect(".")};
}

std::vector<script_step> concat(std::vector<std::vector<script_step>> parts)
{
    std::vector<script_step> out;
    for (auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

const std::string postfix_ehlo_plain = "250-mail.internal.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                                       "250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
                                       "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
const std::string postfix_ehlo_auth = "250-mail.internal.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
                                      "250-VRFY\r\n250-ETRN\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
                                      "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
const std::string greeting = "220 mail.internal.test ESMTP Postfix (Debian/GNU)\r\n";

std::vector<script_step> postfix_transaction(const std::string& size)
{
    return concat({{script_step::expect("MAIL FROM:<sender@internal.test> SIZE=" + size),
                       script_step::expect("RCPT TO:<probe@internal.test>"), script_step::expect("DATA"),
                       script_step::send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")},
        message_lines(),
        {script_step::send("250 2.0.0 Ok: queued as 4TbF2k1Zq0z9vW\r\n"), script_step::expect("QUIT"),
            script_step::send("221 2.0.0 Bye\r\n")}});
}

const std::string message_size = std::to_string(std::string_view(message).size());

} // namespace

TEST(SmtpSession, PostfixPlainPipelined)
{
    auto o = run(concat({{script_step::send(greeting), script_step::expect("EHLO probe.test"),
                              script_step::send(postfix_ehlo_plain)},
                     postfix_transaction(message_size)}),
        basic_request(tls_mode::none));
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result->final_reply, "250 2.0.0 Ok: queued as 4TbF2k1Zq0z9vW");
    EXPECT_EQ(o.result->queue_id, "4TbF2k1Zq0z9vW");
    EXPECT_FALSE(o.result->tls);
    EXPECT_TRUE(o.result->caps.pipelining);
    EXPECT_TRUE(o.result->caps.starttls);   // offered, and not used: tls_mode::none
    EXPECT_EQ(o.result->caps.max_size, 10240000u);
    EXPECT_GE(o.result->total_ms, o.result->transaction_ms);
    EXPECT_NE(o.trace.find("> MAIL FROM:<sender@internal.test>"), std::string::npos) << o.trace;
    EXPECT_NE(o.trace.find("< 250 2.0.0 Ok: queued as"), std::string::npos) << o.trace;
}

TEST(SmtpSession, PostfixStarttlsAuthPlain)
{
    auto req = basic_request(tls_mode::starttls);
    req.auth = credentials{"sender@internal.test", password, credentials::kind::password};
    auto o = run(concat({{script_step::send(greeting), script_step::expect("EHLO probe.test"),
                              script_step::send(postfix_ehlo_plain), script_step::expect("STARTTLS"),
                              script_step::send("220 2.0.0 Ready to start TLS\r\n"), script_step::starttls(),
                              script_step::expect("EHLO probe.test"), script_step::send(postfix_ehlo_auth),
                              script_step::expect(std::string("AUTH PLAIN ") + plain_ir),
                              script_step::send("235 2.7.0 Authentication successful\r\n")},
                     postfix_transaction(message_size)}),
        req);
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    ASSERT_TRUE(o.result->tls);
    EXPECT_TRUE(o.result->tls->verified);
    EXPECT_FALSE(o.result->caps.starttls);   // the capabilities after TLS
    EXPECT_TRUE(o.result->caps.auth.contains(protocols::sasl::mechanism::plain));
    EXPECT_EQ(o.result->queue_id, "4TbF2k1Zq0z9vW");
    EXPECT_NE(o.trace.find("> AUTH PLAIN <redacted"), std::string::npos) << o.trace;
    expect_no_secrets(o);
}

TEST(SmtpSession, ImplicitTls)
{
    auto o = run(concat({{script_step::send(greeting), script_step::expect("EHLO probe.test"),
                              script_step::send(postfix_ehlo_auth)},
                     postfix_transaction(message_size)}),
        basic_request(tls_mode::implicit), true);
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    ASSERT_TRUE(o.result->tls);
    EXPECT_FALSE(o.result->tls->version.empty());
}

TEST(SmtpSession, EximWithoutPipeliningAuthLogin)
{
    auto req = basic_request(tls_mode::none);
    req.auth = credentials{"sender@internal.test", password, credentials::kind::password};
    req.recipients = {"probe@internal.test", "probe2@internal.test"};
    auto o = run(concat({{script_step::send("220 mx.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 10:00:00 +0000\r\n"),
                              script_step::expect("EHLO probe.test"),
                              script_step::send("250-mx.example.org Hello probe.test [127.0.0.1]\r\n250-SIZE 52428800\r\n"
                                                "250-8BITMIME\r\n250-AUTH LOGIN\r\n250-CHUNKING\r\n250-PRDR\r\n250 HELP\r\n"),
                              script_step::expect("AUTH LOGIN"), script_step::send("334 VXNlcm5hbWU6\r\n"),
                              script_step::expect("c2VuZGVyQGludGVybmFsLnRlc3Q="), script_step::send("334 UGFzc3dvcmQ6\r\n"),
                              script_step::expect("czNjcjN0LXB3"), script_step::send("235 Authentication succeeded\r\n"),
                              script_step::expect("MAIL FROM:<sender@internal.test> SIZE=" + message_size),
                              script_step::send("250 OK\r\n"), script_step::expect("RCPT TO:<probe@internal.test>"),
                              script_step::send("250 Accepted\r\n"), script_step::expect("RCPT TO:<probe2@internal.test>"),
                              script_step::send("250 Accepted\r\n"), script_step::expect("DATA"),
                              script_step::send("354 Enter message, ending with \".\" on a line by itself\r\n")},
                     message_lines(),
                     {script_step::send("250 OK id=1rABCD-0001Xy-2b\r\n"), script_step::expect("QUIT"),
                         script_step::send("221 mx.example.org closing connection\r\n")}}),
        req);
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result->queue_id, "1rABCD-0001Xy-2b");
    EXPECT_FALSE(o.result->caps.pipelining);
    EXPECT_EQ(o.trace.find("czNjcjN0LXB3"), std::string::npos) << o.trace;   // base64 of the password
    expect_no_secrets(o);
}

namespace {

const std::string gmail_ehlo_1 = "250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n"
                                 "250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n"
                                 "250-CHUNKING\r\n250 SMTPUTF8\r\n";
const std::string gmail_ehlo_2 = "250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n"
                                 "250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
                                 "250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";

send_request gmail_request()
{
    auto req = basic_request(tls_mode::starttls);
    req.auth = credentials{"probe@gmail.com", token, credentials::kind::oauth2_token};
    req.mail_from = "probe@gmail.com";
    req.recipients = {"probe@internal.test"};
    return req;
}

std::vector<script_step> gmail_until_auth()
{
    return {script_step::send("220 smtp.gmail.com ESMTP a1sm123456wmb.1 - gsmtp\r\n"),
        script_step::expect("EHLO probe.test"), script_step::send(gmail_ehlo_1), script_step::expect("STARTTLS"),
        script_step::send("220 2.0.0 Ready to start TLS\r\n"), script_step::starttls(),
        script_step::expect("EHLO probe.test"), script_step::send(gmail_ehlo_2),
        script_step::expect(std::string("AUTH XOAUTH2 ") + xoauth2_ir)};
}

} // namespace

TEST(SmtpSession, GmailXoauth2)
{
    auto o = run(concat({gmail_until_auth(),
                     {script_step::send("235 2.7.0 Accepted\r\n"),
                         script_step::expect("MAIL FROM:<probe@gmail.com> SIZE=" + message_size),
                         script_step::expect("RCPT TO:<probe@internal.test>"), script_step::expect("DATA"),
                         script_step::send("250 2.1.0 OK a1sm123456wmb.1 - gsmtp\r\n"),
                         script_step::send("250 2.1.5 OK a1sm123456wmb.1 - gsmtp\r\n354  Go ahead a1sm123456wmb.1 - gsmtp\r\n")},
                     message_lines(),
                     {script_step::send("250 2.0.0 OK  1700000000 a1sm123456wmb.1 - gsmtp\r\n"), script_step::expect("QUIT"),
                         script_step::send("221 2.0.0 closing connection a1sm123456wmb.1 - gsmtp\r\n")}}),
        gmail_request());
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result->queue_id, "a1sm123456wmb.1");
    EXPECT_NE(o.trace.find("> AUTH XOAUTH2 <redacted"), std::string::npos) << o.trace;
    expect_no_secrets(o);
}

TEST(SmtpSession, GmailXoauth2ErrorJsonIsReported)
{
    auto o = run(concat({gmail_until_auth(),
                     {script_step::send("334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"),
                         script_step::expect(""),
                         script_step::send("535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
                                           "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1sm123456wmb.1 - gsmtp\r\n"),
                         script_step::expect("QUIT"), script_step::send("221 2.0.0 closing connection\r\n")}}),
        gmail_request());
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().where, stage::auth);
    EXPECT_EQ(o.result.err().code, errc::auth_failed);
    EXPECT_FALSE(o.result.err().transient);
    const auto& m = o.result.err().message;
    EXPECT_EQ(m.rfind("535 5.7.8 Username and Password not accepted.", 0), 0u) << m;
    EXPECT_NE(m.find(R"(XOAUTH2 error: {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})"),
        std::string::npos)
        << m;
    expect_no_secrets(o);
}

namespace {

// A server offering OAUTHBEARER (RFC 7628) but not XOAUTH2, as standard-only servers do.
std::vector<script_step> oauthbearer_until_auth()
{
    return {script_step::send("220 mail.example.org ESMTP\r\n"), script_step::expect("EHLO probe.test"),
        script_step::send("250-mail.example.org\r\n250-AUTH PLAIN OAUTHBEARER\r\n250 8BITMIME\r\n"),
        script_step::expect("AUTH OAUTHBEARER *")};
}

send_request oauthbearer_request()
{
    auto req = basic_request(tls_mode::none);
    req.auth = credentials{"probe@gmail.com", token, credentials::kind::oauth2_token};
    req.mail_from = "probe@gmail.com";
    return req;
}

// The decoded OAUTHBEARER message the client sent in its AUTH line.
std::string sent_oauthbearer(const outcome& o)
{
    for (const auto& line : o.peer.received) {
        if (line.starts_with("AUTH OAUTHBEARER ")) {
            auto d = protocols::sasl::base64_decode(std::string_view(line).substr(17));
            return d.ok() ? d.value : "(bad base64)";
        }
    }
    return "(no AUTH OAUTHBEARER)";
}

} // namespace

TEST(SmtpSession, OauthbearerWhenXoauth2IsNotOffered)
{
    auto o = run(concat({oauthbearer_until_auth(),
                     {script_step::send("235 2.7.0 Authentication successful\r\n"),
                         script_step::expect("MAIL FROM:<probe@gmail.com>"), script_step::send("250 2.1.0 Ok\r\n"),
                         script_step::expect("RCPT TO:<probe@internal.test>"), script_step::send("250 2.1.5 Ok\r\n"),
                         script_step::expect("DATA"), script_step::send("354 go ahead\r\n")},
                     message_lines(),
                     {script_step::send("250 2.0.0 Ok: queued as 4AbCd\r\n"), script_step::expect("QUIT"),
                         script_step::send("221 2.0.0 Bye\r\n")}}),
        oauthbearer_request());
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    const std::string m = sent_oauthbearer(o);
    EXPECT_TRUE(m.starts_with("n,a=probe@gmail.com,\x01host=127.0.0.1\x01port=")) << m;
    EXPECT_TRUE(m.ends_with("\x01" "auth=Bearer ya29.tok\x01\x01")) << m;
    EXPECT_NE(o.trace.find("> AUTH OAUTHBEARER <redacted"), std::string::npos) << o.trace;
    EXPECT_EQ(o.trace.find(protocols::sasl::base64_encode(m)), std::string::npos) << o.trace;
    expect_no_secrets(o);
}

TEST(SmtpSession, OauthbearerErrorIsAnsweredWithCtrlAAndQuoted)
{
    // RFC 7628 3.2.3: the server's error JSON, answered with a single ^A ("AQ=="), then 535.
    const std::string json = R"({"status":"invalid_token","scope":"mail","openid-configuration":"https://idp.example/.well-known"})";
    auto o = run(concat({oauthbearer_until_auth(),
                     {script_step::send("334 " + protocols::sasl::base64_encode(json) + "\r\n"),
                         script_step::expect("AQ=="), script_step::send("535 5.7.8 Authentication failed\r\n"),
                         script_step::expect("QUIT"), script_step::send("221 2.0.0 Bye\r\n")}}),
        oauthbearer_request());
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().where, stage::auth);
    EXPECT_EQ(o.result.err().code, errc::auth_failed);
    const auto& m = o.result.err().message;
    EXPECT_EQ(m.rfind("535 5.7.8 Authentication failed", 0), 0u) << m;
    EXPECT_NE(m.find("OAUTHBEARER error: " + json), std::string::npos) << m;
    expect_no_secrets(o);
}

TEST(SmtpSession, TokenRefusedWhenNoBearerMechanismIsOffered)
{
    auto o = run({script_step::send("220 mail.example.org ESMTP\r\n"), script_step::expect("EHLO probe.test"),
                     script_step::send("250-mail.example.org\r\n250 AUTH PLAIN LOGIN\r\n"), script_step::expect("QUIT"),
                     script_step::send("221 2.0.0 Bye\r\n")},
        oauthbearer_request());
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.result.err().where, stage::auth);
    EXPECT_NE(o.result.err().message.find("neither XOAUTH2 nor OAUTHBEARER"), std::string::npos) << o.result.err().message;
    expect_no_secrets(o);
}

TEST(SmtpSession, Microsoft365SmtpAuthDisabled)
{
    auto req = basic_request(tls_mode::starttls);
    req.auth = credentials{"user@contoso.com", password, credentials::kind::password};
    const std::string refusal = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
                                "the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
                                "[DM6PR11CA0001.namprd11.prod.outlook.com 2024-01-01T10:00:00.000Z 08DC0000000000]";
    auto o = run({script_step::send("220 DM6PR11CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready at "
                                    "Mon, 1 Jan 2024 10:00:00 +0000\r\n"),
                     script_step::expect("EHLO probe.test"),
                     script_step::send("250-DM6PR11CA0001.outlook.office365.com Hello [203.0.113.5]\r\n250-SIZE 157286400\r\n"
                                       "250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n"
                                       "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"),
                     script_step::expect("STARTTLS"), script_step::send("220 2.0.0 SMTP server ready\r\n"),
                     script_step::starttls(), script_step::expect("EHLO probe.test"),
                     script_step::send("250-DM6PR11CA0001.outlook.office365.com Hello [203.0.113.5]\r\n250-SIZE 157286400\r\n"
                                       "250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n"
                                       "250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n"),
                     script_step::expect("AUTH LOGIN"), script_step::send("334 VXNlcm5hbWU6\r\n"),
                     script_step::expect("dXNlckBjb250b3NvLmNvbQ=="), script_step::send("334 UGFzc3dvcmQ6\r\n"),
                     script_step::expect("*"), script_step::send(refusal + "\r\n"), script_step::expect("QUIT"),
                     script_step::send("221 2.0.0 Service closing transmission channel\r\n")},
        req);
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().describe(), "auth: auth_failed: " + refusal);
    expect_no_secrets(o);
}

TEST(SmtpSession, GreetingRefused554)
{
    auto o = run({script_step::send("554 5.7.1 mail.example.org ESMTP not accepting messages from 127.0.0.1\r\n"),
                     script_step::expect("QUIT"), script_step::send("221 2.0.0 Bye\r\n")},
        basic_request(tls_mode::none));
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().describe(),
        "greeting: rejected: 554 5.7.1 mail.example.org ESMTP not accepting messages from 127.0.0.1");
    EXPECT_FALSE(o.result.err().transient);
}

TEST(SmtpSession, RecipientRefused550ClosesBeforeTheData)
{
    // Postfix answers DATA with 354 when any recipient was accepted; the client must not send
    // the message to a partial recipient list.
    auto req = basic_request(tls_mode::none);
    req.recipients = {"probe@internal.test", "nobody@internal.test"};
    auto o = run({script_step::send(greeting), script_step::expect("EHLO probe.test"),
                     script_step::send(postfix_ehlo_plain), script_step::expect("MAIL FROM:*"),
                     script_step::expect("RCPT TO:<probe@internal.test>"), script_step::expect("RCPT TO:<nobody@internal.test>"),
                     script_step::expect("DATA"),
                     script_step::send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <nobody@internal.test>: Recipient "
                                       "address rejected: User unknown in virtual mailbox table\r\n"
                                       "354 End data with <CR><LF>.<CR><LF>\r\n")},
        req);
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.peer.received.size(), 5u);   // nothing after DATA: no message, no QUIT
    EXPECT_EQ(o.result.err().describe(),
        "send: rejected: RCPT TO <nobody@internal.test>: 550 5.1.1 <nobody@internal.test>: Recipient address "
        "rejected: User unknown in virtual mailbox table");
    EXPECT_FALSE(o.result.err().transient);
}

TEST(SmtpSession, Temporary452IsTransient)
{
    auto o = run({script_step::send(greeting), script_step::expect("EHLO probe.test"),
                     script_step::send(postfix_ehlo_plain), script_step::expect("MAIL FROM:*"),
                     script_step::expect("RCPT TO:*"), script_step::expect("DATA"),
                     script_step::send("452 4.3.1 Insufficient system storage\r\n503 5.5.1 Error: need MAIL command\r\n"
                                       "503 5.5.1 Error: need RCPT command\r\n"),
                     script_step::expect("QUIT"), script_step::send("221 2.0.0 Bye\r\n")},
        basic_request(tls_mode::none));
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().describe(),
        "send: rejected: MAIL FROM <sender@internal.test>: 452 4.3.1 Insufficient system storage");
    EXPECT_TRUE(o.result.err().transient);
}

TEST(SmtpSession, StarttlsRequiredButNotOffered)
{
    auto o = run({script_step::send(greeting), script_step::expect("EHLO probe.test"),
                     script_step::send("250-mail.internal.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
                     script_step::expect("QUIT"), script_step::send("221 2.0.0 Bye\r\n")},
        basic_request(tls_mode::starttls));
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().describe(), "tls: rejected: server does not offer STARTTLS");
}

TEST(SmtpSession, CredentialsButNoAuthOffered)
{
    auto req = basic_request(tls_mode::none);
    req.auth = credentials{"sender@internal.test", password, credentials::kind::password};
    auto o = run({script_step::send(greeting), script_step::expect("EHLO probe.test"),
                     script_step::send(postfix_ehlo_plain), script_step::expect("QUIT"),
                     script_step::send("221 2.0.0 Bye\r\n")},
        req);
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().describe(), "auth: rejected: server does not offer AUTH");
    expect_no_secrets(o);
}

TEST(SmtpSession, HeloFallbackWhenEhloIsUnknown)
{
    auto o = run({script_step::send("220 old.example.org SMTP ready\r\n"), script_step::expect("EHLO probe.test"),
                     script_step::send("502 5.5.2 Error: command not recognized\r\n"), script_step::expect("HELO probe.test"),
                     script_step::send("250 old.example.org\r\n"), script_step::expect("MAIL FROM:<sender@internal.test>"),
                     script_step::send("250 ok\r\n"), script_step::expect("RCPT TO:<probe@internal.test>"),
                     script_step::send("250 ok\r\n"), script_step::expect("DATA"), script_step::send("354 go\r\n"),
                     script_step::expect("*"), script_step::expect("*"), script_step::expect("*"),
                     script_step::expect("*"), script_step::expect("."), script_step::send("250 ok\r\n"),
                     script_step::expect("QUIT"), script_step::send("221 bye\r\n")},
        basic_request(tls_mode::none));
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result->final_reply, "250 ok");
    EXPECT_EQ(o.result->queue_id, "");
}

TEST(SmtpSession, ServerSilentAfterTheDataTimesOut)
{
    auto req = basic_request(tls_mode::none);
    req.server.command_timeout = 300ms;
    auto start = engine::clock::now();
    auto o = run(concat({{script_step::send(greeting), script_step::expect("EHLO probe.test"),
                              script_step::send(postfix_ehlo_plain), script_step::expect("MAIL FROM:*"),
                              script_step::expect("RCPT TO:*"), script_step::expect("DATA"),
                              script_step::send("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")},
                     message_lines()}),
        req);
    auto took = engine::clock::now() - start;
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_EQ(o.result.err().where, stage::send);
    EXPECT_EQ(o.result.err().code, errc::timed_out);
    EXPECT_TRUE(o.result.err().transient);
    EXPECT_NE(o.result.err().message.find("the end of the data"), std::string::npos) << o.result.err().message;
    EXPECT_LT(took, 3s);
}

TEST(SmtpSession, MultiLineRepliesSplitOddly)
{
    // The EHLO reply and the pipelined replies arrive cut inside codes, separators and CRLFs.
    auto o = run(concat({{script_step::send("22"), script_step::pause(20), script_step::send("0 mail.internal.test ESMTP\r"),
                              script_step::pause(20), script_step::send("\n"), script_step::expect("EHLO probe.test"),
                              script_step::send("250-mail.internal.test\r\n25"), script_step::pause(20),
                              script_step::send("0-PIPELINING\r\n250"), script_step::pause(20),
                              script_step::send("-SIZE 10240000\r\n250 8BITMIME\r"), script_step::pause(20),
                              script_step::send("\n"), script_step::expect("MAIL FROM:*"), script_step::expect("RCPT TO:*"),
                              script_step::expect("DATA"), script_step::send("250 2.1.0 Ok\r\n250 2."),
                              script_step::pause(20), script_step::send("1.5 Ok\r\n354 End data\r\n")},
                     message_lines(),
                     {script_step::send("250-2.0.0 first line\r\n"), script_step::pause(20),
                         script_step::send("250 2.0.0 Ok: queued as 4Xy\r\n"), script_step::expect("QUIT"),
                         script_step::send("221 2.0.0 Bye\r\n")}}),
        basic_request(tls_mode::none));
    ASSERT_TRUE(o.result) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.peer.mismatch, "");
    EXPECT_TRUE(o.result->caps.pipelining);
    EXPECT_EQ(o.result->caps.max_size, 10240000u);
    EXPECT_EQ(o.result->final_reply, "250 2.0.0 first line 2.0.0 Ok: queued as 4Xy");
    EXPECT_EQ(o.result->queue_id, "4Xy");
}

TEST(SmtpSession, MalformedReplyIsAProtocolError)
{
    auto o = run({script_step::send("220 ok\r\n"), script_step::expect("EHLO probe.test"),
                     script_step::send("250-mail\r\n251 mixed codes\r\n")},
        basic_request(tls_mode::none));
    ASSERT_FALSE(o.result);
    EXPECT_EQ(o.result.err().where, stage::greeting);
    EXPECT_EQ(o.result.err().code, errc::protocol);
}

TEST(SmtpSession, RefusedConnectionKeepsTheConnectStage)
{
    std::uint16_t port = 0;
    {
        engine::loop loop;
        auto l = engine::listener::bind("127.0.0.1", 0);
        ASSERT_TRUE(l);
        port = l->port();
    }
    engine::loop loop;
    auto req = basic_request(tls_mode::none);
    req.server.port = port;
    auto r = loop.run(protocols::smtp::send(std::move(req), nullptr));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, stage::connect);
    EXPECT_EQ(r.err().code, errc::refused);
}

TEST(SmtpQueueId, KnownServers)
{
    using protocols::smtp::queue_id_from_reply;
    EXPECT_EQ(queue_id_from_reply("250 2.0.0 Ok: queued as 4TbF2k1Zq0z9vW"), "4TbF2k1Zq0z9vW");
    EXPECT_EQ(queue_id_from_reply("250 OK id=1rABCD-0001Xy-2b"), "1rABCD-0001Xy-2b");
    EXPECT_EQ(queue_id_from_reply("250 2.0.0 OK  1700000000 a1sm123456wmb.1 - gsmtp"), "a1sm123456wmb.1");
    EXPECT_EQ(queue_id_from_reply("250 2.0.0 OK <DM6PR11MB1234@DM6PR11MB1234.namprd11.prod.outlook.com> "
                                  "[Hostname=DM6PR11MB1234.namprd11.prod.outlook.com]"),
        "DM6PR11MB1234@DM6PR11MB1234.namprd11.prod.outlook.com");
    EXPECT_EQ(queue_id_from_reply("250 ok"), "");
    EXPECT_EQ(queue_id_from_reply("250 OK <unterminated"), "");
}
