// protocols::sasl: base64 both ways, and every initial response against published vectors:
// RFC 4616 section 4 (PLAIN), RFC 7628 section 4.1 (OAUTHBEARER), Google's XOAUTH2 example,
// RFC 2195 section 2 (CRAM-MD5); fields that would break the message structure are refused.
#include "protocols/common/sasl.h"

#include <gtest/gtest.h>

namespace {

namespace sasl = protocols::sasl;
using namespace std::string_view_literals;

TEST(Sasl, MechanismNames)
{
    EXPECT_EQ(sasl::mechanism_from_name("cram-md5"), sasl::mechanism::cram_md5);
    EXPECT_EQ(sasl::mechanism_from_name("XOAUTH2"), sasl::mechanism::xoauth2);
    EXPECT_EQ(sasl::mechanism_from_name("XOAUTH"), std::nullopt);
    EXPECT_EQ(sasl::mechanism_from_name("PLAIN-CLIENTTOKEN"), std::nullopt);
    EXPECT_EQ(sasl::name(sasl::mechanism::oauthbearer), "OAUTHBEARER");
    sasl::mechanism_set set;
    EXPECT_TRUE(set.empty());
    set.add(sasl::mechanism::login);
    EXPECT_TRUE(set.contains(sasl::mechanism::login));
    EXPECT_FALSE(set.contains(sasl::mechanism::plain));
}

TEST(Sasl, Base64RoundTripAndStrictDecoding)
{
    EXPECT_EQ(sasl::base64_encode(""), "");
    EXPECT_EQ(sasl::base64_encode("f"), "Zg==");
    EXPECT_EQ(sasl::base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(sasl::base64_decode("Zm9vYg==").value, "foob");
    EXPECT_TRUE(sasl::base64_decode("").ok());
    EXPECT_EQ(sasl::base64_decode("VXNlcm5hbWU6").value, "Username:");
    for (std::string_view bad : {"Zg"sv, "Zg="sv, "Zm9v YmFy"sv, "Zm9v\r\nYmFy"sv, "Zm9v!mFy"sv, "=Zg="sv}) {
        SCOPED_TRACE(bad);
        sasl::result r = sasl::base64_decode(bad);
        EXPECT_EQ(r.code, sasl::error::bad_base64);
        EXPECT_TRUE(r.value.empty());
    }
}

// RFC 4648 section 5: '-' and '_' for '+' and '/', and JWTs drop the padding.
TEST(Sasl, Base64urlWithoutPadding)
{
    const std::string bytes("\xfb\xff\xbf", 3);   // "+/+/" in standard base64
    EXPECT_EQ(sasl::base64_encode(bytes), "+/+/");
    EXPECT_EQ(sasl::base64url_encode(bytes), "-_-_");
    EXPECT_EQ(sasl::base64url_encode("f"), "Zg");
    EXPECT_EQ(sasl::base64url_decode("-_-_").value, bytes);
    EXPECT_EQ(sasl::base64url_decode("Zg").value, "f");
    EXPECT_TRUE(sasl::base64url_decode("").ok());
    for (std::string_view bad : {"+/+/"sv, "Zg=="sv, "Z"sv, "Zm9v!mFy"sv}) {
        SCOPED_TRACE(bad);
        EXPECT_EQ(sasl::base64url_decode(bad).code, sasl::error::bad_base64);
    }
}

TEST(Sasl, DecodesGmailXoauth2ErrorChallenge)
{
    sasl::result r = sasl::base64_decode(
        "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value, R"({"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"})");
}

TEST(Sasl, PlainRfc4616Examples)
{
    // "\0tim\0tanstaaftanstaaf" and "Ursel\0Kurt\0xipj3plmq" from RFC 4616 section 4.
    EXPECT_EQ(sasl::plain("", "tim", "tanstaaftanstaaf").value, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    EXPECT_EQ(sasl::plain("Ursel", "Kurt", "xipj3plmq").value, "VXJzZWwAS3VydAB4aXBqM3BsbXE=");
    EXPECT_EQ(sasl::plain("", "tim", std::string_view("pa\0ss", 5)).code, sasl::error::forbidden_character);
    EXPECT_EQ(sasl::plain(std::string_view("a\0b", 3), "tim", "pw").code, sasl::error::forbidden_character);
    EXPECT_EQ(sasl::plain("", "", "pw").code, sasl::error::empty_field);
    EXPECT_EQ(sasl::plain("", "tim", "").code, sasl::error::empty_field);
}

TEST(Sasl, LoginSteps)
{
    EXPECT_EQ(sasl::login_username("tim").value, "dGlt");
    EXPECT_EQ(sasl::login_password("tanstaaftanstaaf").value, "dGFuc3RhYWZ0YW5zdGFhZg==");
    EXPECT_EQ(sasl::login_username("").code, sasl::error::empty_field);
    EXPECT_EQ(sasl::login_password("").code, sasl::error::empty_field);
}

TEST(Sasl, Xoauth2GoogleExample)
{
    EXPECT_EQ(sasl::xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg").value,
        "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRH"
        "RXVZMjl0Q2cBAQ==");
    EXPECT_EQ(sasl::xoauth2("a@b\x01" "auth=Bearer x", "t").code, sasl::error::forbidden_character);
    EXPECT_EQ(sasl::xoauth2("a@b", "tok\r\nQUIT").code, sasl::error::forbidden_character);
    EXPECT_EQ(sasl::xoauth2("a@b", "").code, sasl::error::empty_field);
}

TEST(Sasl, OauthbearerRfc7628Example)
{
    EXPECT_EQ(sasl::oauthbearer("user@example.com", "server.example.com", 143,
                  "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")
                  .value,
        "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRx"
        "bVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB");
}

TEST(Sasl, OauthbearerEscapesTheAuthzidAndOmitsEmptyFields)
{
    sasl::result r = sasl::oauthbearer("a,b=c", "", 0, "t");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(sasl::base64_decode(r.value).value, "n,a=a=2Cb=3Dc,\x01" "auth=Bearer t\x01\x01");
    EXPECT_EQ(sasl::base64_decode(sasl::oauthbearer("", "h", 0, "t").value).value,
        "n,,\x01host=h\x01" "auth=Bearer t\x01\x01");
    EXPECT_EQ(sasl::oauthbearer("u", "h\x01port=1", 0, "t").code, sasl::error::forbidden_character);
    EXPECT_EQ(sasl::oauthbearer("u", "h", 0, "").code, sasl::error::empty_field);
}

TEST(Sasl, CramMd5Rfc2195Example)
{
    sasl::result r = sasl::cram_md5("tim", "tanstaaftanstaaf",
        sasl::base64_encode("<1896.697170952@postoffice.reston.mci.net>"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(sasl::base64_decode(r.value).value, "tim b913a602c7eda7a495b4e6e7334d3890");
    EXPECT_EQ(sasl::cram_md5("tim", "pw", "not base64!").code, sasl::error::bad_base64);
    EXPECT_EQ(sasl::cram_md5("t im", "pw", "").code, sasl::error::forbidden_character);
}

TEST(Sasl, ErrorsAreDescribed)
{
    EXPECT_EQ(sasl::describe(sasl::error::bad_base64), "invalid base64");
    EXPECT_NE(sasl::describe(sasl::error::forbidden_character), sasl::describe(sasl::error::empty_field));
}

} // namespace
