// IMAP command builder: tags, astring encoding (atom / quoted / literal, synchronizing or
// LITERAL+ / LITERAL-), every command the probe sends, and refusal of CR, LF and NUL.
#include "protocols/imap/commands.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace protocols::imap;

std::string one(const command& c)
{
    EXPECT_EQ(c.chunks.size(), 1u);
    return c.chunks.empty() ? std::string() : c.chunks[0];
}

TEST(ImapCommands, TagsCountUp)
{
    command_builder b;
    EXPECT_EQ(b.next_tag(), "A0001");
    EXPECT_EQ(one(b.capability()), "A0001 CAPABILITY\r\n");
    EXPECT_EQ(one(b.starttls()), "A0002 STARTTLS\r\n");
    EXPECT_EQ(one(b.noop()), "A0003 NOOP\r\n");
    EXPECT_EQ(b.noop().tag, "A0004");
    for (int i = 0; i < 9995; ++i) {
        b.noop();
    }
    EXPECT_EQ(b.next_tag(), "A10000");
}

TEST(ImapCommands, SimpleCommands)
{
    command_builder b;
    EXPECT_EQ(one(b.list_special_use()), "A0001 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n");
    EXPECT_EQ(one(b.idle()), "A0002 IDLE\r\n");
    EXPECT_EQ(idle_done(), "DONE\r\n");
    EXPECT_EQ(one(b.expunge()), "A0003 EXPUNGE\r\n");
    EXPECT_EQ(one(b.close()), "A0004 CLOSE\r\n");
    EXPECT_EQ(one(b.logout()), "A0005 LOGOUT\r\n");
    EXPECT_EQ(one(*b.select("INBOX")), "A0006 SELECT INBOX\r\n");
    EXPECT_EQ(one(*b.examine("[Gmail]/Spam")), "A0007 EXAMINE [Gmail]/Spam\r\n");
    EXPECT_EQ(one(*b.select("Junk Email")), "A0008 SELECT \"Junk Email\"\r\n");
    EXPECT_EQ(one(*b.select("Courrier ind&AOk-sirable")), "A0009 SELECT \"Courrier ind&AOk-sirable\"\r\n");
    EXPECT_EQ(one(*b.select("")), "A0010 SELECT \"\"\r\n");
    EXPECT_EQ(one(*b.list("", "INBOX.%")), "A0011 LIST \"\" INBOX.%\r\n");
    EXPECT_EQ(one(*b.list("", "a b*")), "A0012 LIST \"\" \"a b*\"\r\n");
}

TEST(ImapCommands, UidCommands)
{
    command_builder b;
    EXPECT_EQ(one(*b.uid_search_header("X-Probe-Id", "0f3c-42")), "A0001 UID SEARCH HEADER X-Probe-Id 0f3c-42\r\n");
    EXPECT_EQ(one(*b.uid_search_header("Subject", "probe \"7\"")),
              "A0002 UID SEARCH HEADER Subject \"probe \\\"7\\\"\"\r\n");
    EXPECT_EQ(one(*b.uid_fetch_headers("4:7,9")),
              "A0003 UID FETCH 4:7,9 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])\r\n");
    EXPECT_EQ(one(*b.uid_store_deleted("12")), "A0004 UID STORE 12 +FLAGS.SILENT (\\Deleted)\r\n");
    EXPECT_EQ(one(*b.uid_expunge("12,14:*")), "A0005 UID EXPUNGE 12,14:*\r\n");
    for (const char* bad : {"", "0", "1,", ":3", "1:2:3", "a", "1 2", "1\r\n"}) {
        EXPECT_FALSE(b.uid_fetch_headers(bad)) << bad;
        EXPECT_FALSE(b.uid_store_deleted(bad)) << bad;
        EXPECT_FALSE(b.uid_expunge(bad)) << bad;
    }
    EXPECT_FALSE(b.uid_search_header("Sub ject", "x"));
    EXPECT_TRUE(is_sequence_set("*"));
}

TEST(ImapCommands, WholeMessagesForBounces)
{
    command_builder b;
    EXPECT_EQ(one(*b.uid_search_text("p=acme-in;")), "A0001 UID SEARCH TEXT p=acme-in;\r\n");
    EXPECT_EQ(one(*b.uid_search_text("p=x y;")), "A0002 UID SEARCH TEXT \"p=x y;\"\r\n");
    EXPECT_EQ(one(*b.uid_fetch_messages("3,5")), "A0003 UID FETCH 3,5 (UID INTERNALDATE RFC822.SIZE BODY.PEEK[])\r\n");
    EXPECT_FALSE(b.uid_search_text("p=x\r\nA1 LOGOUT"));
    EXPECT_FALSE(b.uid_fetch_messages("0"));
    EXPECT_TRUE(is_sequence_set("1:*,10"));
}

TEST(ImapCommands, LoginQuotingAndLiterals)
{
    command_builder b;
    EXPECT_EQ(one(*b.login("probe@example.org", "s3cret")), "A0001 LOGIN probe@example.org s3cret\r\n");
    EXPECT_EQ(one(*b.login("probe", "a b\"c\\")), "A0002 LOGIN probe \"a b\\\"c\\\\\"\r\n");
    // 8-bit password without LITERAL+: the command waits for "+" before the literal bytes.
    auto c = b.login("probe", "p\xC3\xA4ss");
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->needs_continuation());
    ASSERT_EQ(c->chunks.size(), 2u);
    EXPECT_EQ(c->chunks[0], "A0003 LOGIN probe {5}\r\n");
    EXPECT_EQ(c->chunks[1], "p\xC3\xA4ss\r\n");
    b.set_literal_mode(literal_mode::plus);
    EXPECT_EQ(one(*b.login("probe", "p\xC3\xA4ss")), "A0004 LOGIN probe {5+}\r\np\xC3\xA4ss\r\n");
    // LITERAL-: non-synchronizing only up to 4096 bytes.
    b.set_literal_mode(literal_mode::minus);
    EXPECT_EQ(one(*b.uid_search_header("Subject", "\xC3\xA9t\xC3\xA9")),
              "A0005 UID SEARCH CHARSET UTF-8 HEADER Subject {5+}\r\n\xC3\xA9t\xC3\xA9\r\n");
    std::string big(4097, '\xC3');
    auto s = b.select(big);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->chunks.size(), 2u);
    EXPECT_EQ(s->chunks[0], "A0006 SELECT {4097}\r\n");
}

TEST(ImapCommands, RefusesInjection)
{
    command_builder b;
    const std::string nul("a\0b", 3);
    EXPECT_FALSE(b.login("probe\r\nA9 DELETE INBOX", "x"));
    EXPECT_FALSE(b.login("probe", "x\n"));
    EXPECT_FALSE(b.login(nul, "x"));
    EXPECT_FALSE(b.select("INBOX\r\nA2 LOGOUT"));
    EXPECT_FALSE(b.examine(nul));
    EXPECT_FALSE(b.list("", "\r"));
    EXPECT_FALSE(b.uid_search_header("Subject", "x\r\nA3 LOGOUT"));
    EXPECT_FALSE(b.authenticate("PLAIN\r\n"));
    EXPECT_FALSE(b.authenticate("PLAIN", "AGE=\r\n"));
    EXPECT_FALSE(sasl_response("abc\r\n"));
    // Refused commands use no tag.
    EXPECT_EQ(b.next_tag(), "A0001");
}

TEST(ImapCommands, Authenticate)
{
    command_builder b;
    EXPECT_EQ(one(*b.authenticate("PLAIN")), "A0001 AUTHENTICATE PLAIN\r\n");
    EXPECT_EQ(one(*b.authenticate("PLAIN", "AHByb2JlAHMzY3JldA==")),
              "A0002 AUTHENTICATE PLAIN AHByb2JlAHMzY3JldA==\r\n");
    EXPECT_EQ(one(*b.authenticate("EXTERNAL", "")), "A0003 AUTHENTICATE EXTERNAL =\r\n");
    EXPECT_FALSE(b.authenticate("PLAIN", "abc"));   // not a multiple of 4
    EXPECT_FALSE(b.authenticate("PLAIN", "a=bc"));  // padding in the middle
    EXPECT_EQ(sasl_response("dGVzdA=="), "dGVzdA==\r\n");
    EXPECT_EQ(sasl_response(""), "\r\n");
    EXPECT_EQ(sasl_cancel(), "*\r\n");
}

} // namespace
