// The live status page in a real browser: the built-in mail server, the scheduler running a
// real round-trip probe every 300 ms and the --listen HTTP server share one loop, as in
// `mailprobe run --listen`. Headless Chromium (offline, a temporary profile) loads the page
// while the probe is Up, the scenario is reloaded with a wrong password, and Chromium loads
// it again once the probe is Down: the cell changes state and shows the failing stage.
// Skipped only when chromium is not installed.
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/timer.h"
#include "probe/roundtrip.h"
#include "protocols/http/server.h"
#include "report/live.h"
#include "scheduler/schedule.h"
#include "tests/support/child_process.h"
#include "tools/server/server.h"
#include "tests/support/fixtures.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>

using namespace std::chrono_literals;

using test_support::inline_secret;

namespace {

builtin::config world_config()
{
    builtin::config c;
    c.hostname = "mx.builtin.test";
    builtin::domain_config org1{"org1.test", {}, {}};
    org1.mailboxes.push_back({"alice@org1.test", "alice", "alice-pw", false});
    org1.mailboxes.push_back({"sender@org1.test", "sender", "sender-pw", false});
    c.domains = {org1};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
    };
    return c;
}

scenarios::server server_of(const builtin::server& srv, const std::string& ca, std::string name,
    scenarios::protocol_kind p, scenarios::tls_mode tls)
{
    scenarios::server s;
    s.name = name;
    s.protocol = p;
    s.host = "127.0.0.1";
    s.port = srv.port(name);
    s.tls = tls;
    s.ca_file = ca;
    s.verify_name = "localhost";
    s.connect_timeout = 3s;
    s.command_timeout = 3s;
    return s;
}

/// One probe, acme/wall, sender@ to alice@ over IMAP, alice logging in with `password`.
scenarios::plan plan_with(const builtin::server& srv, const std::string& ca, std::string password)
{
    scenarios::probe_plan p;
    auto spec = std::make_shared<scenarios::probe>();
    spec->name = "wall";
    spec->tenant = "acme";
    spec->topology = 1;
    spec->send_via = "submission";
    spec->from = "sender@org1.test";
    spec->to = "alice@org1.test";
    spec->fetch = "box";
    spec->deadline = 3s;
    spec->poll = 100ms;
    spec->interval = 300ms;
    p.spec = spec;
    p.owner = std::make_shared<scenarios::tenant>(scenarios::tenant{"acme", ""});
    auto smtp = server_of(srv, ca, "submission", scenarios::protocol_kind::smtp, scenarios::tls_mode::starttls);
    smtp.auth = scenarios::credential{"sender", inline_secret("sender-pw"), std::nullopt};
    p.send_via = std::make_shared<scenarios::server>(smtp);
    auto box = std::make_shared<scenarios::mailbox>();
    box->name = "box";
    box->address = "alice@org1.test";
    box->login = scenarios::credential{"alice", inline_secret(password), std::nullopt};
    p.fetch = box;
    p.fetch_server = std::make_shared<scenarios::server>(
        server_of(srv, ca, "imaps", scenarios::protocol_kind::imap, scenarios::tls_mode::implicit));
    scenarios::plan out;
    out.probes.push_back(std::move(p));
    return out;
}

probe::context test_context()
{
    std::array<std::uint8_t, 32> key{};
    key.fill(0x5a);
    return probe::context(*protocols::message::mac_key::from_bytes(key));
}

struct world {
    builtin::server* mail;
    std::string ca;
    scheduler::schedule* sched;
    report::live_status* live;
    engine::listener* http;
    const protocols::http::handler* pages;
    const test_support::temp_dir* dir;
    std::string dom_up;     // what Chromium showed while the probe was Up
    std::string dom_down;   // and after it went Down
};

/// Waits (at most 15 s) until the live view's only probe has `status`.
engine::task<bool> wait_for(const report::live_status* live, std::string status)
{
    const std::string needle = "\"status\":\"" + status + "\"";
    for (int i = 0; i < 150; ++i) {
        if (live->status_json().find(needle) != std::string::npos) {
            co_return true;
        }
        if (!co_await engine::sleep_for(100ms)) {
            co_return false;
        }
    }
    co_return false;
}

/// Chromium's serialized DOM of the page, the loop serving it meanwhile (at most 60 s).
engine::task<std::string> browse(const test_support::temp_dir* dir, std::uint16_t port, std::string profile)
{
    // --virtual-time-budget lets the page's fetch of /status.json finish before the dump;
    // every name but our loopback address resolves nowhere, so nothing outside could load.
    // stdout (the DOM) and stderr (the log, console messages included) share one file.
    test_support::child_process chromium({"timeout", "60", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--user-data-dir=" + dir->path() + "/" + profile, "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=2000", "--dump-dom", "http://127.0.0.1:" + std::to_string(port) + "/"});
    for (int i = 0; i < 600; ++i) {
        std::string out = chromium.output();
        if (out.find("</html>") != std::string::npos) {
            co_return out;
        }
        if (!co_await engine::sleep_for(100ms)) {
            break;
        }
    }
    co_return chromium.output();
}

engine::task<void> scenario(world* w)
{
    EXPECT_TRUE(co_await wait_for(w->live, "up")) << w->live->status_json();
    w->dom_up = co_await browse(w->dir, w->http->port(), "profile-up");
    w->sched->reload(plan_with(*w->mail, w->ca, "wrong-pw"), test_context());
    EXPECT_TRUE(co_await wait_for(w->live, "down")) << w->live->status_json();
    w->dom_down = co_await browse(w->dir, w->http->port(), "profile-down");
    w->sched->drain();
}

engine::task<void> run_world(world* w)
{
    engine::scope side;
    side.spawn(w->mail->run());
    side.spawn(protocols::http::serve(w->http, w->pages, protocols::http::server_limits{}));
    side.spawn(scenario(w));
    co_await w->sched->run(plan_with(*w->mail, w->ca, "alice-pw"), test_context());
    w->mail->stop();
    side.request_stop();
    co_await side.join();
}

} // namespace

TEST(StatusPageBrowser, ShowsAProbeGoingDown)
{
    if (std::system("command -v chromium >/dev/null 2>&1") != 0) {
        GTEST_SKIP() << "chromium is not installed (tools/install-deps.sh installs it)";
    }
    test_support::temp_dir dir;
    engine::loop loop;
    builtin::server mail(world_config());
    auto started = mail.start();
    ASSERT_TRUE(started) << started.err().describe();
    std::string ca = dir.path() + "/ca.pem";
    ASSERT_TRUE(mail.write_ca_pem(ca));
    report::live_status live;
    scheduler::schedule sched([&live](const probe::result& r) { live.add(r, 1'700'000'000); }, false);
    auto http = engine::listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(http);
    const protocols::http::handler pages = [&live](std::string_view path) {
        protocols::http::reply r;
        r.content_type = path == "/" ? "text/html; charset=utf-8" : "application/json";
        r.body = path == "/" ? std::string(report::live_status::page()) : live.status_json();
        return r;
    };
    world w{&mail, ca, &sched, &live, &*http, &pages, &dir, {}, {}};
    loop.run(run_world(&w));

    EXPECT_NE(w.dom_up.find("data-status=\"up\""), std::string::npos) << w.dom_up;
    EXPECT_EQ(w.dom_up.find("data-status=\"down\""), std::string::npos);
    EXPECT_NE(w.dom_up.find("<th>acme</th>"), std::string::npos);
    EXPECT_NE(w.dom_down.find("data-status=\"down\""), std::string::npos) << w.dom_down;
    EXPECT_NE(w.dom_down.find("down at auth"), std::string::npos);   // the cell names the stage
    EXPECT_NE(w.dom_down.find("title=\"auth: "), std::string::npos);  // and the reason on hover
    EXPECT_EQ(w.dom_down.find("wrong-pw"), std::string::npos);       // never the password
    EXPECT_EQ(w.dom_down.find(":CONSOLE"), std::string::npos) << "console messages: " << w.dom_down;
}
