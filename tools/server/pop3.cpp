// The built-in server's POP3 side (RFC 1939 with CAPA and RESP-CODES from RFC 2449, STLS
// from RFC 2595, AUTH PLAIN from RFC 5034), on the INBOX only, as at real providers.
//
//   command  = keyword *(SP arg) CRLF       ; keyword 3-4 chars, args up to 40 chars
//   response = ("+OK" / "-ERR") [SP text] CRLF  ; multi-line bodies dot-stuffed, "." CRLF
//
// The maildrop is a snapshot taken at login; DELE only marks, and marked messages go at
// QUIT. A dropped connection commits nothing. It refuses USER/PASS/AUTH in the clear on a
// STARTTLS listener and input sent ahead of the TLS handshake. Not a production server.
#include "protocols/common/sasl.h"
#include "protocols/smtp/dot_stuffing.h"
#include "tools/server/oauth.h"
#include "tools/server/session_io.h"

#include <charconv>
#include <string>
#include <unistd.h>
#include <vector>

namespace builtin::detail {

namespace {

using engine::task;

class pop3_session {
public:
    pop3_session(context* ctx, const listener_config* lc, engine::connection& c)
        : m_ctx(ctx), m_lc(lc), m_io(c, ctx->cfg->limits)
    {
    }

    task<void> run();

private:
    bool auth_allowed() const noexcept { return m_tls || m_lc->tls == protocols::tls_mode::none; }
    void capa();
    void login(mailbox* user);
    task<engine::result<void>> auth(std::string_view arg);
    /// The stored message for 1-based `arg`, or null after an -ERR reply.
    const stored_message* message(std::string_view arg, std::size_t* index);
    void listing(std::string_view arg, bool uidl);
    void send_body(const stored_message& m, std::size_t body_lines, bool whole);
    void commit();

    context* m_ctx;
    const listener_config* m_lc;
    line_io m_io;
    bool m_tls = false;
    std::string m_user_name;   // from USER, waiting for PASS
    mailbox* m_user = nullptr;
    std::vector<std::uint32_t> m_uids;   // the maildrop snapshot, in UID order
    std::vector<bool> m_deleted;
};

void pop3_session::capa()
{
    auto& o = m_io.out();
    o.append("+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n");
    if (!m_tls && m_lc->tls == protocols::tls_mode::starttls) {
        o.append("STLS\r\n");
    }
    if (auth_allowed() && !m_user) {
        if (m_ctx->cfg->accept_token) {
            o.append("SASL ").append(bearer_mechanisms(*m_ctx->cfg)).append("\r\n");
        } else {
            o.append("USER\r\nSASL PLAIN\r\n");
        }
    }
    o.append(".\r\n");
}

void pop3_session::login(mailbox* user)
{
    if (!user) {
        // No delay: a probe measures the server, and nobody brute-forces a loopback test peer.
        m_io.reply("-ERR [AUTH] Authentication failed.\r\n");
        return;
    }
    m_user = user;
    m_uids.clear();
    for (const auto& m : user->at(folder_id::inbox).messages()) {
        m_uids.push_back(m.uid);
    }
    m_deleted.assign(m_uids.size(), false);
    m_io.reply("+OK Logged in.\r\n");
}

task<engine::result<void>> pop3_session::auth(std::string_view arg)
{
    if (arg.empty()) {
        m_io.reply("+OK\r\nPLAIN\r\n.\r\n");
        co_return engine::result<void>{};
    }
    auto sp = arg.find(' ');
    if (m_ctx->cfg->accept_token) {
        auto bearer = bearer_mechanism(*m_ctx->cfg, arg.substr(0, sp));
        if (!bearer) {
            m_io.reply("-ERR [AUTH] Unsupported authentication mechanism\r\n");
            co_return engine::result<void>{};
        }
        auto ir = sp == std::string_view::npos ? std::nullopt : std::optional<std::string>(arg.substr(sp + 1));
        auto user = co_await bearer_login(m_ctx, &m_io, "+ ", std::move(ir), *bearer);
        if (!user) {
            co_return std::move(user).err();
        }
        login(*user);
        co_return engine::result<void>{};
    }
    if (!iequals(arg.substr(0, sp), "PLAIN")) {
        m_io.reply("-ERR [AUTH] Unsupported authentication mechanism\r\n");
        co_return engine::result<void>{};
    }
    std::string response(sp == std::string_view::npos ? std::string_view{} : arg.substr(sp + 1));
    if (sp == std::string_view::npos) {
        m_io.reply("+ \r\n");
        auto l = co_await m_io.line();
        if (!l) {
            co_return std::move(l).err();
        }
        response.assign(*l);
        if (response == "*") {
            m_io.reply("-ERR Authentication aborted\r\n");
            co_return engine::result<void>{};
        }
    }
    auto decoded = protocols::sasl::base64_decode(response == "=" ? "" : response);
    std::string_view v = decoded.value;
    auto nul1 = v.find('\0');
    auto nul2 = nul1 == std::string_view::npos ? nul1 : v.find('\0', nul1 + 1);
    if (!decoded.ok() || nul2 == std::string_view::npos) {
        m_io.reply("-ERR Invalid base64 or PLAIN message\r\n");
        co_return engine::result<void>{};
    }
    auto authzid = v.substr(0, nul1);
    auto authcid = v.substr(nul1 + 1, nul2 - nul1 - 1);
    login(authzid.empty() || authzid == authcid ? m_ctx->mail->authenticate(authcid, v.substr(nul2 + 1)) : nullptr);
    co_return engine::result<void>{};
}

const stored_message* pop3_session::message(std::string_view arg, std::size_t* index)
{
    std::size_t n = 0;
    auto word = arg.substr(0, arg.find(' '));
    auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), n);
    if (word.empty() || ec != std::errc{} || end != word.data() + word.size() || n == 0 || n > m_uids.size()) {
        m_io.reply("-ERR No such message\r\n");
        return nullptr;
    }
    if (m_deleted[n - 1]) {
        m_io.reply("-ERR Message is deleted.\r\n");
        return nullptr;
    }
    const auto& inbox = m_user->at(folder_id::inbox);
    std::size_t i = inbox.find(m_uids[n - 1]);
    if (i == inbox.size()) {
        m_io.reply("-ERR [SYS/TEMP] Message was removed by another session\r\n");
        return nullptr;
    }
    if (index) {
        *index = n;
    }
    return &inbox.messages()[i];
}

void pop3_session::listing(std::string_view arg, bool uidl)
{
    const auto& inbox = m_user->at(folder_id::inbox);
    auto& o = m_io.out();
    auto entry = [&](std::size_t n, const stored_message& m) {
        o.append(std::to_string(n)).append(" ");
        if (uidl) {
            o.append(std::to_string(inbox.uid_validity())).append(".").append(std::to_string(m.uid));
        } else {
            o.append(std::to_string(m.bytes.size()));
        }
    };
    if (!arg.empty()) {
        std::size_t n = 0;
        if (const auto* m = message(arg, &n)) {
            o.append("+OK ");
            entry(n, *m);
            o.append("\r\n");
        }
        return;
    }
    o.append("+OK\r\n");
    for (std::size_t n = 1; n <= m_uids.size(); ++n) {
        std::size_t i = inbox.find(m_uids[n - 1]);
        if (!m_deleted[n - 1] && i != inbox.size()) {
            entry(n, inbox.messages()[i]);
            o.append("\r\n");
        }
    }
    o.append(".\r\n");
}

void pop3_session::send_body(const stored_message& m, std::size_t body_lines, bool whole)
{
    auto& o = m_io.out();
    std::string_view text = m.bytes;
    if (!whole) {
        std::size_t end = m.header_size;
        for (std::size_t k = 0; k < body_lines && end < text.size(); ++k) {
            auto nl = text.find('\n', end);
            end = nl == std::string_view::npos ? text.size() : nl + 1;
        }
        text = text.substr(0, end);
    }
    o.append("+OK ").append(std::to_string(m.bytes.size())).append(" octets\r\n");
    protocols::smtp::append_dot_stuffed(o, text);
}

void pop3_session::commit()
{
    std::vector<std::uint32_t> gone;
    for (std::size_t n = 0; n < m_uids.size(); ++n) {
        if (m_deleted[n]) {
            gone.push_back(m_uids[n]);
        }
    }
    if (!gone.empty()) {
        m_user->at(folder_id::inbox).expunge(
            [&gone](const stored_message& m) { return std::binary_search(gone.begin(), gone.end(), m.uid); },
            [](std::size_t) {});
    }
}

task<void> pop3_session::run()
{
    if (m_lc->tls == protocols::tls_mode::implicit) {
        const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
        if (!upgraded) {
            co_return;
        }
        m_tls = true;
    }
    m_io.out().append("+OK ").append(m_ctx->cfg->hostname).append(" builtin POP3 ready (not a production server) <")
        .append(std::to_string(getpid())).append(".").append(m_ctx->make_id()).append("@")
        .append(m_ctx->cfg->hostname).append(">\r\n");
    for (;;) {
        auto l = co_await m_io.line();
        if (!l) {
            if (l.err().code == engine::errc::buffer_full) {
                m_io.reply("-ERR Line too long\r\n");
                (void)co_await m_io.flush();
            }
            co_return;
        }
        std::string_view line = *l;
        auto sp = line.find(' ');
        auto verb = line.substr(0, sp);
        auto arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        auto is = [verb](std::string_view name) { return iequals(verb, name); };
        if (is("CAPA")) {
            capa();
        } else if (is("NOOP")) {
            m_io.reply("+OK\r\n");
        } else if (is("QUIT")) {
            if (m_user) {
                commit();
            }
            m_io.reply("+OK Logging out.\r\n");
            (void)co_await m_io.flush();
            co_return;
        } else if (!m_user && is("STLS")) {
            if (m_tls || m_lc->tls != protocols::tls_mode::starttls) {
                m_io.reply("-ERR TLS not available\r\n");
                continue;
            }
            m_io.reply("+OK Begin TLS negotiation\r\n");
            const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
            if (!upgraded) {
                co_return;
            }
            m_tls = true;
            m_user_name.clear();
        } else if (!m_user && (is("USER") || is("PASS") || is("AUTH"))) {
            if (!auth_allowed()) {
                m_io.reply("-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n");
            } else if (is("USER")) {
                m_user_name.assign(arg);
                m_io.reply("+OK\r\n");
            } else if (is("PASS")) {
                if (m_user_name.empty()) {
                    m_io.reply("-ERR No username given.\r\n");
                } else {
                    login(m_ctx->cfg->accept_token ? nullptr : m_ctx->mail->authenticate(m_user_name, arg));
                }
            } else if (auto a = co_await auth(arg); !a) {
                co_return;
            }
        } else if (!m_user) {
            m_io.reply("-ERR Unknown command in AUTHORIZATION state.\r\n");
        } else if (is("STAT")) {
            std::size_t count = 0;
            std::size_t octets = 0;
            const auto& inbox = m_user->at(folder_id::inbox);
            for (std::size_t n = 0; n < m_uids.size(); ++n) {
                std::size_t i = inbox.find(m_uids[n]);
                if (!m_deleted[n] && i != inbox.size()) {
                    ++count;
                    octets += inbox.messages()[i].bytes.size();
                }
            }
            m_io.out().append("+OK ").append(std::to_string(count)).append(" ").append(std::to_string(octets)).append("\r\n");
        } else if (is("LIST") || is("UIDL")) {
            listing(arg, is("UIDL"));
        } else if (is("RETR")) {
            if (const auto* m = message(arg, nullptr)) {
                send_body(*m, 0, true);
            }
        } else if (is("TOP")) {
            auto sp2 = arg.find(' ');
            std::size_t lines = 0;
            auto count = sp2 == std::string_view::npos ? std::string_view{} : arg.substr(sp2 + 1);
            auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), lines);
            if (count.empty() || ec != std::errc{} || end != count.data() + count.size()) {
                m_io.reply("-ERR Syntax: TOP msg lines\r\n");
            } else if (const auto* m = message(arg.substr(0, sp2), nullptr)) {
                send_body(*m, lines, false);
            }
        } else if (is("DELE")) {
            std::size_t n = 0;
            if (message(arg, &n)) {
                m_deleted[n - 1] = true;
                m_io.reply("+OK Marked to be deleted.\r\n");
            }
        } else if (is("RSET")) {
            m_deleted.assign(m_uids.size(), false);
            m_io.reply("+OK\r\n");
        } else {
            m_io.reply("-ERR Unknown command\r\n");
        }
        if (m_io.out().size() > 256 * 1024) {
            const auto flushed = co_await m_io.flush();
            if (!flushed) {
                co_return;
            }
        }
    }
}

} // namespace

task<void> serve_pop3(context* ctx, const listener_config* lc, engine::connection c)
{
    {
        pop3_session s(ctx, lc, c);
        co_await s.run();
    }
    co_await c.close();
}

} // namespace builtin::detail
