// A small valid scenario used as the base of the loader and plan tests, and helpers to edit
// it and to run the loader with a fixed environment (so tests never depend on the real one).
#pragma once

#include "scenarios/loader.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace scenario_test {

inline constexpr std::string_view base_scenario = R"({
  "internal_domains": ["internal.test"],
  "hmac_key": {"env": "HMAC"},
  "servers": [
    {"name": "int-smtp", "protocol": "smtp", "host": "127.0.0.10", "tls": "starttls", "zone": "internal",
     "auth": {"user": "sender@internal.test", "password": {"env": "PW"}}},
    {"name": "int-imap", "protocol": "imap", "host": "127.0.0.10", "tls": "implicit", "zone": "internal"},
    {"name": "ext-smtp", "protocol": "smtp", "host": "127.0.0.20", "tls": "implicit", "zone": "external"},
    {"name": "ext-imap", "protocol": "imap", "host": "127.0.0.20", "tls": "implicit", "zone": "external"},
    {"name": "ext-pop3", "protocol": "pop3", "host": "127.0.0.20", "tls": "implicit", "zone": "external"}
  ],
  "mailboxes": [
    {"name": "int-probe", "address": "probe@internal.test", "server": "int-imap", "password": {"env": "PW"}},
    {"name": "ext-probe", "address": "probe@external.test", "server": "ext-imap", "password": {"env": "PW"}}
  ],
  "tenants": [{"name": "t"}, {"name": "u", "description": "second"}],
  "probes": [
    {"name": "p1", "tenant": "t", "topology": 1, "send_via": "int-smtp", "from": "sender@internal.test",
     "to": "probe@internal.test", "fetch": "int-probe"}
  ]
})";

/// base_scenario with the first occurrence of `from` replaced by `to` (which must exist).
inline std::string edited(std::string_view from, std::string_view to)
{
    std::string s(base_scenario);
    auto at = s.find(from);
    if (at == std::string::npos) {
        return "edit target not found: " + std::string(from);
    }
    s.replace(at, from.size(), to);
    return s;
}

inline const std::map<std::string, std::string>& fake_env()
{
    static const std::map<std::string, std::string> env{
        {"HMAC", "0123456789abcdef0123"},
        {"PW", "s3cr3t-pw-value"},
        {"EMPTY", ""},
        {"MAILSERVERS_CA_FILE", "/run/test/ca/ca.pem"},
        {"INTERNAL_SENDER_PASSWORD", "sender-internal-pw"},
        {"EXTERNAL_SENDER_PASSWORD", "sender-external-pw"},
        {"INTERNAL_PROBE_PASSWORD", "probe-internal-pw"},
        {"EXTERNAL_PROBE_PASSWORD", "probe-external-pw"},
        {"INTERNAL_PROBE_BACK_PASSWORD", "probe-back-internal-pw"},
        {"EXTERNAL_PROBE_OUT_PASSWORD", "probe-out-external-pw"},
        {"INTERNAL_JUNK_PASSWORD", "junk-internal-pw"},
        {"MAILPROBE_HMAC_KEY", "example-hmac-key-0123456789"},
        {"OAUTH2_EXAMPLE_TOKEN", "example-static-token-0123456789"},
        {"OAUTH2_EXAMPLE_TOKEN_FILE", "/run/test/oauth2/token"},
        {"OAUTH2_EXAMPLE_CLIENT_SECRET", "example-client-secret-0123456789"},
        // The loader checks that a refresh_token_file is a readable regular file, not what
        // it holds: any file of the source tree does.
        {"OAUTH2_EXAMPLE_REFRESH_TOKEN_FILE",
            std::string(std::getenv("MAILPROBE_SOURCE_ROOT") ? std::getenv("MAILPROBE_SOURCE_ROOT") : ".")
                + "/scenarios/examples/README.md"},
    };
    return env;
}

inline scenarios::load_options options(bool keep_going = false)
{
    scenarios::load_options o;
    o.keep_going = keep_going;
    o.getenv = [](const std::string& name) -> std::optional<std::string> {
        auto it = fake_env().find(name);
        return it == fake_env().end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    return o;
}

inline std::string all_errors(const scenarios::load_result& r)
{
    std::string out;
    for (const auto& e : r.errors) {
        out += "  " + e.to_string() + "\n";
    }
    return out;
}

} // namespace scenario_test
