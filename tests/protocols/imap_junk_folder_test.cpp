// Junk folder lookup: \Junk special-use first, then localized names after modified UTF-7
// decoding, case-insensitively, at the top level or under INBOX.
#include "protocols/imap/junk_folder.h"
#include "protocols/imap/responses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using namespace protocols::imap;

std::optional<std::string> junk_of(const std::vector<mailbox_info>& boxes)
{
    auto i = find_junk_folder(boxes);
    return i ? std::optional<std::string>(boxes[*i].name) : std::nullopt;
}

TEST(ImapJunkFolder, SpecialUseWins)
{
    EXPECT_EQ(junk_of({{"Spam", '/', attr_hasnochildren},
                       {"[Gmail]/Spam", '/', attr_hasnochildren | attr_junk},
                       {"INBOX", '/', 0}}),
              "[Gmail]/Spam");
    EXPECT_EQ(junk_of({{"Junk Email", '/', attr_junk}}), "Junk Email"); // Exchange
    // A \Junk folder that cannot be selected does not count.
    EXPECT_EQ(junk_of({{"Junk", '/', attr_junk | attr_noselect}, {"Spam", '/', 0}}), "Spam");
}

TEST(ImapJunkFolder, LocalizedNames)
{
    EXPECT_EQ(junk_of({{"INBOX", '.', 0}, {"INBOX.Unerw&APw-nscht", '.', 0}}), "INBOX.Unerw&APw-nscht");
    EXPECT_EQ(junk_of({{"Courrier ind&AOk-sirable", '/', 0}}), "Courrier ind&AOk-sirable");
    EXPECT_EQ(junk_of({{"COURRIER IND&AMk-SIRABLE", '/', 0}}), "COURRIER IND&AMk-SIRABLE"); // É folds to é
    EXPECT_EQ(junk_of({{"Posta indesiderata", '/', 0}}), "Posta indesiderata");
    EXPECT_EQ(junk_of({{"Correo no deseado", '/', 0}}), "Correo no deseado");
    EXPECT_EQ(junk_of({{"Ongewenste E-mail", '/', 0}}), "Ongewenste E-mail");
    EXPECT_EQ(junk_of({{"Skr&AOQ-ppost", '/', 0}}), "Skr&AOQ-ppost");
    EXPECT_EQ(junk_of({{"Junk-E-Mail", '/', 0}}), "Junk-E-Mail");
    EXPECT_EQ(junk_of({{"Bulk Mail", '/', 0}}), "Bulk Mail");
    EXPECT_EQ(junk_of({{"&j,dg0TDhMPww6w-", '/', 0}}), "&j,dg0TDhMPww6w-");
    EXPECT_EQ(junk_of({{"inbox/spam", '/', 0}}), "inbox/spam");
    EXPECT_EQ(junk_of({{"INBOX", '.', 0}, {"Archive", '.', 0}}), std::nullopt);
    // Only INBOX children count, and only with the mailbox's own delimiter.
    EXPECT_EQ(junk_of({{"Archive.Spam", '.', 0}, {"INBOX/Spam", '.', 0}}), std::nullopt);
    EXPECT_EQ(junk_of({{"Spammy", '/', 0}}), std::nullopt);
}

TEST(ImapJunkFolder, NameOrderAndTopLevelPreference)
{
    // "Junk" comes before "Spam" in the default list; a top-level name beats an INBOX child.
    EXPECT_EQ(junk_of({{"Spam", '/', 0}, {"Junk", '/', 0}}), "Junk");
    EXPECT_EQ(junk_of({{"INBOX/Junk", '/', 0}, {"Junk", '/', 0}}), "Junk");
    const std::string_view mine[] = {"Quarantaine"};
    std::vector<mailbox_info> boxes = {{"Junk", '/', 0}, {"INBOX.Quarantaine", '.', 0}};
    auto i = find_junk_folder(boxes, mine);
    ASSERT_TRUE(i);
    EXPECT_EQ(*i, 1u);
}

TEST(ImapJunkFolder, FromListResponses)
{
    const char* lines[] = {
        "* LIST (\\HasNoChildren) \".\" INBOX\r\n",
        "* LIST (\\HasNoChildren) \".\" \"INBOX.Courrier ind&AOk-sirable\"\r\n",
        "* LIST (\\HasNoChildren \\Trash) \".\" INBOX.Trash\r\n",
    };
    std::vector<mailbox_info> boxes;
    response_parser p;
    for (std::string_view line : lines) {
        ASSERT_TRUE(p.parse(line).complete());
        auto e = list_entry_of(p.result(line));
        ASSERT_TRUE(e);
        mailbox_info m;
        append_string(e->name_type, e->name_raw, m.name);
        m.delimiter = e->delimiter;
        m.attributes = e->attributes;
        boxes.push_back(std::move(m));
    }
    EXPECT_EQ(junk_of(boxes), "INBOX.Courrier ind&AOk-sirable");
}

} // namespace
