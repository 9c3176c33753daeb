// `mailprobe demo`: the engine at work on loopback with nothing installed: a TLS server with
// a certificate made at start, clients that verify it, upgrade with STARTTLS, and fail
// honestly (wrong name, silent peer).
#include "tools/mailprobe/commands.h"

#include "engine/certs.h"
#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;
using engine::connection;
using engine::task;

namespace {

struct row {
    std::string check;
    std::string verdict;
    std::string detail;
};

/// The peer: greets, upgrades on STARTTLS, echoes one line; or stays silent.
task<void> peer(connection c, engine::tls_context tls, bool silent)
{
    auto until = engine::after(10s);
    if (silent) {
        (void)co_await c.read(until);
        co_return;
    }
    (void)co_await c.write("220 mailprobe demo peer ready\r\n", until);
    while (c.buffered().find('\n') == std::string_view::npos) {
        if (!co_await c.read(until)) {
            co_return;
        }
    }
    c.consume(c.buffered().size());
    (void)co_await c.write("220 go ahead\r\n", until);
    if (!co_await c.accept_tls(tls, until)) {
        co_return;
    }
    while (c.buffered().find('\n') == std::string_view::npos) {
        if (!co_await c.read(until)) {
            co_return;
        }
    }
    (void)co_await c.write(std::string(c.buffered()), until);
    co_await c.close();
}

task<void> serve(engine::listener* l, engine::tls_context tls, int clients, bool silent)
{
    engine::scope s;
    for (int i = 0; i < clients; ++i) {
        auto c = co_await l->accept();
        if (!c) {
            break;
        }
        s.spawn(peer(std::move(*c), tls, silent));
    }
    co_await s.join();
}

/// One client: connect, read the greeting, STARTTLS, verify `name`, echo a line.
task<row> client(std::uint16_t port, engine::tls_context tls, std::string name, std::string check)
{
    auto t0 = engine::clock::now();
    auto ms = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(engine::clock::now() - t0).count(); };
    auto until = engine::after(2s);
    auto c = co_await connection::open("127.0.0.1", port, until);
    if (!c) {
        co_return row{check, "DOWN", c.err().describe()};
    }
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return row{check, "DOWN", std::move(r).err().at(engine::stage::greeting).describe()};
        }
    }
    c->consume(c->buffered().size());
    (void)co_await c->write("STARTTLS\r\n", until);
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return row{check, "DOWN", std::move(r).err().at(engine::stage::tls).describe()};
        }
    }
    c->consume(c->buffered().size());
    auto info = co_await c->start_tls(tls, name, until);
    if (!info) {
        co_await c->close();
        co_return row{check, "DOWN", info.err().describe()};
    }
    (void)co_await c->write("ping over TLS\r\n", until);
    while (c->buffered().find('\n') == std::string_view::npos) {
        if (auto r = co_await c->read(until); !r) {
            co_return row{check, "DOWN", r.err().describe()};
        }
    }
    co_await c->close();
    auto days = (info->cert_not_after - std::time(nullptr)) / 86400;
    co_return row{check, "UP", fmt::format("{} {}, certificate expires in {} days, {} ms", info->version,
                                   info->cipher, days, ms())};
}

task<std::vector<row>> demo(engine::tls_context server_tls, engine::tls_context client_tls)
{
    std::vector<row> rows;
    auto l = engine::listener::bind("127.0.0.1", 0);
    auto silent = engine::listener::bind("127.0.0.1", 0);
    if (!l || !silent) {
        rows.push_back({"listen on 127.0.0.1", "DOWN", (!l ? l.err() : silent.err()).describe()});
        co_return rows;
    }
    constexpr int many = 200;
    engine::scope servers;
    servers.spawn(serve(&*l, server_tls, 2 + many, false));
    servers.spawn(serve(&*silent, server_tls, 1, true));

    rows.push_back(co_await client(l->port(), client_tls, "localhost", "STARTTLS, certificate verified"));
    rows.push_back(co_await client(l->port(), client_tls, "mail.example.test", "STARTTLS, wrong name"));

    std::vector<task<row>> clients;
    for (int i = 0; i < many; ++i) {
        clients.push_back(client(l->port(), client_tls, "localhost", "many"));
    }
    auto t0 = engine::clock::now();
    auto results = co_await engine::gather(std::move(clients), many);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(engine::clock::now() - t0).count();
    int up = 0;
    for (const auto& r : results) {
        up += r.verdict == "UP";
    }
    rows.push_back({fmt::format("{} concurrent TLS clients", many), up == many ? "UP" : "DOWN",
        fmt::format("{} of {} up in {} ms on one loop thread", up, many, took)});

    rows.push_back(co_await client(silent->port(), client_tls, "localhost", "server that never greets"));
    co_await servers.join();
    co_return rows;
}

} // namespace

int run_demo()
{
    auto ca = engine::make_ca("mailprobe demo CA", 90);
    auto leaf = ca ? engine::issue_cert(*ca, {"localhost", {"localhost"}, {"127.0.0.1"}, 0, 0}) : ca;
    if (!ca || !leaf) {
        std::fprintf(stderr, "mailprobe demo: %s\n", (!ca ? ca.err() : leaf.err()).describe().c_str());
        return 3;
    }
    std::string ca_path = fmt::format("/tmp/mailprobe-demo-ca-{}.pem", getpid());
    std::ofstream(ca_path) << ca->cert;
    engine::tls_options options;
    options.ca_file = ca_path;
    auto client_tls = engine::tls_context::client(options);
    std::remove(ca_path.c_str());
    auto server_tls = engine::tls_context::server(leaf->cert, leaf->key);
    if (!client_tls || !server_tls) {
        std::fprintf(stderr, "mailprobe demo: cannot set up TLS\n");
        return 3;
    }
    engine::loop loop;
    auto rows = loop.run(demo(*server_tls, *client_tls));
    std::printf("mailprobe engine demo (loopback only; the round-trip probe demo follows)\n\n");
    std::printf("%-34s %-5s %s\n", "check", "state", "detail");
    for (const auto& r : rows) {
        std::printf("%-34s %-5s %s\n", r.check.c_str(), r.verdict.c_str(), r.detail.c_str());
    }
    // The two DOWN rows are expected: they show what a failure looks like.
    bool as_expected = rows.size() == 4 && rows[0].verdict == "UP" && rows[1].verdict == "DOWN"
        && rows[2].verdict == "UP" && rows[3].verdict == "DOWN";
    std::printf("\n%s\n", as_expected ? "demo: every check behaved as expected (the DOWN rows are the point)"
                                      : "demo: a check did not behave as expected");
    return as_expected ? 0 : 2;
}
