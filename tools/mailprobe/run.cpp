// `mailprobe run SCENARIO [--once [--state FILE]] [--format text|jsonl] [--tenant T]
//  [--probe P] [--keep-going] [--trace]`: runs the scenario's probes, each on its interval
// (spread by its stable offset) until SIGINT/SIGTERM, or each once with --once; with --state,
// once in next-poll mode (look for the earlier runs' messages, send this run's). One result
// per probe run on stdout, as it completes. Exit status with --once: 0 all up (or pending),
// 1 any warning, 2 any down; 3 when the scenario or the state file cannot be used.
#include "tools/mailprobe/commands.h"
#include "tools/mailprobe/store_sink.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/signals.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "probe/state_file.h"
#include "report/format.h"
#include "scenarios/loader.h"
#include "scenarios/plan.h"

#include <csignal>
#include <cstdio>
#include <optional>

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
    scenarios::plan_filter filter;
};

struct tally {
    int up = 0;
    int warning = 0;
    int down = 0;
};

void emit(const probe::result& r, const run_options& o, tally& t)
{
    if (o.store) {
        o.store->add(r);
    }
    std::string line = o.jsonl ? report::to_json(r) : report::to_text(r);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    if (o.trace && !o.jsonl && !r.transcript.empty()) {
        std::fputs(r.transcript.c_str(), stdout);
    }
    std::fflush(stdout);
    switch (r.outcome) {
    case probe::status::up: ++t.up; break;
    case probe::status::warning: ++t.warning; break;
    case probe::status::down: ++t.down; break;
    case probe::status::pending: break;
    }
}

/// Next-poll mode: one look for the earlier runs' messages, one message for the next run.
engine::task<void> probe_next_poll(scenarios::probe_plan plan, probe::context* ctx, probe::state_file* state,
    const run_options* o, tally* t)
{
    const auto& spec = *plan.spec;
    auto earlier = state->get(spec.tenant, spec.name);
    auto done = co_await probe::run_next_poll(plan, *ctx, std::move(earlier));
    state->put(spec.tenant, spec.name, std::move(done.for_next_run));
    emit(done.r, *o, *t);
}

/// One probe: once, or on its interval from its offset until a stop is requested.
engine::task<void> keep_probing(scenarios::probe_plan plan, probe::context* ctx, const run_options* o, tally* t)
{
    if (!o->once && !co_await engine::sleep_for(plan.offset)) {
        co_return;
    }
    auto next = engine::clock::now();
    for (;;) {
        emit(co_await probe::run_once(plan, *ctx), *o, *t);
        if (o->once) {
            co_return;
        }
        next += plan.spec->interval;
        if (!co_await engine::sleep_until(next)) {
            co_return;
        }
    }
}

engine::task<void> run_all(scenarios::plan plan, probe::context* ctx, probe::state_file* state, const run_options* o,
    tally* t)
{
    engine::scope outer;
    engine::scope probes;
    outer.spawn([](engine::scope* p) -> engine::task<void> {
        // The first SIGINT or SIGTERM ends every probe at its next wait. (A named awaiter:
        // GCC 12 rejects a braced list inside a co_await operand.)
        engine::signal_awaiter stop_signals{SIGINT, SIGTERM};
        if (int sig = co_await stop_signals; sig != 0) {
            std::fprintf(stderr, "mailprobe run: signal %d, stopping\n", sig);
            p->request_stop();
        }
    }(&probes));
    for (auto& p : plan.probes) {
        if (state) {
            probes.spawn(probe_next_poll(std::move(p), ctx, state, o, t));
        } else {
            probes.spawn(keep_probing(std::move(p), ctx, o, t));
        }
    }
    co_await probes.join();
    outer.request_stop();   // the probes are done: stop waiting for signals
    co_await outer.join();
}

void usage()
{
    std::printf(
        "usage: mailprobe run SCENARIO [--once [--state FILE]] [--format text|jsonl] [--tenant T]\n"
        "                     [--probe P] [--keep-going] [--trace]\n\n"
        "Runs the probes of SCENARIO: each on its interval until SIGINT/SIGTERM, or each once.\n"
        "  --once          run every probe once; exit 0 all up, 1 any warning, 2 any down\n"
        "  --state FILE    with --once, next-poll mode for cron and Nagios-style schedulers: look\n"
        "                  once for the messages earlier runs sent (kept in FILE), then send one\n"
        "                  for the next run; the first run reports pending\n"
        "  --format jsonl  one JSON object per result (fields: docs/RESULTS.md); default text\n"
        "  --tenant T      only tenant T (repeatable); --probe P: only probe P (repeatable)\n"
        "  --keep-going    skip probes the scenario defines badly instead of refusing the file\n"
        "  --store FILE    also keep every result in the SQLite history FILE (docs/REPORTS.md)\n"
        "  --trace         include each session's transcript (passwords and tokens redacted)\n\n"
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
        } else if (a == "--store") {
            const std::string* v = value();
            if (!v || v->empty()) {
                std::fprintf(stderr, "mailprobe run: --store needs a file\n");
                return 3;
            }
            o.store_path = *v;
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
    scenarios::load_options lo;
    lo.keep_going = o.keep_going;
    auto loaded = scenarios::load(o.path, lo);
    for (const auto& w : loaded.warnings) {
        std::fprintf(stderr, "warning: %s\n", w.to_string().c_str());
    }
    for (const auto& e : loaded.errors) {
        std::fprintf(stderr, "error: %s\n", e.to_string().c_str());
    }
    if (!loaded.ok()) {
        return 3;
    }
    // A probe named with --probe runs even when the file disables it: naming it is the intent.
    o.filter.include_disabled = !o.filter.probes.empty();
    auto plan = scenarios::make_plan(*loaded.value, o.filter);
    for (const auto& e : plan.errors) {
        std::fprintf(stderr, "error: %s\n", e.c_str());
    }
    if (!plan.errors.empty() || plan.probes.empty()) {
        if (plan.probes.empty()) {
            std::fprintf(stderr, "mailprobe run: no probe to run\n");
        }
        return 3;
    }
    auto ctx = probe::context::from_plan(plan);
    if (!ctx) {
        std::fprintf(stderr, "mailprobe run: the scenario's hmac_key is not usable (16 to 64 bytes)\n");
        return 3;
    }
    ctx->trace = o.trace;
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
        store->set_plan(plan);
        o.store = store.get();
    }
    tally t;
    engine::loop loop;
    loop.run(run_all(std::move(plan), &*ctx, state ? &*state : nullptr, &o, &t));
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
