#include "protocols/message/dsn.h"

#include "tests/protocols/message_samples.h"

#include <gtest/gtest.h>

#include <string>

using namespace protocols::message;
using message_samples::crlf;
using protocols::parse_error;

namespace {

// A Postfix bounce, as Dovecot returns it, carrying the whole probe message.
std::string postfix_bounce()
{
    return crlf(
        "Return-Path: <>\n"
        "Received: from mx.example.net (mx.example.net [192.0.2.20])\n"
        "\tby mail.example.org (Postfix) with ESMTPS id 4SVJ2n9kQZz9sTQ\n"
        "\tfor <probe@example.org>; Tue, 14 Nov 2023 22:13:25 +0000 (UTC)\n"
        "Date: Tue, 14 Nov 2023 22:13:24 +0000 (UTC)\n"
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: probe@example.org\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"4SVJ2n3kQZz9sTP.1700000004/mx.example.net\"\n"
        "Content-Transfer-Encoding: 8bit\n"
        "Message-Id: <20231114221324.4SVJ2n3kQZz9sTP@mx.example.net>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--4SVJ2n3kQZz9sTP.1700000004/mx.example.net\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mx.example.net.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<nobody@example.net>: host mailstore.example.net[192.0.2.30] said: 550 5.1.1\n"
        "    <nobody@example.net>: Recipient address rejected: User unknown in local\n"
        "    recipient table (in reply to RCPT TO command)\n"
        "\n"
        "--4SVJ2n3kQZz9sTP.1700000004/mx.example.net\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mx.example.net\n"
        "X-Postfix-Queue-ID: 4SVJ2n3kQZz9sTP\n"
        "X-Postfix-Sender: rfc822; probe@example.org\n"
        "Arrival-Date: Tue, 14 Nov 2023 22:13:21 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; nobody@example.net\n"
        "Original-Recipient: rfc822;nobody@example.net\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mailstore.example.net\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address\n"
        "    rejected: User unknown in local recipient table\n"
        "\n"
        "--4SVJ2n3kQZz9sTP.1700000004/mx.example.net\n"
        "Content-Description: Undelivered Message\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n")
        + message_samples::probe_message()
        + crlf("\n--4SVJ2n3kQZz9sTP.1700000004/mx.example.net--\n");
}

// An Exchange Online NDR: a multipart/alternative notification first, the returned headers
// as text/rfc822-headers last.
std::string exchange_ndr()
{
    return crlf(
        "Received: from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:1::11)\n"
        " by DB9PR01MB5678.eurprd01.prod.exchangelabs.com with mapi id 15.20.6977.29;\n"
        " Tue, 14 Nov 2023 22:13:22 +0000\n"
        "MIME-Version: 1.0\n"
        "From: <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.onmicrosoft.com>\n"
        "To: <probe@example.org>\n"
        "Date: Tue, 14 Nov 2023 22:13:22 +0000\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"a1b2c3d4-e5f6-7890-abcd-ef1234567890\"\n"
        "X-MS-Exchange-Message-Is-Ndr:\n"
        "Content-Language: en-US\n"
        "Message-ID: <8f2a11c9-3a4b-4c5d-9e8f-0a1b2c3d4e5f@AM0PR01MB1234.eurprd01.prod.exchangelabs.com>\n"
        "Subject: Undeliverable: mailprobe test eu-west.mx-check\n"
        "Auto-Submitted: auto-replied\n"
        "\n"
        "--a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
        "Content-Type: multipart/alternative; differences=Content-Type;\n"
        "\tboundary=\"b2c3d4e5-f6a7-8901-bcde-f12345678901\"\n"
        "\n"
        "--b2c3d4e5-f6a7-8901-bcde-f12345678901\n"
        "Content-Type: text/plain; charset=\"us-ascii\"\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "Your message to nobody@contoso.com couldn't be delivered.\n"
        "--b2c3d4e5-f6a7-8901-bcde-f12345678901\n"
        "Content-Type: text/html; charset=\"us-ascii\"\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<html><body>Your message couldn't be delivered.</body></html>\n"
        "--b2c3d4e5-f6a7-8901-bcde-f12345678901--\n"
        "\n"
        "--a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com\n"
        "Received-From-MTA: dns;DB9PR01MB5678.eurprd01.prod.exchangelabs.com\n"
        "Arrival-Date: Tue, 14 Nov 2023 22:13:21 +0000\n"
        "\n"
        "Final-Recipient: rfc822;nobody@contoso.com\n"
        "Action: failed\n"
        "Status: 5.1.10\n"
        "Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient nobody@contoso.com not found "
        "by SMTP address lookup\n"
        "\n"
        "Final-Recipient: rfc822;other@contoso.com\n"
        "Action: delayed\n"
        "Status: 4.4.7\n"
        "\n"
        "--a1b2c3d4-e5f6-7890-abcd-ef1234567890\n"
        "Content-Type: text/rfc822-headers\n"
        "\n")
        + message_samples::probe_headers()
        + crlf("--a1b2c3d4-e5f6-7890-abcd-ef1234567890--\n");
}

// Not RFC 3464: a plain-text bounce that quotes the original headers.
std::string plain_bounce()
{
    return crlf(
        "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n"
        "To: probe@example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "Content-Type: text/plain; charset=\"UTF-8\"\n"
        "\n"
        "Address not found\n"
        "\n"
        "Your message wasn't delivered to nobody@gmail.com because the address couldn't be found.\n"
        "\n"
        "----- Original message -----\n"
        "\n")
        + message_samples::probe_headers()
        + crlf("This is an automatic test message from mailprobe.\n");
}

} // namespace

TEST(Dsn, ReadsAPostfixBounce)
{
    const std::string m = postfix_bounce();
    dsn_reader reader;
    protocols::parse_status st = reader.read(m);
    ASSERT_TRUE(st.complete()) << protocols::describe(st.code) << " at " << st.offset;
    EXPECT_EQ(st.consumed, m.size());
    const bounce_report& r = reader.report();
    EXPECT_EQ(r.kind, bounce_kind::delivery_status);
    EXPECT_EQ(r.reporting_mta, "mx.example.net");
    ASSERT_EQ(r.recipients.size(), 1u);
    const dsn_recipient& rcpt = r.recipients[0];
    EXPECT_EQ(rcpt.final_recipient, "nobody@example.net");
    EXPECT_EQ(rcpt.original_recipient, "nobody@example.net");
    EXPECT_EQ(rcpt.action, "failed");
    EXPECT_EQ(rcpt.status, "5.1.1");
    EXPECT_EQ(rcpt.remote_mta, "mailstore.example.net");
    EXPECT_EQ(unfold(rcpt.diagnostic_code),
        "550 5.1.1 <nobody@example.net>: Recipient address    rejected: User unknown in local recipient table");

    ASSERT_TRUE(r.probe_header);
    header_check c = verify_probe_header(r.probe_header, message_samples::key());
    ASSERT_EQ(c.verdict, header_verdict::ours);
    EXPECT_EQ(c.stamp.id, message_samples::id());
    EXPECT_EQ(verify_probe_header(r.probe_header, message_samples::key(7)).verdict, header_verdict::forged);
}

TEST(Dsn, ReadsAnExchangeNdrWithReturnedHeadersOnly)
{
    const std::string m = exchange_ndr();
    dsn_reader reader;
    protocols::parse_status st = reader.read(m);
    ASSERT_TRUE(st.complete()) << protocols::describe(st.code) << " at " << st.offset;
    const bounce_report& r = reader.report();
    EXPECT_EQ(r.kind, bounce_kind::delivery_status);
    EXPECT_EQ(r.reporting_mta, "AM0PR01MB1234.eurprd01.prod.exchangelabs.com");
    ASSERT_EQ(r.recipients.size(), 2u);
    EXPECT_EQ(r.recipients[0].final_recipient, "nobody@contoso.com");
    EXPECT_EQ(r.recipients[0].status, "5.1.10");
    EXPECT_EQ(r.recipients[0].diagnostic_code,
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient nobody@contoso.com not found by SMTP address lookup");
    EXPECT_EQ(r.recipients[1].action, "delayed");
    EXPECT_EQ(r.recipients[1].diagnostic_code, "");
    EXPECT_EQ(verify_probe_header(r.probe_header, message_samples::key()).verdict, header_verdict::ours);
    EXPECT_EQ(unfold(reader.headers().subject), "Undeliverable: mailprobe test eu-west.mx-check");
}

TEST(Dsn, RecognisesAPlainTextBounceByItsSubject)
{
    const std::string m = plain_bounce();
    dsn_reader reader;
    ASSERT_TRUE(reader.read(m).complete());
    EXPECT_EQ(reader.report().kind, bounce_kind::heuristic);
    EXPECT_TRUE(reader.report().recipients.empty());
    EXPECT_EQ(verify_probe_header(reader.report().probe_header, message_samples::key()).verdict,
        header_verdict::ours);
}

TEST(Dsn, AnOrdinaryMessageIsNoBounceEvenWithOurHeaderInItsBody)
{
    std::string m = message_samples::probe_message() + "X-Mailprobe: v=1\r\n";
    dsn_reader reader;
    ASSERT_TRUE(reader.read(m).complete());
    EXPECT_EQ(reader.report().kind, bounce_kind::none);
    EXPECT_FALSE(reader.report().probe_header) << "the top-level field is the message's, not a returned one";
}

TEST(Dsn, ABounceNeverCountsAsTheProbeArriving)
{
    for (const std::string& m : {postfix_bounce(), exchange_ndr(), plain_bounce()}) {
        header_reader headers;
        ASSERT_TRUE(headers.parse(m).complete());
        EXPECT_TRUE(looks_like_bounce(headers.headers()));
        EXPECT_EQ(classify_arrival(headers.headers(), message_samples::key()).kind, arrival::bounce);
    }
    // A bounce generator that copies the original's headers to the top is still a bounce:
    // the null reverse-path gives it away.
    const std::string copied = "Return-Path: <>\r\n" + message_samples::probe_message();
    header_reader headers;
    ASSERT_TRUE(headers.parse(copied).complete());
    EXPECT_EQ(classify_arrival(headers.headers(), message_samples::key()).kind, arrival::bounce);
}

TEST(Dsn, EnforcesLimitsAndBoundaries)
{
    dsn_limits limits;
    limits.max_message_bytes = 1000;
    dsn_reader small(limits);
    EXPECT_EQ(small.read(postfix_bounce()).code, parse_error::message_too_big);

    limits = {};
    limits.max_recipients = 1;
    dsn_reader one(limits);
    EXPECT_EQ(one.read(exchange_ndr()).code, parse_error::too_many_items);

    limits = {};
    limits.max_parts = 2;
    dsn_reader two(limits);
    EXPECT_EQ(two.read(postfix_bounce()).code, parse_error::too_many_items);

    std::string no_boundary = postfix_bounce();
    no_boundary.replace(no_boundary.find("boundary="), 9, "boundarx=");
    dsn_reader reader;
    EXPECT_EQ(reader.read(no_boundary).code, parse_error::bad_syntax);

    // A truncated report (no close delimiter) keeps what it has.
    std::string cut = postfix_bounce();
    cut.resize(cut.find("Content-Description: Undelivered Message"));
    ASSERT_TRUE(reader.read(cut).complete());
    EXPECT_EQ(reader.report().recipients.size(), 1u);
    EXPECT_FALSE(reader.report().probe_header);

    // A bare LF inside a part's header block is a syntax error located in the whole message.
    std::string broken = postfix_bounce();
    std::size_t at = broken.find("Action: failed\r\n");
    broken.erase(at + 14, 1);
    protocols::parse_status st = reader.read(broken);
    EXPECT_EQ(st.code, parse_error::bad_character);
    EXPECT_EQ(st.offset, at + 14);
}
