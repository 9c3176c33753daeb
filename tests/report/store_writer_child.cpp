// The writer half of the kill -9 test (store_test.cpp): writes numbered results to the store
// given as argv[1] through a store_writer in batches of argv[2], forever, until it is killed.
// It adds a batch, waits until the writer has committed it, prints "committed N" and goes on,
// so at any moment at most one batch is uncommitted.
#include "report/store.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: store_writer_child DB BATCH\n");
        return 2;
    }
    auto db = report::store::open(argv[1]);
    if (!db) {
        std::fprintf(stderr, "%s\n", db.err().message.c_str());
        return 1;
    }
    std::uint64_t batch = std::stoul(argv[2]);
    // Only full batches are due: the delay is longer than the test.
    report::store_writer w(std::move(*db), batch, std::chrono::hours(1));
    std::printf("pid %d\n", static_cast<int>(getpid()));
    std::fflush(stdout);
    for (std::uint64_t i = 0;;) {
        for (std::uint64_t end = i + batch; i < end; ++i) {
            report::stored_result s;
            s.at_ms = 1'793'491'200'000 + static_cast<std::int64_t>(i);
            s.interval_ms = 300'000;
            s.r.tenant = "acme";
            s.r.probe = "a";
            s.r.outcome = probe::status::up;
            s.r.probe_id = std::to_string(i);
            w.add(std::move(s));
        }
        while (w.committed() < i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::printf("committed %llu\n", static_cast<unsigned long long>(i));
        std::fflush(stdout);
    }
}
