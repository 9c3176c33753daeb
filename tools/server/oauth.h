// Bearer-token logins for the built-in server (SASL XOAUTH2 and OAUTHBEARER, RFC 7628), the
// way Microsoft 365 and Gmail take them on SMTP, IMAP and POP3. Used when config::accept_token
// is set: the server then takes no passwords at all.
//
// A bad token is answered like the real servers do: a continuation carrying a base64 JSON
// error ({"status":"401",...} for XOAUTH2, {"status":"invalid_token",...} for OAUTHBEARER),
// then, after the client's empty (XOAUTH2) or ^A (OAUTHBEARER, RFC 7628 3.2.3) answer, the
// protocol's failure reply, which the caller sends; any other answer ends the connection, so
// a client that answers wrongly sees no failure reply. Malformed messages are refused the same
// way as bad tokens, never with a crash.
#pragma once

#include "engine/result.h"
#include "engine/task.h"
#include "protocols/common/sasl.h"
#include "tools/server/session_io.h"

#include <optional>
#include <string>
#include <string_view>

namespace builtin::detail {

/// XOAUTH2 or OAUTHBEARER named by `text` (case-insensitive) when `cfg` offers it; nullopt
/// for any other.
std::optional<protocols::sasl::mechanism> bearer_mechanism(const config& cfg, std::string_view text) noexcept;

/// The bearer mechanisms `cfg` offers, space-separated: "XOAUTH2 OAUTHBEARER" or "OAUTHBEARER".
std::string_view bearer_mechanisms(const config& cfg) noexcept;

/// The user and token in a decoded XOAUTH2 or OAUTHBEARER client message; nullopt when it
/// does not have that shape.
struct bearer_message {
    std::string user;
    std::string token;
};
std::optional<bearer_message> parse_bearer(protocols::sasl::mechanism m, std::string_view decoded);

/// Runs a bearer login on `io`: reads the client message when `initial` is empty (asking with
/// `continuation`, "334 " for SMTP or "+ " for IMAP and POP3), checks that the user is a
/// mailbox address and that ctx->cfg->accept_token takes the token. Returns the mailbox, null
/// for a refused login (after the error continuation), or the connection's error.
engine::task<engine::result<mailbox*>> bearer_login(context* ctx, line_io* io, std::string continuation,
    std::optional<std::string> initial, protocols::sasl::mechanism m);

} // namespace builtin::detail
