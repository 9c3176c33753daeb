// TLS on loopback with certificates the test makes: a handshake against an independent
// implementation (openssl s_server), the verification failures a monitor must name
// (unknown CA, wrong name, expired), the insecure switch, and STARTTLS in place.
#include "engine/certs.h"
#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "tests/support/child_process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>

using namespace std::chrono_literals;
using engine::connection;
using engine::errc;
using engine::task;

namespace {

struct pki {
    engine::pem_identity ca;
    engine::pem_identity other_ca;
    engine::pem_identity good;      // localhost, 127.0.0.1
    engine::pem_identity expired;
    std::int64_t good_not_after = 0;
};

const pki& test_pki()
{
    static const pki p = [] {
        pki out;
        out.ca = *engine::make_ca("mailprobe test CA");
        out.other_ca = *engine::make_ca("somebody else's CA");
        std::int64_t now = std::time(nullptr);
        out.good_not_after = now + 20 * 86400;
        out.good = *engine::issue_cert(out.ca, {"localhost", {"localhost", "mail.internal.test"}, {"127.0.0.1"}, 0, out.good_not_after});
        out.expired = *engine::issue_cert(out.ca, {"localhost", {"localhost"}, {"127.0.0.1"}, now - 10 * 86400, now - 86400});
        return out;
    }();
    return p;
}

engine::tls_context client_ctx(const test_support::temp_dir& dir, const engine::pem_identity& ca, bool insecure = false)
{
    engine::tls_options o;
    o.ca_file = dir.write("ca-" + std::to_string(std::hash<std::string>{}(ca.cert)) + ".pem", ca.cert);
    o.insecure = insecure;
    auto ctx = engine::tls_context::client(o);
    EXPECT_TRUE(ctx) << ctx.err().describe();
    return *ctx;
}

/// A loopback TLS server on our own engine: accepts one client, handshakes, says hello.
task<void> hello_server(engine::listener* l, engine::tls_context ctx)
{
    auto c = co_await l->accept();
    if (!c) {
        co_return;
    }
    if (co_await c->accept_tls(ctx, engine::after(5s))) {
        (void)co_await c->write("hello\r\n", engine::after(5s));
    }
    (void)co_await c->read(engine::after(5s));   // until the client goes away
    co_await c->close();
}

task<engine::result<engine::tls_info>> connect_tls(std::uint16_t port, engine::tls_context ctx, std::string name)
{
    auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
    if (!c) {
        co_return std::move(c).err();
    }
    auto info = co_await c->start_tls(ctx, name, engine::after(5s));
    co_await c->close();
    co_return info;
}

engine::result<engine::tls_info> handshake_with(const engine::pem_identity& server_id, engine::tls_context client,
    const std::string& name)
{
    engine::loop loop;
    auto server_ctx = engine::tls_context::server(server_id.cert, server_id.key);
    EXPECT_TRUE(server_ctx);
    auto l = engine::listener::bind("127.0.0.1", 0);
    EXPECT_TRUE(l);
    auto body = [](engine::listener* lp, engine::tls_context sctx, engine::tls_context cctx,
                    std::string n) -> task<engine::result<engine::tls_info>> {
        engine::scope s;
        s.spawn(hello_server(lp, std::move(sctx)));
        auto r = co_await connect_tls(lp->port(), std::move(cctx), std::move(n));
        co_await s.join();
        co_return r;
    };
    return loop.run(body(&*l, *server_ctx, std::move(client), name));
}

} // namespace

TEST(Tls, HandshakeWithOpensslServerRecordsVersionCipherAndExpiry)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    std::string cert = dir.write("cert.pem", p.good.cert);
    std::string key = dir.write("key.pem", p.good.key);
    test_support::child_process server({"openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", cert, "-key", key,
        "-www", "-naccept", "1"});
    std::string out = server.wait_for_output("ACCEPT", 10s);
    ASSERT_FALSE(out.empty()) << "openssl s_server did not start: " << server.output();
    auto colon = out.find(':', out.find("ACCEPT"));
    auto port = static_cast<std::uint16_t>(std::stoi(out.substr(colon + 1)));

    engine::loop loop;
    auto body = [](std::uint16_t pt, engine::tls_context ctx) -> task<std::string> {
        auto c = co_await connection::open("127.0.0.1", pt, engine::after(5s));
        if (!c) {
            co_return c.err().describe();
        }
        auto info = co_await c->start_tls(ctx, "localhost", engine::after(5s));
        if (!info) {
            co_return info.err().describe();
        }
        EXPECT_EQ(info->version, "TLSv1.3");
        EXPECT_FALSE(info->cipher.empty());
        EXPECT_TRUE(info->verified);
        EXPECT_FALSE(info->insecure);
        EXPECT_NE(info->cert_subject.find("localhost"), std::string::npos);
        EXPECT_NEAR(static_cast<double>(info->cert_not_after), static_cast<double>(test_pki().good_not_after), 5.0);
        (void)co_await c->write("GET / HTTP/1.0\r\n\r\n", engine::after(5s));
        for (;;) {
            auto r = co_await c->read(engine::after(5s));
            if (!r) {
                EXPECT_EQ(r.err().code, errc::closed) << r.err().describe();
                break;
            }
        }
        std::string response(c->buffered().substr(0, 40));
        co_await c->close();
        co_return response;
    };
    std::string response = loop.run(body(port, client_ctx(dir, p.ca)));
    EXPECT_EQ(response.rfind("HTTP/1.0 200 ok", 0), 0u) << "[" << response << "]";
}

TEST(Tls, OwnServerHandshakeOverIpVerification)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    auto r = handshake_with(p.good, client_ctx(dir, p.ca), "127.0.0.1");
    ASSERT_TRUE(r) << r.err().describe();
    EXPECT_TRUE(r->verified);
}

TEST(Tls, UnknownCaIsATlsStageError)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    auto r = handshake_with(p.good, client_ctx(dir, p.other_ca), "localhost");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, engine::stage::tls);
    EXPECT_EQ(r.err().code, errc::cert_untrusted) << r.err().describe();
}

TEST(Tls, WrongHostnameIsATlsStageError)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    auto r = handshake_with(p.good, client_ctx(dir, p.ca), "mail.external.test");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, engine::stage::tls);
    EXPECT_EQ(r.err().code, errc::cert_name_mismatch) << r.err().describe();
    EXPECT_NE(r.err().message.find("mail.external.test"), std::string::npos);
}

TEST(Tls, ExpiredCertificateIsATlsStageError)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    auto r = handshake_with(p.expired, client_ctx(dir, p.ca), "localhost");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, engine::stage::tls);
    EXPECT_EQ(r.err().code, errc::cert_expired) << r.err().describe();
}

TEST(Tls, InsecureSwitchAcceptsAnythingAndSaysSo)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    auto r = handshake_with(p.expired, client_ctx(dir, p.other_ca, true), "wrong.name.test");
    ASSERT_TRUE(r) << r.err().describe();
    EXPECT_TRUE(r->insecure);
    EXPECT_FALSE(r->verified);
}

TEST(Tls, MissingCaFileIsAClearError)
{
    engine::tls_options o;
    o.ca_file = "/nonexistent/ca.pem";
    auto ctx = engine::tls_context::client(o);
    ASSERT_FALSE(ctx);
    EXPECT_NE(ctx.err().message.find("/nonexistent/ca.pem"), std::string::npos);
}

namespace {

/// A plain-text server that upgrades on "STARTTLS", then echoes one line over TLS.
/// `inject` adds bytes after its go-ahead, as an attacker in the middle would.
task<void> starttls_server(engine::listener* l, engine::tls_context ctx, bool inject)
{
    auto c = co_await l->accept();
    (void)co_await c->write("220 ready\r\n", engine::after(5s));
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (!co_await c->read(engine::after(5s))) {
            co_return;
        }
    }
    c->consume(c->buffered().size());
    (void)co_await c->write(inject ? "220 go ahead\r\n250 injected\r\n" : "220 go ahead\r\n", engine::after(5s));
    if (!co_await c->accept_tls(ctx, engine::after(5s))) {
        co_return;
    }
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (!co_await c->read(engine::after(5s))) {
            co_return;
        }
    }
    std::string line(c->buffered());
    (void)co_await c->write(line, engine::after(5s));
    co_await c->close();
}

task<engine::result<std::string>> starttls_client(std::uint16_t port, engine::tls_context ctx)
{
    auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
    auto until = engine::after(5s);
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return std::move(r).err();
        }
    }
    c->consume(c->buffered().size());
    (void)co_await c->write("STARTTLS\r\n", until);
    // Read only the go-ahead line; anything after it must be refused by start_tls.
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return std::move(r).err();
        }
    }
    c->consume(c->buffered().find('\n') + 1);
    auto info = co_await c->start_tls(ctx, "localhost", until);
    if (!info) {
        co_await c->close();
        co_return std::move(info).err();
    }
    EXPECT_TRUE(c->is_tls());
    (void)co_await c->write("secret line\r\n", until);
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return std::move(r).err();
        }
    }
    std::string echoed(c->buffered());
    co_await c->close();
    co_return echoed;
}

engine::result<std::string> run_starttls(bool inject)
{
    test_support::temp_dir dir;
    const pki& p = test_pki();
    engine::loop loop;
    auto server_ctx = engine::tls_context::server(p.good.cert, p.good.key);
    auto l = engine::listener::bind("127.0.0.1", 0);
    auto body = [](engine::listener* lp, engine::tls_context sctx, engine::tls_context cctx,
                    bool inj) -> task<engine::result<std::string>> {
        engine::scope s;
        s.spawn(starttls_server(lp, std::move(sctx), inj));
        auto r = co_await starttls_client(lp->port(), std::move(cctx));
        co_await s.join();
        co_return r;
    };
    return loop.run(body(&*l, *server_ctx, client_ctx(dir, p.ca), inject));
}

} // namespace

TEST(Tls, StarttlsUpgradesALivePlainConnection)
{
    auto r = run_starttls(false);
    ASSERT_TRUE(r) << r.err().describe();
    EXPECT_EQ(*r, "secret line\r\n");
}

TEST(Tls, StarttlsRefusesPlaintextInjectedBeforeTheHandshake)
{
    auto r = run_starttls(true);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, engine::stage::tls);
    EXPECT_EQ(r.err().code, errc::protocol);
}
