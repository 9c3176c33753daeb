// The --listen HTTP server over real loopback connections: answers, the errors it gives
// itself (400, 404, 405, 414, 431, 503), HEAD, the head deadline against a slow client, and
// the connection cap.
#include "protocols/http/server.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

using engine::connection;
using engine::task;
using protocols::http::reply;
using protocols::http::server_limits;

const protocols::http::handler pages = [](std::string_view path) {
    reply r;
    r.content_type = "text/plain";
    if (path == "/metrics") {
        r.body = "up 1\n";
    } else {
        r.status = 404;
        r.body = "no\n";
    }
    return r;
};

/// Sends `req` and returns everything the server said before it closed.
task<std::string> exchange(std::uint16_t port, std::string req)
{
    auto c = co_await connection::open("127.0.0.1", port, engine::after(5s));
    if (!c) {
        co_return "open failed";
    }
    auto w = co_await c->write(req, engine::after(5s));
    EXPECT_TRUE(w);
    for (;;) {
        auto n = co_await c->read(engine::after(5s));
        if (!n) {
            // A reset is fair after an error answer: the server closes with the rest of an
            // oversized head unread.
            EXPECT_TRUE(n.err().code == engine::errc::closed || n.err().code == engine::errc::reset)
                << n.err().describe();
            break;
        }
    }
    std::string out(c->buffered());
    co_await c->close();
    co_return out;
}

task<std::vector<std::string>> exchanges(engine::listener* l, server_limits limits, std::vector<std::string> reqs)
{
    engine::scope s;
    s.spawn(protocols::http::serve(l, &pages, limits));
    std::vector<std::string> out;
    for (const auto& r : reqs) {
        std::string got = co_await exchange(l->port(), r);
        out.push_back(std::move(got));
    }
    // As in `run`, the stop comes after the loop has run: a stop requested before its first
    // turn leaves the accept loop waiting (an engine edge, not yet understood).
    (void)co_await engine::sleep_for(20ms);
    s.request_stop();
    co_await s.join();
    co_return out;
}

std::vector<std::string> run(std::vector<std::string> reqs, server_limits limits = {})
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    EXPECT_TRUE(l);
    return loop.run(exchanges(&*l, limits, std::move(reqs)));
}

std::string status_line(const std::string& answer)
{
    return answer.substr(0, answer.find("\r\n"));
}

} // namespace

TEST(HttpServer, AnswersGetAndHead)
{
    auto out = run({"GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "HEAD /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /nothing HTTP/1.0\r\n\r\n"});
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0], "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nCache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\nup 1\n");
    EXPECT_EQ(status_line(out[1]), "HTTP/1.1 200 OK");
    EXPECT_NE(out[1].find("Content-Length: 5\r\n"), std::string::npos);
    EXPECT_TRUE(out[1].ends_with("\r\n\r\n")) << out[1];   // HEAD: the head alone
    EXPECT_EQ(status_line(out[2]), "HTTP/1.1 404 Not Found");
}

TEST(HttpServer, AnswersBadRequestsItself)
{
    server_limits limits;
    limits.request.max_head_bytes = 256;
    limits.request.max_target = 32;
    auto out = run({"POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
                       "GET / HTTP/1.1\nHost: a\n\n", "GET /" + std::string(40, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                       "GET / HTTP/1.1\r\nCookie: " + std::string(4096, 'c') + "\r\n\r\n",
                       std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11)},
        limits);
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(status_line(out[0]), "HTTP/1.1 405 Method Not Allowed");
    EXPECT_NE(out[0].find("\r\nAllow: GET, HEAD\r\n"), std::string::npos);
    EXPECT_EQ(status_line(out[1]), "HTTP/1.1 400 Bad Request");
    EXPECT_EQ(status_line(out[2]), "HTTP/1.1 414 URI Too Long");
    EXPECT_EQ(status_line(out[3]), "HTTP/1.1 431 Request Header Fields Too Large");
    EXPECT_EQ(status_line(out[4]), "HTTP/1.1 400 Bad Request");
}

namespace {

task<engine::result<std::size_t>> slow_client(engine::listener* l, server_limits limits)
{
    engine::scope s;
    s.spawn(protocols::http::serve(l, &pages, limits));
    auto c = co_await connection::open("127.0.0.1", l->port(), engine::after(5s));
    EXPECT_TRUE(c);
    auto w = co_await c->write("GET / HTTP/1.1\r\nHost", engine::after(5s));
    EXPECT_TRUE(w);
    auto n = co_await c->read(engine::after(5s));   // the server gives up first
    co_await c->close();
    s.request_stop();
    co_await s.join();
    co_return n;
}

task<std::string> over_the_cap(engine::listener* l, server_limits limits)
{
    engine::scope s;
    s.spawn(protocols::http::serve(l, &pages, limits));
    auto held = co_await connection::open("127.0.0.1", l->port(), engine::after(5s));
    EXPECT_TRUE(held);
    (void)co_await engine::sleep_for(50ms);   // let the server take it first
    std::string refused = co_await exchange(l->port(), "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    auto w = co_await held->write("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", engine::after(5s));
    EXPECT_TRUE(w);
    for (;;) {
        auto n = co_await held->read(engine::after(5s));
        if (!n) {
            break;
        }
    }
    std::string first = status_line(std::string(held->buffered()));
    co_await held->close();
    s.request_stop();
    co_await s.join();
    co_return status_line(refused) + " / " + first;
}

} // namespace

TEST(HttpServer, ClosesASlowClientAtTheHeadDeadline)
{
    server_limits limits;
    limits.head_timeout = 200ms;
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    auto start = engine::clock::now();
    auto n = loop.run(slow_client(&*l, limits));
    auto took = engine::clock::now() - start;
    ASSERT_FALSE(n);
    EXPECT_EQ(n.err().code, engine::errc::closed);
    EXPECT_GE(took, 150ms);
    EXPECT_LT(took, 3s);
}

TEST(HttpServer, RefusesConnectionsOverTheCap)
{
    server_limits limits;
    limits.max_connections = 1;
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(l);
    EXPECT_EQ(loop.run(over_the_cap(&*l, limits)), "HTTP/1.1 503 Service Unavailable / HTTP/1.1 200 OK");
}

TEST(HttpServer, StopsWhenAsked)
{
    // No request at all: the stop alone ends the accept loop.
    EXPECT_TRUE(run({}).empty());
}
