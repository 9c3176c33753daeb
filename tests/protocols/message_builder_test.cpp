#include "protocols/message/builder.h"

#include "protocols/message/dsn.h"
#include "protocols/message/header_reader.h"
#include "tests/protocols/message_samples.h"

#include <gtest/gtest.h>

#include <string>

using namespace protocols::message;

TEST(Builder, LaysOutTheWholeMessage)
{
    built_message m = build_message(message_samples::spec(), message_samples::key());
    ASSERT_EQ(m.error, build_error::none) << describe(m.error);
    const std::string id = message_samples::id().to_string();
    const std::string head =
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
        "From: probe@example.org\r\n"
        "To: user@example.net\r\n"
        "Subject: mailprobe test eu-west.mx-check " + id + "\r\n"
        "Message-ID: <" + id + "@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "X-Mailprobe: v=1; id=" + id + ";\r\n"
        " p=eu-west.mx-check;\r\n"
        " t=1700000000123; mac=";
    EXPECT_EQ(m.text.substr(0, head.size()), head);
    const std::string body = m.text.substr(m.text.find("\r\n\r\n") + 4);
    EXPECT_EQ(body,
        "This is an automatic test message from mailprobe, a monitor that\r\n"
        "checks that e-mail is delivered end to end. It needs no reply and\r\n"
        "can be deleted.\r\n"
        "\r\n"
        "Probe: eu-west.mx-check\r\n"
        "Probe id: " + id + "\r\n"
        "Sent: Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(Builder, EveryLineIsCrlfTerminatedShortAndSevenBit)
{
    message_spec s = message_samples::spec();
    const std::string long_name(max_probe_name, 'n');
    s.probe_name = long_name;
    s.from = "a-rather-long-monitoring-mailbox-name@probes.eu-west.example.org";
    s.utc_offset_minutes = -330;
    built_message m = build_message(s, message_samples::key());
    ASSERT_EQ(m.error, build_error::none) << describe(m.error);
    std::size_t start = 0;
    while (start < m.text.size()) {
        std::size_t eol = m.text.find("\r\n", start);
        ASSERT_NE(eol, std::string::npos) << "the message ends with CRLF";
        std::string_view line(m.text.data() + start, eol - start);
        EXPECT_LT(line.size(), 78u) << line;
        EXPECT_EQ(line.find_first_of("\r\n"), std::string_view::npos) << "no bare CR or LF";
        EXPECT_FALSE(line.starts_with(".")) << "no dot-stuffing needed";
        for (char c : line) {
            EXPECT_LT(static_cast<unsigned char>(c), 0x80u);
        }
        start = eol + 2;
    }
    EXPECT_NE(m.text.find("-0530\r\n"), std::string::npos);
}

TEST(Builder, RoundTripsThroughTheHeaderReader)
{
    message_spec s = message_samples::spec();
    s.utc_offset_minutes = 60;
    s.message_id_domain = "mx.example.org";
    built_message m = build_message(s, message_samples::key());
    ASSERT_EQ(m.error, build_error::none);
    header_reader reader;
    protocols::parse_status st = reader.parse(m.text);
    ASSERT_TRUE(st.complete());
    const message_headers& h = reader.headers();
    EXPECT_EQ(h.date_unix_ms, 1'700'000'000'000);
    EXPECT_EQ(h.message_id, "<" + message_samples::id().to_string() + "@mx.example.org>");
    EXPECT_EQ(h.from, "probe@example.org");
    EXPECT_FALSE(looks_like_bounce(h));

    arrival_check c = classify_arrival(h, message_samples::key());
    ASSERT_EQ(c.kind, arrival::probe) << describe(c.header.problem);
    EXPECT_EQ(c.header.stamp.id, message_samples::id());
    EXPECT_EQ(c.header.stamp.probe_name, "eu-west.mx-check");
    EXPECT_EQ(c.header.stamp.sent_unix_ms, message_samples::sent_ms);

    EXPECT_EQ(classify_arrival(h, message_samples::key(0x99)).kind, arrival::forged);
}

TEST(Builder, ATamperedMessageIsNotOurs)
{
    std::string text = message_samples::probe_message();
    const std::string id = message_samples::id().to_string();
    std::string other = id;
    other[0] = '1';
    std::size_t at = text.find("id=" + id);
    ASSERT_NE(at, std::string::npos);
    text.replace(at + 3, id.size(), other);
    header_reader reader;
    ASSERT_TRUE(reader.parse(text).complete());
    EXPECT_EQ(classify_arrival(reader.headers(), message_samples::key()).kind, arrival::forged);

    std::string stripped = message_samples::probe_message();
    stripped.replace(stripped.find("X-Mailprobe"), 1, "Y");
    ASSERT_TRUE(reader.parse(stripped).complete());
    EXPECT_EQ(classify_arrival(reader.headers(), message_samples::key()).kind, arrival::not_ours);
}

TEST(Builder, RefusesInputsThatCouldInjectOrOverflow)
{
    struct row {
        void (*change)(message_spec&);
        build_error error;
    };
    const row rows[] = {
        {[](message_spec& s) { s.from = "probe@example.org\r\nBcc: victim@example.net"; }, build_error::bad_from},
        {[](message_spec& s) { s.from = "Probe <probe@example.org>"; }, build_error::bad_from},
        {[](message_spec& s) { s.from = "probe..x@example.org"; }, build_error::bad_from},
        {[](message_spec& s) { s.from = "probe@-example.org"; }, build_error::bad_from},
        {[](message_spec& s) { s.from = "@example.org"; }, build_error::bad_from},
        {[](message_spec& s) { s.to = "user@example.net>"; }, build_error::bad_to},
        {[](message_spec& s) { s.to = "user@exa_mple.net"; }, build_error::bad_to},
        {[](message_spec& s) { s.message_id_domain = "example.org>"; }, build_error::bad_domain},
        {[](message_spec& s) { s.probe_name = "two words"; }, build_error::bad_probe_name},
        {[](message_spec& s) { s.probe_name = ""; }, build_error::bad_probe_name},
        {[](message_spec& s) { s.utc_offset_minutes = 18 * 60 + 1; }, build_error::bad_offset},
        {[](message_spec& s) { s.utc_offset_minutes = -18 * 60 - 1; }, build_error::bad_offset},
        {[](message_spec& s) { s.message_id_domain = "a-domain-name-that-is-too-long.example.org"; },
            build_error::line_too_long},
        {[](message_spec& s) { s.to = "an-address-longer-than-any-line-can-hold-even-folded@mailboxes.example.network"; },
            build_error::line_too_long},
    };
    for (const auto& r : rows) {
        message_spec s = message_samples::spec();
        r.change(s);
        built_message m = build_message(s, message_samples::key());
        EXPECT_EQ(m.error, r.error) << describe(m.error);
        EXPECT_TRUE(m.text.empty());
    }
}
