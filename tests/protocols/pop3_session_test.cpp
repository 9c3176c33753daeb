// The POP3 session against scripted loopback servers replaying what real servers say:
// Dovecot (STLS, AUTH PLAIN, USER/PASS, CAPA, UIDL, TOP, DELE, QUIT; -ERR [AUTH] and
// [IN-USE]), the RFC 1939 section 10 example (no CAPA, APOP timestamp), Gmail (+OK Gpop
// ready, implicit TLS, AUTH XOAUTH2 and its error challenge), OAUTHBEARER (RFC 7628), refusals at QUIT, a RETR body
// trickling in at every chunk size, dot-stuffed lines, malformed replies and a silent server.
// Each test checks what the client sent, what it returned or the error's stage, code and
// server words, and that no secret reached the transcript or an error.
#include "protocols/pop3/session.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "protocols/common/sasl.h"
#include "tests/support/script_peer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using engine::errc;
using engine::stage;
using protocols::credentials;
using protocols::tls_mode;
using protocols::pop3::session;
using test_support::script_step;

namespace {

constexpr const char* user = "probe@internal.test";
constexpr const char* password = "probe pw with spaces";
constexpr const char* token = "ya29.a0AfH6SMtoken";

const std::string dovecot_greeting = "+OK Dovecot (Debian) ready.\r\n";
// Dovecot 2.3 before login, on the clear-text port (STLS offered) and over TLS (no STLS).
const std::string dovecot_capa_plain = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
                                       "AUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n";
const std::string dovecot_capa_tls = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
                                     "AUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n";
// Dovecot with auth_mechanisms limited so that no SASL line is announced.
const std::string dovecot_capa_no_sasl = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
                                         "AUTH-RESP-CODE\r\nUSER\r\n.\r\n";
const std::string gmail_greeting = "+OK Gpop ready for requests from 192.0.2.7 a1mb12345678pfb\r\n";
const std::string gmail_capa = "+OK Capability list follows\r\nUSER\r\nRESP-CODES\r\nEXPIRE 0\r\n"
                               "LOGIN-DELAY 300\r\nTOP\r\nUIDL\r\nX-GOOGLE-RICO\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n";

const std::string top_reply = "+OK\r\nReturn-Path: <sender@internal.test>\r\nSubject: probe\r\n"
                              "X-Mailprobe: v=1; id=0190\r\n\r\n.\r\n";
const std::string top_text = "Return-Path: <sender@internal.test>\r\nSubject: probe\r\nX-Mailprobe: v=1; id=0190\r\n\r\n";
// Dot-stuffed as sent: a line that starts with a dot, a line that is only a dot, and "..".
const std::string retr_reply = "+OK 97 octets\r\nSubject: probe\r\n\r\nhello\r\n..hidden dot\r\n..\r\n"
                               "...\r\nlast line\r\n.\r\n";
const std::string retr_text = "Subject: probe\r\n\r\nhello\r\n.hidden dot\r\n.\r\n..\r\nlast line\r\n";

struct client_out {
    std::vector<std::string> events;          // what each operation returned, in order
    std::optional<engine::error> failure;     // the first failure; the client stopped there
    std::string apop_timestamp;
    bool capa_supported = false;
    protocols::pop3::capabilities caps;
    std::optional<engine::tls_info> tls;
    protocols::session_timings timings;
};

/// Connects, then runs `ops` ("login", "stat", "uidl", "top N", "retr N", "dele N", "quit")
/// in order, recording each outcome; stops and closes at the first failure.
engine::task<void> drive(protocols::endpoint ep, protocols::transcript* log, credentials creds,
    std::vector<std::string> ops, client_out* out)
{
    auto s = co_await session::connect(std::move(ep), log);
    if (!s) {
        out->failure = s.err();
        co_return;
    }
    out->apop_timestamp = s->apop_timestamp();
    out->capa_supported = s->capa_supported();
    out->caps = s->capabilities();
    out->tls = s->tls_info();
    bool quit = false;
    for (const std::string& op : ops) {
        std::optional<engine::error> e;
        auto number = [](const std::string& o) { return static_cast<std::uint32_t>(std::stoul(o.substr(o.find(' ') + 1))); };
        if (op == "login") {
            auto r = co_await s->login(creds);
            r ? out->events.push_back("login") : void(e = r.err());
        } else if (op == "stat") {
            auto r = co_await s->stat();
            r ? out->events.push_back("stat " + std::to_string(r->count) + " " + std::to_string(r->octets))
              : void(e = r.err());
        } else if (op == "uidl") {
            auto r = co_await s->uidl();
            if (r) {
                std::string text = "uidl";
                for (const auto& u : *r) {
                    text += " " + std::to_string(u.msgno) + "=" + u.uid;
                }
                out->events.push_back(text);
            } else {
                e = r.err();
            }
        } else if (op.starts_with("top ")) {
            auto r = co_await s->top_headers(number(op));
            r ? out->events.push_back("top:" + *r) : void(e = r.err());
        } else if (op.starts_with("retr ")) {
            auto r = co_await s->retr(number(op));
            r ? out->events.push_back("retr:" + *r) : void(e = r.err());
        } else if (op.starts_with("dele ")) {
            auto r = co_await s->dele(number(op));
            r ? out->events.push_back("marked " + std::to_string(s->marked_for_deletion())) : void(e = r.err());
        } else if (op == "quit") {
            quit = true;
            auto r = co_await s->quit();
            r ? out->events.push_back("quit") : void(e = r.err());
        }
        if (e) {
            out->failure = std::move(e);
            break;
        }
    }
    out->timings = s->timings();
    if (!quit) {
        co_await s->close();
    }
}

struct outcome {
    client_out client;
    test_support::script_outcome peer;
    std::string trace;
};

struct options {
    tls_mode tls = tls_mode::none;
    credentials creds{user, password, credentials::kind::password};
    std::chrono::milliseconds command_timeout = 5s;
};

/// Runs the session against a peer playing `steps` on a fresh loopback listener (implicit
/// TLS on the peer when the client uses it).
outcome run(std::vector<script_step> steps, std::vector<std::string> ops, options opt = {})
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    EXPECT_TRUE(l);
    protocols::endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = l->port();
    ep.tls = opt.tls;
    if (opt.tls != tls_mode::none) {
        ep.tls_context = test_support::loopback_tls().client;
    }
    ep.connect_timeout = 5s;
    ep.command_timeout = opt.command_timeout;
    outcome o;
    protocols::transcript trace;
    auto body = [](engine::listener* lp, std::vector<script_step> s, bool implicit, protocols::endpoint e,
                    credentials c, std::vector<std::string> os, protocols::transcript* tr,
                    outcome* out) -> engine::task<void> {
        engine::scope sc;
        sc.spawn([](engine::listener* lp2, std::vector<script_step> s2, bool imp,
                     test_support::script_outcome* po) -> engine::task<void> {
            *po = co_await test_support::play_script(lp2, std::move(s2), test_support::loopback_tls().server, imp);
        }(lp, std::move(s), implicit, &out->peer));
        co_await drive(std::move(e), tr, std::move(c), std::move(os), &out->client);
        co_await sc.join();
    };
    loop.run(body(&*l, std::move(steps), opt.tls == tls_mode::implicit, std::move(ep), opt.creds, std::move(ops),
        &trace, &o));
    o.trace = trace.text();
    return o;
}

std::string error_of(const outcome& o)
{
    return o.client.failure ? o.client.failure->describe() : std::string("no error");
}

void expect_no_secrets(const outcome& o, const credentials& c)
{
    std::vector<std::string> secrets = {c.secret, protocols::sasl::base64_encode(c.secret)};
    if (auto p = protocols::sasl::plain("", c.user, c.secret); p.ok()) {
        secrets.push_back(p.value);
    }
    if (auto x = protocols::sasl::xoauth2(c.user, c.secret); x.ok()) {
        secrets.push_back(x.value);
    }
    for (const auto& secret : secrets) {
        EXPECT_EQ(o.trace.find(secret), std::string::npos) << "secret in transcript:\n" << o.trace;
        if (o.client.failure) {
            EXPECT_EQ(o.client.failure->message.find(secret), std::string::npos) << o.client.failure->message;
        }
    }
}

std::vector<script_step> concat(std::vector<std::vector<script_step>> parts)
{
    std::vector<script_step> out;
    for (auto& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

std::vector<script_step> dovecot_user_pass_login()
{
    return {script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_no_sasl),
        script_step::expect(std::string("USER ") + user), script_step::send("+OK\r\n"),
        script_step::expect(std::string("PASS ") + password), script_step::send("+OK Logged in.\r\n")};
}

} // namespace

TEST(Pop3Session, DovecotStlsAuthPlainListTopDeleQuit)
{
    const std::string plain_ir = protocols::sasl::plain("", user, password).value;
    auto o = run(
        {script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_plain),
            script_step::expect("STLS"), script_step::send("+OK Begin TLS negotiation now.\r\n"),
            script_step::starttls(), script_step::expect("CAPA"), script_step::send(dovecot_capa_tls),
            script_step::expect("AUTH PLAIN " + plain_ir), script_step::send("+OK Logged in.\r\n"),
            script_step::expect("STAT"), script_step::send("+OK 2 1734\r\n"), script_step::expect("UIDL"),
            script_step::send("+OK\r\n1 00000001674d6c2b\r\n2 00000002674d6c2b\r\n.\r\n"),
            script_step::expect("TOP 1 0"), script_step::send(top_reply), script_step::expect("DELE 1"),
            script_step::send("+OK Marked to be deleted.\r\n"), script_step::expect("QUIT"),
            script_step::send("+OK Logging out, messages deleted.\r\n"), script_step::close()},
        {"login", "stat", "uidl", "top 1", "dele 1", "quit"}, {.tls = tls_mode::starttls});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o) << "\n" << o.trace;
    EXPECT_EQ(o.client.events, (std::vector<std::string>{"login", "stat 2 1734",
                                   "uidl 1=00000001674d6c2b 2=00000002674d6c2b", "top:" + top_text, "marked 1",
                                   "quit"}));
    ASSERT_TRUE(o.client.tls);
    EXPECT_TRUE(o.client.tls->verified);
    // The capabilities are the ones read over TLS: STLS is gone from them.
    EXPECT_TRUE(o.client.capa_supported);
    EXPECT_FALSE(o.client.caps.stls);
    EXPECT_TRUE(o.client.caps.top);
    EXPECT_TRUE(o.client.caps.has_sasl_mechanism("PLAIN"));
    EXPECT_TRUE(o.client.apop_timestamp.empty());
    EXPECT_NE(o.trace.find("AUTH PLAIN <redacted"), std::string::npos) << o.trace;
    EXPECT_NE(o.trace.find("TLS established"), std::string::npos) << o.trace;
    expect_no_secrets(o, options{}.creds);
}

TEST(Pop3Session, UserPassWhenNoSaslIsAnnounced)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("RETR 1"), script_step::send(retr_reply), script_step::expect("QUIT"),
                         script_step::send("+OK Logging out.\r\n"), script_step::close()}}),
        {"login", "retr 1", "quit"});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o);
    EXPECT_EQ(o.client.events, (std::vector<std::string>{"login", "retr:" + retr_text, "quit"}));
    EXPECT_FALSE(o.client.tls);
    EXPECT_NE(o.trace.find("PASS <redacted"), std::string::npos) << o.trace;
    expect_no_secrets(o, options{}.creds);
}

TEST(Pop3Session, Rfc1939ExampleWithoutCapa)
{
    // RFC 1939 section 10, with USER/PASS instead of APOP and a server that predates CAPA.
    auto o = run({script_step::send("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
                     script_step::expect("CAPA"), script_step::send("-ERR unknown command\r\n"),
                     script_step::expect("USER probe@internal.test"), script_step::send("+OK\r\n"),
                     script_step::expect("PASS *"), script_step::send("+OK mrose's maildrop has 2 messages (320 octets)\r\n"),
                     script_step::expect("STAT"), script_step::send("+OK 2 320\r\n"), script_step::expect("UIDL"),
                     script_step::send("+OK\r\n1 whqtswO00WBw418f9t5JxYwZ\r\n2 QhdPYR:00WBw1Ph7x7\r\n.\r\n"),
                     script_step::expect("RETR 1"),
                     script_step::send("+OK 120 octets\r\n<the POP3 server sends message 1>\r\n.\r\n"),
                     script_step::expect("DELE 1"), script_step::send("+OK message 1 deleted\r\n"),
                     script_step::expect("RETR 2"),
                     script_step::send("+OK 200 octets\r\n<the POP3 server sends message 2>\r\n.\r\n"),
                     script_step::expect("DELE 2"), script_step::send("+OK message 2 deleted\r\n"),
                     script_step::expect("QUIT"),
                     script_step::send("+OK dewey POP3 server signing off (maildrop empty)\r\n"), script_step::close()},
        {"login", "stat", "uidl", "retr 1", "dele 1", "retr 2", "dele 2", "quit"});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o);
    EXPECT_EQ(o.client.events,
        (std::vector<std::string>{"login", "stat 2 320", "uidl 1=whqtswO00WBw418f9t5JxYwZ 2=QhdPYR:00WBw1Ph7x7",
            "retr:<the POP3 server sends message 1>\r\n", "marked 1", "retr:<the POP3 server sends message 2>\r\n",
            "marked 2", "quit"}));
    EXPECT_FALSE(o.client.capa_supported);
    EXPECT_EQ(o.client.apop_timestamp, "<1896.697170952@dbc.mtview.ca.us>");
    expect_no_secrets(o, options{}.creds);
}

TEST(Pop3Session, GmailXoauth2OverImplicitTls)
{
    const credentials creds{"probe@gmail.com", token, credentials::kind::oauth2_token};
    const std::string ir = protocols::sasl::xoauth2(creds.user, creds.secret).value;
    auto o = run({script_step::send(gmail_greeting), script_step::expect("CAPA"), script_step::send(gmail_capa),
                     script_step::expect("AUTH XOAUTH2 " + ir), script_step::send("+OK Welcome.\r\n"),
                     script_step::expect("STAT"), script_step::send("+OK 0 0\r\n"), script_step::expect("QUIT"),
                     script_step::send("+OK Farewell.\r\n"), script_step::close()},
        {"login", "stat", "quit"}, {.tls = tls_mode::implicit, .creds = creds});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o);
    EXPECT_EQ(o.client.events, (std::vector<std::string>{"login", "stat 0 0", "quit"}));
    ASSERT_TRUE(o.client.tls);
    EXPECT_GE(o.client.timings.auth_ms, 0);
    ASSERT_TRUE(o.client.caps.login_delay);
    EXPECT_EQ(o.client.caps.login_delay->seconds, 300u);
    expect_no_secrets(o, creds);
}

TEST(Pop3Session, GmailXoauth2ErrorChallengeGetsAnEmptyLine)
{
    const credentials creds{"probe@gmail.com", token, credentials::kind::oauth2_token};
    // {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}
    const std::string challenge = "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";
    auto o = run({script_step::send(gmail_greeting), script_step::expect("CAPA"), script_step::send(gmail_capa),
                     script_step::expect("AUTH XOAUTH2 *"), script_step::send("+ " + challenge + "\r\n"),
                     script_step::expect(""), script_step::send("-ERR [AUTH] Invalid credentials.\r\n")},
        {"login"}, {.tls = tls_mode::implicit, .creds = creds});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::auth);
    EXPECT_EQ(o.client.failure->code, errc::auth_failed);
    EXPECT_FALSE(o.client.failure->transient);
    EXPECT_NE(o.client.failure->message.find("-ERR [AUTH] Invalid credentials."), std::string::npos) << error_of(o);
    EXPECT_NE(o.client.failure->message.find("\"status\":\"400\""), std::string::npos) << error_of(o);
    expect_no_secrets(o, creds);
}

TEST(Pop3Session, LongTokenWaitsForTheEmptyChallenge)
{
    // An initial response over RFC 5034's 255 octets goes on its own line after "+ ".
    const credentials creds{"probe@gmail.com", std::string(300, 't'), credentials::kind::oauth2_token};
    const std::string response = protocols::sasl::xoauth2(creds.user, creds.secret).value;
    auto o = run({script_step::send(gmail_greeting), script_step::expect("CAPA"), script_step::send(gmail_capa),
                     script_step::expect("AUTH XOAUTH2"), script_step::send("+ \r\n"), script_step::expect(response),
                     script_step::send("+OK Welcome.\r\n")},
        {"login"}, {.tls = tls_mode::implicit, .creds = creds});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o);
    EXPECT_EQ(o.client.events, (std::vector<std::string>{"login"}));
    expect_no_secrets(o, creds);
}

TEST(Pop3Session, TokenRefusedWhenNoBearerMechanismIsOffered)
{
    const credentials creds{user, token, credentials::kind::oauth2_token};
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_no_sasl)},
        {"login"}, {.creds = creds});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::auth);
    EXPECT_EQ(o.client.failure->code, errc::invalid_argument);
    EXPECT_NE(o.client.failure->message.find("neither"), std::string::npos) << error_of(o);
}

// A server offering OAUTHBEARER (RFC 7628) and not XOAUTH2.
const std::string oauthbearer_capa = "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nSASL PLAIN OAUTHBEARER\r\n.\r\n";

TEST(Pop3Session, OauthbearerWhenXoauth2IsNotOffered)
{
    const credentials creds{user, token, credentials::kind::oauth2_token};
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(oauthbearer_capa),
                     script_step::expect("AUTH OAUTHBEARER *"), script_step::send("+OK Logged in.\r\n")},
        {"login"}, {.creds = creds});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_FALSE(o.client.failure) << error_of(o);
    ASSERT_EQ(o.peer.received.size(), 2u);
    const std::string ir = o.peer.received[1].substr(std::string_view("AUTH OAUTHBEARER ").size());
    auto m = protocols::sasl::base64_decode(ir);
    ASSERT_TRUE(m.ok()) << o.peer.received[1];
    EXPECT_TRUE(m.value.starts_with("n,a=probe@internal.test,\x01host=127.0.0.1\x01port=")) << m.value;
    EXPECT_TRUE(m.value.ends_with(std::string("\x01" "auth=Bearer ") + token + "\x01\x01")) << m.value;
    EXPECT_EQ(o.trace.find(ir), std::string::npos) << o.trace;
    expect_no_secrets(o, creds);
}

TEST(Pop3Session, OauthbearerErrorChallengeGetsCtrlA)
{
    const credentials creds{user, token, credentials::kind::oauth2_token};
    const std::string json = R"({"status":"invalid_token","scope":"mail"})";
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(oauthbearer_capa),
                     script_step::expect("AUTH OAUTHBEARER *"),
                     script_step::send("+ " + protocols::sasl::base64_encode(json) + "\r\n"),
                     script_step::expect("AQ=="),   // RFC 7628 3.2.3: a single ^A
                     script_step::send("-ERR [AUTH] Authentication failed.\r\n")},
        {"login"}, {.creds = creds});
    EXPECT_TRUE(o.peer.completed) << o.peer.mismatch;
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::auth);
    EXPECT_EQ(o.client.failure->code, errc::auth_failed);
    EXPECT_NE(o.client.failure->message.find("-ERR [AUTH] Authentication failed."), std::string::npos) << error_of(o);
    EXPECT_NE(o.client.failure->message.find(json), std::string::npos) << error_of(o);
    expect_no_secrets(o, creds);
}

TEST(Pop3Session, WrongPasswordIsAnAuthFailureInTheServersWords)
{
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"),
                     script_step::send(dovecot_capa_no_sasl), script_step::expect("USER *"), script_step::send("+OK\r\n"),
                     script_step::expect("PASS *"), script_step::send("-ERR [AUTH] Authentication failed.\r\n")},
        {"login", "stat"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(error_of(o), "auth: auth_failed: PASS: -ERR [AUTH] Authentication failed.");
    EXPECT_FALSE(o.client.failure->transient);
    expect_no_secrets(o, options{}.creds);
}

TEST(Pop3Session, AuthPlainRefusalAndLockedMaildropIsTransient)
{
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_tls),
                     script_step::expect("AUTH PLAIN *"),
                     script_step::send("-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n")},
        {"login"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::auth);
    EXPECT_EQ(o.client.failure->code, errc::rejected);
    EXPECT_TRUE(o.client.failure->transient);
    EXPECT_NE(o.client.failure->message.find("[IN-USE] Mailbox is locked"), std::string::npos) << error_of(o);
    expect_no_secrets(o, options{}.creds);
}

TEST(Pop3Session, ErrAtQuitMeansNothingWasDeleted)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("DELE 1"), script_step::send("+OK Marked to be deleted.\r\n"),
                         script_step::expect("DELE 2"), script_step::send("+OK Marked to be deleted.\r\n"),
                         script_step::expect("QUIT"),
                         script_step::send("-ERR [SYS/TEMP] Couldn't expunge messages.\r\n"), script_step::close()}}),
        {"login", "dele 1", "dele 2", "quit"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.events, (std::vector<std::string>{"login", "marked 1", "marked 2"}));
    EXPECT_EQ(o.client.failure->where, stage::cleanup);
    EXPECT_TRUE(o.client.failure->transient);
    EXPECT_EQ(error_of(o), "cleanup: rejected: QUIT: -ERR [SYS/TEMP] Couldn't expunge messages.: "
                           "the 2 message(s) marked with DELE were NOT deleted");
}

TEST(Pop3Session, ConnectionLostAtQuitMeansNothingWasDeleted)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("DELE 1"), script_step::send("+OK Marked to be deleted.\r\n"),
                         script_step::expect("QUIT"), script_step::close()}}),
        {"login", "dele 1", "quit"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::cleanup);
    EXPECT_EQ(o.client.failure->code, errc::closed);
    EXPECT_NE(o.client.failure->message.find("no reply to QUIT: the 1 message(s) marked with DELE were NOT deleted"),
        std::string::npos) << error_of(o);
}

TEST(Pop3Session, DeleRefusedIsACleanupError)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("DELE 9"), script_step::send("-ERR There's no message 9.\r\n")}}),
        {"login", "dele 9"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(error_of(o), "cleanup: rejected: DELE 9: -ERR There's no message 9.");
}

TEST(Pop3Session, RetrBodyArrivingInPiecesOfEverySize)
{
    // The RETR reply trickles in: each piece is a separate write with a pause, so the
    // client's parser sees the body split at every position across its reads.
    for (std::size_t piece : {1u, 2u, 3u, 5u, 8u, 13u}) {
        std::vector<script_step> steps = dovecot_user_pass_login();
        steps.push_back(script_step::expect("RETR 1"));
        for (std::size_t at = 0; at < retr_reply.size(); at += piece) {
            steps.push_back(script_step::send(retr_reply.substr(at, piece)));
            steps.push_back(script_step::pause(1));
        }
        steps.push_back(script_step::expect("QUIT"));
        steps.push_back(script_step::send("+OK Logging out.\r\n"));
        steps.push_back(script_step::close());
        auto o = run(std::move(steps), {"login", "retr 1", "quit"});
        EXPECT_TRUE(o.peer.completed) << "piece " << piece << ": " << o.peer.mismatch;
        ASSERT_FALSE(o.client.failure) << "piece " << piece << ": " << error_of(o);
        EXPECT_EQ(o.client.events, (std::vector<std::string>{"login", "retr:" + retr_text, "quit"})) << piece;
    }
}

TEST(Pop3Session, FetchRefusalsAreFetchErrors)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("TOP 3 0"), script_step::send("-ERR There's no message 3.\r\n")}}),
        {"login", "top 3"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(error_of(o), "fetch: rejected: TOP 3 0: -ERR There's no message 3.");
}

TEST(Pop3Session, MalformedUidlLineIsAProtocolError)
{
    auto o = run(concat({dovecot_user_pass_login(),
                     {script_step::expect("UIDL"), script_step::send("+OK\r\n1 good-uid\r\n0 zero\r\n.\r\n")}}),
        {"login", "uidl"});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::fetch);
    EXPECT_EQ(o.client.failure->code, errc::protocol);
    EXPECT_NE(o.client.failure->message.find("UIDL line 2"), std::string::npos) << error_of(o);
}

TEST(Pop3Session, GarbageGreetingIsAProtocolErrorAtTheGreeting)
{
    auto o = run({script_step::send("220 mail.internal.test ESMTP Postfix\r\n")}, {});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::greeting);
    EXPECT_EQ(o.client.failure->code, errc::protocol);
    EXPECT_NE(o.client.failure->message.find("syntax error"), std::string::npos) << error_of(o);
}

TEST(Pop3Session, ErrGreetingIsRefusedInTheServersWords)
{
    auto o = run({script_step::send("-ERR [SYS/TEMP] Too many connections\x1b[31m\r\n")}, {});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(error_of(o), "greeting: rejected: greeting: -ERR [SYS/TEMP] Too many connections?[31m");
    EXPECT_TRUE(o.client.failure->transient);
}

TEST(Pop3Session, StarttlsRequiredButNotOffered)
{
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_tls)},
        {"login"}, {.tls = tls_mode::starttls});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::tls);
    EXPECT_NE(o.client.failure->message.find("server does not offer STARTTLS"), std::string::npos) << error_of(o);
    // Nothing secret went out in clear text: the client stopped before any login command.
    EXPECT_EQ(o.peer.received, (std::vector<std::string>{"CAPA"}));
}

TEST(Pop3Session, StlsRefusedByAServerWithoutCapa)
{
    auto o = run({script_step::send("+OK ready\r\n"), script_step::expect("CAPA"), script_step::send("-ERR what?\r\n"),
                     script_step::expect("STLS"), script_step::send("-ERR unknown command\r\n")},
        {"login"}, {.tls = tls_mode::starttls});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(error_of(o), "tls: rejected: server does not offer STARTTLS: STLS: -ERR unknown command");
}

TEST(Pop3Session, PlaintextAfterStlsIsRefused)
{
    // CVE-2011-0411 style: bytes pipelined after "+OK" would be read as if they came over TLS.
    auto o = run({script_step::send(dovecot_greeting), script_step::expect("CAPA"), script_step::send(dovecot_capa_plain),
                     script_step::expect("STLS"), script_step::send("+OK Begin TLS negotiation now.\r\n+OK injected\r\n")},
        {"login"}, {.tls = tls_mode::starttls});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::tls);
}

TEST(Pop3Session, SilentServerTimesOutAtTheGreeting)
{
    auto start = engine::clock::now();
    auto o = run({}, {}, {.command_timeout = 200ms});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::greeting);
    EXPECT_EQ(o.client.failure->code, errc::timed_out);
    EXPECT_TRUE(o.client.failure->transient);
    EXPECT_NE(o.client.failure->message.find("the greeting"), std::string::npos) << error_of(o);
    EXPECT_LT(engine::clock::now() - start, 5s);
}

TEST(Pop3Session, SilentServerTimesOutOnACommand)
{
    auto o = run(concat({dovecot_user_pass_login(), {script_step::expect("STAT"), script_step::pause(500)}}),
        {"login", "stat"}, {.command_timeout = 200ms});
    ASSERT_TRUE(o.client.failure);
    EXPECT_EQ(o.client.failure->where, stage::fetch);
    EXPECT_EQ(o.client.failure->code, errc::timed_out);
    EXPECT_NE(o.client.failure->message.find("STAT"), std::string::npos) << error_of(o);
}
