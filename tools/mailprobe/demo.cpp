// `mailprobe demo`: the whole product on loopback with nothing installed. It starts the
// built-in server with two organisations (internal.test and external.test, forwarding
// addresses between them and a mailbox whose mail is always filed as spam), then runs a
// probe for each of the six topologies plus the two failures a monitor must name (a message
// filed into Junk, a wrong password), and prints what each found.
#include "tools/mailprobe/commands.h"

#include "engine/loop.h"
#include "engine/scope.h"
#include "probe/roundtrip.h"
#include "report/format.h"
#include "tools/server/server.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <unistd.h>

using namespace std::chrono_literals;

namespace {

using scenarios::network_zone;
using scenarios::protocol_kind;

builtin::config demo_world()
{
    builtin::config c;
    c.hostname = "mail.demo.test";
    builtin::domain_config in{"internal.test", {}, {}};
    in.mailboxes = {{"probe@internal.test", "", "probe-in-pw", false},
        {"sender@internal.test", "", "sender-in-pw", false},
        {"probe-back@internal.test", "", "back-in-pw", false},
        {"junk@internal.test", "", "junk-in-pw", true},
        {"twice@internal.test", "", "twice-in-pw", false, 2}};
    in.aliases = {{"fwd@internal.test", "probe-out@external.test"}};
    builtin::domain_config ex{"external.test", {}, {}};
    ex.mailboxes = {{"probe@external.test", "", "probe-ex-pw", false},
        {"sender@external.test", "", "sender-ex-pw", false},
        {"probe-out@external.test", "", "out-ex-pw", false},
        {"full@external.test", "", "full-ex-pw", false, 1, true}};
    ex.aliases = {{"fwd@external.test", "probe-back@internal.test"}};
    c.domains = {in, ex};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3s", protocol::pop3, tls_mode::implicit, "127.0.0.1", 0},
    };
    return c;
}

scenarios::secret secret_of(std::string v)
{
    return {std::move(v), scenarios::secret::source::inline_value, "demo"};
}

struct demo_case {
    const char* name;
    int topology;
    const char* sender;       // submits through the sender's organisation
    const char* to;
    const char* mailbox;      // fetched
    const char* password;     // the mailbox's password as the probe knows it
    protocol_kind fetch;
    const char* expect;       // "up", "warning", or "down:<stage>"
    const char* bounce_box;   // the sender's mailbox watched for bounces, or null
};

// Zones follow the topology names (outgoing / incoming / recipient); on loopback both
// organisations live in the one built-in server.
constexpr std::array cases = {
    demo_case{"inside-only", 1, "sender@internal.test", "probe@internal.test", "probe@internal.test", "probe-in-pw", protocol_kind::imap, "up", nullptr},
    demo_case{"outside-mailbox", 2, "sender@internal.test", "probe@external.test", "probe@external.test", "probe-ex-pw", protocol_kind::imap, "up", nullptr},
    demo_case{"full-loop", 3, "sender@internal.test", "fwd@external.test", "probe-back@internal.test", "back-in-pw", protocol_kind::imap, "up", nullptr},
    demo_case{"provider-only", 4, "sender@external.test", "probe@external.test", "probe@external.test", "probe-ex-pw", protocol_kind::pop3, "up", nullptr},
    demo_case{"inbound-only", 5, "sender@external.test", "probe@internal.test", "probe@internal.test", "probe-in-pw", protocol_kind::pop3, "up", nullptr},
    demo_case{"user-forward", 6, "sender@external.test", "fwd@internal.test", "probe-out@external.test", "out-ex-pw", protocol_kind::imap, "up", nullptr},
    demo_case{"spam-filtered", 1, "sender@internal.test", "junk@internal.test", "junk@internal.test", "junk-in-pw", protocol_kind::imap, "down:deliver", nullptr},
    demo_case{"wrong-password", 1, "sender@internal.test", "probe@internal.test", "probe@internal.test", "not-the-password", protocol_kind::imap, "down:auth", nullptr},
    demo_case{"duplicated", 1, "sender@internal.test", "twice@internal.test", "twice@internal.test", "twice-in-pw", protocol_kind::imap, "warning", nullptr},
    demo_case{"bounced", 2, "sender@internal.test", "full@external.test", "probe@external.test", "probe-ex-pw", protocol_kind::imap, "down:deliver", "sender@internal.test"},
};

scenarios::server endpoint_of(const builtin::server& srv, const std::string& ca, const char* listener,
    protocol_kind proto, scenarios::tls_mode tls)
{
    scenarios::server s;
    s.name = listener;
    s.protocol = proto;
    s.host = "127.0.0.1";
    s.port = srv.port(listener);
    s.tls = tls;
    s.ca_file = ca;
    s.verify_name = "localhost";
    s.connect_timeout = 3s;
    s.command_timeout = 5s;
    return s;
}

scenarios::probe_plan plan_of(const demo_case& c, const builtin::server& srv, const std::string& ca)
{
    const builtin::config world = demo_world();
    auto password_of = [&](std::string_view address) {
        for (const auto& d : world.domains) {
            for (const auto& m : d.mailboxes) {
                if (m.address == address) {
                    return m.password;
                }
            }
        }
        return std::string();
    };
    scenarios::probe_plan p;
    auto spec = std::make_shared<scenarios::probe>();
    spec->name = c.name;
    spec->tenant = "demo";
    spec->topology = c.topology;
    spec->send_via = "submission";
    spec->from = c.sender;
    spec->to = c.to;
    spec->fetch = c.mailbox;
    spec->deadline = 5s;
    spec->poll = 50ms;
    p.spec = spec;
    p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"demo", "the demo tenant"});
    auto smtp = endpoint_of(srv, ca, "submission", protocol_kind::smtp, scenarios::tls_mode::starttls);
    smtp.auth = scenarios::credential{c.sender, secret_of(password_of(c.sender)), std::nullopt};
    p.send_via = std::make_shared<scenarios::server>(smtp);
    auto box = std::make_shared<scenarios::mailbox>();
    box->name = c.mailbox;
    box->address = c.mailbox;
    box->server = c.fetch == protocol_kind::imap ? "imaps" : "pop3s";
    box->login = scenarios::credential{c.mailbox, secret_of(c.password), std::nullopt};
    p.fetch = box;
    p.fetch_server = std::make_shared<scenarios::server>(
        endpoint_of(srv, ca, box->server.c_str(), c.fetch, scenarios::tls_mode::implicit));
    if (c.bounce_box) {
        auto bounces = std::make_shared<scenarios::mailbox>();
        bounces->name = c.bounce_box;
        bounces->address = c.bounce_box;
        bounces->server = "imaps";
        bounces->login = scenarios::credential{c.bounce_box, secret_of(password_of(c.bounce_box)), std::nullopt};
        p.bounce = bounces;
        p.bounce_server = std::make_shared<scenarios::server>(
            endpoint_of(srv, ca, "imaps", protocol_kind::imap, scenarios::tls_mode::implicit));
    }
    return p;
}

engine::task<void> run_case(scenarios::probe_plan p, probe::context* ctx, probe::result* out)
{
    *out = co_await probe::run_once(std::move(p), *ctx);
}

engine::task<void> run_demo_cases(builtin::server* srv, std::string ca, probe::context* ctx,
    std::vector<probe::result>* results)
{
    engine::scope server;
    server.spawn(srv->run());
    {
        engine::scope probes(4);
        for (std::size_t i = 0; i < cases.size(); ++i) {
            probes.spawn(run_case(plan_of(cases[i], *srv, ca), ctx, &(*results)[i]));
        }
        co_await probes.join();
    }
    srv->stop();
    co_await server.join();
}

std::string verdict_of(const probe::result& r)
{
    if (r.outcome == probe::status::down) {
        return fmt::format("down:{}", engine::to_string(r.stage));
    }
    return std::string(probe::to_string(r.outcome));
}

} // namespace

int run_demo(const std::vector<std::string>& args)
{
    if (!args.empty()) {
        bool help = args[0] == "--help" || args[0] == "-h";
        std::fprintf(help ? stdout : stderr,
            "usage: mailprobe demo\n\n"
            "Starts the built-in mail server on 127.0.0.1 (two organisations, internal.test and\n"
            "external.test, in memory, with a certificate made at start) and runs against it the six\n"
            "topologies, a probe filed as spam, a wrong password, a duplicated delivery and a\n"
            "bounce. Prints one row per probe; exit 0 when each behaved as expected. Needs no mail\n"
            "server and talks to nothing outside the loopback interface.\n\n"
            "example:\n"
            "  mailprobe demo\n");
        return help ? 0 : 3;
    }
    engine::loop loop;
    builtin::server srv(demo_world());
    if (auto r = srv.start(); !r) {
        std::fprintf(stderr, "mailprobe demo: cannot start the built-in server: %s\n", r.err().describe().c_str());
        return 3;
    }
    std::string ca = fmt::format("/tmp/mailprobe-demo-ca-{}.pem", getpid());
    if (auto w = srv.write_ca_pem(ca); !w) {
        std::fprintf(stderr, "mailprobe demo: %s\n", w.err().describe().c_str());
        return 3;
    }
    std::array<std::uint8_t, 32> key{};
    for (std::size_t i = 0; i < key.size(); ++i) {
        key[i] = static_cast<std::uint8_t>(0xA5 ^ i);   // a fixed demo key; deployments set their own
    }
    probe::context ctx(*protocols::message::mac_key::from_bytes(key));
    std::vector<probe::result> results(cases.size());
    loop.run(run_demo_cases(&srv, ca, &ctx, &results));
    std::remove(ca.c_str());

    std::printf("mailprobe demo: the built-in server on 127.0.0.1 plays two organisations,\n"
                "internal.test and external.test; each probe sends through SMTP (STARTTLS + AUTH),\n"
                "fetches over IMAP or POP3 (TLS), verifies its HMAC header and deletes its message.\n\n");
    std::printf("%-16s %-4s %-5s %-8s %-7s %-9s %s\n", "probe", "topo", "fetch", "state", "deliver", "round trip",
        "detail");
    bool as_expected = true;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        const auto& r = results[i];
        std::string state = r.outcome == probe::status::up ? "UP" : r.outcome == probe::status::warning ? "WARNING" : "DOWN";
        // Relays only: the store hop (IMAP INTERNALDATE) is no server the message passed.
        const auto relays = std::count_if(r.hops.begin(), r.hops.end(), [](const probe::hop& h) { return !h.store; });
        std::string detail = r.outcome == probe::status::down ? report::to_text_reason(r)
            : fmt::format("found in {} after {} hop{}", r.folder, relays, relays == 1 ? "" : "s");
        if (r.outcome == probe::status::warning) {
            detail += fmt::format("; {}", fmt::join(r.warnings, "; "));
        } else if (!r.server_reply.empty() && r.reason.rfind("bounced", 0) == 0) {
            detail += fmt::format(" [{}]", r.server_reply);
        }
        std::printf("%-16s %-4d %-5s %-8s %5lld ms %7lld ms  %s\n", c.name, c.topology,
            c.fetch == protocol_kind::imap ? "IMAP" : "POP3", state.c_str(), static_cast<long long>(r.ms.delivery),
            static_cast<long long>(r.ms.total), detail.c_str());
        std::string want = c.expect;
        std::string got = verdict_of(r);
        if (got != want && !(want == "up" && got.rfind("warning", 0) == 0)) {
            as_expected = false;
        }
    }
    std::printf("\n%s\n", as_expected
            ? "demo: every probe behaved as expected (the WARNING and DOWN rows show how findings are named)"
            : "demo: a probe did not behave as expected");
    return as_expected ? 0 : 2;
}
