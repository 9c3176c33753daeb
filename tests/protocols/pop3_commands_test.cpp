// POP3 command builders: exact bytes of every command, the RFC 1939 APOP digest, and refusal
// of arguments that would inject a second command (the buffer must stay untouched).
#include "protocols/pop3/commands.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace protocols::pop3;

TEST(Pop3Commands, ArgumentlessCommands)
{
    std::string out;
    append_capa(out);
    append_stls(out);
    append_stat(out);
    append_list(out);
    append_uidl(out);
    append_rset(out);
    append_noop(out);
    append_quit(out);
    append_sasl_cancel(out);
    EXPECT_EQ(out, "CAPA\r\nSTLS\r\nSTAT\r\nLIST\r\nUIDL\r\nRSET\r\nNOOP\r\nQUIT\r\n*\r\n");
}

TEST(Pop3Commands, NumberedCommands)
{
    std::string out;
    EXPECT_EQ(append_list(out, 1), command_error::none);
    EXPECT_EQ(append_uidl(out, 42), command_error::none);
    EXPECT_EQ(append_top(out, 7, 0), command_error::none);
    EXPECT_EQ(append_top(out, 4294967295u, 10), command_error::none);
    EXPECT_EQ(append_retr(out, 2), command_error::none);
    EXPECT_EQ(append_dele(out, 2), command_error::none);
    EXPECT_EQ(out, "LIST 1\r\nUIDL 42\r\nTOP 7 0\r\nTOP 4294967295 10\r\nRETR 2\r\nDELE 2\r\n");

    std::string untouched = "keep";
    EXPECT_EQ(append_list(untouched, 0), command_error::bad_message_number);
    EXPECT_EQ(append_uidl(untouched, 0), command_error::bad_message_number);
    EXPECT_EQ(append_top(untouched, 0, 0), command_error::bad_message_number);
    EXPECT_EQ(append_retr(untouched, 0), command_error::bad_message_number);
    EXPECT_EQ(append_dele(untouched, 0), command_error::bad_message_number);
    EXPECT_EQ(untouched, "keep");
}

TEST(Pop3Commands, UserAndPass)
{
    std::string out;
    EXPECT_EQ(append_user(out, "probe@example.net"), command_error::none);
    EXPECT_EQ(append_pass(out, "correct horse battery staple"), command_error::none);
    EXPECT_EQ(out, "USER probe@example.net\r\nPASS correct horse battery staple\r\n");
}

TEST(Pop3Commands, Rfc1939ApopExample)
{
    // RFC 1939 section 7: shared secret "tanstaaf".
    std::string out;
    EXPECT_EQ(append_apop(out, "mrose", "<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"), command_error::none);
    EXPECT_EQ(out, "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n");
}

TEST(Pop3Commands, Auth)
{
    std::string out;
    EXPECT_EQ(append_auth(out, "XOAUTH2"), command_error::none);
    EXPECT_EQ(append_auth(out, "PLAIN", "AHByb2JlAHNlY3JldA=="), command_error::none);
    EXPECT_EQ(append_auth(out, "EXTERNAL", ""), command_error::none);
    EXPECT_EQ(append_auth(out, "SCRAM-SHA-256"), command_error::none);
    EXPECT_EQ(append_sasl_response(out, "dGVzdA=="), command_error::none);
    EXPECT_EQ(append_sasl_response(out, ""), command_error::none);
    EXPECT_EQ(out, "AUTH XOAUTH2\r\nAUTH PLAIN AHByb2JlAHNlY3JldA==\r\nAUTH EXTERNAL =\r\n"
                   "AUTH SCRAM-SHA-256\r\ndGVzdA==\r\n\r\n");
}

TEST(Pop3Commands, AuthInitialResponseLimitIs255Octets)
{
    // "AUTH PLAIN " is 11 octets and CRLF 2: 242 octets of response fill the line exactly.
    std::string out;
    EXPECT_EQ(append_auth(out, "PLAIN", std::string(242, 'A')), command_error::none);
    EXPECT_EQ(out.size(), 255u);
    std::string untouched;
    EXPECT_EQ(append_auth(untouched, "PLAIN", std::string(243, 'A')), command_error::too_long);
    EXPECT_TRUE(untouched.empty());
    // The fallback: no initial response, then the response answers the empty challenge.
    EXPECT_EQ(append_auth(untouched, "PLAIN"), command_error::none);
    EXPECT_EQ(append_sasl_response(untouched, std::string(243, 'A')), command_error::none);
}

TEST(Pop3Commands, RefusesInjection)
{
    struct row {
        const char* name;
        command_error (*build)(std::string&);
        command_error expected;
    };
    using namespace std::string_view_literals;
    const row rows[] = {
        {"USER CRLF", [](std::string& o) { return append_user(o, "a\r\nDELE 1"); }, command_error::forbidden_character},
        {"USER LF", [](std::string& o) { return append_user(o, "a\nQUIT"); }, command_error::forbidden_character},
        {"USER CR", [](std::string& o) { return append_user(o, "a\rb"); }, command_error::forbidden_character},
        {"USER NUL", [](std::string& o) { return append_user(o, "a\0b"sv); }, command_error::forbidden_character},
        {"USER space", [](std::string& o) { return append_user(o, "a b"); }, command_error::forbidden_character},
        {"USER empty", [](std::string& o) { return append_user(o, ""); }, command_error::empty_argument},
        {"PASS CRLF", [](std::string& o) { return append_pass(o, "pw\r\nDELE 1"); }, command_error::forbidden_character},
        {"PASS NUL", [](std::string& o) { return append_pass(o, "pw\0"sv); }, command_error::forbidden_character},
        {"PASS empty", [](std::string& o) { return append_pass(o, ""); }, command_error::empty_argument},
        {"APOP name space", [](std::string& o) { return append_apop(o, "a b", "<1@x>", "s"); },
         command_error::forbidden_character},
        {"APOP timestamp CRLF", [](std::string& o) { return append_apop(o, "a", "<1@x>\r\nDELE 1 <", "s"); },
         command_error::bad_timestamp},
        {"APOP timestamp unbracketed", [](std::string& o) { return append_apop(o, "a", "1@x", "s"); },
         command_error::bad_timestamp},
        {"APOP timestamp empty", [](std::string& o) { return append_apop(o, "a", "", "s"); },
         command_error::bad_timestamp},
        {"AUTH mechanism space", [](std::string& o) { return append_auth(o, "PLAIN X"); }, command_error::bad_mechanism},
        {"AUTH mechanism CRLF", [](std::string& o) { return append_auth(o, "PLAIN\r\nQUIT"); },
         command_error::bad_mechanism},
        {"AUTH mechanism empty", [](std::string& o) { return append_auth(o, ""); }, command_error::bad_mechanism},
        {"AUTH mechanism 21 chars", [](std::string& o) { return append_auth(o, "ABCDEFGHIJKLMNOPQRSTU"); },
         command_error::bad_mechanism},
        {"AUTH response CRLF", [](std::string& o) { return append_auth(o, "PLAIN", "AA==\r\nQUIT"); },
         command_error::forbidden_character},
        {"AUTH response space", [](std::string& o) { return append_auth(o, "PLAIN", "AA== x"); },
         command_error::forbidden_character},
        {"SASL response CRLF", [](std::string& o) { return append_sasl_response(o, "AA==\r\nQUIT"); },
         command_error::forbidden_character},
        {"SASL response NUL", [](std::string& o) { return append_sasl_response(o, "AA\0"sv); },
         command_error::forbidden_character},
    };
    for (const row& r : rows) {
        std::string out = "before";
        EXPECT_EQ(r.build(out), r.expected) << r.name;
        EXPECT_EQ(out, "before") << r.name;
    }
    // The secret is hashed, never sent, so any byte is fine in it.
    std::string out;
    EXPECT_EQ(append_apop(out, "a", "<1@x>", "se\r\ncret"), command_error::none);
    EXPECT_EQ(out.find('\r'), out.size() - 2);
}

} // namespace
