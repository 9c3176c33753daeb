#include "protocols/common/transcript.h"

#include "protocols/common/sanitize.h"

#include <fmt/format.h>

namespace protocols {

transcript::transcript(std::size_t max_bytes)
    : m_start(std::chrono::steady_clock::now()), m_max(max_bytes > trailer_room ? max_bytes - trailer_room : 0)
{
}

std::string transcript::text() const
{
    if (m_dropped == 0) {
        return m_text;
    }
    return m_text + fmt::format("... {} line{} dropped (the transcript is capped)\n", m_dropped, m_dropped == 1 ? "" : "s");
}

void transcript::add(char direction, std::string_view line)
{
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
        line.remove_suffix(1);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m_start).count();
    std::string entry = fmt::format("{:>6} {} {}\n", ms, direction, printable(line, 1024));
    if (m_text.size() + entry.size() > m_max) {
        ++m_dropped;
        return;
    }
    m_text += entry;
}

void transcript::sent(std::string_view line, bool secret, std::size_t visible_prefix)
{
    if (!secret) {
        add('>', line);
        return;
    }
    std::string_view shown = line.substr(0, visible_prefix < line.size() ? visible_prefix : line.size());
    add('>', fmt::format("{}<redacted, {} bytes>", shown, line.size() - shown.size()));
}

void transcript::received(std::string_view text)
{
    while (!text.empty()) {
        auto nl = text.find('\n');
        add('<', text.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        text.remove_prefix(nl + 1);
    }
}

void transcript::note(std::string_view text) { add('*', text); }

} // namespace protocols
