// Small values many tests build the same way: a probe-signing key and an inline secret.
// Header-only so a test pays only for the libraries it already links.
#pragma once

#include "protocols/message/probe_header.h"
#include "scenarios/scenario.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace test_support {

/// A 32-byte HMAC key of one repeated byte; different `fill`s give keys that do not verify
/// each other's messages.
inline protocols::message::mac_key test_key(std::uint8_t fill = 0x5a)
{
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    return *protocols::message::mac_key::from_bytes(bytes);
}

/// A secret written inline in the scenario, as a test builds it without a file.
inline scenarios::secret inline_secret(std::string_view value)
{
    return {std::string(value), scenarios::secret::source::inline_value, "inline"};
}

} // namespace test_support
