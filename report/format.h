// Results to bytes: one JSON object per line (jsonl, for scripts: the field names are an
// interface, documented in docs/RESULTS.md) and one human line (text). Pure functions of a
// probe::result; no I/O here.
#pragma once

#include "probe/result.h"
#include "protocols/common/sanitize.h"

#include <string>
#include <string_view>

namespace report {

/// JSON string literals, for every JSON this folder writes.
using protocols::json_quoted;

/// One JSON object, no trailing newline.
std::string to_json(const probe::result& r);

/// A Down's stage and reason for people: "deliver: filed as spam in Junk".
std::string to_text_reason(const probe::result& r);

/// One line for people: state, tenant/probe, and what matters for that state.
std::string to_text(const probe::result& r);

} // namespace report
