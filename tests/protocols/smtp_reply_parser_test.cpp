// protocols::smtp::reply_parser: RFC 5321 examples and realistic server transcripts, each fed
// whole, at every split point and byte by byte; a table of invalid replies with the error each
// must give; the limits, the lenient flag, enhanced status codes, and the no-allocation claim.
#include "protocols/smtp/reply_parser.h"

#include "tests/support/split_feeder.h"

#include "protocols/common/sanitize.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

namespace {

// Counts every allocation in this test binary, to prove the steady-state claim.
std::atomic<std::size_t> g_allocations{0};

} // namespace

void* operator new(std::size_t n)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

// GCC cannot see that operator new above is the malloc() these frees pair with.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept
{
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}
#pragma GCC diagnostic pop

namespace {

using protocols::parse_error;
using protocols::parse_status;
using protocols::smtp::enhanced_status;
using protocols::smtp::reply_limits;
using protocols::smtp::reply_options;
using protocols::smtp::reply_parser;

// One log line per reply: code, enhanced status if any, line count, then each line's text.
void log_reply(const reply_parser& p, std::string& log)
{
    log += std::to_string(p.code());
    if (auto e = p.enhanced()) {
        log += " [" + std::to_string(e->klass) + "." + std::to_string(e->subject) + "." + std::to_string(e->detail)
            + "]";
    }
    log += " n=" + std::to_string(p.line_count()) + ":";
    for (std::size_t i = 0; i < p.line_count(); ++i) {
        log += " |" + protocols::printable(p.line(i));
    }
    log += '\n';
}

std::function<test_support::parse_step()> steps(reply_limits limits = {}, reply_options options = {})
{
    return [=] {
        auto parser = std::make_shared<reply_parser>(limits, options);
        return [parser](std::string_view unconsumed, std::string& log) {
            parse_status st = parser->parse(unconsumed);
            if (st.complete()) {
                log_reply(*parser, log);
            }
            return st;
        };
    };
}

TEST(SmtpReplyParser, Rfc5321AppendixD1Session)
{
    std::string input =
        "220 foo.com Simple Mail Transfer Service Ready\r\n"
        "250-foo.com greets bar.com\r\n"
        "250-8BITMIME\r\n"
        "250-SIZE\r\n"
        "250-DSN\r\n"
        "250 HELP\r\n"
        "250 OK\r\n"
        "250 OK\r\n"
        "550 No such user here\r\n"
        "250 OK\r\n"
        "354 Start mail input; end with <CRLF>.<CRLF>\r\n"
        "250 OK\r\n"
        "221 foo.com Service closing transmission channel\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "220 n=1: |foo.com Simple Mail Transfer Service Ready\n"
        "250 n=5: |foo.com greets bar.com |8BITMIME |SIZE |DSN |HELP\n"
        "250 n=1: |OK\n"
        "250 n=1: |OK\n"
        "550 n=1: |No such user here\n"
        "250 n=1: |OK\n"
        "354 n=1: |Start mail input; end with <CRLF>.<CRLF>\n"
        "250 n=1: |OK\n"
        "221 n=1: |foo.com Service closing transmission channel\n");
}

TEST(SmtpReplyParser, PostfixSession)
{
    std::string input =
        "220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n"
        "250-mx.example.org\r\n"
        "250-PIPELINING\r\n"
        "250-SIZE 10240000\r\n"
        "250-VRFY\r\n"
        "250-ETRN\r\n"
        "250-STARTTLS\r\n"
        "250-ENHANCEDSTATUSCODES\r\n"
        "250-8BITMIME\r\n"
        "250-DSN\r\n"
        "250-SMTPUTF8\r\n"
        "250 CHUNKING\r\n"
        "250 2.1.0 Ok\r\n"
        "554 5.7.1 <someone@elsewhere.example>: Relay access denied\r\n"
        "250 2.1.5 Ok\r\n"
        "354 End data with <CR><LF>.<CR><LF>\r\n"
        "250 2.0.0 Ok: queued as 4BxYz1234F\r\n"
        "221 2.0.0 Bye\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "220 n=1: |mx.example.org ESMTP Postfix (Debian/GNU)\n"
        "250 n=11: |mx.example.org |PIPELINING |SIZE 10240000 |VRFY |ETRN |STARTTLS |ENHANCEDSTATUSCODES "
        "|8BITMIME |DSN |SMTPUTF8 |CHUNKING\n"
        "250 [2.1.0] n=1: |2.1.0 Ok\n"
        "554 [5.7.1] n=1: |5.7.1 <someone@elsewhere.example>: Relay access denied\n"
        "250 [2.1.5] n=1: |2.1.5 Ok\n"
        "354 n=1: |End data with <CR><LF>.<CR><LF>\n"
        "250 [2.0.0] n=1: |2.0.0 Ok: queued as 4BxYz1234F\n"
        "221 [2.0.0] n=1: |2.0.0 Bye\n");
}

TEST(SmtpReplyParser, EximSession)
{
    std::string input =
        "220 mail.example.net ESMTP Exim 4.96 Mon, 01 Jan 2024 12:00:00 +0000\r\n"
        "250-mail.example.net Hello client.example.com [192.0.2.1]\r\n"
        "250-SIZE 52428800\r\n"
        "250-8BITMIME\r\n"
        "250-PIPELINING\r\n"
        "250-PIPE_CONNECT\r\n"
        "250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
        "250-CHUNKING\r\n"
        "250-PRDR\r\n"
        "250 HELP\r\n"
        "250 OK\r\n"
        "250 Accepted\r\n"
        "354 Enter message, ending with \".\" on a line by itself\r\n"
        "250 OK id=1rABCD-000123-Ef\r\n"
        "451 Temporary local problem - please try later\r\n"
        "221 mail.example.net closing connection\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "220 n=1: |mail.example.net ESMTP Exim 4.96 Mon, 01 Jan 2024 12:00:00 +0000\n"
        "250 n=9: |mail.example.net Hello client.example.com [192.0.2.1] |SIZE 52428800 |8BITMIME "
        "|PIPELINING |PIPE_CONNECT |AUTH PLAIN LOGIN CRAM-MD5 |CHUNKING |PRDR |HELP\n"
        "250 n=1: |OK\n"
        "250 n=1: |Accepted\n"
        "354 n=1: |Enter message, ending with \".\" on a line by itself\n"
        "250 n=1: |OK id=1rABCD-000123-Ef\n"
        "451 n=1: |Temporary local problem - please try later\n"
        "221 n=1: |mail.example.net closing connection\n");
}

TEST(SmtpReplyParser, GmailStyleSession)
{
    std::string input =
        "220 smtp.gmail.com ESMTP a1b2c3d4e5f6-0123456789abcdef.42 - gsmtp\r\n"
        "250-smtp.gmail.com at your service, [203.0.113.5]\r\n"
        "250-SIZE 35882577\r\n"
        "250-8BITMIME\r\n"
        "250-STARTTLS\r\n"
        "250-ENHANCEDSTATUSCODES\r\n"
        "250-PIPELINING\r\n"
        "250-CHUNKING\r\n"
        "250 SMTPUTF8\r\n"
        "220 2.0.0 Ready to start TLS\r\n"
        "334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1b2c3d4e5f6 - gsmtp\r\n"
        "235 2.7.0 Accepted\r\n"
        "250 2.0.0 OK  1700000000 a1b2c3d4e5f6 - gsmtp\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "220 n=1: |smtp.gmail.com ESMTP a1b2c3d4e5f6-0123456789abcdef.42 - gsmtp\n"
        "250 n=8: |smtp.gmail.com at your service, [203.0.113.5] |SIZE 35882577 |8BITMIME |STARTTLS "
        "|ENHANCEDSTATUSCODES |PIPELINING |CHUNKING |SMTPUTF8\n"
        "220 [2.0.0] n=1: |2.0.0 Ready to start TLS\n"
        "334 n=1: |eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\n"
        "535 [5.7.8] n=2: |5.7.8 Username and Password not accepted. For more information, go to "
        "|5.7.8  https://support.google.com/mail/?p=BadCredentials a1b2c3d4e5f6 - gsmtp\n"
        "235 [2.7.0] n=1: |2.7.0 Accepted\n"
        "250 [2.0.0] n=1: |2.0.0 OK  1700000000 a1b2c3d4e5f6 - gsmtp\n");
}

TEST(SmtpReplyParser, Microsoft365StyleSession)
{
    std::string input =
        "220 SN4PR0501CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jan 2024 "
        "12:00:00 +0000\r\n"
        "250-SN4PR0501CA0123.outlook.office365.com Hello [203.0.113.5]\r\n"
        "250-SIZE 157286400\r\n"
        "250-PIPELINING\r\n"
        "250-DSN\r\n"
        "250-ENHANCEDSTATUSCODES\r\n"
        "250-AUTH LOGIN XOAUTH2\r\n"
        "250-8BITMIME\r\n"
        "250-BINARYMIME\r\n"
        "250-CHUNKING\r\n"
        "250 SMTPUTF8\r\n"
        "334 VXNlcm5hbWU6\r\n"
        "334 UGFzc3dvcmQ6\r\n"
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
        "Visit https://aka.ms/smtp_auth_disabled for more information. [SN4PR0501CA0123.namprd05.prod."
        "outlook.com 2024-01-01T12:00:00.000Z 08DC0123456789AB]\r\n"
        "550 5.7.30 Basic authentication is not supported for Client Submission.\r\n"
        "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS "
        "1.2.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "220 n=1: |SN4PR0501CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 1 Jan "
        "2024 12:00:00 +0000\n"
        "250 n=10: |SN4PR0501CA0123.outlook.office365.com Hello [203.0.113.5] |SIZE 157286400 |PIPELINING "
        "|DSN |ENHANCEDSTATUSCODES |AUTH LOGIN XOAUTH2 |8BITMIME |BINARYMIME |CHUNKING |SMTPUTF8\n"
        "334 n=1: |VXNlcm5hbWU6\n"
        "334 n=1: |UGFzc3dvcmQ6\n"
        "535 [5.7.139] n=1: |5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
        "the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
        "[SN4PR0501CA0123.namprd05.prod.outlook.com 2024-01-01T12:00:00.000Z 08DC0123456789AB]\n"
        "550 [5.7.30] n=1: |5.7.30 Basic authentication is not supported for Client Submission.\n"
        "421 [4.7.66] n=1: |4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to "
        "support TLS 1.2.\n");
}

TEST(SmtpReplyParser, BareCodeAndEmptyTextLines)
{
    std::string input =
        "250\r\n"
        "250-\r\n"
        "250-\tTAB\r\n"
        "250 \r\n"
        "354-first\r\n"
        "354\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
        "250 n=1: |\n"
        "250 n=3: | | TAB |\n"
        "354 n=2: |first |\n");
}

TEST(SmtpReplyParser, TrailingPartialReplyIsIncomplete)
{
    EXPECT_EQ(test_support::expect_split_invariant("250 OK\r\n250-more\r\n250 la", steps()),
        "250 n=1: |OK\n"
        "incomplete: 16 bytes\n");
}

struct invalid_case {
    const char* name;
    std::string input;
    parse_error expected;
};

TEST(SmtpReplyParser, InvalidRepliesTable)
{
    const invalid_case cases[] = {
        {"not smtp at all", "HTTP/1.1 400 Bad Request\r\n", parse_error::bad_syntax},
        {"ssh banner", "SSH-2.0-OpenSSH_9.2\r\n", parse_error::bad_syntax},
        {"empty line", "\r\n", parse_error::bad_syntax},
        {"leading space", " 250 ok\r\n", parse_error::bad_syntax},
        {"class 1", "150 ok\r\n", parse_error::bad_syntax},
        {"class 6", "650 ok\r\n", parse_error::bad_syntax},
        {"second digit 6", "260 ok\r\n", parse_error::bad_syntax},
        {"letter in code", "25a ok\r\n", parse_error::bad_syntax},
        {"two digits", "25\r\n", parse_error::bad_syntax},
        {"four digits", "2500 ok\r\n", parse_error::bad_syntax},
        {"bad separator", "250_ok\r\n", parse_error::bad_syntax},
        {"code changes", "250-a\r\n251 b\r\n", parse_error::bad_syntax},
        {"class changes", "250-a\r\n550 b\r\n", parse_error::bad_syntax},
        {"NUL as separator", std::string("250-a\r\n250\0b\r\n", 14), parse_error::bad_syntax},
        {"bare LF", "250 ok\n", parse_error::bad_character},
        {"bare LF on a continuation", "250-a\r\n250-b\n250 c\r\n", parse_error::bad_character},
        {"bare CR inside", "250 o\rk\r\n", parse_error::bad_character},
        {"CR CR LF", "250 ok\r\r\n", parse_error::bad_character},
        {"NUL in text", std::string("250 o\0k\r\n", 9), parse_error::bad_character},
        {"LF alone", "\n", parse_error::bad_character},
    };
    for (const invalid_case& c : cases) {
        SCOPED_TRACE(c.name);
        reply_parser parser;
        parse_status st = parser.parse(c.input);
        ASSERT_TRUE(st.failed());
        EXPECT_EQ(st.code, c.expected) << protocols::describe(st.code);
        EXPECT_LT(st.offset, c.input.size());
        // Sticky until reset.
        EXPECT_EQ(parser.parse(c.input).code, c.expected);
        parser.reset();
        EXPECT_TRUE(parser.parse("220 ok\r\n").complete());
        std::string log = test_support::expect_split_invariant(c.input, steps());
        EXPECT_EQ(log, "error: " + std::string(protocols::describe(c.expected)) + "\n");
    }
}

TEST(SmtpReplyParser, ErrorOffsetsPointAtTheOffendingByte)
{
    reply_parser parser;
    EXPECT_EQ(parser.parse("250-a\r\n251 b\r\n").offset, 9u);
    parser.reset();
    EXPECT_EQ(parser.parse("250 o\rk\r\n").offset, 5u);
    parser.reset();
    EXPECT_EQ(parser.parse("250 ok\n").offset, 6u);
}

TEST(SmtpReplyParser, GarbageFailsBeforeTheLineEnds)
{
    // A non-SMTP peer is recognised from the first bytes, without waiting for max_line bytes.
    reply_parser parser;
    EXPECT_EQ(parser.parse("HTTP/1.1").code, parse_error::bad_syntax);
    reply_parser continuation;
    EXPECT_TRUE(continuation.parse("250-a\r\n25").need_more());
    EXPECT_EQ(continuation.parse("250-a\r\n251").code, parse_error::bad_syntax);
}

TEST(SmtpReplyParser, LineLimitCountsCodeAndCrlf)
{
    reply_limits limits{16, 256};
    std::string exact = "250 0123456789\r\n";  // 16 bytes
    ASSERT_EQ(exact.size(), 16u);
    EXPECT_EQ(test_support::expect_split_invariant(exact, steps(limits)), "250 n=1: |0123456789\n");
    std::string over = "250 0123456789a\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(over, steps(limits)), "error: line longer than the line limit\n");

    // Without a line end the limit trips as soon as max_line bytes are buffered.
    reply_parser parser(limits);
    EXPECT_TRUE(parser.parse("250 0123456789a").need_more());
    parse_status st = parser.parse("250 0123456789ab");
    EXPECT_EQ(st.code, parse_error::line_too_long);
    EXPECT_EQ(st.offset, 15u);
}

TEST(SmtpReplyParser, LineCountLimit)
{
    reply_limits limits{2048, 3};
    EXPECT_EQ(test_support::expect_split_invariant("250-a\r\n250-b\r\n250 c\r\n", steps(limits)),
        "250 n=3: |a |b |c\n");
    EXPECT_EQ(test_support::expect_split_invariant("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", steps(limits)),
        "error: more reply lines than the line-count limit\n");
    // The fourth line is refused at its first byte.
    reply_parser parser(limits);
    EXPECT_EQ(parser.parse("250-a\r\n250-b\r\n250-c\r\n2").code, parse_error::too_many_lines);
}

TEST(SmtpReplyParser, LenientBareLfIsOptIn)
{
    reply_options lenient{true};
    EXPECT_EQ(test_support::expect_split_invariant("250-a\n250-b\r\n250 c\n220 x\n", steps({}, lenient)),
        "250 n=3: |a |b |c\n"
        "220 n=1: |x\n");
    // A bare CR stays forbidden even then.
    EXPECT_EQ(test_support::expect_split_invariant("250 a\rb\n", steps({}, lenient)), "error: forbidden character\n");
}

TEST(SmtpReplyParser, EnhancedStatusCodes)
{
    struct enhanced_case {
        std::string input;
        std::optional<enhanced_status> expected;
    };
    const enhanced_case cases[] = {
        {"250 2.1.0 Ok\r\n", enhanced_status{2, 1, 0}},
        {"250 2.1.0\r\n", enhanced_status{2, 1, 0}},
        {"535 5.7.139 Authentication unsuccessful\r\n", enhanced_status{5, 7, 139}},
        {"421 4.7.0 Try again later\r\n", enhanced_status{4, 7, 0}},
        {"550 999.999.999 no\r\n", std::nullopt},  // class must be one digit
        {"550 4.1.1 class mismatch\r\n", std::nullopt},
        {"354 3.0.0 no class 3\r\n", std::nullopt},
        {"250 2.1.0x\r\n", std::nullopt},
        {"250 2.1234.0 x\r\n", std::nullopt},
        {"250 2..0 x\r\n", std::nullopt},
        {"250 2.1. x\r\n", std::nullopt},
        {"250 Ok 2.1.0\r\n", std::nullopt},
        {"250-mx.example.org\r\n250 2.0.0 later lines do not count\r\n", std::nullopt},
    };
    for (const enhanced_case& c : cases) {
        SCOPED_TRACE(c.input);
        reply_parser parser;
        ASSERT_TRUE(parser.parse(c.input).complete());
        EXPECT_EQ(parser.enhanced(), c.expected);
    }
}

TEST(SmtpReplyParser, ViewsPointIntoTheBufferAndConsumedIsOneReply)
{
    std::string buffer = "250-first\r\n250 second\r\n221 bye\r\n";
    reply_parser parser;
    parse_status st = parser.parse(buffer);
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(st.consumed, 23u);
    EXPECT_EQ(parser.code(), 250);
    EXPECT_TRUE(parser.positive());
    ASSERT_EQ(parser.line_count(), 2u);
    EXPECT_EQ(parser.line(0).data(), buffer.data() + 4);
    EXPECT_EQ(parser.line(1), "second");
    EXPECT_EQ(parser.line(2), "");  // out of range is empty, not undefined
    st = parser.parse(std::string_view(buffer).substr(23));
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(parser.code(), 221);
    EXPECT_EQ(parser.line_count(), 1u);
}

TEST(SmtpReplyParser, ReplyClasses)
{
    reply_parser parser;
    ASSERT_TRUE(parser.parse("354 go\r\n").complete());
    EXPECT_TRUE(parser.intermediate());
    ASSERT_TRUE(parser.parse("451 later\r\n").complete());
    EXPECT_TRUE(parser.transient());
    EXPECT_FALSE(parser.permanent());
    ASSERT_TRUE(parser.parse("554 never\r\n").complete());
    EXPECT_TRUE(parser.permanent());
}

TEST(SmtpReplyParser, PrintableTextJoinsAndSanitises)
{
    reply_parser parser;
    ASSERT_TRUE(parser
                    .parse("535-5.7.8 Username and Password not accepted.\r\n"
                           "535 5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp\r\n")
                    .complete());
    EXPECT_EQ(parser.printable_text(),
        "535 5.7.8 Username and Password not accepted. 5.7.8  https://support.google.com/mail/?p=BadCredentials"
        " - gsmtp");
    EXPECT_EQ(parser.printable_text(12), "535 5.7.8...");
    ASSERT_TRUE(parser.parse("550 \x1b[31mred\x07\r\n").complete());
    EXPECT_EQ(parser.printable_text(), "550 ?[31mred?");
}

TEST(SmtpReplyParser, SteadyStateAllocatesNothing)
{
    std::string ehlo =
        "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
        "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250 CHUNKING\r\n";
    reply_parser parser;
    ASSERT_TRUE(parser.parse(ehlo).complete());  // warms the line vector
    std::size_t before = g_allocations.load();
    for (int i = 0; i < 100; ++i) {
        // Fed in two pieces, as a connection would, with a reset-free restart each time.
        ASSERT_TRUE(parser.parse(std::string_view(ehlo).substr(0, 50)).need_more());
        ASSERT_TRUE(parser.parse(ehlo).complete());
        ASSERT_TRUE(parser.parse("250 2.1.0 Ok\r\n").complete());
    }
    EXPECT_EQ(g_allocations.load(), before);
}

} // namespace
