// The built-in mail server's configuration: plain values, no behaviour. Domains with their
// mailboxes and aliases, the listeners to open, and the limits that keep a hostile or broken
// client from growing memory or holding a connection forever.
#pragma once

#include "protocols/common/endpoint.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace builtin {

struct mailbox_config {
    std::string address;        // "alice@org1.test"; matched without regard to ASCII case
    std::string login;          // the user name for AUTH/LOGIN/USER; empty: the address
    std::string password;
    bool always_junk = false;   // every delivery lands in Junk (a "spam-happy" provider)
    int copies = 1;             // deliveries per message: 2 plays a relay that duplicates
    bool bounces = false;       // accepts mail, then returns an RFC 3464 bounce to the sender
    std::string file_into{};    // set: a user's rule (a Sieve fileinto) files every delivery not
                                // meant for Junk into this folder, made next to the five
};

/// Mail to `address` is delivered like a re-send to `target` (a mailbox or another alias
/// of this server, possibly in another domain), with one more Received header.
struct alias_config {
    std::string address;
    std::string target;
};

struct domain_config {
    std::string name;           // "org1.test"
    std::vector<mailbox_config> mailboxes;
    std::vector<alias_config> aliases;
};

enum class protocol : std::uint8_t { smtp, imap, pop3 };

struct listener_config {
    std::string name;           // what port() looks it up by, e.g. "submission" or "imaps"
    protocol proto = protocol::smtp;
    protocols::tls_mode tls = protocols::tls_mode::none;
    std::string ip = "127.0.0.1";   // a loopback literal; never a name
    std::uint16_t port = 0;         // 0: any free port (see server::port())
};

struct server_limits {
    std::size_t max_line = 8192;                // a command line, CRLF included
    std::size_t max_message = 10 * 1024 * 1024; // DATA and APPEND
    std::size_t max_recipients = 100;
    std::size_t max_connections = 2000;
    std::chrono::milliseconds idle_timeout{300'000};  // waiting for the next command
    std::chrono::milliseconds idle_push{1'740'000};   // IMAP IDLE without news (29 min)
    std::chrono::milliseconds tls_timeout{30'000};    // one TLS handshake
};

struct config {
    std::string hostname = "mail.builtin.test";   // in greetings and Received headers
    std::vector<domain_config> domains;
    std::vector<listener_config> listeners;
    std::vector<std::string> cert_names;           // extra DNS names for the certificate
    std::chrono::seconds cert_lifetime{0};         // 0: 30 days; a few seconds: a certificate
                                                   // that expires while the server runs (tests)
    server_limits limits;
    /// Added to the INTERNALDATE the store gives each delivery: plays a store host whose clock
    /// disagrees with the SMTP host's, which writes the Received time (tests).
    std::chrono::seconds store_clock_offset{0};
    /// Set: logins take only SASL XOAUTH2 or OAUTHBEARER with a token this accepts (e.g. a
    /// token_endpoint's accepts()) and the mailbox address as user, like Microsoft 365 and
    /// Gmail; passwords are refused. Empty: passwords only.
    std::function<bool(std::string_view access_token)> accept_token{};
    /// With accept_token: false offers (and takes) only OAUTHBEARER, like a server that knows
    /// only the standard mechanism (RFC 7628).
    bool bearer_xoauth2 = true;
};

} // namespace builtin
