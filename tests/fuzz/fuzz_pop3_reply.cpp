// libFuzzer target for protocols::pop3::reply_parser and the listing interpreters.
// Byte 0 picks strict or lenient line endings; byte 1 picks the reply kind expected for each
// successive reply (2 bits per reply, cycling), as a session's command sequence would. The
// rest is the server's byte stream, parsed whole and then fed in growing prefixes cut at
// several points. Invariants, trapped on violation: every feed logs the same replies and ends
// the same way; consumed is never 0 nor past the buffer; views lie inside the buffer and hold
// no CR, LF or NUL; a body only follows +OK to a multi-line command and a continuation only
// comes during AUTH; body lines respect the limits; listings and capabilities never crash.
#include "protocols/pop3/listing.h"
#include "protocols/pop3/reply_parser.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using protocols::parse_status;
using protocols::pop3::reply;
using protocols::pop3::reply_kind;
using protocols::pop3::reply_limits;
using protocols::pop3::reply_parser;
using protocols::pop3::status_indicator;

constexpr reply_limits limits{128, 64, 2048};

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

bool clean(std::string_view s)
{
    return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

reply_kind kind_for(std::uint8_t pattern, std::size_t index)
{
    switch ((pattern >> (2 * (index % 4))) & 3) {
    case 0: return reply_kind::single_line;
    case 2: return reply_kind::sasl;
    default: return reply_kind::multi_line;
    }
}

void record(const reply& r, reply_kind kind, std::string_view buffer, std::string& log)
{
    check(inside(r.text, buffer) && clean(r.text));
    check(inside(r.code_text, r.text));
    check(r.status != status_indicator::continuation || kind == reply_kind::sasl);
    check(!r.has_body || (kind == reply_kind::multi_line && r.ok()));
    log += static_cast<char>('0' + static_cast<int>(r.status));
    log += r.text;
    log += '\n';
    std::size_t lines = 0;
    for (std::string_view line : r.body) {
        ++lines;
        check(inside(line, buffer) && clean(line) && line.size() + 1 <= limits.max_line);
        const auto uid = protocols::pop3::parse_uid_listing(line);
        check(uid.error != protocols::pop3::listing_error::none || (uid.uid.size() >= 1 && uid.uid.size() <= 70));
        const auto scan = protocols::pop3::parse_scan_listing(line);
        check(scan.error != protocols::pop3::listing_error::none || scan.msgno != 0);
        log += '|';
        log += line;
        log += '\n';
    }
    check(lines == r.body.size() && lines <= limits.max_body_lines && r.body.raw().size() <= limits.max_body_bytes);
    if (r.has_body) {
        const auto caps = protocols::pop3::parse_capabilities(r.body);
        check(caps.error == protocols::pop3::listing_error::none || (caps.error_line >= 1 && caps.error_line <= lines));
    }
    const auto stamp = protocols::pop3::find_apop_timestamp(r.text);
    check(stamp.error != protocols::pop3::listing_error::none
          || (stamp.value.size() >= 5 && stamp.value.front() == '<' && stamp.value.back() == '>'));
}

std::string run(std::string_view input, const std::vector<std::size_t>& cuts, bool lenient, std::uint8_t pattern)
{
    reply_parser parser(limits, lenient);
    std::size_t replies = 0;
    parser.expect(kind_for(pattern, 0));
    std::string log;
    std::string buffer;
    std::size_t fed = 0;
    for (std::size_t k = 0; k <= cuts.size(); ++k) {
        const std::size_t to = k < cuts.size() ? cuts[k] : input.size();
        buffer.append(input.substr(fed, to - fed));
        fed = to;
        for (;;) {
            const parse_status st = parser.parse(buffer);
            if (st.failed()) {
                check(st.offset < buffer.size());
                return log + "error " + std::to_string(static_cast<int>(st.code)) + "\n";
            }
            if (st.need_more()) {
                break;
            }
            check(st.consumed > 0 && st.consumed <= buffer.size());
            record(parser.result(), parser.expected(), buffer, log);
            buffer.erase(0, st.consumed);
            parser.expect(kind_for(pattern, ++replies));
        }
    }
    return log + "rest " + std::to_string(buffer.size()) + "\n";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) {
        return 0;
    }
    const bool lenient = (data[0] & 1) != 0;
    const std::uint8_t pattern = data[1];
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
    const std::string whole = run(input, {}, lenient, pattern);
    const std::size_t n = input.size();
    check(run(input, {n / 2}, lenient, pattern) == whole);
    check(run(input, {n / 3, 2 * n / 3}, lenient, pattern) == whole);
    std::vector<std::size_t> every;
    const std::size_t step = n <= 256 ? 1 : 7;
    for (std::size_t cut = step; cut < n; cut += step) {
        every.push_back(cut);
    }
    check(run(input, every, lenient, pattern) == whole);
    return 0;
}
