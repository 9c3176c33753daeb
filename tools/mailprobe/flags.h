// Values of command-line flags shared by the subcommands.
#pragma once

#include <chrono>
#include <optional>
#include <string>

/// "250ms", "30s" (or "30"), "2m"; nullopt for anything else or a negative number.
std::optional<std::chrono::milliseconds> duration_of(const std::string& s);
