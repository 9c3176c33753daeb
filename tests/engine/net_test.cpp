// TCP connections on loopback: echo, deadlines on a silent peer, cancellation closing the
// socket, refused connections, static hosts, and 1,000 concurrent connections on one loop.
#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <string>

using namespace std::chrono_literals;
using engine::connection;
using engine::errc;
using engine::task;

namespace {

/// Reads until the buffer holds a full line; returns it (and consumes it).
task<engine::result<std::string>> read_line(connection& c, engine::deadline until)
{
    for (;;) {
        auto data = c.buffered();
        if (auto nl = data.find('\n'); nl != std::string_view::npos) {
            std::string line(data.substr(0, nl + 1));
            c.consume(nl + 1);
            co_return line;
        }
        auto r = co_await c.read(until);
        if (!r) {
            co_return std::move(r).err();
        }
    }
}

/// Echoes lines back until the client goes away.
task<void> echo_session(connection c)
{
    for (;;) {
        auto line = co_await read_line(c, engine::after(10s));
        if (!line || !co_await c.write(*line, engine::after(10s))) {
            break;
        }
    }
    co_await c.close();
}

/// Accepts `count` clients and echoes for each.
task<void> echo_server(engine::listener* l, int count)
{
    engine::scope s;
    for (int i = 0; i < count; ++i) {
        auto c = co_await l->accept();
        if (!c) {
            break;
        }
        s.spawn(echo_session(std::move(*c)));
    }
    co_await s.join();
}

} // namespace

TEST(Tcp, EchoesOverLoopback)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto client = [](std::uint16_t port) -> task<std::string> {
        auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
        EXPECT_TRUE(c) << c.err().describe();
        std::string_view parts[] = {"hel", "lo ", "world\n"};
        EXPECT_TRUE(co_await c->write(parts, engine::after(5s)));
        auto line = co_await read_line(*c, engine::after(5s));
        co_await c->close();
        co_return line ? *line : line.err().describe();
    };
    auto body = [](engine::listener* lp, decltype(client) cl) -> task<std::string> {
        engine::scope s;
        s.spawn(echo_server(lp, 1));
        auto out = co_await cl(lp->port());
        co_await s.join();
        co_return out;
    };
    EXPECT_EQ(loop.run(body(&*l, client)), "hello world\n");
}

TEST(Tcp, DeadlineExpiresOnASilentPeer)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto body = [](engine::listener* lp) -> task<engine::result<std::size_t>> {
        auto c = co_await connection::open("127.0.0.1", lp->port(), engine::after(5s));
        auto held = co_await lp->accept();   // accepted, and never answered
        auto r = co_await c->read(engine::after(150ms));
        EXPECT_FALSE(c->is_open());
        auto again = co_await c->read(engine::after(5s));   // broken: fails at once, same error
        EXPECT_FALSE(again);
        co_return r;
    };
    auto start = engine::clock::now();
    auto r = loop.run(body(&*l));
    auto took = engine::clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().code, errc::timed_out);
    EXPECT_GE(took, 140ms);
    EXPECT_LT(took, 3s);
}

TEST(Tcp, AWaitThatTimesOutKeepsTheConnection)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto body = [](engine::listener* lp) -> task<std::string> {
        engine::scope s;
        s.spawn(echo_server(lp, 1));
        auto c = co_await connection::open("127.0.0.1", lp->port(), engine::after(5s));
        auto quiet = co_await c->wait(engine::after(50ms));   // the echo peer says nothing yet
        EXPECT_FALSE(quiet);
        EXPECT_EQ(quiet.err().code, errc::timed_out);
        EXPECT_TRUE(c->is_open());
        (void)co_await c->write("still here\n", engine::after(5s));
        auto line = co_await read_line(*c, engine::after(5s));
        co_await c->close();
        co_await s.join();
        co_return line ? *line : line.err().describe();
    };
    EXPECT_EQ(loop.run(body(&*l)), "still here\n");
}

TEST(Tcp, CancellationMidReadClosesTheSocket)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    struct outcome {
        engine::error client;
        engine::error server;
    } out;
    auto client = [](std::uint16_t port, outcome* o) -> task<void> {
        auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
        auto r = co_await c->read(engine::after(60s));
        o->client = r ? engine::error{} : r.err();
    };
    auto server = [](engine::listener* lp, outcome* o) -> task<void> {
        auto c = co_await lp->accept();
        auto r = co_await c->read(engine::after(10s));   // the client's close ends this
        o->server = r ? engine::error{} : r.err();
    };
    auto body = [](engine::listener* lp, outcome* o, decltype(client) cl, decltype(server) sv) -> task<void> {
        engine::scope outer;
        engine::scope inner;
        outer.spawn(sv(lp, o));
        inner.spawn(cl(lp->port(), o));
        co_await engine::sleep_for(50ms);
        inner.request_stop();
        co_await inner.join();
        co_await outer.join();
    };
    auto start = engine::clock::now();
    loop.run(body(&*l, &out, client, server));
    EXPECT_LT(engine::clock::now() - start, 5s);
    EXPECT_EQ(out.client.code, errc::cancelled);
    EXPECT_EQ(out.server.code, errc::closed) << out.server.describe();
}

TEST(Tcp, RefusedConnectionFailsAtTheConnectStage)
{
    engine::loop loop;
    std::uint16_t port = 0;
    {
        auto l = engine::listener::bind("127.0.0.1", 0);
        ASSERT_TRUE(l);
        port = l->port();
    }
    loop.run([]() -> task<void> { co_await engine::sleep_for(1ms); }());   // let the listener's close complete
    auto r = loop.run(connection::open("127.0.0.1", port, engine::after(5s)));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.err().where, engine::stage::connect);
    EXPECT_EQ(r.err().code, errc::refused);
    EXPECT_TRUE(r.err().transient);
}

TEST(Tcp, StaticHostsAndIpv6Literals)
{
    engine::loop loop;
    loop.add_host("mail.internal.test", "127.0.0.1");
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto body = [](std::uint16_t port) -> task<std::string> {
        auto c = co_await connection::open("mail.internal.test", port, engine::after(5s));
        co_return c ? c->peer() : c.err().describe();
    };
    EXPECT_EQ(loop.run(body(l->port())), "127.0.0.1:" + std::to_string(l->port()));

    auto v6 = engine::listener::bind("::1", 0);
    if (!v6) {
        GTEST_SKIP() << "no IPv6 loopback here: " << v6.err().describe();
    }
    auto body6 = [](std::uint16_t port) -> task<std::string> {
        auto c = co_await connection::open("::1", port, engine::after(5s));
        co_return c ? c->peer() : c.err().describe();
    };
    EXPECT_EQ(loop.run(body6(v6->port())), "[::1]:" + std::to_string(v6->port()));
}

TEST(Tcp, ResponsesBeyondTheBufferLimitFailCleanly)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto flood = [](engine::listener* lp) -> task<void> {
        auto c = co_await lp->accept();
        std::string chunk(64 * 1024, 'x');   // no newline: an endless line
        for (int i = 0; i < 8; ++i) {
            if (!co_await c->write(chunk, engine::after(5s))) {
                break;
            }
        }
        co_await c->close();
    };
    auto client = [](std::uint16_t port) -> task<engine::error> {
        auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
        c->set_max_buffer(16 * 1024);
        auto line = co_await read_line(*c, engine::after(5s));
        co_return line ? engine::error{} : line.err();
    };
    auto body = [](engine::listener* lp, decltype(flood) f, decltype(client) cl) -> task<engine::error> {
        engine::scope s;
        s.spawn(f(lp));
        auto e = co_await cl(lp->port());
        co_await s.join();
        co_return e;
    };
    auto e = loop.run(body(&*l, flood, client));
    EXPECT_EQ(e.code, errc::buffer_full) << e.describe();
}

TEST(Tcp, ThousandConcurrentConnectionsOnOneLoop)
{
    // 1,000 clients and their 1,000 server ends live in this process.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2200) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4096);
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    constexpr int n = 1000;
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto client = [](std::uint16_t port, int i) -> task<bool> {
        auto c = co_await connection::open("127.0.0.1", port, engine::after(20s));
        if (!c) {
            co_return false;
        }
        std::string msg = "client " + std::to_string(i) + "\n";
        bool ok = static_cast<bool>(co_await c->write(msg, engine::after(20s)));
        auto line = co_await read_line(*c, engine::after(20s));
        co_await c->close();
        co_return ok && line && *line == msg;
    };
    auto body = [](engine::listener* lp, decltype(client) cl) -> task<int> {
        engine::scope server;
        server.spawn(echo_server(lp, n));
        std::vector<task<bool>> clients;
        for (int i = 0; i < n; ++i) {
            clients.push_back(cl(lp->port(), i));
        }
        auto results = co_await engine::gather(std::move(clients), n);
        co_await server.join();
        int ok = 0;
        for (bool b : results) {
            ok += b;
        }
        co_return ok;
    };
    EXPECT_EQ(loop.run(body(&*l, client)), n);
}
