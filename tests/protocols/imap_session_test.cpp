// imap::session against scripted loopback servers replaying what Dovecot, Gmail and Exchange
// say: STARTTLS and implicit TLS, AUTHENTICATE PLAIN / XOAUTH2 / OAUTHBEARER (with their error
// continuations) / LOGIN, LIST with special-use and localized junk names, SELECT, SEARCH, FETCH with literals
// (also split across reads), delete with and without UIDPLUS, IDLE, APPEND with a
// synchronizing literal, and the failures: BYE greeting, refused login, LOGINDISABLED, no
// STARTTLS, a silent server. Each client returns a summary string compared as a whole.
#include "protocols/imap/session.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "protocols/imap/responses.h"
#include "protocols/common/sasl.h"
#include "tests/support/script_peer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using engine::task;
using protocols::credentials;
using protocols::endpoint;
using protocols::tls_mode;
using protocols::transcript;
using protocols::imap::session;
using test_support::script_outcome;
using test_support::script_step;
using step = script_step;

namespace {

task<void> play_into(engine::listener* l, std::vector<script_step> steps, std::optional<engine::tls_context> tls,
    bool implicit, script_outcome* out)
{
    *out = co_await test_support::play_script(l, std::move(steps), std::move(tls), implicit);
}

task<std::string> alongside(engine::listener* l, std::vector<script_step> steps, bool implicit, script_outcome* out,
    task<std::string> client)
{
    engine::scope s;
    s.spawn(play_into(l, std::move(steps), test_support::loopback_tls().server, implicit, out));
    std::string v = co_await std::move(client);
    co_await s.join();
    co_return v;
}

struct harness {
    engine::loop loop;
    engine::listener listener = std::move(*engine::listener::bind("127.0.0.1", 0));
    transcript log;
    script_outcome outcome;

    endpoint ep(tls_mode mode, std::chrono::milliseconds command_timeout = 5s)
    {
        endpoint e;
        e.host = "127.0.0.1";
        e.port = listener.port();
        e.tls = mode;
        e.tls_context = test_support::loopback_tls().client;
        e.command_timeout = command_timeout;
        return e;
    }

    template <class Client>
    std::string run(std::vector<script_step> steps, endpoint e, Client client, bool implicit = false)
    {
        return loop.run(alongside(&listener, std::move(steps), implicit, &outcome, client(std::move(e), &log)));
    }
};

credentials password(std::string user, std::string secret)
{
    return credentials{std::move(user), std::move(secret), credentials::kind::password};
}

std::string mailboxes(const std::vector<protocols::imap::mailbox_info>& list)
{
    std::string out;
    for (const auto& m : list) {
        out += m.name;
        if (m.attributes & protocols::imap::attr_junk) {
            out += "[junk]";
        }
        out += '|';
    }
    if (auto j = protocols::imap::find_junk_folder(list)) {
        out += "junk=" + list[*j].name;
    }
    return out;
}

std::string numbers(const std::vector<std::uint32_t>& v)
{
    std::string out;
    for (auto n : v) {
        out += (out.empty() ? "" : ",") + std::to_string(n);
    }
    return out;
}

// ---- Dovecot over STARTTLS: the whole probe path

const char* const dovecot_caps_pre =
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] "
    "Dovecot ready.\r\n";

std::vector<script_step> dovecot_script()
{
    return {
        step::send(dovecot_caps_pre),
        step::expect("A0001 STARTTLS"),
        step::send("A0001 OK Begin TLS negotiation now.\r\n"),
        step::starttls(),
        step::expect("A0002 CAPABILITY"),
        step::send("* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN\r\n"
                   "A0002 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"),
        step::expect("A0003 AUTHENTICATE PLAIN *"),
        step::send("A0003 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES "
                   "MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC "
                   "ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SPECIAL-USE LITERAL+] "
                   "Logged in\r\n"),
        step::expect("A0004 LIST \"\" \"*\" RETURN (SPECIAL-USE)"),
        step::send("* LIST (\\HasNoChildren) \".\" INBOX\r\n"
                   "* LIST (\\HasNoChildren \\Junk) \".\" Junk\r\n"
                   "* LIST (\\HasNoChildren \\Sent) \".\" \"&AMk-l&AOk-ments envoy&AOk-s\"\r\n"
                   "A0004 OK List completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0005 SELECT Junk"),
        step::send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
                   "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n"
                   "* 2 EXISTS\r\n"
                   "* 0 RECENT\r\n"
                   "* OK [UIDVALIDITY 1712345678] UIDs valid\r\n"
                   "* OK [UIDNEXT 9] Predicted next UID\r\n"
                   "A0005 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0006 UID SEARCH HEADER X-Mailprobe-Id 0190aa55"),
        step::send("* SEARCH 7 8\r\nA0006 OK Search completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0007 UID FETCH 7:8 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"),
        step::send("* 1 FETCH (UID 7 INTERNALDATE \"17-Jul-2024 02:44:25 +0000\" RFC822.SIZE 120 "
                   "BODY[HEADER] {30}\r\nSubject: hello\r\nX-Probe: 1\r\n\r\n)\r\n"
                   "* 2 FETCH (UID 8 INTERNALDATE \"17-Jul-2024 02:45:00 +0000\" RFC822.SIZE 99 "
                   "BODY[HEADER] \"Subject: q\\\"\")\r\n"
                   "A0007 OK Fetch completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0008 UID STORE 7:8 +FLAGS.SILENT (\\Deleted)"),
        step::send("A0008 OK Store completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0009 UID EXPUNGE 7:8"),
        step::send("* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nA0009 OK Expunge completed (0.001 + 0.000 secs).\r\n"),
        step::expect("A0010 LOGOUT"),
        step::send("* BYE Logging out\r\nA0010 OK Logout completed (0.001 + 0.000 secs).\r\n"),
    };
}

task<std::string> dovecot_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    std::string out = s->tls_info() ? "tls " : "plain ";
    if (auto r = co_await s->login(password("probe@internal.test", "probe-internal-pw")); !r) {
        co_return out + "login: " + r.err().describe();
    }
    out += s->has_capability("UIDPLUS") ? "uidplus " : "";
    auto list = co_await s->list();
    if (!list) {
        co_return out + "list: " + list.err().describe();
    }
    out += mailboxes(*list) + " ";
    auto sel = co_await s->select(std::string("Junk"));
    if (!sel) {
        co_return out + "select: " + sel.err().describe();
    }
    out += "exists=" + std::to_string(sel->exists) + " uidvalidity=" + std::to_string(sel->uidvalidity) +
        " uidnext=" + std::to_string(sel->uidnext) + (sel->read_only ? " ro " : " rw ");
    auto uids = co_await s->uid_search_header(std::string("X-Mailprobe-Id"), std::string("0190aa55"));
    if (!uids) {
        co_return out + "search: " + uids.err().describe();
    }
    out += "uids=" + numbers(*uids) + " ";
    auto msgs = co_await s->uid_fetch_headers(*uids);
    if (!msgs) {
        co_return out + "fetch: " + msgs.err().describe();
    }
    for (const auto& m : *msgs) {
        out += std::to_string(m.uid) + "/" + m.internal_date + "/" + std::to_string(m.size) + "/[" + m.section + "] ";
    }
    if (auto d = co_await s->uid_delete(*uids); !d) {
        co_return out + "delete: " + d.err().describe();
    }
    out += "exists=" + std::to_string(s->exists());
    co_await s->logout();
    co_return out;
}

TEST(imap_session, dovecot_starttls_plain_list_select_search_fetch_delete)
{
    harness h;
    std::string got = h.run(dovecot_script(), h.ep(tls_mode::starttls), dovecot_client);
    EXPECT_EQ(got,
        "tls uidplus INBOX|Junk[junk]|\xC3\x89l\xC3\xA9ments envoy\xC3\xA9s|junk=Junk "
        "exists=2 uidvalidity=1712345678 uidnext=9 rw uids=7,8 "
        "7/17-Jul-2024 02:44:25 +0000/120/[Subject: hello\r\nX-Probe: 1\r\n\r\n] "
        "8/17-Jul-2024 02:45:00 +0000/99/[Subject: q\"] exists=0");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    // The SASL PLAIN response carries the password: only its length may be logged.
    EXPECT_NE(h.log.text().find("A0003 AUTHENTICATE PLAIN <redacted"), std::string::npos) << h.log.text();
    EXPECT_EQ(h.log.text().find("AHByb2Jl"), std::string::npos);
    EXPECT_NE(h.log.text().find("TLS established"), std::string::npos);
}

// ---- Gmail: implicit TLS, no capabilities in the greeting, XOAUTH2 with SASL-IR

const char* const gmail_caps =
    "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR "
    "AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH\r\n";

task<std::string> gmail_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    credentials token{"probe@gmail.example", "ya29.token", credentials::kind::oauth2_token};
    if (auto r = co_await s->login(std::move(token)); !r) {
        std::string failed = "login: " + r.err().describe();
        co_await s->logout();
        co_return failed;
    }
    auto list = co_await s->list();
    if (!list) {
        co_return "list: " + list.err().describe();
    }
    std::string out = mailboxes(*list);
    co_await s->logout();
    co_return out;
}

TEST(imap_session, gmail_implicit_tls_xoauth2_spam_folder)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK Gimap ready for requests from 127.0.0.1 a1mb12345678\r\n"),
        step::expect("A0001 CAPABILITY"),
        step::send(std::string(gmail_caps) + "A0001 OK Thats all she wrote! a1mb12345678\r\n"),
        step::expect("A0002 AUTHENTICATE XOAUTH2 *"),
        step::send("A0002 OK probe@gmail.example authenticated (Success)\r\n"),
        step::expect("A0003 CAPABILITY"),
        step::send("* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "
                   "COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS "
                   "LITERAL- SPECIAL-USE APPENDLIMIT=35651584\r\nA0003 OK Success\r\n"),
        step::expect("A0004 LIST \"\" \"*\" RETURN (SPECIAL-USE)"),
        step::send("* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
                   "* LIST (\\HasChildren \\Noselect) \"/\" \"[Gmail]\"\r\n"
                   "* LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"\r\n"
                   "* LIST (\\HasNoChildren \\Junk) \"/\" \"[Gmail]/Spam\"\r\n"
                   "A0004 OK Success\r\n"),
        step::expect("A0005 LOGOUT"),
        step::send("* BYE LOGOUT Requested\r\nA0005 OK 73 good day (Success)\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::implicit), gmail_client, true),
        "INBOX|[Gmail]|[Gmail]/All Mail|[Gmail]/Spam[junk]|junk=[Gmail]/Spam");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    EXPECT_EQ(h.log.text().find("ya29"), std::string::npos);
    EXPECT_EQ(h.log.text().find("dXNlcj1wcm9iZ"), std::string::npos);   // base64 of "user=probe"
}

TEST(imap_session, xoauth2_error_continuation_is_answered_and_quoted)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK Gimap ready\r\n"),
        step::expect("A0001 CAPABILITY"),
        step::send(std::string(gmail_caps) + "A0001 OK Thats all she wrote!\r\n"),
        step::expect("A0002 AUTHENTICATE XOAUTH2 *"),
        step::send("+ eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"),
        step::expect(""),
        step::send("A0002 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)\r\n"),
        step::expect("A0003 LOGOUT"),
        step::send("* BYE bye\r\nA0003 OK done\r\n"),
    };
    std::string got = h.run(steps, h.ep(tls_mode::implicit), gmail_client, true);
    EXPECT_EQ(got, "login: auth: auth_failed: AUTHENTICATE XOAUTH2: NO [AUTHENTICATIONFAILED] Invalid credentials "
                   "(Failure) ({\"status\":\"400\",\"schemes\":\"Bearer\",\"scope\":\"https://mail.google.com/\"})");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    EXPECT_NE(h.log.text().find("> \n"), std::string::npos) << h.log.text();   // the empty answer
}

// ---- A server with OAUTHBEARER (RFC 7628) and no XOAUTH2

task<std::string> token_login_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    credentials token{"probe@example.org", "ya29.token", credentials::kind::oauth2_token};
    auto r = co_await s->login(std::move(token));
    std::string out = r ? "logged in" : "login: " + r.err().describe();
    co_await s->logout();
    co_return out;
}

std::string decoded_line(const script_outcome& o, std::size_t i)
{
    if (i >= o.received.size()) {
        return "(no line " + std::to_string(i) + ")";
    }
    auto d = protocols::sasl::base64_decode(o.received[i]);
    return d.ok() ? d.value : "(bad base64: " + o.received[i] + ")";
}

TEST(imap_session, oauthbearer_without_sasl_ir_when_xoauth2_is_not_offered)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=OAUTHBEARER] ready\r\n"),
        step::expect("A0001 AUTHENTICATE OAUTHBEARER"),
        step::send("+ \r\n"),
        step::expect("*"),
        step::send("A0001 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"),
        step::expect("A0002 LOGOUT"),
        step::send("* BYE bye\r\nA0002 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), token_login_client), "logged in");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    const std::string m = decoded_line(h.outcome, 1);
    EXPECT_EQ(m, "n,a=probe@example.org,\x01host=127.0.0.1\x01port=" + std::to_string(h.listener.port())
            + "\x01" "auth=Bearer ya29.token\x01\x01");
    EXPECT_EQ(h.log.text().find("ya29"), std::string::npos) << h.log.text();
    EXPECT_EQ(h.log.text().find(h.outcome.received.size() > 1 ? h.outcome.received[1] : "?"), std::string::npos)
        << h.log.text();
}

TEST(imap_session, oauthbearer_error_is_answered_with_ctrl_a_and_quoted)
{
    harness h;
    const std::string json = R"({"status":"invalid_token","scope":"mail"})";
    std::vector<script_step> steps{
        step::send("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=OAUTHBEARER] ready\r\n"),
        step::expect("A0001 AUTHENTICATE OAUTHBEARER *"),
        step::send("+ " + protocols::sasl::base64_encode(json) + "\r\n"),
        step::expect("AQ=="),   // RFC 7628 3.2.3: a single ^A
        step::send("A0001 NO [AUTHENTICATIONFAILED] Authentication failed\r\n"),
        step::expect("A0002 LOGOUT"),
        step::send("* BYE bye\r\nA0002 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), token_login_client),
        "login: auth: auth_failed: AUTHENTICATE OAUTHBEARER: NO [AUTHENTICATIONFAILED] Authentication failed (" + json + ")");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    EXPECT_EQ(h.log.text().find("ya29"), std::string::npos) << h.log.text();
}

TEST(imap_session, token_refused_without_a_bearer_mechanism)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"),
        step::expect("A0001 LOGOUT"),
        step::send("* BYE bye\r\nA0001 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), token_login_client),
        "login: auth: rejected: server offers neither AUTH=XOAUTH2 nor AUTH=OAUTHBEARER for a token");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

// ---- Exchange: no UIDPLUS, no SPECIAL-USE, "Junk Email", PLAIN without SASL-IR

std::vector<script_step> exchange_login()
{
    return {
        step::send("* OK The Microsoft Exchange IMAP4 service is ready. [TQBXADQAUABSADAAMQ==]\r\n"),
        step::expect("A0001 CAPABILITY"),
        step::send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 MOVE ID UNSELECT CHILDREN IDLE "
                   "NAMESPACE\r\nA0001 OK CAPABILITY completed.\r\n"),
        step::expect("A0002 AUTHENTICATE PLAIN"),
        step::send("+ \r\n"),
        step::expect("*"),
        step::send("A0002 OK AUTHENTICATE completed.\r\n"),
        step::expect("A0003 CAPABILITY"),
        step::send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 MOVE ID UNSELECT CHILDREN IDLE "
                   "NAMESPACE\r\nA0003 OK CAPABILITY completed.\r\n"),
        step::expect("A0004 LIST \"\" *"),
        step::send("* LIST (\\Marked \\HasNoChildren) \"/\" INBOX\r\n"
                   "* LIST (\\HasNoChildren) \"/\" \"Junk Email\"\r\n"
                   "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n"
                   "A0004 OK LIST completed.\r\n"),
        step::expect("A0005 SELECT \"Junk Email\""),
        step::send("* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)\r\n"
                   "* OK [UIDVALIDITY 14] UIDVALIDITY value\r\n* OK [UIDNEXT 13] The next unique identifier value\r\n"
                   "A0005 OK [READ-WRITE] SELECT completed.\r\n"),
        step::expect("A0006 APPEND \"Junk Email\" {18}"),
        step::send("+ Ready for additional command text.\r\n"),
        step::expect("Subject: probe"),
        step::expect(""),
        step::expect(""),
        step::send("* 4 EXISTS\r\nA0006 OK APPEND completed.\r\n"),
        step::expect("A0007 UID STORE 12 +FLAGS.SILENT (\\Deleted)"),
        step::send("A0007 OK STORE completed.\r\n"),
        step::expect("A0008 UID SEARCH DELETED"),
    };
}

task<std::string> exchange_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    if (auto r = co_await s->login(password("probe@contoso.example", "pw")); !r) {
        co_return "login: " + r.err().describe();
    }
    auto list = co_await s->list();
    if (!list) {
        co_return "list: " + list.err().describe();
    }
    auto junk = protocols::imap::find_junk_folder(*list);
    if (!junk) {
        co_return "no junk folder";
    }
    auto sel = co_await s->select((*list)[*junk].name);
    if (!sel) {
        co_return "select: " + sel.err().describe();
    }
    if (auto a = co_await s->append((*list)[*junk].name, std::string("Subject: probe\r\n\r\n")); !a) {
        co_return "append: " + a.err().describe();
    }
    std::string out = "exists=" + std::to_string(s->exists()) + " ";
    std::vector<std::uint32_t> ours(1, 12);
    auto d = co_await s->uid_delete(std::move(ours));
    out += d ? "deleted" : d.err().describe();
    out += " exists=" + std::to_string(s->exists());
    co_await s->logout();
    co_return out;
}

TEST(imap_session, exchange_without_uidplus_expunges_when_only_ours_are_deleted)
{
    harness h;
    auto steps = exchange_login();
    steps.push_back(step::send("* SEARCH 12\r\nA0008 OK SEARCH completed.\r\n"));
    steps.push_back(step::expect("A0009 EXPUNGE"));
    steps.push_back(step::send("* 4 EXPUNGE\r\nA0009 OK EXPUNGE completed.\r\n"));
    steps.push_back(step::expect("A0010 LOGOUT"));
    steps.push_back(step::send("* BYE Microsoft Exchange Server IMAP4 server signing off.\r\nA0010 OK LOGOUT completed.\r\n"));
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), exchange_client), "exists=4 deleted exists=3");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    EXPECT_NE(h.log.text().find("A0006 APPEND \"Junk Email\" {18}"), std::string::npos) << h.log.text();
}

TEST(imap_session, exchange_without_uidplus_leaves_flagged_when_others_are_deleted)
{
    harness h;
    auto steps = exchange_login();
    steps.push_back(step::send("* SEARCH 5 12\r\nA0008 OK SEARCH completed.\r\n"));
    steps.push_back(step::expect("A0009 LOGOUT"));
    steps.push_back(step::send("* BYE signing off.\r\nA0009 OK LOGOUT completed.\r\n"));
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), exchange_client),
        "exists=4 cleanup: rejected: left 12 flagged \\Deleted: the server lacks UIDPLUS and other messages "
        "(UIDs 5) are flagged \\Deleted too, which EXPUNGE would remove exists=4");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

// ---- failures

task<std::string> login_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        auto err = std::move(s).err();
        co_return (err.transient ? "transient " : "") + err.describe();
    }
    auto r = co_await s->login(password("probe@internal.test", "s3cret pass"));
    co_await s->logout();
    co_return r ? "ok" : r.err().describe();
}

TEST(imap_session, bye_greeting_is_a_transient_greeting_error)
{
    harness h;
    std::vector<script_step> steps{step::send("* BYE Too many connections from your IP\r\n"), step::close()};
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), login_client),
        "transient greeting: rejected: server refused the session: BYE Too many connections from your IP");
}

TEST(imap_session, login_refused_with_authenticationfailed)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n"),
        step::expect("A0001 LOGIN probe@internal.test \"s3cret pass\""),
        step::send("A0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
        step::expect("A0002 LOGOUT"),
        step::send("* BYE bye\r\nA0002 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), login_client),
        "auth: auth_failed: LOGIN: NO [AUTHENTICATIONFAILED] Authentication failed.");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
    EXPECT_NE(h.log.text().find("A0001 LOGIN <redacted"), std::string::npos) << h.log.text();
    EXPECT_EQ(h.log.text().find("s3cret"), std::string::npos);
}

TEST(imap_session, logindisabled_without_plain_sends_no_password)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n"),
        step::expect("A0001 LOGOUT"),
        step::send("* BYE bye\r\nA0001 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), login_client),
        "auth: rejected: server says LOGINDISABLED and offers no AUTH=PLAIN (TLS required?)");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

TEST(imap_session, starttls_required_but_not_offered)
{
    harness h;
    std::vector<script_step> steps{step::send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")};
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::starttls), login_client),
        "tls: rejected: server does not offer STARTTLS");
}

task<std::string> fetch_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    auto sel = co_await s->select(std::string("INBOX"));
    if (!sel) {
        co_return "select: " + sel.err().describe();
    }
    std::vector<std::uint32_t> wanted(1, 3);
    auto msgs = co_await s->uid_fetch_headers(std::move(wanted));
    if (!msgs) {
        co_return "fetch: " + msgs.err().describe();
    }
    std::string out;
    for (const auto& m : *msgs) {
        out += std::to_string(m.uid) + ":[" + m.section + "]";
    }
    co_await s->logout();
    co_return out;
}

TEST(imap_session, literal_split_across_reads_and_unsolicited_fetch)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1] logged in as probe\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::send("* 1 EXISTS\r\nA0001 OK [READ-ONLY] done\r\n"),
        step::expect("A0002 UID FETCH 3 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"),
        step::send("* 1 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (UID 3 RFC822.SIZE 10 BODY[HEADER] {14}\r\nSubj"),
        step::pause(30),
        step::send("ect: a\r\n"),
        step::pause(30),
        step::send("\r\n"),
        step::pause(30),
        step::send(" INTERNALDATE \"01-Jan-2024 00:00:00 +0000\")\r\nA0002 OK done\r\n"),
        step::expect("A0003 LOGOUT"),
        step::send("A0003 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), fetch_client), "3:[Subject: a\r\n\r\n]");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

std::string repeated(std::string_view unit, std::size_t n)
{
    std::string out;
    out.reserve(unit.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += unit;
    }
    return out;
}

TEST(imap_session, another_client_expunging_a_big_mailbox_is_not_a_flood)
{
    // 25,000 unsolicited EXPUNGEs: more than the base bound, fewer than the messages there were.
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1] logged in as probe\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::send("* 30000 EXISTS\r\nA0001 OK [READ-WRITE] done\r\n"),
        step::expect("A0002 UID FETCH 3 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"),
        step::send(repeated("* 1 EXPUNGE\r\n", 25'000)
            + "* 1 FETCH (UID 3 RFC822.SIZE 10 BODY[HEADER] {14}\r\nSubject: a\r\n\r\n)\r\nA0002 OK done\r\n"),
        step::expect("A0003 LOGOUT"),
        step::send("A0003 OK done\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), fetch_client), "3:[Subject: a\r\n\r\n]");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

TEST(imap_session, an_untagged_flood_ends_the_session_naming_the_command_and_its_bound)
{
    // The bound of a UID FETCH of one message in a mailbox of one: 10,000 + 1 + 1.
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1] logged in as probe\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::send("* 1 EXISTS\r\nA0001 OK [READ-WRITE] done\r\n"),
        step::expect("A0002 UID FETCH 3 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])"),
        step::send(repeated("* OK still busy\r\n", 10'003)),
        step::pause(200),
    };
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none, 20s), fetch_client),
        "fetch: fetch: protocol: UID FETCH: more than 10002 untagged responses to one command; session ended");
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
}

TEST(imap_session, silent_server_times_out_at_the_fetch_stage)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::pause(1500),
    };
    std::string got = h.run(steps, h.ep(tls_mode::none, 200ms), fetch_client);
    EXPECT_EQ(got.rfind("select: fetch: timed_out: SELECT: ", 0), 0u) << got;
}

TEST(imap_session, bye_mid_command_is_an_error_of_that_stage)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::send("* BYE Server shutting down.\r\n"),
        step::close(),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), fetch_client),
        "select: fetch: rejected: server ended the session: BYE Server shutting down.");
}

// ---- IDLE

task<std::string> idle_client(endpoint e, transcript* log)
{
    auto s = co_await session::connect(std::move(e), log);
    if (!s) {
        co_return "connect: " + s.err().describe();
    }
    if (auto sel = co_await s->select(std::string("INBOX")); !sel) {
        co_return "select: " + sel.err().describe();
    }
    auto first = co_await s->idle(engine::after(5s));
    if (!first) {
        co_return "idle: " + first.err().describe();
    }
    auto second = co_await s->idle(engine::after(150ms));
    std::string out = std::string(*first ? "new" : "none") + " " +
        (second ? (*second ? "new" : "none") : second.err().describe());
    co_await s->logout();
    co_return out;
}

TEST(imap_session, idle_reports_new_mail_then_the_deadline)
{
    harness h;
    std::vector<script_step> steps{
        step::send("* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"),
        step::expect("A0001 SELECT INBOX"),
        step::send("* 2 EXISTS\r\nA0001 OK [READ-WRITE] done\r\n"),
        step::expect("A0002 IDLE"),
        step::send("+ idling\r\n"),
        step::pause(50),
        step::send("* 1 EXPUNGE\r\n* 1 EXISTS\r\n"),   // a confirmation after an expunge: no new mail
        step::pause(50),
        step::send("* 2 EXISTS\r\n"),
        step::expect("DONE"),
        step::send("A0002 OK Idle completed.\r\n"),
        step::expect("A0003 IDLE"),
        step::send("+ idling\r\n"),
        // The deadline passes in silence: the client ends IDLE and the session lives on.
        step::expect("DONE"),
        step::send("A0003 OK Idle completed.\r\n"),
        step::expect("A0004 LOGOUT"),
        step::send("* BYE Logging out\r\nA0004 OK Logout completed.\r\n"),
    };
    EXPECT_EQ(h.run(steps, h.ep(tls_mode::none), idle_client), "new none");
    EXPECT_TRUE(h.outcome.completed) << h.outcome.mismatch;
}

} // namespace
