// libFuzzer target for protocols::http::response_parser. Byte 0 picks small or default limits
// and whether the responses answer HEAD; the rest is the server's byte stream, parsed whole
// and then fed in growing prefixes cut at several points (the buffer moved between feeds, as
// a connection's does). Invariants, trapped on violation: every feed logs the same responses
// and ends the same way; consumed is never 0 nor past the buffer; views lie inside the
// buffer; bodies respect the limit; at the end, finish_on_close() never crashes.
#include "protocols/http/response_parser.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using protocols::http::response_limits;
using protocols::http::response_parser;

void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

bool inside(std::string_view part, std::string_view whole)
{
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::string run(std::string_view input, const std::vector<std::size_t>& cuts, response_limits limits, bool head)
{
    std::string log;
    std::string buffer;
    response_parser p(limits);
    if (head) {
        p.expect_no_body();
    }
    std::size_t fed = 0;
    auto step = [&]() -> bool {
        for (;;) {
            // A fresh copy each time: views must not outlive the buffer they came from.
            std::string moved = buffer;
            auto s = p.parse(moved);
            if (s.failed()) {
                log += "error " + std::to_string(static_cast<int>(s.code)) + "\n";
                return false;
            }
            if (s.need_more()) {
                buffer = moved;
                return true;
            }
            check(s.consumed > 0 && s.consumed <= moved.size());
            check(p.body_size() <= limits.max_body_bytes);
            check(inside(p.reason(), moved));
            log += std::to_string(p.status()) + " " + std::to_string(p.field_count()) + " ";
            for (std::size_t i = 0; i < p.field_count(); ++i) {
                check(inside(p.field_at(i).name, moved) && inside(p.field_at(i).value, moved));
            }
            for (std::size_t i = 0; i < p.chunk_count(); ++i) {
                check(inside(p.chunk_at(i), moved));
            }
            log += p.body_text() + "\n";
            buffer = moved.substr(s.consumed);
            p.reset();
        }
    };
    for (std::size_t cut : cuts) {
        buffer.append(input.substr(fed, cut - fed));
        fed = cut;
        if (!step()) {
            return log;
        }
    }
    buffer.append(input.substr(fed));
    if (step()) {
        auto s = p.finish_on_close(buffer);
        log += s.complete() ? "closed " + p.body_text() : "incomplete";
    }
    return log;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 1) {
        return 0;
    }
    response_limits limits;
    if (data[0] & 1) {
        limits = {256, 8, 512, 16};
    }
    const bool head = (data[0] & 2) != 0;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::string whole = run(input, {}, limits, head);
    const std::size_t n = input.size();
    check(run(input, {n / 2}, limits, head) == whole);
    check(run(input, {n / 3, 2 * n / 3}, limits, head) == whole);
    std::vector<std::size_t> every;
    const std::size_t step = n <= 256 ? 1 : 7;
    for (std::size_t cut = step; cut < n; cut += step) {
        every.push_back(cut);
    }
    check(run(input, every, limits, head) == whole);
    return 0;
}
