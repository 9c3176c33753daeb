// The built-in server's SMTP side (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
// ENHANCEDSTATUSCODES, STARTTLS and AUTH PLAIN/LOGIN), answering like Postfix does.
//
//   ehlo      = "EHLO" SP ( Domain / address-literal ) CRLF
//   mail      = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
//   rcpt      = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path )
//               [SP Rcpt-parameters] CRLF
//   data      = "DATA" CRLF   ; then the dot-stuffed text, ended by CRLF "." CRLF
//
// It refuses relaying (any domain it does not host: 550 5.7.1), unknown local users
// (550 5.1.1), AUTH in the clear on a STARTTLS listener, messages over the size limit, and
// input sent ahead of the TLS handshake. Only CRLF "." CRLF ends DATA, so bare-LF tricks
// cannot smuggle a second message. Not a production MTA: nothing leaves this process.
#include "protocols/common/sasl.h"
#include "tools/server/oauth.h"
#include "tools/server/session_io.h"

#include <charconv>
#include <string>
#include <vector>

namespace builtin::detail {

namespace {

using engine::task;

bool starts_with_icase(std::string_view text, std::string_view prefix) noexcept
{
    return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

/// The address inside "<...>" after a "MAIL FROM:"/"RCPT TO:" prefix, and the parameters
/// after it; false when the brackets are missing.
bool split_path(std::string_view rest, std::string_view& address, std::string_view& params)
{
    while (!rest.empty() && rest.front() == ' ') {
        rest.remove_prefix(1);
    }
    if (rest.empty() || rest.front() != '<') {
        return false;
    }
    auto close = rest.find('>');
    if (close == std::string_view::npos) {
        return false;
    }
    address = rest.substr(1, close - 1);
    params = rest.substr(close + 1);
    return true;
}

class smtp_session {
public:
    smtp_session(context* ctx, const listener_config* lc, engine::connection& c)
        : m_ctx(ctx), m_lc(lc), m_io(c, ctx->cfg->limits)
    {
    }

    task<void> run();

private:
    const server_limits& limits() const noexcept { return m_ctx->cfg->limits; }
    bool auth_allowed() const noexcept { return m_tls || m_lc->tls == protocols::tls_mode::none; }
    void reset_transaction()
    {
        m_mail_from.reset();
        m_recipients.clear();
    }
    void ehlo(std::string_view arg);
    task<engine::result<void>> auth(std::string_view arg);
    task<engine::result<std::string>> sasl_line();
    void mail(std::string_view arg);
    void rcpt(std::string_view arg);
    task<engine::result<void>> data();
    void finish_auth(std::string_view login, std::string_view password);

    context* m_ctx;
    const listener_config* m_lc;
    line_io m_io;
    bool m_tls = false;
    std::string m_helo;
    mailbox* m_user = nullptr;
    std::optional<std::string> m_mail_from;
    std::vector<std::string> m_recipients;
    std::string m_message;
};

void smtp_session::ehlo(std::string_view arg)
{
    m_helo.assign(arg.empty() ? "unknown" : arg);
    reset_transaction();
    auto& o = m_io.out();
    o.append("250-").append(m_ctx->cfg->hostname).append("\r\n250-PIPELINING\r\n250-SIZE ")
        .append(std::to_string(limits().max_message)).append("\r\n250-8BITMIME\r\n");
    if (!m_tls && m_lc->tls == protocols::tls_mode::starttls) {
        o.append("250-STARTTLS\r\n");
    }
    if (auth_allowed()) {
        if (m_ctx->cfg->accept_token) {
            o.append("250-AUTH ").append(bearer_mechanisms(*m_ctx->cfg)).append("\r\n");
        } else {
            o.append("250-AUTH PLAIN LOGIN\r\n");
        }
    }
    o.append("250 ENHANCEDSTATUSCODES\r\n");
}

task<engine::result<std::string>> smtp_session::sasl_line()
{
    auto l = co_await m_io.line();
    if (!l) {
        co_return std::move(l).err();
    }
    co_return std::string(*l);
}

void smtp_session::finish_auth(std::string_view login, std::string_view password)
{
    m_user = m_ctx->mail->authenticate(login, password);
    // No delay on failure: probes measure servers, and a loopback test server has no one to slow down.
    m_io.reply(m_user ? "235 2.7.0 Authentication successful\r\n" : "535 5.7.8 Authentication credentials invalid\r\n");
}

task<engine::result<void>> smtp_session::auth(std::string_view arg)
{
    if (!auth_allowed()) {
        m_io.reply("530 5.7.0 Must issue a STARTTLS command first\r\n");
        co_return engine::result<void>{};
    }
    if (m_user) {
        m_io.reply("503 5.5.1 Error: already authenticated\r\n");
        co_return engine::result<void>{};
    }
    if (m_mail_from) {
        m_io.reply("503 5.5.1 Error: MAIL transaction in progress\r\n");
        co_return engine::result<void>{};
    }
    auto sp = arg.find(' ');
    std::string mech(arg.substr(0, sp));
    std::string initial(sp == std::string_view::npos ? std::string_view{} : arg.substr(sp + 1));
    const bool has_initial = sp != std::string_view::npos;
    auto cancelled = [this](const std::string& s) {
        if (s == "*") {
            m_io.reply("501 5.7.0 Authentication aborted\r\n");
            return true;
        }
        return false;
    };
    if (m_ctx->cfg->accept_token) {
        auto bearer = bearer_mechanism(*m_ctx->cfg, mech);
        if (!bearer) {
            m_io.reply("535 5.7.139 Authentication unsuccessful, basic authentication is disabled.\r\n");
            co_return engine::result<void>{};
        }
        std::optional<std::string> ir;
        if (has_initial) {
            ir = initial;
        }
        auto user = co_await bearer_login(m_ctx, &m_io, "334 ", std::move(ir), *bearer);
        if (!user) {
            co_return std::move(user).err();
        }
        m_user = *user;
        m_io.reply(m_user ? "235 2.7.0 Authentication successful\r\n" : "535 5.7.3 Authentication unsuccessful\r\n");
    } else if (iequals(mech, "PLAIN")) {
        if (!has_initial) {
            m_io.reply("334 \r\n");
            auto l = co_await sasl_line();
            if (!l) {
                co_return std::move(l).err();
            }
            initial = std::move(*l);
        }
        if (cancelled(initial)) {
            co_return engine::result<void>{};
        }
        auto decoded = protocols::sasl::base64_decode(initial == "=" ? "" : initial);
        std::string_view v = decoded.value;
        auto nul1 = v.find('\0');
        auto nul2 = nul1 == std::string_view::npos ? nul1 : v.find('\0', nul1 + 1);
        if (!decoded.ok() || nul2 == std::string_view::npos) {
            m_io.reply("501 5.5.2 Cannot decode response\r\n");
            co_return engine::result<void>{};
        }
        auto authzid = v.substr(0, nul1);
        auto authcid = v.substr(nul1 + 1, nul2 - nul1 - 1);
        if (!authzid.empty() && authzid != authcid) {
            m_io.reply("535 5.7.8 Authentication credentials invalid\r\n");
            co_return engine::result<void>{};
        }
        finish_auth(authcid, v.substr(nul2 + 1));
    } else if (iequals(mech, "LOGIN")) {
        if (!has_initial) {
            m_io.reply("334 VXNlcm5hbWU6\r\n");
            auto l = co_await sasl_line();
            if (!l) {
                co_return std::move(l).err();
            }
            initial = std::move(*l);
        }
        if (cancelled(initial)) {
            co_return engine::result<void>{};
        }
        auto user = protocols::sasl::base64_decode(initial);
        m_io.reply("334 UGFzc3dvcmQ6\r\n");
        auto l = co_await sasl_line();
        if (!l) {
            co_return std::move(l).err();
        }
        if (cancelled(*l)) {
            co_return engine::result<void>{};
        }
        auto password = protocols::sasl::base64_decode(*l);
        if (!user.ok() || !password.ok()) {
            m_io.reply("501 5.5.2 Cannot decode response\r\n");
            co_return engine::result<void>{};
        }
        finish_auth(user.value, password.value);
    } else {
        m_io.reply("504 5.5.4 Unrecognized authentication type\r\n");
    }
    co_return engine::result<void>{};
}

void smtp_session::mail(std::string_view arg)
{
    if (m_helo.empty()) {
        m_io.reply("503 5.5.1 Error: send HELO/EHLO first\r\n");
        return;
    }
    if (m_mail_from) {
        m_io.reply("503 5.5.1 Error: nested MAIL command\r\n");
        return;
    }
    std::string_view address;
    std::string_view params;
    if (!starts_with_icase(arg, "FROM:") || !split_path(arg.substr(5), address, params)) {
        m_io.reply("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        return;
    }
    while (!params.empty()) {
        while (!params.empty() && params.front() == ' ') {
            params.remove_prefix(1);
        }
        auto word = params.substr(0, params.find(' '));
        params.remove_prefix(word.size());
        if (word.empty()) {
            break;
        }
        if (starts_with_icase(word, "SIZE=")) {
            std::size_t size = 0;
            auto digits = word.substr(5);
            auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
            if (ec != std::errc{} || end != digits.data() + digits.size()) {
                m_io.reply("501 5.5.4 Bad SIZE parameter\r\n");
                return;
            }
            if (size > limits().max_message) {
                m_io.reply("552 5.3.4 Message size exceeds fixed limit\r\n");
                return;
            }
        } else if (!starts_with_icase(word, "BODY=") && !starts_with_icase(word, "AUTH=")) {
            m_io.out().append("555 5.5.4 Unsupported option: ").append(word).append("\r\n");
            return;
        }
    }
    m_mail_from.emplace(address);
    m_io.reply("250 2.1.0 Ok\r\n");
}

void smtp_session::rcpt(std::string_view arg)
{
    if (!m_mail_from) {
        m_io.reply("503 5.5.1 Error: need MAIL command\r\n");
        return;
    }
    std::string_view address;
    std::string_view params;
    if (!starts_with_icase(arg, "TO:") || !split_path(arg.substr(3), address, params) || address.empty()) {
        m_io.reply("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        return;
    }
    if (m_recipients.size() >= limits().max_recipients) {
        m_io.reply("452 4.5.3 Error: too many recipients\r\n");
        return;
    }
    auto& o = m_io.out();
    switch (m_ctx->mail->check(address)) {
    case recipient_status::local:
        m_recipients.emplace_back(address);
        o.append("250 2.1.5 Ok\r\n");
        break;
    case recipient_status::unknown_user:
        o.append("550 5.1.1 <").append(address).append(">: Recipient address rejected: User unknown in virtual mailbox table\r\n");
        break;
    case recipient_status::not_local:
        o.append("550 5.7.1 <").append(address).append(">: Relay access denied\r\n");
        break;
    }
}

task<engine::result<void>> smtp_session::data()
{
    if (!m_mail_from) {
        m_io.reply("503 5.5.1 Error: need MAIL command\r\n");
        co_return engine::result<void>{};
    }
    if (m_recipients.empty()) {
        m_io.reply("554 5.5.1 Error: no valid recipients\r\n");
        co_return engine::result<void>{};
    }
    m_io.reply("354 End data with <CR><LF>.<CR><LF>\r\n");
    m_message.clear();
    bool too_big = false;
    bool previous_crlf = true;
    for (;;) {
        auto l = co_await m_io.line();
        if (!l) {
            co_return std::move(l).err();
        }
        std::string_view text = *l;
        if (text == "." && m_io.last_crlf() && previous_crlf) {
            break;
        }
        previous_crlf = m_io.last_crlf();
        if (text.starts_with('.')) {
            text.remove_prefix(1);
        }
        if (m_message.size() + text.size() + 2 > limits().max_message) {
            too_big = true;   // read on to the end of the data, keep nothing more
            continue;
        }
        m_message.append(text).append("\r\n");
    }
    if (too_big) {
        m_io.reply("552 5.3.4 Message size exceeds fixed maximum message size\r\n");
    } else {
        std::string id = m_ctx->make_id();
        envelope_info env{m_helo, peer_ip(m_io.conn().peer()), m_tls, m_user != nullptr, id, *m_mail_from};
        for (const auto& r : m_recipients) {
            m_ctx->mail->deliver(r, env, m_message);
        }
        m_io.out().append("250 2.0.0 Ok: queued as ").append(id).append("\r\n");
    }
    reset_transaction();
    if (m_message.capacity() > 1024 * 1024) {
        m_message = std::string();   // do not keep a big message's memory on an idle session
    }
    co_return engine::result<void>{};
}

task<void> smtp_session::run()
{
    if (m_lc->tls == protocols::tls_mode::implicit) {
        const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
        if (!upgraded) {
            co_return;
        }
        m_tls = true;
    }
    m_io.out().append("220 ").append(m_ctx->cfg->hostname).append(" ESMTP builtin (not a production server)\r\n");
    int errors = 0;
    for (;;) {
        auto l = co_await m_io.line();
        if (!l) {
            if (l.err().code == engine::errc::buffer_full) {
                m_io.reply("500 5.5.2 Error: line too long\r\n");
                (void)co_await m_io.flush();
            }
            co_return;
        }
        std::string_view line = *l;
        auto sp = line.find(' ');
        auto verb = line.substr(0, sp);
        auto arg = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
        if (iequals(verb, "EHLO")) {
            ehlo(arg);
        } else if (iequals(verb, "HELO")) {
            m_helo.assign(arg.empty() ? "unknown" : arg);
            reset_transaction();
            m_io.out().append("250 ").append(m_ctx->cfg->hostname).append("\r\n");
        } else if (iequals(verb, "MAIL")) {
            mail(arg);
        } else if (iequals(verb, "RCPT")) {
            rcpt(arg);
        } else if (iequals(verb, "DATA")) {
            const auto taken = co_await data();
            if (!taken) {
                co_return;
            }
        } else if (iequals(verb, "RSET")) {
            reset_transaction();
            m_io.reply("250 2.0.0 Ok\r\n");
        } else if (iequals(verb, "NOOP")) {
            m_io.reply("250 2.0.0 Ok\r\n");
        } else if (iequals(verb, "VRFY")) {
            m_io.reply("252 2.0.0 Cannot VRFY user, but will accept message and attempt delivery\r\n");
        } else if (iequals(verb, "QUIT")) {
            m_io.reply("221 2.0.0 Bye\r\n");
            (void)co_await m_io.flush();
            co_return;
        } else if (iequals(verb, "STARTTLS")) {
            if (m_tls || m_lc->tls != protocols::tls_mode::starttls) {
                m_io.reply(m_tls ? "554 5.5.1 Error: TLS already active\r\n" : "502 5.5.1 Error: command not implemented\r\n");
                continue;
            }
            m_io.reply("220 2.0.0 Ready to start TLS\r\n");
            const auto upgraded = co_await m_io.upgrade(m_ctx->tls);
            if (!upgraded) {
                co_return;
            }
            // RFC 3207 section 4.2: forget everything learnt before the handshake.
            m_tls = true;
            m_helo.clear();
            m_user = nullptr;
            reset_transaction();
        } else if (iequals(verb, "AUTH")) {
            const auto authed = co_await auth(arg);
            if (!authed) {
                co_return;
            }
        } else {
            m_io.reply("502 5.5.2 Error: command not recognized\r\n");
            if (++errors > 20) {
                m_io.reply("421 4.7.0 Too many errors\r\n");
                (void)co_await m_io.flush();
                co_return;
            }
        }
    }
}

} // namespace

task<void> serve_smtp(context* ctx, const listener_config* lc, engine::connection c)
{
    {
        smtp_session s(ctx, lc, c);
        co_await s.run();
    }
    co_await c.close();
}

} // namespace builtin::detail
