#include "probe/session_pool.h"

#include <algorithm>
#include <utility>

namespace probe {

std::optional<session_pool::kept> session_pool::take(const std::string& mailbox, std::chrono::milliseconds max_age)
{
    auto it = m_idle.find(mailbox);
    if (it == m_idle.end()) {
        return std::nullopt;
    }
    auto& sessions = it->second;   // oldest login first
    const auto now = engine::clock::now();
    std::optional<kept> out;
    while (!sessions.empty() && !out) {
        if (now - sessions.back().logged_in < max_age && sessions.back().session.is_open()) {
            out.emplace(std::move(sessions.back()));
        }
        sessions.pop_back();
    }
    std::erase_if(sessions, [&](const kept& k) { return now - k.logged_in >= max_age; });
    if (sessions.empty()) {
        m_idle.erase(it);
    }
    return out;
}

void session_pool::put(const std::string& mailbox, kept k)
{
    auto& sessions = m_idle[mailbox];
    auto at = std::upper_bound(sessions.begin(), sessions.end(), k.logged_in,
        [](engine::clock::time_point t, const kept& other) { return t < other.logged_in; });
    sessions.insert(at, std::move(k));
    if (sessions.size() > max_per_mailbox) {
        sessions.erase(sessions.begin());   // the oldest login goes first
    }
}

engine::task<void> session_pool::close_all()
{
    auto all = std::exchange(m_idle, {});
    for (auto& [name, sessions] : all) {
        for (auto& k : sessions) {
            co_await k.session.logout();
        }
    }
}

std::size_t session_pool::idle() const noexcept
{
    std::size_t n = 0;
    for (const auto& [name, sessions] : m_idle) {
        n += sessions.size();
    }
    return n;
}

} // namespace probe
