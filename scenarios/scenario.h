// The scenario model: what a scenario file describes once loaded, resolved and validated.
// Plain structs with no JSON types in them, so the planner, the scheduler and the tests use
// them without the parser. Secrets are already resolved here (from the environment, a file
// or, with a warning, inline text) into `secret`, a string that never prints itself: nothing
// that logs or streams a scenario can leak a password by accident.
//
// Refuses nothing by itself: loader.h parses and checks, validate.h applies the topology and
// consistency rules. Every name below (server, mailbox, tenant, probe) is unique in its kind.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scenarios {

/// A resolved secret (password, token, HMAC key). Copyable; the bytes are wiped on
/// destruction. It has no conversion to string and streams as "<redacted>", so it cannot end
/// up in a log or an error message unless code asks for reveal() by name.
class secret {
public:
    enum class source { none, env, file, inline_value };

    secret() = default;
    /// `origin` names where the value came from ("env MAILPROBE_PW", "file /run/pw"), for
    /// messages such as "password from env X was refused"; it never holds the value.
    secret(std::string value, source from, std::string origin);
    secret(const secret&) = default;
    secret& operator=(const secret&);
    secret(secret&&) noexcept = default;
    secret& operator=(secret&&) noexcept;
    ~secret();

    /// The value; the view lives as long as this secret and is not changed by copies.
    std::string_view reveal() const noexcept { return m_value; }
    bool empty() const noexcept { return m_value.empty(); }
    std::size_t size() const noexcept { return m_value.size(); }
    source from() const noexcept { return m_from; }
    /// Where the value came from, without the value: "env NAME", "file PATH" or "inline".
    const std::string& origin() const noexcept { return m_origin; }

private:
    void wipe() noexcept;

    std::string m_value;
    source m_from = source::none;
    std::string m_origin;
};

/// Streams "<redacted>" (also what GoogleTest prints for a secret).
std::ostream& operator<<(std::ostream& out, const secret& s);

enum class protocol_kind { smtp, imap, pop3 };
enum class tls_mode { none, starttls, implicit };
enum class network_zone { internal, external };
/// What a probe reports when its message was found in a junk folder instead of the inbox,
/// or (auth_results_policy::verdict) when an Authentication-Results demand is not met.
enum class junk_policy { down, warning };

std::string_view to_string(protocol_kind p) noexcept;
std::string_view to_string(tls_mode t) noexcept;
std::string_view to_string(network_zone z) noexcept;
std::string_view to_string(junk_policy j) noexcept;

/// The port a protocol uses by default: smtp 25 (none), 587 (starttls), 465 (implicit);
/// imap 143 / 993; pop3 110 / 995 (STARTTLS/STLS share the clear-text port).
std::uint16_t default_port(protocol_kind p, tls_mode t) noexcept;

/// How mailprobe obtains OAuth2 access tokens from an identity provider itself (docs/OAUTH2.md).
struct oauth2_flow {
    enum class grant { client_credentials, refresh_token };
    grant type = grant::client_credentials;
    std::string token_url;            // https; for client_credentials defaulted from the tenant
    std::string tenant;               // client_credentials: the Entra ID tenant (id or domain)
    std::string client_id;
    std::optional<secret> client_secret;   // client_credentials: this or certificate_file
    std::string certificate_file;     // a certificate registered with the app: signs client assertions
    std::string private_key_file;     // its RSA key; empty: certificate_file holds the key too
    std::string scope;                // client_credentials default: Exchange Online's .default
    std::string refresh_token_file;   // refresh_token: holds the current refresh token
    std::string ca_file;              // the token endpoint's CA; empty: the system store
};

/// One way to log in: exactly one of password, oauth2_token (a static token, XOAUTH2),
/// oauth2_token_command (a program that prints a token) and oauth2 (mailprobe asks the
/// identity provider) is set.
struct credential {
    std::string user;
    std::optional<secret> password;
    std::optional<secret> oauth2_token;
    // Defaulted so that existing {user, password, token} initializers stay complete.
    std::vector<std::string> oauth2_token_command{};   // argv, run without a shell
    std::optional<oauth2_flow> oauth2{};
};

struct server {
    std::string name;
    protocol_kind protocol = protocol_kind::smtp;
    std::string host;           // an IP literal or a name (resolved by the engine, not here)
    std::uint16_t port = 25;    // defaulted from protocol and tls when the file omits it
    tls_mode tls = tls_mode::none;
    std::string ca_file;        // empty: the system CA store
    std::string verify_name;    // empty: verify the certificate against `host`
    bool insecure = false;      // no certificate verification (always warned about)
    network_zone zone = network_zone::internal;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds command_timeout{30'000};
    std::optional<credential> auth;   // SMTP AUTH; only smtp servers have one
};

struct mailbox {
    std::string name;
    std::string address;        // the address whose mail lands in this mailbox
    std::string server;         // name of an imap or pop3 server
    credential login;
    std::vector<std::string> extra_folders;   // searched after INBOX (IMAP only)
    std::vector<std::string> junk_folders;    // empty: found by \Junk special-use (IMAP only)
    // IMAP: keep the logged-in session between runs while its login is younger than this, so
    // frequent probes do not log in every run; 0: log in every run (auth proven every time).
    std::chrono::milliseconds keep_session{0};
};

struct tenant {
    std::string name;
    std::string description;
};

/// Authentication-Results a probe demands of its delivered message, per method. An empty list
/// means "not checked"; otherwise the result must be one of the listed ("pass", ...). An unmet
/// demand makes the probe a Warning, or with `verdict` down a Down at stage deliver.
struct auth_results_policy {
    std::vector<std::string> spf;
    std::vector<std::string> dkim;
    std::vector<std::string> dmarc;
    junk_policy verdict = junk_policy::warning;   // down / warning, as for the junk folder
};

struct probe {
    std::string name;
    std::string tenant;
    int topology = 1;           // 1-6, see validate.h
    std::string send_via;       // name of an smtp server
    std::string from;
    std::string to;
    std::string fetch;          // name of a mailbox
    std::chrono::milliseconds interval{300'000};
    std::chrono::milliseconds deadline{120'000};
    std::chrono::milliseconds poll{10'000};
    junk_policy junk = junk_policy::down;
    std::chrono::milliseconds warn_latency{60'000};
    int warn_cert_days = 14;
    auth_results_policy require_auth_results;
    std::optional<std::string> bounce_mailbox;   // name of a mailbox that receives bounces
    bool enabled = true;
};

/// How many runs may be in flight at once, and how a server that refuses connections is
/// left alone: the "limits" object of the "defaults" block (docs/SCALING.md). A server is its
/// host:port; a run counts against its SMTP server and its fetch server for its whole length.
struct run_limits {
    std::uint32_t concurrent = 2000;   // in this process
    std::uint32_t per_server = 100;
    std::uint32_t per_tenant = 200;
    std::chrono::milliseconds backoff_initial{30'000};   // after a refused connection; doubles
    std::chrono::milliseconds backoff_max{900'000};      // per further refusal, up to this
};

/// What the "defaults" block may set; each probe and server field not given takes these.
struct defaults {
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds command_timeout{30'000};
    std::chrono::milliseconds interval{300'000};
    std::chrono::milliseconds deadline{120'000};
    std::chrono::milliseconds poll{10'000};
    junk_policy junk = junk_policy::down;
    std::chrono::milliseconds warn_latency{60'000};
    int warn_cert_days = 14;
    auth_results_policy require_auth_results;
    run_limits limits{};
    std::chrono::milliseconds dns_ttl{60'000};   // how long a looked-up host name is reused
};

struct scenario {
    std::string source_name;    // the file name or the name given to load_string
    std::vector<std::string> internal_domains;   // lower case
    secret hmac_key;            // signs the probe header; 16 to 64 bytes
    defaults defaults_block;
    std::vector<server> servers;
    std::vector<mailbox> mailboxes;
    std::vector<tenant> tenants;
    std::vector<probe> probes;

    /// Lookups by name; nullptr when absent. Pointers stay valid while the vectors are
    /// unchanged. Linear: the loader uses its own index, these are for callers and tests.
    const server* find_server(std::string_view name) const noexcept;
    const mailbox* find_mailbox(std::string_view name) const noexcept;
    const tenant* find_tenant(std::string_view name) const noexcept;
    const probe* find_probe(std::string_view name) const noexcept;
};

/// The domain of an address (after the last '@'), or an empty view if there is none.
std::string_view domain_of(std::string_view address) noexcept;

/// Whether `address` belongs to one of `internal_domains` (ASCII case-insensitive).
bool is_internal_address(std::string_view address, const std::vector<std::string>& internal_domains) noexcept;

} // namespace scenarios
