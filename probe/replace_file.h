// Replacing a small file (the next-poll state, a rotated refresh token) so that a crash
// leaves the old content or the new, never half of either: a temporary file beside it
// (mkstemp: mode 0600 before the first byte, a name nobody can predict), written, synced,
// renamed over the old one, then the folder synced so the rename survives a power cut. A
// symbolic link is followed: its target is replaced (the temporary file beside the target),
// and the link stays a link.
#pragma once

#include "engine/result.h"

#include <string>
#include <string_view>

namespace probe {

/// The error (errc::io, stage none) says which step failed and why, without the path: the
/// caller says what the file is.
engine::result<void> replace_file(const std::string& link_or_path, std::string_view content);

} // namespace probe
