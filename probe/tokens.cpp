// OAuth2 token sources and the token cache; see tokens.h.
#include "probe/tokens.h"

#include "engine/timer.h"
#include "probe/client_assertion.h"
#include "probe/replace_file.h"
#include "protocols/common/sanitize.h"
#include "protocols/http/client.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace probe {

using engine::errc;
using engine::error;
using engine::make_error;
using engine::stage;
using engine::task;

namespace {

// A refresh token file is one token; anything bigger is the wrong file.
constexpr std::size_t max_refresh_token_bytes = 64 * 1024;
// When an endpoint does not say how long its token lives, assume little.
constexpr std::chrono::seconds unknown_lifetime{300};
// How often a running token command is looked at; short against its timeout.
constexpr std::chrono::milliseconds command_poll{5};
// Longer lifetimes are cut to this: a bogus expires_in must not keep a token forever or
// overflow the clock arithmetic.
constexpr std::int64_t max_lifetime_seconds = 24 * 3600;

error auth_error(errc code, std::string message)
{
    return make_error(stage::auth, code, std::move(message));
}

std::string trim_line_ends(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
        s.pop_back();
    }
    return s;
}

/// Identity-provider text made safe for a result: `secrets` replaced, control bytes escaped.
std::string redacted(std::string text, const std::vector<std::string_view>& secrets)
{
    for (std::string_view s : secrets) {
        // Shorter "secrets" would redact ordinary words.
        if (s.size() < 8) {
            continue;
        }
        constexpr std::string_view mark = "<redacted>";
        // Searching on after the mark: a secret that is part of the mark must not loop.
        for (auto at = text.find(s); at != std::string::npos; at = text.find(s, at + mark.size())) {
            text.replace(at, s.size(), mark);
        }
    }
    return protocols::printable(text, 400);
}

/// Where the token goes: printable ASCII only, since it ends up in a SASL message.
bool is_token_text(std::string_view t) noexcept
{
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

engine::result<std::string> read_refresh_token(const std::string& path)
{
    // Links are followed: secret mounts (Kubernetes, /run/secrets) are links to the file.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return auth_error(errc::invalid_argument,
            fmt::format("cannot read refresh_token_file {}: {}", path, std::strerror(errno)));
    }
    std::string value(max_refresh_token_bytes + 1, '\0');
    std::size_t have = 0;
    for (ssize_t n = 0; have < value.size(); have += static_cast<std::size_t>(n)) {
        n = ::read(fd, value.data() + have, value.size() - have);
        if (n <= 0) {
            break;
        }
    }
    ::close(fd);
    value.resize(have);
    value = trim_line_ends(std::move(value));
    if (have > max_refresh_token_bytes || !is_token_text(value)) {
        return auth_error(errc::invalid_argument,
            fmt::format("refresh_token_file {} does not hold one refresh token", path));
    }
    return value;
}

/// A token command's child: its pipes and pid, killed and reaped if abandoned.
struct child {
    pid_t pid = -1;
    int out = -1;
    int err = -1;
    child() = default;
    child(const child&) = delete;
    child& operator=(const child&) = delete;
    ~child()
    {
        for (int fd : {out, err}) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    }
};

/// Reads what `fd` has without waiting; false at end of file (the fd is then closed).
bool drain(int& fd, std::string& into, std::size_t cap)
{
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            // Keep one byte past the cap so the caller sees that it was broken.
            into.append(buf, std::min(static_cast<std::size_t>(n), cap + 1 - std::min(cap + 1, into.size())));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return true;
        }
        ::close(fd);
        fd = -1;
        return false;
    }
}

/// The rotated token, one line, replacing the file (probe/replace_file.h).
engine::result<void> store_refresh_token(const std::string& path, std::string_view token)
{
    if (auto r = replace_file(path, std::string(token) + "\n"); !r) {
        return auth_error(errc::io, fmt::format("cannot store the rotated refresh token in {}: {}", path, r.err().message));
    }
    return {};
}

} // namespace

std::optional<token_response> parse_token_response(std::string_view body)
{
    simdjson::dom::parser parser;
    simdjson::padded_string padded(body);
    simdjson::dom::object obj;
    if (parser.parse(padded).get_object().get(obj)) {
        return std::nullopt;
    }
    token_response out;
    for (auto [key, value] : obj) {
        std::string_view text;
        bool is_text = value.get_string().get(text) == simdjson::SUCCESS;
        if (key == "access_token" && is_text) {
            out.access_token = std::string(text);
        } else if (key == "refresh_token" && is_text) {
            out.refresh_token = std::string(text);
        } else if (key == "error" && is_text) {
            out.error = std::string(text);
        } else if (key == "error_description" && is_text) {
            out.error_description = std::string(text);
        } else if (key == "expires_in") {
            // Microsoft's v1 endpoint sends the number as a string.
            std::int64_t n = 0;
            if (value.get_int64().get(n) == simdjson::SUCCESS) {
                out.expires_in = std::clamp<std::int64_t>(n, 0, max_lifetime_seconds);
            } else if (is_text && !text.empty() && text.size() < 10 &&
                       std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
                out.expires_in = std::min<std::int64_t>(std::stoll(std::string(text)), max_lifetime_seconds);
            }
        }
    }
    return out;
}

task<engine::result<std::string>> run_token_command(std::vector<std::string> argv, command_limits limits)
{
    if (argv.empty()) {
        co_return auth_error(errc::invalid_argument, "the token command is empty");
    }
    std::string name = protocols::printable(argv[0], 200);
    auto until = engine::after(limits.timeout);
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        co_return auth_error(errc::io, fmt::format("token command {}: pipe: {}", name, std::strerror(errno)));
    }
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        co_return auth_error(errc::io, fmt::format("token command {}: pipe: {}", name, std::strerror(errno)));
    }
    child c;
    c.out = out_pipe[0];
    c.err = err_pipe[0];
    std::vector<char*> args;
    for (auto& a : argv) {
        args.push_back(a.data());
    }
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    std::vector<char*> env;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        auto variable = entry.substr(0, entry.find('='));
        if (std::find(limits.withheld_env.begin(), limits.withheld_env.end(), variable) == limits.withheld_env.end()) {
            env.push_back(*e);
        }
    }
    env.push_back(nullptr);
    int rc = ::posix_spawnp(&c.pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
        c.pid = -1;
        co_return auth_error(errc::invalid_argument, fmt::format("token command {} cannot start: {}", name, std::strerror(rc)));
    }
    ::fcntl(c.out, F_SETFL, O_NONBLOCK);
    ::fcntl(c.err, F_SETFL, O_NONBLOCK);

    std::string out;
    std::string err;
    int status = 0;
    for (;;) {
        if (c.out >= 0) {
            drain(c.out, out, limits.max_output);
        }
        if (c.err >= 0) {
            drain(c.err, err, 512);
        }
        if (out.size() > limits.max_output) {
            co_return auth_error(errc::protocol,
                fmt::format("token command {} printed more than {} bytes", name, limits.max_output));
        }
        if (c.out < 0 && c.err < 0 && ::waitpid(c.pid, &status, WNOHANG) == c.pid) {
            c.pid = -1;
            break;
        }
        if (engine::clock::now() >= until) {
            co_return auth_error(errc::timed_out, fmt::format("token command {} did not finish within {} ms", name,
                limits.timeout.count()));
        }
        const bool slept = co_await engine::sleep_for(command_poll);
        if (!slept) {
            co_return auth_error(errc::cancelled, "cancelled while the token command ran");
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // Its stderr may quote what it knows: a token it printed, or a secret it was handed
        // some other way that mailprobe also holds in a withheld variable.
        std::vector<std::string_view> secrets;
        const std::string printed = trim_line_ends(out);
        secrets.push_back(printed);
        for (const auto& name_of_secret : limits.withheld_env) {
            if (const char* v = ::getenv(name_of_secret.c_str())) {
                secrets.emplace_back(v);
            }
        }
        std::string first = redacted(err.substr(0, err.find('\n')), secrets);
        std::string how = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                            : fmt::format("was killed by signal {}", WTERMSIG(status));
        co_return auth_error(errc::auth_failed, fmt::format("token command {} {}{}{}", name, how,
            first.empty() ? "" : ": ", protocols::printable(first, 200)));
    }
    out = trim_line_ends(std::move(out));
    if (!is_token_text(out)) {
        co_return auth_error(errc::protocol, fmt::format("token command {} printed {} instead of one token", name,
            out.empty() ? "nothing" : "text with spaces or control characters"));
    }
    co_return out;
}

std::string token_cache::key_of(const scenarios::credential& c)
{
    std::string key;
    auto add = [&key](std::string_view part) {
        key += part;
        key += '\0';
    };
    if (c.oauth2) {
        const auto& f = *c.oauth2;
        add(f.type == scenarios::oauth2_flow::grant::client_credentials ? "client_credentials" : "refresh_token");
        for (const std::string* part : {&f.token_url, &f.client_id, &f.scope, &f.refresh_token_file, &f.ca_file,
                 &f.certificate_file, &f.private_key_file}) {
            add(*part);
        }
    } else {
        add("command");
        for (const auto& a : c.oauth2_token_command) {
            add(a);
        }
    }
    return key;
}

engine::result<engine::tls_context> token_cache::tls_for(const std::string& ca_file)
{
    if (auto it = m_tls.find(ca_file); it != m_tls.end()) {
        return it->second;
    }
    engine::tls_options o;
    o.ca_file = ca_file;
    auto made = engine::tls_context::client(o);
    if (made) {
        m_tls.emplace(ca_file, *made);
    }
    return made;
}

task<engine::result<std::pair<std::string, std::chrono::seconds>>> token_cache::call_endpoint(
    const scenarios::oauth2_flow& flow, std::chrono::milliseconds timeout)
{
    const auto until = engine::after(timeout);
    using grant = scenarios::oauth2_flow::grant;
    auto url = protocols::http::parse_https_url(flow.token_url);
    if (!url) {
        co_return auth_error(errc::invalid_argument,
            fmt::format("token_url {} is not a usable https URL", protocols::printable(flow.token_url, 200)));
    }
    auto tls = tls_for(flow.ca_file);
    if (!tls) {
        co_return auth_error(tls.err().code, "token endpoint TLS setup: " + tls.err().message);
    }
    std::vector<std::string_view> secrets;
    protocols::http::form form{{"client_id", flow.client_id}};
    if (flow.client_secret) {
        form.emplace_back("client_secret", std::string(flow.client_secret->reveal()));
        secrets.push_back(flow.client_secret->reveal());
    }
    std::string assertion;
    if (!flow.certificate_file.empty()) {
        auto signed_jwt = make_client_assertion_from_files(flow.certificate_file, flow.private_key_file,
            flow.client_id, flow.token_url, std::time(nullptr));
        if (!signed_jwt) {
            co_return std::move(signed_jwt).err();
        }
        assertion = std::move(*signed_jwt);
        secrets.push_back(assertion);
        form.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        form.emplace_back("client_assertion", assertion);
    }
    std::string refresh_token;
    std::optional<file_turn> turn;
    if (flow.type == grant::client_credentials) {
        form.emplace_back("grant_type", "client_credentials");
    } else {
        // One refresh per file at a time: credentials with other scopes may share the file,
        // and a provider that rotates tokens refuses the second use of the old one.
        auto& queue = m_refreshing[flow.refresh_token_file];
        while (queue.busy) {
            const auto woke = co_await queue.done.wait(until);
            if (woke == engine::event::woken::stopped) {
                co_return auth_error(errc::cancelled, "cancelled while waiting for an OAuth2 token refresh");
            }
            if (woke == engine::event::woken::timed_out) {
                co_return auth_error(errc::timed_out, fmt::format("another refresh of {} did not end within {} ms",
                    flow.refresh_token_file, timeout.count()));
            }
        }
        turn.emplace(queue);
        if (auto unsaved = m_unsaved.find(flow.refresh_token_file); unsaved != m_unsaved.end()) {
            refresh_token = unsaved->second;
        } else {
            auto current = read_refresh_token(flow.refresh_token_file);
            if (!current) {
                co_return std::move(current).err();
            }
            refresh_token = std::move(*current);
        }
        secrets.push_back(refresh_token);
        form.emplace_back("grant_type", "refresh_token");
        form.emplace_back("refresh_token", refresh_token);
    }
    if (!flow.scope.empty()) {
        form.emplace_back("scope", flow.scope);
    }
    std::string_view grant_name = flow.type == grant::client_credentials ? "client_credentials" : "refresh_token";
    ++m_fetches;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - engine::clock::now());
    auto resp = co_await protocols::http::post_form(*url, protocols::http::form_encode(form), std::move(*tls),
        std::max(left, std::chrono::milliseconds(1)));
    if (!resp) {
        if (resp.err().code == errc::timed_out) {
            co_return auth_error(errc::timed_out, fmt::format("token endpoint {} did not answer within {} ms",
                url->authority(), timeout.count()));
        }
        // The client's own errors (a reply that is not HTTP) carry no stage worth repeating.
        const auto& e = resp.err();
        co_return auth_error(e.code, fmt::format("token endpoint {}: {}", url->authority(),
            e.where == stage::none ? e.message : e.describe()));
    }
    auto parsed = parse_token_response(resp->body);
    if (!parsed && resp->status != 200) {
        // A proxy's or the provider's own error page (a 502 in HTML): the endpoint failed,
        // not our credentials.
        co_return auth_error(resp->status >= 500 ? errc::rejected : errc::protocol,
            fmt::format("token endpoint {} answered HTTP {} without an OAuth2 answer: {}", url->authority(),
                resp->status, redacted(resp->body.substr(0, 120), secrets)));
    }
    if (resp->status != 200 || !parsed || !is_token_text(parsed->access_token)) {
        std::string said;
        if (parsed && !parsed->error.empty()) {
            said = parsed->error + (parsed->error_description.empty() ? "" : ": " + parsed->error_description);
        } else {
            said = parsed ? "no access_token in the answer" : "an answer that is not a JSON object";
        }
        co_return auth_error(errc::auth_failed, fmt::format("token endpoint {} refused the {} grant (HTTP {}): {}",
            url->authority(), grant_name, resp->status, redacted(std::move(said), secrets)));
    }
    if (flow.type == grant::refresh_token && !parsed->refresh_token.empty() && parsed->refresh_token != refresh_token) {
        if (!is_token_text(parsed->refresh_token)) {
            co_return auth_error(errc::protocol, fmt::format("token endpoint {} rotated the refresh token to "
                "something that is not a token", url->authority()));
        }
        // The provider has retired the old token: until the new one is on disk, it lives here,
        // and the next refresh tries the file again.
        m_unsaved[flow.refresh_token_file] = parsed->refresh_token;
        if (auto stored = store_refresh_token(flow.refresh_token_file, parsed->refresh_token); !stored) {
            co_return std::move(stored).err();
        }
        m_unsaved.erase(flow.refresh_token_file);
    } else if (flow.type == grant::refresh_token && m_unsaved.contains(flow.refresh_token_file)) {
        if (auto stored = store_refresh_token(flow.refresh_token_file, refresh_token); !stored) {
            co_return std::move(stored).err();
        }
        m_unsaved.erase(flow.refresh_token_file);
    }
    auto lifetime = parsed->expires_in > 0 ? std::chrono::seconds(parsed->expires_in) : unknown_lifetime;
    co_return std::make_pair(std::move(parsed->access_token), lifetime);
}

task<engine::result<std::pair<std::string, std::chrono::seconds>>> token_cache::fetch(const scenarios::credential& c,
    std::chrono::milliseconds timeout)
{
    if (c.oauth2) {
        co_return co_await call_endpoint(*c.oauth2, timeout);
    }
    ++m_fetches;
    command_limits limits = command;
    limits.timeout = timeout;
    auto token = co_await run_token_command(c.oauth2_token_command, std::move(limits));
    if (!token) {
        co_return std::move(token).err();
    }
    co_return std::make_pair(std::move(*token), command_token_lifetime);
}

void token_cache::rejected(const scenarios::credential& c, std::string_view token)
{
    if (!c.oauth2 && c.oauth2_token_command.empty()) {
        return;
    }
    auto it = m_entries.find(key_of(c));
    if (it != m_entries.end() && !it->second.in_flight && !token.empty() && it->second.token == token) {
        it->second.token.clear();
    }
}

task<engine::result<protocols::credentials>> token_cache::credentials_for(const scenarios::credential& c,
    std::optional<std::chrono::milliseconds> bound)
{
    protocols::credentials out;
    out.user = c.user;
    bool has_token_source = c.oauth2_token || !c.oauth2_token_command.empty() || c.oauth2;
    if (c.password || !has_token_source) {
        out.secret = c.password ? std::string(c.password->reveal()) : std::string();
        co_return out;
    }
    out.type = protocols::credentials::kind::oauth2_token;
    if (c.oauth2_token) {
        out.secret = std::string(c.oauth2_token->reveal());
        co_return out;
    }
    const auto own = c.oauth2 ? endpoint_timeout : command.timeout;
    const auto timeout = bound ? std::clamp(*bound, std::chrono::milliseconds(1), own) : own;
    entry& e = m_entries[key_of(c)];   // map nodes stay put while other entries come and go
    if (e.in_flight) {
        const auto until = engine::after(timeout);
        while (e.in_flight) {
            const auto woke = co_await e.done.wait(until);
            if (woke == engine::event::woken::stopped) {
                co_return auth_error(errc::cancelled, "cancelled while waiting for an OAuth2 token");
            }
            if (woke == engine::event::woken::timed_out) {
                co_return auth_error(errc::timed_out,
                    fmt::format("the OAuth2 token being fetched did not come within {} ms", timeout.count()));
            }
        }
        if (e.failure) {
            co_return *e.failure;
        }
    }
    if (e.token.empty() || engine::clock::now() >= e.fresh_until) {
        e.in_flight = true;
        e.failure.reset();
        auto got = co_await fetch(c, timeout);
        e.in_flight = false;
        e.done.notify_all();
        if (!got) {
            e.token.clear();
            e.failure = got.err();
            co_return std::move(got).err();
        }
        auto lifetime = got->second;
        auto keep = lifetime > 2 * margin ? lifetime - margin : lifetime / 2;
        e.token = std::move(got->first);
        e.fresh_until = engine::clock::now() + keep;
    }
    out.secret = e.token;
    co_return out;
}

} // namespace probe
