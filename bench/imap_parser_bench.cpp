// IMAP response parsing speed on a FETCH stream of 1,000 messages' headers sent as literals
// (realistic 1-2 KB headers: Received chains, DKIM-Signature, Authentication-Results),
// as a probe reads it after UID FETCH ... BODY.PEEK[HEADER]. Three readers of the same bytes:
// our parser plus fetch_summary_of() on every response; a plain memchr('\n') scan (the floor
// any line-based reader pays); and, when libetpan is installed, its mailimap_response_parse.
// Each reader's result counts are checked before timing. BM_summary reports the ratios.
#include "protocols/imap/responses.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef MAILPROBE_HAVE_LIBETPAN
#include <libetpan/libetpan.h>

// libetpan installs no mailimap_parser.h; this is its declaration of the response parser.
extern "C" int mailimap_response_parse(mailstream* fd, MMAPString* buffer, struct mailimap_parser_context* parser_ctx,
                                       size_t* indx, struct mailimap_response** result, size_t progr_rate,
                                       progress_function* progr_fun);
#endif

namespace {

using namespace protocols::imap;

constexpr std::size_t message_count = 1000;

std::string header_of(std::size_t i)
{
    char id[32];
    std::snprintf(id, sizeof id, "%08zx", i * 2654435761u);
    std::string h;
    h += "Return-Path: <probe-sender@example.org>\r\n";
    h += "Delivered-To: probe@example.net\r\n";
    h += "Received: from mx2.example.net ([192.0.2.25])\r\n\tby imap1.example.net with LMTP\r\n"
         "\tid kJbNEm4m52VxBwAAdrH8nA (envelope-from <probe-sender@example.org>)\r\n"
         "\tfor <probe@example.net>; Tue, 05 Mar 2024 10:11:13 +0000\r\n";
    h += "Received: from smtp-out.example.org (smtp-out.example.org [198.51.100.7])\r\n"
         "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\r\n"
         "\t key-exchange X25519 server-signature RSA-PSS (2048 bits))\r\n"
         "\t(No client certificate requested)\r\n\tby mx2.example.net (Postfix) with ESMTPS id 4Tq1";
    h += id;
    h += "\r\n\tfor <probe@example.net>; Tue, 05 Mar 2024 10:11:12 +0000 (UTC)\r\n";
    h += "Received: from localhost (localhost [127.0.0.1])\r\n\tby smtp-out.example.org (Postfix) with ESMTP id ";
    h += id;
    h += "\r\n\tfor <probe@example.net>; Tue, 05 Mar 2024 10:11:11 +0000 (UTC)\r\n";
    h += "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
         "\ts=mail2024; t=1709633471; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n"
         "\th=Date:From:To:Subject:Message-ID:MIME-Version:Content-Type;\r\n"
         "\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBzaGFwZQ\r\n"
         "\t aGVyZSBhcmUgc29tZSBtb3JlIGJ5dGVzIHRvIG1ha2UgdGhlIGxpbmUgYXMgbG9uZyBhcyBvbmUgZnJv\r\n"
         "\t bSBhIDIwNDgtYml0IFJTQSBrZXkgd291bGQgYmUgd2hlbiBmb2xkZWQgYXQgc2V2ZW50eSBjaGFyYWN0\r\n"
         "\t ZXJzIHBlciBsaW5lIGluIGEgdHlwaWNhbCBtZXNzYWdlIGhlYWRlciBmcm9tIGEgYmlnIHByb3ZpZGVy\r\n"
         "\t bWFpbHByb2JlIGJlbmNobWFyayBjb3JwdXMgZGF0YSBsaW5lIGZpdmU=\r\n";
    h += "Authentication-Results: mx2.example.net;\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.org "
         "header.i=@example.org header.a=rsa-sha256 header.s=mail2024;\r\n\tspf=pass smtp.mailfrom=example.org;"
         "\r\n\tdmarc=pass (p=reject dis=none) header.from=example.org\r\n";
    h += "Date: Tue, 05 Mar 2024 10:11:11 +0000\r\n";
    h += "From: Mail Probe <probe-sender@example.org>\r\n";
    h += "To: probe@example.net\r\n";
    h += "Subject: mailprobe " + std::to_string(i) + " " + id + "\r\n";
    h += "Message-ID: <" + std::string(id) + "." + std::to_string(i) + "@probe.example.org>\r\n";
    h += "X-Probe-Id: " + std::string(id) + "-" + std::to_string(i) + "\r\n";
    h += "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n";
    // Spread sizes over 1-2 KB as real headers vary (list headers, extra hops).
    std::size_t extra = (i * 7919) % 600;
    while (extra > 0) {
        std::size_t n = std::min<std::size_t>(extra, 60);
        h += "X-Extra: " + std::string(n, 'x') + "\r\n";
        extra -= n;
    }
    return h + "\r\n";
}

const std::string& stream()
{
    static const std::string s = [] {
        std::string out;
        for (std::size_t i = 1; i <= message_count; ++i) {
            std::string h = header_of(i);
            out += "* " + std::to_string(i) + " FETCH (UID " + std::to_string(1000 + i) +
                   " INTERNALDATE \"05-Mar-2024 10:11:13 +0000\" RFC822.SIZE " + std::to_string(h.size() + 512) +
                   " FLAGS (\\Recent) BODY[HEADER] {" + std::to_string(h.size()) + "}\r\n" + h + ")\r\n";
        }
        out += "A0005 OK Fetch completed (0.004 + 0.000 + 0.003 secs).\r\n";
        return out;
    }();
    return s;
}

struct our_counts {
    std::size_t fetches = 0;
    std::size_t header_bytes = 0;
    std::size_t tagged = 0;
};

our_counts run_ours(response_parser& parser, std::string_view in)
{
    our_counts c;
    while (!in.empty()) {
        protocols::parse_status st = parser.parse(in);
        if (!st.complete()) {
            std::fprintf(stderr, "imap bench: parser stopped: %d\n", static_cast<int>(st.code));
            std::abort();
        }
        response r = parser.result(in);
        if (auto s = fetch_summary_of(r)) {
            ++c.fetches;
            c.header_bytes += s->section.size();
        } else if (r.kind() == response_kind::tagged) {
            ++c.tagged;
        }
        in.remove_prefix(st.consumed);
    }
    return c;
}

std::size_t run_memchr(std::string_view in)
{
    std::size_t lines = 0;
    const char* p = in.data();
    const char* end = p + in.size();
    while (const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p))) {
        ++lines;
        p = static_cast<const char*>(nl) + 1;
    }
    return lines;
}

#ifdef MAILPROBE_HAVE_LIBETPAN
// Parses the whole stream (1,000 untagged FETCH responses and the tagged OK) in one call, as
// libetpan does after reading a response; returns the number of untagged responses.
std::size_t run_libetpan(MMAPString* buffer)
{
    mailimap_parser_context ctx{};
    std::size_t index = 0;
    mailimap_response* resp = nullptr;
    int rc = mailimap_response_parse(nullptr, buffer, &ctx, &index, &resp, 0, nullptr);
    if (rc != MAILIMAP_NO_ERROR || resp == nullptr) {
        std::fprintf(stderr, "imap bench: libetpan failed: %d at %zu\n", rc, index);
        std::abort();
    }
    std::size_t n = resp->rsp_cont_req_or_resp_data_list ? clist_count(resp->rsp_cont_req_or_resp_data_list) : 0;
    mailimap_response_free(resp);
    return n;
}

MMAPString* etpan_buffer()
{
    static MMAPString* b = mmap_string_new_len(stream().data(), stream().size());
    return b;
}
#endif

void check_ours()
{
    response_parser parser;
    our_counts c = run_ours(parser, stream());
    std::size_t expected_header_bytes = 0;
    for (std::size_t i = 1; i <= message_count; ++i) {
        expected_header_bytes += header_of(i).size();
    }
    if (c.fetches != message_count || c.tagged != 1 || c.header_bytes != expected_header_bytes) {
        std::fprintf(stderr, "imap bench: our parser saw %zu fetches, %zu tagged, %zu header bytes\n", c.fetches,
                     c.tagged, c.header_bytes);
        std::abort();
    }
    if (run_memchr(stream()) == 0) {
        std::abort();
    }
#ifdef MAILPROBE_HAVE_LIBETPAN
    if (run_libetpan(etpan_buffer()) != message_count) {
        std::fprintf(stderr, "imap bench: libetpan count differs\n");
        std::abort();
    }
#endif
}

void BM_imap_parser(benchmark::State& state)
{
    response_parser parser;
    for (auto _ : state) {
        benchmark::DoNotOptimize(run_ours(parser, stream()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream().size()));
    state.counters["messages/s"] = benchmark::Counter(static_cast<double>(state.iterations() * message_count),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_imap_parser);

void BM_memchr_lines(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(run_memchr(stream()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream().size()));
}
BENCHMARK(BM_memchr_lines);

#ifdef MAILPROBE_HAVE_LIBETPAN
void BM_libetpan(benchmark::State& state)
{
    for (auto _ : state) {
        benchmark::DoNotOptimize(run_libetpan(etpan_buffer()));
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream().size()));
}
BENCHMARK(BM_libetpan);
#endif

// Best-of-N seconds per pass of `f` over the stream.
template <typename F>
double best_seconds(F f, int runs)
{
    double best = 1e9;
    for (int i = 0; i < runs; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        std::chrono::duration<double> d = std::chrono::steady_clock::now() - t0;
        best = std::min(best, d.count());
    }
    return best;
}

// Ratios measured back to back in one process: ours vs memchr and ours vs libetpan.
void BM_summary(benchmark::State& state)
{
    response_parser parser;
    double ours = 0;
    double scan = 0;
    for (auto _ : state) {
        ours = best_seconds([&] { benchmark::DoNotOptimize(run_ours(parser, stream())); }, 200);
        scan = best_seconds([&] { benchmark::DoNotOptimize(run_memchr(stream())); }, 200);
    }
    const double bytes = static_cast<double>(stream().size());
    state.counters["ours_GB/s"] = bytes / ours / 1e9;
    state.counters["memchr_GB/s"] = bytes / scan / 1e9;
    state.counters["ours_vs_memchr"] = scan / ours;
#ifdef MAILPROBE_HAVE_LIBETPAN
    double etpan = best_seconds([&] { benchmark::DoNotOptimize(run_libetpan(etpan_buffer())); }, 20);
    state.counters["libetpan_GB/s"] = bytes / etpan / 1e9;
    state.counters["ours_vs_libetpan"] = etpan / ours;
#endif
}
BENCHMARK(BM_summary)->Iterations(1)->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char** argv)
{
    check_ours();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
