// A capped protocol transcript for --trace and for Down results: what we sent, what the
// server answered, with milliseconds since the session began. Server text goes through
// printable(); anything we mark secret (passwords, tokens, SASL responses) is recorded only
// as its length. Past the cap, lines are counted, not stored, so a hostile server cannot
// grow it; the text then ends with a line saying how many were dropped, within the cap.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace protocols {

class transcript {
public:
    explicit transcript(std::size_t max_bytes = 64 * 1024);

    /// A line we sent. `secret`: record "<redacted, N bytes>" instead of the text after
    /// `visible_prefix` bytes (e.g. keep "AUTH PLAIN " and hide the credentials).
    void sent(std::string_view line, bool secret = false, std::size_t visible_prefix = 0);
    /// Bytes the server sent (one or more lines).
    void received(std::string_view text);
    /// Our own remark ("TLS established: TLSv1.3 ...").
    void note(std::string_view text);

    /// The lines kept, then "... N lines dropped" when the cap was reached; at most max_bytes.
    std::string text() const;
    std::size_t dropped_lines() const noexcept { return m_dropped; }

private:
    // Kept free for the dropped-lines line, so the text with it stays within the cap.
    static constexpr std::size_t trailer_room = 96;

    void add(char direction, std::string_view line);

    std::chrono::steady_clock::time_point m_start;
    std::size_t m_max;
    std::size_t m_dropped = 0;
    std::string m_text;
};

} // namespace protocols
