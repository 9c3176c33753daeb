// Scheduler scale: a generated scenario of N probes (one mailbox each, 100 per tenant, one
// SMTP and one IMAP server on loopback) is loaded and planned, held idle by the scheduler,
// then run for real against the built-in server. Prints:
// - how long loading and planning the file take;
// - heap bytes per idle probe: the plan (probes, their mailboxes, servers, tenants; all the
//   heap it holds once the loaded scenario is gone) plus the scheduler's own tables,
//   measured with mallinfo2 while every probe waits for its offset;
// - how late runs start against their planned start (p50, p99, max) over a window of the
//   interval, and the runs' verdicts, with the built-in server in a child process (its
//   CPU is on the other core; its memory is not counted).
// Each phase checks its output first: the probe count, that no run waited on a limit, and
// that the runs were Up (a figure over failing runs would measure nothing).
//
//   sched_load [--probes N] [--interval 600s] [--window 120s] [--no-run]
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "scenarios/loader.h"
#include "scenarios/plan.h"
#include "scheduler/schedule.h"
#include "tools/server/server.h"

#include <fmt/format.h>

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct options {
    int probes = 100'000;
    std::chrono::seconds interval{600};
    std::chrono::seconds window{120};
    bool run = true;
};

constexpr int per_tenant = 100;
constexpr const char* password = "load-pw";

std::string address_of(int i) { return fmt::format("p{:06}@load.test", i); }

std::size_t heap_bytes()
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/// The scenario: tenants t0000.., probes p000000.., one mailbox per probe.
std::string scenario_text(int probes, std::uint16_t smtp_port, std::uint16_t imap_port, std::chrono::seconds interval)
{
    std::string s = fmt::format(R"({{"version": 1, "hmac_key": {{"env": "MAILPROBE_LOAD_KEY"}}, "internal_domains": ["load.test"],
"defaults": {{"interval": "{}s", "deadline": "30s", "poll": "2s", "warn_latency": "10s", "connect_timeout": "5s", "command_timeout": "10s",
  "limits": {{"concurrent": 5000, "per_server": 5000, "per_tenant": 200}}}},
"servers": [
  {{"name": "smtp", "protocol": "smtp", "host": "127.0.0.1", "port": {}, "tls": "none", "zone": "internal"}},
  {{"name": "imap", "protocol": "imap", "host": "127.0.0.1", "port": {}, "tls": "none", "zone": "internal"}}],
"mailboxes": [
)", interval.count(), smtp_port, imap_port);
    for (int i = 0; i < probes; ++i) {
        s += fmt::format(R"({}{{"name": "m{:06}", "address": "{}", "server": "imap", "user": "{}", "password": {{"env": "MAILPROBE_LOAD_PW"}}}})",
            i ? ",\n" : "", i, address_of(i), address_of(i));
    }
    s += "],\n\"tenants\": [\n";
    for (int t = 0; t * per_tenant < probes; ++t) {
        s += fmt::format(R"({}{{"name": "t{:04}"}})", t ? ",\n" : "", t);
    }
    s += "],\n\"probes\": [\n";
    for (int i = 0; i < probes; ++i) {
        s += fmt::format(R"({}{{"name": "p{:06}", "tenant": "t{:04}", "topology": 1, "send_via": "smtp", "from": "sender@load.test", "to": "{}", "fetch": "m{:06}"}})",
            i ? ",\n" : "", i, i / per_tenant, address_of(i), i);
    }
    s += "]}\n";
    return s;
}

[[noreturn]] void run_server(int probes, int port_pipe)
{
    builtin::config c;
    c.hostname = "mail.load.test";
    builtin::domain_config d{"load.test", {}, {}};
    d.mailboxes.reserve(static_cast<std::size_t>(probes) + 1);
    d.mailboxes.push_back({"sender@load.test", "", password, false});
    for (int i = 0; i < probes; ++i) {
        d.mailboxes.push_back({address_of(i), "", password, false});
    }
    c.domains = {std::move(d)};
    c.listeners = {{"smtp", builtin::protocol::smtp, protocols::tls_mode::none, "127.0.0.1", 0},
        {"imap", builtin::protocol::imap, protocols::tls_mode::none, "127.0.0.1", 0}};
    c.limits.max_connections = 20'000;
    engine::loop loop;
    builtin::server srv(std::move(c));
    if (auto r = srv.start(); !r) {
        std::fprintf(stderr, "sched_load: the built-in server did not start: %s\n", r.err().describe().c_str());
        std::_Exit(1);
    }
    std::uint16_t ports[2] = {srv.port("smtp"), srv.port("imap")};
    [[maybe_unused]] auto w = write(port_pipe, ports, sizeof ports);
    close(port_pipe);
    loop.run(srv.run());
    std::_Exit(0);
}

double cpu_seconds()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
        + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double ms(engine::clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double>& v, double p)
{
    if (v.empty()) {
        return 0;
    }
    auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return v[k];
}

struct tally {
    std::size_t up = 0;
    std::size_t other = 0;
    std::string first_other;
};

} // namespace

int main(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--probes" && i + 1 < argc) {
            o.probes = std::atoi(argv[++i]);
        } else if (a == "--interval" && i + 1 < argc) {
            o.interval = std::chrono::seconds(std::atoi(argv[++i]));
        } else if (a == "--window" && i + 1 < argc) {
            o.window = std::chrono::seconds(std::atoi(argv[++i]));
        } else if (a == "--no-run") {
            o.run = false;
        } else {
            std::fprintf(stderr, "usage: sched_load [--probes N] [--interval SECONDS] [--window SECONDS] [--no-run]\n");
            return 2;
        }
    }
    setenv("MAILPROBE_LOAD_KEY", "0123456789abcdef0123456789abcdef", 1);
    setenv("MAILPROBE_LOAD_PW", password, 1);

    // The server first, before this process has a loop or a big heap to copy.
    std::uint16_t ports[2] = {0, 0};
    pid_t server = -1;
    if (o.run) {
        int fds[2];
        if (pipe(fds) != 0) {
            return 1;
        }
        server = fork();
        if (server == 0) {
            close(fds[0]);
            run_server(o.probes, fds[1]);
        }
        close(fds[1]);
        if (read(fds[0], ports, sizeof ports) != sizeof ports) {
            std::fprintf(stderr, "sched_load: the built-in server did not report its ports\n");
            return 1;
        }
        close(fds[0]);
    } else {
        ports[0] = 2525;
        ports[1] = 1143;
    }

    std::string path = fmt::format("/tmp/sched_load_{}.json", getpid());
    {
        std::ofstream out(path);
        out << scenario_text(o.probes, ports[0], ports[1], o.interval);
    }

    std::size_t before_load = heap_bytes();
    auto t0 = engine::clock::now();
    auto loaded = scenarios::load(path);
    auto t1 = engine::clock::now();
    std::remove(path.c_str());
    if (!loaded.ok() || loaded.value->probes.size() != static_cast<std::size_t>(o.probes)) {
        std::fprintf(stderr, "sched_load: the scenario did not load: %s\n",
            loaded.errors.empty() ? "wrong probe count" : loaded.errors.front().to_string().c_str());
        return 1;
    }
    auto plan = scenarios::make_plan(std::move(*loaded.value));
    auto t2 = engine::clock::now();
    if (!plan.errors.empty() || plan.probes.size() != static_cast<std::size_t>(o.probes)) {
        std::fprintf(stderr, "sched_load: the plan is incomplete\n");
        return 1;
    }
    // As `mailprobe run` does: the plan is what stays (the plan took the scenario's strings,
    // so it is measured against the heap before loading).
    loaded = scenarios::load_result{};
    std::size_t plan_bytes = heap_bytes() - before_load;
    auto ctx = probe::context::from_plan(plan);
    if (!ctx) {
        return 1;
    }
    fmt::print("probes: {}, tenants: {}, interval {} s\n", o.probes, (o.probes + per_tenant - 1) / per_tenant,
        o.interval.count());
    fmt::print("load: {:.0f} ms (parse and validate {:.0f} ms, plan {:.0f} ms)\n", ms(t2 - t0), ms(t1 - t0), ms(t2 - t1));

    engine::loop loop;
    std::vector<double> late;
    late.reserve(static_cast<std::size_t>(o.probes));
    tally t;
    std::size_t sched_bytes = 0;
    bool running = o.run;
    scheduler::schedule s([&t](const probe::result& r) {
        if (r.outcome == probe::status::up) {
            ++t.up;
        } else {
            if (t.other++ == 0) {
                t.first_other = fmt::format("{}: {} {}", r.probe, engine::to_string(r.stage), r.reason);
            }
        }
    }, false, running ? scheduler::run_fn{} : scheduler::run_fn([](scenarios::probe_plan, probe::context&) -> engine::task<probe::result> {
        co_return probe::result{};
    }));
    s.on_start([&late](engine::clock::duration d) { late.push_back(ms(d)); });
    std::size_t before_schedule = heap_bytes();
    auto started = engine::clock::now();
    double cpu_start = cpu_seconds();
    loop.run([](scheduler::schedule* sched, scenarios::plan p, probe::context c, std::size_t base, std::size_t* bytes,
                 std::chrono::seconds window) -> engine::task<void> {
        engine::scope side;
        side.spawn([](scheduler::schedule* sc, std::size_t b, std::size_t* out, std::chrono::seconds w) -> engine::task<void> {
            // The scheduler has set up every probe's timetable by its first tick.
            if (!co_await engine::sleep_for(10ms)) {
                co_return;
            }
            *out = heap_bytes() - b;
            if (co_await engine::sleep_for(w)) {
                sc->drain();
            }
        }(sched, base, bytes, window));
        co_await sched->run(std::move(p), std::move(c));
        co_await side.join();
    }(&s, std::move(plan), std::move(*ctx), before_schedule, &sched_bytes, o.run ? o.window : std::chrono::seconds(0)));
    auto ended = engine::clock::now();
    double cpu = cpu_seconds() - cpu_start;
    fmt::print("heap per idle probe: {:.0f} B (plan {:.0f} B, scheduler {:.0f} B); target <= 2048 B\n",
        static_cast<double>(plan_bytes + sched_bytes) / o.probes, static_cast<double>(plan_bytes) / o.probes,
        static_cast<double>(sched_bytes) / o.probes);
    double server_cpu = 0;
    if (server > 0) {
        kill(server, SIGTERM);
        rusage u{};
        int status = 0;
        wait4(server, &status, 0, &u);
        server_cpu = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec)
            + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    }
    if (!o.run) {
        return 0;
    }
    double seconds = std::chrono::duration<double>(ended - started).count();
    fmt::print("window: {:.0f} s, {} runs started ({:.1f}/s), {} Up, {} not Up{}\n", seconds, late.size(),
        static_cast<double>(late.size()) / seconds, t.up, t.other, t.other ? " (first: " + t.first_other + ")" : "");
    auto n = late.size();
    fmt::print("client CPU: {:.1f} s, {:.2f} ms per run, {:.0f}% of one core\n", cpu,
        n ? cpu * 1000 / static_cast<double>(n) : 0.0, cpu * 100 / seconds);
    fmt::print("built-in server CPU (its start included): {:.1f} s\n", server_cpu);
    double p50 = percentile(late, 0.50);
    double p99 = percentile(late, 0.99);
    double worst = n ? *std::max_element(late.begin(), late.end()) : 0;
    fmt::print("start late vs plan: p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms; target p99 <= 100 ms\n", p50, p99, worst);
    if (n == 0 || t.up == 0 || t.other * 100 > t.up) {
        std::fprintf(stderr, "sched_load: too few runs were Up for the figures to mean anything\n");
        return 1;
    }
    return 0;
}
