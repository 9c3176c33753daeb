// Loads a scenario file (JSON) into the plain structs of scenario.h, resolves its secrets and
// runs validate(). Every problem is a diagnostic naming the file, the JSON pointer and, where
// the parser knows it, line:column; the load collects all of them instead of stopping at the
// first (up to load_options::max_errors), except after a JSON syntax error, which ends it.
//
// Refuses: unknown keys (with a "did you mean" hint), duplicate keys, wrong types, values out
// of range, missing required keys, secrets that cannot be resolved (a missing environment
// variable, an unreadable file), and everything validate() refuses.
//
// String values may use ${VAR} (the environment variable, which must be set) and
// ${VAR:-fallback}; "$$" is a literal '$'. Names (of servers, probes, ...), environment
// variable names of secrets and inline secret values are taken literally.
#pragma once

#include "scenarios/diagnostic.h"
#include "scenarios/scenario.h"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scenarios {

struct load_options {
    /// Report a bad probe and skip it while the good probes load. Problems outside "probes"
    /// (servers, mailboxes, tenants, top-level keys) still fail the load.
    bool keep_going = false;
    /// Stop collecting after this many errors (a garbage file could produce one per byte).
    std::size_t max_errors = 100;
    /// Environment lookup for ${VAR} and {"env": ...} secrets; empty: ::getenv.
    std::function<std::optional<std::string>(const std::string&)> getenv;
    /// Relative {"file": ...} secrets are read from here; load() sets it to the file's folder,
    /// load_string() uses the current directory when it is empty.
    std::string base_dir;
};

struct load_result {
    /// The scenario, when it loaded: no errors, or with keep_going only errors of skipped probes.
    std::optional<scenario> value;
    std::vector<diagnostic> errors;
    std::vector<diagnostic> warnings;   // inline secrets, insecure TLS, clear-text passwords...
    std::vector<std::string> skipped_probes;   // names (or "/probes/N" when unnamed), keep_going

    bool ok() const noexcept { return value.has_value(); }
};

/// Reads and loads the file at `path`. Thread-safe (no shared state).
load_result load(const std::string& path, load_options options = {});

/// Loads scenario JSON from memory; `name` stands for the file in diagnostics.
load_result load_string(std::string_view text, const std::string& name, load_options options = {});

} // namespace scenarios
