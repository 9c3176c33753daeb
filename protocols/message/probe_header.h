// Our own header field, the proof that a message in a mailbox is a probe we sent:
//
//   X-Mailprobe: v=1; id=<uuidv7>; p=<probe name>; t=<send unix ms>; mac=<base64url>
//
// The MAC is HMAC-SHA256 under a per-deployment key over the canonical string
// "v=1;id=<id>;p=<name>;t=<t>" (fields in that order, no spaces), written as unpadded
// base64url (43 characters) and compared in constant time. Anyone can copy the header, but
// nobody without the key can mint one for a new id, name or time.
//
// Grammar we read (tags in any order, each exactly once; CFWS and folding allowed around
// every token, an optional ";" at the end):
//   probe-header = tag-spec *( ";" tag-spec ) [ ";" ]
//   tag-spec     = tag "=" value             ; tags: v id p t mac
//   v = "1"   id = canonical UUIDv7   p = 1*64( ALPHA / DIGIT / "." / "_" / "-" )
//   t = "0" / %x31-39 *14DIGIT               mac = 43( ALPHA / DIGIT / "-" / "_" )
// Refused as malformed: unknown tags, other versions, uppercase or non-v7 ids, names outside
// the charset, leading zeros, padding.
#pragma once

#include "protocols/message/probe_id.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace protocols::message {

inline constexpr std::string_view probe_header_name = "X-Mailprobe";
inline constexpr std::size_t max_probe_name = 64;

/// True for 1 to max_probe_name characters of ALPHA / DIGIT / "." / "_" / "-": names end up
/// in headers, subjects and file names, so nothing that needs quoting or escaping is allowed.
bool is_valid_probe_name(std::string_view name) noexcept;

/// The per-deployment HMAC key: 16 to 64 bytes, kept inline (no heap copies of the secret).
class mac_key {
public:
    static constexpr std::size_t min_size = 16;
    static constexpr std::size_t max_size = 64;

    /// nullopt if `bytes` is shorter than min_size or longer than max_size.
    static std::optional<mac_key> from_bytes(std::span<const std::uint8_t> bytes) noexcept;

    std::span<const std::uint8_t> bytes() const noexcept { return {m_bytes.data(), m_size}; }

private:
    std::array<std::uint8_t, max_size> m_bytes{};
    std::size_t m_size = 0;
};

/// What the header says about a probe. In a verified result, `probe_name` views into the
/// field value that was verified and lives as long as it.
struct probe_stamp {
    probe_id id;
    std::string_view probe_name;
    std::uint64_t sent_unix_ms = 0;
};

/// The field body to write after "X-Mailprobe:", starting with a space, folded so that no
/// line of the field is 78 characters or longer, with no final CRLF. `stamp.probe_name`
/// must satisfy is_valid_probe_name.
std::string format_probe_header(const probe_stamp& stamp, const mac_key& key);

enum class header_verdict : std::uint8_t {
    ours,       // well formed and the MAC matches: we sent this
    not_ours,   // there is no X-Mailprobe field at all
    forged,     // well formed, but the MAC does not match (other key, or altered fields)
    malformed,  // present but not parseable; `problem` says why
};

enum class header_problem : std::uint8_t {
    none,
    bad_syntax,        // not a list of tag=value pairs, or a lexical error
    unknown_tag,
    duplicate_tag,
    missing_tag,
    bad_version,
    bad_id,
    bad_probe_name,
    bad_time,
    bad_mac,           // not 43 base64url characters
    duplicate_header,  // more than one X-Mailprobe field in one header block
};

std::string_view describe(header_problem p) noexcept;

struct header_check {
    header_verdict verdict = header_verdict::not_ours;
    header_problem problem = header_problem::none;
    probe_stamp stamp;  // meaningful only when verdict is ours
};

/// Parses and verifies the body of an X-Mailprobe field (nullopt: the message had none).
header_check verify_probe_header(std::optional<std::string_view> value, const mac_key& key) noexcept;

} // namespace protocols::message
