// Shared fixtures for the message tests: a fixed key, a fixed probe and CRLF conversion so
// transcripts can be written readably with "\n".
#pragma once

#include "protocols/message/builder.h"
#include "protocols/message/probe_header.h"
#include "protocols/message/probe_id.h"

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace message_samples {

inline std::string crlf(std::string_view text)
{
    std::string out;
    for (char c : text) {
        if (c == '\n') {
            out += '\r';
        }
        out += c;
    }
    return out;
}

inline protocols::message::mac_key key(std::uint8_t fill = 0x42)
{
    std::array<std::uint8_t, 32> bytes{};
    bytes.fill(fill);
    bytes[0] = 0x01;
    return *protocols::message::mac_key::from_bytes(bytes);
}

// 2023-11-14 22:13:20.123 UTC
inline constexpr std::uint64_t sent_ms = 1'700'000'000'123;

inline protocols::message::probe_id id()
{
    const std::array<std::uint8_t, 10> random = {0x0C, 0xC3, 0x18, 0xC4, 0xDC, 0x0C, 0x0C, 0x07, 0x39, 0x8F};
    return protocols::message::probe_id::from_parts(sent_ms, random);
}

inline protocols::message::message_spec spec()
{
    protocols::message::message_spec s;
    s.from = "probe@example.org";
    s.to = "user@example.net";
    s.probe_name = "eu-west.mx-check";
    s.id = id();
    s.sent_unix_ms = sent_ms;
    return s;
}

inline std::string probe_message()
{
    return protocols::message::build_message(spec(), key()).text;
}

// The header block of probe_message(), empty line included.
inline std::string probe_headers()
{
    std::string m = probe_message();
    return m.substr(0, m.find("\r\n\r\n") + 4);
}

} // namespace message_samples
