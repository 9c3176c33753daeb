// DATA encoding. RFC 5321 section 4.5.2 (transparency): "Before sending a line of mail text,
// the SMTP client checks the first character of the line. If it is a period, one additional
// period is inserted at the beginning of the line." The data ends with CRLF "." CRLF.
#include "protocols/smtp/dot_stuffing.h"

namespace protocols::smtp {

void dot_stuffer::append(std::string& out, std::string_view chunk)
{
    std::size_t i = 0;
    while (i < chunk.size()) {
        char c = chunk[i];
        if (m_pending_cr) {
            m_pending_cr = false;
            out.append("\r\n");
            m_line_start = true;
            if (c == '\n') {
                ++i;
                continue;
            }
        }
        if (c == '\r') {
            m_pending_cr = true;
            ++i;
            continue;
        }
        if (c == '\n') {
            out.append("\r\n");
            m_line_start = true;
            ++i;
            continue;
        }
        if (m_line_start && c == '.') {
            out.push_back('.');
        }
        // Copy the rest of the line in one piece: most messages are long runs of plain text.
        std::size_t run_end = chunk.find_first_of("\r\n", i);
        if (run_end == std::string_view::npos) {
            run_end = chunk.size();
        }
        out.append(chunk.substr(i, run_end - i));
        m_line_start = false;
        i = run_end;
    }
}

void dot_stuffer::finish(std::string& out)
{
    if (m_pending_cr || !m_line_start) {
        out.append("\r\n");
    }
    out.append(".\r\n");
    m_line_start = true;
    m_pending_cr = false;
}

void append_dot_stuffed(std::string& out, std::string_view message)
{
    // Room for the line-end fix-ups and the terminator in the common case, so one reserve.
    out.reserve(out.size() + message.size() + message.size() / 32 + 8);
    dot_stuffer stuffer;
    stuffer.append(out, message);
    stuffer.finish(out);
}

} // namespace protocols::smtp
