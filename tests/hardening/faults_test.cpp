// Hardening: real probes (probe::run_once) against a built-in server broken on purpose, one
// test per fault mode (docs/HARDENING.md). Byte-level faults sit in a faults::proxy in front
// of a plain-text listener; certificate and delivery faults are built-in server settings.
// Every test asserts that the faulty probe ends within its deadlines, Down (or Warning where
// that is the honest verdict) at the right stage with a clear reason, that the process memory
// stays bounded, and that a healthy probe run at the same time on the same loop is Up.
#include "probe/roundtrip.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "protocols/message/builder.h"
#include "protocols/smtp/session.h"
#include "tools/faults/fault_proxy.h"
#include "tools/server/server.h"
#include "tests/support/fixtures.h"
#include "tests/support/sanitizers.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using engine::stage;
using engine::task;
using probe::status;

using test_support::test_key;
using test_support::inline_secret;

namespace {

builtin::config world_config()
{
    builtin::config c;
    c.hostname = "mx.builtin.test";
    builtin::domain_config org1{"org1.test", {}, {}};
    org1.mailboxes.push_back({"alice@org1.test", "alice", "alice-pw", false});
    org1.mailboxes.push_back({"bob@org1.test", "bob", "bob-pw", false});
    org1.mailboxes.push_back({"sender@org1.test", "sender", "sender-pw", false});
    org1.mailboxes.push_back({"void@org1.test", "void", "void-pw", false});
    org1.mailboxes.push_back({"twice@org1.test", "twice", "twice-pw", false, 2});
    org1.aliases.push_back({"hole@org1.test", "void@org1.test"});
    c.domains = {org1};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"smtp", protocol::smtp, tls_mode::none, "127.0.0.1", 0},
        {"imap", protocol::imap, tls_mode::none, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::none, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
    };
    return c;
}

/// Resident memory of this process in bytes (/proc/self/statm, second field).
std::size_t rss_bytes()
{
    std::ifstream statm("/proc/self/statm");
    std::size_t total = 0;
    std::size_t resident = 0;
    statm >> total >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

using test_support::rss_is_meaningful;

/// The process grew by less than 8 MB since `before` (rss_bytes()).
void expect_bounded_growth(std::size_t before)
{
    if (rss_is_meaningful) {
        EXPECT_LT(rss_bytes(), before + 8 * 1024 * 1024);
    }
}

/// No byte a terminal or a log line would choke on: server words reach results printable.
bool printable(std::string_view s)
{
    for (unsigned char ch : s) {
        if (ch < 0x20 || ch >= 0x7f) {
            return false;
        }
    }
    return true;
}

struct timed_result {
    probe::result r;
    std::chrono::steady_clock::duration took{};
};

class Faults : public ::testing::Test {
protected:
    void SetUp() override { start_server(world_config()); }
    void TearDown() override { std::remove(m_ca.c_str()); }

    void start_server(builtin::config c)
    {
        m_server = std::make_unique<builtin::server>(std::move(c));
        auto r = m_server->start();
        ASSERT_TRUE(r) << r.err().describe();
        m_ca = "/tmp/hardening-faults-test-ca-" + std::to_string(getpid()) + ".pem";
        ASSERT_TRUE(m_server->write_ca_pem(m_ca));
    }

    /// A proxy with fault `f` in front of the listener `name`.
    faults::proxy proxy(const std::string& name, faults::fault f)
    {
        auto p = faults::proxy::start("127.0.0.1", m_server->port(name), std::move(f));
        EXPECT_TRUE(p) << p.err().describe();
        return std::move(*p);
    }

    scenarios::server server(std::string name, scenarios::protocol_kind p, std::uint16_t port,
        scenarios::tls_mode tls = scenarios::tls_mode::none) const
    {
        scenarios::server s;
        s.name = std::move(name);
        s.protocol = p;
        s.host = "127.0.0.1";
        s.port = port;
        s.tls = tls;
        s.ca_file = m_ca;
        s.verify_name = "localhost";
        s.connect_timeout = 1s;
        s.command_timeout = 1s;
        return s;
    }

    /// sender@org1.test submits to `to` on `smtp_port`; `login` fetches on `fetch_port`.
    scenarios::probe_plan plan(std::string name, std::string to, std::string login, std::uint16_t smtp_port,
        std::uint16_t fetch_port, scenarios::protocol_kind proto = scenarios::protocol_kind::imap) const
    {
        scenarios::probe_plan p;
        auto spec = std::make_shared<scenarios::probe>();
        spec->name = std::move(name);
        spec->tenant = "acme";
        spec->topology = 1;
        spec->send_via = "smtp";
        spec->from = "sender@org1.test";
        spec->to = std::move(to);
        spec->fetch = "box";
        spec->deadline = 2s;
        spec->poll = 100ms;
        p.spec = spec;
        p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"acme", ""});
        auto smtp = server("smtp", scenarios::protocol_kind::smtp, smtp_port);
        smtp.auth = scenarios::credential{"sender", inline_secret("sender-pw"), std::nullopt};
        p.send_via = std::make_shared<scenarios::server>(smtp);
        auto box = std::make_shared<scenarios::mailbox>();
        box->name = "box";
        box->address = login + "@org1.test";
        box->login = scenarios::credential{login, inline_secret(login + "-pw"), std::nullopt};
        p.fetch = box;
        p.fetch_server = std::make_shared<scenarios::server>(server(
            proto == scenarios::protocol_kind::imap ? "imap" : "pop3", proto, fetch_port));
        return p;
    }

    /// The probe to alice, sent through `smtp_port` and fetched from `fetch_port`.
    scenarios::probe_plan faulty(std::uint16_t smtp_port, std::uint16_t fetch_port,
        scenarios::protocol_kind proto = scenarios::protocol_kind::imap) const
    {
        return plan("faulty", "alice@org1.test", "alice", smtp_port, fetch_port, proto);
    }

    /// The faulty plan with every port straight to the server, except `port` for the
    /// protocol `broken` (its proxy's).
    scenarios::probe_plan through(scenarios::protocol_kind broken, std::uint16_t port) const
    {
        using scenarios::protocol_kind;
        if (broken == protocol_kind::smtp) {
            return faulty(port, m_server->port("imap"));
        }
        return faulty(m_server->port("smtp"), port, broken);
    }

    static task<void> run_timed(scenarios::probe_plan p, probe::context* ctx, timed_result* out)
    {
        auto before = std::chrono::steady_clock::now();
        out->r = co_await probe::run_once(std::move(p), *ctx);
        out->took = std::chrono::steady_clock::now() - before;
    }

    /// Runs the faulty plan and, at the same time on the same loop, a healthy probe for bob
    /// straight to the server; then the steps `after`, in order, while the server still serves.
    timed_result run(scenarios::probe_plan bad, std::vector<task<void>> after = {})
    {
        timed_result out;
        timed_result good;
        probe::context ctx(test_key());
        auto well = plan("healthy", "bob@org1.test", "bob", m_server->port("smtp"), m_server->port("imap"));
        m_loop.run(serve_both(m_server.get(), run_timed(std::move(bad), &ctx, &out),
            run_timed(std::move(well), &ctx, &good), std::move(after)));
        EXPECT_EQ(good.r.outcome, status::up) << "the healthy probe: " << good.r.reason;
        return out;
    }

    static task<void> serve_both(builtin::server* srv, task<void> a, task<void> b, std::vector<task<void>> after)
    {
        engine::scope server_scope;
        server_scope.spawn(srv->run());
        {
            engine::scope probes;
            probes.spawn(std::move(a));
            probes.spawn(std::move(b));
            co_await probes.join();
        }
        for (auto& step : after) {
            co_await std::move(step);
        }
        srv->stop();
        co_await server_scope.join();
    }

    static task<void> pause(std::chrono::milliseconds d) { co_await engine::sleep_for(d); }

    /// Down at `where`, within `bound`, the reason containing `words`.
    static void expect_down(const timed_result& t, stage where, std::string_view words,
        std::chrono::steady_clock::duration bound = 5s)
    {
        EXPECT_EQ(t.r.outcome, status::down) << t.r.reason;
        EXPECT_EQ(t.r.stage, where) << t.r.reason;
        EXPECT_NE(t.r.reason.find(words), std::string::npos) << t.r.reason;
        EXPECT_LT(t.took, bound);
        EXPECT_TRUE(printable(t.r.reason)) << t.r.reason;
        EXPECT_TRUE(printable(t.r.server_reply)) << t.r.server_reply;
        EXPECT_EQ(t.r.reason.find("-pw"), std::string::npos) << t.r.reason;
    }

    engine::loop m_loop;   // before the server and proxies: they live on this thread's loop
    std::unique_ptr<builtin::server> m_server;
    std::string m_ca;
};

using scenarios::protocol_kind;

TEST_F(Faults, AcceptAndNeverGreetIsDownAtGreetingByTheCommandDeadline)
{
    for (auto proto : {protocol_kind::smtp, protocol_kind::imap, protocol_kind::pop3}) {
        const char* listener = proto == protocol_kind::smtp ? "smtp" : proto == protocol_kind::imap ? "imap" : "pop3";
        auto p = proxy(listener, faults::stall());
        auto t = run(through(proto, p.port()));
        expect_down(t, stage::greeting, "timed out");
        EXPECT_EQ(p.fired(), 1u);
        start_server(world_config());   // a built-in server serves once
    }
}

TEST_F(Faults, GreetThenSilentMidReplyIsDownAtGreeting)
{
    auto p = proxy("smtp", faults::stall_after(7));
    auto t = run(through(protocol_kind::smtp, p.port()));
    expect_down(t, stage::greeting, "timed out");
}

TEST_F(Faults, OneBytePerSecondDoesNotStretchTheDeadline)
{
    auto p = proxy("smtp", faults::drip(1s));
    auto bad = through(protocol_kind::smtp, p.port());
    auto smtp = *bad.send_via;
    smtp.command_timeout = 2500ms;   // two bytes arrive in time, the whole greeting never does
    bad.send_via = std::make_shared<scenarios::server>(smtp);
    auto t = run(bad);
    expect_down(t, stage::greeting, "timed out", 4s);
    EXPECT_GE(t.took, 2500ms);
}

struct reset_case {
    protocol_kind proto;
    const char* trigger;
    stage where;
};

TEST_F(Faults, AResetAtEachStageIsDownAtThatStage)
{
    const reset_case cases[] = {
        {protocol_kind::smtp, "EHLO", stage::greeting},
        {protocol_kind::smtp, "AUTH", stage::auth},
        {protocol_kind::smtp, "X-Mailprobe:", stage::send},   // inside the DATA body
        {protocol_kind::imap, "AUTHENTICATE", stage::auth},
        {protocol_kind::imap, "SELECT", stage::fetch},
        {protocol_kind::imap, "FETCH", stage::fetch},
        {protocol_kind::imap, "EXPUNGE", stage::cleanup},
        {protocol_kind::pop3, "AUTH", stage::auth},
        {protocol_kind::pop3, "TOP", stage::fetch},
        {protocol_kind::pop3, "DELE", stage::cleanup},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.trigger);
        const char* listener = c.proto == protocol_kind::smtp ? "smtp" : c.proto == protocol_kind::imap ? "imap" : "pop3";
        auto p = proxy(listener, faults::reset_on(c.trigger));
        auto t = run(through(c.proto, p.port()));
        expect_down(t, c.where, "reset");
        EXPECT_EQ(p.fired(), 1u);
        start_server(world_config());
    }
}

/// A probe of the same name straight to the server, on a clock an hour ahead: the message
/// the faulty run could not delete is an old leftover to it.
task<void> run_an_hour_later(scenarios::probe_plan p, timed_result* out)
{
    probe::context later(test_key());
    const auto now = std::chrono::system_clock::now() + 1h;
    later.wall_clock_ms = [now] {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
    };
    out->r = co_await probe::run_once(std::move(p), later);
}

TEST_F(Faults, AResetWhileDeletingSaysTheMessageWasDeliveredAndTheNextRunDeletesIt)
{
    const std::pair<protocol_kind, const char*> cases[] = {{protocol_kind::imap, "EXPUNGE"}, {protocol_kind::pop3, "DELE"}};
    for (const auto& [proto, trigger] : cases) {
        SCOPED_TRACE(trigger);
        auto p = proxy(proto == protocol_kind::imap ? "imap" : "pop3", faults::reset_on(trigger));
        timed_result next;
        std::vector<task<void>> after;
        after.push_back(run_an_hour_later(faulty(m_server->port("smtp"), m_server->port(proto == protocol_kind::imap ? "imap" : "pop3"), proto), &next));
        auto t = run(through(proto, p.port()), std::move(after));
        expect_down(t, stage::cleanup, "reset");
        EXPECT_NE(t.r.reason.find("the message was delivered (in "), std::string::npos) << t.r.reason;
        EXPECT_NE(t.r.reason.find("found in INBOX) but deleting it failed"), std::string::npos) << t.r.reason;
        EXPECT_EQ(t.r.folder, "INBOX");
        EXPECT_EQ(next.r.outcome, status::up) << next.r.reason;
        // Both messages gone: this run's and the leftover.
        EXPECT_EQ(m_server->mailbox("alice@org1.test")->at(builtin::folder_id::inbox).size(), 0u);
        start_server(world_config());
    }
}

TEST_F(Faults, AnEndlessLineIsRefusedByTheLineLimitWithBoundedMemory)
{
    // A well-begun greeting whose line never ends: every 1 KB unit starts like a greeting.
    const std::pair<protocol_kind, std::string> cases[] = {
        {protocol_kind::smtp, "220 " + std::string(1020, 'A')},
        {protocol_kind::imap, "* OK " + std::string(1019, 'A')},
        {protocol_kind::pop3, "+OK " + std::string(1020, 'A')},
    };
    for (const auto& [proto, unit] : cases) {
        const char* listener = proto == protocol_kind::smtp ? "smtp" : proto == protocol_kind::imap ? "imap" : "pop3";
        auto p = proxy(listener, faults::flood(unit, 0));
        const auto before = rss_bytes();
        auto t = run(through(proto, p.port()));
        expect_down(t, stage::greeting, "line limit");
        expect_bounded_growth(before);
        start_server(world_config());
    }
}

TEST_F(Faults, AFourGigabyteLiteralIsRefusedWhenAnnounced)
{
    auto p = proxy("imap", faults::send("* 1 FETCH (UID 1 BODY[HEADER] {4294967296}\r\n", "FETCH"));
    const auto before = rss_bytes();
    auto t = run(through(protocol_kind::imap, p.port()));
    expect_down(t, stage::fetch, "literal larger than the literal-size limit");
    expect_bounded_growth(before);
}

TEST_F(Faults, AFloodOfUntaggedResponsesEndsAtTheCommandsBoundLongBeforeItsDeadline)
{
    // 100,000 at SELECT, and an endless stream at UID FETCH (one message asked for).
    const std::pair<std::size_t, const char*> cases[] = {{100'000, "SELECT"}, {0, "FETCH"}};
    for (const auto& [count, trigger] : cases) {
        SCOPED_TRACE(trigger);
        auto p = proxy("imap", faults::flood("* OK [ALERT] still busy\r\n", count, trigger));
        auto bad = through(protocol_kind::imap, p.port());
        auto imap = *bad.fetch_server;
        imap.command_timeout = 20s;   // the bound must end it, not the deadline
        bad.fetch_server = std::make_shared<scenarios::server>(imap);
        const auto before = rss_bytes();
        auto t = run(bad);
        expect_down(t, stage::fetch, "untagged responses to one command; session ended", 3s);
        EXPECT_NE(t.r.reason.find(std::string(trigger == std::string("FETCH") ? "UID FETCH" : "SELECT") + ": more than 10"),
            std::string::npos) << t.r.reason;
        EXPECT_EQ(p.fired(), 1u);
        expect_bounded_growth(before);
        start_server(world_config());
    }
}

TEST_F(Faults, InvalidUtf8AndNulBytesAreRefusedAndNeverReachTheResultRaw)
{
    const std::string junk("\xff\xfe\xc3\x28 caf\xe9 \0 \x1b[31m", 17);
    const std::pair<protocol_kind, std::string> cases[] = {
        {protocol_kind::smtp, "220 " + junk + "\r\n"},
        {protocol_kind::imap, "* OK " + junk + "\r\n"},
        {protocol_kind::pop3, "+OK " + junk + "\r\n"},
    };
    for (const auto& [proto, greeting] : cases) {
        const char* listener = proto == protocol_kind::smtp ? "smtp" : proto == protocol_kind::imap ? "imap" : "pop3";
        auto p = proxy(listener, faults::send(greeting));
        auto t = run(through(proto, p.port()));
        expect_down(t, stage::greeting, "forbidden character");
        start_server(world_config());
    }
}

TEST_F(Faults, ABadTlsRecordInsteadOfAHandshakeIsDownAtTls)
{
    // A handshake record header announcing 65535 bytes, more than TLS allows.
    auto p = proxy("imaps", faults::send(std::string("\x16\x03\x03\xff\xff", 5) + std::string(64, 'x')));
    auto bad = faulty(m_server->port("smtp"), p.port());
    auto imaps = *bad.fetch_server;
    imaps.tls = scenarios::tls_mode::implicit;
    bad.fetch_server = std::make_shared<scenarios::server>(imaps);
    auto t = run(bad);
    // A broken handshake, not a certificate problem: an operator must not go chasing the CA.
    expect_down(t, stage::tls, "");
    EXPECT_EQ(t.r.reason.find("certificate"), std::string::npos) << t.r.reason;
}

TEST_F(Faults, ACertificateThatExpiresMidRunTurnsTheNextProbeDownAtTls)
{
    auto c = world_config();
    c.cert_lifetime = 2s;
    start_server(c);
    auto tls_plan = [this] {
        auto p = faulty(m_server->port("smtp"), m_server->port("imaps"));
        auto imaps = *p.fetch_server;
        imaps.tls = scenarios::tls_mode::implicit;
        p.fetch_server = std::make_shared<scenarios::server>(imaps);
        return p;
    };
    probe::context ctx(test_key());
    timed_result second;
    std::vector<task<void>> after;
    after.push_back(pause(3s));
    after.push_back(run_timed(tls_plan(), &ctx, &second));
    auto first = run(tls_plan(), std::move(after));
    // Still valid: Up, but warned about (it expires in less than 14 days).
    EXPECT_EQ(first.r.outcome, status::warning) << first.r.reason;
    ASSERT_TRUE(first.r.cert_days_left);
    EXPECT_EQ(*first.r.cert_days_left, 0);
    expect_down(second, stage::tls, "expired");
}

TEST_F(Faults, ATemporaryFailureThenSuccessIsDownThenUp)
{
    auto busy = faults::send("421 4.3.2 System busy, try again later\r\n");
    busy.connections = 1;
    auto p = proxy("smtp", busy);
    probe::context ctx(test_key());
    timed_result second;
    std::vector<task<void>> after;
    after.push_back(run_timed(through(protocol_kind::smtp, p.port()), &ctx, &second));
    auto first = run(through(protocol_kind::smtp, p.port()), std::move(after));
    expect_down(first, stage::greeting, "421");
    EXPECT_NE(first.r.server_reply.find("421 4.3.2"), std::string::npos) << first.r.server_reply;
    EXPECT_EQ(second.r.outcome, status::up) << second.r.reason;
    EXPECT_EQ(p.accepted(), 2u);
}

TEST_F(Faults, AcceptedButNeverDeliveredIsDownAtDeliverAtTheDeadline)
{
    auto t = run(plan("faulty", "hole@org1.test", "alice", m_server->port("smtp"), m_server->port("imap")));
    expect_down(t, stage::deliver, "not delivered within 2 s");
    EXPECT_GE(t.took, 2s);
}

TEST_F(Faults, DeliveredTwiceIsAWarning)
{
    auto t = run(plan("faulty", "twice@org1.test", "twice", m_server->port("smtp"), m_server->port("imap")));
    EXPECT_EQ(t.r.outcome, status::warning) << t.r.reason;
    ASSERT_EQ(t.r.warnings.size(), 1u);
    EXPECT_EQ(t.r.warnings[0], "delivered twice");
}

/// Waits until the probe's real message lands in void@ (the hole), then delivers to alice a
/// copy with the same probe id and name, signed with another key.
task<void> forge_when_sent(const builtin::server* srv, scenarios::server smtp)
{
    const auto until = engine::after(5s);
    std::string seen;
    while (seen.empty() && engine::clock::now() < until) {
        for (const auto& m : srv->mailbox("void@org1.test")->at(builtin::folder_id::inbox).messages()) {
            seen = std::string(m.header());
        }
        if (seen.empty()) {
            co_await engine::sleep_for(20ms);
        }
    }
    auto at = seen.find("id=");
    auto id = at == std::string::npos ? std::nullopt : protocols::message::probe_id::parse(std::string_view(seen).substr(at + 3, 36));
    if (!id) {
        ADD_FAILURE() << "no probe id in the swallowed message: " << seen;
        co_return;
    }
    protocols::message::message_spec ms;
    ms.from = "sender@org1.test";
    ms.to = "alice@org1.test";
    ms.probe_name = "faulty";
    ms.id = *id;
    ms.sent_unix_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
    auto forged = protocols::message::build_message(ms, test_key(0x11));
    protocols::smtp::send_request req;
    req.server.host = smtp.host;
    req.server.port = smtp.port;
    req.server.tls = protocols::tls_mode::none;
    req.auth = protocols::credentials{"sender", "sender-pw", protocols::credentials::kind::password};
    req.helo_name = "forger.test";
    req.mail_from = "sender@org1.test";
    req.recipients.push_back("alice@org1.test");
    req.message = std::move(forged.text);
    auto r = co_await protocols::smtp::send(std::move(req), nullptr);
    EXPECT_TRUE(r) << r.err().describe();
}

TEST_F(Faults, AForgedProbeMessageWithTheRightIdButAWrongMacIsNotADelivery)
{
    probe::context ctx(test_key());
    timed_result t;
    auto bad = plan("faulty", "hole@org1.test", "alice", m_server->port("smtp"), m_server->port("imap"));
    auto smtp = *bad.send_via;
    m_loop.run(serve_both(m_server.get(), run_timed(std::move(bad), &ctx, &t), forge_when_sent(m_server.get(), smtp), {}));
    expect_down(t, stage::deliver, "not delivered within 2 s");
    // The forgery is not ours to delete.
    EXPECT_EQ(m_server->mailbox("alice@org1.test")->at(builtin::folder_id::inbox).size(), 1u);
}

} // namespace
