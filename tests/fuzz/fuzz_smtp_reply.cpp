// libFuzzer target for protocols::smtp::reply_parser (strict and lenient) and the EHLO reader.
// The input is parsed as a stream of replies: whole, then fed in growing prefixes cut at
// several points, as a connection would. Invariants, trapped on violation: both feeds log the
// same replies and end the same way; consumed is never 0 nor past the buffer; every line view
// lies inside the buffer; an enhanced status, when present, has the reply's class.
#include "protocols/smtp/capabilities.h"
#include "protocols/smtp/reply_parser.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using protocols::parse_status;
using protocols::smtp::reply_parser;

void check(bool ok)
{
    if (!ok) {
        __builtin_trap();
    }
}

// Appends a compact record of the completed reply and checks its views.
void record(const reply_parser& p, std::string_view buffer, std::string& log)
{
    log += std::to_string(p.code());
    check(p.code() >= 200 && p.code() <= 559);
    check(p.line_count() >= 1);
    if (auto e = p.enhanced()) {
        check(e->klass == p.code() / 100);
        log += 'E' + std::to_string(e->subject) + '.' + std::to_string(e->detail);
    }
    for (std::size_t i = 0; i < p.line_count(); ++i) {
        std::string_view l = p.line(i);
        check(l.data() >= buffer.data() && l.data() + l.size() <= buffer.data() + buffer.size());
        check(l.find('\0') == std::string_view::npos && l.find('\r') == std::string_view::npos);
        log += '|';
        log += l;
    }
    log += '\n';
    if (p.code() == 250) {
        auto caps = protocols::smtp::capabilities::from_ehlo(p);
        check(caps.other_auth.size() <= 16);
        check(!caps.max_size || *caps.max_size != 0);
    }
    check(!p.printable_text(64).empty());
}

// Feeds `input` with the given cut points (ascending); returns the log, ending in the outcome.
std::string run(std::string_view input, const std::size_t* cuts, std::size_t ncuts, bool lenient)
{
    reply_parser parser({256, 8}, {lenient});
    std::string log;
    std::string buffer;
    std::size_t fed = 0;
    for (std::size_t k = 0; k <= ncuts; ++k) {
        std::size_t to = k < ncuts ? cuts[k] : input.size();
        buffer.append(input.substr(fed, to - fed));
        fed = to;
        for (;;) {
            parse_status st = parser.parse(buffer);
            if (st.failed()) {
                check(st.offset < buffer.size());
                return log + "error " + std::to_string(static_cast<int>(st.code)) + "\n";
            }
            if (st.need_more()) {
                break;
            }
            check(st.consumed > 0 && st.consumed <= buffer.size());
            record(parser, buffer, log);
            buffer.erase(0, st.consumed);
        }
    }
    return log + "rest " + std::to_string(buffer.size()) + "\n";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view input(reinterpret_cast<const char*>(data), size);
    for (bool lenient : {false, true}) {
        const std::string whole = run(input, nullptr, 0, lenient);
        std::size_t cuts[] = {size / 7, size / 3, size / 2, std::min(size, size / 2 + 1), size - size / 5};
        std::sort(std::begin(cuts), std::end(cuts));
        check(run(input, cuts, 5, lenient) == whole);
        if (size > 0) {
            const std::size_t first[] = {1};
            check(run(input, first, 1, lenient) == whole);
        }
    }
    return 0;
}
