// protocols::smtp command builders and DATA dot-stuffing: the exact bytes of each command,
// refusal (with the buffer untouched) of every argument that could inject a command, and the
// dot-stuffing cases, including that any chunking of the message gives the same output.
#include "protocols/smtp/commands.h"
#include "protocols/smtp/dot_stuffing.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace protocols::smtp;
using namespace std::string_view_literals;

TEST(SmtpCommands, SimpleCommands)
{
    std::string out;
    EXPECT_EQ(append_ehlo(out, "client.example.com"), command_error::none);
    EXPECT_EQ(append_helo(out, "[127.0.0.1]"), command_error::none);
    append_starttls(out);
    append_data(out);
    append_rset(out);
    append_noop(out);
    append_quit(out);
    append_sasl_cancel(out);
    EXPECT_EQ(out,
        "EHLO client.example.com\r\nHELO [127.0.0.1]\r\nSTARTTLS\r\nDATA\r\nRSET\r\nNOOP\r\nQUIT\r\n*\r\n");
}

TEST(SmtpCommands, MailFromWithOptions)
{
    std::string out;
    EXPECT_EQ(append_mail_from(out, "probe@example.org"), command_error::none);
    EXPECT_EQ(append_mail_from(out, ""), command_error::none);
    EXPECT_EQ(append_mail_from(out, "probe@example.org", {.size = 1234, .body_8bitmime = true}),
        command_error::none);
    EXPECT_EQ(append_mail_from(out, "jos\xC3\xA9@example.org", {.size = 0, .smtputf8 = true}), command_error::none);
    EXPECT_EQ(out,
        "MAIL FROM:<probe@example.org>\r\n"
        "MAIL FROM:<>\r\n"
        "MAIL FROM:<probe@example.org> SIZE=1234 BODY=8BITMIME\r\n"
        "MAIL FROM:<jos\xC3\xA9@example.org> SIZE=0 SMTPUTF8\r\n");
}

TEST(SmtpCommands, RcptTo)
{
    std::string out;
    EXPECT_EQ(append_rcpt_to(out, "Postmaster"), command_error::none);
    EXPECT_EQ(append_rcpt_to(out, "user@example.com"), command_error::none);
    EXPECT_EQ(append_rcpt_to(out, "j\xC3\xBCrgen@example.de", {.smtputf8 = true}), command_error::none);
    EXPECT_EQ(out, "RCPT TO:<Postmaster>\r\nRCPT TO:<user@example.com>\r\nRCPT TO:<j\xC3\xBCrgen@example.de>\r\n");
    EXPECT_EQ(append_rcpt_to(out, ""), command_error::empty_argument);
}

TEST(SmtpCommands, Auth)
{
    std::string out;
    EXPECT_EQ(append_auth(out, "LOGIN"), command_error::none);
    EXPECT_EQ(append_auth(out, "PLAIN", "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"sv), command_error::none);
    EXPECT_EQ(append_auth(out, "EXTERNAL", "="sv), command_error::none);
    EXPECT_EQ(append_sasl_response(out, "dGlt"), command_error::none);
    EXPECT_EQ(append_sasl_response(out, ""), command_error::none);
    EXPECT_EQ(out, "AUTH LOGIN\r\nAUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\nAUTH EXTERNAL =\r\ndGlt\r\n\r\n");
    // A long XOAUTH2 token fits under RFC 4954's 12288-octet AUTH line, not under 512.
    std::string token(4000, 'A');
    EXPECT_EQ(append_auth(out, "XOAUTH2", std::string_view(token)), command_error::none);
    std::string huge(12284, 'A');
    EXPECT_EQ(append_auth(out, "XOAUTH2", std::string_view(huge)), command_error::line_too_long);
}

struct refused_case {
    const char* name;
    command_error expected;
    command_error (*build)(std::string&);
};

TEST(SmtpCommands, InjectionAndBadArgumentsAreRefusedWithoutWriting)
{
    const refused_case cases[] = {
        {"CRLF in MAIL FROM", command_error::forbidden_character,
            [](std::string& o) { return append_mail_from(o, "a@b>\r\nRCPT TO:<victim@c"); }},
        {"LF in RCPT TO", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "a@b\nDATA"); }},
        {"bare CR in RCPT TO", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "a@b\rx"); }},
        {"NUL in address", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "a\0b@c"sv); }},
        {"'>' closes the path early", command_error::forbidden_character,
            [](std::string& o) { return append_mail_from(o, "a@b> SIZE=1"); }},
        {"'<' in address", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "<a@b>"); }},
        {"space in address", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "john doe@example.com"); }},
        {"tab in address", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "a\t@b"); }},
        {"DEL in address", command_error::forbidden_character,
            [](std::string& o) { return append_rcpt_to(o, "a\x7f@b"); }},
        {"UTF-8 without SMTPUTF8", command_error::needs_smtputf8,
            [](std::string& o) { return append_mail_from(o, "jos\xC3\xA9@example.org"); }},
        {"UTF-8 recipient without SMTPUTF8", command_error::needs_smtputf8,
            [](std::string& o) { return append_rcpt_to(o, "j\xC3\xBCrgen@example.de"); }},
        {"CRLF in EHLO", command_error::forbidden_character,
            [](std::string& o) { return append_ehlo(o, "host\r\nMAIL FROM:<x@y>"); }},
        {"space in EHLO", command_error::forbidden_character,
            [](std::string& o) { return append_ehlo(o, "my host"); }},
        {"UTF-8 in EHLO", command_error::forbidden_character,
            [](std::string& o) { return append_helo(o, "b\xC3\xBC" "cher.example"); }},
        {"empty EHLO", command_error::empty_argument, [](std::string& o) { return append_ehlo(o, ""); }},
        {"long EHLO", command_error::line_too_long,
            [](std::string& o) { return append_ehlo(o, std::string(506, 'a')); }},
        {"long MAIL FROM", command_error::line_too_long,
            [](std::string& o) { return append_mail_from(o, std::string(499, 'a'), {.size = 1}); }},
        {"long RCPT TO", command_error::line_too_long,
            [](std::string& o) { return append_rcpt_to(o, std::string(501, 'a')); }},
        {"space in mechanism", command_error::forbidden_character,
            [](std::string& o) { return append_auth(o, "PLAIN X"); }},
        {"CRLF in mechanism", command_error::forbidden_character,
            [](std::string& o) { return append_auth(o, "PLAIN\r\nQUIT"); }},
        {"long mechanism", command_error::line_too_long,
            [](std::string& o) { return append_auth(o, "ABCDEFGHIJKLMNOPQRSTU"); }},
        {"empty mechanism", command_error::empty_argument, [](std::string& o) { return append_auth(o, ""); }},
        {"empty initial response", command_error::empty_argument,
            [](std::string& o) { return append_auth(o, "PLAIN", ""sv); }},
        {"raw initial response", command_error::not_base64,
            [](std::string& o) { return append_auth(o, "PLAIN", "user pass"sv); }},
        {"CRLF in initial response", command_error::not_base64,
            [](std::string& o) { return append_auth(o, "PLAIN", "dGlt\r\nQUIT"sv); }},
        {"padding inside", command_error::not_base64,
            [](std::string& o) { return append_sasl_response(o, "dG=t"); }},
        {"CRLF in SASL response", command_error::not_base64,
            [](std::string& o) { return append_sasl_response(o, "dGlt\r\nQUIT\r\n"); }},
    };
    for (const refused_case& c : cases) {
        SCOPED_TRACE(c.name);
        std::string out = "NOOP\r\n";
        EXPECT_EQ(c.build(out), c.expected) << describe(c.expected);
        EXPECT_EQ(out, "NOOP\r\n");
    }
}

TEST(SmtpCommands, LengthLimitsAreExact)
{
    std::string out;
    EXPECT_EQ(append_ehlo(out, std::string(505, 'a')), command_error::none);
    EXPECT_EQ(out.size(), 512u);
    out.clear();
    EXPECT_EQ(append_rcpt_to(out, std::string(500, 'a')), command_error::none);
    EXPECT_EQ(out.size(), 512u);
    out.clear();
    EXPECT_EQ(append_mail_from(out, std::string(468, 'a'), {.size = 1, .body_8bitmime = true, .smtputf8 = true}),
        command_error::none);
    EXPECT_EQ(out.size(), 512u);
    out.clear();
    EXPECT_EQ(append_mail_from(out, std::string(469, 'a'), {.size = 1, .body_8bitmime = true, .smtputf8 = true}),
        command_error::line_too_long);
}

std::string stuffed(std::string_view message)
{
    std::string out;
    append_dot_stuffed(out, message);
    return out;
}

TEST(SmtpDotStuffing, Cases)
{
    struct dot_case {
        std::string_view in;
        std::string_view out;
    };
    const dot_case cases[] = {
        {"", ".\r\n"},
        {"hello\r\n", "hello\r\n.\r\n"},
        {"hello", "hello\r\n.\r\n"},
        {"a\nb\n", "a\r\nb\r\n.\r\n"},
        {"a\rb\r", "a\r\nb\r\n.\r\n"},
        {"a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
        {"a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
        {".\r\n", "..\r\n.\r\n"},
        {".", "..\r\n.\r\n"},
        {"..x", "...x\r\n.\r\n"},
        {"a\r\n.\r\nb", "a\r\n..\r\nb\r\n.\r\n"},
        {"a\n.hidden\n", "a\r\n..hidden\r\n.\r\n"},
        {"a\r.b", "a\r\n..b\r\n.\r\n"},
        {"x.y\r\n a.\r\n", "x.y\r\n a.\r\n.\r\n"},
        {"\r\n\r\n", "\r\n\r\n.\r\n"},
        {"Subject: t\r\n\r\nbody\r\n.\r\n", "Subject: t\r\n\r\nbody\r\n..\r\n.\r\n"},
    };
    for (const dot_case& c : cases) {
        SCOPED_TRACE(std::string(c.in));
        EXPECT_EQ(stuffed(c.in), c.out);
    }
}

TEST(SmtpDotStuffing, SmugglingSequencesCannotEndTheData)
{
    // "\n.\n" and "\r.\r" end the data on lenient servers (SMTP smuggling); here they become
    // a stuffed ".." line, so the only terminator is ours.
    std::string out = stuffed("Subject: x\r\n\r\nbody\n.\nMAIL FROM:<evil@x>\r.\rRCPT TO:<v@y>\r\n");
    EXPECT_EQ(out, "Subject: x\r\n\r\nbody\r\n..\r\nMAIL FROM:<evil@x>\r\n..\r\nRCPT TO:<v@y>\r\n.\r\n");
    EXPECT_EQ(out.find("\r\n.\r\n"), out.size() - 5);
}

TEST(SmtpDotStuffing, AnyChunkingGivesTheSameOutput)
{
    const std::string message = "From: a@b\r\n.dot\nbare LF\rbare CR\r\n..two\r\r\n\n.\r\nend.";
    const std::string whole = stuffed(message);
    for (std::size_t cut = 0; cut <= message.size(); ++cut) {
        for (std::size_t cut2 = cut; cut2 <= message.size(); ++cut2) {
            std::string out;
            dot_stuffer s;
            s.append(out, std::string_view(message).substr(0, cut));
            s.append(out, std::string_view(message).substr(cut, cut2 - cut));
            s.append(out, std::string_view(message).substr(cut2));
            s.finish(out);
            ASSERT_EQ(out, whole) << "cuts at " << cut << " and " << cut2;
        }
    }
    // finish() readies the encoder for the next message.
    std::string out;
    dot_stuffer s;
    s.append(out, "a\r");
    s.finish(out);
    s.append(out, ".b");
    s.finish(out);
    EXPECT_EQ(out, "a\r\n.\r\n..b\r\n.\r\n");
}

} // namespace
