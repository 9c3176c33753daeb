// What a test may conclude about memory in this build.
#pragma once

namespace test_support {

/// Under AddressSanitizer freed memory waits in a quarantine of up to 256 MB, so RSS tracks
/// what was ever allocated rather than what is held: memory bounds are judged in normal
/// builds only (and ASan reports leaks itself).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool rss_is_meaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool rss_is_meaningful = false;
#else
inline constexpr bool rss_is_meaningful = true;
#endif
#else
inline constexpr bool rss_is_meaningful = true;
#endif

} // namespace test_support
