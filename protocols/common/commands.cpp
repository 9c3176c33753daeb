#include "protocols/common/commands.h"

namespace protocols {

void append_rset(std::string& out)
{
    out.append("RSET\r\n");
}

void append_noop(std::string& out)
{
    out.append("NOOP\r\n");
}

void append_quit(std::string& out)
{
    out.append("QUIT\r\n");
}

void append_sasl_cancel(std::string& out)
{
    out.append("*\r\n");
}

bool has_line_breaker(std::string_view s) noexcept
{
    return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

} // namespace protocols
