// `mailprobe run SCENARIO [--once [--state FILE]] [--format text|jsonl] [--tenant T]
//  [--probe P] [--keep-going] [--trace]`: runs the scenario's probes, each on its interval
// (spread by its stable offset) until SIGINT/SIGTERM, or each once with --once; with --state,
// once in next-poll mode (look for the earlier runs' messages, send this run's). One result
// per probe run on stdout, as it completes. Exit status with --once: 0 all up (or pending),
// 1 any warning, 2 any down; 3 when the scenario or the state file cannot be used.
#include "tools/mailprobe/commands.h"
#include "tools/mailprobe/store_sink.h"
#include "tools/mailprobe/flags.h"

#include "engine/loop.h"
#include "engine/resolver.h"
#include "engine/scope.h"
#include "protocols/http/server.h"
#include "report/live.h"
#include "engine/signals.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "probe/state_file.h"
#include "report/format.h"
#include "scenarios/loader.h"
#include "scenarios/plan.h"
#include "scheduler/schedule.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace {

struct run_options {
    std::string path;
    bool once = false;
    bool jsonl = false;
    bool keep_going = false;
    bool trace = false;
    std::string state_path;   // next-poll mode when set
    std::string store_path;   // --store: every result also goes to this history
    tools::store_sink* store = nullptr;
    std::string listen_ip;    // --listen: /metrics, /status.json and / on this address
    std::uint16_t listen_port = 0;
    report::live_status* live = nullptr;
    std::chrono::milliseconds grace{30'000};   // for runs in flight after SIGTERM
    scenarios::plan_filter filter;
};

struct tally {
    int up = 0;
    int warning = 0;
    int down = 0;
};

void emit(const probe::result& r, const run_options& o, tally& t)
{
    // A run cut at shutdown says nothing about mail flow: it is printed, but neither kept in
    // the history (every restart would be a down interval in the monthly report) nor shown
    // live nor counted. Its message, if sent, is deleted by a later run as a leftover.
    bool cut = r.code == engine::errc::cancelled;
    if (o.store && !cut) {
        o.store->add(r);
    }
    if (o.live && !cut) {
        o.live->add(r, std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    }
    std::string line = o.jsonl ? report::to_json(r) : report::to_text(r);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    if (o.trace && !o.jsonl && !r.transcript.empty()) {
        std::fputs(r.transcript.c_str(), stdout);
    }
    std::fflush(stdout);
    if (cut) {
        return;
    }
    switch (r.outcome) {
    case probe::status::up: ++t.up; break;
    case probe::status::warning: ++t.warning; break;
    case probe::status::down: ++t.down; break;
    case probe::status::pending: break;
    }
}

std::set<std::pair<std::string, std::string>> probes_of(const scenarios::plan& plan)
{
    std::set<std::pair<std::string, std::string>> keys;
    for (const auto& p : plan.probes) {
        keys.emplace(p.spec->tenant, p.spec->name);
    }
    return keys;
}

/// A scenario made ready to run: its plan and the context its key signs with.
struct loaded_plan {
    scenarios::plan plan;
    probe::context ctx;
};

/// Loads, checks and plans the scenario, printing warnings and errors (prefixed with
/// `what`, e.g. "reload refused: "); nullopt when it cannot run.
std::optional<loaded_plan> load_plan(const run_options& o, const char* what)
{
    scenarios::load_options lo;
    lo.keep_going = o.keep_going;
    auto loaded = scenarios::load(o.path, lo);
    for (const auto& w : loaded.warnings) {
        std::fprintf(stderr, "%swarning: %s\n", what, w.to_string().c_str());
    }
    for (const auto& e : loaded.errors) {
        std::fprintf(stderr, "%serror: %s\n", what, e.to_string().c_str());
    }
    if (!loaded.ok()) {
        return std::nullopt;
    }
    auto plan = scenarios::make_plan(std::move(*loaded.value), o.filter);
    for (const auto& e : plan.errors) {
        std::fprintf(stderr, "%serror: %s\n", what, e.c_str());
    }
    if (!plan.errors.empty()) {
        return std::nullopt;
    }
    if (plan.probes.empty()) {
        // An instance of many may get no probe of a small scenario: that is its share, and a
        // reload may give it some.
        if (o.filter.shards <= 1) {
            std::fprintf(stderr, "%smailprobe run: no probe to run\n", what);
            return std::nullopt;
        }
        std::fprintf(stderr, "%smailprobe run: shard %u/%u has no probe of this scenario\n", what, o.filter.shard,
            o.filter.shards);
    }
    auto ctx = probe::context::from_plan(plan);
    if (!ctx) {
        std::fprintf(stderr, "%smailprobe run: the scenario's hmac_key is not usable (16 to 64 bytes)\n", what);
        return std::nullopt;
    }
    ctx->trace = o.trace;
    return loaded_plan{std::move(plan), std::move(*ctx)};
}

/// SIGINT or SIGTERM drains: no new runs; the runs in flight get `grace` to finish, and a
/// second signal or the end of the grace cuts them. (Named awaiters: GCC 12 rejects a braced
/// list inside a co_await operand.)
engine::task<void> on_stop_signals(scheduler::schedule* s, std::chrono::milliseconds grace)
{
    engine::signal_awaiter first{SIGINT, SIGTERM};
    int sig = co_await first;
    if (sig == 0) {
        co_return;
    }
    std::fprintf(stderr, "mailprobe run: signal %d: draining, runs in flight get %lld s (signal again to stop now)\n",
        sig, static_cast<long long>(grace.count() / 1000));
    s->drain();
    engine::scope race;
    race.spawn([](scheduler::schedule* sched, engine::scope* r) -> engine::task<void> {
        engine::signal_awaiter second{SIGINT, SIGTERM};
        const auto signo = co_await second;
        if (signo != 0) {
            std::fprintf(stderr, "mailprobe run: second signal: stopping the runs in flight\n");
            sched->stop_now();
            r->request_stop();
        }
    }(s, &race));
    race.spawn([](scheduler::schedule* sched, std::chrono::milliseconds g, engine::scope* r) -> engine::task<void> {
        const auto slept = co_await engine::sleep_for(g);
        if (slept) {
            std::fprintf(stderr, "mailprobe run: grace period over: stopping the runs in flight\n");
            sched->stop_now();
            r->request_stop();
        }
    }(s, grace, &race));
    co_await race.join();
}

/// SIGHUP reloads the scenario file; a file that does not load keeps the running plan.
engine::task<void> on_reload_signals(scheduler::schedule* s, const run_options* o)
{
    for (;;) {
        engine::signal_awaiter hup{SIGHUP};
        const auto signo = co_await hup;
        if (signo == 0) {
            co_return;
        }
        if (auto next = load_plan(*o, "reload refused: ")) {
            std::fprintf(stderr, "mailprobe run: SIGHUP: reloaded %s (%zu probes)\n", o->path.c_str(),
                next->plan.probes.size());
            if (o->store) {
                o->store->set_plan(next->plan);
            }
            if (o->live) {
                o->live->set_probes(probes_of(next->plan));
            }
            engine::loop::current().dns().set_ttl(next->plan.dns_ttl);
            s->reload(std::move(next->plan), std::move(next->ctx));
        } else {
            std::fprintf(stderr, "mailprobe run: SIGHUP: %s did not load; the running scenario goes on\n",
                o->path.c_str());
        }
    }
}

engine::task<void> run_all(scheduler::schedule* s, loaded_plan first, const run_options* o,
    engine::listener* http, const protocols::http::handler* pages)
{
    engine::scope signals;
    signals.spawn(on_stop_signals(s, o->grace));
    if (!o->once) {
        signals.spawn(on_reload_signals(s, o));
    }
    if (http) {
        signals.spawn(protocols::http::serve(http, pages, protocols::http::server_limits{}));
    }
    co_await s->run(std::move(first.plan), std::move(first.ctx));
    signals.request_stop();   // the probes are done: stop waiting for signals
    co_await signals.join();
}

void usage()
{
    std::printf(
        "usage: mailprobe run SCENARIO [--once [--state FILE]] [--format text|jsonl] [--tenant T]\n"
        "                     [--probe P] [--keep-going] [--trace] [--grace DURATION] [--shard K/N]\n"
        "                     [--store FILE] [--listen IP:PORT]\n\n"
        "Runs the probes of SCENARIO: each on its interval until SIGINT/SIGTERM, or each once.\n"
        "  --once          run every probe once; exit 0 all up, 1 any warning, 2 any down\n"
        "  --state FILE    with --once, next-poll mode for cron and Nagios-style schedulers: look\n"
        "                  once for the messages earlier runs sent (kept in FILE), then send one\n"
        "                  for the next run; the first run reports pending\n"
        "  --format jsonl  one JSON object per result (fields: docs/RESULTS.md); default text\n"
        "  --tenant T      only tenant T (repeatable); --probe P: only probe P (repeatable)\n"
        "  --keep-going    skip probes the scenario defines badly instead of refusing the file\n"
        "  --store FILE    also keep every result in the SQLite history FILE (docs/REPORTS.md)\n"
        "  --trace         include each session's transcript (passwords and tokens redacted)\n"
        "  --listen IP:PORT  serve /metrics (Prometheus), /status.json and a status page at /\n"
        "                  on this address, e.g. 127.0.0.1:9464 or [::1]:9464 (port 0: any free\n"
        "                  port, printed on stderr); docs/RESULTS.md\n"
        "  --shard K/N     run only this instance's share of the probes: N instances with K = 0..N-1\n"
        "                  run every probe exactly once (rendezvous hashing on tenant/probe, so\n"
        "                  adding an instance moves only about 1/(N+1) of the probes)\n"
        "  --grace 30s     after SIGTERM or SIGINT no run starts; runs in flight get this long to\n"
        "                  finish (a second signal cuts them at once); SIGHUP reloads SCENARIO,\n"
        "                  and a file that does not load leaves the running one in place\n\n"
        "examples:\n"
        "  mailprobe run scenarios/examples/topology-3.json --once\n"
        "  mailprobe run msp.json --once --state /var/lib/mailprobe/msp.state   # from cron\n"
        "  mailprobe run msp.json --tenant acme --format jsonl\n");
}

} // namespace

int run_run(const std::vector<std::string>& args)
{
    run_options o;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&]() -> const std::string* { return i + 1 < args.size() ? &args[++i] : nullptr; };
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else if (a == "--once") {
            o.once = true;
        } else if (a == "--keep-going") {
            o.keep_going = true;
        } else if (a == "--trace") {
            o.trace = true;
        } else if (a == "--state") {
            const std::string* v = value();
            if (!v || v->empty()) {
                std::fprintf(stderr, "mailprobe run: --state needs a file\n");
                return 3;
            }
            o.state_path = *v;
        } else if (a == "--shard") {
            const std::string* v = value();
            unsigned k = 0;
            unsigned n = 0;
            char end = 0;
            if (!v || std::sscanf(v->c_str(), "%u/%u%c", &k, &n, &end) != 2 || n == 0 || n > 65536 || k >= n) {
                std::fprintf(stderr, "mailprobe run: --shard takes K/N with 0 <= K < N, e.g. 0/3\n");
                return 3;
            }
            o.filter.shard = k;
            o.filter.shards = n;
        } else if (a == "--grace") {
            const std::string* v = value();
            auto d = v ? duration_of(*v) : std::nullopt;
            if (!d) {
                std::fprintf(stderr, "mailprobe run: --grace takes a duration like 30s or 500ms\n");
                return 3;
            }
            o.grace = *d;
        } else if (a == "--store") {
            const std::string* v = value();
            if (!v || v->empty()) {
                std::fprintf(stderr, "mailprobe run: --store needs a file\n");
                return 3;
            }
            o.store_path = *v;
        } else if (a == "--listen") {
            const std::string* v = value();
            auto colon = v ? v->rfind(':') : std::string::npos;
            unsigned port = 0;
            char end = 0;
            if (colon == std::string::npos || colon == 0 || std::sscanf(v->c_str() + colon + 1, "%u%c", &port, &end) != 1 ||
                port > 65535) {
                std::fprintf(stderr, "mailprobe run: --listen takes IP:PORT, e.g. 127.0.0.1:9464\n");
                return 3;
            }
            o.listen_ip = v->substr(0, colon);
            if (o.listen_ip.size() > 2 && o.listen_ip.front() == '[' && o.listen_ip.back() == ']') {
                o.listen_ip = o.listen_ip.substr(1, o.listen_ip.size() - 2);
            }
            o.listen_port = static_cast<std::uint16_t>(port);
        } else if (a == "--format") {
            const std::string* v = value();
            if (!v || (*v != "text" && *v != "jsonl")) {
                std::fprintf(stderr, "mailprobe run: --format takes text or jsonl\n");
                return 3;
            }
            o.jsonl = *v == "jsonl";
        } else if (a == "--tenant" || a == "--probe") {
            const std::string* v = value();
            if (!v) {
                std::fprintf(stderr, "mailprobe run: %s needs a name\n", a.c_str());
                return 3;
            }
            (a == "--tenant" ? o.filter.tenants : o.filter.probes).push_back(*v);
        } else if (o.path.empty() && !a.empty() && a[0] != '-') {
            o.path = a;
        } else {
            std::fprintf(stderr, "mailprobe run: unexpected argument '%s' (see --help)\n", a.c_str());
            return 3;
        }
    }
    if (o.path.empty()) {
        std::fprintf(stderr, "mailprobe run: which scenario file? (see --help)\n");
        return 3;
    }
    if (!o.state_path.empty() && !o.once) {
        std::fprintf(stderr, "mailprobe run: --state goes with --once (next-poll mode runs once per call)\n");
        return 3;
    }
    // A probe named with --probe runs even when the file disables it: naming it is the intent.
    o.filter.include_disabled = !o.filter.probes.empty();
    auto first = load_plan(o, "");
    if (!first) {
        return 3;
    }
    std::optional<probe::state_file> state;
    if (!o.state_path.empty()) {
        auto opened = probe::state_file::open(o.state_path);
        if (!opened) {
            std::fprintf(stderr, "mailprobe run: %s\n", opened.err().message.c_str());
            return 3;
        }
        state.emplace(std::move(*opened));
    }
    std::unique_ptr<tools::store_sink> store;
    if (!o.store_path.empty()) {
        auto opened = tools::store_sink::open(o.store_path);
        if (!opened) {
            std::fprintf(stderr, "mailprobe run: %s\n", opened.err().message.c_str());
            return 3;
        }
        store = std::move(*opened);
        store->set_plan(first->plan);
        o.store = store.get();
    }
    tally t;
    scheduler::run_fn run;
    if (state) {
        // Next-poll mode: one look for the earlier runs' messages, one message for the next run.
        run = [st = &*state](scenarios::probe_plan plan, probe::context& ctx) -> engine::task<probe::result> {
            const auto& spec = *plan.spec;
            auto done = co_await probe::run_next_poll(plan, ctx, st->get(spec.tenant, spec.name));
            st->put(spec.tenant, spec.name, std::move(done.for_next_run));
            co_return std::move(done.r);
        };
    }
    scheduler::schedule s([&o, &t](const probe::result& r) { emit(r, o, t); }, o.once, std::move(run));
    engine::loop loop;
    report::live_status live;
    std::optional<engine::listener> http;
    protocols::http::handler pages = [&live](std::string_view path) {
        protocols::http::reply r;
        if (path == "/metrics") {
            r.content_type = report::live_status::metrics_content_type;
            r.body = live.metrics();
        } else if (path == "/status.json") {
            r.content_type = "application/json";
            r.body = live.status_json();
        } else if (path == "/") {
            r.content_type = "text/html; charset=utf-8";
            r.body = report::live_status::page();
        } else {
            r.status = 404;
            r.content_type = "text/plain; charset=utf-8";
            r.body = "404 Not Found\n";
        }
        return r;
    };
    if (!o.listen_ip.empty()) {
        auto bound = engine::listener::bind(o.listen_ip, o.listen_port);
        if (!bound) {
            std::fprintf(stderr, "mailprobe run: --listen %s: %s\n", o.listen_ip.c_str(), bound.err().message.c_str());
            return 3;
        }
        http.emplace(std::move(*bound));
        live.set_probes(probes_of(first->plan));
        o.live = &live;
        std::fprintf(stderr, "mailprobe run: listening on %s:%u\n", o.listen_ip.c_str(), unsigned{http->port()});
    }
    loop.dns().set_ttl(first->plan.dns_ttl);
    loop.run(run_all(&s, std::move(*first), &o, http ? &*http : nullptr, &pages));
    if (state) {
        if (auto saved = state->save(); !saved) {
            std::fprintf(stderr, "mailprobe run: the state was not saved: %s\n", saved.err().message.c_str());
            return 3;
        }
    }
    if (!o.once) {
        return 0;
    }
    return t.down ? 2 : t.warning ? 1 : 0;
}
