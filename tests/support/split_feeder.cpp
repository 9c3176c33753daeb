#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <memory>

namespace test_support {

std::string feed(std::string_view input, const std::vector<std::size_t>& cuts, const parse_step& step)
{
    std::string log;
    std::string buffer;
    std::size_t from = 0;
    auto chunk_ends = cuts;
    chunk_ends.push_back(input.size());
    for (std::size_t to : chunk_ends) {
        buffer.append(input.substr(from, to - from));
        from = to;
        // A fresh copy each time, so a parser that kept a pointer into the old buffer reads
        // freed memory (and ASan says so) instead of silently passing.
        auto unconsumed = std::make_unique<std::string>(buffer);
        for (;;) {
            protocols::parse_status st = step(*unconsumed, log);
            if (st.failed()) {
                log += "error: ";
                log += protocols::describe(st.code);
                log += '\n';
                return log;
            }
            if (st.need_more()) {
                break;
            }
            if (st.consumed == 0 || st.consumed > unconsumed->size()) {
                ADD_FAILURE() << "parser consumed " << st.consumed << " of " << unconsumed->size();
                return log;
            }
            buffer.erase(0, st.consumed);
            unconsumed = std::make_unique<std::string>(buffer);
        }
    }
    if (!buffer.empty()) {
        log += "incomplete: " + std::to_string(buffer.size()) + " bytes\n";
    }
    return log;
}

std::string expect_split_invariant(std::string_view input, const std::function<parse_step()>& make_step)
{
    std::string whole = feed(input, {}, make_step());
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        std::string split = feed(input, {cut}, make_step());
        if (split != whole) {
            ADD_FAILURE() << "split at byte " << cut << " gave\n" << split << "instead of\n" << whole;
            return whole;
        }
    }
    std::vector<std::size_t> every;
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        every.push_back(cut);
    }
    std::string bytewise = feed(input, every, make_step());
    EXPECT_EQ(bytewise, whole) << "byte-by-byte feed differs";
    return whole;
}

} // namespace test_support
