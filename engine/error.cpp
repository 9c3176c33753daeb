#include "engine/error.h"

namespace engine {

std::string_view to_string(stage s) noexcept
{
    switch (s) {
    case stage::none: return "none";
    case stage::scenario: return "scenario";
    case stage::schedule: return "schedule";
    case stage::resolve: return "resolve";
    case stage::connect: return "connect";
    case stage::tls: return "tls";
    case stage::greeting: return "greeting";
    case stage::auth: return "auth";
    case stage::send: return "send";
    case stage::deliver: return "deliver";
    case stage::fetch: return "fetch";
    case stage::cleanup: return "cleanup";
    }
    return "unknown";
}

std::string_view to_string(errc c) noexcept
{
    switch (c) {
    case errc::timed_out: return "timed_out";
    case errc::cancelled: return "cancelled";
    case errc::resolve_failed: return "resolve_failed";
    case errc::refused: return "refused";
    case errc::unreachable: return "unreachable";
    case errc::reset: return "reset";
    case errc::closed: return "closed";
    case errc::io: return "io";
    case errc::buffer_full: return "buffer_full";
    case errc::tls_handshake: return "tls_handshake";
    case errc::cert_untrusted: return "cert_untrusted";
    case errc::cert_name_mismatch: return "cert_name_mismatch";
    case errc::cert_expired: return "cert_expired";
    case errc::cert_not_yet_valid: return "cert_not_yet_valid";
    case errc::tls_protocol: return "tls_protocol";
    case errc::protocol: return "protocol";
    case errc::rejected: return "rejected";
    case errc::auth_failed: return "auth_failed";
    case errc::not_found: return "not_found";
    case errc::invalid_argument: return "invalid_argument";
    }
    return "unknown";
}

std::string error::describe() const
{
    std::string out(to_string(where));
    out += ": ";
    out += to_string(code);
    if (!message.empty()) {
        out += ": ";
        out += message;
    }
    return out;
}

error make_error(stage where, errc code, std::string message)
{
    bool transient = code == errc::timed_out || code == errc::refused || code == errc::reset
        || code == errc::unreachable || code == errc::closed || code == errc::resolve_failed;
    return error{where, code, std::move(message), transient};
}

} // namespace engine
