// `mailprobe load`: drive a mail server hard and report what it did. The engine of the run
// lives in load/ (driver: arrivals, workers, bounds; workload: one send, fetch or round trip
// on our own sessions; hold: many IMAP sessions held open and polled); this file reads the
// flags, picks the target (IP literals, a scenario's probe, or the built-in server started
// in a child process so its CPU and memory are not the client's), and prints the figures.
#include "tools/mailprobe/commands.h"
#include "tools/mailprobe/flags.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/signals.h"
#include "engine/tls_resume.h"
#include "load/driver.h"
#include "load/hold.h"
#include "load/workload.h"
#include "scenarios/loader.h"
#include "tools/server/server.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

using namespace std::chrono_literals;
using protocols::tls_mode;

namespace {

void usage(std::FILE* to)
{
    std::fprintf(to,
        "usage: mailprobe load MODE TARGET [options]\n\n"
        "Drives a mail server with many operations and reports throughput, latency percentiles\n"
        "(p50, p90, p99, p99.9, max) and errors by stage. A run is always bounded by --duration\n"
        "and --count. Exit 0 when every operation succeeded, 1 when some failed, 3 on bad usage\n"
        "or when the target cannot be set up.\n\n"
        "MODE\n"
        "  smtp        one SMTP session per operation sending one message (probe header, padded\n"
        "              body) to --to\n"
        "  imap        one IMAP session per operation: login, SELECT INBOX, find a message this\n"
        "              run sent first (SEARCH on its X-Mailprobe id), fetch its header, LOGOUT\n"
        "  pop3        one POP3 session per operation: login, STAT, TOP 1 0, QUIT (a message is\n"
        "              sent first so the maildrop is not empty)\n"
        "  roundtrip   send a message with a unique HMAC-signed id, find it over IMAP, verify\n"
        "              its MAC, delete it\n"
        "  imap-hold   open --sessions IMAP sessions, keep them open and poll each every --poll\n"
        "              (UID SEARCH) for --duration; reports memory per held session\n\n"
        "TARGET (one of)\n"
        "  --builtin                  start the built-in server (tools/server) in a child process on\n"
        "                             127.0.0.1; --smtp-tls and --fetch-tls pick its listeners\n"
        "  --smtp IP:PORT             the SMTP server (an IP literal; names are not resolved)\n"
        "  --imap IP:PORT | --pop3 IP:PORT   the mailbox server\n"
        "  --scenario FILE --probe NAME      the servers, addresses, logins and HMAC key of a\n"
        "                             scenario's probe (passwords only, no OAuth2 sources)\n\n"
        "Target options\n"
        "  --smtp-tls MODE, --fetch-tls MODE   none | starttls | implicit (default none)\n"
        "  --ca-file PATH             trust this CA (the built-in server's is used automatically)\n"
        "  --verify-name NAME         the name certificates must carry (default: the IP)\n"
        "  --insecure                 do not verify certificates\n"
        "  --tls-resume               resume TLS sessions (the last ticket each server gave) instead\n"
        "                             of a full handshake per connection; probes never do this\n"
        "  --from ADDR --to ADDR      envelope and header addresses (built-in: preset)\n"
        "  --smtp-user USER           SMTP AUTH with the password from --smtp-password-env VAR\n"
        "                             or --smtp-password-file PATH\n"
        "  --user USER                mailbox login (default --to), password from --password-env\n"
        "                             VAR or --password-file PATH (never from argv)\n"
        "  --hmac-key-env VAR         key for the X-Mailprobe MAC (default: a key for this run)\n"
        "  --size BYTES               message body size (default 1024)\n"
        "  --timeout DURATION         connect and per-command deadline (default 10s)\n"
        "  --deliver-within DURATION  roundtrip: how long to look for the message (default 10s)\n\n"
        "Load shape\n"
        "  --rate N                   open loop: N operations per second, latency measured from each\n"
        "                             operation's planned start (no coordinated omission); at most\n"
        "                             --concurrency in flight (default 1000), later ones queue\n"
        "  --concurrency N            closed loop (no --rate): N workers back to back (default 10)\n"
        "  --duration DURATION        no start after this (default 10s; 250ms, 30s, 2m); what still\n"
        "                             runs 30 s later is cancelled and counted as an error\n"
        "  --count N                  no more than N operations (default and cap 1000000)\n"
        "  --sessions N --poll DURATION --opening N   imap-hold: sessions held (default 1000),\n"
        "                             poll interval (default 5s), handshakes at a time (200)\n\n"
        "Output\n"
        "  --format text|json         the final report (default text). A progress line (rate,\n"
        "                             errors, p50/p99 so far) goes to stderr when it is a terminal.\n"
        "  JSON: one object with mode, target, loop, rate, concurrency, size and \"result\": started,\n"
        "  ok, failed, errors_by_stage, first_error_by_stage, elapsed_s, per_second and latency_ms\n"
        "  {p50, p90, p99, p99_9, max, mean}; imap-hold gives sessions, held, rss_before_kib,\n"
        "  rss_held_kib, kib_per_session and such objects for \"opens\" and \"polls\". Latencies come\n"
        "  from a log-linear histogram (within 0.8 %% of the exact value); started = ok + failed.\n\n"
        "Ctrl-C stops starting operations; those in flight finish and the report is printed.\n\n"
        "examples:\n"
        "  mailprobe load smtp --builtin --concurrency 20 --count 20000\n"
        "  mailprobe load roundtrip --builtin --smtp-tls starttls --fetch-tls implicit --rate 500 --duration 10s\n"
        "  mailprobe load imap-hold --builtin --fetch-tls implicit --sessions 10000 --poll 5s --duration 20s\n"
        "  PW=... mailprobe load pop3 --pop3 127.0.0.10:110 --smtp 127.0.0.10:25 --from a@internal.test \\\n"
        "      --to probe@internal.test --password-env PW --concurrency 4 --duration 5s\n");
}

struct options {
    load::mode mode = load::mode::smtp;
    bool builtin = false;
    std::string smtp, imap, pop3, scenario, probe;
    tls_mode smtp_tls = tls_mode::none;
    tls_mode fetch_tls = tls_mode::none;
    std::string ca_file, verify_name, from, to, smtp_user, smtp_pw_env, smtp_pw_file, user, pw_env, pw_file;
    std::string key_env;
    bool insecure = false;
    bool tls_resume = false;
    std::size_t size = 1024;
    std::chrono::milliseconds timeout{10'000};
    std::chrono::milliseconds deliver_within{10'000};
    load::run_limits limits;
    bool concurrency_given = false;
    load::hold_limits hold;
    bool json = false;
};

constexpr std::uint64_t max_count = 1'000'000;

std::optional<load::mode> mode_of(std::string_view s)
{
    if (s == "smtp") {
        return load::mode::smtp;
    }
    if (s == "imap") {
        return load::mode::imap;
    }
    if (s == "pop3") {
        return load::mode::pop3;
    }
    if (s == "roundtrip") {
        return load::mode::roundtrip;
    }
    if (s == "imap-hold") {
        return load::mode::imap_hold;
    }
    return std::nullopt;
}

std::string_view name_of(load::mode m)
{
    switch (m) {
    case load::mode::smtp: return "smtp";
    case load::mode::imap: return "imap";
    case load::mode::pop3: return "pop3";
    case load::mode::roundtrip: return "roundtrip";
    case load::mode::imap_hold: return "imap-hold";
    }
    return "?";
}

std::optional<std::uint64_t> count_of(const std::string& s, std::uint64_t lowest, std::uint64_t highest)
{
    std::uint64_t n = 0;
    std::size_t used = 0;
    try {
        if (s.empty() || s[0] == '-') {
            return std::nullopt;
        }
        n = std::stoull(s, &used);
    } catch (...) {
        return std::nullopt;
    }
    if (used != s.size() || n < lowest || n > highest) {
        return std::nullopt;
    }
    return n;
}

/// "IP:PORT" with an IPv4 literal or "[IPv6]:PORT": load runs never resolve names.
bool ip_port_of(const std::string& s, std::string& ip, std::uint16_t& port)
{
    auto colon = s.rfind(':');
    if (colon == std::string::npos) {
        return false;
    }
    ip = s.substr(0, colon);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') {
        ip = ip.substr(1, ip.size() - 2);
    }
    std::array<unsigned char, 16> addr{};
    if (inet_pton(AF_INET, ip.c_str(), addr.data()) != 1 && inet_pton(AF_INET6, ip.c_str(), addr.data()) != 1) {
        return false;
    }
    auto p = count_of(s.substr(colon + 1), 1, 65535);
    if (!p) {
        return false;
    }
    port = static_cast<std::uint16_t>(*p);
    return true;
}

/// Parses `args` into `o`; false with `why` on the first problem.
bool parse(const std::vector<std::string>& args, options& o, std::string& why)
{
    if (args.empty()) {
        why = "name a MODE: smtp, imap, pop3, roundtrip or imap-hold";
        return false;
    }
    auto m = mode_of(args[0]);
    if (!m) {
        why = "unknown mode '" + args[0] + "' (smtp, imap, pop3, roundtrip, imap-hold)";
        return false;
    }
    o.mode = *m;
    for (std::size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= args.size()) {
                why = a + " needs a value";
                return false;
            }
            out = args[++i];
            return true;
        };
        auto number = [&](std::uint64_t lowest, std::uint64_t highest, auto& out) {
            std::string v;
            if (!value(v)) {
                return false;
            }
            auto n = count_of(v, lowest, highest);
            if (!n) {
                why = fmt::format("{} wants a whole number from {} to {}, not '{}'", a, lowest, highest, v);
                return false;
            }
            out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
            return true;
        };
        auto duration = [&](std::chrono::milliseconds& out) {
            std::string v;
            if (!value(v)) {
                return false;
            }
            auto d = duration_of(v);
            if (!d || d->count() == 0) {
                why = a + " wants a positive duration like 250ms, 30s or 2m, not '" + v + "'";
                return false;
            }
            out = *d;
            return true;
        };
        auto tls = [&](tls_mode& out) {
            std::string v;
            if (!value(v)) {
                return false;
            }
            auto t = tls_mode_of<tls_mode>(v);
            if (!t) {
                why = a + " wants none, starttls or implicit, not '" + v + "'";
                return false;
            }
            out = *t;
            return true;
        };
        bool ok = true;
        if (a == "--builtin") {
            o.builtin = true;
        } else if (a == "--insecure") {
            o.insecure = true;
        } else if (a == "--tls-resume") {
            o.tls_resume = true;
        } else if (a == "--smtp") {
            ok = value(o.smtp);
        } else if (a == "--imap") {
            ok = value(o.imap);
        } else if (a == "--pop3") {
            ok = value(o.pop3);
        } else if (a == "--scenario") {
            ok = value(o.scenario);
        } else if (a == "--probe") {
            ok = value(o.probe);
        } else if (a == "--smtp-tls") {
            ok = tls(o.smtp_tls);
        } else if (a == "--fetch-tls") {
            ok = tls(o.fetch_tls);
        } else if (a == "--ca-file") {
            ok = value(o.ca_file);
        } else if (a == "--verify-name") {
            ok = value(o.verify_name);
        } else if (a == "--from") {
            ok = value(o.from);
        } else if (a == "--to") {
            ok = value(o.to);
        } else if (a == "--smtp-user") {
            ok = value(o.smtp_user);
        } else if (a == "--smtp-password-env") {
            ok = value(o.smtp_pw_env);
        } else if (a == "--smtp-password-file") {
            ok = value(o.smtp_pw_file);
        } else if (a == "--user") {
            ok = value(o.user);
        } else if (a == "--password-env") {
            ok = value(o.pw_env);
        } else if (a == "--password-file") {
            ok = value(o.pw_file);
        } else if (a == "--hmac-key-env") {
            ok = value(o.key_env);
        } else if (a == "--size") {
            ok = number(0, 10 * 1024 * 1024, o.size);
        } else if (a == "--timeout") {
            ok = duration(o.timeout);
        } else if (a == "--deliver-within") {
            ok = duration(o.deliver_within);
        } else if (a == "--rate") {
            std::uint64_t r = 0;
            ok = number(1, 1'000'000, r);
            o.limits.rate = static_cast<double>(r);
        } else if (a == "--concurrency") {
            ok = number(1, 100'000, o.limits.concurrency);
            o.concurrency_given = true;
        } else if (a == "--duration") {
            ok = duration(o.limits.duration);
            o.hold.duration = o.limits.duration;
        } else if (a == "--count") {
            ok = number(1, max_count, o.limits.count);
        } else if (a == "--sessions") {
            ok = number(1, 100'000, o.hold.sessions);
        } else if (a == "--opening") {
            ok = number(1, 10'000, o.hold.opening);
        } else if (a == "--poll") {
            ok = duration(o.hold.poll);
        } else if (a == "--format") {
            std::string f;
            ok = value(f);
            if (ok && f != "text" && f != "json") {
                why = "--format wants text or json, not '" + f + "'";
                ok = false;
            }
            o.json = f == "json";
        } else {
            why = "unknown option '" + a + "'";
            ok = false;
        }
        if (!ok) {
            return false;
        }
    }
    int targets = o.builtin + !o.scenario.empty() + (!o.smtp.empty() || !o.imap.empty() || !o.pop3.empty());
    if (targets != 1) {
        why = targets ? "give one target: --builtin, --scenario, or --smtp/--imap/--pop3"
                      : "give a target: --builtin, --scenario FILE --probe NAME, or --smtp/--imap/--pop3 IP:PORT";
        return false;
    }
    if (!o.scenario.empty() && o.probe.empty()) {
        why = "--scenario needs --probe NAME";
        return false;
    }
    if (!o.imap.empty() && !o.pop3.empty()) {
        why = "give --imap or --pop3, not both";
        return false;
    }
    if (!o.limits.rate && !o.concurrency_given) {
        o.limits.concurrency = 10;
    } else if (o.limits.rate && !o.concurrency_given) {
        o.limits.concurrency = 1000;
    }
    return true;
}

protocols::credentials password_login(std::string user, std::string password)
{
    protocols::credentials c;
    c.user = std::move(user);
    c.secret = std::move(password);
    return c;
}

/// The built-in server in a child process: its own core, its own memory.
struct builtin_child {
    pid_t pid = -1;
    std::string ca_file;
    std::uint16_t smtp = 0, submission = 0, submissions = 0, imap = 0, imap_stls = 0, imaps = 0, pop3 = 0,
                  pop3_stls = 0, pop3s = 0;

    ~builtin_child()
    {
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, nullptr, 0);
        }
        if (!ca_file.empty()) {
            std::remove(ca_file.c_str());
        }
    }
};

builtin::config builtin_world()
{
    builtin::config c;
    c.hostname = "mail.load.test";
    builtin::domain_config d{"load.test", {}, {}};
    d.mailboxes = {{"load@load.test", "", "load-pw", false}, {"sender@load.test", "", "sender-pw", false}};
    c.domains = {d};
    using builtin::protocol;
    c.listeners = {
        {"smtp", protocol::smtp, tls_mode::none, "127.0.0.1", 0},
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"submissions", protocol::smtp, tls_mode::implicit, "127.0.0.1", 0},
        {"imap", protocol::imap, tls_mode::none, "127.0.0.1", 0},
        {"imap-stls", protocol::imap, tls_mode::starttls, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::none, "127.0.0.1", 0},
        {"pop3-stls", protocol::pop3, tls_mode::starttls, "127.0.0.1", 0},
        {"pop3s", protocol::pop3, tls_mode::implicit, "127.0.0.1", 0},
    };
    c.limits.max_connections = 100'000;   // a load run is the only client
    return c;
}

/// Forks the built-in server; it writes its CA file and one line of ports, then serves until
/// we end it (or die: PR_SET_PDEATHSIG). Must run before this process makes an engine loop.
bool start_builtin(builtin_child& child, std::string& why)
{
    int fds[2];
    if (pipe(fds) != 0) {
        why = "pipe failed";
        return false;
    }
    child.ca_file = fmt::format("/tmp/mailprobe-load-ca-{}.pem", getpid());
    const pid_t parent = getpid();
    child.pid = fork();
    if (child.pid < 0) {
        why = "fork failed";
        return false;
    }
    if (child.pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(0);
        }
        engine::loop loop;
        builtin::server srv(builtin_world());
        auto started = srv.start();
        if (!started || !srv.write_ca_pem(child.ca_file)) {
            _exit(3);
        }
        auto line = fmt::format("{} {} {} {} {} {} {} {} {}\n", srv.port("smtp"), srv.port("submission"),
            srv.port("submissions"), srv.port("imap"), srv.port("imap-stls"), srv.port("imaps"), srv.port("pop3"),
            srv.port("pop3-stls"), srv.port("pop3s"));
        if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(3);
        }
        close(fds[1]);
        loop.run(srv.run());
        _exit(0);
    }
    close(fds[1]);
    std::FILE* in = fdopen(fds[0], "r");
    int got = in ? std::fscanf(in, "%hu %hu %hu %hu %hu %hu %hu %hu %hu", &child.smtp, &child.submission,
        &child.submissions, &child.imap, &child.imap_stls, &child.imaps, &child.pop3, &child.pop3_stls, &child.pop3s) : 0;
    if (in) {
        std::fclose(in);
    }
    if (got != 9) {
        why = "the built-in server did not start";
        return false;
    }
    return true;
}

std::uint16_t builtin_port(const builtin_child& c, bool smtp, bool pop3, tls_mode tls)
{
    if (smtp) {
        return tls == tls_mode::none ? c.smtp : tls == tls_mode::starttls ? c.submission : c.submissions;
    }
    if (pop3) {
        return tls == tls_mode::none ? c.pop3 : tls == tls_mode::starttls ? c.pop3_stls : c.pop3s;
    }
    return tls == tls_mode::none ? c.imap : tls == tls_mode::starttls ? c.imap_stls : c.imaps;
}

/// A client TLS context for `o`, made once and shared by every connection of the run.
bool tls_for(const options& o, const std::string& ca_file, bool insecure, protocols::endpoint& ep, std::string& why)
{
    if (ep.tls == tls_mode::none) {
        return true;
    }
    engine::tls_options t;
    t.ca_file = ca_file;
    t.insecure = insecure;
    auto ctx = engine::tls_context::client(t);
    if (!ctx) {
        why = ctx.err().describe();
        return false;
    }
    if (o.tls_resume) {
        engine::resume_sessions(*ctx);
    }
    ep.tls_context = std::move(*ctx);
    if (ep.verify_name.empty()) {
        ep.verify_name = o.verify_name;
    }
    return true;
}

protocols::endpoint endpoint_of(std::string host, std::uint16_t port, tls_mode tls, std::chrono::milliseconds timeout)
{
    protocols::endpoint ep;
    ep.host = std::move(host);
    ep.port = port;
    ep.tls = tls;
    ep.connect_timeout = timeout;
    ep.command_timeout = timeout;
    return ep;
}

/// Fills `t` (and the MAC key) from a scenario's probe: its SMTP server, addresses and mailbox.
bool target_from_scenario(const options& o, load::target& t, std::string& key, bool& pop3, std::string& why)
{
    auto loaded = scenarios::load(o.scenario);
    if (!loaded.ok()) {
        why = o.scenario + ": " + (loaded.errors.empty() ? "does not load" : loaded.errors.front().message);
        return false;
    }
    const auto& sc = *loaded.value;
    const auto* p = sc.find_probe(o.probe);
    const auto* smtp = p ? sc.find_server(p->send_via) : nullptr;
    const auto* box = p ? sc.find_mailbox(p->fetch) : nullptr;
    const auto* fetch = box ? sc.find_server(box->server) : nullptr;
    if (!p || !smtp || !box || !fetch) {
        why = "the scenario has no probe '" + o.probe + "' with its servers";
        return false;
    }
    if (!box->login.password || (smtp->auth && !smtp->auth->password)) {
        why = "load runs log in with passwords only; the probe's servers use OAuth2";
        return false;
    }
    auto make = [&](const scenarios::server& s, protocols::endpoint& ep) {
        ep = endpoint_of(s.host, s.port, static_cast<tls_mode>(s.tls), o.timeout);
        ep.verify_name = s.verify_name;
        return tls_for(o, s.ca_file, s.insecure, ep, why);
    };
    if (!make(*smtp, t.smtp) || !make(*fetch, t.fetch)) {
        return false;
    }
    if (smtp->auth) {
        t.smtp_auth = password_login(smtp->auth->user, std::string(smtp->auth->password->reveal()));
    }
    t.mailbox = password_login(box->login.user, std::string(box->login.password->reveal()));
    t.from = p->from;
    t.to = p->to;
    pop3 = fetch->protocol == scenarios::protocol_kind::pop3;
    key = std::string(sc.hmac_key.reveal());
    return true;
}

std::string ms(std::uint64_t us) { return fmt::format("{:.2f}", static_cast<double>(us) / 1000.0); }

void progress_line(const load::run_stats& s, engine::clock::duration elapsed, std::uint64_t* last_done)
{
    const auto done = s.ok + s.failed();
    std::fprintf(stderr, "\r%6.1f s  %8llu done  %8llu/s  errors %llu  p50 %s ms  p99 %s ms   ",
        std::chrono::duration<double>(elapsed).count(), static_cast<unsigned long long>(done),
        static_cast<unsigned long long>(done - *last_done), static_cast<unsigned long long>(s.failed()),
        ms(s.latency.percentile(50)).c_str(), ms(s.latency.percentile(99)).c_str());
    std::fflush(stderr);
    *last_done = done;
}

std::string json_string(std::string_view s)
{
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", c);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string json_of(const load::run_stats& s)
{
    std::string errors, first;
    for (const auto& [stage, n] : s.errors) {
        errors += fmt::format("{}{}: {}", errors.empty() ? "" : ", ", json_string(stage), n);
    }
    for (const auto& [stage, what] : s.first_error) {
        first += fmt::format("{}{}: {}", first.empty() ? "" : ", ", json_string(stage), json_string(what));
    }
    const auto& h = s.latency;
    return fmt::format("{{\"started\": {}, \"ok\": {}, \"failed\": {}, \"errors_by_stage\": {{{}}}, "
                       "\"first_error_by_stage\": {{{}}}, \"elapsed_s\": {:.3f}, \"per_second\": {:.1f}, "
                       "\"latency_ms\": {{\"p50\": {}, \"p90\": {}, \"p99\": {}, \"p99_9\": {}, \"max\": {}, "
                       "\"mean\": {:.2f}}}}}",
        s.started, s.ok, s.failed(), errors, first, static_cast<double>(s.elapsed.count()) / 1e6, s.throughput(),
        ms(h.percentile(50)), ms(h.percentile(90)), ms(h.percentile(99)), ms(h.percentile(99.9)), ms(h.max()),
        h.mean() / 1000.0);
}

void print_text(const char* title, const load::run_stats& s)
{
    const auto& h = s.latency;
    std::printf("%s: %llu started, %llu ok, %llu failed in %.2f s: %.1f per second\n", title,
        static_cast<unsigned long long>(s.started), static_cast<unsigned long long>(s.ok),
        static_cast<unsigned long long>(s.failed()), static_cast<double>(s.elapsed.count()) / 1e6, s.throughput());
    std::printf("  latency ms: p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n", ms(h.percentile(50)).c_str(),
        ms(h.percentile(90)).c_str(), ms(h.percentile(99)).c_str(), ms(h.percentile(99.9)).c_str(),
        ms(h.max()).c_str());
    for (const auto& [stage, n] : s.errors) {
        std::printf("  errors at %s: %llu (first: %s)\n", stage.c_str(), static_cast<unsigned long long>(n),
            s.first_error.at(stage).c_str());
    }
}

struct outcome {
    std::optional<load::run_stats> run;
    std::optional<load::hold_stats> hold;
    std::string setup_error;
};

engine::task<void> run_all(const options* o, load::workload* w, outcome* out)
{
    const bool tty = isatty(STDERR_FILENO);
    auto last_done = std::make_unique<std::uint64_t>(0);
    load::progress_fn progress;
    if (tty) {
        progress = [p = last_done.get()](const load::run_stats& s, engine::clock::duration e) { progress_line(s, e, p); };
    }
    const bool seeded = o->mode == load::mode::imap || o->mode == load::mode::pop3;
    if (seeded) {
        if (auto s = co_await w->seed(); !s) {
            out->setup_error = "cannot send the message the fetches look for: " + s.err().describe();
            co_return;
        }
    }
    if (o->mode == load::mode::imap_hold) {
        out->hold = co_await load::hold_imap(o->hold, w->where(), progress);
    } else {
        load::operation op;
        switch (o->mode) {
        case load::mode::smtp: op = [w](std::uint64_t n) { return w->send(n); }; break;
        case load::mode::imap: op = [w](std::uint64_t n) { return w->imap_fetch(n); }; break;
        case load::mode::pop3: op = [w](std::uint64_t n) { return w->pop3_fetch(n); }; break;
        default: op = [w](std::uint64_t n) { return w->roundtrip(n); }; break;
        }
        out->run = co_await load::drive(o->limits, std::move(op), progress);
    }
    if (tty) {
        std::fputc('\n', stderr);
    }
    if (seeded) {
        // Leave the mailbox as we found it; a failure here is not the run's.
        auto gone = co_await w->unseed(o->mode == load::mode::imap).under(std::stop_token{});
        if (!gone) {
            std::fprintf(stderr, "mailprobe load: could not delete the seed message: %s\n", gone.err().describe().c_str());
        }
    }
}

engine::task<void> with_interrupt(const options* o, load::workload* w, outcome* out)
{
    std::stop_source stop;
    engine::scope watch;
    watch.spawn([](std::stop_source* s) -> engine::task<void> {
        engine::signal_awaiter sig{SIGINT, SIGTERM};
        const int received = co_await sig;
        if (received) {
            s->request_stop();
        }
    }(&stop));
    co_await run_all(o, w, out).under(stop.get_token());
    watch.request_stop();
    co_await watch.join();
}

} // namespace

int run_load(const std::vector<std::string>& args)
{
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        usage(stdout);
        return 0;
    }
    options o;
    std::string why;
    if (!parse(args, o, why)) {
        std::fprintf(stderr, "mailprobe load: %s\n(see mailprobe load --help)\n", why.c_str());
        return 3;
    }
    // Thousands of sockets: take every descriptor the hard limit allows (the child too).
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
        fds.rlim_cur = fds.rlim_max;
        setrlimit(RLIMIT_NOFILE, &fds);
    }

    load::target t;
    t.body_size = o.size;
    t.deliver_within = o.deliver_within;
    std::string key_text;
    bool pop3 = !o.pop3.empty() || o.mode == load::mode::pop3;
    builtin_child child;
    if (o.builtin) {
        if (!start_builtin(child, why)) {
            std::fprintf(stderr, "mailprobe load: %s\n", why.c_str());
            return 3;
        }
        t.smtp = endpoint_of("127.0.0.1", builtin_port(child, true, false, o.smtp_tls), o.smtp_tls, o.timeout);
        t.fetch = endpoint_of("127.0.0.1", builtin_port(child, false, pop3, o.fetch_tls), o.fetch_tls, o.timeout);
        t.from = o.from.empty() ? "sender@load.test" : o.from;
        t.to = o.to.empty() ? "load@load.test" : o.to;
        t.mailbox = password_login(t.to, "load-pw");
        if (o.ca_file.empty()) {
            o.ca_file = child.ca_file;
        }
        if (!tls_for(o, o.ca_file, o.insecure, t.smtp, why) || !tls_for(o, o.ca_file, o.insecure, t.fetch, why)) {
            std::fprintf(stderr, "mailprobe load: %s\n", why.c_str());
            return 3;
        }
    } else if (!o.scenario.empty()) {
        if (!target_from_scenario(o, t, key_text, pop3, why)) {
            std::fprintf(stderr, "mailprobe load: %s\n", why.c_str());
            return 3;
        }
    } else {
        std::string ip;
        std::uint16_t port = 0;
        const std::string& fetch = pop3 ? o.pop3 : o.imap;
        if (!o.smtp.empty()) {
            if (!ip_port_of(o.smtp, ip, port)) {
                std::fprintf(stderr, "mailprobe load: --smtp wants IP:PORT with an IP literal, not '%s'\n", o.smtp.c_str());
                return 3;
            }
            t.smtp = endpoint_of(ip, port, o.smtp_tls, o.timeout);
        }
        if (!fetch.empty()) {
            if (!ip_port_of(fetch, ip, port)) {
                std::fprintf(stderr, "mailprobe load: --%s wants IP:PORT with an IP literal, not '%s'\n",
                    pop3 ? "pop3" : "imap", fetch.c_str());
                return 3;
            }
            t.fetch = endpoint_of(ip, port, o.fetch_tls, o.timeout);
        }
        t.from = o.from;
        t.to = o.to;
        auto smtp_pw = secret_from(o.smtp_pw_env, o.smtp_pw_file, why);
        auto pw = smtp_pw ? secret_from(o.pw_env, o.pw_file, why) : std::nullopt;
        if (!pw || !tls_for(o, o.ca_file, o.insecure, t.smtp, why) || !tls_for(o, o.ca_file, o.insecure, t.fetch, why)) {
            std::fprintf(stderr, "mailprobe load: %s\n", why.c_str());
            return 3;
        }
        if (!o.smtp_user.empty()) {
            t.smtp_auth = password_login(o.smtp_user, *smtp_pw);
        }
        t.mailbox = password_login(o.user.empty() ? o.to : o.user, *pw);
    }
    // What each mode needs of the target, checked before anything is sent.
    const bool needs_smtp = o.mode != load::mode::imap_hold;
    const bool needs_fetch = o.mode != load::mode::smtp;
    if (needs_smtp && (t.smtp.host.empty() || t.from.empty() || t.to.empty())) {
        why = "this mode sends mail: give --smtp IP:PORT, --from and --to";
    } else if (needs_fetch && t.fetch.host.empty()) {
        why = o.mode == load::mode::pop3 ? "pop3 mode needs --pop3 IP:PORT" : "this mode needs --imap IP:PORT";
    } else if (pop3 && o.mode != load::mode::pop3 && needs_fetch) {
        why = "round trips and held sessions use IMAP: give --imap, not --pop3";
    } else if (needs_fetch && t.mailbox.secret.empty()) {
        why = "the mailbox login needs a password (--password-env VAR or --password-file PATH)";
    }
    if (!why.empty()) {
        std::fprintf(stderr, "mailprobe load: %s\n", why.c_str());
        return 3;
    }

    if (!o.key_env.empty()) {
        const char* v = std::getenv(o.key_env.c_str());
        key_text = v ? v : "";
    }
    std::array<std::uint8_t, 32> random_key{};
    std::optional<protocols::message::mac_key> key;
    if (key_text.empty()) {
        RAND_bytes(random_key.data(), random_key.size());   // a key for this run only
        key = protocols::message::mac_key::from_bytes(random_key);
    } else {
        key = protocols::message::mac_key::from_bytes(
            std::span(reinterpret_cast<const std::uint8_t*>(key_text.data()), key_text.size()));
    }
    if (!key) {
        std::fprintf(stderr, "mailprobe load: the HMAC key must be 16 to 64 bytes\n");
        return 3;
    }

    engine::loop loop;
    load::workload w(std::move(t), *key);
    outcome out;
    loop.run(with_interrupt(&o, &w, &out));
    if (!out.setup_error.empty()) {
        std::fprintf(stderr, "mailprobe load: %s\n", out.setup_error.c_str());
        return 3;
    }

    const auto& where = w.where();
    const std::string target_text = o.builtin ? "builtin" : !o.scenario.empty() ? o.scenario + "#" + o.probe : "given";
    const bool closed = o.limits.rate == 0;
    const auto mode_text = name_of(o.mode);
    if (out.hold) {
        const auto& h = *out.hold;
        const double per_session = h.held ? static_cast<double>(h.rss_held_kib - h.rss_before_kib) / static_cast<double>(h.held) : 0.0;
        if (o.json) {
            std::printf("{\"mode\": \"%s\", \"target\": %s, \"fetch\": \"%s:%u\", \"fetch_tls\": %s, "
                        "\"sessions\": %zu, \"held\": %zu, \"poll_s\": %.3f, \"rss_before_kib\": %ld, "
                        "\"rss_held_kib\": %ld, \"kib_per_session\": %.1f, \"opens\": %s, \"polls\": %s}\n",
                mode_text.data(), json_string(target_text).c_str(), where.fetch.host.c_str(), where.fetch.port,
                where.fetch.tls == tls_mode::none ? "false" : "true", o.hold.sessions, h.held,
                static_cast<double>(o.hold.poll.count()) / 1000.0, h.rss_before_kib, h.rss_held_kib, per_session,
                json_of(h.opens).c_str(), json_of(h.polls).c_str());
        } else {
            std::printf("mailprobe load imap-hold against %s:%u (%s): %zu of %zu sessions held, polled every %.1f s\n",
                where.fetch.host.c_str(), where.fetch.port, where.fetch.tls == tls_mode::none ? "plain" : "TLS", h.held,
                o.hold.sessions, static_cast<double>(o.hold.poll.count()) / 1000.0);
            std::printf("  client RSS: %ld KiB before, %ld KiB held: %.1f KiB per session\n", h.rss_before_kib,
                h.rss_held_kib, per_session);
            print_text("opens", h.opens);
            print_text("polls", h.polls);
        }
        return h.opens.failed() + h.polls.failed() ? 1 : 0;
    }
    const auto& s = *out.run;
    if (o.json) {
        std::printf("{\"mode\": \"%s\", \"target\": %s, \"smtp\": \"%s:%u\", \"smtp_tls\": %s, \"fetch\": \"%s:%u\", "
                    "\"fetch_tls\": %s, \"loop\": \"%s\", \"rate\": %.0f, \"concurrency\": %zu, \"size\": %zu, "
                    "\"result\": %s}\n",
            mode_text.data(), json_string(target_text).c_str(), where.smtp.host.c_str(), where.smtp.port,
            where.smtp.tls == tls_mode::none ? "false" : "true", where.fetch.host.c_str(), where.fetch.port,
            where.fetch.tls == tls_mode::none ? "false" : "true", closed ? "closed" : "open", o.limits.rate,
            o.limits.concurrency, o.size, json_of(s).c_str());
    } else {
        std::printf("mailprobe load %s against %s, %s loop (%s), %zu-byte bodies\n", mode_text.data(), target_text.c_str(),
            closed ? "closed" : "open",
            closed ? fmt::format("{} at a time", o.limits.concurrency).c_str()
                   : fmt::format("{:.0f}/s, at most {} in flight", o.limits.rate, o.limits.concurrency).c_str(),
            o.size);
        print_text(mode_text.data(), s);
    }
    return s.failed() ? 1 : 0;
}
