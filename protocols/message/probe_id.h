// Probe ids: time-ordered unique identifiers in the UUID version 7 layout of RFC 9562, so a
// mailbox listing sorted by id is sorted by creation time and an id alone dates its probe.
// Text form is the canonical lowercase 8-4-4-4-12 hex; parsing accepts only that exact form
// (no braces, no "urn:uuid:", no uppercase, no other versions or variants), because the id is
// covered by a MAC over its text and must have exactly one spelling.
//
//   UUIDv7 (RFC 9562 section 5.7), big-endian bit layout:
//     unix_ts_ms (48) | ver = 0b0111 (4) | rand_a (12) | var = 0b10 (2) | rand_b (62)
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace protocols::message {

class probe_id {
public:
    static constexpr std::size_t text_size = 36;

    /// A version 7 id for `unix_ms` (truncated to 48 bits) whose other 74 bits are taken from
    /// `random` (10 bytes; the 6 bits replaced by version and variant are dropped).
    static probe_id from_parts(std::uint64_t unix_ms, std::span<const std::uint8_t, 10> random) noexcept;

    /// Parses the canonical text form; nullopt for anything else, including ids that are not
    /// version 7 with the RFC 9562 variant.
    static std::optional<probe_id> parse(std::string_view text) noexcept;

    /// The 48-bit creation time in milliseconds since the Unix epoch.
    std::uint64_t unix_ms() const noexcept;

    /// Canonical lowercase text, e.g. "018bd0a2-4f40-7cc3-9a1b-2f6e8c0d4e5f".
    std::array<char, text_size> text() const noexcept;
    std::string to_string() const;

    const std::array<std::uint8_t, 16>& bytes() const noexcept { return m_bytes; }

    friend auto operator<=>(const probe_id&, const probe_id&) = default;

private:
    std::array<std::uint8_t, 16> m_bytes{};
};

/// Hands out ids that strictly increase, even when the clock stands still or steps back: the
/// 12-bit rand_a field becomes a counter within one millisecond (RFC 9562 section 6.2,
/// method 1), and time borrows the next millisecond when the counter runs out. Random bits
/// come from BoringSSL's RAND_bytes. Not thread-safe: one generator per thread.
class probe_id_generator {
public:
    /// An id for the wall-clock time `unix_ms`, greater than every id this generator made.
    probe_id next(std::uint64_t unix_ms);

private:
    std::uint64_t m_last_ms = 0;
    std::uint16_t m_counter = 0;
    bool m_started = false;
};

} // namespace protocols::message
