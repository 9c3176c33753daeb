// POP3 reply parser throughput on a 10,000-message UIDL listing with Dovecot-style uids
// (default pop3_uidl_format %08Xu%08Xv: IMAP UID and UIDVALIDITY in hex). One pass is: parse
// the reply, iterate every body line and interpret it as "msgno uid". The baseline is a plain
// memchr('\n') scan of the same bytes in the same binary; the ratio benchmark times both in
// alternation so the two figures share the machine state, at three depths: the parser alone,
// the parser plus walking the body lines, and that plus interpreting every entry. Each benchmark first checks that
// it sees the 10,000 expected entries and refuses to measure otherwise.
#include "protocols/pop3/listing.h"
#include "protocols/pop3/reply_parser.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace {

using protocols::pop3::reply_kind;
using protocols::pop3::reply_parser;

constexpr std::size_t messages = 10'000;
constexpr std::uint32_t uidvalidity = 0x5F3A9C21;

std::string make_uidl_reply()
{
    std::string s = "+OK\r\n";
    char line[64];
    for (std::size_t i = 1; i <= messages; ++i) {
        // Dovecot's UIDs are not dense: expunges leave gaps.
        const unsigned uid = static_cast<unsigned>(i * 3 + 1000);
        const int n = std::snprintf(line, sizeof line, "%zu %08X%08X\r\n", i, uid, uidvalidity);
        s.append(line, static_cast<std::size_t>(n));
    }
    s += ".\r\n";
    return s;
}

const std::string& uidl_reply()
{
    static const std::string reply = make_uidl_reply();
    return reply;
}

struct pass_result {
    std::size_t entries = 0;
    std::uint64_t msgno_sum = 0;
    std::size_t uid_bytes = 0;
    bool ok = false;
};

// How far a pass goes: the parser alone (the reply is complete, valid and its end found),
// plus walking every dot-unstuffed body line, plus interpreting each line as "msgno uid".
enum class depth : int { parse = 0, lines = 1, entries = 2 };

pass_result parse_and_iterate(reply_parser& parser, std::string_view input, depth how = depth::entries)
{
    pass_result r;
    parser.expect(reply_kind::multi_line);
    const auto st = parser.parse(input);
    if (!st.complete() || st.consumed != input.size()) {
        return r;
    }
    if (how == depth::parse) {
        r.ok = true;
        return r;
    }
    for (std::string_view line : parser.result().body) {
        ++r.entries;
        if (how == depth::lines) {
            r.uid_bytes += line.size();
            continue;
        }
        const auto entry = protocols::pop3::parse_uid_listing(line);
        if (entry.error != protocols::pop3::listing_error::none) {
            return r;
        }
        r.msgno_sum += entry.msgno;
        r.uid_bytes += entry.uid.size();
    }
    r.ok = true;
    return r;
}

std::size_t count_newlines(std::string_view input)
{
    std::size_t lines = 0;
    const char* p = input.data();
    const char* end = p + input.size();
    while (const auto* lf = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) {
        ++lines;
        p = lf + 1;
    }
    return lines;
}

// The figures are only meaningful if the pass really saw every entry.
bool check_parser(benchmark::State& state, reply_parser& parser)
{
    const pass_result r = parse_and_iterate(parser, uidl_reply());
    const bool ok = r.ok && r.entries == messages && r.msgno_sum == messages * (messages + 1) / 2
        && r.uid_bytes == messages * 16;
    if (!ok) {
        state.SkipWithError("UIDL pass did not yield the 10,000 expected entries");
    }
    return ok;
}

bool check_memchr(benchmark::State& state)
{
    // status line + 10,000 entries + terminator
    const bool ok = count_newlines(uidl_reply()) == messages + 2;
    if (!ok) {
        state.SkipWithError("memchr scan did not count 10,002 lines");
    }
    return ok;
}

void BM_pop3_uidl_parse_iterate(benchmark::State& state)
{
    reply_parser parser;
    if (!check_parser(state, parser)) {
        return;
    }
    const std::string_view input = uidl_reply();
    for (auto _ : state) {
        pass_result r = parse_and_iterate(parser, input);
        benchmark::DoNotOptimize(r);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
    state.counters["entries"] = static_cast<double>(messages);
}
BENCHMARK(BM_pop3_uidl_parse_iterate);

void BM_memchr_newlines(benchmark::State& state)
{
    if (!check_memchr(state)) {
        return;
    }
    const std::string_view input = uidl_reply();
    for (auto _ : state) {
        std::size_t lines = count_newlines(input);
        benchmark::DoNotOptimize(lines);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_memchr_newlines);

// Both passes in alternation, each timed on its own in thread CPU time (the machine is
// shared, and wall time would charge other processes to whichever pass was running): the
// counters give both throughputs and parser / memchr as "ratio".
double thread_seconds()
{
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

void BM_pop3_uidl_vs_memchr(benchmark::State& state)
{
    reply_parser parser;
    if (!check_parser(state, parser) || !check_memchr(state)) {
        return;
    }
    const auto how = static_cast<depth>(state.range(0));
    const std::string_view input = uidl_reply();
    double parser_time = 0;
    double memchr_time = 0;
    for (auto _ : state) {
        const double t0 = thread_seconds();
        pass_result r = parse_and_iterate(parser, input, how);
        benchmark::DoNotOptimize(r);
        const double t1 = thread_seconds();
        std::size_t lines = count_newlines(input);
        benchmark::DoNotOptimize(lines);
        const double t2 = thread_seconds();
        parser_time += t1 - t0;
        memchr_time += t2 - t1;
    }
    const double bytes = static_cast<double>(state.iterations()) * static_cast<double>(input.size());
    state.counters["parser_GB/s"] = bytes / parser_time / 1e9;
    state.counters["memchr_GB/s"] = bytes / memchr_time / 1e9;
    state.counters["ratio"] = memchr_time / parser_time;
}
// 0: parser only, 1: + every body line, 2: + every line read as msgno and uid.
BENCHMARK(BM_pop3_uidl_vs_memchr)->ArgName("depth")->Arg(0)->Arg(1)->Arg(2);

} // namespace

BENCHMARK_MAIN();
