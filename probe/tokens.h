// OAuth2 access tokens for probe logins: where they come from and how long they are kept.
//
// Sources, per credential of a scenario (docs/OAUTH2.md):
//   - oauth2_token: a static token, used as it is;
//   - oauth2_token_command: a program (argv, no shell) whose standard output is the token,
//     like msmtp's passwordeval; bounded in time and output;
//   - oauth2, flow client_credentials: the Microsoft identity platform's app-only grant
//     (RFC 6749 section 4.4) with a client secret, or with a certificate: a client assertion
//     signed with its key (probe/client_assertion.h);
//   - oauth2, flow refresh_token: the refresh-token grant (RFC 6749 section 6) of Google and
//     Microsoft; a rotated refresh token replaces the file's content (write, fsync, rename,
//     mode 0600), so a crash leaves the old or the new token, never half of one. Refreshes of
//     one file take turns, and a rotated token that could not be stored is kept in memory
//     for the next refresh, which stores it (the provider has retired the old one).
// Token endpoints are called over HTTPS with our own client (protocols/http/client.h).
//
// The cache keeps each source's token until `margin` before it expires and refreshes it once
// for every probe that shares the source: a probe that finds a refresh in flight waits for it
// instead of starting its own. A failed refresh is an auth-stage error with the identity
// provider's own words, secrets (client secret, refresh token) redacted; the next probe that
// needs the token tries again.
//
// Single-threaded: one cache per loop thread (it lives in probe::context); the cache must
// outlive the tasks it returns.
#pragma once

#include "engine/event.h"
#include "engine/loop.h"
#include "engine/result.h"
#include "engine/task.h"
#include "engine/tls.h"
#include "protocols/common/endpoint.h"
#include "scenarios/scenario.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace probe {

/// A token endpoint's JSON answer (RFC 6749 sections 5.1 and 5.2). Tokens are SECRET.
struct token_response {
    std::string access_token;
    std::int64_t expires_in = 0;        // seconds; 0 when the endpoint did not say
    std::string refresh_token;          // empty unless the endpoint rotated it
    std::string error;                  // "invalid_grant"
    std::string error_description;
};

/// Parses a token endpoint's body with simdjson; nullopt when it is not a JSON object.
/// Fields of the wrong type count as absent.
std::optional<token_response> parse_token_response(std::string_view body);


/// Limits of a token command.
struct command_limits {
    std::chrono::milliseconds timeout{10'000};
    std::size_t max_output = 16 * 1024;   // stdout bytes; a token is a few KiB at most
    /// Environment variables the command does not inherit: the scenario's secrets (the HMAC
    /// key, other mailboxes' passwords). It keeps the rest (PATH, HOME, its own settings).
    std::vector<std::string> withheld_env{};
};

/// Runs `argv` (argv[0] looked up on PATH, no shell, stdin /dev/null, the environment less
/// `limits.withheld_env`) and returns its standard output without trailing line ends. It
/// fails (stage auth) when it cannot start, exits non-zero (quoting the first line of its
/// stderr, with the values of the withheld variables and anything it printed on stdout
/// redacted), prints nothing, prints more than max_output, or outlives the timeout (it is
/// killed). Polls without blocking the loop.
engine::task<engine::result<std::string>> run_token_command(std::vector<std::string> argv, command_limits limits = {});

class token_cache {
public:
    /// The credentials to log in with: a password or a static token as given; otherwise the
    /// source's cached token, fetched first when there is none or it is about to expire.
    /// `bound` (the probe's deadline) caps how long this call may wait for a token: the
    /// endpoint call or command it starts, or one in flight; without it, endpoint_timeout
    /// (command.timeout for commands). `c` must outlive the task.
    engine::task<engine::result<protocols::credentials>> credentials_for(const scenarios::credential& c,
        std::optional<std::chrono::milliseconds> bound = std::nullopt);

    /// A mail server refused `token`, which `credentials_for(c)` gave out, before its expiry
    /// (revoked, or issued for other rights): forget it, so the next login fetches a fresh one.
    /// A token that is no longer the cached one is left alone, so that many probes refused
    /// with the same token cause one refresh, not one each. Static tokens are not cached.
    void rejected(const scenarios::credential& c, std::string_view token);

    /// Tokens fetched so far (token endpoint calls and command runs).
    std::size_t fetches() const noexcept { return m_fetches; }

    /// A token is refreshed this long before it expires (halved for very short lifetimes).
    std::chrono::seconds margin{120};
    /// How long a command's token is kept: commands do not say when theirs expire.
    std::chrono::seconds command_token_lifetime{300};
    /// Each token endpoint call, connect to last byte, unless the caller's bound is shorter.
    std::chrono::milliseconds endpoint_timeout{30'000};
    command_limits command;

private:
    struct entry {
        std::string token;                      // SECRET
        engine::clock::time_point fresh_until{};
        bool in_flight = false;
        engine::event done;                     // the fetch in flight has ended
        std::optional<engine::error> failure;   // of the last fetch, for the probes that waited on it
    };
    /// Refreshes of one refresh_token_file, one at a time.
    struct file_queue {
        bool busy = false;
        engine::event done;
    };
    /// Holds a file's turn for the life of one endpoint call.
    class file_turn {
    public:
        explicit file_turn(file_queue& q) noexcept : m_queue(q) { m_queue.busy = true; }
        file_turn(const file_turn&) = delete;
        file_turn& operator=(const file_turn&) = delete;
        ~file_turn()
        {
            m_queue.busy = false;
            m_queue.done.notify_all();
        }

    private:
        file_queue& m_queue;
    };

    static std::string key_of(const scenarios::credential& c);
    engine::task<engine::result<std::pair<std::string, std::chrono::seconds>>> fetch(const scenarios::credential& c,
        std::chrono::milliseconds timeout);
    engine::task<engine::result<std::pair<std::string, std::chrono::seconds>>> call_endpoint(
        const scenarios::oauth2_flow& flow, std::chrono::milliseconds timeout);
    engine::result<engine::tls_context> tls_for(const std::string& ca_file);

    std::map<std::string, entry> m_entries;
    std::map<std::string, file_queue> m_refreshing;
    /// Rotated refresh tokens not yet stored in their file (SECRET), by file.
    std::map<std::string, std::string> m_unsaved;
    std::map<std::string, engine::tls_context> m_tls;
    std::size_t m_fetches = 0;
};

} // namespace probe
