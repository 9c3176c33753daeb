#include "tools/mailprobe/flags.h"

std::optional<std::chrono::milliseconds> duration_of(const std::string& s)
{
    std::size_t used = 0;
    long long n = 0;
    try {
        n = std::stoll(s, &used);
    } catch (...) {
        return std::nullopt;
    }
    std::string unit = s.substr(used);
    if (n < 0) {
        return std::nullopt;
    }
    if (unit == "ms") {
        return std::chrono::milliseconds(n);
    }
    if (unit == "s" || unit.empty()) {
        return std::chrono::seconds(n);
    }
    if (unit == "m") {
        return std::chrono::minutes(n);
    }
    return std::nullopt;
}
