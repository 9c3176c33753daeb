// Values of command-line flags shared by the subcommands.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

/// "250ms", "30s" (or "30"), "2m"; nullopt for anything else or a negative number.
std::optional<std::chrono::milliseconds> duration_of(const std::string& s);

/// A password (or token) from the environment variable `env` or the file `file` (one line;
/// CR LF trimmed; more than `max_bytes` is refused as the wrong file); the empty string when
/// neither is given. On failure `why` says what is wrong, without the value.
std::optional<std::string> secret_from(const std::string& env, const std::string& file, std::string& why,
    std::size_t max_bytes = 4096);
