// The transcript's cap: a flood from a server stays within max_bytes and the text says how
// many lines it dropped; below the cap nothing is added.
#include "protocols/common/transcript.h"

#include <gtest/gtest.h>

#include <string>

namespace {

TEST(Transcript, BelowTheCapNothingIsSaidAboutDropping)
{
    protocols::transcript t;
    t.sent("EHLO probe.test");
    t.received("250-mx.test\r\n250 SIZE 1000\r\n");
    EXPECT_EQ(t.dropped_lines(), 0u);
    EXPECT_NE(t.text().find("> EHLO probe.test\n"), std::string::npos) << t.text();
    EXPECT_NE(t.text().find("< 250 SIZE 1000\n"), std::string::npos) << t.text();
    EXPECT_EQ(t.text().find("dropped"), std::string::npos) << t.text();
}

TEST(Transcript, AFloodStaysWithinTheCapAndSaysHowManyLinesWentMissing)
{
    constexpr std::size_t cap = 64 * 1024;
    protocols::transcript t(cap);
    t.sent("A0001 SELECT INBOX");
    const std::string line = "* 1 FETCH (FLAGS (\\Seen)) " + std::string(100, 'x') + "\r\n";
    std::string flood;
    for (int i = 0; i < 5000; ++i) {
        flood += line;
    }
    t.received(flood);
    const std::string text = t.text();
    EXPECT_LE(text.size(), cap);
    EXPECT_GT(t.dropped_lines(), 4000u);
    const std::string trailer = "... " + std::to_string(t.dropped_lines()) + " lines dropped (the transcript is capped)\n";
    ASSERT_GE(text.size(), trailer.size());
    EXPECT_EQ(text.substr(text.size() - trailer.size()), trailer);
    EXPECT_EQ(text.find("> A0001 SELECT INBOX"), 7u) << "the start is kept";
}

TEST(Transcript, OneDroppedLineIsSingular)
{
    protocols::transcript t(200);
    t.note("short");
    t.received(std::string(300, 'y'));
    EXPECT_EQ(t.dropped_lines(), 1u);
    const std::string text = t.text();
    EXPECT_LE(text.size(), 200u);
    EXPECT_NE(text.find("... 1 line dropped"), std::string::npos) << text;
}

} // namespace
