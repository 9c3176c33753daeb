// The next-poll state file: what one run saves the next reads back, other probes' entries
// survive a run that did not touch them, a second run is refused while the first holds the
// lock, a broken file is refused with its path and the JSON pointer of the problem (and left
// as it was), and a save leaves no temporary file and a 0600 file behind.
#include "probe/state_file.h"

#include "tests/support/child_process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

namespace {

using test_support::temp_dir;

probe::outstanding entry(std::uint64_t ms, std::uint8_t fill)
{
    std::array<std::uint8_t, 10> random{};
    random.fill(fill);
    return {protocols::message::probe_id::from_parts(ms, random), ms};
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

TEST(StateFile, AMissingFileIsAnEmptyState)
{
    temp_dir dir;
    auto st = probe::state_file::open(dir.path() + "/state.json");
    ASSERT_TRUE(st) << st.err().message;
    EXPECT_TRUE(st->get("acme", "p1").empty());
}

TEST(StateFile, WhatOneRunSavesTheNextReads)
{
    temp_dir dir;
    std::string path = dir.path() + "/state.json";
    auto a = entry(1'795'000'000'000, 1);
    auto b = entry(1'795'000'060'000, 2);
    auto c = entry(1'795'000'000'500, 3);
    {
        auto st = probe::state_file::open(path);
        ASSERT_TRUE(st) << st.err().message;
        st->put("acme", "p1", {a, b});
        st->put("beta \"quoted\"", "p2", {c});
        ASSERT_TRUE(st->save());
    }
    struct stat info{};
    ASSERT_EQ(::stat(path.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
    }
    {
        auto st = probe::state_file::open(path);
        ASSERT_TRUE(st) << st.err().message;
        auto p1 = st->get("acme", "p1");
        ASSERT_EQ(p1.size(), 2u);
        EXPECT_EQ(p1[0].id, a.id);
        EXPECT_EQ(p1[0].sent_unix_ms, a.sent_unix_ms);
        EXPECT_EQ(p1[1].id, b.id);
        // A run that touches only p1 keeps p2's entry; an empty list removes p1.
        st->put("acme", "p1", {});
        ASSERT_TRUE(st->save());
    }
    auto st = probe::state_file::open(path);
    ASSERT_TRUE(st) << st.err().message;
    EXPECT_TRUE(st->get("acme", "p1").empty());
    auto p2 = st->get("beta \"quoted\"", "p2");
    ASSERT_EQ(p2.size(), 1u);
    EXPECT_EQ(p2[0].id, c.id);
}

TEST(StateFile, ASecondRunIsRefusedWhileTheFirstHoldsIt)
{
    temp_dir dir;
    std::string path = dir.path() + "/state.json";
    {
        auto first = probe::state_file::open(path);
        ASSERT_TRUE(first) << first.err().message;
        auto second = probe::state_file::open(path);
        ASSERT_FALSE(second);
        EXPECT_EQ(second.err().message, path + ": another mailprobe run is using this state file");
    }
    EXPECT_TRUE(probe::state_file::open(path));   // the first run's lock went with it
}

TEST(StateFile, BrokenFilesAreRefusedWithWhereAndWhatAndKept)
{
    temp_dir dir;
    struct broken_case {
        std::string text;
        std::string message;
    };
    const broken_case cases[] = {
        {"{not json", ": not JSON: "},
        {R"({"probes": []})", ": not a mailprobe state file (expected \"mailprobe_state\": 1)"},
        {R"({"mailprobe_state": 2, "probes": []})", ": not a mailprobe state file (expected \"mailprobe_state\": 1)"},
        {R"({"mailprobe_state": 1, "probes": {}})", ": /probes: expected an array"},
        {R"({"mailprobe_state": 1, "probes": [{"tenant": "t", "probe": "p"}]})",
            ": /probes/0: expected an object with tenant, probe and outstanding"},
        {R"({"mailprobe_state": 1, "probes": [{"tenant": "t", "probe": "p", "outstanding": [{"id": "x"}]}]})",
            ": /probes/0/outstanding/0: expected an object with id and sent_unix_ms"},
        {R"({"mailprobe_state": 1, "probes": [{"tenant": "t", "probe": "p",
            "outstanding": [{"id": "not-a-uuid", "sent_unix_ms": 1}]}]})",
            ": /probes/0/outstanding/0/id: not a probe id"},
    };
    for (const auto& c : cases) {
        std::string path = dir.write("broken.json", c.text);
        auto st = probe::state_file::open(path);
        ASSERT_FALSE(st) << c.text;
        EXPECT_EQ(st.err().message.rfind(path + c.message, 0), 0u) << st.err().message;
        EXPECT_EQ(read_file(path), c.text);
    }
}

TEST(StateFile, KeepsAtMostTheNewestOutstandingPerProbe)
{
    temp_dir dir;
    std::string path = dir.path() + "/state.json";
    std::vector<probe::outstanding> many;
    for (std::uint64_t i = 0; i < probe::max_outstanding + 10; ++i) {
        many.push_back(entry(1'795'000'000'000 + i, static_cast<std::uint8_t>(i)));
    }
    {
        auto st = probe::state_file::open(path);
        ASSERT_TRUE(st);
        st->put("t", "p", many);
        ASSERT_TRUE(st->save());
    }
    auto st = probe::state_file::open(path);
    ASSERT_TRUE(st) << st.err().message;
    auto kept = st->get("t", "p");
    ASSERT_EQ(kept.size(), probe::max_outstanding);
    EXPECT_EQ(kept.front().id, many[10].id);
    EXPECT_EQ(kept.back().id, many.back().id);
}

} // namespace
