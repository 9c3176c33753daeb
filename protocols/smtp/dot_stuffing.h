// Encodes a message for the SMTP DATA command (RFC 5321 sections 4.1.1.4 and 4.5.2): every
// line end becomes CRLF (a bare LF or a bare CR counts as a line end, so no stray CR or LF can
// reach the server, which RFC 5321 section 2.3.8 forbids and SMTP smuggling exploits), a
// leading '.' is doubled, the last line is terminated, and ".\r\n" ends the data.
//
// It does not fold lines longer than RFC 5321's 1000 octets and does not check 8-bit or
// binary content: what the message holds is the message composer's business.
#pragma once

#include <string>
#include <string_view>

namespace protocols::smtp {

/// Streaming encoder: feed the message in chunks of any size (a CR at the end of one chunk and
/// an LF at the start of the next are one line end), then finish(). The output is the same
/// whatever the chunking.
class dot_stuffer {
public:
    /// Appends the encoding of `chunk` to `out`.
    void append(std::string& out, std::string_view chunk);

    /// Ends the last line with CRLF if it is open, appends ".\r\n", and readies the encoder
    /// for the next message.
    void finish(std::string& out);

private:
    bool m_line_start = true;  // the next byte begins a line (a '.' there must be doubled)
    bool m_pending_cr = false; // a CR was the last byte seen; the next byte decides bare or CRLF
};

/// The whole DATA payload for `message` appended to `out`, terminator included. An empty
/// message gives just ".\r\n".
void append_dot_stuffed(std::string& out, std::string_view message);

} // namespace protocols::smtp
