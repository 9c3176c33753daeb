// Feeds a parser the way a connection would: chunk by chunk into a buffer that is appended
// to, consumed from the front and moved in memory between calls. Used to prove that every
// parser gives the same results whatever the split of its input.
#pragma once

#include "protocols/common/parse_status.h"

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

/// One parse step: called with the buffer's unconsumed bytes. On complete, the step appends a
/// description of the parsed response to `log` (views must be read before returning).
using parse_step = std::function<protocols::parse_status(std::string_view unconsumed, std::string& log)>;

/// Feeds `input` cut at `cuts` (ascending offsets) and returns the event log. An error is
/// logged as "error: <describe(code)>" and ends the feed; bytes left unparsed at the end are
/// logged as "incomplete: N bytes".
std::string feed(std::string_view input, const std::vector<std::size_t>& cuts, const parse_step& step);

/// The log of feeding `input` whole, which must equal the log at every single split point and
/// byte by byte; a mismatch is reported as a GoogleTest failure naming the split. `make_step`
/// builds a fresh parser for each run.
std::string expect_split_invariant(std::string_view input, const std::function<parse_step()>& make_step);

} // namespace test_support
