// Makes server text safe to show: in transcripts, error messages and results.
// A hostile server controls these bytes; nothing it sends may reach a terminal or a log
// as control characters, and nothing it sends may grow our output without bound.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace protocols {

/// Copies `text`, replacing control bytes and invalid UTF-8 with '?', and keeping
/// valid UTF-8 sequences as they are. At most `max_bytes` bytes of output; a cut is
/// marked with "...". CR and LF become spaces so one reply stays on one line.
std::string printable(std::string_view text, std::size_t max_bytes = 512);

/// `text` as a JSON string literal (RFC 8259), quotes included: '"', '\\' and control
/// characters escaped, every other byte as it is.
std::string json_quoted(std::string_view text);

} // namespace protocols
