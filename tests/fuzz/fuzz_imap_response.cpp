// Fuzz target for the IMAP response parser and its typed readers. The first input byte picks
// the lenient flags; the rest is a server byte stream, fed whole, then cut at several points
// and byte by byte (for short inputs). Traps if the event logs differ between feeds, if a
// response claims more bytes than were given, or if a token lies outside its response.
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/mutf7.h"
#include "protocols/imap/responses.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace protocols::imap;

void check_response(const response& r, std::size_t consumed, std::uint32_t max_depth, std::string& log)
{
    log += static_cast<char>('0' + static_cast<int>(r.kind()));
    for (const token& t : r.tokens()) {
        if (t.offset > consumed || t.length > consumed - t.offset || t.depth > max_depth) {
            __builtin_trap();
        }
        log += static_cast<char>('a' + static_cast<int>(t.type));
        log += std::to_string(t.depth) + ':' + std::to_string(t.offset) + '+' + std::to_string(t.length);
    }
    // The readers must accept or refuse any token shape without misbehaving.
    log += static_cast<char>('0' + static_cast<int>(condition_of(r)));
    resp_text t = text_of(r);
    log += std::to_string(t.code.size() + t.code_args.size() + t.text.size());
    log += std::to_string(capability_text(r).size());
    if (auto e = list_entry_of(r)) {
        mailbox_info m;
        append_string(e->name_type, e->name_raw, m.name);
        m.delimiter = e->delimiter;
        m.attributes = e->attributes;
        if (auto decoded = mutf7_decode(m.name)) {
            auto again = mutf7_encode(*decoded);
            if (!again || *again != m.name) {
                __builtin_trap(); // strict decoding means one canonical form
            }
        }
        log += find_junk_folder(std::span<const mailbox_info>(&m, 1)) ? 'J' : 'L';
    }
    std::vector<std::uint32_t> numbers;
    if (search_results(r, numbers)) {
        log += 'S' + std::to_string(numbers.size());
    }
    if (auto e = esearch_of(r)) {
        std::vector<std::uint32_t> all;
        log += 'E' + std::to_string(expand_sequence_set(e->all, all, 1000) ? all.size() : 0);
    }
    if (auto s = fetch_summary_of(r)) {
        log += 'F' + std::to_string(s->section.size());
    }
    log += '\n';
}

std::string feed(std::string_view input, const std::vector<std::size_t>& cuts, const parser_limits& limits)
{
    response_parser parser(limits);
    std::string log;
    std::string buffer;
    std::size_t from = 0;
    auto ends = cuts;
    ends.push_back(input.size());
    for (std::size_t to : ends) {
        buffer.append(input.substr(from, to - from));
        from = to;
        for (;;) {
            protocols::parse_status st = parser.parse(buffer);
            if (st.failed()) {
                if (st.offset > buffer.size()) {
                    __builtin_trap();
                }
                log += "error " + std::to_string(static_cast<int>(st.code)) + '\n';
                return log;
            }
            if (st.need_more()) {
                break;
            }
            if (st.consumed == 0 || st.consumed > buffer.size()) {
                __builtin_trap();
            }
            check_response(parser.result(buffer), st.consumed, limits.max_depth, log);
            buffer.erase(0, st.consumed);
        }
    }
    return log + "left " + std::to_string(buffer.size()) + '\n';
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) {
        return 0;
    }
    parser_limits limits;
    limits.lenient_line_endings = (data[0] & 1) != 0;
    limits.lenient_whitespace = (data[0] & 2) != 0;
    limits.max_line = 512;
    limits.max_literal = 4096;
    limits.max_depth = 8;
    limits.max_items = 256;
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

    const std::string whole = feed(input, {}, limits);
    for (std::size_t cut : {input.size() / 3, input.size() / 2, input.size() - input.size() / 4}) {
        if (cut > 0 && cut < input.size() && feed(input, {cut}, limits) != whole) {
            __builtin_trap();
        }
    }
    if (input.size() <= 256) {
        std::vector<std::size_t> every;
        for (std::size_t i = 1; i < input.size(); ++i) {
            every.push_back(i);
        }
        if (feed(input, every, limits) != whole) {
            __builtin_trap();
        }
    }
    return 0;
}
