// The built-in server driven over loopback with raw engine connections, as a client would:
// SMTP with STARTTLS and AUTH, pipelining, refusals; IMAP search/fetch/delete, IDLE wake-up,
// literal APPEND; POP3 UIDL/TOP/DELE with commit only at QUIT; Junk filing; an alias that
// forwards across domains; limits on line length.
#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/common/sasl.h"
#include "tools/server/imap_tokens.h"
#include "tools/server/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;
using engine::connection;
using engine::task;

namespace {

builtin::config test_config()
{
    builtin::config c;
    c.hostname = "mx.builtin.test";
    builtin::domain_config org1{"org1.test", {}, {}};
    org1.mailboxes.push_back({"alice@org1.test", "alice", "alice-pw", false});
    org1.mailboxes.push_back({"junkie@org1.test", "", "junk-pw", true});
    org1.aliases.push_back({"fwd@org1.test", "bob@org2.test"});
    builtin::domain_config org2{"org2.test", {}, {}};
    org2.mailboxes.push_back({"bob@org2.test", "bob", "bob-pw", false});
    c.domains = {org1, org2};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"smtp", protocol::smtp, tls_mode::none, "127.0.0.1", 0},
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imap", protocol::imap, tls_mode::none, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::none, "127.0.0.1", 0},
        {"pop3-starttls", protocol::pop3, tls_mode::starttls, "127.0.0.1", 0},
    };
    c.limits.max_line = 2048;
    c.limits.idle_timeout = 5s;
    return c;
}

/// A raw line-level client.
struct client {
    connection c;
    std::string error;

    task<bool> send(std::string text)
    {
        auto w = co_await c.write(text, engine::after(5s));
        if (!w) {
            error = w.err().describe();
        }
        co_return bool(w);
    }

    /// Reads whole lines until one starts with `prefix` (or `count` such lines); returns
    /// everything read, CRLFs kept.
    task<std::string> until(std::string prefix, int count = 1)
    {
        std::string all;
        for (;;) {
            auto data = c.buffered();
            auto nl = data.find("\r\n");
            if (nl != std::string_view::npos) {
                std::string line(data.substr(0, nl + 2));
                c.consume(nl + 2);
                all += line;
                if (line.rfind(prefix, 0) == 0 && --count == 0) {
                    co_return all;
                }
                continue;
            }
            auto r = co_await c.read(engine::after(5s));
            if (!r) {
                co_return all + "<" + r.err().describe() + ">";
            }
        }
    }

    /// SMTP: the next `n` complete replies.
    task<std::string> replies(int n = 1)
    {
        std::string all;
        while (n > 0) {
            std::string line = co_await until("");
            all += line;
            if (line.size() < 4 || line[3] != '-') {
                --n;
            }
            if (line.find('<') != std::string::npos && line.find("<engine") != std::string::npos) {
                break;
            }
        }
        co_return all;
    }
};

task<client> open(std::uint16_t port)
{
    client cl;
    auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
    if (!c) {
        cl.error = c.err().describe();
        co_return cl;
    }
    cl.c = std::move(*c);
    co_return cl;
}

engine::tls_context client_tls(const builtin::server& srv)
{
    std::string path = "/tmp/builtin-server-test-ca-" + std::to_string(getpid()) + ".pem";
    EXPECT_TRUE(srv.write_ca_pem(path));
    engine::tls_options o;
    o.ca_file = path;
    auto ctx = engine::tls_context::client(o);
    std::remove(path.c_str());
    return *ctx;
}

std::string plain_ir(std::string user, std::string password)
{
    return protocols::sasl::plain("", user, password).value;
}

/// Runs the server while `body` runs, then stops it.
task<void> with_server(builtin::server* srv, task<void> body)
{
    engine::scope s;
    s.spawn(srv->run());
    co_await std::move(body);
    srv->stop();
    co_await s.join();
}

struct fixture : ::testing::Test {
    engine::loop loop;
    builtin::server srv{test_config()};
    void SetUp() override
    {
        auto r = srv.start();
        ASSERT_TRUE(r) << r.err().describe();
    }
    void run(task<void> body) { loop.run(with_server(&srv, std::move(body))); }
    std::size_t count(std::string_view address, builtin::folder_id f)
    {
        return srv.mailbox(address)->at(f).size();
    }
};

/// One plain SMTP delivery; returns the final reply.
task<std::string> deliver(std::uint16_t port, std::string rcpt, std::string message)
{
    auto cl = co_await open(port);
    co_await cl.send("EHLO client.test\r\nMAIL FROM:<probe@org9.test>\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\n");
    std::string head = co_await cl.replies(5);
    co_await cl.send(message + ".\r\nQUIT\r\n");
    std::string tail = co_await cl.replies(2);
    co_await cl.c.close();
    co_return head + tail;
}

const std::string sample = "From: probe@org9.test\r\nTo: alice@org1.test\r\nSubject: hello\r\n"
                           "X-Probe: abc-123\r\n\r\nline one\r\n..dotted line\r\nlast\r\n";

} // namespace

using builtin::folder_id;

TEST_F(fixture, SmtpStartTlsAuthThenImapFindsFetchesAndDeletes)
{
    auto body = [](builtin::server* s, engine::tls_context tls) -> task<void> {
        auto cl = co_await open(s->port("submission"));
        EXPECT_EQ(co_await cl.replies(), "220 mx.builtin.test ESMTP builtin (not a production server)\r\n");
        co_await cl.send("EHLO client.test\r\n");
        auto ehlo = co_await cl.replies();
        EXPECT_NE(ehlo.find("250-STARTTLS"), std::string::npos) << ehlo;
        EXPECT_EQ(ehlo.find("AUTH"), std::string::npos) << ehlo;
        co_await cl.send("AUTH PLAIN " + plain_ir("alice", "alice-pw") + "\r\n");
        EXPECT_EQ(co_await cl.replies(), "530 5.7.0 Must issue a STARTTLS command first\r\n");
        co_await cl.send("STARTTLS\r\n");
        EXPECT_EQ(co_await cl.replies(), "220 2.0.0 Ready to start TLS\r\n");
        auto info = co_await cl.c.start_tls(tls, "localhost", engine::after(5s));
        EXPECT_TRUE(info) << (info ? "" : info.err().describe());
        co_await cl.send("EHLO client.test\r\n");
        ehlo = co_await cl.replies();
        EXPECT_NE(ehlo.find("250-AUTH PLAIN LOGIN"), std::string::npos) << ehlo;
        EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
        co_await cl.send("AUTH PLAIN " + plain_ir("alice", "alice-pw") + "\r\n");
        EXPECT_EQ(co_await cl.replies(), "235 2.7.0 Authentication successful\r\n");
        co_await cl.send("MAIL FROM:<alice@org1.test> SIZE=200 BODY=8BITMIME\r\n");
        EXPECT_EQ(co_await cl.replies(), "250 2.1.0 Ok\r\n");
        co_await cl.send("RCPT TO:<alice@org1.test>\r\n");
        EXPECT_EQ(co_await cl.replies(), "250 2.1.5 Ok\r\n");
        co_await cl.send("DATA\r\n");
        EXPECT_EQ(co_await cl.replies(), "354 End data with <CR><LF>.<CR><LF>\r\n");
        co_await cl.send(sample + ".\r\n");
        auto queued = co_await cl.replies();
        EXPECT_EQ(queued.rfind("250 2.0.0 Ok: queued as ", 0), 0u) << queued;
        co_await cl.send("QUIT\r\n");
        EXPECT_EQ(co_await cl.replies(), "221 2.0.0 Bye\r\n");
        co_await cl.c.close();

        const auto& inbox = s->mailbox("alice@org1.test")->at(folder_id::inbox);
        EXPECT_EQ(inbox.size(), 1u);
        if (inbox.size() == 1) {
            const auto& m = inbox.messages()[0];
            EXPECT_EQ(m.bytes.rfind("Received: from client.test ([127.0.0.1])\r\n\tby mx.builtin.test with ESMTPSA id ", 0), 0u) << m.bytes;
            EXPECT_NE(m.bytes.find("\r\n.dotted line\r\n"), std::string::npos);
            EXPECT_TRUE(m.bytes.ends_with("\r\nlast\r\n"));
        }

        auto im = co_await open(s->port("imaps"));
        auto i = co_await im.c.start_tls(tls, "127.0.0.1", engine::after(5s));
        EXPECT_TRUE(i);
        auto greeting = co_await im.until("* OK");
        EXPECT_NE(greeting.find("[CAPABILITY IMAP4rev1 LITERAL+ SASL-IR SPECIAL-USE UIDPLUS IDLE AUTH=PLAIN]"), std::string::npos) << greeting;
        co_await im.send("a1 LOGIN alice \"alice-pw\"\r\na2 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\na3 SELECT INBOX\r\n");
        auto out = co_await im.until("a3 ");
        EXPECT_NE(out.find("a1 OK [CAPABILITY"), std::string::npos) << out;
        EXPECT_NE(out.find("* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"), std::string::npos) << out;
        EXPECT_NE(out.find("* 1 EXISTS\r\n"), std::string::npos) << out;
        EXPECT_NE(out.find("* OK [UIDNEXT 2]"), std::string::npos) << out;
        EXPECT_NE(out.find("a3 OK [READ-WRITE]"), std::string::npos) << out;
        co_await im.send("a4 UID SEARCH HEADER X-Probe \"ABC-123\"\r\na5 UID SEARCH HEADER X-Probe nothing\r\n");
        out = co_await im.until("a5 ");
        EXPECT_NE(out.find("* SEARCH 1\r\na4 OK"), std::string::npos) << out;
        EXPECT_NE(out.find("* SEARCH\r\na5 OK"), std::string::npos) << out;
        co_await im.send("a6 UID FETCH 1 (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])\r\n");
        out = co_await im.until("a6 ");
        std::string header(inbox.messages()[0].header());
        std::string want = "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE " + std::to_string(inbox.messages()[0].bytes.size())
            + " BODY[HEADER] {" + std::to_string(header.size()) + "}\r\n" + header + ")\r\n";
        EXPECT_EQ(out.substr(0, want.size()), want);
        co_await im.send("a7 UID STORE 1 +FLAGS.SILENT (\\Deleted)\r\na8 UID EXPUNGE 1\r\na9 LOGOUT\r\n");
        out = co_await im.until("a9 ");
        EXPECT_NE(out.find("a7 OK"), std::string::npos) << out;
        EXPECT_NE(out.find("* 1 EXPUNGE\r\na8 OK"), std::string::npos) << out;
        EXPECT_NE(out.find("* BYE"), std::string::npos) << out;
        co_await im.c.close();
        EXPECT_EQ(inbox.size(), 0u);
    };
    run(body(&srv, client_tls(srv)));
}

TEST_F(fixture, PipelinedTransactionInOneWrite)
{
    auto body = [](builtin::server* s) -> task<void> {
        auto cl = co_await open(s->port("smtp"));
        co_await cl.send("EHLO c.test\r\nMAIL FROM:<x@org9.test>\r\nRCPT TO:<alice@org1.test>\r\n"
                         "RCPT TO:<nobody@org1.test>\r\nRCPT TO:<someone@elsewhere.test>\r\nRCPT TO:<bob@org2.test>\r\n"
                         "DATA\r\n" + sample + ".\r\nRSET\r\nNOOP\r\nQUIT\r\n");
        auto out = co_await cl.replies(12);
        EXPECT_NE(out.find("250-PIPELINING\r\n"), std::string::npos) << out;
        EXPECT_NE(out.find("550 5.1.1 <nobody@org1.test>: Recipient address rejected"), std::string::npos) << out;
        EXPECT_NE(out.find("550 5.7.1 <someone@elsewhere.test>: Relay access denied"), std::string::npos) << out;
        EXPECT_NE(out.find("354 End data"), std::string::npos) << out;
        EXPECT_NE(out.find("250 2.0.0 Ok: queued as"), std::string::npos) << out;
        EXPECT_TRUE(out.ends_with("250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n")) << out;
        co_await cl.c.close();
    };
    run(body(&srv));
    EXPECT_EQ(count("alice@org1.test", folder_id::inbox), 1u);
    EXPECT_EQ(count("bob@org2.test", folder_id::inbox), 1u);
}

TEST_F(fixture, JunkFilingAndForwardingAcrossDomains)
{
    auto body = [](builtin::server* s) -> task<void> {
        auto spam = "X-Spam-Flag: YES\r\nSubject: buy\r\n\r\nnow\r\n";
        EXPECT_NE((co_await deliver(s->port("smtp"), "alice@org1.test", spam)).find("queued as"), std::string::npos);
        EXPECT_NE((co_await deliver(s->port("smtp"), "junkie@org1.test", sample)).find("queued as"), std::string::npos);
        EXPECT_NE((co_await deliver(s->port("smtp"), "fwd@org1.test", sample)).find("queued as"), std::string::npos);
    };
    run(body(&srv));
    EXPECT_EQ(count("alice@org1.test", folder_id::junk), 1u);
    EXPECT_EQ(count("alice@org1.test", folder_id::inbox), 0u);
    EXPECT_EQ(count("junkie@org1.test", folder_id::junk), 1u);
    ASSERT_EQ(count("bob@org2.test", folder_id::inbox), 1u);
    const auto& m = srv.mailbox("bob@org2.test")->at(folder_id::inbox).messages()[0];
    EXPECT_EQ(m.bytes.rfind("Received: from mx.builtin.test (localhost [127.0.0.1])", 0), 0u) << m.bytes;
    EXPECT_NE(m.bytes.find("for <bob@org2.test>"), std::string::npos);
    EXPECT_NE(m.bytes.find("Received: from client.test ([127.0.0.1])"), std::string::npos);
    EXPECT_NE(m.bytes.find("for <fwd@org1.test>"), std::string::npos);
}

TEST_F(fixture, WrongPasswordsAnswerLikeRealServers)
{
    auto body = [](builtin::server* s) -> task<void> {
        auto sm = co_await open(s->port("smtp"));
        co_await sm.send("EHLO c\r\nAUTH PLAIN " + plain_ir("alice", "wrong") + "\r\nAUTH LOGIN\r\n");
        auto out = co_await sm.replies(4);
        EXPECT_NE(out.find("535 5.7.8 Authentication credentials invalid\r\n334 VXNlcm5hbWU6\r\n"), std::string::npos) << out;
        co_await sm.send(protocols::sasl::base64_encode("alice") + "\r\n");
        EXPECT_EQ(co_await sm.replies(), "334 UGFzc3dvcmQ6\r\n");
        co_await sm.send(protocols::sasl::base64_encode("alice-pw") + "\r\n");
        EXPECT_EQ(co_await sm.replies(), "235 2.7.0 Authentication successful\r\n");
        co_await sm.c.close();

        auto im = co_await open(s->port("imap"));
        co_await im.send("a LOGIN alice nope\r\nb AUTHENTICATE PLAIN " + plain_ir("bob", "nope") + "\r\nc AUTHENTICATE PLAIN\r\n");
        out = co_await im.until("+ ");
        EXPECT_NE(out.find("a NO [AUTHENTICATIONFAILED]"), std::string::npos) << out;
        EXPECT_NE(out.find("b NO [AUTHENTICATIONFAILED]"), std::string::npos) << out;
        co_await im.send(plain_ir("bob", "bob-pw") + "\r\n");
        EXPECT_NE((co_await im.until("c ")).find("c OK"), std::string::npos);
        co_await im.c.close();

        auto po = co_await open(s->port("pop3"));
        co_await po.send("USER alice\r\nPASS nope\r\nAUTH PLAIN " + plain_ir("alice", "nope") + "\r\n");
        out = co_await po.until("-ERR", 2);
        EXPECT_NE(out.find("-ERR [AUTH] Authentication failed.\r\n-ERR [AUTH]"), std::string::npos) << out;
        co_await po.c.close();

        auto st = co_await open(s->port("pop3-starttls"));
        co_await st.send("CAPA\r\nUSER alice\r\n");
        out = co_await st.until("-ERR");
        EXPECT_NE(out.find("STLS\r\n"), std::string::npos) << out;
        EXPECT_EQ(out.find("SASL PLAIN"), std::string::npos) << out;
        EXPECT_NE(out.find("-ERR [AUTH] Plaintext authentication disallowed"), std::string::npos) << out;
        co_await st.c.close();
    };
    run(body(&srv));
}

TEST_F(fixture, Pop3DeletesCommitOnlyAtQuit)
{
    auto body = [](builtin::server* s) -> task<void> {
        co_await deliver(s->port("smtp"), "alice@org1.test", sample);
        co_await deliver(s->port("smtp"), "alice@org1.test", "Subject: two\r\n\r\nb1\r\nb2\r\n..leading dot\r\n");
        auto po = co_await open(s->port("pop3"));
        auto greeting = co_await po.until("+OK");
        EXPECT_NE(greeting.find("<"), std::string::npos) << greeting;   // APOP-style timestamp
        co_await po.send("CAPA\r\nUSER alice\r\nPASS alice-pw\r\nSTAT\r\nUIDL\r\nTOP 2 1\r\nDELE 1\r\nRETR 1\r\n");
        auto out = co_await po.until(".\r\n", 3);
        out += co_await po.until("-ERR");
        EXPECT_NE(out.find("TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n"), std::string::npos) << out;
        EXPECT_NE(out.find("+OK Logged in.\r\n+OK 2 "), std::string::npos) << out;
        auto uidvalidity = std::to_string(s->mailbox("alice@org1.test")->at(folder_id::inbox).uid_validity());
        EXPECT_NE(out.find("1 " + uidvalidity + ".1\r\n2 " + uidvalidity + ".2\r\n.\r\n"), std::string::npos) << out;
        // TOP 2 1: the header, the empty line, one body line (dot-stuffing applies).
        EXPECT_NE(out.find("\r\nSubject: two\r\n\r\nb1\r\n.\r\n"), std::string::npos) << out;
        EXPECT_NE(out.find("+OK Marked to be deleted.\r\n-ERR Message is deleted."), std::string::npos) << out;
        co_await po.c.close();   // dropped without QUIT: nothing is deleted
        EXPECT_EQ(s->mailbox("alice@org1.test")->at(folder_id::inbox).size(), 2u);

        auto again = co_await open(s->port("pop3"));
        co_await again.send("USER alice\r\nPASS alice-pw\r\nRETR 2\r\nDELE 1\r\nQUIT\r\n");
        out = co_await again.until("+OK Logging out.");
        EXPECT_NE(out.find("b2\r\n..leading dot\r\n.\r\n"), std::string::npos) << out;
        co_await again.c.close();
        EXPECT_EQ(s->mailbox("alice@org1.test")->at(folder_id::inbox).size(), 1u);
    };
    run(body(&srv));
}

namespace {
task<void> idle_client(builtin::server* s, std::string* log)
{
    auto im = co_await open(s->port("imap"));
    co_await im.send("a LOGIN bob bob-pw\r\nb SELECT INBOX\r\nc IDLE\r\n");
    *log += co_await im.until("+ idling");
    *log += co_await im.until("* 1 EXISTS");
    co_await im.send("DONE\r\nd LOGOUT\r\n");
    *log += co_await im.until("d ");
    co_await im.c.close();
}
task<void> late_delivery(builtin::server* s, std::string* log)
{
    co_await engine::sleep_for(100ms);
    *log += "[deliver]\r\n";
    co_await deliver(s->port("smtp"), "bob@org2.test", sample);
}
task<void> idle_scenario(builtin::server* s, std::string* log)
{
    engine::scope both;
    both.spawn(idle_client(s, log));
    both.spawn(late_delivery(s, log));
    co_await both.join();
}
} // namespace

TEST_F(fixture, IdleWakesUpWhenMailArrives)
{
    std::string log;
    auto start = engine::clock::now();
    run(idle_scenario(&srv, &log));
    EXPECT_LT(engine::clock::now() - start, 3s);
    EXPECT_NE(log.find("+ idling\r\n[deliver]\r\n* 1 EXISTS\r\nc OK Idle completed\r\n"), std::string::npos) << log;
    EXPECT_NE(log.find("d OK"), std::string::npos) << log;
}

TEST_F(fixture, AppendWithSynchronizingAndNonSynchronizingLiterals)
{
    auto body = [](builtin::server* s) -> task<void> {
        auto im = co_await open(s->port("imap"));
        std::string msg = "Subject: draft\r\n\r\nhello\r\n";
        co_await im.send("a LOGIN alice alice-pw\r\nb APPEND Drafts (\\Seen \\Draft) {" + std::to_string(msg.size()) + "}\r\n");
        auto out = co_await im.until("+ ");
        EXPECT_NE(out.find("a OK"), std::string::npos) << out;
        co_await im.send(msg + "\r\nc APPEND \"Sent\" {" + std::to_string(msg.size()) + "+}\r\n" + msg + "\r\n"
            + "d APPEND Nowhere {1+}\r\nx\r\ne STATUS Drafts (MESSAGES UIDNEXT)\r\n");
        out = co_await im.until("e ");
        EXPECT_NE(out.find("b OK [APPENDUID "), std::string::npos) << out;
        EXPECT_NE(out.find(" 1] Append completed\r\nc OK [APPENDUID "), std::string::npos) << out;
        EXPECT_NE(out.find("d NO [TRYCREATE]"), std::string::npos) << out;
        EXPECT_NE(out.find("* STATUS Drafts (MESSAGES 1 UIDNEXT 2)"), std::string::npos) << out;
        co_await im.c.close();
    };
    run(body(&srv));
    ASSERT_EQ(count("alice@org1.test", folder_id::drafts), 1u);
    const auto& m = srv.mailbox("alice@org1.test")->at(folder_id::drafts).messages()[0];
    EXPECT_EQ(m.bytes, "Subject: draft\r\n\r\nhello\r\n");
    EXPECT_EQ(m.flags, builtin::flags::seen | builtin::flags::draft);
    EXPECT_EQ(count("alice@org1.test", folder_id::sent), 1u);
}

TEST_F(fixture, OverlongLinesAreRefusedAndTheConnectionClosed)
{
    auto body = [](builtin::server* s) -> task<void> {
        auto sm = co_await open(s->port("smtp"));
        co_await sm.send("EHLO " + std::string(5000, 'x') + "\r\n");
        auto out = co_await sm.until("500");
        EXPECT_NE(out.find("500 5.5.2 Error: line too long\r\n"), std::string::npos) << out;
        auto r = co_await sm.c.read(engine::after(5s));
        EXPECT_FALSE(r);
        co_await sm.c.close();

        auto im = co_await open(s->port("imap"));
        co_await im.send("a LOGIN alice alice-pw\r\nb APPEND INBOX {999999999}\r\n");
        out = co_await im.until("* BYE");
        EXPECT_NE(out.find("* BYE [LIMIT] Literal too big"), std::string::npos) << out;
        co_await im.c.close();
    };
    run(body(&srv));
}

TEST(ImapTokens, AtomsQuotedLiteralsAndBrackets)
{
    std::string cmd = "a1 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From)] \"q\\\"x\") {3}\r\nabc rest\r\n";
    builtin::imap::tokenizer t(cmd);
    using k = builtin::imap::token::kind;
    std::string scratch;
    EXPECT_EQ(t.next().text, "a1");
    EXPECT_EQ(t.next().text, "UID");
    EXPECT_EQ(t.next().text, "FETCH");
    EXPECT_EQ(t.next().text, "1:*");
    EXPECT_EQ(t.next().what, k::open);
    EXPECT_EQ(t.next().text, "BODY.PEEK[HEADER.FIELDS (From)]");
    auto q = t.next();
    EXPECT_EQ(q.what, k::quoted);
    EXPECT_EQ(builtin::imap::value(q, scratch), "q\"x");
    EXPECT_EQ(t.next().what, k::close);
    auto lit = t.next();
    EXPECT_EQ(lit.what, k::literal);
    EXPECT_EQ(lit.text, "abc");
    EXPECT_EQ(t.next().text, "rest");
    EXPECT_EQ(t.next().what, k::end);

    builtin::imap::tokenizer bad("a {10}\r\nshort\r\n");
    bad.next();
    EXPECT_EQ(bad.next().what, k::error);
    builtin::imap::tokenizer cr("a \"x\ry\"\r\n");
    cr.next();
    EXPECT_EQ(cr.next().what, k::error);
    auto head = builtin::imap::trailing_literal("b APPEND INBOX {12+}");
    ASSERT_TRUE(head);
    EXPECT_EQ(head->size, 12u);
    EXPECT_TRUE(head->non_sync);
    EXPECT_FALSE(builtin::imap::trailing_literal("b LOGIN a {x}"));
}

TEST(BuiltinStore, RefusesBadConfigurations)
{
    auto c = test_config();
    c.domains[0].aliases.push_back({"loop@org1.test", "nowhere@org1.test"});
    auto r = builtin::store::make(c, "h");
    ASSERT_FALSE(r);
    EXPECT_NE(r.err().message.find("nowhere@org1.test"), std::string::npos);
    auto d = test_config();
    d.domains[1].mailboxes.push_back({"carol@org1.test", "", "x", false});
    EXPECT_FALSE(builtin::store::make(d, "h"));
}
