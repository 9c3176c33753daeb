#include "protocols/message/header_reader.h"

#include "protocols/message/dsn.h"
#include "tests/protocols/message_samples.h"
#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace protocols::message;
using message_samples::crlf;
using protocols::parse_error;
using protocols::parse_status;

namespace {

std::string opt(const std::optional<std::int64_t>& v)
{
    return v ? std::to_string(*v) : "-";
}

// One line per finding, so a split-feed mismatch shows what differs.
std::string describe(const message_headers& h)
{
    std::string s = "fields=" + std::to_string(h.field_count) + " probe=" + std::to_string(h.probe_header_count)
        + " subject=" + unfold(h.subject) + " date=" + opt(h.date_unix_ms) + "\n";
    for (const auto& hop : h.hops) {
        s += "  hop from=" + std::string(hop.from) + " [" + std::string(hop.from_info) + "] by=" + std::string(hop.by)
            + " with=" + std::string(hop.with) + " at=" + opt(hop.unix_ms) + " delay=" + opt(hop.delay_ms)
            + (hop.clock_skew ? " SKEW" : "") + "\n";
    }
    for (const auto& r : h.auth) {
        s += "  auth id=" + std::string(r.authserv_id) + (r.none ? " none" : "") + (r.malformed ? " malformed" : "") + "\n";
        for (const auto& m : h.methods(r)) {
            s += "    " + std::string(m.method) + "=" + std::string(m.result);
            if (!m.reason.empty()) {
                s += " reason=" + std::string(m.reason);
            }
            for (std::size_t i = 0; i < m.property_count; ++i) {
                s += " " + std::string(m.properties[i].ptype) + "." + std::string(m.properties[i].property) + "="
                    + std::string(m.properties[i].value);
            }
            s += "\n";
        }
    }
    return s;
}

std::function<test_support::parse_step()> reader_steps(header_limits limits = {})
{
    return [limits] {
        auto reader = std::make_shared<header_reader>(limits);
        return [reader](std::string_view unconsumed, std::string& log) {
            parse_status st = reader->parse(unconsumed);
            if (st.complete()) {
                log += describe(reader->headers());
            }
            return st;
        };
    };
}

const std::string postfix_chain = crlf(
    "Return-Path: <probe@example.org>\n"
    "Delivered-To: user@example.net\n"
    "Received: from mx.example.net\n"
    "\tby mailstore.example.net with LMTP\n"
    "\tid 2Kq3Fz/xU2V7HgAAv0Ntkg\n"
    "\t(envelope-from <probe@example.org>)\n"
    "\tfor <user@example.net>; Tue, 14 Nov 2023 22:13:22 +0000\n"
    "Received: from mail.example.org (mail.example.org [192.0.2.10])\n"
    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    "\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)\n"
    "\t(No client certificate requested)\n"
    "\tby mx.example.net (Postfix) with ESMTPS id 4SVJ2m0Y3Qz9sTN\n"
    "\tfor <user@example.net>; Tue, 14 Nov 2023 22:13:21 +0000 (UTC)\n"
    "Received: from [127.0.0.1] (localhost [127.0.0.1])\n"
    "\tby mail.example.org (Postfix) with ESMTPSA id 4SVJ2l5xQTz4wxZ\n"
    "\tfor <user@example.net>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n"
    "Authentication-Results: mx.example.net;\n"
    "\tdkim=pass (2048-bit key; unprotected) header.d=example.org header.i=@example.org header.a=rsa-sha256 "
    "header.s=s2023 header.b=Xy7nQ2pL;\n"
    "\tdkim-atps=neutral\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "From: probe@example.org\n"
    "To: user@example.net\n"
    "Subject: mailprobe test\n"
    " eu-west.mx-check\n"
    "Message-ID: <x@example.org>\n"
    "\n");

const std::string exchange_chain = crlf(
    "Received: from DB9PR01MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:10:2b1::15)\n"
    " by AM0PR01MB1234.eurprd01.prod.exchangelabs.com with HTTPS; Tue, 14 Nov 2023\n"
    " 22:13:23 +0000\n"
    "Received: from DU2PR04CA0123.eurprd04.prod.outlook.com (2603:10a6:10:234::8) by\n"
    " DB9PR01MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:10:2b1::15) with\n"
    " Microsoft SMTP Server (version=TLS1_2,\n"
    " cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.6977.29; Tue, 14 Nov\n"
    " 2023 22:13:22 +0000\n"
    "Received: from DB5PEPF00014B8F.eurprd02.prod.outlook.com\n"
    " (2603:10a6:10:234:cafe::a1) by DU2PR04CA0123.outlook.office365.com\n"
    " (2603:10a6:10:234::8) with Microsoft SMTP Server (version=TLS1_2,\n"
    " cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.6977.31 via Frontend\n"
    " Transport; Tue, 14 Nov 2023 22:13:22 +0000\n"
    "Authentication-Results: spf=pass (sender IP is 192.0.2.10)\n"
    " smtp.mailfrom=example.org; dkim=pass (signature was verified)\n"
    " header.d=example.org;dmarc=pass action=none\n"
    " header.from=example.org;compauth=pass reason=100\n"
    "Received-SPF: Pass (protection.outlook.com: domain of example.org designates\n"
    " 192.0.2.10 as permitted sender) receiver=protection.outlook.com;\n"
    " client-ip=192.0.2.10; helo=mail.example.org; pr=C\n"
    "Received: from mail.example.org (192.0.2.10) by\n"
    " DB5PEPF00014B8F.mail.protection.outlook.com (10.167.8.203) with Microsoft SMTP\n"
    " Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.7002.13 via\n"
    " Frontend Transport; Tue, 14 Nov 2023 22:13:21 +0000\n"
    "Date: Tue, 14 Nov 2023 23:13:20 +0100\n"
    "Subject: mailprobe test\n"
    "\n");

// The sender's own relay runs five seconds fast, so Google's hop looks earlier than it.
const std::string gmail_chain = crlf(
    "Delivered-To: user@gmail.com\n"
    "Received: by 2002:a05:7300:5b8a:b0:1a1:3f7e:6c1d with SMTP id p10csp2212345dyd;\n"
    "        Tue, 14 Nov 2023 14:13:22 -0800 (PST)\n"
    "X-Received: by 2002:a17:902:e5c3:b0:1cc:3c2e:4f1a with SMTP id u3mr123456plf.45.1700000001234;\n"
    "        Tue, 14 Nov 2023 14:13:21 -0800 (PST)\n"
    "ARC-Authentication-Results: i=1; mx.google.com;\n"
    "       spf=pass smtp.mailfrom=probe@example.org\n"
    "Received: from mail.example.org (mail.example.org. [192.0.2.10])\n"
    "        by mx.google.com with ESMTPS id x12-20020a170902a38c00b001cc3c2e4f1asi1234567plb.123.2023.11.14.14.13.21\n"
    "        for <user@gmail.com>\n"
    "        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\n"
    "        Tue, 14 Nov 2023 14:13:21 -0800 (PST)\n"
    "Received-SPF: pass (google.com: domain of probe@example.org designates 192.0.2.10 as permitted sender) "
    "client-ip=192.0.2.10;\n"
    "Authentication-Results: mx.google.com;\n"
    "       dkim=pass header.i=@example.org header.s=s2023 header.b=Xy7nQ2pL;\n"
    "       spf=pass (google.com: domain of probe@example.org designates 192.0.2.10 as permitted sender) "
    "smtp.mailfrom=probe@example.org;\n"
    "       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.org\n"
    "Received: from [127.0.0.1] (localhost [127.0.0.1])\n"
    "\tby mail.example.org (Postfix) with ESMTPSA id 4SVJ2l5xQTz4wxZ\n"
    "\tfor <user@gmail.com>; Tue, 14 Nov 2023 22:13:25 +0000 (UTC)\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Subject: mailprobe test\n"
    "\n");

} // namespace

TEST(FieldIterator, WalksFieldsKeepingFoldingInsideValues)
{
    const std::string block = crlf("A: 1\nB-c:\t two \n  lines \nD :x\nE:\n\nbody: no\n");
    field_iterator it(block, 10);
    std::vector<std::pair<std::string, std::string>> got;
    while (auto f = it.next()) {
        got.emplace_back(f->name, f->value);
    }
    ASSERT_TRUE(it.status().complete());
    EXPECT_EQ(it.status().consumed, block.find("body"));
    const std::vector<std::pair<std::string, std::string>> want = {
        {"A", "1"}, {"B-c", "two \r\n  lines"}, {"D", "x"}, {"E", ""}};
    EXPECT_EQ(got, want);
    EXPECT_EQ(unfold(got[1].second), "two   lines");
}

TEST(FieldIterator, EndOfInputEndsABlockWithoutAnEmptyLine)
{
    const std::string block = "A: 1\r\nB: 2";
    field_iterator it(block, 10);
    int n = 0;
    while (it.next()) {
        ++n;
    }
    EXPECT_EQ(n, 2);
    EXPECT_TRUE(it.status().complete());
    EXPECT_EQ(it.status().consumed, block.size());
}

TEST(FieldIterator, RefusesBrokenBlocks)
{
    struct row {
        std::string block;
        parse_error error;
        std::size_t offset;
    };
    const std::vector<row> rows = {
        {" A: 1\r\n", parse_error::bad_syntax, 0},
        {"A 1\r\n", parse_error::bad_syntax, 2},
        {"A: 1\r\nno colon\r\n", parse_error::bad_syntax, 9},
        {": 1\r\n", parse_error::bad_syntax, 0},
        {"A: 1\nB: 2\r\n", parse_error::bad_character, 4},
        {"A: 1\rB: 2\r\n", parse_error::bad_character, 4},
        {std::string("A: 1\0\r\n", 7), parse_error::bad_character, 4},
        {"A: 1\r", parse_error::bad_character, 4},
        {"A: 1\r\nB: 2\r\nC: 3\r\n", parse_error::too_many_fields, 12},
    };
    for (const auto& r : rows) {
        field_iterator it(r.block, 2);
        while (it.next()) {
        }
        ASSERT_TRUE(it.status().failed()) << r.block;
        EXPECT_EQ(it.status().code, r.error) << r.block;
        EXPECT_EQ(it.status().offset, r.offset) << r.block;
    }
}

TEST(HeaderReader, PostfixChainGivesHopsOldestFirstWithDelays)
{
    std::string log = test_support::expect_split_invariant(postfix_chain, reader_steps());
    EXPECT_EQ(log,
        "fields=11 probe=0 subject=mailprobe test eu-west.mx-check date=1700000000000\n"
        "  hop from=[127.0.0.1] [localhost [127.0.0.1]] by=mail.example.org with=ESMTPSA at=1700000000000 delay=0\n"
        "  hop from=mail.example.org [mail.example.org [192.0.2.10]] by=mx.example.net with=ESMTPS "
        "at=1700000001000 delay=1000\n"
        "  hop from=mx.example.net [] by=mailstore.example.net with=LMTP at=1700000002000 delay=1000\n"
        "  auth id=mx.example.net\n"
        "    dkim=pass header.d=example.org header.i=@example.org header.a=rsa-sha256 header.s=s2023 "
        "header.b=Xy7nQ2pL\n"
        "    dkim-atps=neutral\n");
}

TEST(HeaderReader, ExchangeOnlineChainWithFoldedDatesAndNoAuthservId)
{
    std::string log = test_support::expect_split_invariant(exchange_chain, reader_steps());
    EXPECT_EQ(log,
        "fields=8 probe=0 subject=mailprobe test date=1700000000000\n"
        "  hop from=mail.example.org [192.0.2.10] by=DB5PEPF00014B8F.mail.protection.outlook.com "
        "with=Microsoft at=1700000001000 delay=1000\n"
        "  hop from=DB5PEPF00014B8F.eurprd02.prod.outlook.com [2603:10a6:10:234:cafe::a1] "
        "by=DU2PR04CA0123.outlook.office365.com with=Microsoft at=1700000002000 delay=1000\n"
        "  hop from=DU2PR04CA0123.eurprd04.prod.outlook.com [2603:10a6:10:234::8] "
        "by=DB9PR01MB5678.eurprd01.prod.exchangelabs.com with=Microsoft at=1700000002000 delay=0\n"
        "  hop from=DB9PR01MB5678.eurprd01.prod.exchangelabs.com [2603:10a6:10:2b1::15] "
        "by=AM0PR01MB1234.eurprd01.prod.exchangelabs.com with=HTTPS at=1700000003000 delay=1000\n"
        "  auth id=\n"
        "    spf=pass smtp.mailfrom=example.org\n"
        "    dkim=pass header.d=example.org\n"
        "    dmarc=pass .action=none header.from=example.org\n"
        "    compauth=pass reason=100\n");
}

TEST(HeaderReader, GmailChainFlagsTheSkewedHop)
{
    std::string log = test_support::expect_split_invariant(gmail_chain, reader_steps());
    EXPECT_EQ(log,
        "fields=10 probe=0 subject=mailprobe test date=1700000000000\n"
        "  hop from=[127.0.0.1] [localhost [127.0.0.1]] by=mail.example.org with=ESMTPSA at=1700000005000 "
        "delay=5000\n"
        "  hop from=mail.example.org [mail.example.org. [192.0.2.10]] by=mx.google.com with=ESMTPS "
        "at=1700000001000 delay=-4000 SKEW\n"
        "  hop from= [] by=2002:a05:7300:5b8a:b0:1a1:3f7e:6c1d with=SMTP at=1700000002000 delay=1000\n"
        "  auth id=mx.google.com\n"
        "    dkim=pass header.i=@example.org header.s=s2023 header.b=Xy7nQ2pL\n"
        "    spf=pass smtp.mailfrom=probe@example.org\n"
        "    dmarc=pass header.from=example.org\n");
    header_reader reader;
    ASSERT_TRUE(reader.read(gmail_chain).complete());
    const auth_method* dmarc = reader.headers().find_method("DMARC");
    ASSERT_NE(dmarc, nullptr);
    EXPECT_EQ(dmarc->result, "pass");
    EXPECT_EQ(dmarc->property("header", "from"), "example.org");
    EXPECT_EQ(dmarc->property("header", "d"), "");
}

TEST(HeaderReader, AuthenticationResultsEdgeCases)
{
    const std::string block = crlf(
        "Authentication-Results: mx.example.net 1; none\n"
        "Authentication-Results: \"quoted.example\"; spf=fail reason=\"not in the \\\"list\\\"\" smtp.mailfrom=a@b\n"
        "Authentication-Results: mx.example.net; dkim=pass a.b=1 a.c=2 a.d=3 a.e=4 a.f=5 a.g=6 a.h=7\n"
        "Authentication-Results: mx.example.net; dkim pass; spf=pass\n"
        "Authentication-Results: mx.example.net\n"
        "\n");
    header_reader reader;
    ASSERT_TRUE(reader.read(block).complete());
    const message_headers& h = reader.headers();
    ASSERT_EQ(h.auth.size(), 5u);
    EXPECT_TRUE(h.auth[0].none);
    EXPECT_EQ(h.methods(h.auth[0]).size(), 0u);
    EXPECT_EQ(h.auth[1].authserv_id, "quoted.example");
    ASSERT_EQ(h.methods(h.auth[1]).size(), 1u);
    EXPECT_EQ(h.methods(h.auth[1])[0].reason, "not in the \\\"list\\\"");
    EXPECT_EQ(h.methods(h.auth[1])[0].property("smtp", "mailfrom"), "a@b");
    const auth_method& many = h.methods(h.auth[2])[0];
    EXPECT_EQ(many.property_count, auth_method::max_properties);
    EXPECT_TRUE(many.properties_dropped);
    EXPECT_TRUE(h.auth[3].malformed);
    ASSERT_EQ(h.methods(h.auth[3]).size(), 1u) << "the readable method after a broken one is kept";
    EXPECT_EQ(h.methods(h.auth[3])[0].method, "spf");
    EXPECT_TRUE(h.auth[4].malformed);
}

TEST(HeaderReader, ReceivedWithoutDateOrWithABadOneHasNoDelay)
{
    const std::string block = crlf(
        "Received: from a.example by b.example; Tue, 14 Nov 2023 22:13:21 +0000\n"
        "Received: from c.example by d.example; yesterday\n"
        "Received: from e.example (e [192.0.2.1; x]) by f.example\n"
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        "\n");
    header_reader reader;
    ASSERT_TRUE(reader.read(block).complete());
    const auto& hops = reader.headers().hops;
    ASSERT_EQ(hops.size(), 3u);
    EXPECT_EQ(hops[0].from, "e.example");
    EXPECT_EQ(hops[0].from_info, "e [192.0.2.1; x]");
    EXPECT_EQ(hops[0].date_text, "");
    EXPECT_FALSE(hops[0].delay_ms);
    EXPECT_EQ(hops[1].date_text, "yesterday");
    EXPECT_FALSE(hops[1].unix_ms);
    EXPECT_FALSE(hops[2].delay_ms) << "the previous hop's time is unknown";
    EXPECT_EQ(hops[2].unix_ms, 1'700'000'001'000);
}

TEST(HeaderReader, FindsOurFieldAndCountsDuplicates)
{
    const std::string ours = message_samples::probe_headers();
    std::string log = test_support::expect_split_invariant(ours + ours, reader_steps());
    const std::string one = "fields=9 probe=1 subject=mailprobe test eu-west.mx-check "
                            "018bcfe5-687b-7cc3-98c4-dc0c0c07398f date=1700000000000\n";
    EXPECT_EQ(log, one + one);

    header_reader reader;
    const std::string twice = "X-Mailprobe: a\r\n" + ours;
    ASSERT_TRUE(reader.read(twice).complete());
    EXPECT_EQ(reader.headers().probe_header_count, 2u);
    EXPECT_EQ(reader.headers().probe_header, "a");
    EXPECT_EQ(classify_arrival(reader.headers(), message_samples::key()).header.problem,
        header_problem::duplicate_header);
}

TEST(HeaderReader, EnforcesItsLimits)
{
    header_limits small;
    small.max_header_bytes = 64;
    small.max_fields = 3;
    EXPECT_EQ(test_support::expect_split_invariant(std::string(100, 'a'), reader_steps(small)),
        "error: header block larger than the header-size limit\n");
    EXPECT_EQ(test_support::expect_split_invariant(std::string(62, 'a') + "\r\n\r\n", reader_steps(small)),
        "error: header block larger than the header-size limit\n");
    EXPECT_EQ(test_support::expect_split_invariant("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", reader_steps(small)),
        "error: more header fields than the field-count limit\n");
    EXPECT_EQ(test_support::expect_split_invariant("A: 1\r\nB: 2\r\n", reader_steps(small)), "incomplete: 12 bytes\n");
    EXPECT_EQ(test_support::expect_split_invariant("\r\nA: 1\r\n\r\n", reader_steps(small)),
        "fields=0 probe=0 subject= date=-\n"
        "fields=1 probe=0 subject= date=-\n");
    header_reader reader(small);
    EXPECT_TRUE(reader.read("A: 1\r\n\r\n" + std::string(100, 'x')).complete())
        << "a complete block may sit in front of more than the limit";
    EXPECT_EQ(reader.read(std::string(100, 'x')).code, parse_error::header_too_big);
}
