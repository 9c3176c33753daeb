// The jsonl contract (docs/RESULTS.md): a golden line for a result with every field set, one
// with every nullable field null, and a check that every field the document's table names is
// a key of the line, so the document and the code cannot drift apart silently.
#include "report/format.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

probe::result full()
{
    probe::result r;
    r.tenant = "acme";
    r.probe = "int-to-ext";
    r.topology = 3;
    r.outcome = probe::status::warning;
    r.stage = engine::stage::deliver;
    r.reason = "filed as spam in Junk";
    r.server_reply = "250 2.0.0 Ok: queued as 4Xyz \"q\"";
    r.probe_id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    r.next_poll = true;
    r.folder = "Junk";
    r.sent = true;
    r.fetch_session_kept = true;
    r.ms = {12, 34, 5, 67, 890, 45, 1234};
    r.hops = {{"mx1.example.org", 1200, false, false}, {"mx2.example.org", -3000, true, false},
        {"imaps", std::nullopt, false, true}};
    r.max_clock_skew_ms = 3000;
    r.tls = {{"submission", "TLSv1.3", "TLS_AES_256_GCM_SHA384", 1'900'000'000, true, false},
        {"imaps", "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 0, false, true}};
    r.cert_days_left = 12;
    r.warnings = {"filed as spam in Junk", "TLS certificate verification is off for imaps"};
    r.transcript = "     0 > EHLO x\n     3 < 250 ok\n";
    return r;
}

TEST(Jsonl, EveryFieldWithItsType)
{
    EXPECT_EQ(report::to_json(full()),
        R"({"tenant":"acme","probe":"int-to-ext","topology":3,"status":"warning","stage":"deliver",)"
        R"("reason":"filed as spam in Junk","server_reply":"250 2.0.0 Ok: queued as 4Xyz \"q\"",)"
        R"("probe_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","mode":"next-poll","folder":"Junk","sent":true,"fetch_session_kept":true,)"
        R"("ms":{"smtp_connect":12,"smtp_tls":34,"smtp_auth":5,"smtp_transaction":67,"delivery":890,"fetch":45,"total":1234},)"
        R"("hops":[{"by":"mx1.example.org","delay_ms":1200,"skewed":false,"store":false},)"
        R"({"by":"mx2.example.org","delay_ms":-3000,"skewed":true,"store":false},)"
        R"({"by":"imaps","delay_ms":null,"skewed":false,"store":true}],"max_clock_skew_ms":3000,)"
        R"("tls":[{"server":"submission","version":"TLSv1.3","cipher":"TLS_AES_256_GCM_SHA384",)"
        R"("cert_not_after":1900000000,"verified":true,"insecure":false},)"
        R"({"server":"imaps","version":"TLSv1.2","cipher":"ECDHE-RSA-AES128-GCM-SHA256","cert_not_after":0,)"
        R"("verified":false,"insecure":true}],"cert_days_left":12,)"
        R"("warnings":["filed as spam in Junk","TLS certificate verification is off for imaps"],)"
        R"("transcript":"     0 > EHLO x\n     3 < 250 ok\n"})");
}

TEST(Jsonl, NullsAndEmptiesOfAnUpResult)
{
    probe::result r;
    r.tenant = "t";
    r.probe = "p";
    r.topology = 1;
    r.outcome = probe::status::up;
    EXPECT_EQ(report::to_json(r),
        R"({"tenant":"t","probe":"p","topology":1,"status":"up","stage":null,"reason":"","server_reply":"",)"
        R"("probe_id":"","mode":"poll","folder":"","sent":false,"fetch_session_kept":false,)"
        R"("ms":{"smtp_connect":0,"smtp_tls":0,"smtp_auth":0,"smtp_transaction":0,"delivery":0,"fetch":0,"total":0},)"
        R"("hops":[],"max_clock_skew_ms":0,"tls":[],"cert_days_left":null,"warnings":[]})");
    r.outcome = probe::status::pending;
    EXPECT_NE(report::to_json(r).find(R"("status":"pending")"), std::string::npos);
    r.outcome = probe::status::down;
    r.stage = engine::stage::fetch;
    EXPECT_NE(report::to_json(r).find(R"("status":"down","stage":"fetch")"), std::string::npos);
}

TEST(Jsonl, EveryFieldTheDocumentNamesIsWritten)
{
    const char* root = std::getenv("MAILPROBE_SOURCE_ROOT");
    ASSERT_NE(root, nullptr) << "run through meson test";
    std::ifstream in(std::string(root) + "/docs/RESULTS.md");
    ASSERT_TRUE(in);
    std::stringstream doc;
    doc << in.rdbuf();
    // The field table: from its header to the first blank line.
    std::string text = doc.str();
    auto start = text.find("| field | type | meaning |");
    ASSERT_NE(start, std::string::npos);
    auto end = text.find("\n\n", start);
    std::string table = text.substr(start, end - start);
    const std::string line = report::to_json(full());
    std::set<std::string> documented;
    std::istringstream rows(table);
    std::string row;
    // Every `name` of lower-case letters and underscores. (No std::regex: GCC 12's
    // <regex> trips -Wmaybe-uninitialized in the sanitizer build.)
    auto quoted_names = [](const std::string& r) {
        std::vector<std::string> out;
        for (auto open = r.find('`'); open != std::string::npos;) {
            auto close = r.find('`', open + 1);
            if (close == std::string::npos) {
                break;
            }
            std::string word = r.substr(open + 1, close - open - 1);
            if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos) {
                out.push_back(std::move(word));
            }
            open = r.find('`', close + 1);
        }
        return out;
    };
    while (std::getline(rows, row)) {
        if (row.rfind("| `", 0) != 0) {
            continue;
        }
        // Field names in the first column; sub-fields (ms, hops, tls) in the third.
        for (const std::string& key : quoted_names(row)) {
            if (key == "up" || key == "warning" || key == "down" || key == "pending" || key == "poll" || key == "deliver"
                || key == "INBOX") {
                continue;   // values, not keys
            }
            documented.insert(key);
            EXPECT_NE(line.find("\"" + key + "\":"), std::string::npos) << key << " is documented but not written";
        }
    }
    EXPECT_GE(documented.size(), 30u) << "the table was not read";
}

} // namespace
