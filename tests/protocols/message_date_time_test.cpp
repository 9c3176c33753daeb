#include "protocols/message/date_time.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>
#include <vector>

using protocols::message::format_date_time;
using protocols::message::parse_date_time;

namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;  // Tue, 14 Nov 2023 22:13:20 +0000

struct valid_row {
    std::string_view text;
    std::int64_t unix_ms;
};

} // namespace

TEST(DateTime, ParsesModernAndObsoleteForms)
{
    const std::vector<valid_row> rows = {
        {"Tue, 14 Nov 2023 22:13:20 +0000", t0},
        {"14 Nov 2023 22:13:20 +0000", t0},
        {"Tue, 14 Nov 2023 14:13:20 -0800 (PST)", t0},
        {"Tue, 14 Nov 2023 23:43:20 +0130", t0},
        {"Tue, 14 Nov 2023 22:13:20 -0000", t0},
        {"tue, 14 nov 2023 22:13:20 +0000", t0},
        {"Fri, 14 Nov 2023 22:13:20 +0000", t0},  // wrong weekday: read, not judged
        {"Tue, 14 Nov 2023 22:13 +0000", t0 - 20'000},
        {"Tue, 14 Nov 23 22:13:20 GMT", t0},
        {"Tue, 14 Nov 123 22:13:20 UT", t0},
        {"Tue, 14 Nov 2023 17:13:20 EST", t0},
        {"Tue, 14 Nov 2023 18:13:20 EDT", t0},
        {"Tue, 14 Nov 2023 16:13:20 CST", t0},
        {"Tue, 14 Nov 2023 17:13:20 CDT", t0},
        {"Tue, 14 Nov 2023 15:13:20 MST", t0},
        {"Tue, 14 Nov 2023 16:13:20 MDT", t0},
        {"Tue, 14 Nov 2023 14:13:20 PST", t0},
        {"Tue, 14 Nov 2023 15:13:20 PDT", t0},
        {"Tue, 14 Nov 2023 22:13:20 Z", t0},
        {"Tue, 14 Nov 2023 22:13:20 a", t0},  // military zones read as -0000
        {" (c) Tue (d) , 14 (e) Nov\r\n 2023\r\n\t22:13:20 (f) +0000 (UTC) ", t0},
        {"Thu, 1 Jan 1970 00:00:00 +0000", 0},
        {"1 Jan 70 00:00:00 +0000", 0},
        {"1 Jan 50 00:00:00 +0000", -631'152'000'000},
        {"1 Jan 49 00:00:00 +0000", 2'493'072'000'000},
        {"Mon, 1 Jan 1900 00:00:00 +0000", -2'208'988'800'000},
        {"Thu, 29 Feb 2024 12:00:00 +0000", 1'709'208'000'000},
        {"Sat, 31 Dec 2016 23:59:60 +0000", 1'483'228'800'000},  // leap second
        {"Tue, 14 Nov 2023 22:13:20 +9959", t0 - (99 * 60 + 59) * 60'000LL},
    };
    for (const auto& r : rows) {
        auto ms = parse_date_time(r.text);
        ASSERT_TRUE(ms) << r.text;
        EXPECT_EQ(*ms, r.unix_ms) << r.text;
    }
}

TEST(DateTime, RefusesInvalidDates)
{
    const std::vector<std::string_view> rows = {
        "",
        "(only a comment)",
        "Tue, 14 Nov 2023 22:13:20",             // no zone
        "Tue 14 Nov 2023 22:13:20 +0000",        // no comma after the day name
        "Tuesday, 14 Nov 2023 22:13:20 +0000",
        "Tue, 0 Nov 2023 22:13:20 +0000",
        "Tue, 123 Nov 2023 22:13:20 +0000",
        "Tue, 31 Apr 2023 22:13:20 +0000",
        "Wed, 29 Feb 2023 22:13:20 +0000",
        "Tue, 14 Foo 2023 22:13:20 +0000",
        "Tue, 14 Nov 1899 22:13:20 +0000",
        "Tue, 14 Nov 20233 22:13:20 +0000",
        "Tue, 14 Nov 2 22:13:20 +0000",
        "Tue, 14 Nov 2023 24:00:00 +0000",
        "Tue, 14 Nov 2023 22:60:00 +0000",
        "Tue, 14 Nov 2023 22:13:61 +0000",
        "Tue, 14 Nov 2023 9:13:20 +0000",
        "Tue, 14 Nov 2023 22:13:20.123 +0000",   // fractional seconds
        "Tue, 14 Nov 2023 22:13:20 +0060",
        "Tue, 14 Nov 2023 22:13:20 +000",
        "Tue, 14 Nov 2023 22:13:20 +00000",
        "Tue, 14 Nov 2023 22:13:20 0000",
        "Tue, 14 Nov 2023 22:13:20 J",
        "Tue, 14 Nov 2023 22:13:20 CET",
        "Tue, 14 Nov 2023 22:13:20 +0000 extra",
        "Tue, 14 Nov 2023 22:13:20 +0000 (unterminated",
        "2023-11-14T22:13:20Z",
        "1700000000",
    };
    for (auto text : rows) {
        EXPECT_FALSE(parse_date_time(text)) << text;
    }
}

TEST(DateTime, FormatsInUtcAndAtOffsets)
{
    EXPECT_EQ(format_date_time(t0 + 123, 0), "Tue, 14 Nov 2023 22:13:20 +0000");
    EXPECT_EQ(format_date_time(t0, 60), "Tue, 14 Nov 2023 23:13:20 +0100");
    EXPECT_EQ(format_date_time(t0, -330), "Tue, 14 Nov 2023 16:43:20 -0530");
    EXPECT_EQ(format_date_time(t0, 120), "Wed, 15 Nov 2023 00:13:20 +0200");
    EXPECT_EQ(format_date_time(0, 0), "Thu, 1 Jan 1970 00:00:00 +0000");
}

TEST(DateTime, FormattedDatesParseBackToTheSecond)
{
    for (std::int64_t ms : {std::int64_t{0}, t0 + 999, std::int64_t{1'709'208'000'000}, std::int64_t{4'102'444'799'000}}) {
        for (int offset : {0, 60, -480, 345, -720, 840}) {
            auto back = parse_date_time(format_date_time(ms, offset));
            ASSERT_TRUE(back) << format_date_time(ms, offset);
            EXPECT_EQ(*back, ms / 1000 * 1000) << format_date_time(ms, offset);
        }
    }
}

TEST(DateTime, ReadsImapInternalDates)
{
    using protocols::message::parse_internal_date;
    constexpr std::int64_t t0 = 1'700'000'000'000;   // Tue, 14 Nov 2023 22:13:20 +0000
    EXPECT_EQ(parse_internal_date("14-Nov-2023 22:13:20 +0000"), t0);
    EXPECT_EQ(parse_internal_date("14-Nov-2023 15:13:20 -0700"), t0);
    EXPECT_EQ(parse_internal_date(" 1-Jan-1970 00:00:00 +0000"), 0);
    EXPECT_FALSE(parse_internal_date(""));
    EXPECT_FALSE(parse_internal_date("14 Nov 2023 22:13:20 +0000"));           // RFC 5322, not IMAP
    EXPECT_FALSE(parse_internal_date("14-Nov 2023-22:13:20 +0000"));
    EXPECT_FALSE(parse_internal_date("31-Apr-2023 22:13:20 +0000"));
    EXPECT_FALSE(parse_internal_date("14-Nov-2023 22:13:20 +0000 and a very long tail"));
}
