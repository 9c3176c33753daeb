// The HTTP/1.1 response parser: RFC 9112's message shapes (Content-Length, chunked with
// extensions and trailers, no body for 204/304/1xx, close-delimited), every split point, and
// hostile input: smuggling shapes, obs-fold, bare LF/CR, broken limits.
#include "protocols/http/response_parser.h"

#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using protocols::parse_error;
using protocols::parse_status;
using protocols::http::response_limits;
using protocols::http::response_parser;

// A step that logs "<status> <reason> | name: value... | body" per response.
test_support::parse_step logging_step(std::shared_ptr<response_parser> p)
{
    return [p](std::string_view buf, std::string& log) {
        auto s = p->parse(buf);
        if (s.complete()) {
            log += std::to_string(p->status()) + " " + std::string(p->reason());
            for (std::size_t i = 0; i < p->field_count(); ++i) {
                auto f = p->field_at(i);
                log += " | " + std::string(f.name) + ": " + std::string(f.value);
            }
            log += " | body[" + std::to_string(p->chunk_count()) + "]=" + p->body_text() + "\n";
            p->reset();
        }
        return s;
    };
}

std::string split_log(std::string_view input, response_limits limits = {})
{
    return test_support::expect_split_invariant(input, [limits] {
        return logging_step(std::make_shared<response_parser>(limits));
    });
}

parse_status parse_whole(std::string_view input, response_limits limits = {})
{
    response_parser p(limits);
    return p.parse(input);
}

TEST(HttpResponseParser, ContentLengthBodyFromRfc9112)
{
    // RFC 9112 section 2.1's example response, as a token endpoint sends it.
    std::string in = "HTTP/1.1 200 OK\r\n"
                     "Date: Mon, 27 Jul 2009 12:28:53 GMT\r\n"
                     "Content-Length: 51\r\n"
                     "Content-Type: text/plain\r\n"
                     "\r\n"
                     "Hello World! My content includes a trailing CRLF.\r\n";
    EXPECT_EQ(split_log(in),
        "200 OK | Date: Mon, 27 Jul 2009 12:28:53 GMT | Content-Length: 51 | Content-Type: text/plain"
        " | body[1]=Hello World! My content includes a trailing CRLF.\r\n\n");
}

TEST(HttpResponseParser, ChunkedBodyWithExtensionsAndTrailers)
{
    std::string in = "HTTP/1.1 200 OK\r\n"
                     "Transfer-Encoding: chunked\r\n"
                     "\r\n"
                     "5;name=value\r\n{\"a\":\r\n"
                     "A\r\n 1234567}\n\r\n"
                     "0\r\n"
                     "Expires: never\r\n"
                     "\r\n";
    EXPECT_EQ(split_log(in), "200 OK | Transfer-Encoding: chunked | body[2]={\"a\": 1234567}\n\n");
}

TEST(HttpResponseParser, InterimAndBodilessResponses)
{
    std::string in = "HTTP/1.1 100 Continue\r\n\r\n"
                     "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
                     "HTTP/1.1 304 Not Modified\r\n\r\n"
                     "HTTP/1.0 400\r\nContent-Length: 2\r\n\r\n{}";
    EXPECT_EQ(split_log(in),
        "100 Continue | body[0]=\n"
        "204 No Content | Content-Length: 10 | body[0]=\n"
        "304 Not Modified | body[0]=\n"
        "400  | Content-Length: 2 | body[1]={}\n");
}

TEST(HttpResponseParser, FieldValuesLoseOptionalWhitespaceAndFindIsCaseInsensitive)
{
    response_parser p;
    std::string in = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate:  Bearer realm=\"x\" \t\r\nX-Empty: \r\ncontent-length: 0\r\n\r\n";
    auto s = p.parse(in);
    ASSERT_TRUE(s.complete());
    EXPECT_EQ(s.consumed, in.size());
    EXPECT_EQ(p.find("www-authenticate").value_or("-"), "Bearer realm=\"x\"");
    EXPECT_EQ(p.find("Content-Length").value_or("-"), "0");
    EXPECT_EQ(p.find("x-empty").value_or("-"), "");
    EXPECT_FALSE(p.find("Location"));
}

TEST(HttpResponseParser, BodyUntilCloseCompletesOnlyAtClose)
{
    response_parser p;
    std::string in = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"access_token\":\"x\"}";
    EXPECT_TRUE(p.parse(in).need_more());
    auto s = p.finish_on_close(in);
    ASSERT_TRUE(s.complete());
    EXPECT_EQ(p.body_text(), "{\"access_token\":\"x\"}");

    response_parser cut;
    std::string half = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a";
    EXPECT_TRUE(cut.parse(half).need_more());
    EXPECT_EQ(cut.finish_on_close(half).code, parse_error::bad_syntax);
}

TEST(HttpResponseParser, NoBodyExpectedForHead)
{
    response_parser p;
    p.expect_no_body();
    std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
    auto s = p.parse(in);
    ASSERT_TRUE(s.complete());
    EXPECT_EQ(s.consumed, in.size());
}

struct hostile_case {
    const char* what;
    std::string input;
    parse_error code;
};

TEST(HttpResponseParser, RefusesHostileInput)
{
    const hostile_case cases[] = {
        {"not HTTP", "SSH-2.0-OpenSSH_9.2\r\n", parse_error::bad_syntax},
        {"HTTP/2 status line", "HTTP/2 200 OK\r\n\r\n", parse_error::bad_syntax},
        {"status code of two digits", "HTTP/1.1 20 OK\r\n\r\n", parse_error::bad_syntax},
        {"status code 600", "HTTP/1.1 600 OK\r\n\r\n", parse_error::bad_syntax},
        {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", parse_error::bad_character},
        {"bare CR", "HTTP/1.1 200 OK\rX: y\r\n\r\n", parse_error::bad_character},
        {"NUL in a field", std::string("HTTP/1.1 200 OK\r\nX: a") + '\0' + "b\r\n\r\n", parse_error::bad_character},
        {"control byte in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", parse_error::bad_character},
        {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", parse_error::bad_syntax},
        {"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", parse_error::bad_syntax},
        {"empty field name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", parse_error::bad_syntax},
        {"Content-Length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            parse_error::bad_syntax},
        {"two different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            parse_error::bad_syntax},
        {"length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", parse_error::bad_syntax},
        {"signed length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", parse_error::bad_syntax},
        {"gzip coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", parse_error::bad_syntax},
        {"chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            parse_error::bad_syntax},
        {"chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", parse_error::bad_syntax},
        {"chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            parse_error::body_too_big},
        {"chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
            parse_error::bad_syntax},
    };
    for (const auto& c : cases) {
        auto s = parse_whole(c.input);
        EXPECT_TRUE(s.failed()) << c.what;
        EXPECT_EQ(s.code, c.code) << c.what << ": " << protocols::describe(s.code);
    }
}

TEST(HttpResponseParser, EnforcesItsLimits)
{
    response_limits small;
    small.max_header_bytes = 64;
    small.max_fields = 2;
    small.max_body_bytes = 8;
    small.max_chunks = 2;

    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n", small).code,
        parse_error::header_too_big);
    // Without an end of line in sight, too: a header that never ends is refused at the limit.
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nX: " + std::string(100, 'a'), small).code, parse_error::header_too_big);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small).code, parse_error::too_many_fields);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", small).code, parse_error::body_too_big);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n4\r\n", small).code,
        parse_error::body_too_big);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n", small).code,
        parse_error::too_many_lines);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\n\r\n" + std::string(9, 'x'), small).code, parse_error::body_too_big);
    EXPECT_EQ(parse_whole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(2000, 'e')).code,
        parse_error::line_too_long);
}

} // namespace
