// Operations of a load run: see workload.h.
#include "load/workload.h"

#include "engine/timer.h"
#include "protocols/imap/session.h"
#include "protocols/message/builder.h"
#include "protocols/message/header_reader.h"
#include "protocols/pop3/session.h"
#include "protocols/smtp/session.h"

#include <algorithm>
#include <chrono>
#include <string_view>

namespace load {

namespace {

std::uint64_t unix_ms_now()
{
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
}

/// Plain filler lines: nothing a filter or dot-stuffing has to think about.
std::string filler(std::size_t size)
{
    std::string line(76, 'x');
    line += "\r\n";
    std::string out;
    out.reserve(size + line.size());
    while (out.size() + line.size() <= size) {
        out += line;
    }
    if (out.size() + 2 < size) {
        out.append(size - out.size() - 2, 'x');
        out += "\r\n";
    }
    return out;
}

engine::error not_found(std::string what)
{
    return engine::make_error(engine::stage::deliver, engine::errc::not_found, std::move(what));
}

/// The X-Mailprobe field of a header block, verified with `key`.
bool carries_our_mac(std::string_view block, const protocols::message::mac_key& key)
{
    protocols::message::field_iterator fields(block, 512);
    while (auto f = fields.next()) {
        if (f->name.size() == protocols::message::probe_header_name.size()
            && std::equal(f->name.begin(), f->name.end(), protocols::message::probe_header_name.begin(),
                [](char a, char b) { return (a | 0x20) == (b | 0x20); })) {
            auto value = protocols::message::unfold(f->value);
            return protocols::message::verify_probe_header(std::string_view(value), key).verdict
                == protocols::message::header_verdict::ours;
        }
    }
    return false;
}

/// A POP3 session on `ep`, logged in as `login`, with its maildrop's message count (STAT).
struct pop3_open {
    protocols::pop3::session session;
    std::uint32_t count = 0;
};

engine::task<engine::result<pop3_open>> open_pop3(protocols::endpoint ep, protocols::credentials login)
{
    auto s = co_await protocols::pop3::session::connect(std::move(ep), nullptr);
    if (!s) {
        co_return std::move(s).err();
    }
    if (auto l = co_await s->login(std::move(login)); !l) {
        co_await s->close();
        co_return std::move(l).err();
    }
    auto st = co_await s->stat();
    if (!st) {
        co_await s->close();
        co_return std::move(st).err();
    }
    co_return pop3_open{std::move(*s), st->count};
}

} // namespace

workload::workload(target t, protocols::message::mac_key key)
    : m_target(std::move(t)), m_key(key), m_body(filler(m_target.body_size))
{
}

std::string workload::message(std::string& id_text)
{
    const auto now = unix_ms_now();
    protocols::message::message_spec spec;
    spec.from = m_target.from;
    spec.to = m_target.to;
    spec.probe_name = "load";
    spec.id = m_ids.next(now);
    spec.sent_unix_ms = now;
    auto built = protocols::message::build_message(spec, m_key);
    id_text = spec.id.to_string();
    built.text += m_body;
    return std::move(built.text);
}

engine::task<engine::result<void>> workload::submit(std::string text)
{
    protocols::smtp::send_request req;
    req.server = m_target.smtp;
    req.auth = m_target.smtp_auth;
    req.helo_name = m_target.helo;
    req.mail_from = m_target.from;
    req.recipients.push_back(m_target.to);
    req.message = std::move(text);
    auto sent = co_await protocols::smtp::send(std::move(req), nullptr);
    if (!sent) {
        co_return std::move(sent).err().at(engine::stage::send);
    }
    co_return engine::result<void>{};
}

engine::task<engine::result<void>> workload::send(std::uint64_t)
{
    std::string id;
    co_return co_await submit(message(id));
}

engine::task<engine::result<void>> workload::find_over_imap(std::string id, bool remove,
    std::chrono::milliseconds within)
{
    const auto until = engine::after(within);
    auto s = co_await protocols::imap::session::connect(m_target.fetch, nullptr);
    if (!s) {
        co_return std::move(s).err();
    }
    auto done = [&](engine::result<void> r) -> engine::task<engine::result<void>> {
        co_await s->logout();
        co_return r;
    };
    if (auto l = co_await s->login(m_target.mailbox); !l) {
        co_return co_await done(std::move(l));
    }
    std::vector<std::uint32_t> uids;
    for (;;) {
        // SELECT again on every look: a fresh view of the mailbox, as a new session would see.
        if (auto sel = co_await s->select("INBOX"); !sel) {
            co_return co_await done(std::move(sel).err());
        }
        auto found = co_await s->uid_search_header("X-Mailprobe", id);
        if (!found) {
            co_return co_await done(std::move(found).err());
        }
        if (!found->empty()) {
            uids = std::move(*found);
            break;
        }
        if (engine::clock::now() + m_target.poll >= until) {
            co_return co_await done(not_found("the message did not arrive in time"));
        }
        const bool slept = co_await engine::sleep_for(m_target.poll);   // see driver.cpp
        if (!slept) {
            co_return co_await done(engine::make_error(engine::stage::deliver, engine::errc::cancelled, "stopped"));
        }
    }
    auto headers = co_await s->uid_fetch_headers(uids);
    if (!headers) {
        co_return co_await done(std::move(headers).err());
    }
    if (headers->empty()) {
        co_return co_await done(engine::make_error(engine::stage::fetch, engine::errc::not_found,
            "the message went away between SEARCH and FETCH"));
    }
    if (remove) {
        for (const auto& h : *headers) {
            if (!carries_our_mac(h.section, m_key)) {
                co_return co_await done(engine::make_error(engine::stage::fetch, engine::errc::protocol,
                    "the X-Mailprobe field does not verify"));
            }
        }
        if (auto d = co_await s->uid_delete(uids); !d) {
            co_return co_await done(std::move(d));
        }
    }
    co_return co_await done(engine::result<void>{});
}

engine::task<engine::result<void>> workload::imap_fetch(std::uint64_t)
{
    co_return co_await find_over_imap(m_seed_id, false, std::chrono::milliseconds(0));
}

engine::task<engine::result<void>> workload::pop3_fetch(std::uint64_t)
{
    auto opened = co_await open_pop3(m_target.fetch, m_target.mailbox);
    if (!opened) {
        co_return std::move(opened).err();
    }
    auto& s = opened->session;
    if (opened->count == 0) {
        co_await s.close();
        co_return engine::make_error(engine::stage::fetch, engine::errc::not_found, "the maildrop is empty");
    }
    if (auto top = co_await s.top_headers(1); !top) {
        co_await s.close();
        co_return std::move(top).err();
    }
    co_return co_await s.quit();
}

engine::task<engine::result<void>> workload::roundtrip(std::uint64_t)
{
    std::string id;
    if (auto sent = co_await submit(message(id)); !sent) {
        co_return sent;
    }
    co_return co_await find_over_imap(std::move(id), true, m_target.deliver_within);
}

engine::task<engine::result<void>> workload::seed()
{
    co_return co_await submit(message(m_seed_id));
}

engine::task<engine::result<void>> workload::unseed(bool over_imap)
{
    if (over_imap) {
        co_return co_await find_over_imap(m_seed_id, true, m_target.deliver_within);
    }
    // POP3: mark every message whose header block names the seed, then QUIT to commit.
    auto opened = co_await open_pop3(m_target.fetch, m_target.mailbox);
    if (!opened) {
        co_return std::move(opened).err();
    }
    auto& s = opened->session;
    for (std::uint32_t n = 1; n <= opened->count; ++n) {
        auto top = co_await s.top_headers(n);
        if (!top) {
            co_await s.close();
            co_return std::move(top).err();
        }
        if (top->find(m_seed_id) != std::string::npos && carries_our_mac(*top, m_key)) {
            if (auto d = co_await s.dele(n); !d) {
                co_await s.close();
                co_return d;
            }
        }
    }
    co_return co_await s.quit();
}

} // namespace load
