// Connection load: N concurrent loopback connections (plain or TLS) from one engine loop to
// an echo peer in a child process, then R round trips on each. Prints round trips per
// second, CPU per round trip, and resident memory per idle connection (client process only:
// the peer lives in its own process so its memory is not counted).
//
//   conn_load [--connections N] [--rounds R] [--payload BYTES] [--tls]
#include "engine/certs.h"
#include "engine/connection.h"
#include "engine/loop.h"
#include "engine/scope.h"

#include <fmt/format.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using engine::connection;
using engine::task;

namespace {

struct options {
    int connections = 10'000;
    int rounds = 10;
    std::size_t payload = 64;
    bool tls = false;
};

long rss_kib()
{
    std::ifstream statm("/proc/self/statm");
    long pages = 0;
    long resident = 0;
    statm >> pages >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

double cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
        + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

task<void> echo(connection c, std::optional<engine::tls_context> tls)
{
    if (tls && !co_await c.accept_tls(*tls, engine::after(60s))) {
        co_return;
    }
    for (;;) {
        auto data = c.buffered();
        auto nl = data.rfind('\n');
        if (nl != std::string_view::npos) {
            std::string out(data.substr(0, nl + 1));
            c.consume(nl + 1);
            if (!co_await c.write(out, engine::after(60s))) {
                break;
            }
            continue;
        }
        if (!co_await c.read(engine::after(600s))) {
            break;
        }
    }
    co_await c.close();
}

task<void> echo_server(engine::listener* l, std::optional<engine::tls_context> tls)
{
    engine::scope s;
    for (;;) {
        auto c = co_await l->accept();
        if (!c) {
            break;
        }
        s.spawn(echo(std::move(*c), tls));
    }
    co_await s.join();
}

[[noreturn]] void run_peer(int port_pipe, std::optional<engine::pem_identity> id)
{
    engine::loop loop;
    auto l = engine::listener::bind("127.0.0.1", 0, 65535);
    if (!l) {
        std::fprintf(stderr, "peer: %s\n", l.err().describe().c_str());
        _exit(1);
    }
    std::uint16_t port = l->port();
    [[maybe_unused]] auto w = write(port_pipe, &port, sizeof port);
    close(port_pipe);
    std::optional<engine::tls_context> tls;
    if (id) {
        tls = *engine::tls_context::server(id->cert, id->key);
    }
    loop.run(echo_server(&*l, tls));
    _exit(0);
}

task<engine::result<connection>> open_one(std::uint16_t port, std::optional<engine::tls_context> tls)
{
    auto c = co_await connection::open("127.0.0.1", port, engine::after(60s));
    if (c && tls) {
        auto info = co_await c->start_tls(*tls, "127.0.0.1", engine::after(60s));
        if (!info) {
            co_return std::move(info).err();
        }
    }
    co_return c;
}

task<bool> round_trips(connection* c, int rounds, std::string line)
{
    for (int i = 0; i < rounds; ++i) {
        if (!co_await c->write(line, engine::after(60s))) {
            co_return false;
        }
        while (c->buffered().size() < line.size()) {
            if (!co_await c->read(engine::after(60s))) {
                co_return false;
            }
        }
        c->consume(line.size());
    }
    co_return true;
}

struct figures {
    int connected = 0;
    int ok = 0;
    double connect_s = 0;
    double rt_wall_s = 0;
    double rt_cpu_s = 0;
    long rss_before = 0;
    long rss_idle = 0;
};

task<figures> drive(options o, std::uint16_t port, std::optional<engine::tls_context> tls)
{
    figures f;
    f.rss_before = rss_kib();
    auto t0 = engine::clock::now();
    std::vector<task<engine::result<connection>>> opens;
    opens.reserve(static_cast<std::size_t>(o.connections));
    for (int i = 0; i < o.connections; ++i) {
        opens.push_back(open_one(port, tls));
    }
    // A few hundred handshakes in flight at once keep the listen backlog from overflowing.
    auto opened = co_await engine::gather(std::move(opens), 512);
    f.connect_s = std::chrono::duration<double>(engine::clock::now() - t0).count();
    std::vector<connection> conns;
    for (auto& r : opened) {
        if (r) {
            conns.push_back(std::move(*r));
        } else {
            std::fprintf(stderr, "connect: %s\n", r.err().describe().c_str());
        }
    }
    opened.clear();
    f.connected = static_cast<int>(conns.size());

    std::string line(o.payload > 0 ? o.payload - 1 : 0, 'x');
    line += '\n';
    // One round trip first, so every connection has read once and holds the buffers an idle
    // session really keeps; then measure.
    std::vector<task<bool>> warm;
    for (auto& c : conns) {
        warm.push_back(round_trips(&c, 1, line));
    }
    co_await engine::gather(std::move(warm), conns.size());
    f.rss_idle = rss_kib();

    std::vector<task<bool>> work;
    for (auto& c : conns) {
        work.push_back(round_trips(&c, o.rounds, line));
    }
    double cpu0 = cpu_seconds();
    auto t1 = engine::clock::now();
    auto results = co_await engine::gather(std::move(work), conns.size());
    f.rt_wall_s = std::chrono::duration<double>(engine::clock::now() - t1).count();
    f.rt_cpu_s = cpu_seconds() - cpu0;
    for (bool b : results) {
        f.ok += b;
    }
    for (auto& c : conns) {
        co_await c.close();
    }
    co_return f;
}

} // namespace

int main(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string("0"); };
        if (a == "--connections") {
            o.connections = std::stoi(next());
        } else if (a == "--rounds") {
            o.rounds = std::stoi(next());
        } else if (a == "--payload") {
            o.payload = std::stoul(next());
        } else if (a == "--tls") {
            o.tls = true;
        } else {
            std::fprintf(stderr, "usage: conn_load [--connections N] [--rounds R] [--payload BYTES] [--tls]\n");
            return 2;
        }
    }
    // Two descriptors per connection pair live in the two processes; ask for enough.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < static_cast<rlim_t>(o.connections) + 64) {
        std::fprintf(stderr, "conn_load: the open-file limit (%llu) is below %d connections\n",
            static_cast<unsigned long long>(lim.rlim_cur), o.connections);
        return 2;
    }

    std::optional<engine::pem_identity> server_id;
    std::optional<engine::tls_context> client_tls;
    if (o.tls) {
        auto ca = engine::make_ca("conn_load CA");
        server_id = *engine::issue_cert(*ca, {"127.0.0.1", {}, {"127.0.0.1"}, 0, 0});
        std::string ca_path = fmt::format("/tmp/conn_load_ca_{}.pem", getpid());
        std::ofstream(ca_path) << ca->cert;
        engine::tls_options to;
        to.ca_file = ca_path;
        client_tls = *engine::tls_context::client(to);
        std::remove(ca_path.c_str());
    }

    int fds[2];
    if (pipe(fds) != 0) {
        return 1;
    }
    pid_t peer = fork();
    if (peer == 0) {
        close(fds[0]);
        run_peer(fds[1], server_id);
    }
    close(fds[1]);
    std::uint16_t port = 0;
    if (read(fds[0], &port, sizeof port) != sizeof port) {
        std::fprintf(stderr, "conn_load: the echo peer did not start\n");
        return 1;
    }
    close(fds[0]);

    figures f;
    {
        engine::loop loop;
        f = loop.run(drive(o, port, client_tls));
    }
    kill(peer, SIGTERM);
    waitpid(peer, nullptr, 0);

    double trips = static_cast<double>(f.ok) * o.rounds;
    double per_conn_kib = f.connected ? static_cast<double>(f.rss_idle - f.rss_before) / f.connected : 0;
    std::printf("%s connections: %d of %d open (%.2f s to open), %d x %d round trips of %zu bytes\n",
        o.tls ? "TLS" : "plain", f.connected, o.connections, f.connect_s, f.ok, o.rounds, o.payload);
    std::printf("  round trips/s        %12.0f\n", trips / f.rt_wall_s);
    std::printf("  CPU per round trip   %12.2f us (client process)\n", f.rt_cpu_s / trips * 1e6);
    std::printf("  RSS per idle conn    %12.2f KiB (client process, %ld KiB -> %ld KiB)\n", per_conn_kib,
        f.rss_before, f.rss_idle);
    std::printf("{\"bench\":\"conn_load\",\"tls\":%s,\"connections\":%d,\"rounds\":%d,\"round_trips_per_s\":%.0f,"
                "\"cpu_us_per_round_trip\":%.2f,\"rss_kib_per_idle_connection\":%.2f}\n",
        o.tls ? "true" : "false", f.connected, o.rounds, trips / f.rt_wall_s, f.rt_cpu_s / trips * 1e6, per_conn_kib);
    return f.connected == o.connections && f.ok == f.connected ? 0 : 1;
}
