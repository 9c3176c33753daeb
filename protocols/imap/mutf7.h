// Modified UTF-7 mailbox names (RFC 3501 section 5.1.3, kept by RFC 9051 for servers without
// UTF8=ACCEPT): printable ASCII stands for itself, "&" is written "&-", and any other
// Unicode text is UTF-16 in modified base64 ("," instead of "/") between "&" and "-".
// Decoding is strict: it refuses bad base64, an unterminated shift, non-zero padding bits,
// a shift that encodes printable ASCII or is empty, two adjacent shifts (non-minimal),
// unpaired surrogates, and raw bytes outside 0x20..0x7e. Encoding refuses invalid UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace protocols::imap {

/// Decodes a modified UTF-7 mailbox name to UTF-8; nullopt if the name is not strictly valid.
std::optional<std::string> mutf7_decode(std::string_view name);

/// Encodes a UTF-8 mailbox name to modified UTF-7; nullopt if `utf8` is not valid UTF-8
/// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::optional<std::string> mutf7_encode(std::string_view utf8);

} // namespace protocols::imap
