// Our own client sessions against the built-in server: SMTP submission with STARTTLS and
// AUTH, then the IMAP session (implicit TLS) finds, fetches and deletes the message, the
// POP3 session (STLS) lists and deletes with commit at QUIT, and a Junk-filed message is
// found through LIST's \Junk attribute.
#include "engine/loop.h"
#include "engine/scope.h"
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/session.h"
#include "protocols/pop3/session.h"
#include "protocols/smtp/session.h"
#include "tools/server/server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <unistd.h>

using namespace std::chrono_literals;
using engine::task;

namespace {

builtin::config clients_config()
{
    builtin::config c;
    c.hostname = "mx.builtin.test";
    builtin::domain_config org1{"org1.test", {}, {}};
    org1.mailboxes.push_back({"alice@org1.test", "alice", "alice-pw", false});
    c.domains = {org1};
    using builtin::protocol;
    using protocols::tls_mode;
    c.listeners = {
        {"submission", protocol::smtp, tls_mode::starttls, "127.0.0.1", 0},
        {"imaps", protocol::imap, tls_mode::implicit, "127.0.0.1", 0},
        {"pop3", protocol::pop3, tls_mode::starttls, "127.0.0.1", 0},
    };
    return c;
}

protocols::endpoint endpoint_for(const builtin::server& srv, std::string_view name, protocols::tls_mode mode)
{
    std::string path = "/tmp/builtin-clients-test-ca-" + std::to_string(getpid()) + ".pem";
    EXPECT_TRUE(srv.write_ca_pem(path));
    engine::tls_options o;
    o.ca_file = path;
    auto ctx = engine::tls_context::client(o);
    std::remove(path.c_str());
    protocols::endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = srv.port(name);
    ep.tls = mode;
    ep.verify_name = "localhost";
    ep.tls_context = *ctx;
    ep.connect_timeout = 5s;
    ep.command_timeout = 5s;
    return ep;
}

protocols::credentials alice() { return {"alice", "alice-pw", protocols::credentials::kind::password}; }

std::string probe_message(std::string id, bool spam)
{
    return "From: probe@org1.test\r\nTo: alice@org1.test\r\nSubject: probe\r\nX-Mailprobe: " + id + "\r\n"
        + (spam ? "X-Spam-Flag: YES\r\n" : "") + "\r\nbody\r\n.starts with a dot\r\n";
}

task<std::string> submit(protocols::endpoint ep, std::string message)
{
    protocols::smtp::send_request req;
    req.server = std::move(ep);
    req.auth = alice();
    req.helo_name = "probe.test";
    req.mail_from = "alice@org1.test";
    req.recipients = {"alice@org1.test"};
    req.message = std::move(message);
    auto r = co_await protocols::smtp::send(std::move(req), nullptr);
    co_return r ? r->queue_id : "error: " + r.err().describe();
}

struct outcome {
    std::string queue_id;
    std::string imap;
    std::string pop3;
};

task<void> scenario(builtin::server* srv, protocols::endpoint smtp_ep, protocols::endpoint imap_ep,
    protocols::endpoint pop3_ep, outcome* out)
{
    out->queue_id = co_await submit(smtp_ep, probe_message("probe-1", false));
    co_await submit(smtp_ep, probe_message("probe-2", true));

    auto im = co_await protocols::imap::session::connect(imap_ep, nullptr);
    if (!im) {
        out->imap = "connect: " + im.err().describe();
    } else if (auto l = co_await im->login(alice()); !l) {
        out->imap = "login: " + l.err().describe();
    } else {
        auto boxes = co_await im->list();
        auto junk = boxes ? protocols::imap::find_junk_folder(*boxes) : std::nullopt;
        out->imap += junk ? "junk=" + (*boxes)[*junk].name : std::string("no junk");
        auto sel = co_await im->select("INBOX");
        out->imap += sel ? " exists=" + std::to_string(sel->exists) : " select: " + sel.err().describe();
        auto uids = co_await im->uid_search_header("X-Mailprobe", "probe-1");
        if (uids && uids->size() == 1) {
            auto fetched = co_await im->uid_fetch_headers(*uids);
            if (fetched && fetched->size() == 1 && (*fetched)[0].section.find("X-Mailprobe: probe-1") != std::string::npos) {
                out->imap += " fetched";
            }
            auto del = co_await im->uid_delete(*uids);
            out->imap += del ? " deleted" : " delete: " + del.err().describe();
        } else {
            out->imap += " search failed";
        }
        auto js = co_await im->select("Junk");
        out->imap += js ? " junk_exists=" + std::to_string(js->exists) : " junk select failed";
        co_await im->logout();
    }

    // Deliver one more for POP3 to find.
    co_await submit(smtp_ep, probe_message("probe-3", false));
    auto po = co_await protocols::pop3::session::connect(pop3_ep, nullptr);
    if (!po) {
        out->pop3 = "connect: " + po.err().describe();
        co_return;
    }
    if (auto l = co_await po->login(alice()); !l) {
        out->pop3 = "login: " + l.err().describe();
        co_return;
    }
    auto st = co_await po->stat();
    out->pop3 = st ? "count=" + std::to_string(st->count) : "stat failed";
    auto ids = co_await po->uidl();
    out->pop3 += ids ? " uidl=" + std::to_string(ids->size()) : " uidl failed";
    auto top = co_await po->top_headers(1);
    out->pop3 += top && top->find("X-Mailprobe: probe-3") != std::string::npos ? " top" : " top failed";
    auto body = co_await po->retr(1);
    out->pop3 += body && body->find("\r\n.starts with a dot\r\n") != std::string::npos ? " retr" : " retr failed";
    auto d = co_await po->dele(1);
    auto q = co_await po->quit();
    out->pop3 += d && q ? " quit" : " dele/quit failed";
    (void)srv;
}

task<void> with_server(builtin::server* srv, task<void> body)
{
    engine::scope s;
    s.spawn(srv->run());
    co_await std::move(body);
    srv->stop();
    co_await s.join();
}

} // namespace

TEST(BuiltinServerClients, SubmitFindFetchDeleteWithOurSessions)
{
    engine::loop loop;
    builtin::server srv(clients_config());
    auto r = srv.start();
    ASSERT_TRUE(r) << r.err().describe();
    using protocols::tls_mode;
    outcome out;
    loop.run(with_server(&srv,
        scenario(&srv, endpoint_for(srv, "submission", tls_mode::starttls), endpoint_for(srv, "imaps", tls_mode::implicit),
            endpoint_for(srv, "pop3", tls_mode::starttls), &out)));
    EXPECT_EQ(out.queue_id.size(), 10u) << out.queue_id;
    EXPECT_EQ(out.imap, "junk=Junk exists=1 fetched deleted junk_exists=1");
    EXPECT_EQ(out.pop3, "count=1 uidl=1 top retr quit");
    EXPECT_EQ(srv.mailbox("alice@org1.test")->at(builtin::folder_id::inbox).size(), 0u);
    EXPECT_EQ(srv.connections(), 0u);
}
