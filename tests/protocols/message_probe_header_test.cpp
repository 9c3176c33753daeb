#include "protocols/message/probe_header.h"

#include "tests/protocols/message_samples.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace protocols::message;
using message_samples::key;

namespace {

probe_stamp stamp(std::string_view name = "eu-west.mx-check")
{
    return probe_stamp{message_samples::id(), name, message_samples::sent_ms};
}

std::string replace(std::string text, std::string_view from, std::string_view to)
{
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
}

} // namespace

TEST(ProbeHeader, RoundTripsAndViewsTheNameInTheValue)
{
    std::string value = format_probe_header(stamp(), key());
    header_check c = verify_probe_header(value, key());
    ASSERT_EQ(c.verdict, header_verdict::ours) << describe(c.problem);
    EXPECT_EQ(c.stamp.id, message_samples::id());
    EXPECT_EQ(c.stamp.probe_name, "eu-west.mx-check");
    EXPECT_EQ(c.stamp.sent_unix_ms, message_samples::sent_ms);
    EXPECT_GE(c.stamp.probe_name.data(), value.data());
    EXPECT_LE(c.stamp.probe_name.data() + c.stamp.probe_name.size(), value.data() + value.size());
}

TEST(ProbeHeader, FoldsIntoLinesUnder78EvenWithTheLongestName)
{
    std::string name(max_probe_name, 'n');
    std::string field = std::string(probe_header_name) + ":" + format_probe_header(stamp(name), key());
    std::size_t start = 0;
    for (std::size_t eol = field.find("\r\n"); ; eol = field.find("\r\n", start)) {
        std::size_t end = eol == std::string::npos ? field.size() : eol;
        EXPECT_LT(end - start, 78u) << field.substr(start, end - start);
        if (eol == std::string::npos) {
            break;
        }
        start = eol + 2;
        EXPECT_TRUE(field[start] == ' ') << "a continuation line starts with WSP";
    }
    EXPECT_EQ(verify_probe_header(field.substr(probe_header_name.size() + 1), key()).verdict, header_verdict::ours);
}

TEST(ProbeHeader, ToleratesOtherFoldingOrderAndComments)
{
    std::string value = format_probe_header(stamp(), key());
    const std::string mac = value.substr(value.find("mac=") + 4);
    const std::string id = message_samples::id().to_string();
    const std::vector<std::string> variants = {
        "mac=" + mac + "; t=1700000000123; p=eu-west.mx-check; id=" + id + "; v=1",
        "v=1;id=" + id + ";p=eu-west.mx-check;t=1700000000123;mac=" + mac + ";",
        "\r\n\tv = 1 ;\r\n id=" + id + " (the probe id);\r\n\t\tp=eu-west.mx-check;\r\n t=1700000000123;\r\n mac=" + mac,
    };
    for (const auto& v : variants) {
        header_check c = verify_probe_header(v, key());
        EXPECT_EQ(c.verdict, header_verdict::ours) << v << ": " << describe(c.problem);
    }
}

TEST(ProbeHeader, NoFieldIsNotOurs)
{
    EXPECT_EQ(verify_probe_header(std::nullopt, key()).verdict, header_verdict::not_ours);
}

TEST(ProbeHeader, AnotherKeyOrAFlippedMacIsForged)
{
    std::string value = format_probe_header(stamp(), key());
    EXPECT_EQ(verify_probe_header(value, key(0x43)).verdict, header_verdict::forged);
    std::string flipped = value;
    char& last = flipped.back();
    last = last == 'A' ? 'B' : 'A';
    EXPECT_EQ(verify_probe_header(flipped, key()).verdict, header_verdict::forged);
}

TEST(ProbeHeader, TamperedFieldsAreForged)
{
    std::string value = format_probe_header(stamp(), key());
    const std::string id = message_samples::id().to_string();
    // Another valid v7 id, a later send time, another valid name: all well formed, none signed.
    std::string other_id = id;
    other_id[35] = other_id[35] == '0' ? '1' : '0';
    EXPECT_EQ(verify_probe_header(replace(value, id, other_id), key()).verdict, header_verdict::forged);
    EXPECT_EQ(verify_probe_header(replace(value, "t=1700000000123", "t=1700000000124"), key()).verdict,
        header_verdict::forged);
    EXPECT_EQ(verify_probe_header(replace(value, "p=eu-west.mx-check", "p=eu-west.mx-checl"), key()).verdict,
        header_verdict::forged);
}

TEST(ProbeHeader, MalformedValuesNameTheirProblem)
{
    std::string value = format_probe_header(stamp(), key());
    const std::string id = message_samples::id().to_string();
    const std::string mac = value.substr(value.find("mac=") + 4);
    struct row {
        std::string value;
        header_problem problem;
    };
    const std::vector<row> rows = {
        {"", header_problem::bad_syntax},
        {"garbage", header_problem::bad_syntax},
        {replace(value, "v=1", "v=2"), header_problem::bad_version},
        {replace(value, "v=1;", "v=1; x=y;"), header_problem::unknown_tag},
        {replace(value, "v=1;", "v=1; v=1;"), header_problem::duplicate_tag},
        {replace(value, "v=1; ", ""), header_problem::missing_tag},
        {replace(value, id, "not-an-id"), header_problem::bad_id},
        {replace(value, "p=eu-west.mx-check", "p=eu/west"), header_problem::bad_probe_name},
        {replace(value, "p=eu-west.mx-check", "p=" + std::string(max_probe_name + 1, 'x')), header_problem::bad_probe_name},
        {replace(value, "t=1700000000123", "t=01700000000123"), header_problem::bad_time},
        {replace(value, "t=1700000000123", "t=1700000000123000"), header_problem::bad_time},
        {replace(value, "t=1700000000123", "t=17e11"), header_problem::bad_time},
        {replace(value, mac, mac.substr(1)), header_problem::bad_mac},
        {replace(value, mac, mac.substr(1) + "+"), header_problem::bad_mac},
        {replace(value, mac, mac + "="), header_problem::bad_syntax},
        {replace(value, "p=eu-west.mx-check", "p=\"eu-west\""), header_problem::bad_syntax},
        {replace(value, "; mac=", " mac="), header_problem::bad_syntax},
        {replace(value, "v=1", "v=1 (unterminated"), header_problem::bad_syntax},
    };
    for (const auto& r : rows) {
        header_check c = verify_probe_header(r.value, key());
        EXPECT_EQ(c.verdict, header_verdict::malformed) << r.value;
        EXPECT_EQ(c.problem, r.problem) << r.value << ": " << describe(c.problem);
    }
}

TEST(ProbeHeader, KeysMustBe16To64Bytes)
{
    std::vector<std::uint8_t> bytes(mac_key::min_size - 1, 7);
    EXPECT_FALSE(mac_key::from_bytes(bytes));
    bytes.push_back(7);
    EXPECT_TRUE(mac_key::from_bytes(bytes));
    bytes.resize(mac_key::max_size, 7);
    EXPECT_TRUE(mac_key::from_bytes(bytes));
    bytes.push_back(7);
    EXPECT_FALSE(mac_key::from_bytes(bytes));
}

TEST(ProbeHeader, ProbeNamesUseASafeCharset)
{
    EXPECT_TRUE(is_valid_probe_name("a"));
    EXPECT_TRUE(is_valid_probe_name("EU_west-1.mx"));
    EXPECT_TRUE(is_valid_probe_name(std::string(max_probe_name, 'z')));
    for (std::string_view bad : {"", "a b", "a;b", "a=b", "a\r\nb", "caf\xC3\xA9", "a\"b", "a(b)"}) {
        EXPECT_FALSE(is_valid_probe_name(bad)) << bad;
    }
}
