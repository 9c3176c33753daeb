// The HTTP/1.1 request head parser of the --listen server: what browsers and Prometheus send,
// every split point, and hostile heads (bare LF/CR, NUL, obs-fold, bad targets, broken limits).
#include "protocols/http/request_parser.h"

#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

using protocols::parse_error;
using protocols::parse_status;
using protocols::http::request_limits;
using protocols::http::request_parser;

std::string split_log(std::string_view input, request_limits limits = {})
{
    return test_support::expect_split_invariant(input, [limits] {
        auto p = std::make_shared<request_parser>(limits);
        return test_support::parse_step([p](std::string_view buf, std::string& log) {
            auto s = p->parse(buf);
            if (s.complete()) {
                log += std::string(p->method()) + " " + std::string(p->target()) + " path=" +
                       std::string(p->path()) + " head=" + std::to_string(s.consumed) + "\n";
                p->reset();
            }
            return s;
        });
    });
}

parse_status parse_whole(std::string_view input, request_limits limits = {})
{
    request_parser p(limits);
    return p.parse(input);
}

TEST(HttpRequestParser, PrometheusAndBrowserRequests)
{
    std::string prom = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9464\r\nUser-Agent: Prometheus/2.45.0\r\n"
                       "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3\r\n"
                       "Accept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
    EXPECT_EQ(split_log(prom), "GET /metrics path=/metrics head=" + std::to_string(prom.size()) + "\n");
    std::string browser = "GET /status.json?t=1 HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";
    EXPECT_EQ(split_log(browser), "GET /status.json?t=1 path=/status.json head=" +
                                      std::to_string(browser.size()) + "\n");
    // HTTP/1.0 needs no Host; the method is any token (the server answers 405 itself).
    EXPECT_EQ(split_log("POST / HTTP/1.0\r\n\r\n"), "POST / path=/ head=19\n");
    EXPECT_EQ(split_log("HEAD / HTTP/1.1\r\nhost:\tx \r\n\r\n"), "HEAD / path=/ head=29\n");
}

TEST(HttpRequestParser, StopsAtTheEndOfTheHead)
{
    // A body (or a pipelined request) after the head is not the parser's: consumed ends at the
    // empty line.
    std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\nXYZ";
    auto s = parse_whole(in);
    ASSERT_TRUE(s.complete());
    EXPECT_EQ(s.consumed, in.size() - 3);
}

TEST(HttpRequestParser, NeedsMoreUntilTheEmptyLine)
{
    std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t n = 0; n < in.size(); ++n) {
        request_parser p;
        EXPECT_TRUE(p.parse(std::string_view(in).substr(0, n)).need_more()) << n;
    }
}

TEST(HttpRequestParser, RefusesHostileHeads)
{
    struct bad_case {
        const char* name;
        std::string in;
        parse_error code;
    };
    const bad_case cases[] = {
        {"bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", parse_error::bad_character},
        {"bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", parse_error::bad_character},
        {"NUL", std::string("GET /\0 HTTP/1.1\r\n\r\n", 19), parse_error::bad_character},
        {"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", parse_error::bad_syntax},
        {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", parse_error::bad_syntax},
        {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", parse_error::bad_syntax},
        {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", parse_error::bad_syntax},
        {"control in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", parse_error::bad_character},
        {"absolute-form", "GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"no version", "GET /\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"HTTP/2 text", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"method not a token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"high byte in target", "GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", parse_error::bad_syntax},
        {"TLS hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
            parse_error::bad_character},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(split_log(c.in), std::string("error: ") + std::string(protocols::describe(c.code)) + "\n") << c.name;
    }
}

TEST(HttpRequestParser, BareLineEndsFailBeforeTheHeadEnds)
{
    // A client that never sends the empty line is refused on the first bad byte, not kept
    // waiting until the deadline.
    auto s = parse_whole("GET / HTTP/1.1\nHost");
    ASSERT_TRUE(s.failed());
    EXPECT_EQ(s.offset, 14u);
    auto nul = parse_whole(std::string("GE\0", 3));
    ASSERT_TRUE(nul.failed());
    EXPECT_EQ(nul.offset, 2u);
}

TEST(HttpRequestParser, EnforcesItsLimits)
{
    request_limits small;
    small.max_head_bytes = 64;
    small.max_target = 8;
    small.max_fields = 2;
    // A head that never ends fails at the limit, whatever arrives after.
    std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
    auto s = parse_whole(endless, small);
    ASSERT_TRUE(s.failed());
    EXPECT_EQ(s.code, parse_error::header_too_big);
    EXPECT_EQ(s.offset, 64u);
    EXPECT_EQ(split_log(endless, small), "error: " + std::string(protocols::describe(parse_error::header_too_big)) + "\n");
    // Exactly at the limit is fine.
    std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(64 - 32, 'b') + "\r\n\r\n";
    ASSERT_EQ(exact.size(), 64u);
    EXPECT_TRUE(parse_whole(exact, small).complete());
    EXPECT_EQ(parse_whole("GET /123456789 HTTP/1.1\r\nHost: a\r\n\r\n", small).code, parse_error::line_too_long);
    EXPECT_TRUE(parse_whole("GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n", small).complete());
    EXPECT_EQ(parse_whole("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", small).code,
        parse_error::too_many_fields);
}

TEST(HttpRequestParser, ErrorsAreStickyUntilReset)
{
    request_parser p;
    EXPECT_TRUE(p.parse("GET / HTTP/1.1\n").failed());
    EXPECT_TRUE(p.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").failed());
    p.reset();
    EXPECT_TRUE(p.parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n").complete());
}

} // namespace
