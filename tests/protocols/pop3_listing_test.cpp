// POP3 listing interpreters: STAT, LIST and UIDL lines (valid and invalid tables), CAPA replies
// from RFC 2449 and real servers (fed through the reply parser at every split), malformed
// capability lines, and APOP timestamps in greetings.
#include "protocols/pop3/listing.h"
#include "protocols/pop3/reply_parser.h"
#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace {

using protocols::parse_status;
using protocols::pop3::capabilities;
using protocols::pop3::find_apop_timestamp;
using protocols::pop3::listing_error;
using protocols::pop3::parse_capabilities;
using protocols::pop3::parse_drop_listing;
using protocols::pop3::parse_scan_listing;
using protocols::pop3::parse_uid_listing;
using protocols::pop3::reply_kind;
using protocols::pop3::reply_parser;

TEST(Pop3Listing, DropListing)
{
    struct row {
        std::string_view text;
        std::uint32_t count;
        std::uint64_t octets;
        listing_error error;
    };
    const row rows[] = {
        {"2 320", 2, 320, listing_error::none},
        {"0 0", 0, 0, listing_error::none},
        {"4294967295 18446744073709551615", 4294967295u, 18446744073709551615u, listing_error::none},
        {"2 320 extra information", 2, 320, listing_error::none},
        {"", 0, 0, listing_error::missing_field},
        {"2", 0, 0, listing_error::missing_field},
        {"2 ", 0, 0, listing_error::missing_field},
        {"4294967296 1", 0, 0, listing_error::bad_number},
        {"2 18446744073709551616", 0, 0, listing_error::bad_number},
        {"two 320", 0, 0, listing_error::bad_number},
        {"-2 320", 0, 0, listing_error::bad_number},
        {"2  320", 0, 0, listing_error::bad_number},
        {"2 320octets", 0, 0, listing_error::bad_number},
        {"2\t320", 0, 0, listing_error::bad_number},
    };
    for (const row& r : rows) {
        const auto d = parse_drop_listing(r.text);
        EXPECT_EQ(d.error, r.error) << r.text;
        EXPECT_EQ(d.count, r.count) << r.text;
        EXPECT_EQ(d.octets, r.octets) << r.text;
    }
}

TEST(Pop3Listing, ScanListing)
{
    EXPECT_EQ(parse_scan_listing("1 120").msgno, 1u);
    EXPECT_EQ(parse_scan_listing("1 120").octets, 120u);
    EXPECT_EQ(parse_scan_listing("1 120").error, listing_error::none);
    EXPECT_EQ(parse_scan_listing("7 5000 flagged").octets, 5000u);
    // Messages are numbered from 1; STAT's count may be 0, a listing's number may not.
    EXPECT_EQ(parse_scan_listing("0 120").error, listing_error::bad_number);
    EXPECT_EQ(parse_scan_listing("1").error, listing_error::missing_field);
    EXPECT_EQ(parse_scan_listing("1 x").error, listing_error::bad_number);
}

TEST(Pop3Listing, UidListing)
{
    const std::string uid70(70, 'u');
    const std::string line70 = "3 " + uid70;
    const std::string line71 = "3 " + uid70 + "u";
    struct row {
        std::string_view line;
        std::uint32_t msgno;
        std::string_view uid;
        listing_error error;
    };
    const row rows[] = {
        {"1 whqtswO00WBw418f9t5JxYwZ", 1, "whqtswO00WBw418f9t5JxYwZ", listing_error::none},
        {"2 QhdPYR:00WBw1Ph7x7", 2, "QhdPYR:00WBw1Ph7x7", listing_error::none},
        {"10000 000027105f3a9c21", 10000, "000027105f3a9c21", listing_error::none},
        {"1 !", 1, "!", listing_error::none},
        {"1 ~", 1, "~", listing_error::none},
        {line70, 3, uid70, listing_error::none},
        {line71, 0, "", listing_error::uid_too_long},
        {"1 has space", 0, "", listing_error::bad_uid},
        {"1 trailing ", 0, "", listing_error::bad_uid},
        {"1 \x7F", 0, "", listing_error::bad_uid},
        {"1 caf\xC3\xA9", 0, "", listing_error::bad_uid},
        {"1 tab\there", 0, "", listing_error::bad_uid},
        {"1 ", 0, "", listing_error::missing_field},
        {"1", 0, "", listing_error::missing_field},
        {"", 0, "", listing_error::missing_field},
        {"0 abc", 0, "", listing_error::bad_number},
        {"4294967296 abc", 0, "", listing_error::bad_number},
        {"x abc", 0, "", listing_error::bad_number},
        {"1  abc", 0, "", listing_error::bad_uid},
        {"1\tabc", 0, "", listing_error::bad_number},
    };
    for (const row& r : rows) {
        const auto u = parse_uid_listing(r.line);
        EXPECT_EQ(u.error, r.error) << r.line;
        EXPECT_EQ(u.msgno, r.msgno) << r.line;
        EXPECT_EQ(u.uid, r.uid) << r.line;
    }
}

std::string describe_capabilities(const capabilities& c)
{
    std::string s;
    auto flag = [&](bool on, const char* name) {
        if (on) {
            s += name;
            s += ' ';
        }
    };
    flag(c.top, "TOP");
    flag(c.uidl, "UIDL");
    flag(c.user, "USER");
    flag(c.stls, "STLS");
    flag(c.pipelining, "PIPELINING");
    flag(c.resp_codes, "RESP-CODES");
    flag(c.auth_resp_code, "AUTH-RESP-CODE");
    if (c.sasl) {
        s += "SASL(";
        for (const std::string& m : c.sasl_mechanisms) {
            s += m + ",";
        }
        s += ") ";
    }
    if (c.expire) {
        s += "EXPIRE(" + (c.expire->never ? std::string("never") : std::to_string(c.expire->days))
            + (c.expire->per_user ? ",user" : "") + ") ";
    }
    if (c.login_delay) {
        s += "LOGIN-DELAY(" + std::to_string(c.login_delay->seconds) + (c.login_delay->per_user ? ",user" : "")
            + ") ";
    }
    if (!c.implementation.empty()) {
        s += "IMPLEMENTATION(" + c.implementation + ") ";
    }
    if (c.error != listing_error::none) {
        s += "error(" + std::string(protocols::pop3::describe(c.error)) + " at line " + std::to_string(c.error_line)
            + ")";
    }
    return s;
}

// Parses a CAPA reply at every split and returns the interpreted capabilities.
std::string capa(std::string_view reply_bytes)
{
    const std::string log = test_support::expect_split_invariant(reply_bytes, [] {
        auto parser = std::make_shared<reply_parser>();
        parser->expect(reply_kind::multi_line);
        return [parser](std::string_view in, std::string& out) {
            const parse_status st = parser->parse(in);
            if (st.complete()) {
                out += describe_capabilities(parse_capabilities(parser->result().body)) + "\n";
            }
            return st;
        };
    });
    return log;
}

TEST(Pop3Listing, Rfc2449CapaExample)
{
    EXPECT_EQ(capa("+OK Capability list follows\r\n"
                   "TOP\r\nUSER\r\nSASL CRAM-MD5 KERBEROS_V4\r\nRESP-CODES\r\nLOGIN-DELAY 900\r\n"
                   "PIPELINING\r\nEXPIRE 60\r\nUIDL\r\nIMPLEMENTATION Shlemazle-Plotz-v302\r\n.\r\n"),
              "TOP UIDL USER PIPELINING RESP-CODES SASL(CRAM-MD5,KERBEROS_V4,) EXPIRE(60) LOGIN-DELAY(900) "
              "IMPLEMENTATION(Shlemazle-Plotz-v302) \n");
}

TEST(Pop3Listing, RealServerCapa)
{
    // Dovecot 2.3 after STLS, before login.
    EXPECT_EQ(capa("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\n"
                   "USER\r\nSASL PLAIN LOGIN\r\n.\r\n"),
              "TOP UIDL USER STLS PIPELINING RESP-CODES AUTH-RESP-CODE SASL(PLAIN,LOGIN,) \n");
    // Gmail: unknown X- capabilities are ignored.
    EXPECT_EQ(capa("+OK Capability list follows\r\nUSER\r\nRESP-CODES\r\nEXPIRE 0\r\nLOGIN-DELAY 300\r\nTOP\r\n"
                   "UIDL\r\nX-GOOGLE-RICO\r\nSASL PLAIN XOAUTH2 OAUTHBEARER\r\n.\r\n"),
              "TOP UIDL USER RESP-CODES SASL(PLAIN,XOAUTH2,OAUTHBEARER,) EXPIRE(0) LOGIN-DELAY(300) \n");
    // Microsoft 365.
    EXPECT_EQ(capa("+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n"),
              "TOP UIDL USER SASL(PLAIN,XOAUTH2,) \n");
    // Policies that may change after login, and lower-case tags.
    EXPECT_EQ(capa("+OK\r\nexpire NEVER\r\nLogin-Delay 60 USER\r\nExpire 30 user\r\n.\r\n"),
              "EXPIRE(30,user) LOGIN-DELAY(60,user) \n");
    EXPECT_EQ(capa("+OK\r\nEXPIRE NEVER\r\n.\r\n"), "EXPIRE(never) \n");
}

TEST(Pop3Listing, CapabilitiesLookup)
{
    reply_parser parser;
    parser.expect(reply_kind::multi_line);
    ASSERT_TRUE(parser.parse("+OK\r\nSASL PLAIN XOAUTH2\r\n.\r\n").complete());
    const capabilities caps = parse_capabilities(parser.result().body);
    EXPECT_TRUE(caps.has_sasl_mechanism("PLAIN"));
    EXPECT_TRUE(caps.has_sasl_mechanism("xoauth2"));
    EXPECT_FALSE(caps.has_sasl_mechanism("LOGIN"));
    EXPECT_FALSE(caps.has_sasl_mechanism("PLAI"));
}

TEST(Pop3Listing, MalformedCapabilityLines)
{
    const std::string_view bad[] = {
        "",                      // capa-tag = 1*cchar
        " TOP",                  // leading space
        "TOP ",                  // trailing space: an empty param
        "SASL  PLAIN",           // two spaces
        "SASL",                  // SASL needs mechanisms
        "LOGIN-DELAY",           // needs seconds
        "LOGIN-DELAY soon",      // not a number
        "LOGIN-DELAY 60 ADMIN",  // only USER may follow
        "LOGIN-DELAY NEVER",     // NEVER is for EXPIRE only
        "EXPIRE 1 USER MORE",
        "EXPIRE -1",
        "EXPIRE 99999999999",
        "X.DOT",                 // cchar excludes "."
        "SASL PL\xC3\x84IN",     // pchar is ASCII
        "IMPLEMENTATION",        // needs its text
    };
    for (std::string_view line : bad) {
        const std::string reply = "+OK\r\nUIDL\r\n" + std::string(line) + "\r\nTOP\r\n.\r\n";
        reply_parser parser;
        parser.expect(reply_kind::multi_line);
        ASSERT_TRUE(parser.parse(reply).complete()) << line;
        const capabilities caps = parse_capabilities(parser.result().body);
        EXPECT_EQ(caps.error, listing_error::bad_capability) << line;
        EXPECT_EQ(caps.error_line, 2u) << line;
        // The lines around the bad one still count.
        EXPECT_TRUE(caps.uidl) << line;
        EXPECT_TRUE(caps.top) << line;
    }
    EXPECT_EQ(capa("+OK\r\nSASL\r\nTOP\r\nEXPIRE x\r\n.\r\n"), "TOP error(malformed capability line at line 1)\n");
}

TEST(Pop3Listing, ApopTimestamp)
{
    struct row {
        std::string_view greeting;
        std::string_view timestamp;
        listing_error error;
    };
    const row rows[] = {
        {"POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "<1896.697170952@dbc.mtview.ca.us>",
         listing_error::none},
        {"Dovecot ready. <3fa2.1.65b1c0de.Zk4Rk1dXQ5s+Yq==@mail.example.net>",
         "<3fa2.1.65b1c0de.Zk4Rk1dXQ5s+Yq==@mail.example.net>", listing_error::none},
        {"<a@b> at the start", "<a@b>", listing_error::none},
        {"Dovecot (Debian) ready.", "", listing_error::no_timestamp},
        {"The Microsoft Exchange POP3 service is ready. [UABSADAAUAAyADgA]", "", listing_error::no_timestamp},
        {"", "", listing_error::no_timestamp},
        {"ready <1896.697170952@dbc", "", listing_error::bad_timestamp},
        {"ready <no-at-sign>", "", listing_error::bad_timestamp},
        {"ready <@host>", "", listing_error::bad_timestamp},
        {"ready <local@>", "", listing_error::bad_timestamp},
        {"ready <a b@c>", "", listing_error::bad_timestamp},
        {"ready <a<b@c>", "", listing_error::bad_timestamp},
        {"ready <>", "", listing_error::bad_timestamp},
    };
    for (const row& r : rows) {
        const auto t = find_apop_timestamp(r.greeting);
        EXPECT_EQ(t.error, r.error) << r.greeting;
        EXPECT_EQ(t.value, r.timestamp) << r.greeting;
    }
}

} // namespace
