// RFC 5322 dates: parsing every form real Received and Date fields carry (the obsolete
// syntax of section 4.3 included) into Unix milliseconds, and writing the modern form.
// Parsing refuses what no grammar allows: out-of-range fields, impossible calendar dates
// (31 Apr, 29 Feb 2023), years before 1900, fractional seconds, missing zones and trailing
// words. It does not check that a stated day of the week matches the date (real MTAs get it
// wrong and it carries no information we use).
//
//   date-time   = [ day-of-week "," ] date time [CFWS]
//   day-of-week = ([FWS] day-name) / obs-day-of-week
//   date        = day month year
//   day         = ([FWS] 1*2DIGIT FWS) / obs-day
//   year        = (FWS 4*DIGIT FWS) / obs-year        ; obs-year = [CFWS] 2*DIGIT [CFWS]
//   time        = time-of-day zone
//   time-of-day = hour ":" minute [ ":" second ]
//   zone        = (FWS ( "+" / "-" ) 4DIGIT) / obs-zone
//   obs-zone    = "UT" / "GMT" / "EST" / "EDT" / "CST" / "CDT" / "MST" / "MDT" / "PST" / "PDT"
//                 / %d65-73 / %d75-90 / %d97-105 / %d107-122   ; military: read as -0000
// Two-digit years 00-49 are 20xx and 50-99 are 19xx; three-digit years add 1900 (4.3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace protocols::message {

/// Milliseconds since the Unix epoch (UTC) of an RFC 5322 date-time, or nullopt if `text` is
/// not one. Comments and folding anywhere between tokens are allowed.
std::optional<std::int64_t> parse_date_time(std::string_view text) noexcept;

/// The same for an IMAP INTERNALDATE as servers write it, without the quotes:
/// "17-Jul-1996 02:44:25 -0700" (RFC 9051 date-time; the day may be " 7").
std::optional<std::int64_t> parse_internal_date(std::string_view text) noexcept;

/// Largest UTC offset format_date_time accepts, in minutes (real zones stay within +-14 h).
inline constexpr int max_utc_offset_minutes = 18 * 60;

/// "Tue, 14 Nov 2023 22:13:20 +0000": `unix_ms` (floored to seconds) shown in local time at
/// `utc_offset_minutes` east of UTC, which must be within +-max_utc_offset_minutes.
std::string format_date_time(std::int64_t unix_ms, int utc_offset_minutes);

} // namespace protocols::message
