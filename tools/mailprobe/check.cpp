// `mailprobe check`: one probe from command-line flags, as a Nagios / Icinga / Checkmk
// plugin: one status line with performance data, exit 0 OK, 1 WARNING, 2 CRITICAL,
// 3 UNKNOWN (bad usage, or no verdict yet in next-poll mode). Passwords come from the
// environment or a file, never from argv, where every user of `ps` could read them.
#include "tools/mailprobe/commands.h"
#include "tools/mailprobe/flags.h"

#include "engine/loop.h"
#include "probe/roundtrip.h"
#include "probe/state_file.h"
#include "report/format.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>

using namespace std::chrono_literals;

namespace {

using scenarios::protocol_kind;
using scenarios::tls_mode;

void usage()
{
    std::printf(
        "usage: mailprobe check --smtp HOST:PORT --fetch URL --from ADDR --to ADDR [options]\n\n"
        "Sends one probe message and fetches it back; prints one Nagios status line with\n"
        "performance data. Exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n\n"
        "  --smtp HOST:PORT          submission server (TLS: implicit on 465, else STARTTLS)\n"
        "  --smtp-tls MODE           none | starttls | implicit\n"
        "  --smtp-user USER          SMTP AUTH user; its password from --smtp-password-env VAR\n"
        "                            or --smtp-password-file PATH, or an OAuth2 token (XOAUTH2 or\n"
        "                            OAUTHBEARER) from --smtp-oauth2-token-env VAR,\n"
        "                            --smtp-oauth2-token-file PATH or\n"
        "                            --smtp-oauth2-token-command \"PROGRAM ARGS\" (split at\n"
        "                            spaces, no shell; its output is the token; it does not\n"
        "                            get the variables named by these flags nor the key's)\n"
        "  --fetch URL               imap://HOST:PORT, imaps://HOST:PORT, pop3://HOST:PORT or\n"
        "                            pop3s://HOST:PORT (imap and pop3 require STARTTLS/STLS)\n"
        "  --fetch-tls MODE          none | starttls | implicit, overriding the URL's default\n"
        "  --fetch-user USER         mailbox login (default: --to); password from\n"
        "                            --fetch-password-env VAR or --fetch-password-file PATH, or\n"
        "                            a token from --fetch-oauth2-token-env VAR,\n"
        "                            --fetch-oauth2-token-file PATH or\n"
        "                            --fetch-oauth2-token-command \"PROGRAM ARGS\"\n"
        "  --ca-file PATH            trust this CA instead of the system store\n"
        "  --verify-name NAME        the name certificates must carry (default: the host)\n"
        "  --insecure                do not verify certificates (reported as a warning)\n"
        "  --deadline 60s --poll 2s  how long to wait for delivery, and how often to look\n"
        "  --warn-latency 30s        WARNING when delivery takes longer\n"
        "  --warn-cert-days 14       WARNING when a certificate expires sooner\n"
        "  --junk-warning            a probe filed into Junk is a WARNING, not CRITICAL\n"
        "  --hmac-key-env VAR        the deployment's probe key (default MAILPROBE_HMAC_KEY);\n"
        "                            without one, a key for this run only (older leftovers of\n"
        "                            earlier runs then cannot be recognised and stay)\n"
        "  --state FILE              next-poll mode: check the message the previous call sent\n"
        "                            (kept in FILE, one file per check), then send one for the\n"
        "                            next call; needs the key from --hmac-key-env; the first\n"
        "                            call is UNKNOWN (nothing to judge yet)\n"
        "  --trace                   print the protocol transcripts (secrets redacted)\n\n"
        "example:\n"
        "  SMTP_PW=... IMAP_PW=... mailprobe check --smtp mail.example.org:587 \\\n"
        "      --smtp-user probe@example.org --smtp-password-env SMTP_PW \\\n"
        "      --fetch imaps://mail.example.org:993 --fetch-password-env IMAP_PW \\\n"
        "      --from probe@example.org --to probe@example.org\n");
}

/// "host:port" or "[v6]:port".
bool split_host_port(const std::string& s, std::string& host, std::uint16_t& port)
{
    auto colon = s.rfind(':');
    if (colon == std::string::npos || colon + 1 == s.size()) {
        return false;
    }
    host = s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    try {
        int p = std::stoi(s.substr(colon + 1));
        if (p < 1 || p > 65535) {
            return false;
        }
        port = static_cast<std::uint16_t>(p);
    } catch (...) {
        return false;
    }
    return !host.empty();
}

// An access token is a few KiB (Entra ID's JWTs with many claims are the biggest).
constexpr std::size_t max_token_bytes = 16 * 1024;

/// The login of `user`: a password (env or file), a token (env or file), or a token command
/// (split at spaces: no shell, as in scenarios); nullopt and `why` when more than one is
/// given or the one given is unusable.
std::optional<scenarios::credential> login_of(const std::string& user, const std::string& flag,
    const std::string& pw_env, const std::string& pw_file, const std::string& token_env,
    const std::string& token_file, const std::string& token_command, std::string& why)
{
    int given = !pw_env.empty() + !pw_file.empty() + !token_env.empty() + !token_file.empty() + !token_command.empty();
    if (given > 1) {
        why = "give only one of " + flag + "-password-env, -password-file, -oauth2-token-env, -oauth2-token-file and "
            "-oauth2-token-command";
        return std::nullopt;
    }
    scenarios::credential c;
    c.user = user;
    if (!token_command.empty()) {
        std::istringstream words(token_command);
        for (std::string w; words >> w;) {
            c.oauth2_token_command.push_back(w);
        }
        if (c.oauth2_token_command.empty()) {
            why = flag + "-oauth2-token-command is empty";
            return std::nullopt;
        }
        return c;
    }
    const bool token = !token_env.empty() || !token_file.empty();
    const std::string& env = token ? token_env : pw_env;
    const std::string& file = token ? token_file : pw_file;
    auto value = secret_from(env, file, why, token ? max_token_bytes : 4096);
    if (!value) {
        return std::nullopt;
    }
    auto kind = file.empty() ? scenarios::secret::source::env : scenarios::secret::source::file;
    (token ? c.oauth2_token : c.password) = scenarios::secret(std::move(*value), kind,
        (file.empty() ? "env " : "file ") + (file.empty() ? env : file));
    return c;
}

int unknown(const std::string& why)
{
    std::printf("MAILPROBE UNKNOWN - %s\n", why.c_str());
    return 3;
}

engine::task<void> run_one(scenarios::probe_plan p, probe::context* ctx, probe::state_file* state,
    probe::result* out)
{
    if (!state) {
        *out = co_await probe::run_once(std::move(p), *ctx);
        co_return;
    }
    std::string name = p.spec->name;
    auto done = co_await probe::run_next_poll(std::move(p), *ctx, state->get("check", name));
    state->put("check", name, std::move(done.for_next_run));
    *out = std::move(done.r);
}

/// The probe name of a check: the same for every call of one check, different for checks
/// that differ in servers, addresses or mailbox login. Probes delete older messages of their
/// own name as leftovers, so two checks into one mailbox must not share a name.
std::string check_name(const scenarios::server& out, const scenarios::server& in, const std::string& from,
    const std::string& to, const std::string& login)
{
    std::string identity = fmt::format("{}:{}\n{}:{}\n{}\n{}\n{}", out.host, out.port, in.host, in.port, from, to, login);
    std::uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const std::uint8_t*>(identity.data()), identity.size(), digest);
    return fmt::format("check-{:02x}", fmt::join(digest, digest + 8, ""));
}

/// Nagios splits the plugin's line at '|' into text and performance data.
std::string without_bars(std::string text)
{
    std::replace(text.begin(), text.end(), '|', '/');
    return text;
}

std::string seconds(std::int64_t ms) { return fmt::format("{:.3f}s", static_cast<double>(ms) / 1000.0); }

} // namespace

int run_check(const std::vector<std::string>& args)
{
    std::string smtp, smtp_tls, smtp_user, smtp_pw_env, smtp_pw_file, smtp_token_env, smtp_token_file, smtp_token_command;
    std::string fetch, fetch_tls, fetch_user, fetch_pw_env, fetch_pw_file, fetch_token_env, fetch_token_file,
        fetch_token_command;
    std::string from, to, ca_file, verify_name, state_path, key_env = "MAILPROBE_HMAC_KEY";
    std::string deadline = "60s", poll = "2s", warn_latency = "30s", warn_cert_days = "14";
    bool insecure = false, junk_warning = false, trace = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        if (a == "--insecure" || a == "--junk-warning" || a == "--trace") {
            (a == "--insecure" ? insecure : a == "--trace" ? trace : junk_warning) = true;
            continue;
        }
        std::string* slot = a == "--smtp" ? &smtp : a == "--smtp-tls" ? &smtp_tls : a == "--smtp-user" ? &smtp_user
            : a == "--smtp-password-env" ? &smtp_pw_env : a == "--smtp-password-file" ? &smtp_pw_file
            : a == "--smtp-oauth2-token-env" ? &smtp_token_env : a == "--smtp-oauth2-token-file" ? &smtp_token_file
            : a == "--smtp-oauth2-token-command" ? &smtp_token_command
            : a == "--fetch" ? &fetch : a == "--fetch-tls" ? &fetch_tls : a == "--fetch-user" ? &fetch_user
            : a == "--fetch-password-env" ? &fetch_pw_env : a == "--fetch-password-file" ? &fetch_pw_file
            : a == "--fetch-oauth2-token-env" ? &fetch_token_env : a == "--fetch-oauth2-token-file" ? &fetch_token_file
            : a == "--fetch-oauth2-token-command" ? &fetch_token_command
            : a == "--from" ? &from : a == "--to" ? &to : a == "--ca-file" ? &ca_file
            : a == "--verify-name" ? &verify_name : a == "--hmac-key-env" ? &key_env
            : a == "--deadline" ? &deadline : a == "--poll" ? &poll : a == "--warn-latency" ? &warn_latency
            : a == "--warn-cert-days" ? &warn_cert_days : a == "--state" ? &state_path : nullptr;
        if (!slot || i + 1 >= args.size()) {
            return unknown("bad argument '" + a + "' (see mailprobe check --help)");
        }
        *slot = args[++i];
    }
    if (smtp.empty() || fetch.empty() || from.empty() || to.empty()) {
        return unknown("--smtp, --fetch, --from and --to are required (see mailprobe check --help)");
    }
    scenarios::server out;
    out.name = "smtp";
    out.protocol = protocol_kind::smtp;
    if (!split_host_port(smtp, out.host, out.port)) {
        return unknown("--smtp wants HOST:PORT, got '" + smtp + "'");
    }
    auto out_tls = smtp_tls.empty() ? std::optional(out.port == 465 ? tls_mode::implicit : tls_mode::starttls)
                                    : tls_mode_of<tls_mode>(smtp_tls);
    scenarios::server in;
    in.name = "fetch";
    auto scheme_end = fetch.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : fetch.substr(0, scheme_end);
    if (scheme != "imap" && scheme != "imaps" && scheme != "pop3" && scheme != "pop3s") {
        return unknown("--fetch wants imap://, imaps://, pop3:// or pop3s://HOST:PORT, got '" + fetch + "'");
    }
    in.protocol = scheme.rfind("imap", 0) == 0 ? protocol_kind::imap : protocol_kind::pop3;
    if (!split_host_port(fetch.substr(scheme_end + 3), in.host, in.port)) {
        return unknown("--fetch wants a HOST:PORT after the scheme, got '" + fetch + "'");
    }
    auto in_tls = fetch_tls.empty() ? std::optional(scheme.back() == 's' ? tls_mode::implicit : tls_mode::starttls)
                                    : tls_mode_of<tls_mode>(fetch_tls);
    if (!out_tls || !in_tls) {
        return unknown("TLS modes are none, starttls or implicit");
    }
    out.tls = *out_tls;
    in.tls = *in_tls;
    for (auto* s : {&out, &in}) {
        s->ca_file = ca_file;
        s->verify_name = verify_name;
        s->insecure = insecure;
    }
    std::string why;
    auto smtp_login = login_of(smtp_user, "--smtp", smtp_pw_env, smtp_pw_file, smtp_token_env, smtp_token_file,
        smtp_token_command, why);
    auto fetch_login = login_of(fetch_user.empty() ? to : fetch_user, "--fetch", fetch_pw_env, fetch_pw_file,
        fetch_token_env, fetch_token_file, fetch_token_command, why);
    if (!smtp_login || !fetch_login) {
        return unknown(why);
    }
    if (!smtp_user.empty()) {
        out.auth = std::move(*smtp_login);
    }
    auto dl = duration_of(deadline);
    auto pl = duration_of(poll);
    auto wl = duration_of(warn_latency);
    int cert_days = 0;
    try {
        cert_days = std::stoi(warn_cert_days);
    } catch (...) {
        return unknown("--warn-cert-days wants a number of days");
    }
    if (!dl || !pl || !wl || *pl <= 0ms || *dl <= *pl) {
        return unknown("durations are like 250ms, 30s or 2m, and the deadline must exceed the poll interval");
    }

    scenarios::probe_plan p;
    auto spec = std::make_shared<scenarios::probe>();
    spec->name = check_name(out, in, from, to, fetch_login->user);
    spec->tenant = "check";
    spec->from = from;
    spec->to = to;
    spec->deadline = *dl;
    spec->poll = *pl;
    spec->warn_latency = *wl;
    spec->warn_cert_days = cert_days;
    spec->junk = junk_warning ? scenarios::junk_policy::warning : scenarios::junk_policy::down;
    p.spec = spec;
    p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"check", ""});
    p.send_via = std::make_shared<scenarios::server>(out);
    auto box = std::make_shared<scenarios::mailbox>();
    box->name = "mailbox";
    box->address = to;
    box->server = "fetch";
    box->login = std::move(*fetch_login);
    p.fetch = box;
    p.fetch_server = std::make_shared<scenarios::server>(in);

    std::array<std::uint8_t, 64> key_bytes{};
    std::size_t key_size = 32;
    if (const char* k = std::getenv(key_env.c_str()); k && *k) {
        std::string key(k);
        if (key.size() < 16 || key.size() > 64) {
            return unknown(key_env + " must hold 16 to 64 bytes");
        }
        std::copy(key.begin(), key.end(), key_bytes.begin());
        key_size = key.size();
    } else if (!state_path.empty()) {
        return unknown("--state needs the deployment's key in " + key_env + ": a key for one call cannot "
            "recognise the message the previous call sent");
    } else {
        RAND_bytes(key_bytes.data(), key_size);
    }
    auto mac = protocols::message::mac_key::from_bytes(std::span(key_bytes.data(), key_size));
    probe::context ctx(*mac);
    ctx.trace = trace;
    // Token commands get neither side's secrets nor the key, as in `mailprobe run`.
    for (const std::string* name : {&smtp_pw_env, &smtp_token_env, &fetch_pw_env, &fetch_token_env, &key_env}) {
        if (!name->empty()) {
            ctx.tokens.command.withheld_env.push_back(*name);
        }
    }

    std::optional<probe::state_file> state_file;
    if (!state_path.empty()) {
        auto opened = probe::state_file::open(state_path);
        if (!opened) {
            return unknown(opened.err().message);
        }
        state_file.emplace(std::move(*opened));
    }
    probe::result r;
    {
        engine::loop loop;
        loop.run(run_one(std::move(p), &ctx, state_file ? &*state_file : nullptr, &r));
    }
    if (state_file) {
        if (auto saved = state_file->save(); !saved) {
            return unknown("the state was not saved: " + saved.err().message);
        }
    }
    int code = 0;
    std::string state = "OK";
    std::string text;
    switch (r.outcome) {
    case probe::status::up:
    case probe::status::warning:
        code = r.outcome == probe::status::up ? 0 : 1;
        state = code == 0 ? "OK" : "WARNING";
        text = fmt::format("{} {} ms to {}", r.next_poll ? "seen after" : "delivered in", r.ms.delivery, r.folder);
        break;
    case probe::status::down:
        code = 2;
        state = "CRITICAL";
        text = report::to_text_reason(r);
        break;
    case probe::status::pending:
        code = 3;
        state = "UNKNOWN";
        text = "sent the first message; the next call checks it";
        break;
    }
    for (const auto& w : r.warnings) {
        if (r.outcome != probe::status::down || text.find(w) == std::string::npos) {
            text += "; " + w;
        }
    }
    // Nagios perfdata: 'label'=value[UOM];warn;crit;min;max. A warning level at or above the
    // deadline can never fire (the probe is CRITICAL first), so it is left empty rather than
    // drawn above the critical line.
    std::string warn = *wl < *dl ? fmt::format("{:.3f}", static_cast<double>(wl->count()) / 1000.0) : std::string();
    std::string perf = fmt::format("delivery={};{};{:.3f};0 smtp_connect={} smtp_tls={} smtp_auth={} "
                                   "smtp_transaction={} fetch={} total={}",
        seconds(r.ms.delivery), warn, static_cast<double>(dl->count()) / 1000.0,
        seconds(r.ms.smtp_connect), seconds(r.ms.smtp_tls), seconds(r.ms.smtp_auth), seconds(r.ms.smtp_transaction),
        seconds(r.ms.fetch), seconds(r.ms.total));
    if (r.cert_days_left) {
        perf += fmt::format(" cert_days={};{};0", *r.cert_days_left, cert_days);
    }
    std::printf("MAILPROBE %s - %s | %s\n", state.c_str(), without_bars(std::move(text)).c_str(), perf.c_str());
    if (trace && !r.transcript.empty()) {
        std::fputs(r.transcript.c_str(), stdout);
    }
    return code;
}
