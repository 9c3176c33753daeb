// The facts of the loopback Postfix + Dovecot organisations (tests/servers/mailservers.sh
// writes them to RUNDIR/servers.json, and tools/test.sh names that file in
// $MAILPROBE_SERVERS_JSON), for the integration suites.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace test_support {

struct mail_user {
    std::string address;
    std::string login;
    std::string password;
    std::string maildir;
};

struct mail_org {
    std::string domain;      // "internal.test"
    std::string address;     // "127.0.0.10"
    std::string hostname;    // the name its certificate carries
    std::map<std::string, std::uint16_t> ports;    // smtp, submission, submissions, imap, imaps, pop3, pop3s
    std::map<std::string, mail_user> users;        // by local part: probe, sender, junk, ...
    std::string junk;        // an address whose mail is always filed into Junk
    std::string blackhole;   // accepted and never delivered
    std::string unknown;     // refused at RCPT
    std::string forward;     // fwd@ address, forwarding to the other organisation
    std::string forward_target;

    std::uint16_t port(const std::string& name) const;
    const mail_user& user(const std::string& local_part) const;
};

struct mail_servers {
    std::string ca_file;
    std::map<std::string, mail_org> orgs;   // "internal", "external"

    const mail_org& org(const std::string& name) const;
};

/// The servers named by $MAILPROBE_SERVERS_JSON; nullopt with the reason in `why` when the
/// variable is unset or the file is unreadable or incomplete.
std::optional<mail_servers> load_mail_servers(std::string& why);

} // namespace test_support
