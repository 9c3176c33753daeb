// Modified UTF-7 mailbox names (RFC 3501 5.1.3): localized junk folders, "&-", CJK names,
// surrogate pairs, and every strictness rule of the decoder.
#include "protocols/imap/mutf7.h"

#include <gtest/gtest.h>

namespace {

using protocols::imap::mutf7_decode;
using protocols::imap::mutf7_encode;

struct pair_case {
    const char* utf8;
    const char* wire;
};

TEST(ImapMutf7, RoundTrips)
{
    const pair_case cases[] = {
        {"INBOX", "INBOX"},
        {"Unerw\xC3\xBCnscht", "Unerw&APw-nscht"},
        {"Courrier ind\xC3\xA9sirable", "Courrier ind&AOk-sirable"},
        {"&", "&-"},
        {"Tom & Jerry", "Tom &- Jerry"},
        {"~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E",
         "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501's example
        {"\xE8\xBF\xB7\xE6\x83\x91\xE3\x83\xA1\xE3\x83\xBC\xE3\x83\xAB", "&j,dg0TDhMPww6w-"},    // 迷惑メール
        {"\xE5\x9E\x83\xE5\x9C\xBE\xE9\x82\xAE\xE4\xBB\xB6", "&V4NXPpCuTvY-"},                 // 垃圾邮件
        {"Spam \xF0\x9F\x97\x91", "Spam &2D3d0Q-"},                                             // U+1F5D1
        {"\xF0\x9F\x98\x80\xF0\x9F\x98\x81", "&2D3eANg93gE-"},                                 // two emoji
        {"Skr\xC3\xA4ppost", "Skr&AOQ-ppost"},
        {"", ""},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(mutf7_encode(c.utf8), c.wire) << c.wire;
        EXPECT_EQ(mutf7_decode(c.wire), c.utf8) << c.wire;
    }
}

TEST(ImapMutf7, DecoderIsStrict)
{
    const char* bad[] = {
        "&AOk",         // unterminated shift
        "&AO!-",        // not base64
        "&AOk/-",       // "/" is "," in modified base64
        "&AOl-",        // non-zero padding bits
        "&AA-",         // too few bits for one UTF-16 unit
        "&AOkA-",       // a leftover base64 character (non-minimal)
        "&AGE-",        // "a" encoded although it represents itself
        "&ACY-",        // "&" encoded instead of "&-"
        "&AOk-&AOk-",   // two adjacent shifts instead of one
        "&2D0-",        // lone high surrogate
        "&3gA-",        // lone low surrogate
        "&2D3YPQ-",     // high surrogate followed by high surrogate
        "caf\xC3\xA9",  // raw 8-bit
        "tab\there",    // control character
    };
    for (const char* b : bad) {
        EXPECT_FALSE(mutf7_decode(b)) << b;
    }
}

TEST(ImapMutf7, EncoderRefusesInvalidUtf8)
{
    for (const char* b : {"\xC3", "\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "a\x80"}) {
        EXPECT_FALSE(mutf7_encode(b)) << b;
    }
}

} // namespace
