// Values of command-line flags shared by the subcommands.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

/// "250ms", "30s" (or "30"), "2m"; nullopt for anything else or a negative number.
std::optional<std::chrono::milliseconds> duration_of(const std::string& s);

/// --*-tls values: "none", "starttls" or "implicit", as scenarios::tls_mode (check) or
/// protocols::tls_mode (load); both enums name the three modes alike.
template <class Mode>
std::optional<Mode> tls_mode_of(std::string_view s)
{
    if (s == "none") {
        return Mode::none;
    }
    if (s == "starttls") {
        return Mode::starttls;
    }
    if (s == "implicit") {
        return Mode::implicit;
    }
    return std::nullopt;
}

/// A password (or token) from the environment variable `env` or the file `file` (one line;
/// CR LF trimmed; more than `max_bytes` is refused as the wrong file); the empty string when
/// neither is given. On failure `why` says what is wrong, without the value.
std::optional<std::string> secret_from(const std::string& env, const std::string& file, std::string& why,
    std::size_t max_bytes = 4096);
