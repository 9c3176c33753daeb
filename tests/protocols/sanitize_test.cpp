#include "protocols/common/sanitize.h"

#include <gtest/gtest.h>

using protocols::printable;

TEST(Printable, KeepsPrintableAsciiAndUtf8)
{
    EXPECT_EQ(printable("250 ok"), "250 ok");
    EXPECT_EQ(printable("Unerw\xC3\xBCnscht"), "Unerw\xC3\xBCnscht");
}

TEST(Printable, ReplacesControlBytesAndInvalidUtf8)
{
    EXPECT_EQ(printable(std::string_view("a\0b\x1b[2Jc", 8)), "a?b?[2Jc");
    EXPECT_EQ(printable("line1\r\nline2"), "line1  line2");
    EXPECT_EQ(printable("\xC0\xAF overlong"), "?? overlong");
    EXPECT_EQ(printable("\xED\xA0\x80 surrogate"), "??? surrogate");
    EXPECT_EQ(printable("cut \xE2\x82"), "cut ??");
}

TEST(Printable, CutsAtTheLimitWithoutSplittingCharacters)
{
    EXPECT_EQ(printable("abcdefghij", 8), "abcde...");
    EXPECT_EQ(printable("abcd\xC3\xBC" "fghij", 8), "abcd...");
    EXPECT_EQ(printable("abcdefgh", 8), "abcdefgh");
    EXPECT_EQ(printable("abcdefghij", 2), "..");
}

TEST(JsonQuoted, EscapesQuotesBackslashesAndControlsOnly)
{
    EXPECT_EQ(protocols::json_quoted(""), "\"\"");
    EXPECT_EQ(protocols::json_quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
    EXPECT_EQ(protocols::json_quoted("l1\nl2\r\t"), "\"l1\\nl2\\r\\t\"");
    EXPECT_EQ(protocols::json_quoted(std::string_view("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
    EXPECT_EQ(protocols::json_quoted("Grüße /"), "\"Grüße /\"");
}
