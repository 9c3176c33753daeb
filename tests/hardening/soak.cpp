// The soak run (issue 7): `mailprobe run` as a daemon, for a bounded time, against the
// built-in server on 127.0.0.1, with a seeded random share of the probes going through fault
// proxies. It proves the daemon holds memory flat, leaks no file descriptor and loses no result.
//
// How: this program plays the world (a builtin::server and one faults::proxy per fault mode,
// on its own loop) and starts `mailprobe run SCENARIO --format jsonl --store DB` as a child.
// The child starts on an idle scenario (one probe that runs once, at once, so that lazily made
// resources exist) so its baseline RSS and fds can be read; SIGHUP loads the soak scenario;
// after the duration SIGHUP loads an idle one again (its probe's first run is a day away), the
// runs in flight finish, and the fds must be back to the baseline; SIGTERM ends it.
// /proc/PID/statm and /proc/PID/fd are sampled all along.
//
// What it checks, and exits 1 when one fails:
// - RSS at the end of the run is less than 5% above RSS after the warm-up (skipped under
//   ASan, whose quarantine makes RSS track what was ever allocated);
// - the fd count is back to the idle baseline once the last runs are done;
// - every result accounted for: each line parses and names a probe of ours, probe ids are
//   unique, every probe ran; healthy probes are all Up (or Warning), and the server received
//   exactly one message per healthy result and holds none of them at the end (found and
//   deleted); a faulty probe is Down at the stage its fault targets with a reason; and the
//   server's evidence of runs (messages received, or connections at an SMTP fault's proxy)
//   equals the results of each fault mode: one result per run started;
// - the daemon exits 0 after SIGTERM.
//
//   soak --mailprobe build/tools/mailprobe/mailprobe [--probes 5000] [--duration 600]
//        [--interval 120] [--faulty 20] [--seed N] [--warmup S] [--sample S] [--work DIR]
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "scenarios/plan.h"
#include "tests/support/sanitizers.h"
#include "tools/faults/fault_proxy.h"
#include "tools/server/server.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

extern char** environ;

using namespace std::chrono_literals;
using engine::task;

namespace {

using test_support::rss_is_meaningful;

constexpr const char* domain = "soak.test";
constexpr const char* password = "soak-mailbox-pw";
constexpr const char* hmac_key = "soak-hmac-key-0123456789abcdef";
constexpr int healthy_mailboxes = 50;

struct options {
    std::string mailprobe;
    int probes = 5000;
    std::chrono::seconds duration{600};
    std::chrono::seconds interval{120};
    int faulty_percent = 20;
    std::uint64_t seed = 0;
    bool seed_given = false;
    std::chrono::seconds warmup{0};   // 0: two intervals, at most a third of the duration
    std::chrono::seconds sample{5};
    std::string work;
    double max_growth_percent = 5.0;
};

/// One way of breaking a server, and the stage a probe must report for it.
struct fault_mode {
    const char* name;
    builtin::protocol proto;   // the listener the proxy fronts
    faults::fault fault;
    const char* stage;
    const char* reason_words;  // the reason must contain these
};

std::vector<fault_mode> fault_modes()
{
    using builtin::protocol;
    return {
        {"smtp-never-greets", protocol::smtp, faults::stall(), "greeting", "timed out"},
        {"smtp-421-greeting", protocol::smtp, faults::send("421 4.3.2 System busy, try again later\r\n"), "greeting", "421"},
        {"smtp-endless-line", protocol::smtp, faults::flood("220 " + std::string(1020, 'A'), 0), "greeting", "line limit"},
        {"smtp-reset-at-auth", protocol::smtp, faults::reset_on("AUTH"), "auth", "reset"},
        {"smtp-reset-in-data", protocol::smtp, faults::reset_on("X-Mailprobe:"), "send", "reset"},
        {"imap-never-greets", protocol::imap, faults::stall(), "greeting", "timed out"},
        {"imap-reset-at-select", protocol::imap, faults::reset_on("SELECT"), "fetch", "reset"},
        {"imap-untagged-flood", protocol::imap, faults::flood("* OK [ALERT] still busy\r\n", 0, "SELECT"), "fetch",
            "untagged responses"},
        {"imap-4gb-literal", protocol::imap, faults::send("* 1 FETCH (UID 1 BODY[HEADER] {4294967296}\r\n", "FETCH"),
            "fetch", "literal"},
        {"imap-reset-at-expunge", protocol::imap, faults::reset_on("EXPUNGE"), "cleanup", "the message was delivered"},
        {"pop3-reset-at-top", protocol::pop3, faults::reset_on("TOP"), "fetch", "reset"},
        {"pop3-reset-at-dele", protocol::pop3, faults::reset_on("DELE"), "cleanup", "the message was delivered"},
    };
}

/// What each probe of the scenario is: healthy (IMAP over TLS or POP3 in plain text), or
/// broken by fault mode `mode`.
struct probe_class {
    int mode = -1;             // index into fault_modes(), -1: healthy
    bool pop3 = false;         // healthy: fetched over POP3
    std::string mailbox;       // the local part of the mailbox it fetches from
};

std::string probe_name(int i) { return fmt::format("soak-{:05}", i); }

[[noreturn]] void usage(const char* why)
{
    std::fprintf(stderr,
        "soak: %s\n"
        "usage: soak --mailprobe PATH [--probes N] [--duration S] [--interval S] [--faulty PERCENT]\n"
        "            [--seed N] [--warmup S] [--sample S] [--work DIR] [--max-growth PERCENT]\n",
        why);
    std::exit(3);
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (i + 1 >= argc) {
            usage(("missing value after " + a).c_str());
        }
        std::string v = argv[++i];
        try {
            if (a == "--mailprobe") {
                o.mailprobe = v;
            } else if (a == "--probes") {
                o.probes = std::stoi(v);
            } else if (a == "--duration") {
                o.duration = std::chrono::seconds(std::stol(v));
            } else if (a == "--interval") {
                o.interval = std::chrono::seconds(std::stol(v));
            } else if (a == "--faulty") {
                o.faulty_percent = std::stoi(v);
            } else if (a == "--seed") {
                o.seed = std::stoull(v);
                o.seed_given = true;
            } else if (a == "--warmup") {
                o.warmup = std::chrono::seconds(std::stol(v));
            } else if (a == "--sample") {
                o.sample = std::chrono::seconds(std::stol(v));
            } else if (a == "--work") {
                o.work = v;
            } else if (a == "--max-growth") {
                o.max_growth_percent = std::stod(v);
            } else {
                usage(("unknown flag " + a).c_str());
            }
        } catch (const std::exception&) {
            usage(("bad value for " + a).c_str());
        }
    }
    if (o.mailprobe.empty()) {
        usage("--mailprobe is required");
    }
    if (o.probes < 1 || o.duration < 10s || o.interval < 15s || o.faulty_percent < 0 || o.faulty_percent > 100
        || o.sample < 1s) {
        usage("need --probes >= 1, --duration >= 10, --interval >= 15, --faulty 0..100, --sample >= 1");
    }
    if (o.warmup == 0s) {
        // The allocator settles after a couple of rounds of every probe.
        o.warmup = std::min(2 * o.interval, o.duration / 3);
    }
    if (!o.seed_given) {
        o.seed = std::random_device{}();
    }
    return o;
}

builtin::config world(const std::vector<fault_mode>& modes)
{
    builtin::config c;
    c.hostname = "mx.soak.test";
    builtin::domain_config d{domain, {}, {}};
    auto box = [](std::string local) {
        builtin::mailbox_config m;
        m.address = local + "@" + domain;
        m.password = password;
        return m;
    };
    d.mailboxes.push_back(box("sender"));
    d.mailboxes.push_back(box("idle"));
    for (int i = 0; i < healthy_mailboxes; ++i) {
        d.mailboxes.push_back(box(fmt::format("h{:02}", i)));
    }
    for (const auto& m : modes) {
        d.mailboxes.push_back(box(m.name));
    }
    c.domains = {d};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"smtp", protocol::smtp, tls_mode::none, "127.0.0.1", 0},
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imap", protocol::imap, tls_mode::none, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::none, "127.0.0.1", 0},
    };
    return c;
}

std::string listener_of(builtin::protocol p)
{
    return p == builtin::protocol::smtp ? "smtp" : p == builtin::protocol::imap ? "imap" : "pop3";
}

/// The idle scenario's only probe, on a day's interval: one whose first run comes within a
/// second (before the soak: every lazily made resource, such as libuv's reserved fd, exists
/// when the baseline is read), or one whose first run is 23 hours away (after the soak).
std::string idle_probe_name(bool runs_at_once)
{
    for (int i = 0;; ++i) {
        std::string name = fmt::format("soak-idle-{}", i);
        auto offset = scenarios::start_offset("soak", name, 24h);
        if (runs_at_once ? offset < 1s : offset >= 23h) {
            return name;
        }
    }
}

std::string server_json(const std::string& name, const char* proto, std::uint16_t port, const char* tls,
    const std::string& ca, bool auth)
{
    std::string s = fmt::format(R"({{"name": "{}", "protocol": "{}", "host": "127.0.0.1", "port": {}, "tls": "{}", )"
                                R"("zone": "internal")",
        name, proto, port, tls);
    if (std::string_view(tls) != "none") {
        s += fmt::format(R"(, "ca_file": "{}", "verify_name": "localhost")", ca);
    }
    if (auth) {
        s += fmt::format(R"(, "auth": {{"user": "sender@{}", "password": {{"env": "SOAK_PASSWORD"}}}})", domain);
    }
    return s + "}";
}

std::string mailbox_json(const std::string& name, const std::string& local, const std::string& server)
{
    return fmt::format(R"({{"name": "{}", "address": "{}@{}", "server": "{}", "password": {{"env": "SOAK_PASSWORD"}}}})",
        name, local, domain, server);
}

std::string probe_json(const std::string& name, const std::string& send_via, const std::string& to,
    const std::string& fetch, const std::string& interval)
{
    return fmt::format(R"({{"name": "{}", "tenant": "soak", "topology": 1, "send_via": "{}", "from": "sender@{}", )"
                       R"("to": "{}@{}", "fetch": "{}", "interval": "{}"}})",
        name, send_via, domain, to, domain, fetch, interval);
}

/// The scenario file: servers (the built-in server's listeners and one per fault proxy),
/// mailboxes, and either the soak's probes or the idle probe (`idle` names it).
std::string scenario_json(const builtin::server& srv, const std::string& ca, const std::vector<fault_mode>& modes,
    const std::vector<std::uint16_t>& proxy_ports, const std::vector<probe_class>* probes, std::chrono::seconds interval,
    const std::string& idle = {})
{
    std::vector<std::string> servers = {
        server_json("smtp", "smtp", srv.port("smtp"), "none", ca, true),
        server_json("submission", "smtp", srv.port("submission"), "starttls", ca, true),
        server_json("imap", "imap", srv.port("imap"), "none", ca, false),
        server_json("imaps", "imap", srv.port("imaps"), "implicit", ca, false),
        server_json("pop3", "pop3", srv.port("pop3"), "none", ca, false),
    };
    std::vector<std::string> boxes = {mailbox_json("idle-imaps", "idle", "imaps")};
    for (int i = 0; i < healthy_mailboxes; ++i) {
        boxes.push_back(mailbox_json(fmt::format("h{:02}-imaps", i), fmt::format("h{:02}", i), "imaps"));
        boxes.push_back(mailbox_json(fmt::format("h{:02}-pop3", i), fmt::format("h{:02}", i), "pop3"));
    }
    for (std::size_t m = 0; m < modes.size(); ++m) {
        const bool smtp = modes[m].proto == builtin::protocol::smtp;
        const std::string proto = listener_of(modes[m].proto);
        servers.push_back(server_json(modes[m].name, proto.c_str(), proxy_ports[m], "none", ca, smtp));
        // SMTP faults fetch straight from the server (they never get that far).
        boxes.push_back(mailbox_json(modes[m].name, modes[m].name, smtp ? "imap" : modes[m].name));
    }
    std::vector<std::string> lines;
    if (probes) {
        const std::string every = fmt::format("{}s", interval.count());
        for (std::size_t i = 0; i < probes->size(); ++i) {
            const probe_class& c = (*probes)[i];
            std::string name = probe_name(static_cast<int>(i));
            if (c.mode < 0) {
                lines.push_back(c.pop3 ? probe_json(name, "smtp", c.mailbox, c.mailbox + "-pop3", every)
                                       : probe_json(name, "submission", c.mailbox, c.mailbox + "-imaps", every));
                continue;
            }
            const fault_mode& m = modes[static_cast<std::size_t>(c.mode)];
            const bool smtp = m.proto == builtin::protocol::smtp;
            lines.push_back(probe_json(name, smtp ? m.name : "smtp", m.name, m.name, every));
        }
    } else {
        lines.push_back(probe_json(idle, "submission", "idle", "idle-imaps", "24h"));
    }
    auto join = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& s : v) {
            out += out.empty() ? "\n    " : ",\n    ";
            out += s;
        }
        return out;
    };
    return fmt::format(R"({{
  "version": 1,
  "internal_domains": ["{}"],
  "hmac_key": {{"env": "SOAK_HMAC_KEY"}},
  "defaults": {{"deadline": "10s", "poll": "500ms", "warn_latency": "10s", "connect_timeout": "5s",
                "command_timeout": "5s"}},
  "tenants": [{{"name": "soak", "description": "the soak run"}}],
  "servers": [{}],
  "mailboxes": [{}],
  "probes": [{}]
}}
)",
        domain, join(servers), join(boxes), join(lines));
}

/// Writes `text` to `path` through a temporary file and a rename, so a SIGHUP never reads
/// half a file.
bool write_file(const std::string& path, const std::string& text)
{
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::trunc);
        f << text;
        if (!f) {
            return false;
        }
    }
    return std::rename(tmp.c_str(), path.c_str()) == 0;
}

struct sample {
    double t = 0;            // seconds since the soak scenario was loaded
    std::size_t rss = 0;     // bytes
    std::size_t fds = 0;
};

std::optional<sample> read_sample(pid_t pid, double t)
{
    std::ifstream statm(fmt::format("/proc/{}/statm", pid));
    std::size_t pages = 0;
    std::size_t resident = 0;
    if (!(statm >> pages >> resident)) {
        return std::nullopt;
    }
    sample s;
    s.t = t;
    s.rss = resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    DIR* d = opendir(fmt::format("/proc/{}/fd", pid).c_str());
    if (!d) {
        return std::nullopt;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') {
            ++s.fds;
        }
    }
    closedir(d);
    return s;
}

/// What the process's fds point at ("socket:[123]" as "socket", "anon_inode:[eventfd]", a
/// path), sorted: printed when the count is off, to name the leak.
std::vector<std::string> fd_targets(pid_t pid)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
        std::string t = std::filesystem::read_symlink(e.path(), ec).string();
        if (t.starts_with("socket:")) {
            t = "socket";
        }
        out.push_back(t);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string mb(std::size_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

std::string uptime()
{
    std::ifstream f("/proc/loadavg");
    std::string a, b, c;
    f >> a >> b >> c;
    return fmt::format("load average {} {} {}", a, b, c);
}

/// What the run saw; filled by drive(), judged by main().
struct observed {
    std::vector<sample> samples;
    std::optional<sample> idle_start;
    std::optional<sample> idle_end;
    std::vector<std::string> idle_start_fds;   // fd_targets() at both moments
    std::vector<std::string> idle_end_fds;
    double fd_settle_s = 0;         // from the idle reload until the fds were back
    std::optional<int> exit_status;
    std::string failure;            // the daemon died or would not stop
    double soak_s = 0;              // from the soak reload to the idle reload
};

bool child_alive(pid_t pid, observed* out)
{
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
        out->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return false;
    }
    return r == 0;
}

struct run_context {
    const options* opt;
    builtin::server* srv;
    pid_t pid;
    std::string scenario_path;
    std::string results_path;
    std::string soak_text;
    std::string warm_idle_text;    // the idle probe runs once, at once
    std::string quiet_idle_text;   // the idle probe never runs
    observed* out;
};

task<void> watch(run_context* rc)
{
    observed& out = *rc->out;
    const pid_t pid = rc->pid;
    // The idle scenario, once its probe ran: the baseline.
    const auto warm_until = engine::clock::now() + 15s;
    std::error_code ec;
    while (engine::clock::now() < warm_until
        && (std::filesystem::file_size(rc->results_path, ec) == 0 || ec)) {
        co_await engine::sleep_for(100ms);
    }
    co_await engine::sleep_for(1s);
    if (!child_alive(pid, &out)) {
        out.failure = "mailprobe run ended before the soak began (see stderr.log)";
        co_return;
    }
    out.idle_start = read_sample(pid, 0);
    out.idle_start_fds = fd_targets(pid);
    write_file(rc->scenario_path, rc->soak_text);
    kill(pid, SIGHUP);
    const auto start = engine::clock::now();
    auto seconds = [&start] { return std::chrono::duration<double>(engine::clock::now() - start).count(); };
    const auto end = start + rc->opt->duration;
    auto next = start;
    while (engine::clock::now() < end) {
        next += rc->opt->sample;
        co_await engine::sleep_until(std::min(next, end));
        if (!child_alive(pid, &out)) {
            out.failure = "mailprobe run died during the soak (see stderr.log)";
            co_return;
        }
        if (auto s = read_sample(pid, seconds())) {
            out.samples.push_back(*s);
        }
    }
    out.soak_s = seconds();
    // Back to idle: no run starts any more, the runs in flight finish (their deadlines and
    // timeouts bound them: 10 s deadline, 5 s connect and command timeouts).
    write_file(rc->scenario_path, rc->quiet_idle_text);
    kill(pid, SIGHUP);
    const auto settle_start = engine::clock::now();
    const auto settle_until = settle_start + 60s;
    std::optional<sample> s;
    while (engine::clock::now() < settle_until) {
        co_await engine::sleep_for(250ms);
        s = read_sample(pid, seconds());
        if (s && out.idle_start && s->fds <= out.idle_start->fds) {
            break;
        }
    }
    // A little longer, so that the last results are surely written and counted.
    co_await engine::sleep_for(2s);
    out.fd_settle_s = std::chrono::duration<double>(engine::clock::now() - settle_start).count() - 2;
    out.idle_end = read_sample(pid, seconds());
    out.idle_end_fds = fd_targets(pid);
    kill(pid, SIGTERM);
    const auto stop_until = engine::clock::now() + 45s;
    while (child_alive(pid, &out) && engine::clock::now() < stop_until) {
        co_await engine::sleep_for(100ms);
    }
    if (!out.exit_status) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        out.failure = "mailprobe run did not stop within 45 s of SIGTERM";
    }
}

task<void> serve_and_watch(run_context* rc)
{
    engine::scope server;
    server.spawn(rc->srv->run());
    co_await watch(rc);
    rc->srv->stop();
    co_await server.join();
}

/// Starts `mailprobe run` on `scenario`, stdout to results.jsonl and stderr to stderr.log.
/// The child dies with us (PR_SET_PDEATHSIG): a soak killed by a test timeout leaves no
/// daemon behind. Everything is prepared before fork(); the child only calls what is safe there.
pid_t start_mailprobe(const options& o, const std::string& scenario, const std::string& work)
{
    std::vector<std::string> args = {o.mailprobe, "run", scenario, "--format", "jsonl", "--store", work + "/history.db"};
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_strings = {std::string("SOAK_PASSWORD=") + password,
        std::string("SOAK_HMAC_KEY=") + hmac_key};
    for (char** e = environ; *e; ++e) {
        std::string_view kv(*e);
        if (!kv.starts_with("SOAK_")) {
            env_strings.emplace_back(kv);
        }
    }
    std::vector<char*> envp;
    for (auto& e : env_strings) {
        envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int out = open((work + "/results.jsonl").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = open((work + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in < 0 || out < 0 || err < 0) {
        return -1;
    }
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        // dup2 clears close-on-exec on the copies.
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execve(argv[0], argv.data(), envp.data());
        _exit(127);
    }
    close(in);
    close(out);
    close(err);
    return pid;
}

/// One result line, the fields the accounting needs.
struct result_line {
    std::string probe;
    std::string status;
    std::string stage;
    std::string reason;
    std::string probe_id;
};

std::optional<result_line> parse_line(simdjson::ondemand::parser& p, const std::string& line)
{
    simdjson::padded_string padded(line);
    simdjson::ondemand::document doc;
    if (p.iterate(padded).get(doc)) {
        return std::nullopt;
    }
    result_line r;
    auto field = [&doc](const char* key, std::string& to) {
        std::string_view v;
        if (!doc[key].get_string().get(v)) {
            to.assign(v);
        }
    };
    field("probe", r.probe);
    field("status", r.status);
    field("stage", r.stage);
    field("reason", r.reason);
    field("probe_id", r.probe_id);
    if (r.probe.empty() || r.status.empty()) {
        return std::nullopt;
    }
    return r;
}

/// Messages the server ever received into `local`'s INBOX (UIDs are never reused), and how
/// many it holds now.
std::pair<std::size_t, std::size_t> mailbox_counts(const builtin::server& srv, const std::string& local)
{
    const builtin::mailbox* m = srv.mailbox(local + "@" + domain);
    if (!m) {
        return {0, 0};
    }
    const auto& inbox = m->at(builtin::folder_id::inbox);
    return {inbox.uid_next() - 1, inbox.size()};
}

} // namespace

int main(int argc, char** argv)
{
    signal(SIGPIPE, SIG_IGN);
    const options opt = parse(argc, argv);
    const auto modes = fault_modes();
    std::string work = opt.work;
    if (work.empty()) {
        work = fmt::format("/tmp/mailprobe-soak-{}", getpid());
    }
    std::filesystem::create_directories(work);

    // Which probe is what: seeded, so a failing run can be repeated exactly.
    std::mt19937_64 rng(opt.seed);
    std::vector<probe_class> probes(static_cast<std::size_t>(opt.probes));
    for (std::size_t i = 0; i < probes.size(); ++i) {
        probe_class& c = probes[i];
        if (static_cast<int>(rng() % 100) < opt.faulty_percent) {
            c.mode = static_cast<int>(rng() % modes.size());
            c.mailbox = modes[static_cast<std::size_t>(c.mode)].name;
        } else {
            c.pop3 = rng() % 2 == 1;
            c.mailbox = fmt::format("h{:02}", i % healthy_mailboxes);
        }
    }

    engine::loop loop;
    builtin::server srv(world(modes));
    if (auto r = srv.start(); !r) {
        std::fprintf(stderr, "soak: cannot start the built-in server: %s\n", r.err().describe().c_str());
        return 3;
    }
    const std::string ca = work + "/ca.pem";
    if (auto w = srv.write_ca_pem(ca); !w) {
        std::fprintf(stderr, "soak: %s\n", w.err().describe().c_str());
        return 3;
    }
    std::vector<faults::proxy> proxies;
    std::vector<std::uint16_t> proxy_ports;
    for (const auto& m : modes) {
        auto p = faults::proxy::start("127.0.0.1", srv.port(listener_of(m.proto)), m.fault);
        if (!p) {
            std::fprintf(stderr, "soak: cannot start a fault proxy: %s\n", p.err().describe().c_str());
            return 3;
        }
        proxy_ports.push_back(p->port());
        proxies.push_back(std::move(*p));
    }

    run_context rc{};
    observed out;
    rc.opt = &opt;
    rc.srv = &srv;
    rc.out = &out;
    rc.scenario_path = work + "/scenario.json";
    rc.soak_text = scenario_json(srv, ca, modes, proxy_ports, &probes, opt.interval);
    rc.results_path = work + "/results.jsonl";
    rc.warm_idle_text = scenario_json(srv, ca, modes, proxy_ports, nullptr, opt.interval, idle_probe_name(true));
    rc.quiet_idle_text = scenario_json(srv, ca, modes, proxy_ports, nullptr, opt.interval, idle_probe_name(false));
    if (!write_file(rc.scenario_path, rc.warm_idle_text)) {
        std::fprintf(stderr, "soak: cannot write %s\n", rc.scenario_path.c_str());
        return 3;
    }
    std::size_t faulty = 0;
    for (const auto& c : probes) {
        faulty += c.mode >= 0 ? 1 : 0;
    }
    std::printf("soak: seed %llu; %d probes (%zu healthy, %zu through %zu fault modes), every %lld s for %lld s; "
                "warm-up %lld s; work in %s\n",
        static_cast<unsigned long long>(opt.seed), opt.probes, probes.size() - faulty, faulty, modes.size(),
        static_cast<long long>(opt.interval.count()), static_cast<long long>(opt.duration.count()),
        static_cast<long long>(opt.warmup.count()), work.c_str());
    std::printf("soak: before: %s\n", uptime().c_str());
    std::fflush(stdout);
    rc.pid = start_mailprobe(opt, rc.scenario_path, work);
    if (rc.pid <= 0) {
        std::fprintf(stderr, "soak: cannot start %s\n", opt.mailprobe.c_str());
        return 3;
    }
    loop.run(serve_and_watch(&rc));
    std::printf("soak: after: %s\n", uptime().c_str());

    std::vector<std::string> failures;
    if (!out.failure.empty()) {
        failures.push_back(out.failure);
    }
    if (out.exit_status && *out.exit_status != 0) {
        failures.push_back(fmt::format("mailprobe run exited {} (see {}/stderr.log)", *out.exit_status, work));
    }

    // Memory and descriptors.
    {
        std::ofstream tsv(work + "/samples.tsv");
        tsv << "seconds\trss_bytes\tfds\n";
        for (const auto& s : out.samples) {
            tsv << fmt::format("{:.1f}\t{}\t{}\n", s.t, s.rss, s.fds);
        }
    }
    const sample* warm = nullptr;
    std::size_t max_rss = 0;
    std::size_t max_fds = 0;
    for (const auto& s : out.samples) {
        if (!warm && s.t >= static_cast<double>(opt.warmup.count())) {
            warm = &s;
        }
        if (warm) {
            max_rss = std::max(max_rss, s.rss);
        }
        max_fds = std::max(max_fds, s.fds);
    }
    if (out.idle_start && warm && !out.samples.empty()) {
        const sample& last = out.samples.back();
        const double growth = 100.0 * (static_cast<double>(last.rss) - static_cast<double>(warm->rss))
            / static_cast<double>(warm->rss);
        std::printf("rss: idle %s; after warm-up (%.0f s) %s; end (%.0f s) %s; max after warm-up %s; growth %+.2f%%%s\n",
            mb(out.idle_start->rss).c_str(), warm->t, mb(warm->rss).c_str(), last.t, mb(last.rss).c_str(),
            mb(max_rss).c_str(), growth, rss_is_meaningful ? "" : " (not judged: ASan build)");
        if (rss_is_meaningful && growth >= opt.max_growth_percent) {
            failures.push_back(fmt::format("RSS grew {:.2f}% after warm-up (bound {}%)", growth, opt.max_growth_percent));
        }
    } else {
        failures.push_back("too few samples to judge memory (is the duration longer than the warm-up?)");
    }
    if (out.idle_start && out.idle_end) {
        std::printf("fds: idle %zu; max during the run %zu; after the last runs %zu (back in %.1f s)\n",
            out.idle_start->fds, max_fds, out.idle_end->fds, out.fd_settle_s);
        if (out.idle_end->fds != out.idle_start->fds) {
            failures.push_back(fmt::format("{} fds open after the last runs, {} before the soak", out.idle_end->fds,
                out.idle_start->fds));
            std::vector<std::string> more;
            std::vector<std::string> fewer;
            std::set_difference(out.idle_end_fds.begin(), out.idle_end_fds.end(), out.idle_start_fds.begin(),
                out.idle_start_fds.end(), std::back_inserter(more));
            std::set_difference(out.idle_start_fds.begin(), out.idle_start_fds.end(), out.idle_end_fds.begin(),
                out.idle_end_fds.end(), std::back_inserter(fewer));
            for (const auto& t : more) {
                std::printf("fds: opened and still open: %s\n", t.c_str());
            }
            for (const auto& t : fewer) {
                std::printf("fds: closed since the start: %s\n", t.c_str());
            }
        }
    }

    // Results.
    std::map<std::string, std::size_t> by_name;   // probe name -> index in probes
    for (std::size_t i = 0; i < probes.size(); ++i) {
        by_name[probe_name(static_cast<int>(i))] = i;
    }
    std::ifstream in(work + "/results.jsonl");
    simdjson::ondemand::parser parser;
    std::string line;
    std::size_t total = 0;
    std::map<std::string, std::size_t> by_status;
    std::map<std::string, std::size_t> down_by_stage;
    std::vector<std::size_t> per_probe(probes.size(), 0);
    std::vector<std::size_t> per_mode(modes.size(), 0);
    std::map<std::string, std::size_t> healthy_per_box;   // results per healthy mailbox
    std::set<std::string> ids;
    std::size_t idle_runs = 0;
    std::vector<std::string> wrong;   // results that break a rule, the first few shown
    auto complain = [&wrong](std::string s) {
        wrong.push_back(std::move(s));
    };
    while (std::getline(in, line)) {
        if (line.empty()) {
            continue;
        }
        auto r = parse_line(parser, line);
        if (!r) {
            complain("unparseable result line: " + line.substr(0, 200));
            continue;
        }
        if (r->probe.starts_with("soak-idle-")) {
            ++idle_runs;
            if (r->status != "up") {
                complain(fmt::format("the idle probe's run before the soak is {}: {}", r->status, r->reason));
            }
            continue;
        }
        auto it = by_name.find(r->probe);
        if (it == by_name.end()) {
            complain("a result for a probe we did not plan: " + r->probe);
            continue;
        }
        ++total;
        ++by_status[r->status];
        if (r->status == "down") {
            ++down_by_stage[r->stage];
        }
        if (!r->probe_id.empty() && !ids.insert(r->probe_id).second) {
            complain("probe id reported twice: " + r->probe_id);
        }
        ++per_probe[it->second];
        const probe_class& c = probes[it->second];
        if (c.mode < 0) {
            ++healthy_per_box[c.mailbox];
            if (r->status != "up" && r->status != "warning") {
                complain(fmt::format("healthy probe {} is {} at {}: {}", r->probe, r->status, r->stage, r->reason));
            }
            continue;
        }
        const fault_mode& m = modes[static_cast<std::size_t>(c.mode)];
        ++per_mode[static_cast<std::size_t>(c.mode)];
        if (r->status != "down" || r->stage != m.stage || r->reason.find(m.reason_words) == std::string::npos) {
            complain(fmt::format("{} ({}) should be down at {} saying \"{}\": {} at {}: {}", r->probe, m.name, m.stage,
                m.reason_words, r->status, r->stage, r->reason));
        }
    }
    std::string statuses;
    for (const auto& [s, n] : by_status) {
        statuses += fmt::format("{}{} {}", statuses.empty() ? "" : ", ", s, n);
    }
    std::string stages;
    for (const auto& [s, n] : down_by_stage) {
        stages += fmt::format("{}{} {}", stages.empty() ? "" : ", ", s, n);
    }
    std::printf("results: %zu in %.0f s (%.1f probe runs/s): %s; down by stage: %s\n", total, out.soak_s,
        out.soak_s > 0 ? static_cast<double>(total) / out.soak_s : 0.0, statuses.c_str(), stages.c_str());
    if (idle_runs != 1) {
        complain(fmt::format("the idle probe ran {} times, once was planned", idle_runs));
    }
    auto [fewest, most] = std::minmax_element(per_probe.begin(), per_probe.end());
    std::printf("runs per probe: %zu to %zu\n", *fewest, *most);
    if (*fewest == 0) {
        complain("a probe never produced a result");
    }

    // The server's evidence: one message per run that got past SMTP, one connection per run
    // at an SMTP fault's proxy.
    std::size_t healthy_results = 0;
    std::size_t received = 0;
    std::size_t held = 0;
    for (int i = 0; i < healthy_mailboxes; ++i) {
        auto local = fmt::format("h{:02}", i);
        auto [got, left] = mailbox_counts(srv, local);
        received += got;
        held += left;
        healthy_results += healthy_per_box[local];
        if (got != healthy_per_box[local]) {
            complain(fmt::format("mailbox {}: the server received {} messages, its probes reported {} results", local,
                got, healthy_per_box[local]));
        }
    }
    std::printf("healthy: %zu results; the server received %zu messages and holds %zu of them at the end\n",
        healthy_results, received, held);
    if (held != 0) {
        complain(fmt::format("{} healthy probe messages were left in the mailboxes", held));
    }
    for (std::size_t m = 0; m < modes.size(); ++m) {
        const bool smtp = modes[m].proto == builtin::protocol::smtp;
        auto [got, left] = mailbox_counts(srv, modes[m].name);
        const std::size_t evidence = smtp ? proxies[m].accepted() : got;
        const std::string held_text = smtp ? std::string() : fmt::format(", held {}", left);
        std::printf("fault %-22s %5zu results, down at %-8s; %s %zu%s\n", modes[m].name, per_mode[m], modes[m].stage,
            smtp ? "connections at its proxy" : "messages received", evidence, held_text.c_str());
        if (evidence != per_mode[m]) {
            complain(fmt::format("fault {}: {} runs seen by the server, {} results", modes[m].name, evidence, per_mode[m]));
        }
        if (per_mode[m] > 0 && proxies[m].fired() == 0) {
            complain(fmt::format("fault {} never fired", modes[m].name));
        }
    }
    for (std::size_t i = 0; i < wrong.size() && i < 20; ++i) {
        std::printf("wrong: %s\n", wrong[i].c_str());
    }
    if (!wrong.empty()) {
        failures.push_back(fmt::format("{} results not accounted for (the first are listed above)", wrong.size()));
    }
    for (const auto& f : failures) {
        std::printf("FAIL: %s\n", f.c_str());
    }
    if (failures.empty()) {
        std::printf("soak: PASS\n");
        std::error_code ec;
        if (opt.work.empty()) {
            std::filesystem::remove_all(work, ec);
        }
        return 0;
    }
    std::printf("soak: FAIL (the files are in %s)\n", work.c_str());
    return 1;
}
