// engine::event: notify_all wakes every waiter (and only those waiting then), a deadline
// and a stop end a wait with their own answer, and nobody runs inside notify_all.
#include "engine/event.h"
#include "engine/loop.h"
#include "engine/scope.h"
#include "engine/task.h"
#include "engine/timer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;
using engine::event;
using engine::task;

namespace {

task<void> wait_and_note(event* ev, std::vector<event::woken>* out)
{
    out->push_back(co_await ev->wait(engine::after(60s)));
}

TEST(Event, NotifyWakesEveryWaiterOnTheLoopNotInside)
{
    engine::loop loop;
    auto body = []() -> task<std::vector<event::woken>> {
        event ev;
        std::vector<event::woken> woken;
        engine::scope s;
        for (int i = 0; i < 3; ++i) {
            s.spawn(wait_and_note(&ev, &woken));
        }
        co_await engine::sleep_for(1ms);
        ev.notify_all();
        EXPECT_TRUE(woken.empty()) << "a waiter ran inside notify_all";
        co_await s.join();
        co_return woken;
    };
    auto start = engine::clock::now();
    auto woken = loop.run(body());
    EXPECT_EQ(woken, std::vector<event::woken>(3, event::woken::notified));
    EXPECT_LT(engine::clock::now() - start, 10s);
}

TEST(Event, ALaterWaitWaitsForTheNextNotify)
{
    engine::loop loop;
    auto body = []() -> task<event::woken> {
        event ev;
        ev.notify_all();   // nobody waiting: nothing is remembered
        co_return co_await ev.wait(engine::after(5ms));
    };
    EXPECT_EQ(loop.run(body()), event::woken::timed_out);
}

TEST(Event, StopEndsTheWaitAndLeavesOthersWaiting)
{
    engine::loop loop;
    auto body = []() -> task<std::vector<event::woken>> {
        event ev;
        std::vector<event::woken> woken;
        engine::scope stopped;
        engine::scope notified;
        stopped.spawn(wait_and_note(&ev, &woken));
        notified.spawn(wait_and_note(&ev, &woken));
        co_await engine::sleep_for(1ms);
        stopped.request_stop();
        co_await stopped.join();
        ev.notify_all();
        co_await notified.join();
        co_return woken;
    };
    EXPECT_EQ(loop.run(body()), (std::vector<event::woken>{event::woken::stopped, event::woken::notified}));
}

} // namespace
