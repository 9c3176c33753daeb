// Names of the result values, as reports print them.
#include "probe/result.h"

namespace probe {

std::string_view to_string(status s) noexcept
{
    switch (s) {
    case status::up: return "up";
    case status::warning: return "warning";
    case status::down: return "down";
    case status::pending: return "pending";
    }
    return "unknown";
}

} // namespace probe
