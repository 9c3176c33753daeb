// Typed IMAP readers: status, codes, CAPABILITY, LIST with special-use, SEARCH / ESEARCH,
// FETCH items, over Dovecot-, Cyrus-, Gmail- and Exchange-style transcripts (each fed at every
// split through expect_split_invariant) and targeted edge cases.
#include "protocols/common/sanitize.h"
#include "protocols/imap/responses.h"
#include "tests/support/split_feeder.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace {

using namespace protocols::imap;
using protocols::parse_status;

const char* condition_name(condition c)
{
    switch (c) {
    case condition::none: return "none";
    case condition::ok: return "OK";
    case condition::no: return "NO";
    case condition::bad: return "BAD";
    case condition::preauth: return "PREAUTH";
    case condition::bye: return "BYE";
    }
    return "?";
}

// One line per response, through every reader that applies.
std::string describe(const response& r)
{
    std::string out = std::string(tag_of(r)) + " ";
    if (condition_of(r) != condition::none || r.kind() == response_kind::continuation) {
        resp_text t = text_of(r);
        out += condition_name(condition_of(r));
        if (!t.code.empty()) {
            out += " [" + std::string(t.code) + "|" + std::string(t.code_args) + "]";
            if (auto n = code_number(t)) {
                out += " #" + std::to_string(*n);
            }
        }
        out += " \"" + protocols::printable(t.text) + "\"";
    } else if (auto d = data_of(r)) {
        out += std::string(d->name);
        if (d->number) {
            out += " n=" + std::to_string(*d->number);
        }
    }
    if (auto caps = capability_text(r); !caps.empty()) {
        out += " caps{" + std::string(caps) + "}";
        out += list_contains(caps, "idle") ? " idle" : "";
        out += has_auth_mechanism(caps, "plain") ? " plain" : "";
    }
    if (auto e = list_entry_of(r)) {
        std::string name;
        append_string(e->name_type, e->name_raw, name);
        out += " list{" + std::to_string(e->attributes) + "|" + std::string(e->attributes_raw) + "|" +
               (e->delimiter ? std::string(1, e->delimiter) : "NIL") + "|" + name + "}";
    }
    std::vector<std::uint32_t> numbers;
    if (search_results(r, numbers)) {
        out += " search{";
        for (auto n : numbers) {
            out += std::to_string(n) + ",";
        }
        out += "}";
    }
    if (auto s = fetch_summary_of(r)) {
        out += " fetch{uid=" + (s->uid ? std::to_string(*s->uid) : "-") +
               " size=" + (s->rfc822_size ? std::to_string(*s->rfc822_size) : "-") + " date=" +
               std::string(s->internal_date) + " flags=" + std::string(s->flags) + " " +
               std::string(s->section_name) + "=" + std::to_string(s->section.size()) + "B}";
    }
    return out + "\n";
}

std::function<test_support::parse_step()> steps()
{
    return [] {
        auto parser = std::make_shared<response_parser>();
        return [parser](std::string_view buf, std::string& log) {
            parse_status st = parser->parse(buf);
            if (st.complete()) {
                log += describe(parser->result(buf));
            }
            return st;
        };
    };
}

// Parses exactly one response and hands it to `check`.
template <typename F>
void with_response(std::string_view input, F check)
{
    response_parser p;
    parse_status st = p.parse(input);
    ASSERT_TRUE(st.complete()) << input;
    ASSERT_EQ(st.consumed, input.size());
    check(p.result(input));
}

TEST(ImapResponses, DovecotSession)
{
    const std::string header = "Received: from a\r\nSubject: probe 42\r\n\r\n";
    const std::string input =
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
        "Dovecot (Debian) ready.\r\n"
        "A0001 OK [CAPABILITY IMAP4rev1 IDLE SPECIAL-USE UIDPLUS] Logged in\r\n"
        "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"
        "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Messages\"\r\n"
        "* LIST (\\Noselect \\HasChildren) NIL \"\"\r\n"
        "A0002 OK List completed (0.001 + 0.000 secs).\r\n"
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        "* 3 EXISTS\r\n"
        "* 0 RECENT\r\n"
        "* OK [UIDVALIDITY 1712345678] UIDs valid\r\n"
        "* OK [UIDNEXT 4] Predicted next UID\r\n"
        "A0003 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
        "* SEARCH 3\r\n"
        "A0004 OK Search completed (0.001 + 0.000 secs).\r\n"
        "* 3 FETCH (UID 3 INTERNALDATE \"05-Mar-2024 10:11:12 +0000\" RFC822.SIZE 1234 "
        "FLAGS (\\Seen \\Recent) BODY[HEADER] {" + std::to_string(header.size()) + "}\r\n" + header + ")\r\n"
        "A0005 OK Fetch completed (0.001 + 0.000 secs).\r\n"
        "A0006 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        "* BYE Logging out\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
              "* OK [CAPABILITY|IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] "
              "\"Dovecot (Debian) ready.\" caps{IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
              "STARTTLS AUTH=PLAIN} idle plain\n"
              "A0001 OK [CAPABILITY|IMAP4rev1 IDLE SPECIAL-USE UIDPLUS] \"Logged in\" caps{IMAP4rev1 IDLE "
              "SPECIAL-USE UIDPLUS} idle\n"
              "* LIST list{8224|\\HasNoChildren \\Junk|/|Junk}\n"
              "* LIST list{16416|\\HasNoChildren \\Sent|/|Sent Messages}\n"
              "* LIST list{18|\\Noselect \\HasChildren|NIL|}\n"
              "A0002 OK \"List completed (0.001 + 0.000 secs).\"\n"
              "* FLAGS\n"
              "* EXISTS n=3\n"
              "* RECENT n=0\n"
              "* OK [UIDVALIDITY|1712345678] #1712345678 \"UIDs valid\"\n"
              "* OK [UIDNEXT|4] #4 \"Predicted next UID\"\n"
              "A0003 OK [READ-WRITE|] \"Select completed (0.001 + 0.000 secs).\"\n"
              "* SEARCH search{3,}\n"
              "A0004 OK \"Search completed (0.001 + 0.000 secs).\"\n"
              "* FETCH n=3 fetch{uid=3 size=1234 date=05-Mar-2024 10:11:12 +0000 flags=\\Seen \\Recent "
              "BODY[HEADER]=" + std::to_string(header.size()) + "B}\n"
              "A0005 OK \"Fetch completed (0.001 + 0.000 secs).\"\n"
              "A0006 NO [AUTHENTICATIONFAILED|] \"Authentication failed.\"\n"
              "* BYE \"Logging out\"\n");
}

TEST(ImapResponses, GmailExchangeAndCyrus)
{
    const std::string input =
        "* OK Gimap ready for requests from 192.0.2.7 x1mb2\r\n"
        "* CAPABILITY IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR "
        "AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH\r\n"
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"[Gmail]/Spam\"\r\n"
        "* LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"\r\n"
        "* LIST (\\HasNoChildren \\Trash) \"/\" \"[Gmail]/Trash\"\r\n"
        "* OK The Microsoft Exchange IMAP4 service is ready.\r\n"
        "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk Email\"\r\n"
        "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"
        "* 1 FETCH (UID 17 RFC822.SIZE 5120 BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)] {21}\r\n"
        "Subject: probe 77\r\n\r\n)\r\n"
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR] imap.example.net "
        "Cyrus IMAP 3.6.1 server ready\r\n"
        "* ESEARCH (TAG \"A0007\") UID COUNT 2 ALL 4,9\r\n";
    EXPECT_EQ(test_support::expect_split_invariant(input, steps()),
              "* OK \"Gimap ready for requests from 192.0.2.7 x1mb2\"\n"
              "* CAPABILITY caps{IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY "
              "SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH} idle plain\n"
              "* LIST list{8224|\\HasNoChildren \\Junk|/|[Gmail]/Spam}\n"
              "* LIST list{544|\\All \\HasNoChildren|/|[Gmail]/All Mail}\n"
              "* LIST list{32800|\\HasNoChildren \\Trash|/|[Gmail]/Trash}\n"
              "* OK \"The Microsoft Exchange IMAP4 service is ready.\"\n"
              "* LIST list{8224|\\HasNoChildren \\Junk|/|Junk Email}\n"
              "* LIST list{2080|\\HasNoChildren \\Drafts|/|Drafts}\n"
              "* FETCH n=1 fetch{uid=17 size=5120 date= flags= "
              "BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)]=21B}\n"
              "* OK [CAPABILITY|IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR] \"imap.example.net "
              "Cyrus IMAP 3.6.1 server ready\" caps{IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR} plain\n"
              "* ESEARCH\n");
}

TEST(ImapResponses, ListNamesQuotedEscapedAndLiteral)
{
    with_response("* LIST (\\HasNoChildren) \"\\\\\" \"a\\\"b\"\r\n", [](const response& r) {
        auto e = list_entry_of(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->delimiter, '\\');
        EXPECT_EQ(e->name_type, token_type::quoted);
        std::string name;
        append_string(e->name_type, e->name_raw, name);
        EXPECT_EQ(name, "a\"b");
    });
    with_response("* LSUB () \".\" {12}\r\nINBOX.&AOk-t\r\n", [](const response& r) {
        auto e = list_entry_of(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->name_type, token_type::literal);
        EXPECT_EQ(e->name_raw, "INBOX.&AOk-t");
    });
    with_response("* LIST (\\Junk \\X-Unknown \\important) \"/\" NIL\r\n", [](const response& r) {
        auto e = list_entry_of(r);
        ASSERT_TRUE(e);
        EXPECT_EQ(e->attributes, attr_junk | attr_important);
        EXPECT_EQ(e->name_raw, "NIL"); // a mailbox named NIL
    });
    with_response("* LIST (\"x\") \"/\" a\r\n", [](const response& r) { EXPECT_FALSE(list_entry_of(r)); });
    with_response("* LIST () \"ab\" a\r\n", [](const response& r) { EXPECT_FALSE(list_entry_of(r)); });
    with_response("* LIST ()\r\n", [](const response& r) { EXPECT_FALSE(list_entry_of(r)); });
    with_response("* 1 LIST () \"/\" a\r\n", [](const response& r) { EXPECT_FALSE(list_entry_of(r)); });
}

TEST(ImapResponses, SearchAndEsearch)
{
    with_response("* SEARCH 2 84 882 (MODSEQ 917162500)\r\n", [](const response& r) {
        std::vector<std::uint32_t> v{7};
        ASSERT_TRUE(search_results(r, v));
        EXPECT_EQ(v, (std::vector<std::uint32_t>{7, 2, 84, 882}));
    });
    with_response("* SEARCH 2 x\r\n", [](const response& r) {
        std::vector<std::uint32_t> v{7};
        EXPECT_FALSE(search_results(r, v));
        EXPECT_EQ(v, std::vector<std::uint32_t>{7});
    });
    with_response("* SEARCH 4294967296\r\n", [](const response& r) {
        std::vector<std::uint32_t> v;
        EXPECT_FALSE(search_results(r, v));
    });
    with_response("* ESEARCH (TAG \"A282\") UID MIN 2 MAX 11 COUNT 3 ALL 2,10:11 PARTIAL (1:2 5)\r\n",
                  [](const response& r) {
                      auto e = esearch_of(r);
                      ASSERT_TRUE(e);
                      EXPECT_EQ(e->tag, "A282");
                      EXPECT_TRUE(e->uid);
                      EXPECT_EQ(e->min, 2u);
                      EXPECT_EQ(e->max, 11u);
                      EXPECT_EQ(e->count, 3u);
                      EXPECT_EQ(e->all, "2,10:11");
                      std::vector<std::uint32_t> v;
                      ASSERT_TRUE(expand_sequence_set(e->all, v, 100));
                      EXPECT_EQ(v, (std::vector<std::uint32_t>{2, 10, 11}));
                  });
    with_response("* ESEARCH (TAG \"A1\")\r\n", [](const response& r) {
        auto e = esearch_of(r);
        ASSERT_TRUE(e);
        EXPECT_FALSE(e->uid);
        EXPECT_FALSE(e->count);
    });
    with_response("* ESEARCH COUNT x\r\n", [](const response& r) { EXPECT_FALSE(esearch_of(r)); });
    std::vector<std::uint32_t> v;
    EXPECT_FALSE(expand_sequence_set("1:1000", v, 999));
    EXPECT_TRUE(v.empty());
    EXPECT_TRUE(expand_sequence_set("5:3", v, 3));
    EXPECT_EQ(v, (std::vector<std::uint32_t>{3, 4, 5}));
    for (const char* bad : {"", "0", "1,", ",1", "1:", "a", "1:*", "1::2"}) {
        std::vector<std::uint32_t> w;
        EXPECT_FALSE(expand_sequence_set(bad, w, 100)) << bad;
    }
}

TEST(ImapResponses, StatusAndCodes)
{
    with_response("* PREAUTH [CAPABILITY IMAP4rev2] Logged in as cyrus\r\n", [](const response& r) {
        EXPECT_EQ(condition_of(r), condition::preauth);
        EXPECT_EQ(capability_text(r), "IMAP4rev2");
        EXPECT_FALSE(data_of(r));
    });
    with_response("* OK [ALERT] System shutdown in 10 minutes\r\n", [](const response& r) {
        resp_text t = text_of(r);
        EXPECT_EQ(t.code, "ALERT");
        EXPECT_EQ(t.code_args, "");
        EXPECT_FALSE(code_number(t));
        EXPECT_EQ(t.text, "System shutdown in 10 minutes");
    });
    with_response("A1 bad [PARSE] bad\r\n", [](const response& r) {
        EXPECT_EQ(r.kind(), response_kind::tagged);
        EXPECT_EQ(tag_of(r), "A1");
        EXPECT_EQ(condition_of(r), condition::bad);
    });
    with_response("+ \r\n", [](const response& r) {
        EXPECT_EQ(r.kind(), response_kind::continuation);
        EXPECT_EQ(condition_of(r), condition::none);
        EXPECT_EQ(text_of(r).text, "");
    });
    with_response("* 5 EXPUNGE\r\n", [](const response& r) {
        auto d = data_of(r);
        ASSERT_TRUE(d);
        EXPECT_EQ(d->number, 5u);
        EXPECT_EQ(d->name, "EXPUNGE");
        EXPECT_EQ(capability_text(r), "");
    });
    with_response("* 99999999999 EXISTS\r\n", [](const response& r) { EXPECT_FALSE(data_of(r)); });
    EXPECT_EQ(to_number("18446744073709551615"), 18446744073709551615ull);
    EXPECT_FALSE(to_number("18446744073709551616"));
    EXPECT_FALSE(to_number(""));
    EXPECT_FALSE(to_number("-1"));
}

TEST(ImapResponses, FetchItems)
{
    with_response("* 7 FETCH (FLAGS () BODY[]<0> {3}\r\nabc BINARY[1] ~{2}\r\nxy "
                  "BODY[TEXT] \"q\\\"x\" ENVELOPE (NIL \"s\") X NIL)\r\n",
                  [](const response& r) {
                      fetch_reader f(r);
                      ASSERT_TRUE(f.valid());
                      EXPECT_EQ(f.message_number(), 7u);
                      std::string log;
                      while (auto item = f.next()) {
                          log += std::string(item->name) + "=" + std::string(item->value) + ";";
                      }
                      EXPECT_TRUE(f.valid());
                      EXPECT_EQ(log, "FLAGS=;BODY[]<0>=abc;BINARY[1]=xy;BODY[TEXT]=q\\\"x;"
                                     "ENVELOPE=NIL \"s\";X=NIL;");
                      auto s = fetch_summary_of(r);
                      ASSERT_TRUE(s);
                      EXPECT_EQ(s->section_name, "BODY[]<0>");
                      EXPECT_EQ(s->section_type, token_type::literal);
                      EXPECT_EQ(s->section, "abc");
                      EXPECT_FALSE(s->uid);
                  });
    with_response("* 1 FETCH (UID x)\r\n", [](const response& r) { EXPECT_FALSE(fetch_summary_of(r)); });
    with_response("* 1 FETCH (UID)\r\n", [](const response& r) { EXPECT_FALSE(fetch_summary_of(r)); });
    with_response("* 1 FETCH (\"UID\" 5)\r\n", [](const response& r) { EXPECT_FALSE(fetch_summary_of(r)); });
    with_response("* 1 FETCH (INTERNALDATE NIL)\r\n", [](const response& r) { EXPECT_FALSE(fetch_summary_of(r)); });
    with_response("* 1 FETCH (BODY[HEADER] NIL)\r\n", [](const response& r) {
        auto s = fetch_summary_of(r);
        ASSERT_TRUE(s);
        EXPECT_EQ(s->section_type, token_type::nil);
        EXPECT_EQ(s->section, "");
    });
    with_response("* FETCH (UID 1)\r\n", [](const response& r) { EXPECT_FALSE(fetch_reader(r).valid()); });
    with_response("* 1 FETCH UID\r\n", [](const response& r) { EXPECT_FALSE(fetch_reader(r).valid()); });
}

} // namespace
