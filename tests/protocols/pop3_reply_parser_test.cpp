// POP3 reply parser: golden transcripts (RFC 1939 section 10, real-server greetings and CAPA
// replies), dot-unstuffing, SASL continuations, response codes, an error table, limits, and
// the zero-allocation promise. Every transcript is fed whole, split at every byte and byte by
// byte.
#include "protocols/pop3/reply_parser.h"
#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <string>
#include <vector>

// Counts every allocation of this test program, so a test can prove that parsing and
// iterating a reply allocate nothing. Not inlined: GCC would otherwise pair the caller's
// operator new with free() and warn about a mismatch.
namespace {
std::atomic<std::size_t> g_allocations{0};
}

[[gnu::noinline]] void* operator new(std::size_t n)
{
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

[[gnu::noinline]] void operator delete(void* p) noexcept
{
    std::free(p);
}

[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept
{
    std::free(p);
}

namespace {

using protocols::parse_error;
using protocols::parse_status;
using protocols::pop3::body_lines;
using protocols::pop3::reply;
using protocols::pop3::reply_kind;
using protocols::pop3::reply_limits;
using protocols::pop3::reply_parser;
using protocols::pop3::response_code;
using protocols::pop3::status_indicator;

static_assert(std::forward_iterator<body_lines::iterator>);

constexpr reply_kind S = reply_kind::single_line;
constexpr reply_kind M = reply_kind::multi_line;
constexpr reply_kind A = reply_kind::sasl;

std::string_view code_name(response_code c)
{
    switch (c) {
    case response_code::none: return "none";
    case response_code::in_use: return "in_use";
    case response_code::login_delay: return "login_delay";
    case response_code::sys_temp: return "sys_temp";
    case response_code::sys_perm: return "sys_perm";
    case response_code::auth: return "auth";
    case response_code::other: return "other";
    }
    return "?";
}

std::string describe_reply(const reply& r)
{
    std::string s;
    switch (r.status) {
    case status_indicator::ok: s += "+OK"; break;
    case status_indicator::err: s += "-ERR"; break;
    case status_indicator::continuation: s += "+"; break;
    }
    s += " [" + std::string(r.text) + "]";
    if (r.code != response_code::none) {
        s += " code=" + std::string(r.code_text) + "/" + std::string(code_name(r.code));
    }
    s += '\n';
    if (r.has_body) {
        s += "body " + std::to_string(r.body.size()) + " lines\n";
        for (std::string_view line : r.body) {
            s += "| " + std::string(line) + "\n";
        }
    }
    return s;
}

// A parser driven through `kinds` in order, as a session would call expect() per command.
std::function<test_support::parse_step()> script(std::vector<reply_kind> kinds, reply_limits limits = {},
                                                  bool lenient = false)
{
    return [=] {
        auto parser = std::make_shared<reply_parser>(limits, lenient);
        auto next = std::make_shared<std::size_t>(0);
        if (!kinds.empty()) {
            parser->expect(kinds[0]);
        }
        return [=](std::string_view in, std::string& log) {
            const parse_status st = parser->parse(in);
            if (st.complete()) {
                log += describe_reply(parser->result());
                if (++*next < kinds.size()) {
                    parser->expect(kinds[*next]);
                }
            }
            return st;
        };
    };
}

TEST(Pop3ReplyParser, Rfc1939ExampleSession)
{
    // RFC 1939 section 10, with two small messages standing in for "<the POP3 server sends
    // message N>"; the second has a dot-stuffed line.
    const std::string input = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"
                              "+OK mrose's maildrop has 2 messages (320 octets)\r\n"
                              "+OK 2 320\r\n"
                              "+OK 2 messages (320 octets)\r\n"
                              "1 120\r\n"
                              "2 200\r\n"
                              ".\r\n"
                              "+OK 120 octets\r\n"
                              "Subject: one\r\n"
                              "\r\n"
                              "first\r\n"
                              ".\r\n"
                              "+OK message 1 deleted\r\n"
                              "+OK 200 octets\r\n"
                              "Subject: two\r\n"
                              "\r\n"
                              "...and a line that began with a dot\r\n"
                              ".\r\n"
                              "+OK message 2 deleted\r\n"
                              "+OK dewey POP3 server signing off (maildrop empty)\r\n";
    // greeting, APOP, STAT, LIST, RETR 1, DELE 1, RETR 2, DELE 2, QUIT
    const std::string log = test_support::expect_split_invariant(input, script({S, S, S, M, M, S, M, S, S}));
    EXPECT_EQ(log,
              "+OK [POP3 server ready <1896.697170952@dbc.mtview.ca.us>]\n"
              "+OK [mrose's maildrop has 2 messages (320 octets)]\n"
              "+OK [2 320]\n"
              "+OK [2 messages (320 octets)]\n"
              "body 2 lines\n"
              "| 1 120\n"
              "| 2 200\n"
              "+OK [120 octets]\n"
              "body 3 lines\n"
              "| Subject: one\n"
              "| \n"
              "| first\n"
              "+OK [message 1 deleted]\n"
              "+OK [200 octets]\n"
              "body 3 lines\n"
              "| Subject: two\n"
              "| \n"
              "| ..and a line that began with a dot\n"
              "+OK [message 2 deleted]\n"
              "+OK [dewey POP3 server signing off (maildrop empty)]\n");
}

TEST(Pop3ReplyParser, RealServerGreetingsAndCapa)
{
    const std::string dovecot = "+OK Dovecot (Debian) ready.\r\n"
                                "+OK\r\n"
                                "CAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n"
                                "USER\r\nSASL PLAIN LOGIN\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(dovecot, script({S, M})),
              "+OK [Dovecot (Debian) ready.]\n"
              "+OK []\n"
              "body 9 lines\n"
              "| CAPA\n| TOP\n| UIDL\n| RESP-CODES\n| PIPELINING\n| AUTH-RESP-CODE\n| STLS\n| USER\n"
              "| SASL PLAIN LOGIN\n");

    const std::string gmail = "+OK Gpop ready for requests from 198.51.100.7 b12mb3456789abc\r\n"
                              "+OK Capability list follows\r\n"
                              "USER\r\nRESP-CODES\r\nEXPIRE 0\r\nLOGIN-DELAY 300\r\nTOP\r\nUIDL\r\n"
                              "X-GOOGLE-RICO\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(gmail, script({S, M})),
              "+OK [Gpop ready for requests from 198.51.100.7 b12mb3456789abc]\n"
              "+OK [Capability list follows]\n"
              "body 8 lines\n"
              "| USER\n| RESP-CODES\n| EXPIRE 0\n| LOGIN-DELAY 300\n| TOP\n| UIDL\n| X-GOOGLE-RICO\n"
              "| SASL PLAIN XOAUTH2 OAUTHBEARER\n");

    // Microsoft ends its greeting with a bracketed blob: not a response code, which must
    // open the text.
    const std::string microsoft = "+OK The Microsoft Exchange POP3 service is ready. "
                                  "[UABSADAAUAAyADgAMQBDAEEAMAAwADAANQAuAA==]\r\n"
                                  "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(microsoft, script({S, M})),
              "+OK [The Microsoft Exchange POP3 service is ready. "
              "[UABSADAAUAAyADgAMQBDAEEAMAAwADAANQAuAA==]]\n"
              "+OK []\nbody 4 lines\n| TOP\n| UIDL\n| SASL PLAIN XOAUTH2\n| USER\n");
}

TEST(Pop3ReplyParser, DotUnstuffing)
{
    const std::string input = "+OK 5 lines\r\n"
                              "..\r\n"
                              "...\r\n"
                              "..leading dot\r\n"
                              "middle.dot.\r\n"
                              "\r\n"
                              ".\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, script({M})),
              "+OK [5 lines]\nbody 5 lines\n| .\n| ..\n| .leading dot\n| middle.dot.\n| \n");
}

TEST(Pop3ReplyParser, LoneDotEndsTheBodyAndTheRestIsTheNextReply)
{
    // An unstuffed "." inside a message ends the body there; what follows is read as the next
    // reply, whose status line it is not.
    const std::string input = "+OK\r\nbefore\r\n.\r\nafter\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, script({M, S})),
              "+OK []\nbody 1 lines\n| before\nerror: syntax error\n");
    const std::string next = "+OK\r\nbefore\r\n.\r\n+OK 2 320\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(next, script({M, S})),
              "+OK []\nbody 1 lines\n| before\n+OK [2 320]\n");
}

TEST(Pop3ReplyParser, EmptyBodyAndErrToMultiLineCommand)
{
    const std::string input = "+OK 0 messages\r\n.\r\n"
                              "-ERR [SYS/TEMP] no such message\r\n"
                              "+OK\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, script({M, M, M})),
              "+OK [0 messages]\nbody 0 lines\n"
              "-ERR [[SYS/TEMP] no such message] code=SYS/TEMP/sys_temp\n"
              "+OK []\nbody 0 lines\n");
}

TEST(Pop3ReplyParser, SaslContinuations)
{
    const std::string input = "+ \r\n"
                              "+\r\n"
                              "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+\r\n"
                              "-ERR [AUTH] Authentication failed.\r\n"
                              "+ dGVzdA==\r\n"
                              "+OK Logged in.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, script({A, A, A, A, A, A})),
              "+ []\n"
              "+ []\n"
              "+ [PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+]\n"
              "-ERR [[AUTH] Authentication failed.] code=AUTH/auth\n"
              "+ [dGVzdA==]\n"
              "+OK [Logged in.]\n");
}

TEST(Pop3ReplyParser, ResponseCodes)
{
    struct row {
        std::string_view line;
        response_code code;
        std::string_view code_text;
    };
    const row rows[] = {
        {"-ERR [IN-USE] Do you have another POP session running?\r\n", response_code::in_use, "IN-USE"},
        {"-ERR [LOGIN-DELAY] wait 5 minutes\r\n", response_code::login_delay, "LOGIN-DELAY"},
        {"-ERR [SYS/TEMP] try later\r\n", response_code::sys_temp, "SYS/TEMP"},
        {"-ERR [SYS/PERM] mailbox is broken\r\n", response_code::sys_perm, "SYS/PERM"},
        {"-ERR [AUTH] Authentication failed.\r\n", response_code::auth, "AUTH"},
        {"-ERR [SYS/TEMP/DISK] full\r\n", response_code::sys_temp, "SYS/TEMP/DISK"},
        {"-ERR [sys/perm] lower case\r\n", response_code::sys_perm, "sys/perm"},
        {"-ERR [SYS] only the top level\r\n", response_code::other, "SYS"},
        {"-ERR [X-VENDOR/THING]\r\n", response_code::other, "X-VENDOR/THING"},
        {"+OK [IN-USE] also on +OK\r\n", response_code::in_use, "IN-USE"},
        {"-ERR [not a code] spaces are not rchar\r\n", response_code::none, ""},
        {"-ERR [] empty\r\n", response_code::none, ""},
        {"-ERR [A//B] empty level\r\n", response_code::none, ""},
        {"-ERR [SYS/] trailing slash\r\n", response_code::none, ""},
        {"-ERR [AUTH unterminated\r\n", response_code::none, ""},
        {"-ERR text [AUTH] later\r\n", response_code::none, ""},
        {"-ERR\r\n", response_code::none, ""},
    };
    for (const row& r : rows) {
        reply_parser parser;
        const parse_status st = parser.parse(r.line);
        ASSERT_TRUE(st.complete()) << r.line;
        EXPECT_EQ(st.consumed, r.line.size());
        EXPECT_EQ(parser.result().code, r.code) << r.line;
        EXPECT_EQ(parser.result().code_text, r.code_text) << r.line;
    }
}

TEST(Pop3ReplyParser, ErrorTable)
{
    struct row {
        std::string_view name;
        std::string input;
        reply_kind kind;
        parse_error error;
        std::size_t offset;
    };
    const row rows[] = {
        {"bare LF ends status", "+OK hi\n", S, parse_error::bad_character, 6},
        {"bare CR in status", "+OK h\ri\r\n", S, parse_error::bad_character, 5},
        {"NUL in status", std::string("+OK h\0i\r\n", 9), S, parse_error::bad_character, 5},
        {"no status", "OK ready\r\n", S, parse_error::bad_syntax, 0},
        {"lower-case status", "+ok ready\r\n", S, parse_error::bad_syntax, 0},
        {"lower-case err", "-err no\r\n", S, parse_error::bad_syntax, 0},
        {"status glued to text", "+OKAY\r\n", S, parse_error::bad_syntax, 0},
        {"err glued to text", "-ERROR\r\n", S, parse_error::bad_syntax, 0},
        {"continuation outside AUTH", "+ dGVzdA==\r\n", S, parse_error::bad_syntax, 0},
        {"continuation to multi-line", "+ dGVzdA==\r\n", M, parse_error::bad_syntax, 0},
        {"continuation not base64", "+ not base64\r\n", A, parse_error::bad_syntax, 0},
        {"continuation without SP", "+dGVzdA==\r\n", A, parse_error::bad_syntax, 0},
        {"empty line", "\r\n", S, parse_error::bad_syntax, 0},
        {"bare LF in body", "+OK\r\nline\n.\r\n", M, parse_error::bad_character, 9},
        {"bare CR in body", "+OK\r\nli\rne\r\n.\r\n", M, parse_error::bad_character, 7},
        {"NUL in body", std::string("+OK\r\nli\0ne\r\n.\r\n", 15), M, parse_error::bad_character, 7},
        {"terminator with bare LF", "+OK\r\nline\r\n.\n", M, parse_error::bad_character, 12},
    };
    for (const row& r : rows) {
        reply_parser parser;
        parser.expect(r.kind);
        const parse_status st = parser.parse(r.input);
        ASSERT_TRUE(st.failed()) << r.name;
        EXPECT_EQ(st.code, r.error) << r.name;
        EXPECT_EQ(st.offset, r.offset) << r.name;
        const std::string expected = "error: " + std::string(protocols::describe(r.error)) + "\n";
        EXPECT_EQ(test_support::expect_split_invariant(r.input, script({r.kind})), expected) << r.name;
    }
}

TEST(Pop3ReplyParser, LenientBareLf)
{
    const std::string input = "+OK hi\n+OK list\nline\r\n..dot\n.\n+OK crlf again\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, script({S, M, S}, {}, true)),
              "+OK [hi]\n+OK [list]\nbody 2 lines\n| line\n| .dot\n+OK [crlf again]\n");
    // Leniency covers LF only: bare CR and NUL stay errors.
    EXPECT_EQ(test_support::expect_split_invariant("+OK h\ri\n", script({S}, {}, true)),
              "error: forbidden character\n");
    EXPECT_EQ(test_support::expect_split_invariant(std::string("+OK\n\0\n.\n", 8), script({M}, {}, true)),
              "error: forbidden character\n");
}

TEST(Pop3ReplyParser, LineLimitCountsTheCrlf)
{
    reply_limits limits;
    limits.max_line = 16;
    const std::string fits = "+OK " + std::string(10, 'x') + "\r\n";  // 16 bytes
    EXPECT_EQ(test_support::expect_split_invariant(fits, script({S}, limits)), "+OK [xxxxxxxxxx]\n");
    const std::string too_long = "+OK " + std::string(11, 'x') + "\r\n";  // 17 bytes
    EXPECT_EQ(test_support::expect_split_invariant(too_long, script({S}, limits)),
              "error: line longer than the line limit\n");
    // Refused as soon as the limit is passed, without waiting for the line to end.
    reply_parser parser(limits);
    const parse_status st = parser.parse("+OK " + std::string(12, 'x'));
    ASSERT_TRUE(st.failed());
    EXPECT_EQ(st.code, parse_error::line_too_long);
    // A CR as the last byte allowed leaves no room for its LF.
    reply_parser cr_at_limit(limits);
    EXPECT_EQ(cr_at_limit.parse("+OK " + std::string(11, 'x') + "\r").code, parse_error::line_too_long);

    const std::string body_fits = "+OK\r\n" + std::string(14, 'b') + "\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(body_fits, script({M}, limits)),
              "+OK []\nbody 1 lines\n| bbbbbbbbbbbbbb\n");
    const std::string body_too_long = "+OK\r\n" + std::string(15, 'b') + "\r\n.\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(body_too_long, script({M}, limits)),
              "error: line longer than the line limit\n");
}

TEST(Pop3ReplyParser, BodyLineAndByteLimits)
{
    reply_limits lines;
    lines.max_body_lines = 2;
    EXPECT_EQ(test_support::expect_split_invariant("+OK\r\na\r\nb\r\n.\r\n", script({M}, lines)),
              "+OK []\nbody 2 lines\n| a\n| b\n");
    EXPECT_EQ(test_support::expect_split_invariant("+OK\r\na\r\nb\r\nc\r\n.\r\n", script({M}, lines)),
              "error: more reply lines than the line-count limit\n");

    reply_limits bytes;
    bytes.max_body_bytes = 8;  // "abc\r\n" + "de\r\n" is 9
    EXPECT_EQ(test_support::expect_split_invariant("+OK\r\nabc\r\nd\r\n.\r\n", script({M}, bytes)),
              "+OK []\nbody 2 lines\n| abc\n| d\n");
    EXPECT_EQ(test_support::expect_split_invariant("+OK\r\nabc\r\nde\r\n.\r\n", script({M}, bytes)),
              "error: multi-line body larger than the body-size limit\n");
    reply_parser parser(bytes);
    parser.expect(M);
    const parse_status st = parser.parse("+OK\r\nabc\r\nde\r\n.\r\n");
    ASSERT_TRUE(st.failed());
    EXPECT_EQ(st.offset, 10u);  // the line that crossed the limit
}

TEST(Pop3ReplyParser, IncompleteInputAsksForMore)
{
    struct row {
        std::string_view input;
        reply_kind kind;
    };
    const row rows[] = {
        {"", S}, {"+", S}, {"+OK", S}, {"+OK hi", S}, {"+OK hi\r", S}, {"+", A},
        {"+OK\r\n", M}, {"+OK\r\nline\r\n", M}, {"+OK\r\n.", M}, {"+OK\r\n.\r", M}, {"+OK\r\n..\r\n", M},
    };
    for (const row& r : rows) {
        reply_parser parser;
        parser.expect(r.kind);
        EXPECT_TRUE(parser.parse(r.input).need_more()) << r.input;
    }
}

TEST(Pop3ReplyParser, RawBodyKeepsStuffingAndLineEndings)
{
    reply_parser parser;
    parser.expect(M);
    const std::string input = "+OK\r\n..a\r\nb\r\n.\r\n";
    ASSERT_TRUE(parser.parse(input).complete());
    EXPECT_EQ(parser.result().body.raw(), "..a\r\nb\r\n");
    EXPECT_TRUE(parser.result().has_body);
    std::vector<std::string_view> lines(parser.result().body.begin(), parser.result().body.end());
    EXPECT_EQ(lines, (std::vector<std::string_view>{".a", "b"}));
}

// Bodies of random short and long lines, some dot-stuffed: the lines read back must be the
// originals, and a forbidden byte planted anywhere must be reported exactly where it is,
// whichever of the parser's fast paths the line happened to take.
TEST(Pop3ReplyParser, RandomBodiesRoundTripAndPinpointBadBytes)
{
    std::uint64_t seed = 0x9E3779B97F4A7C15u;
    auto next = [&](std::uint64_t bound) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        return (seed >> 33) % bound;
    };
    for (int round = 0; round < 300; ++round) {
        std::vector<std::string> lines(next(80));
        std::string input = "+OK\r\n";
        std::vector<std::size_t> content;  // offsets of line bytes, where a bad byte may go
        for (std::string& line : lines) {
            const std::size_t length = next(4) == 0 ? next(200) : next(30);
            for (std::size_t i = 0; i < length; ++i) {
                line += static_cast<char>(next(8) == 0 ? '.' : 'a' + next(26));
            }
            if (!line.empty() && line[0] == '.') {
                input += '.';
            }
            for (char c : line) {
                content.push_back(input.size());
                input += c;
            }
            input += "\r\n";
        }
        input += ".\r\n";

        reply_parser parser;
        parser.expect(M);
        const parse_status st = parser.parse(input);
        ASSERT_TRUE(st.complete()) << round;
        EXPECT_EQ(st.consumed, input.size());
        const std::vector<std::string> got(parser.result().body.begin(), parser.result().body.end());
        EXPECT_EQ(got, lines) << round;

        if (content.empty()) {
            continue;
        }
        const std::size_t at = content[next(content.size())];
        std::string bad = input;
        bad[at] = "\0\r\n"[next(3)];
        reply_parser strict;
        strict.expect(M);
        const parse_status e = strict.parse(bad);
        ASSERT_TRUE(e.failed()) << round;
        EXPECT_EQ(e.code, parse_error::bad_character) << round;
        EXPECT_EQ(e.offset, at) << round;
        if (round < 4) {
            test_support::expect_split_invariant(bad, script({M}));
            test_support::expect_split_invariant(input, script({M}));
        }
    }
}

TEST(Pop3ReplyParser, TenThousandLineUidlAllocatesNothing)
{
    std::string input = "+OK\r\n";
    for (int i = 1; i <= 10'000; ++i) {
        input += std::to_string(i) + " 000000" + std::to_string(10'000 + i) + "5f3a9c21\r\n";
    }
    input += ".\r\n";
    reply_parser parser;
    parser.expect(M);
    const std::size_t before = g_allocations.load();
    const parse_status st = parser.parse(input);
    std::size_t lines = 0;
    std::size_t bytes = 0;
    for (std::string_view line : parser.result().body) {
        ++lines;
        bytes += line.size();
    }
    const std::size_t after = g_allocations.load();
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(st.consumed, input.size());
    EXPECT_EQ(lines, 10'000u);
    EXPECT_EQ(parser.result().body.size(), 10'000u);
    EXPECT_EQ(bytes, input.size() - 5 - 3 - 2 * 10'000);
    EXPECT_EQ(after - before, 0u);
}

TEST(Pop3ReplyParser, ResumesAcrossGrowingBuffer)
{
    // A body fed in pieces into a buffer that moves gives the same lines as one feed.
    const std::string input = "+OK\r\nfirst line\r\n..second\r\n.\r\n";
    reply_parser parser;
    parser.expect(M);
    std::string buffer;
    parse_status st;
    for (char c : input) {
        buffer.push_back(c);
        buffer.shrink_to_fit();
        st = parser.parse(buffer);
        if (!st.need_more()) {
            break;
        }
    }
    ASSERT_TRUE(st.complete());
    std::vector<std::string_view> lines(parser.result().body.begin(), parser.result().body.end());
    EXPECT_EQ(lines, (std::vector<std::string_view>{"first line", ".second"}));
}

TEST(Pop3ReplyParser, InputEndingAgainstAGuardPageIsNotOverread)
{
    const long page = sysconf(_SC_PAGESIZE);
    void* mem = mmap(nullptr, static_cast<std::size_t>(2 * page), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    char* guard = static_cast<char*>(mem) + page;
    ASSERT_EQ(mprotect(guard, static_cast<std::size_t>(page), PROT_NONE), 0);
    for (std::string_view text : {"+OK\r\nabcdefghijklmnopqrstuvwxyz0123456789\r\n.\r\n",
                                  "+OK\r\nabcdefghijklmnopqrstuvwxyz0123456789", "+OK 2 320\r\n", "+OK 2 32"}) {
        char* at = guard - text.size();
        std::memcpy(at, text.data(), text.size());
        reply_parser parser;
        parser.expect(M);
        const parse_status st = parser.parse(std::string_view(at, text.size()));
        EXPECT_FALSE(st.failed()) << text;
        if (st.complete()) {
            for (std::string_view line : parser.result().body) {
                EXPECT_FALSE(line.empty());
            }
        }
    }
    munmap(mem, static_cast<std::size_t>(2 * page));
}

} // namespace
