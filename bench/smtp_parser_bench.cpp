// Throughput of protocols::smtp::reply_parser over a few MB of realistic multi-line EHLO
// replies (Postfix, Exim, Gmail and Microsoft 365 styles, interleaved with short replies),
// against the floor of a plain memchr('\n') scan over the same bytes in the same binary.
// Both report bytes/s; the parser's run also reports memchr_ratio (parser CPU time / scan CPU
// time, measured after the timed loop). Reply and line counts are checked before anything is timed.
#include "protocols/smtp/reply_parser.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using protocols::smtp::reply_parser;

constexpr std::string_view replies[] = {
    "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    "250-mail.example.net Hello client.example.com [192.0.2.1]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
    "250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-CHUNKING\r\n250-STARTTLS\r\n"
    "250-PRDR\r\n250 HELP\r\n",
    "250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n"
    "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    "250-SN4PR0501CA0123.outlook.office365.com Hello [203.0.113.5]\r\n250-SIZE 157286400\r\n"
    "250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250-8BITMIME\r\n"
    "250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    "250 2.1.0 Ok\r\n",
    "354 End data with <CR><LF>.<CR><LF>\r\n",
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
    "Visit https://aka.ms/smtp_auth_disabled for more information.\r\n",
};

constexpr std::size_t rounds = 6000;  // x 7 replies, about 4.6 MB

const std::string& stream()
{
    static const std::string s = [] {
        std::string out;
        for (std::size_t i = 0; i < rounds; ++i) {
            for (std::string_view r : replies) {
                out += r;
            }
        }
        return out;
    }();
    return s;
}

// Parses the whole stream, consuming reply by reply; returns the number of replies, or 0 on a
// parse error.
std::size_t parse_all(reply_parser& parser, std::string_view data)
{
    std::size_t count = 0;
    while (!data.empty()) {
        protocols::parse_status st = parser.parse(data);
        if (!st.complete()) {
            return 0;
        }
        benchmark::DoNotOptimize(parser.code());
        data.remove_prefix(st.consumed);
        ++count;
    }
    return count;
}

std::size_t count_lines(std::string_view data)
{
    std::size_t lines = 0;
    const char* p = data.data();
    const char* end = p + data.size();
    while (const void* lf = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
        p = static_cast<const char*>(lf) + 1;
        ++lines;
    }
    return lines;
}

// Process CPU time, not wall time: on a shared machine the ratio must not depend on how much
// of the wall clock other processes took.
template <typename F>
double cpu_seconds_per_pass(F&& pass)
{
    constexpr int passes = 20;
    std::clock_t start = std::clock();
    for (int i = 0; i < passes; ++i) {
        pass();
    }
    return static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC / passes;
}

// Exits the program if either contender miscounts; runs once, before the first timing.
void check_output()
{
    static const bool checked = [] {
        reply_parser parser;
        std::size_t expected = rounds * std::size(replies);
        std::size_t got = parse_all(parser, stream());
        if (got != expected) {
            std::fprintf(stderr, "smtp_parser_bench: parsed %zu replies, expected %zu\n", got, expected);
            std::exit(1);
        }
        std::size_t lines = 0;
        for (std::string_view r : replies) {
            lines += count_lines(r);
        }
        if (count_lines(stream()) != lines * rounds) {
            std::fprintf(stderr, "smtp_parser_bench: memchr scan miscounted\n");
            std::exit(1);
        }
        return true;
    }();
    benchmark::DoNotOptimize(checked);
}

void BM_reply_parser_ehlo_stream(benchmark::State& state)
{
    check_output();
    reply_parser parser;
    for (auto _ : state) {
        benchmark::DoNotOptimize(parse_all(parser, stream()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream().size()));
    double parse = cpu_seconds_per_pass([&] { benchmark::DoNotOptimize(parse_all(parser, stream())); });
    double scan = cpu_seconds_per_pass([] { benchmark::DoNotOptimize(count_lines(stream())); });
    state.counters["memchr_ratio"] = parse / scan;
    state.counters["replies"] = static_cast<double>(rounds * std::size(replies));
}
BENCHMARK(BM_reply_parser_ehlo_stream)->Unit(benchmark::kMillisecond);

void BM_memchr_line_scan(benchmark::State& state)
{
    check_output();
    for (auto _ : state) {
        benchmark::DoNotOptimize(count_lines(stream()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream().size()));
}
BENCHMARK(BM_memchr_line_scan)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
