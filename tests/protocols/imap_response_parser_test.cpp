// IMAP response parser: RFC 3501/9051 examples and real-server transcripts (Dovecot, Cyrus,
// Gmail, Microsoft Exchange), each fed whole, at every split point and byte by byte; a
// table of invalid inputs with their errors; every limit; literal resumption without rescans.
#include "protocols/imap/response_parser.h"
#include "tests/protocols/imap_test_log.h"
#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace {

using protocols::parse_error;
using protocols::parse_status;
using protocols::imap::parser_limits;
using protocols::imap::response_parser;

std::function<test_support::parse_step()> steps(parser_limits limits = {})
{
    return [limits] {
        auto parser = std::make_shared<response_parser>(limits);
        return [parser](std::string_view buf, std::string& log) {
            parse_status st = parser->parse(buf);
            if (st.complete()) {
                log += imap_test::render(parser->result(buf));
            }
            return st;
        };
    };
}

std::string log_of(std::string_view input, parser_limits limits = {})
{
    return test_support::expect_split_invariant(input, steps(limits));
}

parse_status parse_once(std::string_view input, parser_limits limits = {})
{
    response_parser p(limits);
    return p.parse(input);
}

TEST(ImapResponseParser, Rfc3501SelectAndFetch)
{
    const std::string input =
        "* OK IMAP4rev1 Service Ready\r\n"
        "* 172 EXISTS\r\n"
        "* 1 RECENT\r\n"
        "* OK [UNSEEN 12] Message 12 is first unseen\r\n"
        "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
        "A142 OK [READ-WRITE] SELECT completed\r\n"
        "* 12 FETCH (FLAGS (\\Seen) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 4286 "
        "BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 3028 92))\r\n"
        "* 12 FETCH (BODY[HEADER] {21}\r\nSubject: hi\r\nX: y\r\n\r\n)\r\n"
        "+ Ready for additional command text\r\n"
        "* BYE IMAP4rev1 Server logging out\r\n"
        "A023 OK LOGOUT completed\r\n";
    EXPECT_EQ(log_of(input),
              "untagged: tag(*) atom(OK) text(IMAP4rev1 Service Ready)\n"
              "untagged: tag(*) number(172) atom(EXISTS)\n"
              "untagged: tag(*) number(1) atom(RECENT)\n"
              "untagged: tag(*) atom(OK) code(UNSEEN) args(12) text(Message 12 is first unseen)\n"
              "untagged: tag(*) atom(OK) code(UIDVALIDITY) args(3857529045) text(UIDs valid)\n"
              "untagged: tag(*) atom(FLAGS) ( atom@1(\\Answered) atom@1(\\Flagged) atom@1(\\Deleted) "
              "atom@1(\\Seen) atom@1(\\Draft) )\n"
              "untagged: tag(*) atom(OK) code(PERMANENTFLAGS) args((\\Deleted \\Seen \\*)) text(Limited)\n"
              "tagged: tag(A142) atom(OK) code(READ-WRITE) text(SELECT completed)\n"
              "untagged: tag(*) number(12) atom(FETCH) ( atom@1(FLAGS) (@1 atom@2(\\Seen) )@1 "
              "atom@1(INTERNALDATE) quoted@1(17-Jul-1996 02:44:25 -0700) atom@1(RFC822.SIZE) number@1(4286) "
              "atom@1(BODY) (@1 quoted@2(TEXT) quoted@2(PLAIN) (@2 quoted@3(CHARSET) quoted@3(US-ASCII) )@2 "
              "nil@2(NIL) nil@2(NIL) quoted@2(7BIT) number@2(3028) number@2(92) )@1 )\n"
              "untagged: tag(*) number(12) atom(FETCH) ( atom@1(BODY[HEADER]) "
              "literal@1(Subject: hi  X: y    ) )\n"
              "continuation: tag(+) text(Ready for additional command text)\n"
              "untagged: tag(*) atom(BYE) text(IMAP4rev1 Server logging out)\n"
              "tagged: tag(A023) atom(OK) text(LOGOUT completed)\n");
}

TEST(ImapResponseParser, Rfc9051ListSearchEsearchAndLiteral8)
{
    const std::string input = std::string() +
        "* LIST (\\Noselect) \"/\" ~/Mail/foo\r\n"
        "* LIST () \".\" {7}\r\nfoo bar\r\n"
        "* SEARCH 2 84 882\r\n"
        "* SEARCH\r\n"
        "* ESEARCH (TAG \"A282\") MIN 2 COUNT 3\r\n"
        "* 1 FETCH (BINARY[1] ~{4}\r\n" + std::string("\0\x01\x02\x03", 4) + ")\r\n"
        "* 2 FETCH (BODY[HEADER.FIELDS (DATE FROM)] {0}\r\n UID 7)\r\n"
        "* ENABLED UTF8=ACCEPT\r\n"
        "+ \r\n"
        "+ YGgGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzmeTxWE=\r\n";
    EXPECT_EQ(log_of(input),
              "untagged: tag(*) atom(LIST) ( atom@1(\\Noselect) ) quoted(/) atom(~/Mail/foo)\n"
              "untagged: tag(*) atom(LIST) ( ) quoted(.) literal(foo bar)\n"
              "untagged: tag(*) atom(SEARCH) number(2) number(84) number(882)\n"
              "untagged: tag(*) atom(SEARCH)\n"
              "untagged: tag(*) atom(ESEARCH) ( atom@1(TAG) quoted@1(A282) ) atom(MIN) number(2) atom(COUNT) number(3)\n"
              "untagged: tag(*) number(1) atom(FETCH) ( atom@1(BINARY[1]) literal8@1(?" "?" "?" "?) )\n"
              "untagged: tag(*) number(2) atom(FETCH) ( atom@1(BODY[HEADER.FIELDS (DATE FROM)]) literal@1() "
              "atom@1(UID) number@1(7) )\n"
              "untagged: tag(*) atom(ENABLED) atom(UTF8=ACCEPT)\n"
              "continuation: tag(+)\n"
              "continuation: tag(+) text(YGgGCSqGSIb3EgECAgIBAAD/////6jcyG4GE3KkTzmeTxWE=)\n");
}

TEST(ImapResponseParser, DovecotAndCyrusGreetings)
{
    const std::string input =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        "AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
        "a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SPECIAL-USE "
        "LITERAL+ MOVE] Logged in\r\n"
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR] "
        "mail.example.org Cyrus IMAP 3.6.1 server ready\r\n"
        "* LIST (\\HasNoChildren \\Junk) \".\" \"INBOX.Junk\"\r\n"
        "* LIST (\\HasNoChildren) \"/\" \"Courrier ind&AOk-sirable\"\r\n"
        "a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        "* OK Still here\r\n"
        "+ idling\r\n"
        "* 3 EXPUNGE\r\n";
    EXPECT_EQ(log_of(input),
              "untagged: tag(*) atom(OK) code(CAPABILITY) args(IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE "
              "IDLE LITERAL+ STARTTLS AUTH=PLAIN) text(Dovecot (Debian) ready.)\n"
              "tagged: tag(a1) atom(OK) code(CAPABILITY) args(IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE "
              "SORT SPECIAL-USE LITERAL+ MOVE) text(Logged in)\n"
              "untagged: tag(*) atom(OK) code(CAPABILITY) args(IMAP4rev1 LITERAL+ ID ENABLE STARTTLS "
              "AUTH=PLAIN SASL-IR) text(mail.example.org Cyrus IMAP 3.6.1 server ready)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\HasNoChildren) atom@1(\\Junk) ) quoted(.) quoted(INBOX.Junk)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\HasNoChildren) ) quoted(/) quoted(Courrier ind&AOk-sirable)\n"
              "tagged: tag(a2) atom(NO) code(AUTHENTICATIONFAILED) text(Authentication failed.)\n"
              "untagged: tag(*) atom(OK) text(Still here)\n"
              "continuation: tag(+) text(idling)\n"
              "untagged: tag(*) number(3) atom(EXPUNGE)\n");
}

TEST(ImapResponseParser, GmailAndExchange)
{
    const std::string input =
        "* OK Gimap ready for requests from 192.0.2.1 a1mb2345678abc\r\n"
        "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY "
        "SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH\r\n"
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"[Gmail]/Spam\"\r\n"
        "* LIST (\\HasChildren \\Noselect) \"/\" [Gmail]\r\n"
        "* 1 FETCH (X-GM-MSGID 1278455344230334865 UID 4 X-GM-LABELS (\\Inbox \"a b\"))\r\n"
        "* OK The Microsoft Exchange IMAP4 service is ready.\r\n"
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Email\"\r\n"
        "* LIST (\\Marked \\HasNoChildren) \"/\" Inbox\r\n"
        "A3 OK LIST completed.\r\n";
    EXPECT_EQ(log_of(input),
              "untagged: tag(*) atom(OK) text(Gimap ready for requests from 192.0.2.1 a1mb2345678abc)\n"
              "untagged: tag(*) atom(CAPABILITY) atom(IMAP4rev1) atom(UNSELECT) atom(IDLE) atom(NAMESPACE) "
              "atom(QUOTA) atom(ID) atom(XLIST) atom(CHILDREN) atom(X-GM-EXT-1) atom(XYZZY) atom(SASL-IR) "
              "atom(AUTH=XOAUTH2) atom(AUTH=PLAIN) atom(AUTH=PLAIN-CLIENTTOKEN) atom(AUTH=OAUTHBEARER) "
              "atom(AUTH=XOAUTH)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\HasNoChildren) atom@1(\\Junk) ) quoted(/) quoted([Gmail]/Spam)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\HasChildren) atom@1(\\Noselect) ) quoted(/) atom([Gmail])\n"
              "untagged: tag(*) number(1) atom(FETCH) ( atom@1(X-GM-MSGID) number@1(1278455344230334865) "
              "atom@1(UID) number@1(4) atom@1(X-GM-LABELS) (@1 atom@2(\\Inbox) quoted@2(a b) )@1 )\n"
              "untagged: tag(*) atom(OK) text(The Microsoft Exchange IMAP4 service is ready.)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\HasNoChildren) atom@1(\\Junk) ) quoted(/) quoted(Junk Email)\n"
              "untagged: tag(*) atom(LIST) ( atom@1(\\Marked) atom@1(\\HasNoChildren) ) quoted(/) atom(Inbox)\n"
              "tagged: tag(A3) atom(OK) text(LIST completed.)\n");
}

TEST(ImapResponseParser, QuotedEscapesAndNonSyncLiteral)
{
    EXPECT_EQ(log_of("* LIST () \"\\\\\" \"a\\\"b\\\\c\"\r\n* 1 FETCH (BODY[] {3+}\r\nabc)\r\n"),
              "untagged: tag(*) atom(LIST) ( ) quoted(\\\\) quoted(a\\\"b\\\\c)\n"
              "untagged: tag(*) number(1) atom(FETCH) ( atom@1(BODY[]) literal@1(abc) )\n");
    std::string out;
    protocols::imap::append_unquoted("a\\\"b\\\\c", out);
    EXPECT_EQ(out, "a\"b\\c");
}

TEST(ImapResponseParser, LenientFlags)
{
    parser_limits lenient;
    lenient.lenient_line_endings = true;
    lenient.lenient_whitespace = true;
    EXPECT_EQ(log_of("* SEARCH 1  2 \n+\r\nA1 OK\n* FLAGS ( \\Seen )\r\n* OK [ALERT]\r\n", lenient),
              "untagged: tag(*) atom(SEARCH) number(1) number(2)\n"
              "continuation: tag(+)\n"
              "tagged: tag(A1) atom(OK)\n"
              "untagged: tag(*) atom(FLAGS) ( atom@1(\\Seen) )\n"
              "untagged: tag(*) atom(OK) code(ALERT)\n");
}

struct invalid_case {
    const char* name;
    std::string input;
    parse_error error;
    std::size_t offset;
};

TEST(ImapResponseParser, InvalidInputs)
{
    const invalid_case cases[] = {
        {"bare LF", "* OK hi\n", parse_error::bad_character, 7},
        {"bare CR", "* OK hi\rx\r\n", parse_error::bad_character, 7},
        {"NUL in text", std::string("* OK h\0i\r\n", 10), parse_error::bad_character, 6},
        {"NUL in quoted", std::string("* LIST () \"/\" \"a\0\"\r\n", 20), parse_error::bad_character, 16},
        {"NUL in atom", std::string("* SEARCH 1\0\r\n", 13), parse_error::bad_character, 10},
        {"empty line", "\r\n", parse_error::bad_syntax, 0},
        {"no SP after star", "*OK\r\n", parse_error::bad_syntax, 1},
        {"tagged non-condition", "A1 FETCH x\r\n", parse_error::bad_syntax, 3},
        {"tagged PREAUTH", "A1 PREAUTH hi\r\n", parse_error::bad_syntax, 3},
        {"missing resp-text SP", "A1 OK\r\n", parse_error::bad_syntax, 5},
        {"plus without SP", "+\r\n", parse_error::bad_syntax, 1},
        {"unclosed list", "* FLAGS (\\Seen\r\n", parse_error::bad_syntax, 14},
        {"extra close", "* FLAGS \\Seen)\r\n", parse_error::bad_syntax, 13},
        {"trailing space", "* SEARCH 1 \r\n", parse_error::bad_syntax, 11},
        {"double space", "* SEARCH 1  2\r\n", parse_error::bad_syntax, 11},
        {"space in list", "* FLAGS ( \\Seen)\r\n", parse_error::bad_syntax, 9},
        {"bad escape", "* LIST () \"/\" \"a\\b\"\r\n", parse_error::bad_syntax, 17},
        {"CR in quoted", "* LIST () \"/\" \"a\r\n", parse_error::bad_character, 16},
        {"literal without digits", "* 1 FETCH (BODY[] {})\r\n", parse_error::bad_syntax, 19},
        {"literal bad close", "* 1 FETCH (BODY[] {3x}\r\nabc)\r\n", parse_error::bad_syntax, 20},
        {"literal8 with plus", "* 1 FETCH (BINARY[] ~{3+}\r\nabc)\r\n", parse_error::bad_syntax, 23},
        {"literal no CRLF", "* 1 FETCH (BODY[] {3} abc)\r\n", parse_error::bad_syntax, 21},
        {"code no close", "* OK [ALERT\r\n", parse_error::bad_character, 11},
        {"empty code", "* OK [] hi\r\n", parse_error::bad_syntax, 6},
        {"8-bit atom", "* SEARCH \xC3\xA9\r\n", parse_error::bad_character, 9},
        {"control in atom", "* SEARCH a\x01\r\n", parse_error::bad_syntax, 10},
        {"quote after atom", "* SEARCH a\"b\"\r\n", parse_error::bad_syntax, 10},
    };
    for (const auto& c : cases) {
        parse_status st = parse_once(c.input);
        EXPECT_TRUE(st.failed()) << c.name;
        EXPECT_EQ(st.code, c.error) << c.name << ": " << protocols::describe(st.code);
        EXPECT_EQ(st.offset, c.offset) << c.name;
        // Split feeding reports the same error.
        std::string log = log_of(c.input);
        EXPECT_EQ(log, "error: " + std::string(protocols::describe(c.error)) + "\n") << c.name;
    }
}

TEST(ImapResponseParser, HugeLiteralAnnouncementFailsAtOnce)
{
    parse_status st = parse_once("* 1 FETCH (BODY[] {4294967296}\r\n");
    ASSERT_TRUE(st.failed());
    EXPECT_EQ(st.code, parse_error::literal_too_big);
    // Already before the announcement is complete.
    st = parse_once("* 1 FETCH (BODY[] {4294967296");
    ASSERT_TRUE(st.failed());
    EXPECT_EQ(st.code, parse_error::literal_too_big);
    st = parse_once("* 1 FETCH (BODY[] ~{99999999999999999999999999}\r\n");
    EXPECT_EQ(st.code, parse_error::literal_too_big);
    parser_limits small;
    small.max_literal = 3;
    EXPECT_TRUE(parse_once("* 1 FETCH (BODY[] {3}\r\nabc)\r\n", small).complete());
    EXPECT_EQ(parse_once("* 1 FETCH (BODY[] {4}\r\nabcd)\r\n", small).code, parse_error::literal_too_big);
}

TEST(ImapResponseParser, DeepNestingFailsAtTheLimit)
{
    std::string deep = "* X " + std::string(100'000, '(');
    parse_status st = parse_once(deep);
    ASSERT_TRUE(st.failed());
    EXPECT_EQ(st.code, parse_error::nesting_too_deep);
    EXPECT_EQ(st.offset, 4u + 16u);
    std::string sixteen = "* X " + std::string(16, '(') + std::string(16, ')') + "\r\n";
    EXPECT_TRUE(parse_once(sixteen).complete());
    EXPECT_EQ(log_of("* X ((()))\r\n", parser_limits{.max_depth = 2}), "error: " +
              std::string(protocols::describe(parse_error::nesting_too_deep)) + "\n");
}

TEST(ImapResponseParser, LineLimitCountsOnlyNonLiteralBytes)
{
    parser_limits limits;
    limits.max_line = 20;
    // 20 bytes before CRLF pass; 21 fail, even before the line end arrives.
    EXPECT_TRUE(parse_once("* SEARCH 1 2 3 4 5 6\r\n", limits).complete());
    parse_status st = parse_once("* SEARCH 1 2 3 4 5 67\r\n", limits);
    EXPECT_EQ(st.code, parse_error::line_too_long);
    EXPECT_EQ(parse_once("* SEARCH 1 2 3 4 5 6 7 8 9", limits).code, parse_error::line_too_long);
    EXPECT_TRUE(parse_once("* SEARCH 1 2 3 4 5 6", limits).need_more());
    // A literal longer than the line limit is fine; the stretch after it starts afresh.
    std::string lit = "* 1 FETCH (B {40}\r\n" + std::string(40, 'x') + " UID 12345678)\r\n";
    EXPECT_TRUE(parse_once(lit, limits).complete());
    EXPECT_EQ(log_of("* OK " + std::string(30, 'a') + "\r\n", limits),
              "error: " + std::string(protocols::describe(parse_error::line_too_long)) + "\n");
}

TEST(ImapResponseParser, ItemLimit)
{
    parser_limits limits;
    limits.max_items = 5;
    EXPECT_TRUE(parse_once("* SEARCH 1 2 3\r\n", limits).complete()); // *, SEARCH, 1, 2, 3
    parse_status st = parse_once("* SEARCH 1 2 3 4\r\n", limits);
    EXPECT_EQ(st.code, parse_error::too_many_items);
    EXPECT_EQ(st.offset, 15u);
}

TEST(ImapResponseParser, BigLiteralInSmallReadsIsNotRescanned)
{
    // 32 MiB in 4 KiB reads: a parser that rescanned from the start each time would touch
    // 128 TiB here; ours does O(1) work per call while it waits for literal bytes.
    const std::size_t size = 32u << 20;
    std::string input = "* 1 FETCH (BODY[] {" + std::to_string(size) + "}\r\n";
    const std::size_t head = input.size();
    input.append(size, 'x');
    input += ")\r\n";
    response_parser p;
    auto begin = std::chrono::steady_clock::now();
    std::size_t calls = 0;
    parse_status st;
    for (std::size_t end = 4096; ; end = std::min(end + 4096, input.size())) {
        st = p.parse(std::string_view(input).substr(0, end));
        ++calls;
        if (!st.need_more() || end == input.size()) {
            break;
        }
    }
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(st.consumed, input.size());
    auto r = p.result(input);
    EXPECT_EQ(r.view(5).size(), size);
    EXPECT_EQ(r[5].offset, head);
    EXPECT_GT(calls, 8000u);
    EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(2));
}

TEST(ImapResponseParser, ConsumesOneResponseAtATime)
{
    std::string two = "* 1 EXISTS\r\nA1 OK done\r\n";
    response_parser p;
    parse_status st = p.parse(two);
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(st.consumed, 12u);
    std::string_view rest = std::string_view(two).substr(st.consumed);
    st = p.parse(rest);
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(p.result(rest).view(0), "A1");
    // The token vector is reused: no growth once it has held a response this size.
    const auto* before = p.result(rest).tokens().data();
    st = p.parse(rest);
    ASSERT_TRUE(st.complete());
    EXPECT_EQ(p.result(rest).tokens().data(), before);
}

} // namespace
