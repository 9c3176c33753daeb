// Semantic checks of a scenario (see validate.h for the topology table). Names are indexed
// once, so a scenario with 100,000 probes validates in linear time.
//
// Refuses: names used twice in one kind, references to undefined servers, mailboxes and
// tenants, a send_via that is not smtp, a mailbox on a server that is not imap or pop3,
// folders on a pop3 mailbox, auth on an imap or pop3 server, TLS settings given with tls
// "none", timing that can never work (poll >= deadline, interval < deadline), addresses that
// are not addr-specs, and zones that contradict the probe's topology.
#include "scenarios/validate.h"

#include "scenarios/name_index.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

namespace scenarios {

namespace {

using std::chrono::milliseconds;

std::string q(std::string_view s)
{
    return "'" + std::string(s.substr(0, 120)) + "'";
}

std::string describe(milliseconds d)
{
    auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) {
        return std::to_string(ms / 3'600'000) + "h";
    }
    if (ms != 0 && ms % 60'000 == 0) {
        return std::to_string(ms / 60'000) + "m";
    }
    if (ms % 1000 == 0) {
        return std::to_string(ms / 1000) + "s";
    }
    return std::to_string(ms) + "ms";
}

// addr-spec in the simple form probes use (RFC 5321 Mailbox without quoted local parts):
// local "@" domain, no spaces, no angle brackets, no second '@'.
bool plausible_address(std::string_view a)
{
    auto at = a.find('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || a.find('@', at + 1) != std::string_view::npos) {
        return false;
    }
    return std::none_of(a.begin(), a.end(), [](char c) {
        return c == ' ' || c == '<' || c == '>' || c == ',' || c == '"' || c == '(' || c == ')' || c == ';' || c == '\\';
    });
}

bool iequals(std::string_view a, std::string_view b)
{
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
}

class checker {
public:
    checker(const scenario& s, std::span<const std::size_t> positions) : m_s(s), m_positions(positions) {}

    validation_report run();

private:
    void error(std::string pointer, std::string message, std::optional<std::size_t> probe = std::nullopt)
    {
        m_report.errors.push_back(make(std::move(pointer), std::move(message), probe));
    }
    void warning(std::string pointer, std::string message, std::optional<std::size_t> probe = std::nullopt)
    {
        m_report.warnings.push_back(make(std::move(pointer), std::move(message), probe));
    }
    diagnostic make(std::string pointer, std::string message, std::optional<std::size_t> probe) const
    {
        diagnostic d;
        d.file = m_s.source_name;
        d.pointer = std::move(pointer);
        d.message = std::move(message);
        d.probe = probe;
        return d;
    }

    template <typename T>
    name_index index(const std::vector<T>& items, std::string_view kind,
        std::string_view array, bool probes);
    void check_server(std::size_t i);
    void check_mailbox(std::size_t i);
    void check_probe(std::size_t i);

    void warn_clear_text();

    // Mailboxes that log in without TLS, per server: one warning per server, not one per
    // mailbox (100,000 mailboxes on one such server would otherwise be 100,000 warnings).
    struct clear_text {
        std::size_t count = 0;
        std::array<std::size_t, 3> first{};   // the first mailboxes, named in the warning
    };

    const scenario& m_s;
    std::span<const std::size_t> m_positions;
    std::vector<clear_text> m_clear_text;   // by server index
    validation_report m_report;
    name_index m_servers;
    name_index m_mailboxes;
    name_index m_tenants;
};

template <typename T>
name_index checker::index(const std::vector<T>& items, std::string_view kind, std::string_view array, bool probes)
{
    name_index names(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        std::size_t position = probes && !m_positions.empty() ? m_positions[i] : i;
        if (std::size_t taken = names.insert(items[i].name, i); taken != name_index::npos) {
            std::size_t first = probes && !m_positions.empty() ? m_positions[taken] : taken;
            error("/" + std::string(array) + "/" + std::to_string(position) + "/name",
                std::string(kind) + " name " + q(items[i].name) + " is already used by /" + std::string(array) + "/" +
                    std::to_string(first),
                probes ? std::optional<std::size_t>(position) : std::nullopt);
        }
    }
    return names;
}

void checker::check_server(std::size_t i)
{
    const server& s = m_s.servers[i];
    std::string at = "/servers/" + std::to_string(i);
    if (s.host.empty() || s.host.find(' ') != std::string::npos) {
        error(at + "/host", "host must be a host name or an IP address");
    }
    if (s.tls == tls_mode::none) {
        if (s.insecure) {
            error(at + "/insecure", "insecure contradicts tls \"none\": there is no certificate to skip; remove it or enable TLS");
        }
        if (!s.ca_file.empty()) {
            error(at + "/ca_file", "ca_file is set but tls is \"none\"");
        }
        if (!s.verify_name.empty()) {
            error(at + "/verify_name", "verify_name is set but tls is \"none\"");
        }
    } else if (s.insecure) {
        warning(at + "/insecure", "certificate verification is off for server " + q(s.name));
        if (!s.ca_file.empty()) {
            error(at + "/ca_file", "ca_file has no effect when insecure is true");
        }
    }
    if (s.connect_timeout.count() <= 0) {
        error(at + "/connect_timeout", "connect_timeout must be longer than 0");
    }
    if (s.command_timeout.count() <= 0) {
        error(at + "/command_timeout", "command_timeout must be longer than 0");
    }
    if (s.auth) {
        if (s.protocol != protocol_kind::smtp) {
            error(at + "/auth", "auth is only for smtp servers; " + std::string(to_string(s.protocol)) +
                                    " logins belong to the mailbox");
        } else if (s.tls == tls_mode::none) {
            warning(at + "/auth", "server " + q(s.name) + " sends its SMTP AUTH password in clear text (tls \"none\")");
        }
        if (s.auth->user.empty()) {
            error(at + "/auth/user", "user must not be empty");
        }
    }
}

void checker::check_mailbox(std::size_t i)
{
    const mailbox& m = m_s.mailboxes[i];
    std::string at = "/mailboxes/" + std::to_string(i);
    if (!plausible_address(m.address)) {
        error(at + "/address", "address " + q(m.address) + " is not an address like user@example.org");
    }
    std::size_t si = m_servers.find(m.server);
    if (si == name_index::npos) {
        error(at + "/server", "server " + q(m.server) + " is not defined");
        return;
    }
    const server& s = m_s.servers[si];
    if (s.protocol == protocol_kind::smtp) {
        error(at + "/server", "mailbox " + q(m.name) + " uses server " + q(s.name) +
                                  ", which is smtp; a mailbox needs an imap or pop3 server");
    }
    if (s.protocol == protocol_kind::pop3) {
        if (!m.extra_folders.empty()) {
            error(at + "/extra_folders", "pop3 sees only INBOX: extra_folders needs an imap server");
        }
        if (!m.junk_folders.empty()) {
            error(at + "/junk_folders", "pop3 sees only INBOX: junk_folders needs an imap server");
        }
        if (m.keep_session.count() > 0) {
            error(at + "/keep_session", "a pop3 session sees the maildrop as it was at login: keep_session needs an imap server");
        }
    }
    // RFC 3501 lets a server log out a session idle for 30 minutes; a longer keep would
    // mostly find dead sessions, and proves the login too rarely.
    if (m.keep_session > std::chrono::minutes(30)) {
        error(at + "/keep_session", "keep_session is at most 30m (servers may log out idle sessions after 30 minutes)");
    }
    if (s.tls == tls_mode::none) {
        clear_text& c = m_clear_text[si];
        if (c.count++ < c.first.size()) {
            c.first[c.count - 1] = i;
        }
    }
    if (m.login.user.empty()) {
        error(at + "/user", "user must not be empty");
    }
}

// One mailbox: the warning is the mailbox's. More: the server's, naming the first few.
void checker::warn_clear_text()
{
    for (std::size_t si = 0; si < m_clear_text.size(); ++si) {
        const clear_text& c = m_clear_text[si];
        const std::string& server = m_s.servers[si].name;
        if (c.count == 1) {
            warning("/mailboxes/" + std::to_string(c.first[0]) + "/server",
                "mailbox " + q(m_s.mailboxes[c.first[0]].name) + " logs in to " + q(server) + " in clear text (tls \"none\")");
        } else if (c.count > 1) {
            std::string names;
            std::size_t shown = std::min(c.count, c.first.size());
            for (std::size_t k = 0; k < shown; ++k) {
                names += (k == 0 ? "" : ", ") + q(m_s.mailboxes[c.first[k]].name);
            }
            if (c.count > shown) {
                names += " and " + std::to_string(c.count - shown) + " more";
            }
            warning("/servers/" + std::to_string(si) + "/tls", std::to_string(c.count) + " mailboxes log in to " + q(server) +
                                                                   " in clear text (tls \"none\"): " + names);
        }
    }
}

void checker::check_probe(std::size_t i)
{
    const probe& p = m_s.probes[i];
    std::size_t position = m_positions.empty() ? i : m_positions[i];
    std::string at = "/probes/" + std::to_string(position);
    auto fail = [&](std::string_view key, std::string message) { error(at + "/" + std::string(key), std::move(message), position); };

    if (!m_tenants.contains(p.tenant)) {
        fail("tenant", "tenant " + q(p.tenant) + " is not defined");
    }
    // The name travels in the signed X-Mailprobe header, which takes less than other names.
    if (p.name.size() > 64 || p.name.find('@') != std::string::npos) {
        fail("name", "probe name " + q(p.name) + " must be at most 64 characters and without '@'");
    }
    if (!plausible_address(p.from)) {
        fail("from", "from " + q(p.from) + " is not an address like user@example.org");
    }
    bool to_ok = plausible_address(p.to);
    if (!to_ok) {
        fail("to", "to " + q(p.to) + " is not an address like user@example.org");
    }
    if (p.poll.count() <= 0) {
        fail("poll", "poll must be longer than 0");
    } else if (p.deadline <= p.poll) {
        fail("deadline", "deadline (" + describe(p.deadline) + ") must be longer than poll (" + describe(p.poll) + ")");
    }
    if (p.interval < p.deadline) {
        fail("interval", "interval (" + describe(p.interval) + ") must be at least the deadline (" +
                             describe(p.deadline) + "), or probes would overlap");
    }
    if (p.warn_latency.count() <= 0 || p.warn_latency > p.deadline) {
        fail("warn_latency", "warn_latency (" + describe(p.warn_latency) + ") must be longer than 0 and at most the deadline (" +
                                 describe(p.deadline) + ")");
    }
    if (p.bounce_mailbox && !m_mailboxes.contains(*p.bounce_mailbox)) {
        fail("bounce_mailbox", "mailbox " + q(*p.bounce_mailbox) + " is not defined");
    }

    auto zones = zones_of(p.topology);
    if (!zones) {
        fail("topology", "topology must be 1-6");
        return;
    }
    std::string topo = "topology " + std::to_string(p.topology);

    std::size_t sit = m_servers.find(p.send_via);
    if (sit == name_index::npos) {
        fail("send_via", "server " + q(p.send_via) + " is not defined");
    } else {
        const server& s = m_s.servers[sit];
        if (s.protocol != protocol_kind::smtp) {
            fail("send_via", "send_via " + q(s.name) + " is an " + std::string(to_string(s.protocol)) +
                                 " server; probes send through an smtp server");
        } else if (s.zone != zones->outgoing) {
            fail("send_via", topo + " sends through an " + std::string(to_string(zones->outgoing)) + " server, but " +
                                 q(s.name) + " is " + std::string(to_string(s.zone)));
        }
    }

    std::size_t mit = m_mailboxes.find(p.fetch);
    if (mit == name_index::npos) {
        fail("fetch", "mailbox " + q(p.fetch) + " is not defined");
    } else {
        const mailbox& m = m_s.mailboxes[mit];
        std::size_t fit = m_servers.find(m.server);
        if (fit != name_index::npos) {
            const server& fs = m_s.servers[fit];
            if (fs.protocol != protocol_kind::smtp && fs.zone != zones->fetch) {
                fail("fetch", topo + " fetches from an " + std::string(to_string(zones->fetch)) + " server, but mailbox " +
                                  q(m.name) + " is on " + q(fs.name) + ", which is " + std::string(to_string(fs.zone)));
            }
        }
        bool same = iequals(m.address, p.to);
        if (zones->forwarding && same) {
            fail("fetch", topo + " relies on forwarding, so the fetched mailbox must not be the recipient, but mailbox " +
                              q(m.name) + " is " + q(p.to));
        } else if (!zones->forwarding && !same && to_ok) {
            warning(at + "/fetch", topo + " delivers directly, but mailbox " + q(m.name) + " holds " + q(m.address) +
                                       ", not the recipient " + q(p.to) + " (an alias?)",
                position);
        }
    }

    if (to_ok) {
        network_zone recipient = is_internal_address(p.to, m_s.internal_domains) ? network_zone::internal
                                                                                 : network_zone::external;
        if (recipient != zones->recipient) {
            std::string domains;
            for (const auto& d : m_s.internal_domains) {
                domains += (domains.empty() ? "" : ", ") + d;
            }
            fail("to", topo + " sends to an " + std::string(to_string(zones->recipient)) + " recipient, but " + q(p.to) +
                           " is " + std::string(to_string(recipient)) + " (internal_domains: " +
                           (domains.empty() ? "none" : domains) + ")");
        }
    }
}

validation_report checker::run()
{
    m_servers = index(m_s.servers, "server", "servers", false);
    m_mailboxes = index(m_s.mailboxes, "mailbox", "mailboxes", false);
    m_tenants = index(m_s.tenants, "tenant", "tenants", false);
    index(m_s.probes, "probe", "probes", true);

    for (std::size_t i = 0; i < m_s.internal_domains.size(); ++i) {
        const std::string& d = m_s.internal_domains[i];
        if (d.empty() || d.find('@') != std::string::npos || d.find(' ') != std::string::npos) {
            error("/internal_domains/" + std::to_string(i), "internal domain " + q(d) + " is not a domain name");
        }
    }
    if (m_s.hmac_key.size() < 16 || m_s.hmac_key.size() > 64) {
        error("/hmac_key", "hmac_key must be 16 to 64 bytes long");
    }
    for (std::size_t i = 0; i < m_s.servers.size(); ++i) {
        check_server(i);
    }
    m_clear_text.resize(m_s.servers.size());
    for (std::size_t i = 0; i < m_s.mailboxes.size(); ++i) {
        check_mailbox(i);
    }
    warn_clear_text();
    for (std::size_t i = 0; i < m_s.probes.size(); ++i) {
        check_probe(i);
    }
    return std::move(m_report);
}

} // namespace

std::optional<topology_zones> zones_of(int topology) noexcept
{
    constexpr auto in = network_zone::internal;
    constexpr auto ex = network_zone::external;
    switch (topology) {
    case 1: return topology_zones{in, in, in, false};
    case 2: return topology_zones{in, ex, ex, false};
    case 3: return topology_zones{in, in, ex, true};
    case 4: return topology_zones{ex, ex, ex, false};
    case 5: return topology_zones{ex, in, in, false};
    case 6: return topology_zones{ex, ex, in, true};
    default: return std::nullopt;
    }
}

validation_report validate(const scenario& s, std::span<const std::size_t> probe_positions)
{
    checker c(s, probe_positions);
    return c.run();
}

} // namespace scenarios
