// One problem found in a scenario file: which file, where (JSON pointer, and line:column when
// the parser could tell), and what is wrong in plain words. Shared by the loader and the
// validator. Messages never contain a secret's value, only where it came from.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace scenarios {

struct diagnostic {
    std::string file;
    std::string pointer;        // RFC 6901 JSON pointer, "" for the whole document
    std::string message;
    std::size_t line = 0;       // 1-based; 0 when unknown
    std::size_t column = 0;     // 1-based byte column; 0 when unknown
    /// Index in the file's "probes" array when the problem belongs to one probe (keep_going
    /// skips that probe); empty for problems that fail the whole load.
    std::optional<std::size_t> probe;

    /// "file:line:column: /pointer: message", leaving out what is unknown.
    std::string to_string() const;
};

} // namespace scenarios
