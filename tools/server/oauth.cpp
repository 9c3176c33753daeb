// Bearer-token logins; see oauth.h.
#include "tools/server/oauth.h"

#include <vector>

namespace builtin::detail {

namespace sasl = protocols::sasl;

std::optional<sasl::mechanism> bearer_mechanism(const config& cfg, std::string_view text) noexcept
{
    auto m = sasl::mechanism_from_name(text);
    if (m && ((*m == sasl::mechanism::xoauth2 && cfg.bearer_xoauth2) || *m == sasl::mechanism::oauthbearer)) {
        return m;
    }
    return std::nullopt;
}

std::string_view bearer_mechanisms(const config& cfg) noexcept
{
    return cfg.bearer_xoauth2 ? "XOAUTH2 OAUTHBEARER" : "OAUTHBEARER";
}

// XOAUTH2:     "user=" user ^A "auth=Bearer " token ^A ^A
// OAUTHBEARER: gs2-header ^A *(key "=" value ^A) ^A, gs2-header = "n,a=" saslname ","
std::optional<bearer_message> parse_bearer(sasl::mechanism m, std::string_view decoded)
{
    if (!decoded.ends_with("\x01\x01")) {
        return std::nullopt;
    }
    std::vector<std::string_view> parts;
    for (std::string_view rest = decoded.substr(0, decoded.size() - 2); !rest.empty();) {
        auto sep = rest.find('\x01');
        parts.push_back(rest.substr(0, sep));
        rest = sep == std::string_view::npos ? std::string_view{} : rest.substr(sep + 1);
    }
    bearer_message out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        std::string_view p = parts[i];
        if (p.starts_with("auth=Bearer ")) {
            out.token = std::string(p.substr(12));
        } else if (m == sasl::mechanism::xoauth2 && i == 0 && p.starts_with("user=")) {
            out.user = std::string(p.substr(5));
        } else if (m == sasl::mechanism::oauthbearer && i == 0 && p.starts_with("n,a=") && p.ends_with(",")) {
            std::string_view name = p.substr(4, p.size() - 5);
            for (std::size_t j = 0; j < name.size(); ++j) {
                if (name.substr(j, 3) == "=2C") {
                    out.user += ',';
                    j += 2;
                } else if (name.substr(j, 3) == "=3D") {
                    out.user += '=';
                    j += 2;
                } else {
                    out.user += name[j];
                }
            }
        }
    }
    if (out.user.empty() || out.token.empty()) {
        return std::nullopt;
    }
    return out;
}

engine::task<engine::result<mailbox*>> bearer_login(context* ctx, line_io* io, std::string continuation,
    std::optional<std::string> initial, sasl::mechanism m)
{
    if (!initial) {
        io->reply(continuation + "\r\n");
        auto l = co_await io->line();
        if (!l) {
            co_return std::move(l).err();
        }
        initial = std::string(*l);
    }
    auto decoded = sasl::base64_decode(*initial == "=" ? "" : *initial);
    std::optional<bearer_message> msg;
    if (decoded.ok()) {
        msg = parse_bearer(m, decoded.value);
    }
    mailbox* user = msg ? ctx->mail->find(msg->user) : nullptr;
    if (user && ctx->cfg->accept_token(msg->token)) {
        co_return user;
    }
    // Gmail's and Exchange Online's error continuation; the client answers it with an empty
    // line (XOAUTH2) or ^A (OAUTHBEARER), then gets the failure reply.
    std::string_view error = m == sasl::mechanism::xoauth2
        ? R"({"status":"401","schemes":"bearer","scope":"https://mail.google.com/"})"
        : R"({"status":"invalid_token","scope":"https://mail.google.com/"})";
    io->reply(continuation + sasl::base64_encode(error) + "\r\n");
    auto answer = co_await io->line();
    if (!answer) {
        co_return std::move(answer).err();
    }
    const std::string_view expected = m == sasl::mechanism::xoauth2 ? "" : "AQ==";   // ^A in base64
    if (*answer != expected) {
        co_return engine::make_error(engine::stage::auth, engine::errc::protocol,
            "wrong answer to the bearer error continuation");
    }
    co_return static_cast<mailbox*>(nullptr);
}

} // namespace builtin::detail
