// The in-memory mail store of the built-in server: see store.h.
#include "tools/server/store.h"

#include "engine/scope.h"
#include "protocols/message/date_time.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace builtin {

namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view domain_of(std::string_view address) noexcept
{
    auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view{} : address.substr(at + 1);
}

// Alias chains longer than this are a loop (or a misconfiguration that looks like one).
constexpr int max_alias_hops = 8;

} // namespace

bool iless::operator()(std::string_view a, std::string_view b) const noexcept
{
    std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        char x = lower(a[i]);
        char y = lower(b[i]);
        if (x != y) {
            return x < y;
        }
    }
    return a.size() < b.size();
}

bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

// ---- folder

folder::folder(std::string name, std::string special_use, std::uint32_t uid_validity)
    : m_name(std::move(name)), m_special_use(std::move(special_use)), m_uid_validity(uid_validity)
{
}

std::size_t folder::lower_bound(std::uint32_t uid) const noexcept
{
    auto it = std::lower_bound(m_messages.begin(), m_messages.end(), uid,
        [](const stored_message& m, std::uint32_t u) { return m.uid < u; });
    return static_cast<std::size_t>(it - m_messages.begin());
}

std::size_t folder::find(std::uint32_t uid) const noexcept
{
    std::size_t i = lower_bound(uid);
    return i < m_messages.size() && m_messages[i].uid == uid ? i : m_messages.size();
}

std::uint32_t folder::append(std::string bytes, std::int64_t internal_date, std::uint8_t message_flags)
{
    stored_message m;
    m.uid = m_uid_next++;
    m.flags = message_flags;
    m.internal_date = internal_date;
    m.header_size = header_size(bytes);
    m.bytes = std::move(bytes);
    m_messages.push_back(std::move(m));
    return m_messages.back().uid;
}

void folder::expunge(const std::function<bool(const stored_message&)>& remove,
    const std::function<void(std::size_t seq)>& removed)
{
    for (std::size_t i = m_messages.size(); i-- > 0;) {
        if (remove(m_messages[i])) {
            removed(i + 1);
        }
    }
    // One pass keeps expunging a big folder linear.
    std::erase_if(m_messages, [&](const stored_message& m) { return remove(m); });
}

// ---- mailbox

mailbox::mailbox(const mailbox_config& c, std::uint32_t base)
    : m_address(c.address),
      m_login(c.login.empty() ? c.address : c.login),
      m_password(c.password),
      m_always_junk(c.always_junk),
      m_copies(std::max(1, c.copies)),
      m_bounces(c.bounces),
      m_folders{folder("INBOX", "", base), folder("Junk", "\\Junk", base + 1),
          folder("Sent", "\\Sent", base + 2), folder("Trash", "\\Trash", base + 3),
          folder("Drafts", "\\Drafts", base + 4)}
{
    if (c.file_into.empty()) {
        return;
    }
    if (folder* known = find_folder(c.file_into)) {
        m_delivery_folder = static_cast<std::size_t>(known - m_folders.data());
    } else {
        m_folders.emplace_back(c.file_into, "", base + static_cast<std::uint32_t>(folder_count));
        m_delivery_folder = folder_count;
    }
}

bool mailbox::password_matches(std::string_view password) const noexcept
{
    // Constant-time over the stored length, so a timing probe learns nothing on loopback.
    unsigned diff = password.size() == m_password.size() ? 0 : 1;
    for (std::size_t i = 0; i < m_password.size(); ++i) {
        char p = i < password.size() ? password[i] : '\0';
        diff |= static_cast<unsigned char>(p ^ m_password[i]);
    }
    return diff == 0;
}

folder* mailbox::find_folder(std::string_view name) noexcept
{
    if (iequals(name, "INBOX")) {
        return &m_folders[0];
    }
    for (auto& f : m_folders) {
        if (f.name() == name) {
            return &f;
        }
    }
    return nullptr;
}

void mailbox::remove_idler(engine::scope* s) noexcept
{
    std::erase(m_idlers, s);
}

void mailbox::notify() noexcept
{
    for (auto* s : m_idlers) {
        s->request_stop();
    }
}

// ---- store

engine::result<store> store::make(const config& c, std::string hostname)
{
    store s;
    s.m_hostname = std::move(hostname);
    s.m_store_clock_offset = c.store_clock_offset.count();
    auto fail = [](std::string what) { return engine::make_error(engine::stage::scenario, engine::errc::invalid_argument, std::move(what)); };
    // Distinct UIDVALIDITY per folder and per server start, as real servers do after a rebuild.
    auto base = static_cast<std::uint32_t>(std::time(nullptr) & 0x3fffffff);
    for (const auto& d : c.domains) {
        s.m_domains.push_back(d.name);
        for (const auto& m : d.mailboxes) {
            if (!iequals(domain_of(m.address), d.name)) {
                return fail("mailbox " + m.address + " is not in domain " + d.name);
            }
            auto& box = s.m_mailboxes.emplace_back(m, base);
            base += static_cast<std::uint32_t>(box.folders().size());
            if (!s.m_by_address.emplace(box.address(), &box).second) {
                return fail("duplicate mailbox " + m.address);
            }
            if (!s.m_by_login.emplace(box.login(), &box).second) {
                return fail("duplicate login " + box.login());
            }
        }
    }
    for (const auto& d : c.domains) {
        for (const auto& a : d.aliases) {
            if (!iequals(domain_of(a.address), d.name)) {
                return fail("alias " + a.address + " is not in domain " + d.name);
            }
            if (s.m_by_address.count(a.address) || !s.m_aliases.emplace(a.address, a.target).second) {
                return fail("alias " + a.address + " is already an address");
            }
        }
    }
    for (const auto& [from, to] : s.m_aliases) {
        if (!s.m_by_address.count(to) && !s.m_aliases.count(to)) {
            return fail("alias " + from + " forwards to " + to + ", which is no address of this server");
        }
    }
    return s;
}

mailbox* store::find(std::string_view address) noexcept
{
    auto it = m_by_address.find(address);
    return it == m_by_address.end() ? nullptr : it->second;
}

const mailbox* store::find(std::string_view address) const noexcept
{
    auto it = m_by_address.find(address);
    return it == m_by_address.end() ? nullptr : it->second;
}

mailbox* store::authenticate(std::string_view login, std::string_view password) noexcept
{
    auto it = m_by_login.find(login);
    mailbox* m = it != m_by_login.end() ? it->second : find(login);
    return m && m->password_matches(password) ? m : nullptr;
}

recipient_status store::check(std::string_view address) const noexcept
{
    if (m_by_address.count(address) || m_aliases.count(address)) {
        return recipient_status::local;
    }
    auto domain = domain_of(address);
    for (const auto& d : m_domains) {
        if (iequals(d, domain)) {
            return recipient_status::unknown_user;
        }
    }
    return recipient_status::not_local;
}

bool store::deliver(std::string_view recipient, const envelope_info& env, std::string_view message)
{
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch()).count();
    std::string date = rfc5322_date(now);
    std::string with = "ESMTP";
    if (env.tls) {
        with += 'S';
    }
    if (env.authenticated) {
        with += 'A';
    }
    std::string text;
    text.reserve(message.size() + 512);
    text.append("Received: from ").append(env.helo).append(" ([").append(env.peer_ip).append("])\r\n\tby ")
        .append(m_hostname).append(" with ").append(with).append(" id ").append(env.id)
        .append("\r\n\tfor <").append(recipient).append(">; ").append(date).append("\r\n");
    text.append(message);

    std::string target(recipient);
    for (int hop = 1; hop <= max_alias_hops; ++hop) {
        if (mailbox* box = find(target)) {
            if (box->bounces()) {
                bounce(target, env, text, date);
                return true;
            }
            std::string spam;
            bool junk = box->always_junk()
                || (header_value(std::string_view(text).substr(0, header_size(text)), "X-Spam-Flag", spam)
                    && iequals(spam, "YES"));
            folder& into = junk ? box->at(folder_id::junk) : box->delivery_folder();
            const std::int64_t stored = now + m_store_clock_offset;
            for (int copy = 1; copy < box->copies(); ++copy) {
                into.append(text, stored, 0);
            }
            into.append(std::move(text), stored, 0);
            box->notify();
            return true;
        }
        auto alias = m_aliases.find(target);
        if (alias == m_aliases.end()) {
            return false;
        }
        // The forward is a re-send from this host to itself: one more hop on top.
        std::string hop_header;
        hop_header.append("Received: from ").append(m_hostname).append(" (localhost [127.0.0.1])\r\n\tby ")
            .append(m_hostname).append(" with ESMTP id ").append(env.id).append('.' + std::to_string(hop))
            .append("\r\n\tfor <").append(alias->second).append(">; ").append(date).append("\r\n");
        text.insert(0, hop_header);
        target = alias->second;
    }
    return false;
}

void store::bounce(std::string_view recipient, const envelope_info& env, std::string_view message,
    const std::string& date)
{
    if (env.mail_from.empty()) {
        return;
    }
    std::string boundary = std::string(env.id) + "/" + m_hostname;
    std::string dsn;
    dsn.append("From: MAILER-DAEMON@").append(m_hostname).append("\r\nTo: <").append(env.mail_from)
        .append(">\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: ").append(date)
        .append("\r\nMessage-ID: <").append(env.id).append(".bounce@").append(m_hostname)
        .append(">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n")
        .append("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"")
        .append(boundary).append("\"\r\n\r\n--").append(boundary)
        .append("\r\nContent-Type: text/plain\r\n\r\nYour message to <").append(recipient)
        .append("> could not be delivered: the mailbox is full.\r\n\r\n--").append(boundary)
        .append("\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; ").append(m_hostname)
        .append("\r\n\r\nFinal-Recipient: rfc822; ").append(recipient)
        .append("\r\nAction: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n\r\n--")
        .append(boundary).append("\r\nContent-Type: text/rfc822-headers\r\n\r\n")
        .append(message.substr(0, header_size(message))).append("--").append(boundary).append("--\r\n");
    envelope_info from_us = env;
    from_us.mail_from = {};
    from_us.authenticated = false;
    deliver(env.mail_from, from_us, dsn);
}

// ---- header helpers

std::size_t header_size(std::string_view message) noexcept
{
    if (message.starts_with("\r\n")) {
        return 2;
    }
    auto end = message.find("\r\n\r\n");
    return end == std::string_view::npos ? message.size() : end + 4;
}

bool header_value(std::string_view header, std::string_view name, std::string& out)
{
    std::size_t pos = 0;
    while (pos < header.size()) {
        auto eol = header.find("\r\n", pos);
        std::size_t line_end = eol == std::string_view::npos ? header.size() : eol;
        auto line = header.substr(pos, line_end - pos);
        pos = line_end + 2;
        auto colon = line.find(':');
        if (line.empty() || line[0] == ' ' || line[0] == '\t' || colon == std::string_view::npos
            || !iequals(line.substr(0, colon), name)) {
            continue;
        }
        out.assign(line.substr(colon + 1));
        // Continuation lines belong to the value (unfolding: drop the CRLF, keep the blank).
        while (pos < header.size() && (header[pos] == ' ' || header[pos] == '\t')) {
            auto next = header.find("\r\n", pos);
            std::size_t e = next == std::string_view::npos ? header.size() : next;
            out.append(header.substr(pos, e - pos));
            pos = e + 2;
        }
        auto first = out.find_first_not_of(" \t");
        auto last = out.find_last_not_of(" \t");
        out = first == std::string::npos ? std::string{} : out.substr(first, last - first + 1);
        return true;
    }
    return false;
}

std::string rfc5322_date(std::int64_t unix_seconds)
{
    return protocols::message::format_date_time(unix_seconds * 1000, 0);
}

} // namespace builtin
