// UUIDv7 probe ids: layout, canonical text and the monotonic generator (see probe_id.h).
#include "protocols/message/probe_id.h"

#include <openssl/rand.h>

namespace protocols::message {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

// Positions of the four hyphens in the 8-4-4-4-12 form.
constexpr bool is_hyphen_position(std::size_t i) noexcept
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

int lower_hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

} // namespace

probe_id probe_id::from_parts(std::uint64_t unix_ms, std::span<const std::uint8_t, 10> random) noexcept
{
    probe_id id;
    for (int i = 0; i < 6; ++i) {
        id.m_bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(unix_ms >> (40 - 8 * i));
    }
    for (std::size_t i = 0; i < 10; ++i) {
        id.m_bytes[6 + i] = random[i];
    }
    id.m_bytes[6] = static_cast<std::uint8_t>(0x70 | (id.m_bytes[6] & 0x0F));
    id.m_bytes[8] = static_cast<std::uint8_t>(0x80 | (id.m_bytes[8] & 0x3F));
    return id;
}

std::optional<probe_id> probe_id::parse(std::string_view text) noexcept
{
    if (text.size() != text_size) {
        return std::nullopt;
    }
    probe_id id;
    std::size_t nibble = 0;
    for (std::size_t i = 0; i < text_size; ++i) {
        if (is_hyphen_position(i)) {
            if (text[i] != '-') {
                return std::nullopt;
            }
            continue;
        }
        int v = lower_hex_value(text[i]);
        if (v < 0) {
            return std::nullopt;
        }
        std::uint8_t& byte = id.m_bytes[nibble / 2];
        byte = static_cast<std::uint8_t>(nibble % 2 == 0 ? v << 4 : byte | v);
        ++nibble;
    }
    if ((id.m_bytes[6] & 0xF0) != 0x70 || (id.m_bytes[8] & 0xC0) != 0x80) {
        return std::nullopt;
    }
    return id;
}

std::uint64_t probe_id::unix_ms() const noexcept
{
    std::uint64_t ms = 0;
    for (std::size_t i = 0; i < 6; ++i) {
        ms = (ms << 8) | m_bytes[i];
    }
    return ms;
}

std::array<char, probe_id::text_size> probe_id::text() const noexcept
{
    std::array<char, text_size> out{};
    std::size_t nibble = 0;
    for (std::size_t i = 0; i < text_size; ++i) {
        if (is_hyphen_position(i)) {
            out[i] = '-';
            continue;
        }
        std::uint8_t byte = m_bytes[nibble / 2];
        out[i] = hex_digits[nibble % 2 == 0 ? byte >> 4 : byte & 0x0F];
        ++nibble;
    }
    return out;
}

std::string probe_id::to_string() const
{
    auto t = text();
    return std::string(t.data(), t.size());
}

probe_id probe_id_generator::next(std::uint64_t unix_ms)
{
    std::array<std::uint8_t, 10> random{};
    RAND_bytes(random.data(), random.size());
    // A fresh millisecond seeds the counter with 11 random bits, so it starts unpredictable
    // but keeps at least 2048 increments of headroom before it must borrow a millisecond.
    auto seed = static_cast<std::uint16_t>(((random[0] << 8) | random[1]) & 0x07FF);
    if (!m_started || unix_ms > m_last_ms) {
        m_last_ms = unix_ms;
        m_counter = seed;
        m_started = true;
    } else if (m_counter < 0x0FFF) {
        ++m_counter;
    } else {
        ++m_last_ms;
        m_counter = seed;
    }
    random[0] = static_cast<std::uint8_t>(m_counter >> 8);
    random[1] = static_cast<std::uint8_t>(m_counter);
    return probe_id::from_parts(m_last_ms, random);
}

} // namespace protocols::message
